"""Smooth curves for motion synthesis: easing, Hermite and quintic segments,
keyframe tracks, band-limited random sway, rotation-gap easing and a soft minimum.

Pure functions on arrays; times in seconds, angles in radians.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.spatial.transform import Rotation


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """Minimum-jerk ease 0 -> 1 on [0, 1] (10x^3 - 15x^4 + 6x^5), clipped outside; zero slope
    and curvature at both ends."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x ** 3 * (10.0 + x * (-15.0 + 6.0 * x))


def hermite(p0: np.ndarray, v0: np.ndarray, p1: np.ndarray, v1: np.ndarray, s: np.ndarray,
            duration: float | np.ndarray) -> np.ndarray:
    """Cubic Hermite segment.

    p0, p1: (..., D) end values; v0, v1: (..., D) end rates (per second);
    s: (...,) normalised time in [0, 1]; duration: segment length (s).
    Returns (..., D).
    """
    s = np.asarray(s, dtype=np.float64)[..., None]
    dur = np.asarray(duration, dtype=np.float64)
    if dur.ndim:
        dur = dur[..., None]
    h00 = 2 * s ** 3 - 3 * s ** 2 + 1
    h10 = s ** 3 - 2 * s ** 2 + s
    h01 = -2 * s ** 3 + 3 * s ** 2
    h11 = s ** 3 - s ** 2
    return h00 * p0 + h10 * dur * v0 + h01 * p1 + h11 * dur * v1


def quintic(t: np.ndarray, t0: float, t1: float, start: tuple[float, float, float],
            end: tuple[float, float, float]) -> np.ndarray:
    """Quintic polynomial x(t) on [t0, t1] matching (position, velocity, acceleration) at both ends.

    t: (N,) times (s); start/end: (x, dx/dt, d2x/dt2).  Returns (N,) (extrapolates outside).
    """
    T = float(t1 - t0)
    x0, v0, a0 = start
    x1, v1, a1 = end
    # Coefficients in normalised time u = (t - t0) / T.
    b0, b1, b2 = x0, v0 * T, 0.5 * a0 * T * T
    A = np.array([[1, 1, 1], [3, 4, 5], [6, 12, 20]], dtype=np.float64)
    rhs = np.array([x1 - b0 - b1 - b2, v1 * T - b1 - 2 * b2, a1 * T * T - 2 * b2])
    b3, b4, b5 = np.linalg.solve(A, rhs)
    u = (np.asarray(t, dtype=np.float64) - t0) / T
    return b0 + u * (b1 + u * (b2 + u * (b3 + u * (b4 + u * b5))))


