"""Stacked STFT spectrograms against scipy and analytic sines."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import stft

from virtimu.selfpab.config import SpectrogramConfig
from virtimu.selfpab.spectrogram import Normalizer, frame_bounds, spectrogram, stft_magnitude


def test_paper_shape_156_by_599():
    X = np.zeros((1, 15000, 6), dtype=np.float32)  # five minutes at 50 Hz, back + thigh
    S = spectrogram(X, SpectrogramConfig())
    assert S.shape == (1, 599, 156)  # paper 002: 156 x 599
    assert SpectrogramConfig().n_frames(15000) == 599 and SpectrogramConfig().n_bins == 26


def test_magnitude_equals_scipy_stft():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 777))
    ours = stft_magnitude(x, 50, 25, "hann")
    _, _, Z = stft(x, fs=50.0, window="hann", nperseg=50, noverlap=25, boundary=None, padded=False, detrend=False)
    np.testing.assert_allclose(ours, np.abs(np.swapaxes(Z, -1, -2)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("freq", [2.0, 7.0, 12.0])
def test_sine_peaks_in_its_bin(freq):
    fs, n = 50.0, 1000
    t = np.arange(n) / fs
    cfg = SpectrogramConfig(n_axes=3, log=False)
    X = np.zeros((n, 3))
    X[:, 1] = 0.5 * np.sin(2 * np.pi * freq * t)  # axis 1 only
    S = spectrogram(X, cfg)  # (T, 3 * 26)
    assert S.shape == (cfg.n_frames(n), 78)
    F = cfg.n_bins
    axis1 = S[:, F:2 * F]
    expected_bin = int(round(freq * cfg.frame / fs))  # bins are fs / frame = 1 Hz apart
    assert np.all(np.argmax(axis1, axis=1) == expected_bin)
    # a bin-centred sine of amplitude A reads A / 2 with 'spectrum' scaling
    np.testing.assert_allclose(axis1[:, expected_bin], 0.25, rtol=1e-6)
    assert np.allclose(S[:, :F], 0.0) and np.allclose(S[:, 2 * F:], 0.0)  # other axes silent


def test_log_of_constant_gravity():
    cfg = SpectrogramConfig(n_axes=3, eps=1e-3)
    X = np.zeros((200, 3))
    X[:, 2] = 1.0  # 1 g on z
    S = spectrogram(X, cfg)
    F = cfg.n_bins
    np.testing.assert_allclose(S[:, 2 * F], np.log(1.0 + 1e-3), rtol=1e-6)  # DC of axis z
    # the Hann window's main lobe puts half the DC magnitude into bin 1, nothing beyond
    np.testing.assert_allclose(S[:, 2 * F + 1], np.log(0.5 + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(S[:, 2 * F + 2:], np.log(1e-3), atol=1e-4)


def test_rejects_wrong_axes_and_nan():
    cfg = SpectrogramConfig(n_axes=6)
    with pytest.raises(ValueError, match="n_axes=6"):
        spectrogram(np.zeros((2, 100, 3)), cfg)
    X = np.zeros((1, 100, 6))
    X[0, 10, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        spectrogram(X, cfg)
    with pytest.raises(ValueError, match="shorter"):
        spectrogram(np.zeros((1, 20, 6)), cfg)


def test_frame_bounds():
    b = frame_bounds(3, SpectrogramConfig())
    assert b.tolist() == [[0, 50], [25, 75], [50, 100]]


def test_normalizer_standardises_and_round_trips():
    rng = np.random.default_rng(1)
    S = rng.normal(loc=3.0, scale=2.0, size=(20, 30, 4)).astype(np.float32)
    S[..., 3] = 5.0  # constant feature: std floored, no division by zero
    norm = Normalizer.fit(S)
    Z = norm(S)
    np.testing.assert_allclose(Z[..., :3].reshape(-1, 3).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[..., :3].reshape(-1, 3).std(axis=0), 1.0, atol=1e-4)
    assert np.all(np.isfinite(Z))
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again(S), Z)
    with pytest.raises(ValueError, match="features"):
        norm(np.zeros((2, 5)))
