"""Static postures (standing, sitting, lying on a bed) and the transitions between them.

One generator, :func:`generate_posture`, makes a clip that holds a start posture, optionally
moves to an end posture and holds it.  The scene, facing world +x: the feet stand on the floor;
a seat (a chair, or the edge of a bed) of height ``seat_height`` is behind them; lying is supine
on a bed surface of the same height, the body turned by ``lie_turn`` about the vertical (one
sits on the bed's edge, lies back and swings the legs up onto the bed -- the HAPT waist
sensor turns by ~50-60 deg about the vertical in sit-to-lie).

How a clip is built:

1. Key postures (stand, sit, lie) as values of named channels: pelvis position, pelvis
   orientation (forward tilt, side bend, turn about the vertical, roll about the long axis),
   spine and head angles, arm angles, the weight of the lying legs and of the surface contact.
   Each transition is a short sequence of intermediate keys in normalised time (stand-to-sit
   and sit-to-stand after :mod:`virtimu.motion.sitting`: lean forward, move the hips back/down
   or forward/up; sit-to-lie: lean back with the arms supporting, turn, lift the legs; lie-to-sit
   is its reverse; stand-to-lie and lie-to-stand chain the two).  All channels are monotone
   cubic (C1) key-frame tracks.
2. On the seat or bed the pelvis is placed by its contact: the lowest back-of-trunk points
   (ischia, sacrum, lumbar spine, scapulae, back of the head) rest on the surface (a soft
   minimum) and roll on it without slipping.
3. Feet on the floor: the legs from IK (:func:`virtimu.motion.standing.drive`, heels rise where
   needed).  Lying: the legs follow key-framed angles; while they lift off, the IK and key-framed
   leg rotations are blended with a smooth weight, so every joint path stays C1.
4. Postural sway (band-limited, per posture), breathing while lying and occasional fidgets
   (smooth bumps of trunk, head, arm or weight-shift channels, only while a posture is held)
   make the static postures not perfectly still.

Angles in radians, lengths in metres, times in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.kinematics import forward_kinematics
from virtimu.motion import anatomy as an
from virtimu.motion.clip import Clip, assemble, make_clip
from virtimu.motion.curves import (
    keyframes,
    smoothstep,
    so3_exp,
    so3_log,
    soft_min,
    sway,
)
from virtimu.motion.posture import (
    arm_rotations,
    body_sway,
    root_rotation,
    span_labels,
    spine_rotations,
    time_grid,
)
from virtimu.motion.skeleton import J, Skeleton
from virtimu.motion.standing import SIDES, drive, standing_feet, standing_height

#: Posture names.
POSTURES = ("stand", "sit", "lie")
_POSTURE_LABEL = {"stand": "standing", "sit": "sitting", "lie": "lying"}
#: Channels of the key-frame tracks.
CHANNELS = ("px", "pz", "flex", "bend", "turn", "roll", "spine_flex", "spine_bend", "spine_turn", "head_flex",
            "head_turn", "sh_flex_l", "sh_abd_l", "elbow_l", "sh_flex_r", "sh_abd_r", "elbow_r", "legs", "free",
            "contact", "w_stand", "w_sit", "w_lie")
_TRUNK_POINTS = ("left_ischium", "right_ischium", "sacrum", "lumbar", "left_scapula", "right_scapula", "head_back")
_LEG_JOINTS = ("hip", "knee", "ankle", "foot")
#: Width (m) of the soft minimum over the trunk's contact points: the contact passes smoothly from
#: the buttocks to the back (a few cm of soft tissue), so the pelvis path has no kinks.
_CONTACT_SOFT = 0.02
_PELVIS_SHARE = 0.65  # share of the forward trunk lean taken by the hips in sit <-> stand (as sitting.py)


@dataclass
class PostureParams:
    """A held posture, or a transition between two held postures.

    start / end: 'stand' | 'sit' | 'lie' (equal: a static clip).
    labels: (start, transition, end) frame-label names (None: e.g. 'sitting', 'sit_to_lie',
        'lying'); the transition label covers [transition_at, transition_at + transition_time).
    transition_at, transition_time: the labelled transition (s); the motion itself runs from
        ``motion_margin[0]`` to ``1 - motion_margin[1]`` of that span.
    sit_share: in stand <-> lie, the share of the motion spent between standing and sitting.
    seat_height: seat / bed surface above the floor (m); sink: how far the body sinks into it (m).
    seat_depth: hip joints behind the ankles when seated (m, None: from the thigh length).
    sit_tilt: backward (posterior) tilt of the pelvis when seated (rad); seated_lean: forward lean
        of the thorax when seated (rad, the spine takes sit_tilt + seated_lean).
    trunk_lean: largest forward trunk lean while sitting down / standing up (rad).
    lie_turn: turn about the vertical from sitting to lying (rad, + to the left: the head ends
        towards the body's right); lie_roll: roll about the long axis when lying (rad);
        lie_tilt: trunk short of horizontal when lying (rad, head up); lie_head: head flexion when
        lying (rad); lie_knee: knee flexion of the lying legs (rad); lie_leg_lift: hip flexion (rad)
        beyond the one that rests the backs of the legs on the bed.
    stance_width / toe_out / knee: the standing feet and knee flexion.
    stand_sway, sit_sway, lie_sway: RMS postural sway of each posture (m of pelvis motion;
        trunk angles follow); fidget_rate: fidgets per second while a posture is held;
        breathing_rate (Hz) / breathing_depth (rad of spine motion) while lying.
    arms: 'relaxed' standing arm posture (shoulder abduction, elbow flexion, rad).
    """

    start: str = "stand"
    end: str = "stand"
    duration: float = 8.0
    fps: float = 50.0
    seed: int = 0
    heading: float = 0.0
    start_xy: tuple[float, float] = (0.0, 0.0)
    labels: tuple[str, str, str] | None = None
    transition_at: float = 2.5
    transition_time: float = 3.0
    motion_margin: tuple[float, float] = (0.04, 0.04)
    sit_share: float = 0.45
    seat_height: float = 0.46
    sink: float = 0.015
    seat_depth: float | None = None
    sit_tilt: float = 0.30
    seated_lean: float = 0.05
    trunk_lean: float = 0.75
    lie_turn: float = 1.3
    lie_roll: float = 0.0
    lie_tilt: float = 0.05
    lie_head: float = 0.25
    lie_leg_lift: float = 0.0
    lie_knee: float = 0.10
    stance_width: float | None = 0.22
    toe_out: float = 0.15
    knee: float = 0.06
    arm_abduction: float = 0.12
    elbow_flex: float = 0.25
    stand_sway: float = 0.004
    sit_sway: float = 0.002
    lie_sway: float = 0.001
    fidget_rate: float = 0.1
    breathing_rate: float = 0.25
    breathing_depth: float = 0.012
    name: str = "posture"
    label: str = "posture"


# ----------------------------------------------------------------------------- key postures
def _check(p: PostureParams) -> None:
    for what in (p.start, p.end):
        if what not in POSTURES:
            raise ValueError(f"{p.name}: posture must be one of {POSTURES}, got {what!r}")
    if p.start != p.end:
        if p.transition_time <= 0 or p.transition_at < 0 or p.transition_at + p.transition_time > p.duration:
            raise ValueError(f"{p.name}: the transition [{p.transition_at}, {p.transition_at + p.transition_time}] s "
                             f"must lie within the clip (duration {p.duration} s)")
        if min(p.motion_margin) < 0 or sum(p.motion_margin) >= 0.9:
            raise ValueError(f"{p.name}: motion_margin must be >= 0 and sum below 0.9, got {p.motion_margin}")
    if not 0.1 < p.sit_share < 0.9:
        raise ValueError(f"{p.name}: sit_share must be in (0.1, 0.9), got {p.sit_share}")


class _Scene:
    """Geometry shared by the key postures of one clip (body facing +x, pelvis over the origin
    when standing)."""

    def __init__(self, p: PostureParams, skel: Skeleton):
        self.p, self.skel = p, skel
        self.feet = standing_feet(skel, p.stance_width, p.toe_out)
        self.h_stand = standing_height(skel, self.feet, p.knee + 0.04)
        names, idx, off = skel.back_points()
        keep = [names.index(n) for n in _TRUNK_POINTS]
        self.pt_joint, self.pt_off = idx[keep], off[keep]
        ankle_x = float(np.mean([self.feet.foot[s].ankle_flat(self.feet.heel[s])[0] for s in SIDES]))
        depth = p.seat_depth if p.seat_depth is not None else 0.97 * skel.leg_lengths("left")[0] - 0.02
        R_sit = root_rotation(flex=-p.sit_tilt)
        mid = 0.5 * (skel.offset("left_hip", "pelvis") + skel.offset("right_hip", "pelvis"))
        self.x_sit = ankle_x - depth + (R_sit @ (-mid))[0]
        self.stand = self._stand()
        self.sit = self._sit()
        self.lie = self._lie()
        for k in (self.sit, self.lie):
            k["pz"] = float(self.surface_z(self._base_R(k)[None], self._spine(k))[0])
        self.lie_hip_flex = self._resting_hip_flex() + p.lie_leg_lift

    def _resting_hip_flex(self) -> float:
        """Hip flexion (rad) at which the lowest back-of-leg point (calves, heels) of the lying body
        is as low as its trunk: the legs rest on the bed (bisection; flexing lifts the legs)."""
        names, idx, off = self.skel.back_points()
        legs = [i for i, n in enumerate(names) if "calf" in n or "heel" in n]
        trunk = [names.index(n) for n in _TRUNK_POINTS]
        k = self.lie
        R0 = self._base_R(k)[None]

        def gap(flex: float) -> float:
            R = assemble(1, {"pelvis": R0, **self._spine(k), **_lying_legs(self.p, flex)})
            st = forward_kinematics(R, self.skel.rest_joints, self.skel.parents, None)
            z = (st.p[0, idx] + np.einsum("pab,pb->pa", st.R[0, idx], off))[:, 2]
            return float(z[legs].min() - z[trunk].min())
        lo, hi = -0.4, 0.8
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
        return 0.5 * (lo + hi)

    def _stand(self) -> dict:
        p = self.p
        return dict(px=0.0, pz=self.h_stand, flex=0.0, bend=0.0, turn=0.0, roll=0.0, spine_flex=0.0, spine_bend=0.0,
                    spine_turn=0.0, head_flex=0.0, head_turn=0.0, sh_flex_l=0.05, sh_abd_l=p.arm_abduction,
                    elbow_l=p.elbow_flex, sh_flex_r=0.05, sh_abd_r=p.arm_abduction, elbow_r=p.elbow_flex,
                    legs=0.0, free=0.0, contact=0.0, w_stand=1.0, w_sit=0.0, w_lie=0.0)

    def _sit(self) -> dict:
        p = self.p
        out = self._stand()
        out.update(px=self.x_sit, flex=-p.sit_tilt, spine_flex=p.sit_tilt + p.seated_lean,
                   head_flex=-0.3 * p.seated_lean,
                   sh_flex_l=0.45, sh_abd_l=0.18, elbow_l=1.0, sh_flex_r=0.45, sh_abd_r=0.18, elbow_r=1.0,
                   w_stand=0.0, w_sit=1.0)
        return out

    def _lie(self) -> dict:
        p = self.p
        out = self._stand()
        out.update(px=self.x_sit, flex=-np.pi / 2 + p.lie_tilt, turn=p.lie_turn, roll=p.lie_roll, head_flex=p.lie_head,
                   sh_flex_l=0.0, sh_abd_l=0.22, elbow_l=0.25, sh_flex_r=0.0, sh_abd_r=0.22, elbow_r=0.25,
                   legs=1.0, free=1.0, contact=1.0, w_stand=0.0, w_lie=1.0)
        return out

    # -- trunk on the surface
    @staticmethod
    def _spine(k: dict) -> dict:
        return spine_rotations(flex=np.array([k["spine_flex"]]), bend=np.array([k["spine_bend"]]),
                               turn=np.array([k["spine_turn"]]), head_flex=np.array([k["head_flex"]]),
                               head_turn=np.array([k["head_turn"]]))

    @staticmethod
    def _base_R(k: dict) -> np.ndarray:
        return root_rotation(flex=k["flex"], bend=k["bend"], turn=k["turn"]) @ an.rot_y(k["roll"])

    def trunk_points(self, R_root: np.ndarray, spine: dict) -> np.ndarray:
        """Back-of-trunk points (T, P, 3) relative to the pelvis joint for root rotations (T, 3, 3)
        and spine / neck / head rotations."""
        T = len(R_root)
        R = assemble(T, {"pelvis": R_root, **{k: v for k, v in spine.items() if k in J}})
        st = forward_kinematics(R, self.skel.rest_joints, self.skel.parents, -self.skel.rest_joints[0][None])
        return st.p[:, self.pt_joint] + np.einsum("tpab,pb->tpa", st.R[:, self.pt_joint], self.pt_off)

    def surface_z(self, R_root: np.ndarray, spine: dict | None = None) -> np.ndarray:
        """Pelvis height (T,) at which the trunk (root rotations (T, 3, 3)) rests on the seat / bed."""
        pts = self.trunk_points(R_root, spine or {})
        return self.p.seat_height - self.p.sink - soft_min(pts[..., 2], _CONTACT_SOFT)

    def rolling_xy(self, R_root: np.ndarray, spine: dict, ref: int) -> np.ndarray:
        """Horizontal pelvis displacement (T, 2) that rolls the trunk on the surface without slipping,
        zero at frame ``ref``: the pelvis moves against the (soft-min weighted) contact points."""
        pts = self.trunk_points(R_root, spine)
        z = pts[..., 2]
        w = np.exp(-(z - z.min(axis=1, keepdims=True)) / _CONTACT_SOFT)
        w /= w.sum(axis=1, keepdims=True)
        step = np.einsum("tk,tkc->tc", w[:-1], pts[1:, :, :2] - pts[:-1, :, :2])
        cum = np.concatenate([np.zeros((1, 2)), -np.cumsum(step, axis=0)], axis=0)
        return cum - cum[ref]


def _mix(a: dict, b: dict, s: float, **over) -> dict:
    out = {k: (1.0 - s) * a[k] + s * b[k] for k in a}
    out.update(over)
    return out


def _seat_lean(L: float, frac: float, reach: float) -> dict:
    """Channels of leaning over the seat: ``frac`` of the trunk lean ``L`` (rad), arms reaching by ``reach``."""
    S = _PELVIS_SHARE
    return dict(flex=S * frac * L, spine_flex=(1 - S) * frac * L, head_flex=-0.6 * frac * L,
                sh_flex_l=0.05 + 0.5 * reach, sh_flex_r=0.05 + 0.5 * reach,
                elbow_l=0.25 + 0.35 * reach, elbow_r=0.25 + 0.35 * reach)


def _stand_to_sit(sc: _Scene) -> list[tuple[float, dict]]:
    """Keys (normalised time, channels) from standing to sitting (after sitting.py's timing)."""
    st, si, L = sc.stand, sc.sit, sc.p.trunk_lean
    h, zs, xs = st["pz"], si["pz"], si["px"]
    return [
        (0.0, st),
        (0.30, _mix(st, si, 0.0, px=0.25 * xs, pz=h - 0.12 * (h - zs), w_stand=0.5, **_seat_lean(L, 0.7, 0.7))),
        (0.60, _mix(st, si, 0.0, px=0.75 * xs, pz=zs + 0.30 * (h - zs), w_stand=0.0, **_seat_lean(L, 1.0, 1.0))),
        (0.85, _mix(st, si, 0.5, px=0.98 * xs, pz=zs + 0.02, w_stand=0.0, w_sit=0.3, **{
            k: 0.5 * v + 0.5 * si[k] for k, v in _seat_lean(L, 0.5, 0.5).items()})),
        (1.0, si),
    ]


def _sit_to_stand(sc: _Scene) -> list[tuple[float, dict]]:
    """Keys from sitting to standing: lean forward on the seat, lift off, extend (sitting.py's timing)."""
    st, si, L = sc.stand, sc.sit, sc.p.trunk_lean
    h, zs, xs = st["pz"], si["pz"], si["px"]
    return [
        (0.0, si),
        (0.30, _mix(si, st, 0.0, px=xs, pz=zs, w_sit=0.3, **_seat_lean(L, 0.9, 0.9))),
        (0.45, _mix(si, st, 0.0, px=0.93 * xs, pz=zs + 0.05, w_sit=0.0, **_seat_lean(L, 1.0, 1.0))),
        (0.75, _mix(si, st, 1.0, px=0.35 * xs, pz=h - 0.15 * (h - zs), w_stand=0.5, **_seat_lean(L, 0.5, 0.5))),
        (1.0, st),
    ]


def _sit_to_lie(sc: _Scene) -> list[tuple[float, dict]]:
    """Keys from sitting on the bed's edge to lying on it: lean back onto the arms, turn, lift the
    legs (lagging the trunk, so the thighs never drop below the seat), lie down."""
    si, li = sc.sit, sc.lie
    side = np.sign(sc.p.lie_turn) or 1.0
    support = dict(sh_flex_l=-0.35, sh_abd_l=0.35, elbow_l=0.45, sh_flex_r=-0.35, sh_abd_r=0.35, elbow_r=0.45)
    return [
        (0.0, si),
        (0.2, _mix(si, li, 0.06, legs=0.0, free=0.8, contact=0.5, bend=0.08 * side, w_sit=0.3, w_lie=0.0,
                   head_flex=0.1, **support)),
        (0.5, _mix(si, li, 0.5, legs=0.3, free=1.0, contact=1.0, bend=0.06 * side, w_sit=0.0, w_lie=0.0,
                   head_flex=0.45, **support)),
        (0.8, _mix(si, li, 0.92, legs=0.85, free=1.0, contact=1.0, w_sit=0.0, w_lie=0.3, head_flex=0.4)),
        (1.0, li),
    ]


def _reverse(keys: list[tuple[float, dict]]) -> list[tuple[float, dict]]:
    return [(1.0 - s, k) for s, k in reversed(keys)]


def _chain(a: list, b: list, share: float) -> list[tuple[float, dict]]:
    """Keys of ``a`` on [0, share] then ``b`` on [share, 1] (the shared key once)."""
    return [(share * s, k) for s, k in a] + [(share + (1 - share) * s, k) for s, k in b[1:]]


def transition_keys(sc: _Scene, start: str, end: str) -> list[tuple[float, dict]]:
    """Keys (normalised time in [0, 1], channel values) of the transition ``start`` -> ``end``."""
    s2s, s2l = _stand_to_sit(sc), _sit_to_lie(sc)
    share = sc.p.sit_share
    table = {
        ("stand", "sit"): lambda: s2s,
        ("sit", "stand"): lambda: _sit_to_stand(sc),
        ("sit", "lie"): lambda: s2l,
        ("lie", "sit"): lambda: _reverse(s2l),
        ("stand", "lie"): lambda: _chain(s2s, s2l, share),
        ("lie", "stand"): lambda: _chain(_reverse(s2l), _sit_to_stand(sc), 1 - share),
    }
    return table[(start, end)]()


# ----------------------------------------------------------------------------- variation
def _fidgets(t: np.ndarray, rng: np.random.Generator, rate: float, channels: dict[str, float]) -> dict[str, np.ndarray]:
    """Occasional fidgets: smooth bumps (rise, hold, return; 0.3-1 s ramps) of random channels with
    amplitudes up to ``channels[name]``, at Poisson times of ``rate`` per second.  {channel: (T,)}."""
    out = {k: np.zeros(len(t)) for k in channels}
    dur = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    n = int(rng.poisson(rate * (dur + 2.0)))
    names = list(channels)
    for _ in range(n):
        k = names[int(rng.integers(len(names)))]
        t0 = rng.uniform(t[0] - 1.0, t[-1])
        ramp, hold = rng.uniform(0.3, 1.0), rng.uniform(0.2, 2.0)
        amp = channels[k] * rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0])
        out[k] += amp * (smoothstep((t - t0) / ramp) - smoothstep((t - t0 - ramp - hold) / ramp))
    return out


