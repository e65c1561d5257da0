"""Shared pieces of the activity generators: time grid, trunk / arm rotations from
anatomical angles, label spans, postural sway and quiet standing on planted feet.

Angles in radians, lengths in metres, times in seconds.
"""
from __future__ import annotations

import numpy as np

from virtimu.motion import anatomy as an
from virtimu.motion.curves import sway
from virtimu.motion.skeleton import Skeleton
from virtimu.motion.standing import Feet, standing_feet, standing_height


def time_grid(duration: float, fps: float) -> np.ndarray:
    """Frame times (T,) s from 0 to ``duration`` at ``fps``."""
    if duration <= 0 or fps <= 0:
        raise ValueError(f"duration and fps must be positive, got {duration}, {fps}")
    return np.arange(int(round(duration * fps)) + 1) / fps


def root_rotation(flex=0.0, bend=0.0, turn=0.0) -> np.ndarray:
    """Pelvis world orientation (..., 3, 3) facing +x: anterior tilt, left-side-down bend, left turn."""
    return an.base_root_rotation() @ an.trunk(flex=flex, bend=bend, turn=turn)


def spine_rotations(flex=0.0, bend=0.0, turn=0.0, head_flex=0.0, head_turn=0.0) -> dict:
    """Spine joints sharing a total flexion / bend / turn; neck and head share ``head_*``."""
    out = {n: an.trunk(flex=w * np.asarray(flex), bend=w * np.asarray(bend), turn=w * np.asarray(turn))
           for n, w in (("spine1", 0.3), ("spine2", 0.3), ("spine3", 0.4))}
    out["neck"] = an.trunk(flex=0.5 * np.asarray(head_flex), turn=0.5 * np.asarray(head_turn))
    out["head"] = an.trunk(flex=0.5 * np.asarray(head_flex), turn=0.5 * np.asarray(head_turn))
    return out


def arm_rotations(side: str, flex=0.05, abd=0.12, ext_rot=0.0, elbow=0.25, wrist=0.1, elev=0.0) -> dict:
    """{collar, shoulder, elbow, wrist of ``side``: rotation} from anatomical angles (scalars or (T,))."""
    return {f"{side}_collar": an.collar(side, elev=elev),
            f"{side}_shoulder": an.shoulder(side, flex=flex, abd=abd, ext_rot=ext_rot),
            f"{side}_elbow": an.elbow(side, flex=elbow),
            f"{side}_wrist": an.wrist(side, flex=wrist)}


def span_labels(t: np.ndarray, default: str, spans: list[tuple[float, float, str]]) -> list[str]:
    """Per-frame label names: ``default``, overwritten by each (start, end, name) span in turn."""
    out = np.full(len(t), default, dtype=object)
    for a, b, name in spans:
        out[(t >= a) & (t < b)] = name
    return out.tolist()


def body_sway(t: np.ndarray, rng: np.random.Generator, amount: float) -> dict:
    """Small postural sway: pelvis x / y offsets (m) and trunk / head angles (rad), each (T,)."""
    return {"x": sway(t, rng, amount), "y": sway(t, rng, 0.6 * amount),
            "turn": sway(t, rng, 1.5 * amount), "flex": sway(t, rng, 1.0 * amount),
            "head_turn": sway(t, rng, 4.0 * amount, 0.05, 0.3), "head_flex": sway(t, rng, 2.0 * amount, 0.05, 0.3)}


def quiet_standing(p, skel: Skeleton, t: np.ndarray, rng: np.random.Generator,
                   sway_amount: float) -> tuple[Feet, np.ndarray, np.ndarray, dict]:
    """Quiet standing for parameters ``p`` (fields stance_width, toe_out, knee) on the times t (T,):
    (feet, pelvis path (T, 3), pelvis orientation (T, 3, 3), {spine/neck/head joint: (T, 3, 3)})."""
    feet = standing_feet(skel, p.stance_width, p.toe_out)
    s = body_sway(t, rng, sway_amount)
    h = standing_height(skel, feet, p.knee + 0.04)
    p_pel = np.stack([s["x"], s["y"], np.full(len(t), h)], axis=1)
    R_root = root_rotation(flex=0.5 * s["flex"], turn=s["turn"])
    spine = spine_rotations(flex=-0.5 * s["flex"], turn=-0.5 * s["turn"], head_flex=s["head_flex"],
                            head_turn=s["head_turn"])
    return feet, p_pel, R_root, spine
