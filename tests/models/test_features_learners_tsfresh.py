"""rf-tsfresh: random forest on tsfresh + PSD features; fit, save/load, store cache, CLI train/eval."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tsfresh")

import virtimu.features.tsfresh_features as tf  # noqa: E402
from virtimu.cli import main  # noqa: E402
from virtimu.models.features_learners import (  # noqa: E402
    FEATURE_LEARNERS,
    FeatureConfig,
    FeatureLearner,
    FeatureRFTsfresh,
    RFTsfreshConfig,
)
from virtimu.store.windows import WindowStore  # noqa: E402
from virtimu.types import WindowSet  # noqa: E402

FS = 25.0
L = 50
CHANNELS = ["wrist/acc_x", "wrist/acc_y", "wrist/acc_z"]
FAST = {"feature_set": "minimal", "workers": 1, "n_estimators": 30, "progress": False}


def toy(n_per_class: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes told apart by frequency (1 Hz vs 4 Hz on x) and amplitude; noise on every axis."""
    rng = np.random.default_rng(seed)
    t = np.arange(L) / FS
    y = np.repeat([3, 7], n_per_class)        # label codes need not be 0..K-1
    f = np.where(y == 3, 1.0, 4.0)
    a = np.where(y == 3, 1.0, 2.0)
    X = 0.3 * rng.standard_normal((y.size, L, 3))
    X[:, :, 0] += a[:, None] * np.sin(2 * np.pi * f[:, None] * t + rng.uniform(0, 6.3, (y.size, 1)))
    X[:, :, 2] += 9.81
    return X.astype(np.float32), y


def test_registry_and_config() -> None:
    assert FEATURE_LEARNERS["rf-tsfresh"] is FeatureRFTsfresh
    c = RFTsfreshConfig()
    assert c.feature_set == "efficient" and c.include_psd and c.n_estimators == 200


def test_fits_separable_problem_and_round_trips(tmp_path: Path) -> None:
    X, y = toy()
    Xte, yte = toy(10, seed=1)
    m = FeatureRFTsfresh(FAST, FeatureConfig(fs=FS)).fit(X, y, channels=CHANNELS, label_map={3: "slow", 7: "fast"})
    # 3 channels x (10 tsfresh + 17 PSD) features, names from both blocks
    assert len(m.feature_names_) == 3 * (10 + 17)
    assert m.feature_names_[0] == "wrist/acc_x__sum_values" and m.feature_names_[-1] == "wrist/acc_z/dominant_freq"
    pred = m.predict(Xte)
    assert set(pred.tolist()) <= {3, 7}
    assert (pred == yte).mean() == 1.0
    path = m.save(tmp_path / "m.zip")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["impute.npz", "meta.json", "model.skops"]
        meta = json.loads(z.read("meta.json"))
    assert meta["kind"] == "rf-tsfresh" and meta["config"]["feature_set"] == "minimal"
    back = FeatureLearner.load(path)
    assert isinstance(back, FeatureRFTsfresh) and back.label_map == {3: "slow", 7: "fast"}
    np.testing.assert_array_equal(back.predict_proba(Xte), m.predict_proba(Xte))
    np.testing.assert_array_equal(back.imputer_.median_, m.imputer_.median_)


def test_non_finite_features_are_imputed_from_training(tmp_path: Path) -> None:
    X, y = toy()
    X[0, :, 1] = 0.0  # a constant channel: some tsfresh features are undefined
    settings = {"variation_coefficient": None, "mean": None, "skewness": None}
    m = FeatureRFTsfresh({**FAST, "feature_set": settings, "include_psd": False}, FeatureConfig(fs=FS))
    m.fit(X, y, channels=CHANNELS)
    raw, names = m._extract(X[:1])
    assert not np.isfinite(raw).all()                     # variation coefficient of a zero channel
    F = m.features(X[:1])
    assert np.isfinite(F).all()
    bad = ~np.isfinite(raw[0])
    np.testing.assert_array_equal(F[0, bad], m.imputer_.median_[bad])
    m.save(tmp_path / "m.zip")
    np.testing.assert_array_equal(FeatureLearner.load(tmp_path / "m.zip").features(X[:1]), F)


def test_magnitude_channels(tmp_path: Path) -> None:
    X, y = toy(8)
    m = FeatureRFTsfresh({**FAST, "add_magnitude": True}, FeatureConfig(fs=FS)).fit(X, y, channels=CHANNELS)
    assert "wrist/acc_mag__mean" in m.feature_names_ and "wrist/acc_mag/spectral_energy" in m.feature_names_
    col = m.feature_names_.index("wrist/acc_mag__mean")
    expect = np.linalg.norm(X[:3].astype(np.float64), axis=-1).mean(axis=1)
    np.testing.assert_allclose(m.features(X[:3])[:, col], expect, rtol=1e-5)


def tiny_store(path: Path) -> Path:
    X, y = toy(16)
    n = len(y)
    ws = WindowSet(X=X, y=y, subject=np.where(np.arange(n) % 2, "s1", "s2"),
                   recording=[f"toy/r{i % 4}" for i in range(n)], start=np.arange(n) * L,
                   source=["toy"] * n, channels=CHANNELS, units=["m/s^2"] * 3, fs=FS,
                   label_map={3: "slow", 7: "fast"})
    WindowStore(path).append("default", ws)
    return path


def test_cli_train_and_eval_with_store_cache(tmp_path: Path, monkeypatch) -> None:
    store = tiny_store(tmp_path / "toy.zarr")
    calls: list[int] = []
    real = tf._extract_chunk
    monkeypatch.setattr(tf, "_extract_chunk", lambda X, *a: (calls.append(len(X)), real(X, *a))[1])
    run = tmp_path / "run"
    args = ["train", "rf-tsfresh", "--store", str(store), "--out", str(run), "model.feature_set=minimal",
            "model.workers=1", "model.n_estimators=30", "model.progress=false"]
    assert main(args) == 0
    assert (run / "model.zip").exists() and not (run / "model.pt").exists()
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["accuracy"] == 1.0
    extracted = sum(calls)
    assert extracted == 32                                  # train + test part, each window once
    assert (store / "features" / "default").is_dir()        # cached beside the window set
    assert main(["eval", str(run), "--store", str(store)]) == 0
    again = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])
    assert sum(calls) == extracted                          # eval read every window from the store cache
    assert main(args[:5] + [str(tmp_path / "run2")] + args[6:]) == 0
    assert sum(calls) == extracted                          # a second training run extracts nothing
