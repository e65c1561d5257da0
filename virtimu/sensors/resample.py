"""Rate conversion from a motion's native rate to a target sensor rate.

Two strategies, aligned on the same target frames (``target_times``):

(a) Resample the *poses*, then difference at the target rate (the papers'
    way, default): ``resample_pose_sequence`` SLERPs every joint rotation and
    interpolates the root translation with a cubic spline, so that second
    differences of the result are meaningful, also when upsampling.

(b) Difference at the native rate, then low-pass and decimate the *signals*
    (a real sensor's way): ``decimate_signals`` changes the rate of already
    computed signals with a polyphase anti-alias filter
    (``scipy.signal.resample_poly``); orientation channels go through
    ``resample_orientations`` (SLERP), because rotations must not be filtered
    linearly.

Target frames: ``t = 0, 1/fs_dst, 2/fs_dst, ...`` up to and including the
source duration ``(n_src - 1) / fs_src``.  Where a target time coincides
with a source frame (always when fs_src / fs_dst is an integer), the source
value is copied exactly.
"""
from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import resample_poly

from virtimu.rotations import slerp_rotations

logger = logging.getLogger(__name__)

#: A target time within this fraction of a source frame interval of a source
#: frame is treated as that frame (its value is copied, not interpolated).
_COINCIDE_TOL = 1e-6

#: Largest denominator of the rational approximation of fs_dst / fs_src.
_MAX_DENOMINATOR = 1000


def _check_rates(fs_src: float, fs_dst: float) -> None:
    for name, fs in (("fs_src", fs_src), ("fs_dst", fs_dst)):
        if not (np.isfinite(fs) and fs > 0):
            raise ValueError(f"{name} must be a positive sampling rate in Hz, got {fs!r}")


def target_times(n_src: int, fs_src: float, fs_dst: float) -> np.ndarray:
    """Target frame times (seconds) for a source of ``n_src`` frames at ``fs_src``.

    ``t_dst = k / fs_dst`` for k = 0, 1, ... while ``t_dst <= (n_src - 1) / fs_src``
    (a tolerance of 1e-9 target frames absorbs rounding).
    Returns (n_dst,) float64, n_dst >= 1 for n_src >= 1.
    """
    _check_rates(fs_src, fs_dst)
    if int(n_src) != n_src or n_src < 1:
        raise ValueError(f"target_times: n_src must be a positive frame count, got {n_src!r}")
    n_dst = int(np.floor((int(n_src) - 1) * float(fs_dst) / float(fs_src) + 1e-9)) + 1
    return np.arange(n_dst, dtype=np.float64) / float(fs_dst)


