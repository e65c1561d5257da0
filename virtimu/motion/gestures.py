"""Standing activities: quiet standing, waving one hand and slow arm stretches.

Parameter dataclasses (durations in s, lengths in m, angles in rad, frequencies in Hz) and
generators ``generate_<activity>(params, skel) -> Clip``; the feet stay planted (legs from IK).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.motion.clip import Clip, make_clip
from virtimu.motion.curves import keyframes, smoothstep, sway
from virtimu.motion.posture import arm_rotations, quiet_standing, span_labels, spine_rotations, time_grid
from virtimu.motion.skeleton import Skeleton
from virtimu.motion.standing import SIDES, drive


@dataclass
class StandParams:
    """Standing still with natural postural sway.

    sway: RMS of the pelvis's front-back sway (m; sideways 0.6 of it), band 0.1-0.6 Hz.
    stance_width: distance between the ankles (m, None: hip width); toe_out: each foot (rad).
    knee: knee flexion (rad); arm_abduction / elbow_flex: relaxed arms (rad).
    """

    duration: float = 8.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    sway: float = 0.005
    stance_width: float | None = None
    toe_out: float = 0.12
    knee: float = 0.06
    arm_abduction: float = 0.12
    elbow_flex: float = 0.25
    name: str = "standing"
    label: str = "standing"


def generate_standing(p: StandParams, skel: Skeleton) -> Clip:
    """Quiet standing (label 'standing')."""
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    feet, p_pel, R_root, spine = quiet_standing(p, skel, t, rng, p.sway)
    arm_sw = sway(t, rng, 0.03, 0.1, 0.4)
    upper = {**spine}
    for side in SIDES:
        upper.update(arm_rotations(side, flex=0.05 + arm_sw, abd=p.arm_abduction, elbow=p.elbow_flex + 0.5 * arm_sw))
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper)
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, [p.label] * len(t), p.heading, p.start)


# ----------------------------------------------------------------------------- waving
@dataclass
class WaveParams:
    """Standing and waving one hand above the shoulder.

    side: waving arm; frequency / amplitude: forearm waving side to side (Hz / rad of elbow motion);
    raise_at / raise_time / wave_time / lower_time: timeline (s); arm_abduction, ext_rot and
    elbow_flex: the raised-arm posture (rad).
    """

    duration: float = 8.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    side: str = "right"
    frequency: float = 2.0
    amplitude: float = 0.35
    raise_at: float = 1.2
    raise_time: float = 0.7
    wave_time: float = 4.0
    lower_time: float = 0.8
    arm_abduction: float = 1.75
    ext_rot: float = 1.35
    elbow_flex: float = 1.45
    sway: float = 0.004
    stance_width: float | None = None
    toe_out: float = 0.12
    knee: float = 0.06
    name: str = "waving"
    label: str = "waving"


def generate_waving(p: WaveParams, skel: Skeleton) -> Clip:
    """Raise the arm, wave the forearm, lower it (labels 'standing' / 'waving')."""
    if p.side not in SIDES:
        raise ValueError(f"{p.name}: side must be 'left' or 'right', got {p.side!r}")
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    feet, p_pel, R_root, spine = quiet_standing(p, skel, t, rng, p.sway)
    t0, t1 = p.raise_at, p.raise_at + p.raise_time
    t2, t3 = t1 + p.wave_time, t1 + p.wave_time + p.lower_time
    times = [0.0, t0, t1, t2, t3, max(t3, p.duration)]
    up = keyframes(times, [0, 0, 1, 1, 0, 0], t)
    ramp = smoothstep((t - t1 + 0.15) / 0.3) * (1 - smoothstep((t - t2 + 0.15) / 0.3))
    wave = ramp * np.sin(2 * np.pi * p.frequency * (t - t1))
    w = p.side
    arm = arm_rotations(w, flex=0.05 + 0.25 * up, abd=0.12 + (p.arm_abduction - 0.12) * up + 0.15 * p.amplitude * wave,
               ext_rot=p.ext_rot * up, elbow=0.25 + (p.elbow_flex - 0.25) * up + p.amplitude * wave,
               wrist=0.1 + 0.5 * p.amplitude * wave, elev=0.2 * up)
    other = "left" if w == "right" else "right"
    upper = {**spine, **arm, **arm_rotations(other)}
    # A glance at the hand: turn the head towards the waving side.
    upper.update(spine_rotations(turn=0.0, head_turn=0.25 * up * (1 if w == "left" else -1), head_flex=-0.05 * up))
    for n in ("spine1", "spine2", "spine3"):
        upper[n] = spine[n]
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper)
    labels = span_labels(t, "standing", [(t0, t3, p.label)])
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start)


# ----------------------------------------------------------------------------- arm stretching
@dataclass
class StretchParams:
    """Slow arm stretches: both arms overhead, then out to the sides and back.

    begin: start of the first movement (s); speed: time scale (1 = default timing, 2 = twice as slow);
    overhead: shoulder flexion overhead (rad); back_stretch: horizontal extension in the side stretch.
    """

    duration: float = 9.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    begin: float = 0.8
    speed: float = 1.0
    overhead: float = 2.9
    back_stretch: float = 0.35
    sway: float = 0.004
    stance_width: float | None = None
    toe_out: float = 0.12
    knee: float = 0.06
    name: str = "arm_stretching"
    label: str = "arm_stretching"


def generate_arm_stretching(p: StretchParams, skel: Skeleton) -> Clip:
    """Arms overhead, hold, out to the sides, stretch back, lower (labels 'standing' / 'arm_stretching')."""
    rng = np.random.default_rng(p.seed)
    t = time_grid(p.duration, p.fps)
    feet, p_pel, R_root, spine = quiet_standing(p, skel, t, rng, p.sway)
    # (time, shoulder flex, abd, ext_rot, elbow, collar elevation, spine flex, head flex)
    k = np.array([
        (0.0, 0.05, 0.12, 0.0, 0.25, 0.0, 0.0, 0.0),
        (0.0, 0.05, 0.12, 0.0, 0.25, 0.0, 0.0, 0.0),
        (1.6, p.overhead, 0.25, 0.3, 0.08, 0.35, -0.10, -0.15),
        (3.0, p.overhead + 0.05, 0.25, 0.3, 0.05, 0.40, -0.14, -0.20),
        (4.4, 0.0, 1.57, 0.4, 0.08, 0.10, 0.0, 0.0),
        (5.4, -p.back_stretch, 1.57, 0.6, 0.05, 0.05, -0.05, -0.05),
        (6.4, -p.back_stretch - 0.05, 1.57, 0.6, 0.05, 0.05, -0.06, -0.05),
        (7.8, 0.05, 0.12, 0.0, 0.25, 0.0, 0.0, 0.0),
    ])
    times = p.begin + p.speed * k[:, 0]
    times[0] = 0.0
    if times[-1] > p.duration:
        raise ValueError(f"{p.name}: the stretches need {times[-1]:.1f} s, duration is {p.duration} s")
    v = keyframes(np.append(times, p.duration + 1.0), np.vstack([k[:, 1:], k[-1:, 1:]]), t)
    upper = dict(spine)
    trunk = spine_rotations(flex=v[:, 5], head_flex=v[:, 6])
    for n in ("spine1", "spine2", "spine3", "neck", "head"):
        upper[n] = trunk[n] @ spine[n]
    for side in SIDES:
        upper.update(arm_rotations(side, flex=v[:, 0], abd=v[:, 1], ext_rot=v[:, 2], elbow=v[:, 3], elev=v[:, 4]))
    R, _ = drive(skel, p.fps, R_root, p_pel, feet, upper)
    labels = span_labels(t, "standing", [(times[1], times[-1], p.label)])
    return make_clip(p.name, p.label, p, skel, p.fps, R, p_pel, labels, p.heading, p.start)
