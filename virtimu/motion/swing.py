"""A leg off the floor: prescribed knee flexion, ankle on the way to its next contact.

When a foot is in the air (gait swing, jump flight) its ankle path is free,
but solving the knee from the hip-ankle distance is ill-conditioned near a
straight leg: a millimetre of distance is a large knee rotation, so a path
that comes close to full reach makes the knee (and the thigh and shank
surface) jerk.  Here the knee flexion is prescribed instead, as smooth curves
that carry the knee angle and rate of the neighbouring contact phases, and
the ankle is put on the ray from the hip towards a smooth path point at the
distance that knee gives.  Angles in radians, lengths in metres.
"""
from __future__ import annotations

import numpy as np

from virtimu.motion.curves import quintic, smooth_max
from virtimu.motion.ik import leg_reach
from virtimu.motion.skeleton import Skeleton


def _end_state(x: np.ndarray, i: int, step: int, known: np.ndarray, fps: float) -> tuple[float, float, float]:
    """(value, rate, acceleration) of the track x at the known frame i, from one-sided differences
    over the known frames i, i + step, i + 2 step (step = -1: before, +1: after); zeros where
    those frames are not known."""
    T = len(x)
    j, k = i + step, i + 2 * step
    ok1 = 0 <= j < T and known[j]
    ok2 = ok1 and 0 <= k < T and known[k]
    rate = (x[i] - x[j]) * fps * (-step) if ok1 else 0.0
    acc = (x[i] - 2 * x[j] + x[k]) * fps ** 2 if ok2 else 0.0
    return float(x[i]), float(rate), float(acc)


def fill_knee(knee: np.ndarray, known: np.ndarray, fps: float, peak: float | np.ndarray, peak_at: float,
              reversal: float | None = None, floor: float = 0.03, soft: float = 0.015,
              match_acc: bool = True) -> np.ndarray:
    """Knee flexion (T,) rad with each gap between known frames filled by quintic segments:
    from the known (angle, rate, acceleration) at the gap's start to ``peak`` (at rest) at the
    fraction ``peak_at`` of the gap, then extending to a turning point and into the known state
    at the gap's end -- continuous in angle, rate (and with ``match_acc`` acceleration) at both ends.

    Where the knee is flexing at the end (e.g. at heel strike), it turns from extension to
    flexion ``reversal`` seconds earlier, at the angle it has to start from to reach the end
    state at a steady acceleration (end angle - end rate x reversal / 2); likewise a knee that
    is still extending at the start (take-off) so fast that it would otherwise dip towards
    ``floor`` turns ``reversal`` seconds later.  Both turns are
    shortened where they would come closer than ~4 ``soft`` to ``floor``.  With ``reversal``
    None the knee goes straight from the start state to the peak and into the end state.  As a guard the knee is
    kept above ``floor`` by a smooth maximum of width ``soft`` (values well above it are unchanged).

    knee: (T,) valid where ``known``; peak: flexion at the peak (scalar or one per gap, raised to
    at least the larger end value); gaps at the ends of the track hold the nearest known value.
    """
    out = np.array(knee, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    idx = np.flatnonzero(known)
    if len(idx) == 0:
        raise ValueError("fill_knee: no known frame")
    out[: idx[0]] = out[idx[0]]
    out[idx[-1] + 1:] = out[idx[-1]]
    gaps = np.flatnonzero(np.diff(idx) > 1)
    peaks = np.broadcast_to(np.asarray(peak, dtype=np.float64), (len(gaps),))
    for g, pk in zip(gaps, peaks):
        a, b = idx[g], idx[g + 1]
        sa = _end_state(out, a, -1, known, fps)
        sb = _end_state(out, b, +1, known, fps)
        if not match_acc:
            sa, sb = (sa[0], sa[1], 0.0), (sb[0], sb[1], 0.0)
        pk = max(float(pk), sa[0], sb[0])
        ta, tb = a / fps, b / fps
        tp = ta + peak_at * (tb - ta)
        keys = [(ta, sa)]
        tt = np.linspace(ta, tp, 50)
        dips = quintic(tt, ta, tp, sa, (pk, 0.0, 0.0)).min() < floor + 4 * soft
        if reversal is not None and sa[1] < 0 and dips:
            dur = min(reversal, 0.5 * (tp - ta), 2.0 * (sa[0] - floor - 4 * soft) / -sa[1])
            if dur > 2.0 / fps:
                keys.append((ta + dur, (sa[0] + 0.5 * sa[1] * dur, 0.0, -sa[1] / dur)))
        keys.append((tp, (pk, 0.0, 0.0)))
        if reversal is not None and sb[1] > 0:
            dur = min(reversal, 0.5 * (tb - tp), 2.0 * (sb[0] - floor - 4 * soft) / sb[1])
            if dur > 2.0 / fps:
                keys.append((tb - dur, (sb[0] - 0.5 * sb[1] * dur, 0.0, sb[1] / dur)))
        keys.append((tb, sb))
        t = np.arange(a + 1, b) / fps
        seg = np.empty(len(t))
        for (t0, s0), (t1, s1) in zip(keys[:-1], keys[1:]):
            m = (t >= t0) & (t < t1)
            seg[m] = quintic(t[m], t0, t1, s0, s1)
        out[a + 1: b] = smooth_max(seg, floor, soft)
    return out


def place_ankles(path: np.ndarray, hip: np.ndarray, knee: np.ndarray, skel: Skeleton, side: str) -> np.ndarray:
    """Ankle positions (T, 3): on the ray from the hip (T, 3) through the path point (T, 3), at the
    hip-ankle distance of the knee flexion ``knee`` (T,) rad."""
    rel = path - hip
    unit = rel / np.linalg.norm(rel, axis=1, keepdims=True)
    return hip + unit * np.asarray(leg_reach(skel, side, knee)).reshape(-1, 1)
