"""Sitting down on an implicit chair and standing up again (feet planted, legs from IK).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.motion.clip import Clip, make_clip
from virtimu.motion.curves import keyframes, smoothstep
from virtimu.motion.posture import arm_rotations, quiet_standing, root_rotation, span_labels, spine_rotations, time_grid
from virtimu.motion.skeleton import Skeleton
from virtimu.motion.standing import SIDES, drive, standing_height


@dataclass
class SitParams:
    """Sitting down on an (implicit) chair and standing up again.

    seat_height: seat surface above the floor (m); hip_above_seat: hip joint centres above the
    seat when seated (m); seat_depth: hip joints behind the ankles when seated (m, None: from the
    thigh length); sit_at / sit_time / seated_time / stand_time: timeline (s); trunk_lean: the
    largest forward lean of the trunk during the transitions (rad), shared by the pelvis (hips)
    and the spine; seated_lean: lean while seated.
    """

    duration: float = 9.5
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    seat_height: float = 0.45
    hip_above_seat: float = 0.10
    seat_depth: float | None = None
    sit_at: float = 1.5
    sit_time: float = 2.0
    seated_time: float = 3.0
    stand_time: float = 2.0
    trunk_lean: float = 0.75
    seated_lean: float = 0.08
    sway: float = 0.003
    stance_width: float | None = 0.22
    toe_out: float = 0.15
    knee: float = 0.06
    name: str = "sit_stand"
    label: str = "sit_stand"


def seated_pelvis(skel: Skeleton, seat_height: float, hip_above_seat: float, seat_depth: float,
                  lean: float, ankle_x: float) -> tuple[float, float]:
    """Pelvis joint (x, z) when the hip-joint midpoint is ``seat_depth`` behind ``ankle_x`` and
    ``hip_above_seat`` above the seat, with the pelvis tilted forward by ``lean`` rad."""
    R = root_rotation(flex=lean)
    mid = 0.5 * (skel.offset("left_hip", "pelvis") + skel.offset("right_hip", "pelvis"))
    off = R @ (-mid)  # hip midpoint -> pelvis joint
    return ankle_x - seat_depth + off[0], seat_height + hip_above_seat + off[2]


def generate_sit_stand(p: SitParams, skel: Skeleton) -> Clip:
    """Stand, sit down onto a chair, sit, stand up, stand (labels 'standing', 'sitting_down',
    'sitting', 'standing_up')."""
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    feet, p_sw, _, _ = quiet_standing(p, skel, t, rng, p.sway)
    h = standing_height(skel, feet, p.knee + 0.04)
    ankle_x = float(np.mean([feet.foot[s].ankle_flat(feet.heel[s])[0] for s in SIDES]))
    depth = p.seat_depth if p.seat_depth is not None else 0.97 * skel.leg_lengths("left")[0] - 0.02
    pel_lean = 0.65  # share of the trunk lean at the hips
    xs, zs = seated_pelvis(skel, p.seat_height, p.hip_above_seat, depth, pel_lean * p.seated_lean, ankle_x)
    a, b = p.sit_at, p.sit_at + p.sit_time
    c, d = b + p.seated_time, b + p.seated_time + p.stand_time
    if d > p.duration:
        raise ValueError(f"{p.name}: the timeline needs {d:.1f} s, duration is {p.duration} s")
    L, Ls = p.trunk_lean, p.seated_lean
    # (time, pelvis x, pelvis z, trunk lean)
    k = np.array([
        (0.0, 0.0, h, 0.0), (a, 0.0, h, 0.0),
        (a + 0.30 * p.sit_time, 0.25 * xs, h - 0.12 * (h - zs), 0.7 * L),
        (a + 0.60 * p.sit_time, 0.75 * xs, zs + 0.30 * (h - zs), L),
        (a + 0.85 * p.sit_time, 0.98 * xs, zs + 0.02, 0.5 * L), (b, xs, zs, Ls),
        (c, xs, zs, Ls),
        (c + 0.30 * p.stand_time, xs, zs, 0.9 * L),
        (c + 0.45 * p.stand_time, 0.93 * xs, zs + 0.05, L),
        (c + 0.75 * p.stand_time, 0.35 * xs, h - 0.15 * (h - zs), 0.5 * L),
        (d, 0.0, h, 0.0), (p.duration + 1.0, 0.0, h, 0.0),
    ])
    v = keyframes(k[:, 0], k[:, 1:], t)
    lean = v[:, 2]
    p_pel = np.stack([v[:, 0] + p_sw[:, 0] * 0.3, p_sw[:, 1] * 0.3, v[:, 1]], axis=1)
    R_root = root_rotation(flex=pel_lean * lean)
    upper = spine_rotations(flex=(1 - pel_lean) * lean, head_flex=-0.6 * lean)
    reach = np.clip(lean / max(L, 1e-6), 0, 1)  # arms forward during the transitions
    seated = smoothstep((t - b + 0.5) / 0.6) * (1 - smoothstep((t - c) / 0.6))
    for side in SIDES:
        upper.update(arm_rotations(side, flex=0.05 + 0.5 * reach + 0.35 * seated, abd=0.12 + 0.05 * seated,
                          elbow=0.25 + 0.35 * reach + 0.9 * seated))
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper)
    labels = span_labels(t, "standing", [(a, b, "sitting_down"), (b, c, "sitting"), (c, d, "standing_up")])
    info = {"seat_height": p.seat_height, "seated_pelvis_z": zs}
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start, info=info)
