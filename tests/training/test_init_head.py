"""``virtimu train ... --init CHECKPOINT``: the transferred model's head has exactly the target classes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.training_toy_data import toy_windows, write_store
from virtimu.cli import main
from virtimu.training.learner import TorchLearner
from virtimu.training.run import RunSpec, head_label_map, train_run

torch.set_num_threads(1)

FAST = ["epochs=2", "lr=1e-2", "batch_size=32"]
#: Target label space: its own names and codes, null and two codes no window carries (3, 5).
TARGET_MAP = {0: "null", 1: "stand", 2: "run", 3: "jump", 4: "cycle", 5: "swim"}


@pytest.fixture(scope="module")
def source_model(tmp_path_factory) -> Path:
    """cnn1d trained on the toy store (classes 1, 2, 3 = walk, sit, lie; label map with null)."""
    folder = tmp_path_factory.mktemp("src")
    store = write_store(folder / "src.zarr", toy_windows(per_class=6))
    assert main(["train", "cnn1d", "--store", str(store), "--out", str(folder / "run"), *FAST]) == 0
    return folder / "run" / "model.pt"


def _target_store(path: Path, with_null: bool) -> Path:
    """Toy windows relabelled into TARGET_MAP: classes 1, 2, 4 (+ null windows when ``with_null``)."""
    ws = toy_windows(per_class=6, seed=3, subjects=("t1", "t2", "t3", "t4"))
    y = np.array([1, 2, 4])[ws.y - 1]
    if with_null:
        y[::7] = 0
    return write_store(path, dataclasses.replace(ws, y=y, label_map=dict(TARGET_MAP)))


def test_head_label_map() -> None:
    assert head_label_map(np.array([4, 1, 1, 2]), TARGET_MAP) == {1: "stand", 2: "run", 4: "cycle"}
    assert head_label_map(np.array([0, 2, 7]), TARGET_MAP) == {0: "null", 2: "run", 7: "7"}


@pytest.mark.parametrize("with_null", [False, True])
def test_init_on_another_label_space_gets_a_head_of_the_target_classes(source_model: Path, tmp_path: Path,
                                                                       with_null: bool) -> None:
    store = _target_store(tmp_path / "dst.zarr", with_null)
    out = tmp_path / "run"
    rc = main(["train", "cnn1d", "--store", str(store), "--init", str(source_model), "--out", str(out), *FAST])
    assert rc == 0
    learner = TorchLearner.load(out / "model.pt")
    want = [0, 1, 2, 4] if with_null else [1, 2, 4]
    assert learner.classes_.tolist() == want
    assert learner.label_map == {c: TARGET_MAP[c] for c in want}
    n_out = learner.predict_proba(np.zeros((2, 16, 3), dtype=np.float32)).shape[1]
    assert n_out == len(want)
    src = torch.load(source_model, weights_only=True)
    assert src["classes"] == [1, 2, 3]  # the source head had 3 outputs: the new head is another one
    assert set(np.unique(learner.predict(np.zeros((4, 16, 3), dtype=np.float32))).tolist()) <= set(want)


def test_init_on_the_same_classes_keeps_the_head(source_model: Path, tmp_path: Path, monkeypatch) -> None:
    """Same codes and names (the target's label map may list more codes): no new head."""
    store = write_store(tmp_path / "same.zarr", toy_windows(per_class=6, seed=5))
    calls = []
    original = TorchLearner.replace_head
    monkeypatch.setattr(TorchLearner, "replace_head", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    spec = RunSpec(model="cnn1d", store=str(store), init=str(source_model))
    train_run(spec, tmp_path / "same", overrides=FAST)
    assert calls == []
    # same codes, other names: a new head
    ws = toy_windows(per_class=6, seed=5)
    renamed = write_store(tmp_path / "renamed.zarr",
                          dataclasses.replace(ws, label_map={0: "null", 1: "stand", 2: "run", 3: "jump"}))
    train_run(dataclasses.replace(spec, store=str(renamed)), tmp_path / "renamed", overrides=FAST)
    assert calls == [(3,)]
    assert TorchLearner.load(tmp_path / "renamed" / "model.pt").label_map == {1: "stand", 2: "run", 3: "jump"}
