"""Allan variance and noise-term fits: pure functions on sampled signals.

For a signal ``x`` sampled at ``fs`` (Hz) and an averaging factor ``m``
(cluster time ``τ = m / fs``), the overlapping Allan variance is

    AVAR(τ) = 1 / (2 (N − 2m + 1)) · Σ_k (ȳ_{k+m} − ȳ_k)²,   ȳ_k = mean(x[k : k+m]),

computed here from cumulative sums (IEEE Std 952-1997, annex C; the
overlapping estimator of Riley, NIST Special Publication 1065, 2008).

Noise terms read off the log-log ADEV curve (IEEE Std 952, annex C):

* white noise (angle/velocity random walk): ``ADEV(τ) = N / √τ``, slope
  −1/2, ``N`` = the line's value at τ = 1 s, in units/√Hz **two-sided**.
  White noise of per-sample std σ at rate fs has ``N = σ / √fs``.
  `virtimu.sensors.noise` uses the one-sided datasheet density
  ``noise_density = σ / √(fs/2) = √2 · N`` (`ONE_SIDED_FROM_ALLAN`).
* bias instability: the curve's flat minimum, ``B = min ADEV / √(2 ln 2 / π)``
  (≈ min / 0.664).
* rate random walk: slope +1/2, ``ADEV(τ) = K √(τ / 3)``; ``K`` in units/√s
  is the ``bias_walk`` of `virtimu.sensors.noise` (a random walk whose
  increments have variance ``K² dt``).

`white_noise_psd` is the other white-noise estimate: the median one-sided
power spectral density (Welch) over a high-frequency band, in units/√Hz,
directly comparable to ``noise_density``.

Shapes: ``x`` is (N,) or (N, C) (time first, channels last); results carry
a leading τ axis, ``(K,)`` or ``(K, C)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import welch

__all__ = [
    "BIAS_INSTABILITY_FACTOR",
    "ONE_SIDED_FROM_ALLAN",
    "AllanCurve",
    "allan_deviation",
    "allan_variance",
    "averaging_factors",
    "bias_instability",
    "loglog_slopes",
    "mean_psd",
    "pool_allan",
    "random_walk_from_allan",
    "white_density_from_psd",
    "white_noise_from_allan",
    "white_noise_psd",
]

#: ``noise_density`` (one-sided, units/√Hz, as `virtimu.sensors.noise`) = this × the Allan white-noise ``N``.
ONE_SIDED_FROM_ALLAN = float(np.sqrt(2.0))
#: ADEV minimum of flicker (bias-instability) noise = this × B (IEEE Std 952, table C.2: √(2 ln 2 / π)).
BIAS_INSTABILITY_FACTOR = float(np.sqrt(2.0 * np.log(2.0) / np.pi))


@dataclass
class AllanCurve:
    """An Allan variance curve.

    taus: (K,) cluster times in s; m: (K,) averaging factors (samples);
    avar: (K, C) Allan variance in units²; NaN where no estimate exists;
    n_clusters: (K,) number of non-overlapping clusters behind each estimate
    (summed over pooled pieces), a measure of its reliability.
    """

    taus: np.ndarray
    m: np.ndarray
    avar: np.ndarray
    n_clusters: np.ndarray

    @property
    def adev(self) -> np.ndarray:
        """(K, C) Allan deviation in the signal's unit."""
        return np.sqrt(self.avar)


def averaging_factors(n: int, per_decade: int = 10, max_fraction: float = 0.25) -> np.ndarray:
    """Log-spaced integer averaging factors ``1 <= m <= max(1, max_fraction · n)``, unique, ascending."""
    if n < 2:
        raise ValueError(f"averaging_factors: need at least 2 samples, got {n}")
    if not 0 < max_fraction <= 0.5:
        raise ValueError(f"averaging_factors: max_fraction must be in (0, 0.5], got {max_fraction}")
    m_max = max(1, int(np.floor(max_fraction * n)))
    k = max(2, int(np.ceil(np.log10(m_max) * per_decade)) + 1) if m_max > 1 else 1
    return np.unique(np.round(np.logspace(0.0, np.log10(m_max), k)).astype(np.int64))


