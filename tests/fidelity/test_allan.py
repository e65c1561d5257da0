"""Allan deviation and noise-term fits against analytic answers (white noise, random walk)."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.fidelity import allan
from virtimu.sensors.noise import DeviceModel, apply_device_model

FS = 100.0


def test_white_noise_adev_is_sigma_over_sqrt_tau_fs() -> None:
    sigma = 0.3
    x = np.random.default_rng(0).normal(0.0, sigma, size=(200_000, 2))
    curve = allan.allan_variance(x, FS)
    taus, adev = curve.taus, curve.adev
    use = curve.n_clusters >= 1000
    expected = sigma / np.sqrt(taus[use] * FS)
    assert np.allclose(adev[use], expected[:, None], rtol=0.05)
    # slope -1/2 throughout
    assert np.allclose(allan.loglog_slopes(taus[use], adev[use, 0]), -0.5, atol=0.08)


def test_adev_of_a_pure_tone_vanishes_at_whole_periods() -> None:
    # ADEV of a sinusoid is zero where the cluster time is a whole number of periods
    t = np.arange(10_000) / FS
    x = np.sin(2 * np.pi * 1.0 * t)
    _, adev = allan.allan_deviation(x, FS, m=[25, 100, 200])
    assert adev[1] < 1e-3 and adev[2] < 1e-3 and adev[0] > 0.5


def test_white_noise_coefficient_matches_device_model_density() -> None:
    density = 0.02  # one-sided units/sqrt(Hz), noise.py's convention
    model = DeviceModel.from_dict({"acc": {"noise_density": density}})
    x = apply_device_model(np.zeros((100_000, 3)), ["s/acc_x", "s/acc_y", "s/acc_z"], FS, model, seed=3)
    curve = allan.allan_variance(x, FS)
    for i in range(3):
        N = allan.white_noise_from_allan(curve.taus, curve.adev[:, i], n_clusters=curve.n_clusters)
        assert N * allan.ONE_SIDED_FROM_ALLAN == pytest.approx(density, rel=0.05)
    assert np.allclose(allan.white_noise_psd(x, FS), density, rtol=0.05)


def test_random_walk_coefficient_recovered() -> None:
    K = 0.01  # units/sqrt(s): increments N(0, K^2 dt), as noise.py's bias_walk
    steps = np.random.default_rng(1).normal(0.0, K * np.sqrt(1.0 / FS), size=300_000)
    x = np.cumsum(steps)
    curve = allan.allan_variance(x, FS)
    use = (curve.n_clusters >= 50) & (curve.taus >= 1.0)
    assert np.allclose(curve.adev[use, 0], K * np.sqrt(curve.taus[use] / 3.0), rtol=0.2)
    fit = allan.random_walk_from_allan(curve.taus, curve.adev[:, 0], n_clusters=curve.n_clusters)
    assert fit == pytest.approx(K, rel=0.15)
    # white-noise fit finds no -1/2 part in a pure random walk
    assert np.isnan(allan.white_noise_from_allan(curve.taus, curve.adev[:, 0], n_clusters=curve.n_clusters))


def test_bias_instability_at_the_white_random_walk_crossing() -> None:
    rng = np.random.default_rng(2)
    sigma, K = 0.05, 0.002
    x = rng.normal(0, sigma, 400_000) + np.cumsum(rng.normal(0, K * np.sqrt(1 / FS), 400_000))
    curve = allan.allan_variance(x, FS)
    B, tau, edge = allan.bias_instability(curve.taus, curve.adev[:, 0], n_clusters=curve.n_clusters)
    # the two asymptotes cross where sigma/sqrt(tau*fs) = K sqrt(tau/3): tau* = sqrt(3) sigma / (K sqrt(fs))
    tau_cross = np.sqrt(3.0) * sigma / (K * np.sqrt(FS))
    assert 0.3 * tau_cross < tau < 3 * tau_cross and not edge
    assert B * allan.BIAS_INSTABILITY_FACTOR == pytest.approx(np.nanmin(curve.adev[curve.n_clusters >= 8, 0]))
    # pure white noise: minimum at the longest tau -> flagged as an upper bound
    w = allan.allan_variance(rng.normal(0, 1, 50_000), FS)
    assert allan.bias_instability(w.taus, w.adev[:, 0], n_clusters=w.n_clusters)[2]


def test_pool_allan_weights_pieces_and_skips_short_ones() -> None:
    rng = np.random.default_rng(4)
    grid = allan.averaging_factors(4000, max_fraction=0.25)
    long_piece = allan.allan_variance(rng.normal(0, 1.0, 4000), FS, grid, max_fraction=0.25)
    short_piece = allan.allan_variance(rng.normal(0, 1.0, 400), FS, grid, max_fraction=0.25)
    pooled = allan.pool_allan([long_piece, short_piece])
    big = grid > 100  # only the long piece has these
    assert np.isnan(short_piece.avar[big]).all()
    assert np.allclose(pooled.avar[big], long_piece.avar[big])
    assert pooled.n_clusters[0] == 4400
    with pytest.raises(ValueError, match="grid"):
        allan.pool_allan([long_piece, allan.allan_variance(rng.normal(size=100), FS, [1, 2])])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        allan.allan_variance(np.array([1.0, np.nan, 2.0, 3.0]), FS)
    with pytest.raises(ValueError, match="fs"):
        allan.allan_variance(np.zeros(10), 0.0)
    with pytest.raises(ValueError, match="band"):
        allan.white_noise_psd(np.zeros(1000), FS, band=(0.9, 0.5))