def keyframes(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Monotone piecewise-cubic (PCHIP) track through keyframes, held constant outside.

    times: (K,) increasing keyframe times (s); values: (K,) or (K, D); t: (N,) query times.
    Repeating a value makes the track rest there (zero slope).  Returns (N,) or (N, D).
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if len(times) == 1:
        return np.broadcast_to(values[0], np.shape(t) + values.shape[1:]).copy()
    tq = np.clip(np.asarray(t, dtype=np.float64), times[0], times[-1])
    return PchipInterpolator(times, values, axis=0)(tq)


def sway(t: np.ndarray, rng: np.random.Generator, amplitude: float, f_low: float = 0.1,
         f_high: float = 0.6, n: int = 5) -> np.ndarray:
    """Band-limited random sway: sum of ``n`` sinusoids with random frequencies in
    [f_low, f_high] Hz and random phases, scaled to RMS ``amplitude``.  t: (N,) -> (N,)."""
    f = rng.uniform(f_low, f_high, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    w = rng.uniform(0.5, 1.0, n)
    x = (w[:, None] * np.sin(2 * np.pi * f[:, None] * np.asarray(t)[None] + ph[:, None])).sum(0)
    rms = np.sqrt(0.5 * np.sum(w ** 2))
    return amplitude * x / rms


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotations R (..., 3, 3)."""
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


def so3_exp(v: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) of rotation vectors v (..., 3)."""
    v = np.asarray(v, dtype=np.float64)
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(v.shape[:-1] + (3, 3))


def body_rate(R: np.ndarray, i: int, fps: float, direction: int) -> np.ndarray:
    """Body-frame angular velocity (3,) rad/s of the sequence R (T, 3, 3) at frame i,
    from the step to the neighbour frame i + direction (one-sided difference)."""
    j = i + direction
    return so3_log(R[min(i, j)].T @ R[max(i, j)]) * fps


def ease_rotation_gaps(R: np.ndarray, known: np.ndarray, fps: float, reach: float = 1.0,
                       tau: float = 0.03, via: np.ndarray | None = None, kernel: str = "exp") -> np.ndarray:
    """Fill frames where ``known`` is False by easing from one known rotation to the next.

    Each gap between known frames a and b follows a minimum-jerk slerp from
    R[a] to R[b] completed after the fraction ``reach`` of the gap (then held),
    times two fading corrections ``w t exp(-t / tau)`` that carry the angular
    velocity w of the known neighbours into the gap, so the rate is continuous
    at both ends but does not overshoot the way a long Hermite curve would.
    With ``via`` (3, 3) the slerp goes R[a] -> via over the first ``reach`` of
    the gap and via -> R[b] over the rest.  Gaps touching the sequence ends
    hold the nearest known rotation.

    kernel 'gauss' uses ``w t exp(-(t / tau)^2)`` instead, which also starts with zero angular
    acceleration (the deceleration ramps in rather than setting in at once).

    R: (T, 3, 3); known: (T,) bool; fps: Hz; tau: fade time (s).  Returns a new (T, 3, 3).
    """
    R = np.array(R, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    T = len(known)
    if not known.any():
        raise ValueError("ease_rotation_gaps: no known frame")
    if kernel not in ("exp", "gauss"):
        raise ValueError(f"ease_rotation_gaps: kernel must be 'exp' or 'gauss', got {kernel!r}")
    idx = np.flatnonzero(known)
    R[: idx[0]] = R[idx[0]]
    R[idx[-1] + 1:] = R[idx[-1]]
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        n = b - a
        wa = body_rate(R, a, fps, -1) if a > 0 and known[a - 1] else np.zeros(3)
        wb = body_rate(R, b, fps, +1) if b < T - 1 and known[b + 1] else np.zeros(3)
        s = np.arange(1, n) / n
        ta, tb = s * n / fps, (1.0 - s) * n / fps
        if via is None:
            base = R[a] @ so3_exp(smoothstep(s / reach)[:, None] * so3_log(R[a].T @ R[b]))
        else:
            first = R[a] @ so3_exp(smoothstep(s / reach)[:, None] * so3_log(R[a].T @ via))
            w2 = smoothstep((s - reach) / (1.0 - reach))[:, None]
            second = via @ so3_exp(w2 * so3_log(via.T @ R[b]))
            base = np.where((s < reach)[:, None, None], first, second)
        if kernel == "gauss":
            fa, fb = ta * np.exp(-(ta / tau) ** 2), tb * np.exp(-(tb / tau) ** 2)
        else:
            fa, fb = ta * np.exp(-ta / tau), tb * np.exp(-tb / tau)
        corr = wa[None] * fa[:, None] - wb[None] * fb[:, None]
        R[a + 1: b] = base @ so3_exp(corr)
    return R


def soft_min(x: np.ndarray, scale: float, axis: int = -1) -> np.ndarray:
    """Smooth minimum -scale * log(sum(exp(-x / scale))) along ``axis``; within scale*log(n) of the min."""
    x = np.asarray(x, dtype=np.float64)
    m = x.min(axis=axis, keepdims=True)
    out = m - scale * np.log(np.sum(np.exp(-(x - m) / scale), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def smooth_max(a: np.ndarray | float, b: np.ndarray | float, scale: float) -> np.ndarray:
    """Smooth (C-infinity) maximum of a and b (broadcast): ``scale * log(exp(a / scale) + exp(b / scale))``.

    Within ``scale * log 2`` above max(a, b) where a = b, and equal to it to within
    ``scale * exp(-|a - b| / scale)`` elsewhere.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.maximum(a, b) + scale * np.log1p(np.exp(-np.abs(a - b) / scale))


def smooth_min(a: np.ndarray | float, b: np.ndarray | float, scale: float) -> np.ndarray:
    """Smooth minimum of a and b: ``-smooth_max(-a, -b, scale)`` (never above min(a, b))."""
    return -smooth_max(-np.asarray(a, dtype=np.float64), -np.asarray(b, dtype=np.float64), scale)


def fill_gaps_c1(x: np.ndarray, known: np.ndarray, fps: float) -> np.ndarray:
    """Scalar track (T,) with the frames where ``known`` is False filled by cubic Hermite curves
    that carry the value and rate (one-sided differences) of the known neighbours, so the track
    stays C1 across each gap.  Gaps touching the ends hold the nearest known value.  Returns a
    new array."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    known = np.asarray(known, dtype=bool)
    idx = np.flatnonzero(known)
    if len(idx) == 0:
        return np.zeros_like(x)
    T = len(x)
    out[: idx[0]] = x[idx[0]]
    out[idx[-1] + 1:] = x[idx[-1]]
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        ra = (x[a] - x[a - 1]) * fps if a > 0 and known[a - 1] else 0.0
        rb = (x[b + 1] - x[b]) * fps if b + 1 < T and known[b + 1] else 0.0
        n = b - a
        s = np.arange(1, n) / n
        out[a + 1: b] = hermite(np.array([x[a]]), np.array([ra]), np.array([x[b]]), np.array([rb]), s,
                                n / fps)[:, 0]
    return out
