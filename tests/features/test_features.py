"""Tests of the spectral / hand-crafted window features and the feature learners."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.features import handcrafted as hc
from virtimu.features.handcrafted import (
    HandcraftedConfig,
    n_window_features,
    window_features,
)
from virtimu.features.spectral import SpectralConfig, band_edges, spectral_features
from virtimu.models import features_learners as fl
from virtimu.models.features_learners import (
    FeatureConfig,
    FeatureLearner,
    FeatureRF,
    FeatureSVM,
    FeatureXGB,
    RFConfig,
    SVMConfig,
    XGBConfig,
)

FS = 50.0
CHANNELS = ["a/acc_x", "a/acc_y", "a/acc_z", "b/acc_x", "b/acc_y", "b/acc_z"]


def _sine(freq: float, amp: float = 1.0, n: int = 250, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / FS
    return amp * np.sin(2 * np.pi * freq * t + phase)


def _feature(feats: np.ndarray, names: list[str], name: str) -> np.ndarray:
    return feats[:, names.index(name)]


# ------------------------------------------------------------------ spectral
@pytest.mark.parametrize("freq,amp", [(3.0, 2.0), (7.5, 0.5), (12.0, 9.81)])
def test_sine_dominant_frequency_and_energy(freq: float, amp: float) -> None:
    X = _sine(freq, amp)[None, :, None]
    feats, names = spectral_features(X, FS)
    resolution = FS / 64  # Welch segment of 64 samples
    assert abs(_feature(feats, names, "ch0/dominant_freq")[0] - freq) <= resolution
    energy = _feature(feats, names, "ch0/spectral_energy")[0]
    assert energy == pytest.approx(amp**2 / 2, rel=0.05)
    # the band powers partition the total power
    bins = sum(_feature(feats, names, f"ch0/psd_bin{k}") for k in range(10))[0]
    assert bins == pytest.approx(energy, rel=1e-4)
    assert abs(_feature(feats, names, "ch0/spectral_centroid")[0] - freq) < 2 * resolution


def test_entropy_sine_below_white_noise() -> None:
    rng = np.random.default_rng(0)
    X = np.stack([_sine(5.0), rng.normal(size=250)], axis=-1)[None]
    feats, names = spectral_features(X, FS)
    h_sine = _feature(feats, names, "ch0/spectral_entropy")[0]
    h_noise = _feature(feats, names, "ch1/spectral_entropy")[0]
    assert 0 <= h_sine < 0.5 < h_noise <= 1.0


def test_spectral_constant_window_is_finite_zero() -> None:
    feats, _ = spectral_features(np.full((2, 100, 1), 9.81), FS)
    assert np.all(np.isfinite(feats)) and np.allclose(feats, 0.0)


def test_band_edges_log_and_bad_input() -> None:
    e = band_edges(FS, 5, "log", 0.5)
    assert e[0] == 0 and e[1] == pytest.approx(0.5) and e[-1] == pytest.approx(FS / 2)
    assert np.all(np.diff(e) > 0)
    with pytest.raises(ValueError, match="spacing"):
        SpectralConfig(spacing="mel")
    with pytest.raises(ValueError, match=r"\(N, L, C\)"):
        spectral_features(np.zeros((10, 3)), FS)


# --------------------------------------------------------------- handcrafted
def test_handcrafted_exact_on_hand_made_window() -> None:
    x = np.array([1.0, -1.0, 2.0, -2.0, 0.5, 3.0])
    y = 2 * x + 1                      # perfectly correlated with x
    z = -x                             # perfectly anti-correlated
    X = np.stack([x, y, z], axis=-1)[None].astype(np.float32)
    feats, names = window_features(X, FS, HandcraftedConfig(include_spectral=False),
                                   channels=["s/acc_x", "s/acc_y", "s/acc_z"])
    f = dict(zip(names, feats[0]))
    assert f["s/acc_x/mean"] == pytest.approx(x.mean())
    assert f["s/acc_x/std"] == pytest.approx(x.std())
    assert f["s/acc_x/min"] == pytest.approx(-2.0)
    assert f["s/acc_x/max"] == pytest.approx(3.0)
    assert f["s/acc_x/median"] == pytest.approx(0.75)
    assert f["s/acc_x/rms"] == pytest.approx(np.sqrt((x**2).mean()), rel=1e-6)
    assert f["s/acc_x/zero_crossings"] == pytest.approx(4 / 5)
    assert f["s/acc_y/mean"] == pytest.approx(2 * x.mean() + 1, rel=1e-6)
    assert f["s/acc/corr_xy"] == pytest.approx(1.0, abs=1e-6)
    assert f["s/acc/corr_xz"] == pytest.approx(-1.0, abs=1e-6)
    assert f["s/acc/corr_yz"] == pytest.approx(-1.0, abs=1e-6)
    mag = np.sqrt(x**2 + y**2 + z**2)
    assert f["s/acc_mag/max"] == pytest.approx(mag.max(), rel=1e-6)
    assert f["s/acc_x/iqr"] == pytest.approx(np.percentile(x, 75) - np.percentile(x, 25))


def test_skewness_kurtosis_against_scipy() -> None:
    from scipy.stats import kurtosis, skew
    X = np.random.default_rng(1).gamma(2.0, size=(3, 200, 2))
    t = hc.time_features(X)
    i_s, i_k = hc.TIME_FEATURES.index("skewness"), hc.TIME_FEATURES.index("kurtosis")
    np.testing.assert_allclose(t[..., i_s], skew(X, axis=1), rtol=1e-9)
    np.testing.assert_allclose(t[..., i_k], kurtosis(X, axis=1, fisher=False), rtol=1e-9)


@pytest.mark.parametrize("cfg", [HandcraftedConfig(), HandcraftedConfig(include_spectral=False),
                                 HandcraftedConfig(include_magnitude=False, include_correlation=False),
                                 HandcraftedConfig(spectral=SpectralConfig(n_bins=4, spacing="log"))])
def test_feature_count_and_names(cfg: HandcraftedConfig) -> None:
    X = np.random.default_rng(2).normal(size=(5, 250, 6)).astype(np.float32)
    feats, names = window_features(X, FS, cfg, channels=CHANNELS)
    assert feats.shape == (5, len(names)) == (5, n_window_features(6, 2, cfg))
    assert feats.dtype == np.float32 and np.all(np.isfinite(feats))
    assert len(set(names)) == len(names)
    # without names, consecutive triplets give the same count
    feats2, names2 = window_features(X, FS, cfg)
    assert feats2.shape == feats.shape and names2[0].startswith("ch0/")
    np.testing.assert_array_equal(feats, feats2)


def test_documented_count_two_accelerometers() -> None:
    assert n_window_features(6, 2) == 270
    assert n_window_features(3, 1) == 135


# ------------------------------------------------------------------ learners
def _two_class_set(n_per: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of 3-axis sines (2 Hz vs 6 Hz) with random phase, amplitude and noise."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for code, freq in ((7, 2.0), (42, 6.0)):   # arbitrary label codes
        for _ in range(n_per):
            chans = [_sine(freq, rng.uniform(0.5, 2.0), 100, rng.uniform(0, 2 * np.pi)) for _ in range(3)]
            X.append(np.stack(chans, -1) + rng.normal(scale=0.5, size=(100, 3)))
            y.append(code)
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)


LEARNERS = [
    lambda fc: FeatureRF(RFConfig(n_estimators=30), fc),
    lambda fc: FeatureXGB(XGBConfig(n_estimators=20, n_jobs=1), fc),
    lambda fc: FeatureSVM(SVMConfig(), fc),
]


@pytest.mark.parametrize("make", LEARNERS, ids=["rf", "xgb", "svm"])
def test_learner_accuracy_and_round_trip(make, tmp_path) -> None:
    X_tr, y_tr = _two_class_set(seed=0)
    X_te, y_te = _two_class_set(n_per=25, seed=1)
    learner = make(FeatureConfig(fs=FS)).fit(X_tr, y_tr, groups=np.zeros(len(y_tr)))
    assert learner.classes_.tolist() == [7, 42]
    pred = learner.predict(X_te)
    assert set(np.unique(pred)) <= {7, 42}
    assert (pred == y_te).mean() > 0.9
    proba = learner.predict_proba(X_te)
    assert proba.shape == (len(y_te), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)

    path = learner.save(tmp_path / "model.zip")
    loaded = type(learner).load(path)
    np.testing.assert_array_equal(loaded.predict(X_te), pred)
    np.testing.assert_allclose(loaded.predict_proba(X_te), proba, rtol=1e-6, atol=1e-7)
    assert type(FeatureLearner.load(path)) is type(learner)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_rejects_wrong_kind_and_garbage(tmp_path) -> None:
    X, y = _two_class_set(n_per=10)
    path = FeatureRF(RFConfig(n_estimators=3)).fit(X, y).save(tmp_path / "rf.zip")
    with pytest.raises(ValueError, match="'rf' learner"):
        FeatureXGB.load(path)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.zip"):
        FeatureLearner.load(bad)


def test_fit_rejects_bad_input() -> None:
    X, y = _two_class_set(n_per=5)
    with pytest.raises(ValueError, match="integer codes"):
        FeatureRF().fit(X, y.astype(float))
    with pytest.raises(ValueError, match="two classes"):
        FeatureRF().fit(X, np.zeros(len(y), dtype=np.int64))
    learner = FeatureRF(RFConfig(n_estimators=3)).fit(X, y)
    with pytest.raises(ValueError, match=r"\(L, C\)"):
        learner.predict(X[:, :50])


def test_feature_cache_skips_extraction(tmp_path, monkeypatch) -> None:
    calls = []
    real = fl.window_features

    def counting(X, *args, **kwargs):
        calls.append(len(X))
        return real(X, *args, **kwargs)

    monkeypatch.setattr(fl, "window_features", counting)
    X, _ = _two_class_set(n_per=10)
    cfg = FeatureConfig(fs=FS, cache_dir=str(tmp_path / "cache"))
    f1, n1 = fl.extract_features(X, cfg)
    assert calls == [len(X)]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    f2, n2 = fl.extract_features(X.copy(), cfg)
    assert max(calls[1:], default=0) <= 1          # only names recomputed on one window
    np.testing.assert_array_equal(f1, f2)
    assert n1 == n2
    # a different fs or different data is a different key
    fl.extract_features(X, FeatureConfig(fs=100.0, cache_dir=cfg.cache_dir))
    X2 = X.copy()
    X2[0, 0, 0] += 1.0
    fl.extract_features(X2, cfg)
    assert calls[-2:] == [len(X), len(X)]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3
