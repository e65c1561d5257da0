"""Randomised procedural clips of the 12 UCI HAPT activities, for synthetic pretraining.

One call makes one labelled clip::

    clip = generate_clip("WALKING_UPSTAIRS", seed=7)         # 8 s at 50 Hz
    motion = clip.to_motion()                                 # labels in the hapt12 codes
    for clip in generate_clips(HAPT_ACTIVITIES, 200, seed=0, workers=2): ...

Every clip is drawn from the documented ranges of a :class:`Randomization`
(:func:`sample_params` returns the draw as an :class:`ActivityParams`): gait
speed, cadence, arm swing, trunk lean, sway, stair rise and run, seat and bed
height, transition durations, heading, and the body shape.  The body shape is
a set of betas of the default body (``virtimu/assets/body``): the skeleton the
legs are solved on is built from that shaped body's rest joints and soles, and
the betas travel with the clip (``Clip.betas`` -> ``Motion.betas`` -> the
synthesis poses the same shaped body), so the feet stay on the floor for
every shape.  Sensor-mounting variation is not done here; it belongs to the
synthesis (``virtimu.sensors.placement.jitter_sites``).

Per-frame labels are the hapt12 names; a transition clip holds the start
posture, makes the transition and holds the end posture, labelled e.g.
``STANDING ... STAND_TO_SIT ... SITTING``.  Everything is deterministic given
the seed.  Units: metres, seconds, radians.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from virtimu.motion.clip import N_BETAS, Clip
from virtimu.motion.gait import WalkParams, generate_gait
from virtimu.motion.skeleton import Skeleton, approximate_skeleton
from virtimu.motion.stairs import StairParams, generate_stairs, stair_params
from virtimu.motion.transitions import PostureParams, generate_posture

log = logging.getLogger(__name__)

#: The 12 HAPT activities in code order 1..12 (names of the 'hapt12' label space).
HAPT_ACTIVITIES: tuple[str, ...] = (
    "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING",
    "STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND",
)
#: {code: name} of the hapt12 label space (0 = null), as in ``assets/labels/maps/label_maps.yaml``.
HAPT12_LABEL_MAP: dict[int, str] = {0: "null", **{i + 1: n for i, n in enumerate(HAPT_ACTIVITIES)}}
#: The postural transitions: name -> (start posture class, end posture class).
TRANSITIONS: dict[str, tuple[str, str]] = {
    "STAND_TO_SIT": ("STANDING", "SITTING"), "SIT_TO_STAND": ("SITTING", "STANDING"),
    "SIT_TO_LIE": ("SITTING", "LAYING"), "LIE_TO_SIT": ("LAYING", "SITTING"),
    "STAND_TO_LIE": ("STANDING", "LAYING"), "LIE_TO_STAND": ("LAYING", "STANDING"),
}
#: Names of the body-shape components of the default body (``virtimu/assets/body/README.md``).
BETA_NAMES: tuple[str, ...] = (
    "stature", "girth", "leg_length", "shoulder_width", "hip_width", "arm_length", "belly", "head_size",
    "chest_depth", "neck_length", "lower_body_girth", "arm_girth", "calf_girth", "foot_length", "hand_size",
    "trunk_depth",
)

Range = tuple[float, float]


@dataclass
class Randomization:
    """Ranges of the domain randomisation; every ``(lo, hi)`` is drawn uniformly.

    Level walking (defaults span slow to brisk adult walking, ~0.9-1.6 m/s at 96-126
    steps/min):
        walk_speed (m/s), walk_cadence (steps/s), walk_step_length (m, speed / cadence; draws
        outside are redrawn; scaled with the leg length of the drawn body), walk_arm_swing (rad,
        shoulder flexion amplitude), walk_elbow (rad, mean elbow flexion), walk_trunk_lean (rad,
        forward), walk_lateral (m, pelvis sway), walk_step_width (m), walk_foot_angle (rad,
        toe-out), walk_pelvis_rotation / walk_pelvis_obliquity (rad amplitudes),
        walk_variability (relative slow speed / cadence fluctuation).
    Stairs (step-over-step, one foot per tread; building-code stairs):
        stair_rise (m), stair_run (m, tread depth), stairs_up_cadence / stairs_down_cadence
        (steps/s, lower than level walking), stair_arm_swing (rad), stair_trunk_lean_up /
        stair_trunk_lean_down (rad, forward).
    Postures:
        stand_sway (m RMS of the pelvis's front-back sway; 0.6 of it sideways), sit_sway,
        lie_sway (m), fidget_rate (fidgets per second: small shifts of trunk, head, arms or
        weight), breathing_rate (Hz), breathing_depth (rad of spine motion);
        seat_height (m, a chair; for the default body, scaled with the drawn body's leg length),
        bed_height (m, the bed sat on and lain on in clips with lying; scaled likewise),
        sit_tilt (rad, backward pelvic tilt when seated; ~0.35 reproduces the mean HAPT sitting
        gravity direction at the waist, the range its spread), seated_lean (rad, thorax forward
        while seated; negative leans back);
        lie_turn (rad, how far the body turns about the vertical from sitting on the bed's edge
        to lying on it), lie_turn_left (probability that the turn is to the left, +: the
        integrated waist gyro of HAPT's sit-to-lie segments, mean rotation vector
        ~(-52, 0, -75) deg in the phone frame, matches a turn to the right of ~1.1-1.3 rad, so
        left turns are the exception), lie_roll (rad, roll about the body's long axis when
        lying), lie_tilt (rad, trunk short of horizontal, head up +);
        motion_margin (fraction of a labelled transition before the motion starts / after it
        ends), hold_fraction (share of a transition clip's time outside the transition spent
        in the start posture).
    Transitions: durations (s) of the labelled transition, defaults around the HAPT means
        (STAND_TO_SIT 3.4 s, SIT_TO_STAND 2.6, SIT_TO_LIE 4.1, LIE_TO_SIT 3.7, STAND_TO_LIE 5.0,
        LIE_TO_STAND 3.7 s -- means of the HAPT label segments, ~+-1 s spread).
        transition_lean: largest forward trunk lean while rising / sitting down (rad).
    Body: shape -- whether to vary the body shape at all; beta_std: (16,) standard deviation of
        each beta of the default body (normal, clipped at +-beta_clip); one unit of beta 0 is
        ~4 % of stature (~7 cm).  n_subjects: 0 gives every clip its own body; n > 0 draws the
        body from a fixed pool of n virtual subjects (``subject_seed``), so clips can be grouped
        by subject.
    heading: (lo, hi) walking / facing direction (rad about world z).
    """

    walk_speed: Range = (0.9, 1.6)
    walk_cadence: Range = (1.6, 2.1)
    walk_step_length: Range = (0.5, 0.82)
    walk_arm_swing: Range = (0.10, 0.50)
    walk_elbow: Range = (0.20, 0.70)
    walk_trunk_lean: Range = (-0.02, 0.12)
    walk_lateral: Range = (0.010, 0.035)
    walk_step_width: Range = (0.08, 0.16)
    walk_foot_angle: Range = (0.04, 0.20)
    walk_pelvis_rotation: Range = (0.04, 0.14)
    walk_pelvis_obliquity: Range = (0.03, 0.10)
    walk_variability: Range = (0.01, 0.04)
    stair_rise: Range = (0.15, 0.19)
    stair_run: Range = (0.25, 0.32)
    stairs_up_cadence: Range = (1.25, 1.75)
    stairs_down_cadence: Range = (1.4, 1.9)
    stair_arm_swing: Range = (0.05, 0.30)
    stair_trunk_lean_up: Range = (0.05, 0.25)
    stair_trunk_lean_down: Range = (-0.02, 0.10)
    stand_sway: Range = (0.002, 0.008)
    sit_sway: Range = (0.001, 0.004)
    lie_sway: Range = (0.0005, 0.002)
    fidget_rate: Range = (0.0, 0.25)
    breathing_rate: Range = (0.2, 0.35)
    breathing_depth: Range = (0.005, 0.02)
    seat_height: Range = (0.40, 0.50)
    bed_height: Range = (0.40, 0.55)
    seated_lean: Range = (-0.10, 0.15)
    lie_turn: Range = (0.9, 1.6)
    lie_turn_left: float = 0.1
    lie_roll: Range = (-0.5, 0.5)
    lie_tilt: Range = (-0.12, 0.08)
    sit_tilt: Range = (0.2, 0.55)
    motion_margin: Range = (0.0, 0.12)
    hold_fraction: Range = (0.3, 0.7)
    stand_to_sit_time: Range = (2.2, 4.5)
    sit_to_stand_time: Range = (1.8, 3.6)
    sit_to_lie_time: Range = (3.0, 5.5)
    lie_to_sit_time: Range = (2.6, 5.0)
    stand_to_lie_time: Range = (4.0, 7.0)
    lie_to_stand_time: Range = (3.0, 5.5)
    transition_lean: Range = (0.5, 0.9)
    shape: bool = True
    beta_std: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 1.0, 0.5, 0.5)
    beta_clip: float = 2.0
    n_subjects: int = 0
    subject_seed: int = 0
    heading: Range = (-np.pi, np.pi)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            is_range = isinstance(v, tuple) and len(v) == 2 and f.name != "beta_std"
            if is_range and not (np.isfinite(v[0]) and np.isfinite(v[1]) and v[0] <= v[1]):
                raise ValueError(f"Randomization.{f.name}: need a finite range lo <= hi, got {v}")
        if len(self.beta_std) != N_BETAS:
            raise ValueError(f"Randomization.beta_std: need {N_BETAS} values, got {len(self.beta_std)}")
        if self.n_subjects < 0:
            raise ValueError(f"Randomization.n_subjects must be >= 0, got {self.n_subjects}")


@dataclass
class ActivityParams:
    """One draw of :func:`sample_params`.

    activity: hapt12 name.  seed: seed of the generator's own randomness (sway, fidgets, noise).
    betas: (16,) shape of the default body.  subject: virtual subject id ('s0042', or the clip's
    own body 'b<seed>').  motion: the generator's parameter dataclass (WalkParams, StairParams,
    PostureParams ...), with fps / duration filled in by :func:`generate_clip`.
    """

    activity: str
    seed: int
    betas: tuple[float, ...]
    subject: str
    motion: Any = None
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- body shape
@lru_cache(maxsize=1)
def _default_body():
    """The bundled default body, or None (then the approximate SMPL-neutral skeleton is used)."""
    try:
        from virtimu.body.files import load_body_model
        return load_body_model()
    except (ImportError, FileNotFoundError) as exc:  # pragma: no cover - the body ships with virtimu
        log.warning("default body unavailable (%s); clips use the approximate SMPL-neutral skeleton "
                    "and no shape variation", exc)
        return None


def skeleton_for_betas(betas: Sequence[float]) -> Skeleton:
    """IK skeleton of the default body with shape ``betas`` (16,): rest joints and soles of the
    shaped body, so a motion solved on it keeps the shaped body's feet on the floor."""
    body = _default_body()
    if body is None:
        return approximate_skeleton()
    return Skeleton.from_body(body, np.asarray(betas, dtype=np.float64))


def _leg_scale(betas: np.ndarray) -> float:
    """Leg length of the shaped body relative to the default body (1.0 without a body model)."""
    body = _default_body()
    if body is None:
        return 1.0
    from virtimu.motion.skeleton import J

    def leg(rest):
        return float(np.linalg.norm(rest[J["left_knee"]] - rest[J["left_hip"]])
                     + np.linalg.norm(rest[J["left_ankle"]] - rest[J["left_knee"]]))
    return leg(body.rest_joints(betas)) / leg(body.rest_joints(None))


def sample_betas(rng: np.random.Generator, r: Randomization) -> np.ndarray:
    """(16,) betas: normal with ``r.beta_std``, clipped at +-``r.beta_clip`` (zeros if not ``r.shape``)."""
    z = rng.standard_normal(N_BETAS)
    if not r.shape:
        return np.zeros(N_BETAS)
    return np.clip(z * np.asarray(r.beta_std, dtype=np.float64), -r.beta_clip, r.beta_clip)


def _body_draw(rng: np.random.Generator, r: Randomization) -> tuple[np.ndarray, str]:
    """(betas (16,), subject id) of one clip: its own body, or one of ``r.n_subjects`` pooled bodies."""
    if r.n_subjects > 0:
        k = int(rng.integers(r.n_subjects))
        sub_rng = np.random.default_rng(np.random.SeedSequence([int(r.subject_seed), k, 0x5B]))
        return sample_betas(sub_rng, r), f"s{k:04d}"
    betas = sample_betas(rng, r)
    return betas, f"b{int(rng.integers(2 ** 31)):010d}"


# ----------------------------------------------------------------------------- sampling
def _u(rng: np.random.Generator, rg: Range) -> float:
    lo, hi = rg
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _sample_walk(rng: np.random.Generator, r: Randomization, leg: float) -> WalkParams:
    """Level walking parameters (speed / cadence redrawn until the step length fits the body)."""
    for _ in range(100):
        speed, cadence = _u(rng, r.walk_speed), _u(rng, r.walk_cadence)
        step = speed / cadence
        if r.walk_step_length[0] * leg <= step <= r.walk_step_length[1] * leg:
            break
    else:  # pragma: no cover - only with contradictory ranges
        cadence = float(np.clip(speed / (0.66 * leg), *r.walk_cadence))
    return WalkParams(
        speed=speed, step_frequency=cadence, arm_swing=_u(rng, r.walk_arm_swing), elbow_flex=_u(rng, r.walk_elbow),
        trunk_lean=_u(rng, r.walk_trunk_lean), lateral=_u(rng, r.walk_lateral), step_width=_u(rng, r.walk_step_width),
        foot_angle=_u(rng, r.walk_foot_angle), pelvis_rotation=_u(rng, r.walk_pelvis_rotation),
        pelvis_obliquity=_u(rng, r.walk_pelvis_obliquity), variability=_u(rng, r.walk_variability),
        elbow_swing=0.5 * _u(rng, (0.1, 0.3)), heading=_u(rng, r.heading), seed=int(rng.integers(2 ** 31)),
        name="walking", label="WALKING")


def _sample_stairs(rng: np.random.Generator, r: Randomization, direction: str) -> StairParams:
    """Stair walking up or down (one foot per tread) on a randomly drawn flight."""
    up = direction == "up"
    lean = r.stair_trunk_lean_up if up else r.stair_trunk_lean_down
    return stair_params(
        direction, rise=_u(rng, r.stair_rise), run=_u(rng, r.stair_run),
        step_frequency=_u(rng, r.stairs_up_cadence if up else r.stairs_down_cadence),
        arm_swing=_u(rng, r.stair_arm_swing), elbow_flex=_u(rng, r.walk_elbow), trunk_lean=_u(rng, lean),
        lateral=_u(rng, r.walk_lateral), step_width=_u(rng, r.walk_step_width), foot_angle=_u(rng, r.walk_foot_angle),
        pelvis_rotation=_u(rng, r.walk_pelvis_rotation), pelvis_obliquity=1.2 * _u(rng, r.walk_pelvis_obliquity),
        variability=_u(rng, r.walk_variability), heading=_u(rng, r.heading), seed=int(rng.integers(2 ** 31)),
        name=f"stairs_{direction}", label="WALKING_UPSTAIRS" if up else "WALKING_DOWNSTAIRS")


#: Posture of each static class.
_POSTURE_OF = {"STANDING": "stand", "SITTING": "sit", "LAYING": "lie"}
_CLASS_OF = {v: k for k, v in _POSTURE_OF.items()}


def _transition_time(r: Randomization, activity: str) -> Range:
    return getattr(r, f"{activity.lower()}_time")


def _sample_posture(rng: np.random.Generator, r: Randomization, activity: str, duration_s: float,
                    leg: float = 1.0) -> PostureParams:
    """Held posture (STANDING / SITTING / LAYING) or a postural transition (with its holds)."""
    if activity in TRANSITIONS:
        a, b = (_POSTURE_OF[c] for c in TRANSITIONS[activity])
        labels = (TRANSITIONS[activity][0], activity, TRANSITIONS[activity][1])
    else:
        a = b = _POSTURE_OF[activity]
        labels = (activity, activity, activity)
    lies = "lie" in (a, b)
    D = min(_u(rng, _transition_time(r, activity)), 0.8 * duration_s) if a != b else 0.0
    hold = _u(rng, r.hold_fraction)
    turn = _u(rng, r.lie_turn) * (1.0 if rng.uniform() < r.lie_turn_left else -1.0)
    return PostureParams(
        start=a, end=b, duration=duration_s, labels=labels, transition_at=hold * (duration_s - D),
        transition_time=D if a != b else 1.0,
        motion_margin=(_u(rng, r.motion_margin), _u(rng, r.motion_margin)), sit_share=_u(rng, (0.35, 0.55)),
        seat_height=leg * _u(rng, r.bed_height if lies else r.seat_height), sink=_u(rng, (0.005, 0.03)),
        sit_tilt=_u(rng, r.sit_tilt), seated_lean=_u(rng, r.seated_lean), trunk_lean=_u(rng, r.transition_lean),
        lie_turn=turn, lie_roll=_u(rng, r.lie_roll), lie_tilt=_u(rng, r.lie_tilt), lie_head=_u(rng, (0.1, 0.4)),
        lie_knee=_u(rng, (0.02, 0.25)), lie_leg_lift=_u(rng, (0.0, 0.05)),
        stance_width=_u(rng, (0.14, 0.30)), toe_out=_u(rng, (0.05, 0.25)), knee=_u(rng, (0.02, 0.12)),
        arm_abduction=_u(rng, (0.08, 0.2)), elbow_flex=_u(rng, (0.1, 0.5)),
        stand_sway=_u(rng, r.stand_sway), sit_sway=_u(rng, r.sit_sway), lie_sway=_u(rng, r.lie_sway),
        fidget_rate=_u(rng, r.fidget_rate), breathing_rate=_u(rng, r.breathing_rate),
        breathing_depth=_u(rng, r.breathing_depth), heading=_u(rng, r.heading), seed=int(rng.integers(2 ** 31)),
        name=activity.lower(), label=activity)


def sample_params(activity: str, rng: np.random.Generator, randomization: Randomization | None = None,
                  duration_s: float = 8.0) -> ActivityParams:
    """Draw the parameters of one clip of ``activity`` (a hapt12 name) from ``randomization``
    (default :class:`Randomization`) with ``rng``; ``duration_s`` places a transition's holds."""
    _check_activity(activity)
    r = randomization if randomization is not None else Randomization()
    betas, subject = _body_draw(rng, r)
    leg = _leg_scale(betas)
    seed = int(rng.integers(2 ** 31))
    if activity == "WALKING":
        motion = _sample_walk(rng, r, leg)
    elif activity in ("WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS"):
        motion = _sample_stairs(rng, r, "up" if activity == "WALKING_UPSTAIRS" else "down")
    elif activity in _POSTURE_OF or activity in TRANSITIONS:
        motion = _sample_posture(rng, r, activity, duration_s, leg)
    else:
        raise NotImplementedError(f"{activity}: not implemented yet")
    return ActivityParams(activity=activity, seed=seed, betas=tuple(float(b) for b in betas), subject=subject,
                          motion=motion)


def _check_activity(activity: str) -> None:
    if activity not in HAPT_ACTIVITIES:
        raise ValueError(f"unknown activity {activity!r}; choose from {list(HAPT_ACTIVITIES)}")


# ----------------------------------------------------------------------------- building clips
def build_clip(params: ActivityParams, fps: float = 50.0, duration_s: float = 8.0) -> Clip:
    """The clip described by ``params`` at ``fps`` Hz lasting ``duration_s`` s (T = round(duration_s fps) + 1
    frames), labelled with hapt12 names."""
    if fps <= 0 or duration_s <= 0:
        raise ValueError(f"fps and duration_s must be positive, got {fps}, {duration_s}")
    skel = skeleton_for_betas(params.betas)
    m = params.motion
    a = params.activity
    if a == "WALKING":
        clip = generate_gait(dataclasses.replace(m, fps=fps, duration=duration_s), skel)
    elif isinstance(m, StairParams):
        clip = generate_stairs(dataclasses.replace(m, fps=fps, duration=duration_s), skel)
    elif isinstance(m, PostureParams):
        if a in TRANSITIONS and not np.isclose(m.duration, duration_s):
            scale = duration_s / m.duration  # keep the timeline's proportions
            m = dataclasses.replace(m, transition_at=m.transition_at * scale,
                                    transition_time=min(m.transition_time, 0.8 * duration_s))
            m = dataclasses.replace(m, transition_at=min(m.transition_at, duration_s - m.transition_time))
        clip = generate_posture(dataclasses.replace(m, fps=fps, duration=duration_s), skel)
    else:
        raise NotImplementedError(f"{a}: not implemented yet")
    return _finish(clip, params)


def _finish(clip: Clip, params: ActivityParams) -> Clip:
    """Attach label, label map, betas and provenance to a generated clip."""
    clip.name = f"{params.activity.lower()}_{params.subject}_{params.seed:010d}"
    clip.label = params.activity
    clip.params = params
    clip.betas = np.asarray(params.betas, dtype=np.float64)
    clip.label_map = dict(HAPT12_LABEL_MAP)
    clip.source = "parametric"
    clip.provenance = {"subject": params.subject, "activity": params.activity, "seed": int(params.seed)}
    return clip


def clip_seed(seed: int, activity: str, index: int) -> int:
    """Seed of clip ``index`` of ``activity`` in a :func:`generate_clips` run with ``seed``."""
    ss = np.random.SeedSequence([int(seed), HAPT_ACTIVITIES.index(activity), int(index)])
    return int(ss.generate_state(1)[0] & 0x7FFFFFFF)


def generate_clip(activity: str, seed: int, fps: float = 50.0, duration_s: float = 8.0,
                  randomization: Randomization | None = None) -> Clip:
    """One randomised clip of ``activity`` (hapt12 name), deterministic given ``seed``.

    Draws :func:`sample_params` with ``np.random.default_rng([seed, activity code])``; a draw the
    generators refuse (a stride too long for the drawn body ...) is redrawn from the same stream.
    """
    _check_activity(activity)
    rng = np.random.default_rng([int(seed), HAPT_ACTIVITIES.index(activity) + 1])
    err: Exception | None = None
    for _ in range(10):
        params = sample_params(activity, rng, randomization, duration_s)
        try:
            return build_clip(params, fps, duration_s)
        except ValueError as exc:  # an infeasible draw: redraw
            log.debug("%s seed %d: redrawing after %s", activity, seed, exc)
            err = exc
    raise RuntimeError(f"{activity} seed {seed}: no feasible draw in 10 tries (last: {err})")


def _job(args: tuple) -> Clip:
    activity, seed, fps, duration_s, randomization = args
    return generate_clip(activity, seed, fps, duration_s, randomization)


def generate_clips(activities: Sequence[str], n_per_activity: int, seed: int, fps: float = 50.0,
                   duration_s: float = 8.0, randomization: Randomization | None = None,
                   workers: int = 1, progress: bool = True) -> Iterator[Clip]:
    """``n_per_activity`` clips of each of ``activities``, in order (activity by activity), clip i
    of activity a made by ``generate_clip(a, clip_seed(seed, a, i), ...)``; ``workers`` > 1
    generates in that many processes (same clips, same order)."""
    for a in activities:
        _check_activity(a)
    jobs = [(a, clip_seed(seed, a, i), fps, duration_s, randomization)
            for a in activities for i in range(int(n_per_activity))]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="clips", unit="clip")
    try:
        if workers <= 1 or len(jobs) < 2:
            for job in jobs:
                yield _job(job)
                if bar is not None:
                    bar.update(1)
        else:
            n = min(int(workers), os.cpu_count() or 1, len(jobs))
            with ProcessPoolExecutor(max_workers=n) as ex:
                for clip in ex.map(_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * n)))):
                    yield clip
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
