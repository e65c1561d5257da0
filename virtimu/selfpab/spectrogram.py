"""Stacked per-axis STFT spectrograms and their normalisation (paper 002, section 4.1.2).

``spectrogram(X (N, L, C) in g) -> S (N, T, C * F)``: each accelerometer
axis gets a short-time Fourier transform with frames of ``frame`` samples,
shift ``hop`` and a (periodic) Hann window, without padding, so
``T = (L - frame) // hop + 1`` (15000 samples -> 599 frames) and ``F = frame
// 2 + 1`` one-sided bins (26 for 50-sample frames: 0, 1, ..., 25 Hz at
50 Hz).  The C spectrograms are stacked along the feature axis, axis by axis
(feature ``c * F + f`` is bin f of axis c; six axes -> 156 features).

Scaling follows ``scipy.signal.stft`` (``scaling='spectrum'``): the frame's
FFT divided by the window's sum, so a constant 1 g reads 1 in bin 0 and a
sine of amplitude A at a bin centre reads A / 2 in that bin.  ``log=True``
takes ``log(|S| + eps)``.

`Normalizer` holds per-feature mean and std of the upstream (pretraining)
data; the same statistics normalise the downstream data (paper 002).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import get_window

from virtimu.selfpab.config import SpectrogramConfig

__all__ = ["stft_magnitude", "spectrogram", "Normalizer", "frame_bounds"]


@lru_cache(maxsize=16)
def _window(name: str, frame: int) -> np.ndarray:
    return get_window(name, frame, fftbins=True).astype(np.float64)


def stft_magnitude(x: np.ndarray, frame: int = 50, hop: int = 25, window: str = "hann") -> np.ndarray:
    """|STFT| along the last axis, scipy 'spectrum' scaling, no padding.

    x: (..., L) signal.  Returns (..., T, frame // 2 + 1) float64 with
    ``T = (L - frame) // hop + 1``; equal to ``abs(scipy.signal.stft(x,
    window=window, nperseg=frame, noverlap=frame - hop, boundary=None,
    padded=False, detrend=False)[2])`` with the frequency and time axes swapped.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] < frame:
        raise ValueError(f"stft_magnitude: signal of {x.shape[-1]} samples is shorter than one frame ({frame})")
    win = _window(window, frame)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame, axis=-1)[..., ::hop, :]  # (..., T, frame)
    spec = np.fft.rfft(frames * win, axis=-1)
    return np.abs(spec) / win.sum()


def spectrogram(X: np.ndarray, cfg: SpectrogramConfig | None = None) -> np.ndarray:
    """Stacked spectrograms of accelerometer windows.

    X: (N, L, C) or (L, C) accelerations in g (C = ``cfg.n_axes``).
    Returns float32 (N, T, C * F) (or (T, C * F)): log-magnitude (``cfg.log``)
    or magnitude STFT per axis, axis-major along the last dimension.
    """
    cfg = cfg or SpectrogramConfig()
    X = np.asarray(X)
    single = X.ndim == 2
    if single:
        X = X[None]
    if X.ndim != 3:
        raise ValueError(f"spectrogram: X must be (N, L, C) or (L, C), got shape {X.shape}")
    if X.shape[2] != cfg.n_axes:
        raise ValueError(f"spectrogram: X has {X.shape[2]} channels, the config stacks n_axes={cfg.n_axes}")
    if not np.all(np.isfinite(X)):
        raise ValueError("spectrogram: X contains NaN or inf; drop windows over gaps first")
    mag = stft_magnitude(np.moveaxis(X, 2, 1), cfg.frame, cfg.hop, cfg.window)  # (N, C, T, F)
    if cfg.log:
        mag = np.log(mag + cfg.eps)
    N, C, T, F = mag.shape
    out = np.ascontiguousarray(np.moveaxis(mag, 1, 2).reshape(N, T, C * F), dtype=np.float32)
    return out[0] if single else out


def frame_bounds(n_frames: int, cfg: SpectrogramConfig) -> np.ndarray:
    """(T, 2) first and one-past-last sample of each spectrogram frame."""
    starts = np.arange(int(n_frames), dtype=np.int64) * cfg.hop
    return np.stack([starts, starts + cfg.frame], axis=1)


@dataclass
class Normalizer:
    """Per-feature standardisation ``(S - mean) / std`` (paper 002: upstream mean and variance).

    mean, std: (D,) float32.  ``std`` is floored at ``min_std`` when fitted.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalizer: mean {self.mean.shape} and std {self.std.shape} differ")
        if np.any(~np.isfinite(self.std)) or np.any(self.std <= 0):
            raise ValueError("Normalizer: std must be finite and > 0")

    @classmethod
    def fit(cls, S: np.ndarray, min_std: float = 1e-6) -> Normalizer:
        """Statistics over every frame of S (N, T, D) (or (T, D)), accumulated in float64."""
        S = np.asarray(S)
        flat = S.reshape(-1, S.shape[-1])
        if flat.shape[0] == 0:
            raise ValueError("Normalizer.fit: no frames")
        mean = np.zeros(flat.shape[1])
        sq = np.zeros(flat.shape[1])
        step = 65536
        for i in range(0, flat.shape[0], step):
            part = flat[i:i + step].astype(np.float64)
            mean += part.sum(axis=0)
            sq += np.square(part).sum(axis=0)
        mean /= flat.shape[0]
        var = np.maximum(sq / flat.shape[0] - mean ** 2, 0.0)
        return cls(mean=mean, std=np.maximum(np.sqrt(var), min_std))

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def __call__(self, S: np.ndarray) -> np.ndarray:
        S = np.asarray(S, dtype=np.float32)
        if S.shape[-1] != self.dim:
            raise ValueError(f"Normalizer: input has {S.shape[-1]} features, the statistics have {self.dim}")
        return (S - self.mean) / self.std

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(mean=np.asarray(data["mean"]), std=np.asarray(data["std"]))