def _source_positions(t_dst: np.ndarray, fs_src: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest source frame of each target time and whether it coincides with it."""
    u = t_dst * float(fs_src)
    idx = np.rint(u).astype(np.int64)
    return idx, np.abs(u - idx) < _COINCIDE_TOL


def _slerp_to_times(R: np.ndarray, fs_src: float, t_dst: np.ndarray) -> np.ndarray:
    """R (T, K, 3, 3) at frames k / fs_src -> (len(t_dst), K, 3, 3) by SLERP (exact copies at source frames)."""
    idx, same = _source_positions(t_dst, fs_src)
    out = np.empty((len(t_dst),) + R.shape[1:])
    out[same] = R[idx[same]]
    if not np.all(same):
        t_src = np.arange(R.shape[0], dtype=np.float64) / float(fs_src)
        out[~same] = slerp_rotations(R, t_src, t_dst[~same])
    return out


def resample_orientations(R: np.ndarray, fs_src: float, fs_dst: float) -> np.ndarray:
    """Resample rotation sequences to ``fs_dst`` by SLERP (never linear filtering).

    R: (T, ..., 3, 3) rotations at fs_src Hz.
    Returns (n_dst, ..., 3, 3) at ``target_times(T, fs_src, fs_dst)``.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 3 or R.shape[-2:] != (3, 3):
        raise ValueError(f"resample_orientations: R must be (T, ..., 3, 3), got shape {R.shape}")
    t_dst = target_times(R.shape[0], fs_src, fs_dst)
    flat = R.reshape((R.shape[0], -1, 3, 3))
    out = _slerp_to_times(flat, fs_src, t_dst)
    return out.reshape((len(t_dst),) + R.shape[1:])


def resample_pose_sequence(R_local: np.ndarray, trans: np.ndarray, fs_src: float,
                           fs_dst: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strategy (a): resample a pose sequence to the target rate.

    Rotations: SLERP per joint (``virtimu.rotations.slerp_rotations``).
    Translation: cubic spline with not-a-knot end conditions
    (``scipy.interpolate.CubicSpline``).  Not-a-knot rather than natural,
    because a natural spline forces zero second derivative at both ends,
    which would bias the accelerations of the first and last frames; the
    spline's continuous second derivative keeps second differences at the
    target rate meaningful when upsampling.

    Target frames that coincide with source frames (all of them when
    fs_src / fs_dst is an integer) copy the source rotations and translations
    exactly.

    R_local: (T, J, 3, 3) local joint rotations at fs_src Hz;
    trans: (T, 3) root translation in metres.
    Returns (R_local_dst (n_dst, J, 3, 3), trans_dst (n_dst, 3), t_dst (n_dst,) seconds).
    """
    R_local = np.asarray(R_local, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    if R_local.ndim != 4 or R_local.shape[-2:] != (3, 3):
        raise ValueError(f"resample_pose_sequence: R_local must be (T, J, 3, 3), got shape {R_local.shape}")
    T = R_local.shape[0]
    if trans.shape != (T, 3):
        raise ValueError(f"resample_pose_sequence: trans must be (T, 3) = ({T}, 3), got shape {trans.shape}")
    t_dst = target_times(T, fs_src, fs_dst)
    R_dst = _slerp_to_times(R_local, fs_src, t_dst)

    idx, same = _source_positions(t_dst, fs_src)
    trans_dst = np.empty((len(t_dst), 3))
    trans_dst[same] = trans[idx[same]]
    if not np.all(same):
        t_src = np.arange(T, dtype=np.float64) / float(fs_src)
        spline = CubicSpline(t_src, trans, axis=0, bc_type="not-a-knot")
        trans_dst[~same] = spline(np.clip(t_dst[~same], t_src[0], t_src[-1]))
    return R_dst, trans_dst, t_dst


def rational_ratio(fs_src: float, fs_dst: float) -> tuple[int, int]:
    """(up, down) with up / down ≈ fs_dst / fs_src (denominator at most 1000)."""
    _check_rates(fs_src, fs_dst)
    frac = Fraction(float(fs_dst) / float(fs_src)).limit_denominator(_MAX_DENOMINATOR)
    if frac == 0:
        frac = Fraction(1, _MAX_DENOMINATOR)
    return frac.numerator, frac.denominator


def decimate_signals(x: np.ndarray, fs_src: float, fs_dst: float, axis: int = 0) -> np.ndarray:
    """Strategy (b): anti-aliased rate change of already computed signals.

    ``scipy.signal.resample_poly`` with ``up / down`` = a rational
    approximation of fs_dst / fs_src (``Fraction.limit_denominator(1000)``):
    the signal is upsampled by ``up``, low-passed by a Kaiser-windowed FIR at
    the lower of the two Nyquist rates, and downsampled by ``down``, with the
    filter delay compensated.  Edges are padded by extending the linear
    trend (``padtype='line'``), so offsets such as gravity do not ring at
    the ends.  When up / down differs from fs_dst / fs_src (rates without a
    small exact ratio), the filtered signal is then interpolated by a cubic
    spline onto the exact target times; it is band-limited by then.

    Do not use this for rotation matrices or quaternions: use
    ``resample_orientations``.

    x: (..., T, ...) signals with time along ``axis`` at fs_src Hz.
    Returns float64 with ``len(target_times(T, fs_src, fs_dst))`` samples
    along ``axis``, aligned with strategy (a)'s frames.
    """
    x = np.asarray(x, dtype=np.float64)
    axis = axis % x.ndim
    n = x.shape[axis]
    t_dst = target_times(n, fs_src, fs_dst)
    n_dst = len(t_dst)
    if float(fs_src) == float(fs_dst) or n == 1:
        return np.take(x, np.arange(n_dst), axis=axis).copy()
    up, down = rational_ratio(fs_src, fs_dst)
    y = resample_poly(x, up, down, axis=axis, padtype="line")
    fs_mid = float(fs_src) * up / down
    if abs(fs_mid - float(fs_dst)) <= 1e-12 * float(fs_dst):
        return np.take(y, np.arange(n_dst), axis=axis)
    logger.debug("decimate_signals: %g -> %g Hz approximated as %d/%d, re-gridding by cubic spline",
                 fs_src, fs_dst, up, down)
    if y.shape[axis] < 2:
        return np.take(y, np.zeros(n_dst, dtype=np.int64), axis=axis)
    t_y = np.arange(y.shape[axis], dtype=np.float64) / fs_mid
    spline = CubicSpline(t_y, y, axis=axis, bc_type="not-a-knot")
    return spline(t_dst)