def allan_variance(x: np.ndarray, fs: float, m: Sequence[int] | np.ndarray | None = None,
                   max_fraction: float = 0.5) -> AllanCurve:
    """Overlapping Allan variance of ``x`` (N,) or (N, C) sampled at ``fs`` Hz.

    m: averaging factors (default `averaging_factors(N)`); factors with
    ``m > max_fraction · N`` get NaN (0.5: every factor that has one
    estimate; smaller values drop the few-cluster, noisy end of the curve).
    NaN samples are not allowed (split the signal at gaps).
    Returns an `AllanCurve` with ``avar`` (K, C) (C = 1 for a 1-D input).
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"allan_variance: x must be (N,) or (N, C), got shape {arr.shape}")
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"allan_variance: fs must be a positive rate in Hz, got {fs!r}")
    if not np.isfinite(arr).all():
        raise ValueError("allan_variance: x holds NaN or inf; split the signal at gaps first")
    n = arr.shape[0]
    ms = averaging_factors(n) if m is None else np.asarray(m, dtype=np.int64)
    if ms.ndim != 1 or (ms < 1).any():
        raise ValueError(f"allan_variance: averaging factors must be positive integers, got {ms}")
    # cumulative sums of the mean-removed signal keep the differences well conditioned
    c = np.concatenate([np.zeros((1, arr.shape[1])), np.cumsum(arr - arr.mean(axis=0), axis=0)])
    avar = np.full((len(ms), arr.shape[1]), np.nan)
    for i, mi in enumerate(ms):
        if mi > max_fraction * n or 2 * mi > n:
            continue
        y = (c[mi:] - c[:-mi]) / mi  # (N - m + 1, C) cluster means
        d = y[mi:] - y[:-mi]  # (N - 2m + 1, C)
        avar[i] = 0.5 * np.mean(d * d, axis=0)
    return AllanCurve(taus=ms / float(fs), m=ms, avar=avar, n_clusters=(n // ms).astype(np.int64))


def allan_deviation(x: np.ndarray, fs: float, m: Sequence[int] | np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(taus (K,) s, adev (K,) or (K, C))``: overlapping Allan deviation (see `allan_variance`)."""
    curve = allan_variance(x, fs, m)
    adev = curve.adev
    return curve.taus, adev[:, 0] if np.ndim(x) == 1 else adev


