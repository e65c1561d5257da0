"""Repeated vertical counter-movement jumps: push-off with rising heels, ballistic flight
(pelvis z'' = -g exactly), landing on the forefoot.

Every joint path is continuous in velocity: the heels rise through the push-off and the feet
leave the floor rolling over the toe tips at the rate they had (and come back the same way,
toes first, at landing); in the air the ankles move relative to the pelvis on quintic paths
that carry the velocities of take-off and landing, with the knee flexion prescribed
(:mod:`virtimu.motion.swing`), and the arms swing on smooth key-frame tracks at realistic
speeds (peak shoulder rate ~7 rad/s for the defaults).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.motion.clip import Clip, make_clip
from virtimu.motion.curves import hermite, keyframes, quintic
from virtimu.motion.ik import knee_flexion_for_distance, leg_reach
from virtimu.motion.posture import arm_rotations, quiet_standing, root_rotation, span_labels, spine_rotations, time_grid
from virtimu.motion.skeleton import Skeleton
from virtimu.motion.standing import SIDES, drive, standing_height
from virtimu.motion.swing import fill_knee, place_ankles

G = 9.81  # m/s^2


@dataclass
class JumpParams:
    """Repeated vertical counter-movement jumps on the spot.

    n_jumps, first_at, interval: how many, when the first starts, start-to-start (s).
    jump_height: rise of the pelvis above its take-off height (m) -> flight time 2 sqrt(2 h / g).
    depth / landing_depth: pelvis lowered below standing in the counter-movement / landing (m).
    countermovement_time, push_time, landing_time, recovery_time: phase durations (s).
    trunk_lean: forward lean at the bottom of the counter-movement (rad).
    arm_swing: shoulder flexion reached just after take-off (rad); arm_back: shoulder extension
    (arms behind the body, rad) at the end of the back swing, ``arm_back_at`` of the way through
    the counter-movement -- the forward swing then takes the rest of the counter-movement and the
    push-off, peaking at about 7 rad/s for the defaults (vigorous arm swings stay below ~10-12 rad/s).
    takeoff_pitch: foot pitch (toes down) at take-off and touch-down (rad); takeoff_rate: how fast
    the feet roll over the toe tips at take-off and touch-down (rad/s); takeoff_knee: knee
    flexion at take-off and touch-down (rad); tuck_knee: knee flexion in mid-flight (rad);
    heel_drop_time: time from touch-down (on the toes) to heels down (s); ankle_tau: fade time (s)
    of the feet's rotation after take-off and before touch-down.
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
    arm_swing: float = 2.2
    arm_back: float = 0.6
    arm_back_at: float = 0.55
    takeoff_pitch: float = 0.9
    takeoff_knee: float = 0.5
    tuck_knee: float = 0.6
    heel_drop_time: float = 0.15
    takeoff_rate: float = 9.0
    ankle_tau: float = 0.07
    sway: float = 0.003
    stance_width: float | None = 0.22
    toe_out: float = 0.15
    knee: float = 0.06
    name: str = "jumping"
    label: str = "jumping"


def _events(p: JumpParams, tf: float) -> list[dict]:
    """Phase times (s) of each jump: start, bottom, take-off, touch-down, landed, recovered."""
    out = []
    for i in range(p.n_jumps):
        t0 = p.first_at + i * p.interval
        tb = t0 + p.countermovement_time
        tto = tb + p.push_time
        ttd = tto + tf
        tl = ttd + p.landing_time
        out.append({"t0": t0, "tb": tb, "tto": tto, "ttd": ttd, "tl": tl, "tr": tl + p.recovery_time})
    return out


