"""Motions on planted feet: foot placement, standing height and the leg driver.

Generators for standing, waving, stretching, sitting down and jumping
describe the pelvis (path and orientation) and the upper body; the feet stay
where :func:`standing_feet` put them, and :func:`drive` solves the legs,
letting the heels rise when the pelvis goes higher than flat feet allow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.motion import anatomy as an
from virtimu.motion.clip import assemble
from virtimu.motion.feet import RollingFoot, raise_heel
from virtimu.motion.curves import fill_gaps_c1
from virtimu.motion.ik import FootTrack, leg_reach, solve_legs
from virtimu.motion.skeleton import Skeleton

SIDES = ("left", "right")
SIGN = {"left": 1.0, "right": -1.0}


@dataclass
class Feet:
    """Planted feet: per side a :class:`RollingFoot` and its flat-foot heel point (3,) on the floor."""

    foot: dict
    heel: dict


def standing_feet(skel: Skeleton, width: float | None = None, toe_out: float = 0.12) -> Feet:
    """Feet under the hips for a body facing +x with its pelvis joint above the origin.

    width: lateral distance between the ankle joints (m); default the hip-joint distance.
    toe_out: each foot turned outwards by this angle (rad).
    """
    foot, heel = {}, {}
    R0 = an.base_root_rotation()
    for side in SIDES:
        hip = R0 @ skel.offset(f"{side}_hip", "pelvis")
        y = SIGN[side] * 0.5 * width if width is not None else hip[1]
        f = RollingFoot(skel, side, yaw=SIGN[side] * toe_out)
        ankle = np.array([hip[0], y, 0.0])
        h = f.heel_for_ankle(ankle)
        foot[side] = f
        heel[side] = np.array([h[0], h[1], 0.0])
    return Feet(foot=foot, heel=heel)


def standing_height(skel: Skeleton, feet: Feet, knee: float = 0.05, R_root: np.ndarray | None = None,
                    xy: tuple[float, float] = (0.0, 0.0)) -> float:
    """Pelvis height (m) at which both legs, feet flat, have at least ``knee`` rad of knee flexion.

    R_root: (3, 3) pelvis orientation (default upright facing +x); xy: pelvis position on the floor.
    """
    R = an.base_root_rotation() if R_root is None else R_root
    z = np.inf
    for side in SIDES:
        hip = R @ skel.offset(f"{side}_hip", "pelvis")
        ankle = feet.foot[side].ankle_flat(feet.heel[side])
        r2 = (ankle[0] - xy[0] - hip[0]) ** 2 + (ankle[1] - xy[1] - hip[1]) ** 2
        d = leg_reach(skel, side, knee)
        z = min(z, ankle[2] + np.sqrt(d ** 2 - r2) - hip[2])
    return float(z)


def drive(skel: Skeleton, fps: float, R_root: np.ndarray, p_pelvis: np.ndarray, feet: Feet, upper: dict,
          free: dict | None = None, knee_min: float = 0.03, max_heel_rise: float = 1.1,
          ankle_reach: float = 0.5, heel_rise: np.ndarray | None = None,
          heel_track: dict | None = None, pitch_track: dict | None = None,
          ankle_tau: float = 0.03, ankle_world: bool = False) -> tuple[np.ndarray, dict]:
    """Local rotations (T, 24, 3, 3) for a pelvis trajectory over planted feet.

    R_root: (T, 3, 3) pelvis world orientation; p_pelvis: (T, 3) pelvis joint world positions.
    upper: {joint: (T, 3, 3) or (3, 3)} rotations of the non-leg joints.
    free: optional {side: (mask (T,) bool, ankle (T, 3)[, knee (T,)])}: frames where that foot is off
        the floor, its ankle target and optionally the prescribed knee flexion that puts the ankle
        there (see :mod:`virtimu.motion.swing`); elsewhere the foot is planted (flat, or heel raised
        as needed to keep the knee flexed by at least ``knee_min``).
    heel_rise: optional (T,) least toes-down foot pitch (rad) of the planted feet.
    heel_track / pitch_track: optional {side: (T, 3)} flat-foot heel points on the floor and
        {side: (T,)} foot pitch (toes up +) that replace the fixed placement (sliding feet).
    ankle_tau: fade time (s) of the foot's angular velocity carried into the free frames (with a
        kernel that also ramps the deceleration in, see :func:`~virtimu.motion.curves.ease_rotation_gaps`);
    ankle_world: interpolate the free feet's world orientation (True) instead of the ankle angles.
    Returns (R_local, {side: (T,) foot pitch, NaN where free}).
    """
    T = len(p_pelvis)
    tracks, pitches = {}, {}
    for side in SIDES:
        f = feet.foot[side]
        entry = (free or {}).get(side, (np.zeros(T, bool), None))
        mask, target = entry[0], entry[1]
        knee = None
        if len(entry) > 2 and entry[2] is not None:
            knee = np.where(mask, entry[2], np.nan)
        planted = ~mask
        hip = p_pelvis + R_root @ skel.offset(f"{side}_hip", "pelvis")
        pitch = np.full(T, np.nan)
        base = np.zeros(T) if heel_rise is None else -np.asarray(heel_rise, dtype=np.float64)
        if pitch_track is not None:
            base = np.asarray(pitch_track[side], dtype=np.float64)
        heel = np.broadcast_to(feet.heel[side], (T, 3)) if heel_track is None else heel_track[side]
        pitch[planted] = raise_heel(f, heel[planted], base[planted], hip[planted], skel, knee_min, max_heel_rise)
        ankle = np.zeros((T, 3))
        R = np.broadcast_to(f.R_flat, (T, 3, 3)).copy()
        toe = np.zeros(T)
        ankle[planted], R[planted], toe[planted] = f.pose(heel[planted], pitch[planted])
        if mask.any():
            ankle[mask] = target[mask]
            toe = fill_gaps_c1(toe, planted, fps)
        tracks[side] = FootTrack(ankle=ankle, R=R, fixed=planted, toe_ext=toe, fill_reach=ankle_reach, knee=knee,
                                 fill_tau=ankle_tau, fill_world=ankle_world,
                                 fill_kernel="gauss")
        pitches[side] = pitch
    knee_axes = {s: np.broadcast_to(feet.foot[s].R_flat[:, 0], (T, 3)) for s in SIDES}
    legs, _ = solve_legs(skel, R_root, p_pelvis, tracks, knee_axes, fps, knee_min=knee_min)
    return assemble(T, {"pelvis": R_root, **upper, **legs}), pitches
