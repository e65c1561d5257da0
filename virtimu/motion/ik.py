"""Analytic leg inverse kinematics on an SMPL rest skeleton.

The legs are solved from the pelvis pose and per-frame foot targets:
hip (3 DOF) and knee (flexion about its local x axis) place the ankle joint;
the ankle (3 DOF) then gives the foot its target orientation.  Everything is
vectorised over time; positions in metres (world), rotations act on column
vectors.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from virtimu.motion.anatomy import rot_x
from virtimu.motion.curves import ease_rotation_gaps, smooth_max
from virtimu.motion.skeleton import Skeleton

log = logging.getLogger(__name__)


@dataclass
class FootTrack:
    """Per-frame targets of one foot (T frames).

    ankle: (T, 3) world position of the ankle joint (m).
    R: (T, 3, 3) world orientation of the ankle frame, used where ``fixed``.
    fixed: (T,) bool; False frames get their ankle rotation (relative to the
        shank) interpolated smoothly between the neighbouring fixed frames.
    toe_ext: (T,) toe extension (rad, toes up relative to the foot).
    fill_reach: fraction of each free stretch after which the ankle rotation has arrived at the
        next fixed value (see :func:`virtimu.motion.curves.ease_rotation_gaps`).
    fill_world: interpolate the foot's world orientation (True) or the ankle's rotation
        relative to the shank (False) over the free stretches.
    fill_via: optional (3, 3) rotation the interpolation passes through at ``fill_reach``.
    fill_tau, fill_kernel: fade time (s) and shape ('exp' | 'gauss') of the angular velocity carried
        into each free stretch (see :func:`virtimu.motion.curves.ease_rotation_gaps`).
    knee: optional (T,) prescribed knee flexion (rad), NaN where the knee follows from the
        hip-ankle distance; where given, ``ankle`` must be at the matching distance from the hip
        (see :func:`leg_reach`) -- prescribing the knee avoids the ill-conditioned inverse
        near a straight leg.
    """

    ankle: np.ndarray
    R: np.ndarray
    fixed: np.ndarray
    toe_ext: np.ndarray
    fill_reach: float = 1.0
    fill_world: bool = False
    fill_via: np.ndarray | None = None
    knee: np.ndarray | None = None
    fill_tau: float = 0.03
    fill_kernel: str = "exp"


#: Width (rad) of the smooth lower limit of the knee flexion in :func:`solve_leg`.
KNEE_SOFT = 0.01


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(e1: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns [e1, n, e1 x n], n = hint made orthogonal to e1."""
    e1 = _normalize(e1)
    n = _normalize(hint - np.sum(hint * e1, axis=-1, keepdims=True) * e1)
    return np.stack([e1, n, np.cross(e1, n)], axis=-1)


