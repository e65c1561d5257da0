"""Synthetic-vs-real similarity: window statistics and distances on known distributions."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.evaluation.similarity import (
    FEATURES,
    between_subject_spread,
    compare_classes,
    ks_distance,
    plot_similarity,
    w1_distance,
    window_features,
)

CH = ["waist/acc_x", "waist/acc_y", "waist/acc_z", "waist/gyro_x", "waist/gyro_y", "waist/gyro_z"]
FS = 50.0


def _col(name: str) -> int:
    return FEATURES.index(name)


def test_window_features_of_a_still_sensor_and_a_sinusoid() -> None:
    L = 128
    t = np.arange(L) / FS
    still = np.zeros((L, 6))
    still[:, 0] = 9.81
    moving = still.copy()
    f0 = 50.0 / 128 * 5  # exactly on an FFT bin (1.953 Hz)
    moving[:, 0] += 2.0 * np.sin(2 * np.pi * f0 * t)
    moving[:, 4] = 0.5  # constant rotation about y
    F = window_features(np.stack([still, moving]), CH, FS)
    assert F.shape == (2, len(FEATURES))
    assert F[0, _col("accmag_mean")] == pytest.approx(9.81)
    assert F[0, _col("acc_mean_x")] == pytest.approx(9.81)
    assert F[0, _col("acc_std_x")] == pytest.approx(0.0, abs=1e-12)
    assert F[0, _col("accmag_domfreq")] == 0.0  # constant window: no frequency
    assert F[1, _col("accmag_domfreq")] == pytest.approx(f0)
    assert F[1, _col("acc_std_x")] == pytest.approx(2.0 / np.sqrt(2), rel=1e-6)
    assert F[1, _col("gyro_rms_y")] == pytest.approx(0.5)
    assert F[1, _col("gyromag_mean")] == pytest.approx(0.5)
    assert F[1, _col("accmag_p90")] > F[1, _col("accmag_p10")]


def test_window_features_finds_channels_by_name_and_rejects_missing_ones() -> None:
    X = np.random.default_rng(0).normal(size=(3, 64, 6))
    perm = [3, 4, 5, 0, 1, 2]  # gyro first
    F1 = window_features(X, CH, FS)
    F2 = window_features(X[:, :, perm], [CH[i] for i in perm], FS)
    np.testing.assert_allclose(F1, F2)
    with pytest.raises(ValueError, match="gyro"):
        window_features(X[:, :, :3], CH[:3], FS)


def test_identical_samples_have_zero_distance_and_a_shift_gives_the_shift() -> None:
    a = np.random.default_rng(1).normal(size=500)
    assert w1_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    assert ks_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    assert w1_distance(a, a + 0.7) == pytest.approx(0.7)
    assert ks_distance(a, a + 100.0) == pytest.approx(1.0)


def test_between_subject_spread_is_the_subject_offset_when_subjects_differ_by_a_constant() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=300)
    values = np.concatenate([base, base + 1.0])
    subjects = np.array(["a"] * 300 + ["b"] * 300)
    assert between_subject_spread(values, subjects) == pytest.approx(1.0)
    assert np.isnan(between_subject_spread(base, np.array(["a"] * 300)))  # one subject: undefined


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return rng.normal(size=(n, len(FEATURES))) + shift


def test_compare_classes_identical_is_zero_and_shifted_is_the_shift_over_the_spread() -> None:
    rng = np.random.default_rng(3)
    n = 400
    # two real subjects per class whose feature values differ by exactly 0.5
    real_base = _features(rng, n)
    F_real = np.concatenate([real_base, real_base + 0.5, real_base + 10, real_base + 10.5])
    y_real = np.repeat([1, 1, 2, 2], n)
    subj = np.repeat(["s1", "s2", "s1", "s2"], n)
    # class 1 synthetic = real class 1 exactly; class 2 synthetic = real class 2 shifted by +3
    F_syn = np.concatenate([F_real[:2 * n], F_real[2 * n:] + 3.0])
    y_syn = y_real.copy()
    res = compare_classes(F_syn, y_syn, F_real, y_real, subj, class_names={1: "one", 2: "two"})
    assert res.classes == ["one", "two"]
    np.testing.assert_allclose(res.w1[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(res.ks[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(res.w1[1], 3.0, rtol=1e-9)
    np.testing.assert_allclose(res.spread, 0.5, rtol=1e-9)  # leave-one-subject-out W1 = the offset
    np.testing.assert_allclose(res.normalised[1], 6.0, rtol=1e-9)
    assert res.spread_kind == ["between_subject", "between_subject"]
    summary = res.class_summary()
    assert summary["one"]["median_normalised"] == pytest.approx(0.0, abs=1e-12)
    assert summary["two"]["median_normalised"] == pytest.approx(6.0)
    assert res.n_synthetic.tolist() == [2 * n, 2 * n]
    d = res.to_dict()
    assert d["overall"]["median_normalised"] == pytest.approx(3.0)
    md = res.to_markdown(features=["accmag_mean"])
    assert "| two | 800 | 800 | 6.00 |" in md


def test_compare_classes_without_subjects_uses_the_real_std_and_marks_small_classes() -> None:
    rng = np.random.default_rng(4)
    F_real = np.concatenate([_features(rng, 1000) * 2.0, _features(rng, 3)])
    y_real = np.repeat([1, 2], [1000, 3])
    F_syn = _features(rng, 1000) * 2.0 + 1.0
    y_syn = np.ones(1000, dtype=int)
    res = compare_classes(F_syn, y_syn, F_real, y_real, None, class_names={1: "a", 2: "b"})
    assert res.spread_kind == ["std", "none"]
    np.testing.assert_allclose(res.spread[0], 2.0, rtol=0.1)
    np.testing.assert_allclose(res.normalised[0], 0.5, atol=0.12)  # shift 1 over std 2
    assert np.all(np.isnan(res.normalised[1]))


def test_plot_similarity_writes_a_png(tmp_path) -> None:
    rng = np.random.default_rng(5)
    F = _features(rng, 60)
    y = np.repeat([1, 2], 30)
    res = compare_classes(F, y, F + 1, y, np.tile(["a", "b"], 30), class_names={1: "x", 2: "y"})
    path = plot_similarity(res, tmp_path / "sim.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
