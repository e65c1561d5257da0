"""Tests of the training loop, TorchLearner, checkpoints and transfer options (tiny CPU model)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from virtimu.evaluation.splits import ratio_split, stratified_sample
from virtimu.training.config import TrainConfig, apply_overrides, lr_at
from virtimu.training.learner import TorchLearner

torch.set_num_threads(1)


class TinyNet(nn.Module):
    """Two conv blocks + linear head, following the models contract."""

    def __init__(self, n_channels: int, length: int, n_classes: int, config: dict | None = None) -> None:
        super().__init__()
        self.hidden = int((config or {}).get("hidden", 8))
        self.conv1 = nn.Sequential(nn.Conv1d(n_channels, self.hidden, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(self.hidden, self.hidden, 3, padding=1), nn.ReLU())
        self.conv_layers = [self.conv1, self.conv2]
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(self.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, L, C)
        h = self.conv2(self.conv1(x.transpose(1, 2)))  # (B, H, L)
        return self.head(self.drop(h.mean(dim=2)))  # (B, K)

    def replace_head(self, n_classes: int) -> None:
        self.head = nn.Linear(self.hidden, n_classes)

    def fc_parameters(self):
        return self.head.parameters()


def make_data(n_per_class: int = 20, length: int = 16, channels: int = 3, codes=(1, 2, 5), seed: int = 0,
              scale: float = 1.0, offset: float = 0.0):
    """Separable windows: class i has mean +2 on channel i (mod C)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i, c in enumerate(codes):
        x = rng.normal(size=(n_per_class, length, channels))
        x[:, :, i % channels] += 2.0
        X.append(x * scale + offset)
        y.append(np.full(n_per_class, c))
    return np.concatenate(X).astype(np.float32), np.concatenate(y).astype(np.int64)


def cfg(**kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "seed": 0}
    base.update(kw)
    return TrainConfig(**base)


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


# ---------------------------------------------------------------- config / lr
def test_lr_schedules_at_key_steps():
    c = TrainConfig(lr=1.0)
    assert lr_at(0, 100, c) == 1.0 and lr_at(99, 100, c) == 1.0
    s = TrainConfig(lr=1.0, schedule="step", step_fraction=0.3, gamma=0.1)
    assert lr_at(29, 100, s) == 1.0
    assert lr_at(30, 100, s) == pytest.approx(0.1)
    assert lr_at(60, 100, s) == pytest.approx(0.01)
    cos = TrainConfig(lr=1.0, schedule="cosine", final_lr=0.0)
    assert lr_at(0, 100, cos) == 1.0
    assert lr_at(50, 100, cos) == pytest.approx(0.5)
    assert lr_at(100, 100, cos) == pytest.approx(0.0, abs=1e-12)
    w = TrainConfig(lr=1e-4, schedule="warmup_linear", warmup_fraction=0.1, final_lr=1e-6)
    assert lr_at(0, 100, w) == pytest.approx(1e-5)  # (0 + 1) / 10 of the peak
    assert lr_at(9, 100, w) == pytest.approx(1e-4)
    assert lr_at(10, 100, w) == pytest.approx(1e-4)
    assert lr_at(55, 100, w) == pytest.approx((1e-4 + 1e-6) / 2)
    assert lr_at(100, 100, w) == pytest.approx(1e-6)


def test_config_defaults_overrides_and_errors(tmp_path):
    d = TrainConfig()
    assert (d.batch_size, d.lr, d.optimizer, d.epochs) == (64, 1e-3, "adam", 100)
    o = apply_overrides(d, ["lr=1e-4", "epochs=5", "early_stopping_patience=none", "class_weights=true"])
    assert (o.lr, o.epochs, o.early_stopping_patience, o.class_weights) == (1e-4, 5, None, True)
    with pytest.raises(ValueError, match="unknown override keys \\['lrr'\\]"):
        apply_overrides(d, ["lrr=1"])
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    path = tmp_path / "t.yaml"
    path.write_text("train:\n  lr: 3.0e-4\n  schedule: cosine\n")
    assert TrainConfig.from_yaml(path) == TrainConfig(lr=3e-4, schedule="cosine")
    assert TrainConfig.from_dict(d.to_dict()) == d


# ------------------------------------------------------------------ learning
def test_overfits_tiny_separable_set_with_label_codes():
    X, y = make_data()
    learner = TorchLearner(TinyNet, train_config=cfg(epochs=25)).fit(X, y)
    assert learner.classes_.tolist() == [1, 2, 5]
    assert np.mean(learner.predict(X) == y) == 1.0
    p = learner.predict_proba(X)
    assert p.shape == (60, 3) and np.allclose(p.sum(1), 1.0, atol=1e-5)
    assert learner.history["loss"][-1] < learner.history["loss"][0]
    assert learner.history["step"][-1] == 25 * math.ceil(60 / 16)