def _variation(t: np.ndarray, rng: np.random.Generator, p: PostureParams, v: dict) -> dict[str, np.ndarray]:
    """Additive sway / breathing / fidget tracks (T,) per channel, weighted by the held postures."""
    T = len(t)
    add = {k: np.zeros(T) for k in CHANNELS}
    add["py"] = np.zeros(T)
    still = {"stand": v["w_stand"], "sit": v["w_sit"], "lie": v["w_lie"]}
    s = body_sway(t, rng, p.stand_sway)
    w = still["stand"]
    add["px"] += w * s["x"]
    add["py"] += w * s["y"]
    add["flex"] += w * 0.5 * s["flex"]
    add["spine_flex"] -= w * 0.5 * s["flex"]
    add["turn"] += w * s["turn"]
    add["spine_turn"] -= w * 0.5 * s["turn"]
    add["head_flex"] += w * s["head_flex"]
    add["head_turn"] += w * s["head_turn"]
    w = still["sit"]
    a = p.sit_sway / 0.4  # trunk angle of a pelvis-level sway of sit_sway metres
    add["spine_flex"] += w * sway(t, rng, a)
    add["spine_bend"] += w * sway(t, rng, 0.6 * a)
    add["turn"] += w * sway(t, rng, 0.5 * a)
    add["head_flex"] += w * sway(t, rng, 2.0 * a, 0.05, 0.3)
    add["head_turn"] += w * sway(t, rng, 4.0 * a, 0.05, 0.3)
    w = still["lie"]
    a = p.lie_sway / 0.4
    phase = rng.uniform(0, 2 * np.pi)
    breath = p.breathing_depth * np.sin(2 * np.pi * p.breathing_rate * (1 + sway(t, rng, 0.05, 0.02, 0.1)) * t + phase)
    add["spine_flex"] += w * (-breath + sway(t, rng, a))
    add["flex"] += w * 0.2 * breath
    add["head_turn"] += w * sway(t, rng, 6.0 * a, 0.03, 0.2)
    add["roll"] += w * sway(t, rng, a, 0.03, 0.2)
    fid = {"stand": dict(turn=0.08, spine_flex=0.06, head_turn=0.3, head_flex=0.15, sh_flex_l=0.3, elbow_l=0.5,
                         sh_flex_r=0.3, elbow_r=0.5, py=0.02),
           "sit": dict(turn=0.08, spine_flex=0.1, spine_bend=0.05, head_turn=0.35, head_flex=0.15, sh_flex_l=0.25,
                       elbow_l=0.4, sh_flex_r=0.25, elbow_r=0.4, px=0.015),
           "lie": dict(head_turn=0.35, roll=0.08, sh_flex_l=0.3, elbow_l=0.5, sh_flex_r=0.3, elbow_r=0.5)}
    for posture, chans in fid.items():
        w = still[posture]
        if float(np.max(w)) < 0.5 or p.fidget_rate <= 0:
            continue
        for k, track in _fidgets(t, rng, p.fidget_rate, chans).items():
            add[k] += w * track
    return add