def pool_allan(curves: Sequence[AllanCurve]) -> AllanCurve:
    """Pool curves of independent pieces (e.g. static segments) computed on one ``m`` grid.

    The pooled variance at each τ is the mean of the pieces' variances
    weighted by their cluster counts (pieces too short for a τ are skipped).
    """
    if not curves:
        raise ValueError("pool_allan: no curves to pool")
    m = curves[0].m
    if any(not np.array_equal(c.m, m) for c in curves):
        raise ValueError("pool_allan: curves must share one grid of averaging factors")
    num = np.zeros_like(curves[0].avar)
    den = np.zeros(len(m))
    clusters = np.zeros(len(m), dtype=np.int64)
    for c in curves:
        ok = np.isfinite(c.avar).all(axis=1)
        w = np.where(ok, c.n_clusters, 0).astype(np.float64)
        num += np.where(ok[:, None], c.avar, 0.0) * w[:, None]
        den += w
        clusters += np.where(ok, c.n_clusters, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        avar = np.where(den[:, None] > 0, num / den[:, None], np.nan)
    return AllanCurve(taus=curves[0].taus, m=m, avar=avar, n_clusters=clusters)


def loglog_slopes(taus: np.ndarray, adev: np.ndarray) -> np.ndarray:
    """(K-1,) or (K-1, C) slopes d log ADEV / d log τ between neighbouring points."""
    lt = np.log(np.asarray(taus, dtype=np.float64))
    la = np.log(np.asarray(adev, dtype=np.float64))
    dt = np.diff(lt)
    return np.diff(la, axis=0) / (dt if la.ndim == 1 else dt[:, None])


def _line_fit(taus: np.ndarray, adev: np.ndarray, slope: float, tol: float, n_clusters: np.ndarray | None,
              min_clusters: int) -> float:
    """exp(mean(log ADEV − slope·log τ)) over the points inside a region of the given slope, or NaN."""
    taus = np.asarray(taus, dtype=np.float64)
    adev = np.asarray(adev, dtype=np.float64)
    ok = np.isfinite(adev) & (adev > 0)
    if n_clusters is not None:
        ok &= np.asarray(n_clusters) >= min_clusters
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return float("nan")
    t, a = taus[idx], adev[idx]
    s = loglog_slopes(t, a)
    inside = np.abs(s - slope) <= tol  # segment j joins points j and j+1
    if not inside.any():
        return float("nan")
    pts = np.zeros(len(t), dtype=bool)
    pts[:-1] |= inside
    pts[1:] |= inside
    return float(np.exp(np.mean(np.log(a[pts]) - slope * np.log(t[pts]))))


def white_noise_from_allan(taus: np.ndarray, adev: np.ndarray, tol: float = 0.1,
                           n_clusters: np.ndarray | None = None, min_clusters: int = 8) -> float:
    """White-noise coefficient ``N`` (units/√Hz, two-sided) from the slope −1/2 part of one ADEV curve.

    The points of every neighbour pair whose log-log slope lies within
    ``tol`` of −1/2 are fitted with a line of slope −1/2; ``N`` is its value
    at τ = 1 s.  NaN when the curve has no such part (e.g. when correlated
    motion dominates every τ).  Points with fewer than ``min_clusters``
    clusters are ignored when ``n_clusters`` is given.  Multiply by
    `ONE_SIDED_FROM_ALLAN` for `virtimu.sensors.noise`'s ``noise_density``.
    """
    return _line_fit(taus, adev, -0.5, tol, n_clusters, min_clusters)


def random_walk_from_allan(taus: np.ndarray, adev: np.ndarray, tol: float = 0.1,
                           n_clusters: np.ndarray | None = None, min_clusters: int = 8) -> float:
    """Rate-random-walk coefficient ``K`` (units/√s) from the slope +1/2 part of one ADEV curve, or NaN.

    ``ADEV(τ) = K √(τ/3)``; ``K`` is `virtimu.sensors.noise`'s ``bias_walk``.
    """
    line = _line_fit(taus, adev, 0.5, tol, n_clusters, min_clusters)
    return float(line * np.sqrt(3.0))


def bias_instability(taus: np.ndarray, adev: np.ndarray, n_clusters: np.ndarray | None = None,
                     min_clusters: int = 8) -> tuple[float, float, bool]:
    """``(B, τ_min, at_edge)``: bias instability from the ADEV minimum of one curve.

    ``B = min ADEV / √(2 ln 2 / π)`` in the signal's unit; ``τ_min`` the
    cluster time of the minimum (s); ``at_edge`` is True when the minimum is
    the longest usable τ (the curve still falls there, so B is an upper
    bound).  NaN values when no point is usable.
    """
    taus = np.asarray(taus, dtype=np.float64)
    adev = np.asarray(adev, dtype=np.float64)
    ok = np.isfinite(adev)
    if n_clusters is not None:
        ok &= np.asarray(n_clusters) >= min_clusters
    idx = np.flatnonzero(ok)
    if not len(idx):
        return float("nan"), float("nan"), False
    i = idx[np.argmin(adev[idx])]
    return float(adev[i] / BIAS_INSTABILITY_FACTOR), float(taus[i]), bool(i in (idx[0], idx[-1]))


def mean_psd(pieces: Sequence[np.ndarray], fs: float, nperseg: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Welch one-sided PSD averaged over independent pieces (e.g. static segments).

    pieces: arrays (N_i, C) (or (N_i,)), each at least ``nperseg`` samples
    (shorter ones are skipped); each piece's mean is removed (Welch's
    detrending).  Returns ``f (F,) Hz`` and ``psd (F, C) units²/Hz``, the
    pieces' spectra weighted by their lengths.
    """
    f_out, num, den = None, None, 0
    for piece in pieces:
        arr = np.asarray(piece, dtype=np.float64)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.shape[0] < nperseg:
            continue
        f, p = welch(arr, fs=fs, nperseg=int(nperseg), axis=0)
        num = p * arr.shape[0] if num is None else num + p * arr.shape[0]
        den += arr.shape[0]
        f_out = f
    if f_out is None or num is None:
        raise ValueError(f"mean_psd: no piece has the {nperseg} samples one Welch segment needs")
    return f_out, num / den


def white_density_from_psd(f: np.ndarray, psd: np.ndarray, fs: float,
                           band: tuple[float, float] = (0.75, 0.95)) -> np.ndarray:
    """(C,) one-sided white-noise density (units/√Hz): √(median PSD) over ``band`` (fractions of fs/2).

    The Nyquist bin itself is excluded.
    """
    lo, hi = band
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"white noise band must be fractions 0 <= lo < hi <= 1 of Nyquist, got {band}")
    nyq = fs / 2.0
    f = np.asarray(f, dtype=np.float64)
    sel = (f >= lo * nyq) & (f <= hi * nyq) & (f < nyq)
    if not sel.any():
        raise ValueError(f"no frequency bin in band {band} (bins {f[1] - f[0]:.3g} Hz apart)")
    p = np.asarray(psd, dtype=np.float64)
    p = p[:, None] if p.ndim == 1 else p
    return np.sqrt(np.median(p[sel], axis=0))


def white_noise_psd(x: np.ndarray, fs: float, band: tuple[float, float] = (0.75, 0.95),
                    nperseg: int = 256) -> float | np.ndarray:
    """One-sided white-noise density (units/√Hz) per channel: √(median Welch PSD) over a band.

    x: (N,) or (N, C); band: fractions of the Nyquist frequency fs/2 (the
    top of the spectrum, where body motion has faded; the Nyquist bin itself
    is excluded).  Returns a float for 1-D input, else (C,).  Any motion
    left in the band adds to the estimate, so it is an upper bound.
    """
    arr = np.asarray(x, dtype=np.float64)
    nper = min(int(nperseg), arr.shape[0])
    if nper < 16:
        raise ValueError(f"white_noise_psd: {arr.shape[0]} samples; need at least 16")
    f, p = mean_psd([arr], fs, nper)
    dens = white_density_from_psd(f, p, fs, band)
    return float(dens[0]) if arr.ndim == 1 else dens
