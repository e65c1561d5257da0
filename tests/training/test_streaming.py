"""Training straight from the window store: streamed statistics, batches, prediction, and when it is used."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.training.training_toy_data import toy_store_in
from virtimu.store.windows import WindowStore
from virtimu.training.config import TrainConfig
from virtimu.training.learner import TorchLearner, channel_stats, store_channel_stats
from virtimu.training.run import RunSpec, train_run, use_stream
from virtimu.types import WindowSet

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory) -> tuple[Path, WindowSet]:
    """(store path, WindowSet): 6 subjects × 3 classes × 10 windows, 16 windows per chunk."""
    return toy_store_in(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def make_toy_store(tmp_path):
    """Factory ``make_toy_store(chunk_rows=16, **toy_windows kwargs) -> (path, WindowSet)`` in tmp_path."""
    return lambda **kw: toy_store_in(tmp_path, **kw)


class SmallNet(nn.Module):
    """One conv block + linear head, following the models contract."""

    def __init__(self, n_channels: int, length: int, n_classes: int, config: dict | None = None) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(n_channels, 8, 3, padding=1), nn.ReLU())
        self.conv_layers = [self.conv]
        self.head = nn.Linear(8, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) -> (B, K)
        return self.head(self.conv(x.transpose(1, 2)).mean(dim=2))

    def replace_head(self, n_classes: int) -> None:
        self.head = nn.Linear(8, n_classes)

    def fc_parameters(self):
        return self.head.parameters()


def _cfg(**kw) -> TrainConfig:
    base = {"epochs": 12, "batch_size": 16, "lr": 1e-2, "seed": 0}
    base.update(kw)
    return TrainConfig(**base)


def test_streamed_stats_equal_in_memory(make_toy_store):
    path, ws = make_toy_store(chunk_rows=7)
    rng = np.random.default_rng(1)
    idx = rng.choice(len(ws), size=97, replace=False)  # unsorted, spread over most chunks
    mean, std = store_channel_stats(path, "default", idx)
    ref_mean, ref_std = channel_stats(ws.X[idx])
    assert mean.dtype == np.float32 and mean.shape == (3,)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, ref_std, rtol=1e-6)
    all_mean, _ = store_channel_stats(path, "default")
    np.testing.assert_allclose(all_mean, channel_stats(ws.X)[0], rtol=1e-6)
    assert not np.allclose(all_mean, mean, rtol=1e-4)  # the subset's statistics, not the set's


def test_streamed_stats_stable_with_large_offset(make_toy_store, tmp_path):
    from virtimu.store.windows import WindowStore as WS

    _, ws = make_toy_store()
    ws.X = ws.X + np.float32(1e4)  # float32 accumulation would lose most of the variance here
    WS(tmp_path / "big.zarr", mode="a").append("default", ws, chunk_rows=5)
    mean, std = store_channel_stats(tmp_path / "big.zarr", "default")
    ref_mean, ref_std = channel_stats(ws.X)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-7)
    np.testing.assert_allclose(std, ref_std, rtol=1e-5)


def test_fit_store_learns_separable_set(toy_store):
    path, ws = toy_store
    train = np.flatnonzero(ws.subject != "s6")
    test = np.flatnonzero(ws.subject == "s6")
    learner = TorchLearner(SmallNet, train_config=_cfg()).fit_store(path, "default", train)
    h = learner.history
    assert h["loss"][-1] < 0.3 * h["loss"][0]
    assert h["step"][-1] == 12 * int(np.ceil(train.size / 16))
    mean, std = channel_stats(ws.X[train])
    np.testing.assert_allclose(learner.mean_, mean, rtol=1e-6)
    np.testing.assert_allclose(learner.std_, std, rtol=1e-6)
    pred = learner.predict_store(path, "default", test)
    assert np.mean(pred == ws.y[test]) == 1.0
    np.testing.assert_array_equal(pred, learner.predict(ws.X[test]))  # same model, same inputs
    assert learner.label_map == ws.label_map and learner.channels == ws.channels
    np.testing.assert_array_equal(learner.train_indices_, train)


def test_fit_store_seeded_validation_and_resume(toy_store, tmp_path):
    path, ws = toy_store
    rows = np.flatnonzero(ws.subject != "s6")
    a = TorchLearner(SmallNet, train_config=_cfg(epochs=4, val_subjects=1)).fit_store(path, "default", rows)
    b = TorchLearner(SmallNet, train_config=_cfg(epochs=4, val_subjects=1)).fit_store(path, "default", rows)
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    val_subject = set(ws.subject[a.val_indices_].tolist())
    assert len(val_subject) == 1 and not val_subject & set(ws.subject[a.train_indices_].tolist())
    assert all(np.isfinite(a.history["val_f1"]))
    # interrupted after 2 epochs, resumed: the same weights as the uninterrupted run
    steps = 2 * int(np.ceil(a.train_indices_.size / 16))
    TorchLearner(SmallNet, train_config=_cfg(epochs=4, val_subjects=1, max_steps=steps)).fit_store(
        path, "default", rows, out_dir=tmp_path)
    r = TorchLearner(SmallNet, train_config=_cfg(epochs=4, val_subjects=1)).fit_store(
        path, "default", rows, out_dir=tmp_path, resume=True)
    assert r.history["step"] == a.history["step"]
    sr = r.model_.state_dict()
    assert all(torch.allclose(sa[k], sr[k], atol=1e-6) for k in sa)


def test_use_stream_modes():
    mib = 2 ** 20
    assert use_stream(TrainConfig(max_in_memory_mb=1), 2 * mib, True)
    assert not use_stream(TrainConfig(max_in_memory_mb=1), mib // 2, True)
    assert not use_stream(TrainConfig(max_in_memory_mb=1), 2 * mib, False)  # cannot stream: loads
    assert use_stream(TrainConfig(stream="true"), 10, True)
    assert not use_stream(TrainConfig(stream="false", max_in_memory_mb=1), 2 * mib, True)
    with pytest.raises(ValueError, match="cannot stream"):
        use_stream(TrainConfig(stream="true"), 10, False)


def test_train_run_streams_above_threshold_without_loading_the_set(toy_store, tmp_path, monkeypatch):
    path, ws = toy_store
    calls = {"read": 0, "to_numpy": 0, "fit": 0, "chunk_rows": []}
    real_read_chunk = WindowStore.read_chunk

    def spy_read(self, *a, **k):
        calls["read"] += 1
        raise AssertionError("WindowStore.read called while streaming")

    def spy_to_numpy(self, *a, **k):
        calls["to_numpy"] += 1
        raise AssertionError("WindowStore.to_numpy called while streaming")

    def spy_read_chunk(self, set_name, chunk):
        out = real_read_chunk(self, set_name, chunk)
        calls["chunk_rows"].append(len(out))
        return out

    def spy_fit(self, *a, **k):
        calls["fit"] += 1
        raise AssertionError("in-memory fit called while streaming")

    monkeypatch.setattr(WindowStore, "read", spy_read)
    monkeypatch.setattr(WindowStore, "to_numpy", spy_to_numpy)
    monkeypatch.setattr(WindowStore, "read_chunk", spy_read_chunk)
    monkeypatch.setattr(TorchLearner, "fit", spy_fit)
    # the toy set is ~35 KiB; a 16 KiB budget forces streaming under stream=auto
    spec = RunSpec(model="cnn1d", store=str(path), split="subjects", test_subjects=("s6",))
    result = train_run(spec, tmp_path / "run", overrides=["epochs=10", "lr=1e-2", "max_in_memory_mb=0.015625"])
    assert calls["read"] == calls["to_numpy"] == calls["fit"] == 0
    assert calls["chunk_rows"] and max(calls["chunk_rows"]) <= 16  # never more than one chunk at a time
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["config"]["streamed"] is True and saved["metrics"]["n"] == int(np.sum(ws.subject == "s6"))
    assert result.metrics.accuracy == 1.0
    # the same run under the default budget loads the windows and never streams
    monkeypatch.undo()
    monkeypatch.setattr(TorchLearner, "fit_store", lambda *a, **k: (_ for _ in ()).throw(AssertionError("streamed")))
    again = train_run(spec, tmp_path / "run2", overrides=["epochs=1"])
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["config"]["streamed"] is False
    assert again.metrics.n == result.metrics.n


def test_stream_true_refuses_feature_learners(toy_store, tmp_path):
    path, _ = toy_store
    with pytest.raises(ValueError, match="cannot stream"):
        train_run(RunSpec(model="rf", store=str(path)), tmp_path / "rf", overrides=["stream=true"])
