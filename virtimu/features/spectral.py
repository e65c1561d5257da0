"""Per-channel power-spectral-density features of windows.

For windows ``X (N, L, C)`` sampled at ``fs`` Hz, each channel's PSD is
estimated with Welch's method (``scipy.signal.welch``): Hann window,
``nperseg = min(L, SpectralConfig.nperseg)`` (64 by default: 1.28 s at
50 Hz, a frequency resolution of fs/64), 50 % overlap, the segment mean
removed (``detrend="constant"``, so gravity / DC offsets do not dominate)
and density scaling, so the PSD integrates to the signal variance.

Features per channel (``n_bins + 7`` of them; names ``<channel>/<feature>``):

- ``psd_bin{k}`` (k = 0..n_bins-1): power in band k, i.e. the PSD summed
  over the frequencies f with ``edges[k] <= f < edges[k+1]`` times the
  frequency step (units²).  Bands split 0..fs/2 linearly (default) or
  logarithmically (``spacing="log"``: first band 0..f_min, then
  log-spaced up to fs/2); the last band includes fs/2.  See `band_edges`.
- ``spectral_entropy``: Shannon entropy of the PSD normalised to sum 1,
  divided by log(number of frequencies) -> [0, 1]; 1 for a flat spectrum,
  near 0 for a pure tone.
- ``spectral_energy``: total power, sum(PSD)·df (units²); a sine of amplitude A
  gives A²/2.
- ``spectral_centroid`` (Hz), ``spectral_spread`` (Hz),
  ``spectral_skewness``, ``spectral_kurtosis``: the first four moments of
  frequency weighted by the normalised PSD (skewness / kurtosis are
  standardised; kurtosis not excess).
- ``dominant_freq`` (Hz): the frequency of the PSD maximum.

A window with zero power gives zeros for entropy and moments.  Binned
PSD, spectral entropy, energy and moments follow the spectral features
used beside tsfresh in the virtual-IMU transfer paper (000 in the project
seeds); the band layout and the Welch settings are our choices.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.signal import welch

SPECTRAL_FEATURES = ("spectral_entropy", "spectral_energy", "spectral_centroid", "spectral_spread",
                     "spectral_skewness", "spectral_kurtosis", "dominant_freq")


@dataclasses.dataclass(frozen=True)
class SpectralConfig:
    """Settings of `spectral_features`.

    nperseg: Welch segment length cap (samples); the segment is min(L, nperseg).
    n_bins: number of PSD bands between 0 and fs/2.
    spacing: "linear" or "log" band edges.
    f_min: upper edge (Hz) of the first band when spacing="log".
    """

    nperseg: int = 64
    n_bins: int = 10
    spacing: str = "linear"
    f_min: float = 0.5

    def __post_init__(self) -> None:
        if self.spacing not in ("linear", "log"):
            raise ValueError(f"SpectralConfig.spacing must be 'linear' or 'log', got {self.spacing!r}")
        if self.n_bins < 1 or self.nperseg < 2:
            raise ValueError(f"SpectralConfig: n_bins >= 1 and nperseg >= 2 expected, got {self}")


def band_edges(fs: float, n_bins: int, spacing: str = "linear", f_min: float = 0.5) -> np.ndarray:
    """Band edges (n_bins + 1,) in Hz from 0 to fs/2."""
    nyq = fs / 2.0
    if spacing == "linear":
        return np.linspace(0.0, nyq, n_bins + 1)
    if not 0 < f_min < nyq:
        raise ValueError(f"band_edges: f_min must lie in (0, fs/2 = {nyq}), got {f_min}")
    if n_bins == 1:
        return np.array([0.0, nyq])
    return np.concatenate([[0.0], np.geomspace(f_min, nyq, n_bins)])


def spectral_feature_names(channels: Sequence[str], config: SpectralConfig = SpectralConfig()) -> list[str]:
    """Names of the features `spectral_features` returns, channel-major."""
    per = [f"psd_bin{k}" for k in range(config.n_bins)] + list(SPECTRAL_FEATURES)
    return [f"{ch}/{name}" for ch in channels for name in per]


def welch_psd(X: np.ndarray, fs: float, nperseg: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD along the time axis: freqs (M,) Hz and psd (N, C, M) units²/Hz."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"welch_psd: X must be (N, L, C), got shape {X.shape}")
    seg = min(X.shape[1], int(nperseg))
    freqs, psd = welch(X, fs=fs, window="hann", nperseg=seg, noverlap=seg // 2,
                       detrend="constant", scaling="density", axis=1)
    return freqs, np.moveaxis(psd, 1, 2)


def spectral_features(X: np.ndarray, fs: float, config: SpectralConfig = SpectralConfig(),
                      channels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Spectral features of windows ``X (N, L, C)`` at ``fs`` Hz.

    Returns features (N, C * (n_bins + 7)) float32, channel-major, and their
    names (channels default to ``ch0``, ``ch1`` ...).
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"spectral_features: X must be (N, L, C), got shape {X.shape}")
    if fs <= 0:
        raise ValueError(f"spectral_features: fs must be positive, got {fs}")
    n, _, c = X.shape
    channels = list(channels) if channels is not None else [f"ch{i}" for i in range(c)]
    if len(channels) != c:
        raise ValueError(f"spectral_features: {len(channels)} channel names for {c} channels")
    freqs, psd = welch_psd(X, fs, config.nperseg)          # (M,), (N, C, M)
    df = freqs[1] - freqs[0] if freqs.size > 1 else fs
    power = psd * df                                        # power per frequency line

    edges = band_edges(fs, config.n_bins, config.spacing, config.f_min)
    idx = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, config.n_bins - 1)
    onehot = np.zeros((freqs.size, config.n_bins))
    onehot[np.arange(freqs.size), idx] = 1.0
    bins = power @ onehot                                   # (N, C, n_bins)

    total = power.sum(axis=-1)                              # (N, C)
    safe = np.where(total > 0, total, 1.0)
    p = power / safe[..., None]                             # normalised PSD, sums to 1 (or 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = -plogp.sum(axis=-1) / np.log(max(freqs.size, 2))
    centroid = (p * freqs).sum(axis=-1)
    dev = freqs - centroid[..., None]
    var = (p * dev**2).sum(axis=-1)
    spread = np.sqrt(var)
    safe_sd = np.where(spread > 0, spread, 1.0)
    skew = np.where(spread > 0, (p * dev**3).sum(axis=-1) / safe_sd**3, 0.0)
    kurt = np.where(spread > 0, (p * dev**4).sum(axis=-1) / safe_sd**4, 0.0)
    dominant = freqs[psd.argmax(axis=-1)]

    scalars = np.stack([entropy, total, centroid, spread, skew, kurt, dominant], axis=-1)  # (N, C, 7)
    feats = np.concatenate([bins, scalars], axis=-1).reshape(n, -1)
    return feats.astype(np.float32), spectral_feature_names(channels, config)
