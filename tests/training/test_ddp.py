"""Multi-process training (DistributedDataParallel, gloo, CPU): 2 processes with B/2 windows each follow
1 process with batch B; rank 0 alone writes; clear errors for what cannot run in several processes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.training_toy_data import toy_store_in
from virtimu.cli import main
from virtimu.training import distributed
from virtimu.training.learner import LAST_CHECKPOINT, TorchLearner
from virtimu.types import WindowSet

torch.set_num_threads(1)

# batch 11 on 126 training windows: 11 full batches, then 5 windows split 2 / 3 (uneven shares);
# class weights and a validation split exercise the global loss denominator and the broadcast validation
SETTINGS = ["epochs=2", "lr=1e-2", "batch_size=11", "model.dropout=0", "class_weights=true", "val_fraction=0.2",
            "threads=1"]


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory) -> tuple[Path, WindowSet]:
    return toy_store_in(tmp_path_factory.mktemp("toy"))


def test_shard_bounds_partition_every_batch():
    for n in range(0, 13):
        for world in (1, 2, 3):
            parts = [distributed.shard_bounds(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))  # contiguous, no overlap
            sizes = [hi - lo for lo, hi in parts]
            assert max(sizes) - min(sizes) <= 1


def test_two_processes_match_one_process_from_the_cli(toy_store, tmp_path):
    store, _ = toy_store
    common = ["train", "cnn1d", "--store", str(store), "--quiet", *SETTINGS]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--out", str(tmp_path / "two"), "--nproc", "2"]) == 0
    one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    assert len(one["step_loss"]) == len(two["step_loss"]) == one["history"]["step"][-1] > 0
    np.testing.assert_allclose(two["step_loss"], one["step_loss"], rtol=1e-5, atol=1e-6)
    assert one["history"]["step"] == two["history"]["step"]
    np.testing.assert_allclose(two["history"]["val_f1"], one["history"]["val_f1"], atol=1e-6)
    for k, v in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][k], v, rtol=1e-4, atol=1e-5)
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert m2["config"]["nproc"] == 2 and m1["config"]["nproc"] == 1
    assert m1["metrics"]["confusion"] == m2["metrics"]["confusion"]
    # one set of outputs, and the resume point is gone once the run is complete
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert not (tmp_path / "two" / LAST_CHECKPOINT).exists()


def _fit_store_rank(store: str, root: str) -> None:
    """Each rank streams from the store with its own checkpoint folder; rank 0 saves the learner."""
    ctx = distributed.active()
    learner = TorchLearner("cnn1d", {"dropout": 0.0},
                           {"epochs": 2, "lr": 1e-2, "batch_size": 13, "val_fraction": 0.2, "threads": 1})
    learner.fit_store(store, "default", out_dir=Path(root) / f"rank{ctx.rank}", shuffle_within=2)
    if ctx.is_main:
        learner.save(Path(root) / "ddp.pt")


def test_streamed_shards_match_and_only_rank0_writes(toy_store, tmp_path):
    store, _ = toy_store
    distributed.launch(_fit_store_rank, 2, str(store), str(tmp_path))
    assert (tmp_path / "rank0" / LAST_CHECKPOINT).is_file()
    assert not (tmp_path / "rank1").exists()  # the other rank wrote no checkpoint
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    single = TorchLearner("cnn1d", {"dropout": 0.0},
                          {"epochs": 2, "lr": 1e-2, "batch_size": 13, "val_fraction": 0.2, "threads": 1})
    single.fit_store(store, "default", shuffle_within=2)
    np.testing.assert_allclose(ddp["step_loss"], single.state_.step_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ddp["mean"].numpy(), single.mean_)  # statistics of the training rows only
    for k, v in single.model_.state_dict().items():
        torch.testing.assert_close(ddp["state_dict"][k], v, rtol=1e-4, atol=1e-5)


def test_nproc_refuses_feature_learners_and_transfer(toy_store, tmp_path, capsys):
    store, _ = toy_store
    assert main(["train", "rf", "--store", str(store), "--out", str(tmp_path / "rf"), "--nproc", "2"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "feature learner" in err
    assert main(["train", "cnn1d", "--store", str(store), "--out", str(tmp_path / "tr"), "--nproc", "2",
                 "--init", str(tmp_path / "x.pt")]) == 2
    assert "transfer" in capsys.readouterr().err
    assert main(["train", "cnn1d", "--store", str(store), "--out", str(tmp_path / "z"), "--nproc", "0"]) == 2
    assert not (tmp_path / "rf" / "metrics.json").exists()