def test_normalisation_from_training_part_only():
    X, y = make_data()
    Xv, yv = make_data(seed=1, scale=10.0, offset=50.0)
    learner = TorchLearner(TinyNet, train_config=cfg(epochs=1)).fit(X, y, X_val=Xv, y_val=yv)
    np.testing.assert_allclose(learner.mean_, X.reshape(-1, 3).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(learner.std_, X.reshape(-1, 3).std(0), rtol=1e-5)
    # with an internal split the statistics are those of the training indices
    learner = TorchLearner(TinyNet, train_config=cfg(epochs=1, val_fraction=0.25)).fit(X, y)
    tr, _ = ratio_split(y, train=0.75, seed=0)
    np.testing.assert_array_equal(learner.train_indices_, tr)
    np.testing.assert_allclose(learner.mean_, X[tr].reshape(-1, 3).mean(0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(learner.mean_, X.reshape(-1, 3).mean(0), atol=1e-6)


def test_early_stopping_stops_and_restores_best():
    X, y = make_data()
    Xv, _ = make_data(seed=3)
    yv = np.roll(np.array([1, 2, 5]), 1)[np.searchsorted([1, 2, 5], y)]  # wrong labels: val loss rises
    learner = TorchLearner(TinyNet, train_config=cfg(epochs=60, early_stopping_patience=3, monitor="val_loss"))
    learner.fit(X, y, X_val=Xv, y_val=yv)
    h = learner.history
    assert learner.state_.stopped_early and len(h["epoch"]) < 60
    best = int(np.argmin(h["val_loss"]))
    assert learner.state_.best_epoch == best and len(h["epoch"]) == best + 1 + 3
    p = learner.predict_proba(Xv)
    val_loss = -np.mean(np.log(p[np.arange(len(yv)), np.searchsorted(learner.classes_, yv)]))
    assert val_loss == pytest.approx(h["val_loss"][best], rel=1e-4)
    assert val_loss < h["val_loss"][-1]


def test_class_weights_change_the_loss():
    X, y = make_data()
    keep = np.r_[0:20, 20:24, 40:44]  # imbalanced: 20 / 4 / 4
    X, y = X[keep], y[keep]
    a = TorchLearner(TinyNet, train_config=cfg(epochs=1)).fit(X, y)
    b = TorchLearner(TinyNet, train_config=cfg(epochs=1, class_weights=True)).fit(X, y)
    assert a.class_weights_ is None
    np.testing.assert_allclose(b.class_weights_, [28 / (3 * 20), 28 / (3 * 4), 28 / (3 * 4)], rtol=1e-6)
    assert abs(a.history["loss"][0] - b.history["loss"][0]) > 1e-4


def test_seeds_make_runs_identical():
    X, y = make_data()
    runs = [TorchLearner(TinyNet, train_config=cfg(seed=s)).fit(X, y) for s in (7, 7, 8)]
    s0, s1, s2 = (r.model_.state_dict() for r in runs)
    assert all(torch.equal(s0[k], s1[k]) for k in s0)
    assert not all(torch.equal(s0[k], s2[k]) for k in s0)


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_weights_only(tmp_path):
    X, y = make_data()
    learner = TorchLearner(TinyNet, {"hidden": 6}, cfg(epochs=2)).fit(
        X, y, label_map={1: "walk", 2: "sit", 5: "lie"}, channels=["w/acc_x", "w/acc_y", "w/acc_z"],
        provenance={"store": "x.zarr"})
    path = learner.save(tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    for key in ("state_dict", "model_name", "model_config", "train_config", "label_map", "channels", "mean",
                "std", "n_channels", "length", "history", "provenance", "virtimu_version"):
        assert key in raw, key
    assert raw["label_map"] == {1: "walk", 2: "sit", 5: "lie"} and raw["train_config"]["epochs"] == 2
    loaded = TorchLearner.load(path, model_factory=TinyNet)
    assert loaded.model_.hidden == 6
    np.testing.assert_array_equal(loaded.predict_proba(X), learner.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, learner.classes_)
    with pytest.raises(ValueError, match="model_factory"):
        TorchLearner.load(path)


def test_resume_continues_step_count_and_matches_uninterrupted(tmp_path):
    X, y = make_data()
    spe = math.ceil(60 / 16)
    full = TorchLearner(TinyNet, train_config=cfg(epochs=4, val_fraction=0.2)).fit(X, y)
    part = TorchLearner(TinyNet, train_config=cfg(epochs=4, val_fraction=0.2, max_steps=2 * math.ceil(48 / 16)))
    part.fit(X, y, out_dir=tmp_path)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["train_state"]["loop"]["step"] == 2 * math.ceil(48 / 16) and saved["train_state"]["loop"]["epoch"] == 2
    resumed = TorchLearner(TinyNet, train_config=cfg(epochs=4, val_fraction=0.2))
    resumed.fit(X, y, out_dir=tmp_path, resume=True)
    assert resumed.history["step"] == full.history["step"] == [3, 6, 9, 12]
    assert resumed.state_.step == 4 * math.ceil(48 / 16)
    sf, sr = full.model_.state_dict(), resumed.model_.state_dict()
    assert all(torch.allclose(sf[k], sr[k], atol=1e-6) for k in sf)
    assert spe == 4


# ------------------------------------------------------------------ transfer
def _source(tmp_path):
    X, y = make_data()
    learner = TorchLearner(TinyNet, train_config=cfg(epochs=2)).fit(X, y)
    return TorchLearner.from_checkpoint(learner.save(tmp_path / "src.pt"), model_factory=TinyNet)


def test_freeze_first_k_conv_layers(tmp_path):
    learner = _source(tmp_path)
    Xt, yt = make_data(seed=5, codes=(1, 2, 5))
    before = params(learner.model_)
    learner.freeze(first_k_conv=1).fine_tune(Xt, yt, epochs=2)
    after = params(learner.model_)
    for k in before:
        changed = not torch.equal(before[k], after[k])
        assert changed == (not k.startswith("conv1.")), k
    with pytest.raises(ValueError, match="2 conv layers"):
        learner.freeze(first_k_conv=3)


def test_freeze_all_but_fc_and_replace_head(tmp_path):
    learner = _source(tmp_path)
    Xt, yt = make_data(seed=6, codes=(10, 11), n_per_class=15)
    learner.replace_head(2, {10: "a", 11: "b"}).freeze(all_but_fc=True)
    assert learner.predict_proba(Xt).shape == (30, 2)
    before = params(learner.model_)
    learner.fine_tune(Xt, yt, epochs=2)
    after = params(learner.model_)
    for k in before:
        assert (not torch.equal(before[k], after[k])) == k.startswith("head."), k
    assert set(np.unique(learner.predict(Xt))) <= {10, 11}
    with pytest.raises(ValueError, match="not among the model's classes"):
        learner.fine_tune(Xt, yt + 1, epochs=1)


def test_fine_tune_uses_exactly_n_stratified_windows(tmp_path):
    learner = _source(tmp_path)
    Xt, yt = make_data(seed=7, n_per_class=30)
    mean_src = learner.mean_.copy()
    learner.fine_tune(Xt, yt, n_windows=21, seed=3, epochs=2, overrides=["batch_size=8"])
    np.testing.assert_array_equal(learner.fine_tune_indices_, stratified_sample(yt, 21, seed=3))
    assert learner.fine_tune_indices_.size == 21
    assert np.bincount(np.searchsorted([1, 2, 5], yt[learner.fine_tune_indices_])).tolist() == [7, 7, 7]
    assert learner.history["step"] == [3, 6]  # ceil(21 / 8) steps per epoch
    np.testing.assert_array_equal(learner.mean_, mean_src)  # source statistics kept by default
    learner.fine_tune(Xt * 3 + 1, yt, n_windows=21, seed=3, epochs=1, keep_normalisation=False)
    sub = (Xt * 3 + 1)[stratified_sample(yt, 21, seed=3)]
    np.testing.assert_allclose(learner.mean_, sub.reshape(-1, 3).mean(0), rtol=1e-5, atol=1e-5)


class AuxNet(TinyNet):
    """TinyNet with an auxiliary objective; counts calls of training_loss."""

    calls = 0

    def training_loss(self, x, y, criterion):
        AuxNet.calls += 1
        logits = self(x)
        return criterion(logits, y) + 0.0 * logits.pow(2).mean(), logits


def test_trainer_uses_training_loss_when_present():
    X, y = make_data()
    AuxNet.calls = 0
    TorchLearner(AuxNet, train_config=cfg(epochs=2)).fit(X, y)
    assert AuxNet.calls == 2 * math.ceil(60 / 16)


def test_registry_models_round_trip_and_transfer(tmp_path):
    registry = pytest.importorskip("virtimu.models.registry")
    X, y = make_data(n_per_class=8, length=32, channels=4, codes=(0, 1))
    for name in ("deepconvlstm", "cnn-deconv"):
        learner = TorchLearner(name, train_config=cfg(epochs=1)).fit(X, y)
        loaded = TorchLearner.load(learner.save(tmp_path / f"{name}.pt"))
        assert loaded.model_name == name and name in registry.MODELS
        np.testing.assert_array_equal(loaded.predict_proba(X), learner.predict_proba(X))
        before = params(loaded.model_)
        loaded.freeze(first_k_conv=1).fine_tune(X, y, n_windows=8, epochs=1)
        ids = {id(p) for p in loaded.model_.conv_layers[0].parameters()}
        first = {n for n, p in loaded.model_.named_parameters() if id(p) in ids}
        after = params(loaded.model_)
        assert first and all(torch.equal(before[n], after[n]) for n in first)
        assert any(not torch.equal(before[n], after[n]) for n in before if n not in first)
