"""Lying down: from standing, squat and sit on the floor, roll back onto the back, lie still.

The feet stay planted (legs from IK) until the trunk is down, then slide out; while the trunk
is on the floor the body is placed by its lowest back points (rolling without slipping).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.kinematics import forward_kinematics
from virtimu.motion.clip import Clip, assemble, make_clip
from virtimu.motion.curves import keyframes, smoothstep, soft_min, sway
from virtimu.motion.ik import leg_reach
from virtimu.motion.posture import arm_rotations, quiet_standing, root_rotation, span_labels, spine_rotations, time_grid
from virtimu.motion.skeleton import Skeleton, back_points
from virtimu.motion.standing import SIDES, drive, standing_height


@dataclass
class LieParams:
    """From standing, squat and sit down on the floor, lie back, then lie still on the back.

    lie_at: end of the initial standing (s); squat_time, sit_time, recline_time: phase durations;
    breathing_rate (Hz) and breathing_depth (rad of spine motion) while lying.
    """

    duration: float = 11.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    lie_at: float = 1.5
    squat_time: float = 1.4
    sit_time: float = 1.0
    recline_time: float = 2.6
    breathing_rate: float = 0.25
    breathing_depth: float = 0.015
    sway: float = 0.003
    stance_width: float | None = 0.24
    toe_out: float = 0.2
    knee: float = 0.06
    name: str = "lying_down"
    label: str = "lying_down"


def generate_lying_down(p: LieParams, skel: Skeleton) -> Clip:
    """Stand, squat, sit on the floor, lie back, lie still (labels 'standing', 'lying_down', 'lying').

    The feet stay planted until the trunk is down, then slide out until the legs lie straight,
    resting on the heels; the trunk rolls back over the buttocks onto the back.
    """
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    T = len(t)
    feet, p_sw, _, _ = quiet_standing(p, skel, t, rng, p.sway)
    h = standing_height(skel, feet, p.knee + 0.04)
    ankle_x = float(np.mean([feet.foot[s].ankle_flat(feet.heel[s])[0] for s in SIDES]))
    t_sq = p.lie_at + p.squat_time
    t_sit = t_sq + p.sit_time
    t_back = t_sit + 0.65 * p.recline_time  # trunk down
    t_lie = t_sit + p.recline_time
    if t_lie + 1.0 > p.duration:
        raise ValueError(f"{p.name}: the timeline needs {t_lie + 1.0:.1f} s, duration is {p.duration} s")
    # Trunk and arm channels over the whole clip:
    # (time, pelvis tilt, spine flex, head flex, shoulder flex, shoulder abd, elbow)
    sit_tilt = -0.25
    k = np.array([
        (0.0, 0.0, 0.0, 0.0, 0.05, 0.12, 0.25), (p.lie_at, 0.0, 0.0, 0.0, 0.05, 0.12, 0.25),
        (t_sq, 0.45, 0.25, -0.3, 0.9, 0.2, 0.4),
        (t_sit, sit_tilt, 0.25, -0.1, 0.4, 0.25, 0.6),
        (t_sit + 0.25, sit_tilt, 0.25, -0.1, 0.4, 0.25, 0.6),
        (t_back, -np.pi / 2 + 0.03, 0.0, 0.15, 0.1, 0.25, 0.3),
        (t_lie, -np.pi / 2 + 0.03, 0.0, 0.18, 0.0, 0.25, 0.2),
        (p.duration + 1.0, -np.pi / 2 + 0.03, 0.0, 0.18, 0.0, 0.25, 0.2),
    ])
    v = keyframes(k[:, 0], k[:, 1:], t)
    breath = p.breathing_depth * np.sin(2 * np.pi * p.breathing_rate * (t - t_lie)) * smoothstep(t - t_lie)
    R_root = root_rotation(flex=v[:, 0])
    upper = spine_rotations(flex=v[:, 1] - breath, head_flex=v[:, 2], head_turn=sway(t, rng, 0.03, 0.05, 0.2) *
                   smoothstep(t - t_lie))
    for side in SIDES:
        upper.update(arm_rotations(side, flex=v[:, 3], abd=v[:, 4], elbow=v[:, 5]))
    # Seated on the floor: the lowest of the ischia / sacrum on the floor, hips well behind the ankles.
    names, idx, off = skel.back_points()
    trunk_pts = [i for i, n in enumerate(names) if not any(w in n for w in ("calf", "heel"))]
    i_sit = int(np.searchsorted(t, t_sit))
    R_sit = R_root[i_sit]
    z_sit = -min((R_sit @ (skel.rest_joints[idx[i]] - skel.rest_joints[0] + off[i]))[2]
                 for i in (names.index("left_ischium"), names.index("right_ischium"), names.index("sacrum")))
    x_sit = ankle_x - 0.95 * sum(skel.leg_lengths("left")) * 0.62
    # Pelvis path: key frames while the feet carry the body, rolling on the back afterwards.
    kp = np.array([(0.0, 0.0, h), (p.lie_at, 0.0, h), (t_sq, 0.55 * x_sit, 0.50),
                   (t_sq + 0.6 * p.sit_time, 0.92 * x_sit, z_sit + 0.06), (t_sit, x_sit, z_sit),
                   (t_sit + 1.0, x_sit, z_sit)])
    vp = keyframes(kp[:, 0], kp[:, 1:], t[: i_sit + 1])
    p_pel = np.zeros((T, 3))
    p_pel[: i_sit + 1] = np.stack([vp[:, 0], np.zeros(i_sit + 1), vp[:, 1]], axis=1)
    p_pel[: i_sit + 1, :2] += 0.3 * p_sw[: i_sit + 1, :2] * (1 - smoothstep((t[: i_sit + 1] - p.lie_at) / 0.5))[:, None]
    R_trunk = assemble(T, {"pelvis": R_root, **upper})
    p_pel[i_sit:] = _place_on_floor(R_trunk[i_sit:], skel, p_pel[i_sit], points=trunk_pts)
    # Feet: planted until the trunk is down, then sliding out to straight legs resting on the heels.
    heel_track, pitch_track = {}, {}
    slide = smoothstep((t - t_back + 0.15 * p.recline_time) / (t_lie - t_back + 0.15 * p.recline_time))
    for side in SIDES:
        f = feet.foot[side]
        hip_end = p_pel[-1] + R_root[-1] @ skel.offset(f"{side}_hip", "pelvis")
        rest_pitch = 0.55  # toes up, resting on the back of the heel
        ankle_rel = f.pose(np.zeros((1, 3)), np.array([rest_pitch]))[0][0]  # ankle relative to the heel point
        d = leg_reach(skel, side, 0.15)  # knees slightly bent: in reach while breathing
        dz = hip_end[2] - ankle_rel[2]
        dy = feet.heel[side][1] + ankle_rel[1] - hip_end[1]
        ankle_end_x = hip_end[0] + np.sqrt(max(d ** 2 - dz ** 2 - dy ** 2, 0.0))
        heel_end = np.array([ankle_end_x - ankle_rel[0], feet.heel[side][1], 0.0])
        heel_track[side] = feet.heel[side] + slide[:, None] * (heel_end - feet.heel[side])
        pitch_track[side] = rest_pitch * slide
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper, knee_min=0.03, max_heel_rise=0.9,
                 heel_track=heel_track, pitch_track=pitch_track)
    labels = span_labels(t, "standing", [(p.lie_at, t_lie, "lying_down"), (t_lie, p.duration + 1.0, "lying")])
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start)


def _place_on_floor(R_local: np.ndarray, skel: Skeleton, p0: np.ndarray, points: list[int],
                    scale: float = 0.004) -> np.ndarray:
    """Pelvis positions (T, 3) that rest a body with local rotations R_local (T, 24, 3, 3) on the floor.

    points: indices into the skeleton's back points that may touch the floor.  Height: their soft
    minimum sits on the floor.  Horizontal: the body rolls without slipping -- the root moves
    against the motion of its lowest points (soft-min weights), starting from ``p0`` (3,).  The
    height is shifted so that the first frame keeps p0's height.
    """
    st = forward_kinematics(R_local, skel.rest_joints, skel.parents, None)
    pb = back_points(st, skel)
    trunk = list(points)
    z = -soft_min(pb[:, trunk, 2], scale)
    zt = pb[:, trunk, 2]
    w = np.exp(-(zt - zt.min(axis=1, keepdims=True)) / scale)
    w /= w.sum(axis=1, keepdims=True)
    step = np.einsum("tk,tkc->tc", w[:-1], pb[1:, trunk, :2] - pb[:-1, trunk, :2])
    xy = np.concatenate([np.zeros((1, 2)), -np.cumsum(step, axis=0)], axis=0)
    pel = st.p[:, 0]
    out = np.empty((len(R_local), 3))
    out[:, :2] = p0[:2] + xy + (pel[:, :2] - pel[0, :2])
    out[:, 2] = pel[:, 2] + z
    out[:, 2] += p0[2] - out[0, 2]
    return out