# ----------------------------------------------------------------------------- legs
def _slerp(A: np.ndarray, B: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Per-frame geodesic blend of rotations A and B ((T, 3, 3) or (3, 3)) by weights s (T,)."""
    A = np.broadcast_to(A, (len(s), 3, 3))
    B = np.broadcast_to(B, (len(s), 3, 3))
    return A @ so3_exp(np.asarray(s)[:, None] * so3_log(np.swapaxes(A, -1, -2) @ B))


def _lying_legs(p: PostureParams, hip_flex: float) -> dict[str, np.ndarray]:
    """Local rotations (3, 3) of the legs lying on the bed with hip flexion ``hip_flex`` (rad)."""
    out = {}
    for side in SIDES:
        out[f"{side}_hip"] = an.hip(side, flex=hip_flex, abd=0.05)
        out[f"{side}_knee"] = an.knee(side, flex=p.lie_knee)
        out[f"{side}_ankle"] = an.ankle(side, dorsi=-0.35)
        out[f"{side}_foot"] = np.eye(3)
    return out


def _legs(sc: _Scene, R: np.ndarray, v: dict, R_root: np.ndarray, p_pel: np.ndarray, upper: dict) -> np.ndarray:
    """Fill the leg joints of R (T, 24, 3, 3): IK on planted feet where ``free`` < 1, key-framed
    lying legs where ``free`` = 1, blended by ``free`` in between (in place; returns R)."""
    p = sc.p
    free, legs = v["free"], np.clip(v["legs"], 0.0, 1.0)
    ik = free < 1.0 - 1e-9
    lie = _lying_legs(p, sc.lie_hip_flex)
    if ik.any():
        idx = np.flatnonzero(ik)
        a, b = idx[0], idx[-1] + 1  # IK frames form one run (a transition has one lift-off or landing)
        upper_ik = {k: (x[a:b] if np.ndim(x) == 3 else x) for k, x in upper.items()}
        R_ik, _ = drive(sc.skel, p.fps, R_root[a:b], p_pel[a:b], sc.feet, upper_ik,
                        knee_min=0.03)
        R[a:b] = R_ik
    if not (free > 1e-9).any():
        return R
    lifted = free > 1e-9
    if ik.any():
        # Reference: the IK leg pose where the blend starts (legs lift at the end) or ends (they land).
        ref = int(np.flatnonzero(lifted)[0]) if lifted[-1] else int(np.flatnonzero(lifted)[-1])
        start = {k: R[ref, J[k]].copy() for k in lie}
    else:
        start = lie
    for k, target in lie.items():
        fk = _slerp(start[k], target, legs)
        R[lifted, J[k]] = _slerp(R[lifted, J[k]], fk[lifted], free[lifted]) if ik.any() else fk[lifted]
    return R


# ----------------------------------------------------------------------------- generator
def generate_posture(p: PostureParams, skel: Skeleton) -> Clip:
    """A held posture or a transition clip (see the module docstring); labels from ``p.labels``."""
    _check(p)
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    T = len(t)
    sc = _Scene(p, skel)
    state = {"stand": sc.stand, "sit": sc.sit, "lie": sc.lie}
    if p.start == p.end:
        keys = [(0.0, state[p.start]), (p.duration + 1.0, state[p.start])]
        t_ref = 0.0
    else:
        m0 = p.transition_at + p.motion_margin[0] * p.transition_time
        m1 = p.transition_at + (1.0 - p.motion_margin[1]) * p.transition_time
        norm = transition_keys(sc, p.start, p.end)
        keys = ([(-1.0, norm[0][1])] + [(m0 + s * (m1 - m0), k) for s, k in norm]
                + [(p.duration + 1.0, norm[-1][1])])
        # The rolling of the trunk on the surface is counted from the sitting key of the transition.
        sit_keys = [tk for tk, k in keys if k is sc.sit]
        t_ref = sit_keys[0] if sit_keys else 0.0
    times = np.array([tk for tk, _ in keys])
    v = {c: keyframes(times, np.array([k[c] for _, k in keys], dtype=np.float64), t) for c in CHANNELS}

    # Pelvis on the seat / bed: height and rolling from the trunk's contact (base posture, no sway).
    R_base = root_rotation(flex=v["flex"], bend=v["bend"], turn=v["turn"]) @ an.rot_y(v["roll"])
    spine_base = spine_rotations(flex=v["spine_flex"], bend=v["spine_bend"], turn=v["spine_turn"],
                                 head_flex=v["head_flex"], head_turn=v["head_turn"])
    c = v["contact"]
    px, py, pz = v["px"].copy(), np.zeros(T), v["pz"].copy()
    if (c > 1e-9).any():
        z_surf = sc.surface_z(R_base, spine_base)
        ref = int(np.clip(np.searchsorted(t, t_ref), 0, T - 1))
        roll = sc.rolling_xy(R_base, spine_base, ref)
        pz = (1.0 - c) * pz + c * z_surf
        px += c * roll[:, 0]
        py += c * roll[:, 1]

    add = _variation(t, rng, p, v)
    for k in CHANNELS:
        v[k] = v[k] + add[k]
    p_pel = np.stack([px + add["px"], py + add["py"], pz], axis=1)
    R_root = root_rotation(flex=v["flex"], bend=v["bend"], turn=v["turn"]) @ an.rot_y(v["roll"])
    upper = spine_rotations(flex=v["spine_flex"], bend=v["spine_bend"], turn=v["spine_turn"], head_flex=v["head_flex"],
                            head_turn=v["head_turn"])
    for side, s in (("left", "l"), ("right", "r")):
        upper.update(arm_rotations(side, flex=v[f"sh_flex_{s}"], abd=v[f"sh_abd_{s}"], elbow=v[f"elbow_{s}"]))
    R = assemble(T, {"pelvis": R_root, **upper})
    R = _legs(sc, R, v, R_root, p_pel, upper)

    a_lab, tr_lab, b_lab = p.labels or (_POSTURE_LABEL[p.start], f"{p.start}_to_{p.end}", _POSTURE_LABEL[p.end])
    if p.start == p.end:
        labels = [a_lab] * T
    else:
        labels = span_labels(t, a_lab, [(p.transition_at, p.transition_at + p.transition_time, tr_lab),
                                        (p.transition_at + p.transition_time, p.duration + 1.0, b_lab)])
    info = {"seat_height": p.seat_height, "seated_pelvis_z": sc.sit["pz"], "lying_pelvis_z": sc.lie["pz"],
            "standing_pelvis_z": sc.h_stand}
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start_xy, info=info)
