"""`virtimu train` killed with SIGKILL after its first checkpoint continues from last.pt when rerun."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.training_toy_data import toy_store_in
from virtimu.cli import main
from virtimu.training.checkpoint import save_checkpoint
from virtimu.training.learner import LAST_CHECKPOINT
from virtimu.training.run import _resumable

ROOT = Path(__file__).resolve().parents[2]
# ~1300 small steps: long enough to kill the run after its first epoch, short enough for a fast test
SETTINGS = ["epochs=40", "batch_size=4", "lr=1e-3", "threads=1"]


def _args(store: Path, out: Path) -> list[str]:
    return ["train", "cnn1d", "--store", str(store), "--out", str(out), "--quiet", *SETTINGS]


def test_killed_run_resumes_to_the_same_result(tmp_path, caplog):
    store, _ = toy_store_in(tmp_path)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "virtimu.cli", *_args(store, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / LAST_CHECKPOINT).is_file():
            assert proc.poll() is None, "training ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # the partial folder does not claim to be finished
    assert not (out / "metrics.json").exists() and not (out / "model.pt").exists()
    partial = torch.load(out / LAST_CHECKPOINT, weights_only=True)["train_state"]["loop"]
    done_epochs = partial["epoch"]
    assert 1 <= done_epochs < 40

    with caplog.at_level("INFO"):
        assert main(_args(store, out)) == 0  # the same command again
    assert any("continuing the interrupted run" in r.getMessage() for r in caplog.records)
    assert main(_args(store, tmp_path / "straight")) == 0  # an uninterrupted run

    resumed = torch.load(out / "model.pt", weights_only=True)
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    assert resumed["history"]["step"][-1] == straight["history"]["step"][-1] == 40 * 32  # 126 windows / 4
    assert len(resumed["step_loss"]) == len(straight["step_loss"])
    # the epochs before the kill come from the checkpoint (their timings too), not from training afresh
    assert resumed["history"]["seconds"][:done_epochs] == partial["history"]["seconds"][:done_epochs]
    assert resumed["history"]["seconds"][:done_epochs] != straight["history"]["seconds"][:done_epochs]
    np.testing.assert_allclose(resumed["step_loss"], straight["step_loss"], rtol=1e-5, atol=1e-6)
    for k, v in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][k], v, rtol=1e-4, atol=1e-6)
    m_resumed = json.loads((out / "metrics.json").read_text())["metrics"]
    m_straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())["metrics"]
    assert m_resumed["confusion"] == m_straight["confusion"]
    assert not (out / LAST_CHECKPOINT).exists()  # complete: the resume point is removed


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    last = tmp_path / LAST_CHECKPOINT
    assert not _resumable(last, "abc")
    save_checkpoint(last, {"provenance": {"run_key": "abc"}})
    assert _resumable(last, "abc")
    with caplog.at_level("WARNING"):
        assert not _resumable(last, "other")
    assert any("other settings" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("garbage", [b"not a checkpoint"])
def test_unreadable_checkpoint_is_not_resumed(tmp_path, garbage):
    last = tmp_path / LAST_CHECKPOINT
    last.write_bytes(garbage)
    assert not _resumable(last, "abc")