def _upper_body_tracks(p: JumpParams, ev: list[dict], t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk lean (T,), pelvis forward shift (T,) and shoulder flexion (T,) from smooth key frames."""
    lt, lv = [0.0], [(0.0, 0.0)]
    at, av = [0.0], [0.05]
    for e in ev:
        lt += [e["t0"], e["tb"], e["tto"], e["ttd"], e["tl"], e["tr"]]
        lv += [(0.0, 0.0), (p.trunk_lean, -0.05), (0.05, 0.0), (0.1, 0.0), (0.6 * p.trunk_lean, -0.03), (0.0, 0.0)]
        t_back = e["t0"] + p.arm_back_at * p.countermovement_time
        at += [e["t0"], t_back, e["tto"] + 0.05, e["ttd"], e["tl"] + 0.1, e["tr"]]
        av += [0.05, -p.arm_back, p.arm_swing, 0.6 * p.arm_swing, 0.2, 0.05]
    lt.append(p.duration + 1.0)
    lv.append((0.0, 0.0))
    at.append(p.duration + 1.0)
    av.append(0.05)
    lean_dx = keyframes(np.array(lt), np.array(lv), t)
    return lean_dx[:, 0], lean_dx[:, 1], keyframes(np.array(at), np.array(av), t)


def generate_jumping(p: JumpParams, skel: Skeleton) -> Clip:
    """Counter-movement, push-off, ballistic flight (pelvis z'' = -g exactly), landing on the
    forefoot, recovery (labels 'standing' / 'jumping')."""
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    T = len(t)
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
    if not 0.0 < p.heel_drop_time < p.landing_time:
        raise ValueError(f"{p.name}: heel_drop_time must be in (0, landing_time), got {p.heel_drop_time}")
    ev = _events(p, tf)
    lean, dx, sh = _upper_body_tracks(p, ev, t)
    pel_lean = 0.6
    R_root = root_rotation(flex=pel_lean * lean)
    x = dx + 0.3 * p_sw[:, 0]

    # Take-off height: knees flexed by takeoff_knee, feet pitched takeoff_pitch toes-down.
    z_to = np.inf
    i_to = [int(round(e["tto"] * p.fps)) for e in ev]
    for side in SIDES:
        ankle = feet.foot[side].pose(feet.heel[side][None], np.array([-p.takeoff_pitch]))[0][0]
        d = leg_reach(skel, side, p.takeoff_knee)
        for i in i_to:
            hip = R_root[i] @ skel.offset(f"{side}_hip", "pelvis")
            r2 = (ankle[0] - x[i] - hip[0]) ** 2 + (ankle[1] - hip[1]) ** 2
            z_to = min(z_to, ankle[2] + np.sqrt(d ** 2 - r2) - hip[2])
    z = np.full(T, h)
    flight = np.zeros(T, bool)
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
        upper.update(arm_rotations(side, flex=sh, abd=0.15,
                                   elbow=0.3 + 0.2 * np.clip(sh, 0, None) / max(p.arm_swing, 1e-6)))
    rise = _heel_rise(p, ev, t, flight)
    free = {side: _flight_leg(p, skel, side, feet, R_root, p_pel, rise, flight) for side in SIDES}
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper, free=free, max_heel_rise=p.takeoff_pitch + 0.3,
                 heel_rise=rise, ankle_tau=p.ankle_tau, ankle_world=True)
    labels = span_labels(t, "standing", [(e["t0"], e["tr"], p.label) for e in ev])
    info = {"flight": flight, "takeoff_height": float(z_to)}
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start, info=info)


def _heel_rise(p: JumpParams, ev: list[dict], t: np.ndarray, flight: np.ndarray) -> np.ndarray:
    """Toes-down foot pitch (T,) rad of the planted feet: a cubic Hermite through the second half of
    the push-off from flat (at rest) to ``takeoff_pitch`` turning at ``takeoff_rate`` at take-off,
    and its mirror image from touch-down to heels down within ``heel_drop_time``; held at
    ``takeoff_pitch`` in the air.  The feet thus leave and meet the floor rolling over the toe
    tips at a moderate rate, which the flight phase carries on smoothly."""
    rise = np.zeros(len(t))
    tp, rate = p.takeoff_pitch, p.takeoff_rate
    for e in ev:
        dur = 0.5 * p.push_time
        m = (t >= e["tto"] - dur) & (t < e["tto"])
        rise[m] = hermite(np.zeros(1), np.zeros(1), np.array([tp]), np.array([rate]),
                          (t[m] - e["tto"] + dur) / dur, dur)[:, 0]
        m = (t >= e["ttd"]) & (t < e["ttd"] + p.heel_drop_time)
        rise[m] = hermite(np.array([tp]), np.array([-rate]), np.zeros(1), np.zeros(1),
                          (t[m] - e["ttd"]) / p.heel_drop_time, p.heel_drop_time)[:, 0]
        rise[flight & (t >= e["tto"]) & (t < e["ttd"])] = tp
    return rise


def _flight_leg(p: JumpParams, skel: Skeleton, side: str, feet, R_root: np.ndarray, p_pel: np.ndarray,
                rise: np.ndarray, flight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flight mask (T,), ankle target (T, 3), knee flexion (T,)) of one leg.

    In each flight the ankle follows, relative to the pelvis, quintics that match its position and
    velocity at take-off and touch-down (on the toe tip, rolling at the heel-rise rate), and the
    knee follows :func:`virtimu.motion.swing.fill_knee` from its take-off state to ``tuck_knee``
    in mid-air and into its touch-down state; the ankle is placed on the ray from the hip
    towards the path at the distance that knee gives.
    """
    fps = p.fps
    T = len(rise)
    f = feet.foot[side]
    ankle, _, _ = f.pose(np.broadcast_to(feet.heel[side], (T, 3)), -rise)
    hip = p_pel + R_root @ skel.offset(f"{side}_hip", "pelvis")
    u = skel.offset(f"{side}_knee", f"{side}_hip")
    v = skel.offset(f"{side}_ankle", f"{side}_knee")
    planted = ~flight
    knee = np.full(T, np.nan)
    knee[planted] = knee_flexion_for_distance(u, v, np.linalg.norm(ankle[planted] - hip[planted], axis=1))
    knee = fill_knee(knee, planted, fps, p.tuck_knee, 0.5, reversal=0.08)
    rel = ankle - p_pel
    path = ankle.copy()
    idx = np.flatnonzero(planted)
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        ta, tb = a / fps, b / fps
        tt = np.arange(a + 1, b) / fps
        va = (rel[a] - rel[a - 1]) * fps
        vb = (rel[b + 1] - rel[b]) * fps
        for c in range(3):
            path[a + 1: b, c] = p_pel[a + 1: b, c] + quintic(tt, ta, tb, (rel[a, c], va[c], 0.0), (rel[b, c], vb[c], 0.0))
    target = ankle.copy()
    target[flight] = place_ankles(path[flight], hip[flight], knee[flight], skel, side)
    return flight, target, knee
