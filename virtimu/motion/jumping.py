"""Repeated vertical counter-movement jumps: push-off with rising heels, ballistic flight
(pelvis z'' = -g exactly), landing on the forefoot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.motion.clip import Clip, make_clip
from virtimu.motion.curves import keyframes, quintic, smoothstep
from virtimu.motion.ik import leg_reach
from virtimu.motion.posture import arm_rotations, quiet_standing, root_rotation, span_labels, spine_rotations, time_grid
from virtimu.motion.skeleton import Skeleton
from virtimu.motion.standing import SIDES, drive, standing_height

G = 9.81  # m/s^2


@dataclass
class JumpParams:
    """Repeated vertical counter-movement jumps on the spot.

    n_jumps, first_at, interval: how many, when the first starts, start-to-start (s).
    jump_height: rise of the pelvis above its take-off height (m) -> flight time 2 sqrt(2 h / g).
    depth / landing_depth: pelvis lowered below standing in the counter-movement / landing (m).
    countermovement_time, push_time, landing_time, recovery_time: phase durations (s).
    trunk_lean: forward lean at the bottom of the counter-movement (rad); arm_swing: shoulder
    flexion reached at take-off (rad); takeoff_pitch: foot pitch (toes down) at take-off (rad).
    """

    duration: float = 9.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    n_jumps: int = 3
    first_at: float = 1.0
    interval: float = 2.7
    jump_height: float = 0.25
    depth: float = 0.25
    landing_depth: float = 0.16
    countermovement_time: float = 0.55
    push_time: float = 0.30
    landing_time: float = 0.25
    recovery_time: float = 0.6
    trunk_lean: float = 0.55
    arm_swing: float = 2.4
    takeoff_pitch: float = 0.9
    sway: float = 0.003
    stance_width: float | None = 0.22
    toe_out: float = 0.15
    knee: float = 0.06
    name: str = "jumping"
    label: str = "jumping"


def generate_jumping(p: JumpParams, skel: Skeleton) -> Clip:
    """Counter-movement, push-off, ballistic flight (pelvis z'' = -g exactly), landing on the
    forefoot, recovery (labels 'standing' / 'jumping')."""
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    feet, p_sw, _, _ = quiet_standing(p, skel, t, rng, p.sway)
    h = standing_height(skel, feet, p.knee + 0.04)
    v0 = np.sqrt(2 * G * p.jump_height)
    tf = 2 * v0 / G
    span = p.countermovement_time + p.push_time + tf + p.landing_time + p.recovery_time
    if p.n_jumps < 1 or p.first_at + (p.n_jumps - 1) * p.interval + span > p.duration:
        raise ValueError(f"{p.name}: {p.n_jumps} jumps every {p.interval} s from {p.first_at} s need "
                         f"{p.first_at + (p.n_jumps - 1) * p.interval + span:.2f} s, duration is {p.duration} s")
    if span > p.interval:
        raise ValueError(f"{p.name}: one jump takes {span:.2f} s, longer than the interval {p.interval} s")

    # Lean / arm key frames relative to each jump's start (s, trunk lean, shoulder flexion, x shift).
    def events(t0: float) -> dict:
        tb = t0 + p.countermovement_time
        tto = tb + p.push_time
        ttd = tto + tf
        tl = ttd + p.landing_time
        return {"t0": t0, "tb": tb, "tto": tto, "ttd": ttd, "tl": tl, "tr": tl + p.recovery_time}

    ev = [events(p.first_at + i * p.interval) for i in range(p.n_jumps)]
    kt, kv = [0.0], [(0.0, 0.05, 0.0)]
    for e in ev:
        kt += [e["t0"], e["tb"], e["tto"], e["ttd"], e["tl"], e["tr"]]
        kv += [(0.0, 0.05, 0.0), (p.trunk_lean, -0.8, -0.05), (0.05, p.arm_swing, 0.0),
               (0.1, 0.9, 0.0), (0.6 * p.trunk_lean, 0.2, -0.03), (0.0, 0.05, 0.0)]
    kt.append(p.duration + 1.0)
    kv.append((0.0, 0.05, 0.0))
    v = keyframes(np.array(kt), np.array(kv), t)
    lean, sh, dx = v[:, 0], v[:, 1], v[:, 2]
    pel_lean = 0.6
    R_root = root_rotation(flex=pel_lean * lean)
    x = dx + 0.3 * p_sw[:, 0]
    # Take-off height: legs straight, feet pitched takeoff_pitch toes-down.
    z = np.full(len(t), h)
    z_to = np.inf
    i_to = [int(round(e["tto"] * p.fps)) for e in ev]
    for side in SIDES:
        f = feet.foot[side]
        ankle = f.pose(feet.heel[side][None], np.array([-p.takeoff_pitch]))[0][0]
        for i in i_to:
            hip = R_root[i] @ skel.offset(f"{side}_hip", "pelvis")
            r2 = (ankle[0] - x[i] - hip[0]) ** 2 + (ankle[1] - hip[1]) ** 2
            d = leg_reach(skel, side, 0.04)
            z_to = min(z_to, ankle[2] + np.sqrt(d ** 2 - r2) - hip[2])
    z_to -= 0.002
    flight = np.zeros(len(t), bool)
    for e in ev:
        zb, zl = h - p.depth, h - p.landing_depth
        ab = 2.0 * p.depth / p.countermovement_time ** 2
        for (ta, tb), (s0, s1) in [((e["t0"], e["tb"]), ((h, 0, 0), (zb, 0, ab))),
                                   ((e["tb"], e["tto"]), ((zb, 0, ab), (z_to, v0, -G))),
                                   ((e["ttd"], e["tl"]), ((z_to, -v0, -G), (zl, 0, 2 * ab))),
                                   ((e["tl"], e["tr"]), ((zl, 0, 2 * ab), (h, 0, 0)))]:
            m = (t >= ta) & (t < tb)
            z[m] = quintic(t[m], ta, tb, s0, s1)
        m = (t >= e["tto"]) & (t < e["ttd"])
        tau = t[m] - e["tto"]
        z[m] = z_to + v0 * tau - 0.5 * G * tau ** 2
        flight |= m
    p_pel = np.stack([x, 0.3 * p_sw[:, 1], z], axis=1)
    upper = spine_rotations(flex=(1 - pel_lean) * lean, head_flex=-0.5 * lean)
    for side in SIDES:
        upper.update(arm_rotations(side, flex=sh, abd=0.15, elbow=0.3 + 0.2 * np.clip(sh, 0, None) / p.arm_swing))
    # Heels rise through the second half of the push-off and come down after touch-down.
    rise = np.zeros(len(t))
    for e in ev:
        m = (t >= e["tb"]) & (t < e["tto"])
        rise[m] = p.takeoff_pitch * np.clip((t[m] - e["tb"]) / p.push_time * 2.0 - 1.0, 0.0, 1.0) ** 2
        m = (t >= e["ttd"]) & (t < e["tl"])
        rise[m] = p.takeoff_pitch * (1.0 - smoothstep((t[m] - e["ttd"]) / (0.6 * p.landing_time)))
        rise[flight & (t >= e["tto"]) & (t < e["ttd"])] = p.takeoff_pitch
    # Feet in flight: carried below the pelvis, knees tucked a little in mid-air.
    free = {}
    for side in SIDES:
        f = feet.foot[side]
        ankle, _, _ = f.pose(np.broadcast_to(feet.heel[side], (len(t), 3)), -rise)
        target = ankle.copy()
        for e in ev:
            m = flight & (t >= e["tto"]) & (t < e["ttd"])
            a, b = np.flatnonzero(m)[[0, -1]]
            s = (t[a: b + 1] - t[a - 1]) / (t[b + 1] - t[a - 1])
            rel = (ankle[a - 1] - p_pel[a - 1]) * (1 - smoothstep(s))[:, None] + (ankle[b + 1] - p_pel[b + 1]) * \
                smoothstep(s)[:, None]
            target[a: b + 1] = p_pel[a: b + 1] + rel
            target[a: b + 1, 2] += 0.12 * np.sin(np.pi * s) ** 2
        free[side] = (flight, target)
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper, free=free, max_heel_rise=p.takeoff_pitch + 0.3,
                 heel_rise=rise)
    labels = span_labels(t, "standing", [(e["t0"], e["tr"], p.label) for e in ev])
    info = {"flight": flight, "takeoff_height": float(z_to)}
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start, info=info)