def knee_flexion_for_distance(u: np.ndarray, v: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Knee flexion (T,) rad that makes |u + Rx(k) v| = d (T,).

    u: (3,) rest hip->knee, v: (3,) rest knee->ankle.  Unreachable distances
    give the nearest reachable flexion (full extension or full flexion).
    """
    A = u[1] * v[1] + u[2] * v[2]
    B = u[2] * v[1] - u[1] * v[2]
    C = (np.asarray(d) ** 2 - u @ u - v @ v - 2 * u[0] * v[0]) / 2.0
    Rr = np.hypot(A, B)
    delta = np.arctan2(B, A)
    return delta + np.arccos(np.clip(C / Rr, -1.0, 1.0))


def leg_reach(skel: Skeleton, side: str, knee_flex: float | np.ndarray) -> float | np.ndarray:
    """Hip->ankle distance (m) with the knee flexed by ``knee_flex`` rad (scalar or (T,))."""
    u = skel.offset(f"{side}_knee", f"{side}_hip")
    v = skel.offset(f"{side}_ankle", f"{side}_knee")
    d = np.linalg.norm(u + rot_x(knee_flex) @ v, axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def solve_leg(skel: Skeleton, side: str, R_root: np.ndarray, p_hip: np.ndarray, ankle_target: np.ndarray,
              knee_axis: np.ndarray, knee_min: float = 0.0,
              knee: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hip and knee of one leg.

    R_root: (T, 3, 3) world rotation of the pelvis (the hip's parent).
    p_hip: (T, 3) world hip joint positions.  ankle_target: (T, 3) world.
    knee_axis: (T, 3) world direction the knee's flexion axis (its local +x) should point along.
    knee_min: smallest knee flexion allowed (rad), applied as a smooth maximum (width
        :data:`KNEE_SOFT`) so the knee track keeps a continuous rate.
    knee: optional (T,) prescribed knee flexion (NaN: from the distance).
    Returns (R_hip_local (T, 3, 3), knee_flex (T,), miss (T,) distance by which the target
    was out of reach, m).
    """
    u = skel.offset(f"{side}_knee", f"{side}_hip")
    v = skel.offset(f"{side}_ankle", f"{side}_knee")
    d_vec = np.einsum("tji,tj->ti", R_root, ankle_target - p_hip)  # pelvis frame
    d = np.linalg.norm(d_vec, axis=1)
    k = knee_flexion_for_distance(u, v, d)
    if knee is not None:
        k = np.where(np.isfinite(knee), knee, k)
    k = smooth_max(k, knee_min, KNEE_SOFT)
    w = u[None] + np.einsum("tab,b->ta", rot_x(k), v)  # (T, 3) hip->ankle in the thigh's rest frame
    miss = np.abs(np.linalg.norm(w, axis=1) - d)
    F_rest = _frame(w, np.broadcast_to([1.0, 0.0, 0.0], w.shape))
    axis_local = np.einsum("tji,tj->ti", R_root, knee_axis)
    F_goal = _frame(d_vec, axis_local)
    R_hip = F_goal @ np.swapaxes(F_rest, -1, -2)
    return R_hip, k, miss


def solve_legs(skel: Skeleton, R_root: np.ndarray, p_pelvis: np.ndarray, feet: dict, knee_axes: dict,
               fps: float, knee_min: float = 0.0, tol: float = 0.005) -> tuple[dict, dict]:
    """Local rotations of both legs for given pelvis poses and foot tracks.

    R_root: (T, 3, 3) pelvis world rotation; p_pelvis: (T, 3) pelvis joint world position.
    feet: {'left': FootTrack, 'right': FootTrack}; knee_axes: {side: (T, 3) world}.
    Returns ({joint name: (T, 3, 3) local rotation} for hips, knees, ankles and feet (toes),
    {side: (T,) distance (m) by which the ankle target was out of reach}).
    Logs a warning when a target is out of reach by more than ``tol`` metres.
    """
    out, misses = {}, {}
    for side in ("left", "right"):
        ft = feet[side]
        hip_off = skel.offset(f"{side}_hip", "pelvis")
        p_hip = p_pelvis + R_root @ hip_off
        R_hip, k, miss = solve_leg(skel, side, R_root, p_hip, ft.ankle, knee_axes[side], knee_min, ft.knee)
        if miss.max() > tol:
            log.warning("%s leg: foot target out of reach by up to %.1f mm (%d frames)", side,
                        1000 * miss.max(), int(np.sum(miss > tol)))
        R_knee = rot_x(k)
        R_shank_w = R_root @ R_hip @ R_knee
        if ft.fill_world:
            R_ankle = np.swapaxes(R_shank_w, -1, -2) @ ease_rotation_gaps(ft.R, ft.fixed, fps, ft.fill_reach,
                                                                          tau=ft.fill_tau, via=ft.fill_via,
                                                                          kernel=ft.fill_kernel)
        else:
            R_ankle = ease_rotation_gaps(np.swapaxes(R_shank_w, -1, -2) @ ft.R, ft.fixed, fps, ft.fill_reach,
                                         tau=ft.fill_tau, via=ft.fill_via, kernel=ft.fill_kernel)
        out[f"{side}_hip"] = R_hip
        out[f"{side}_knee"] = R_knee
        out[f"{side}_ankle"] = R_ankle
        out[f"{side}_foot"] = rot_x(-np.asarray(ft.toe_ext))
        misses[side] = miss
    return out, misses
