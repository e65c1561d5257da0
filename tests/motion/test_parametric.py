"""Randomised HAPT-activity clips: labels, determinism, physical plausibility, body shapes and the
virtual waist sensor they give."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from virtimu.motion.parametric import (
    HAPT12_LABEL_MAP,
    HAPT_ACTIVITIES,
    TRANSITIONS,
    Randomization,
    clip_seed,
    generate_clip,
    generate_clips,
    sample_params,
    skeleton_for_betas,
)
from virtimu.motion.skeleton import BACK_POINTS, J, back_points, foot_points
from virtimu.motion.stairs import generate_stairs, stair_height, stair_params
from virtimu.motion.transitions import PostureParams, generate_posture
from virtimu.rotations import relative_rotation_vector

FPS = 50.0
SEED = 11
STATIC = ("STANDING", "SITTING", "LAYING")
GAIT = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS")
FEET = [J[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
CORE = [J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_hip", "right_hip")]


@pytest.fixture(scope="module")
def clips():
    return {a: generate_clip(a, SEED) for a in HAPT_ACTIVITIES}


@pytest.fixture(scope="module")
def states(clips):
    return {a: c.joint_state() for a, c in clips.items()}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], mask, [False]]).astype(int)
    return list(zip(np.flatnonzero(np.diff(m) == 1), np.flatnonzero(np.diff(m) == -1)))


def _label_runs(labels: np.ndarray) -> list[str]:
    return [str(lab) for i, lab in enumerate(labels) if i == 0 or lab != labels[i - 1]]


def _angle_deg(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle (deg) between vectors v (T, 3) and a unit axis (3,)."""
    return np.degrees(np.arccos(np.clip(v @ axis / np.linalg.norm(v, axis=1), -1.0, 1.0)))


def _isolated_spikes(a: np.ndarray, factor: float, margin: float, half: int = 3) -> list[int]:
    """Frames whose value exceeds ``factor`` x the median of the ``half`` frames on *each* side plus
    ``margin``: the footprint of a velocity jump in a second difference (a one-frame spike), as
    opposed to a step in acceleration (large on one side), which a C1 path may have."""
    win = np.lib.stride_tricks.sliding_window_view(np.asarray(a, dtype=np.float64), half)
    before = np.median(win[: len(a) - 2 * half], axis=1)  # a[i - half: i] for i = half ...
    after = np.median(win[half + 1:], axis=1)  # a[i + 1: i + 1 + half]
    centre = np.asarray(a)[half: len(a) - half]
    return (np.flatnonzero(centre > factor * np.maximum(before, after) + margin) + half).tolist()


# ----------------------------------------------------------------------------- API and labels
def test_activities_are_the_hapt12_label_space():
    from virtimu.labels.maps import get_label_space
    space = get_label_space("hapt12")
    assert list(HAPT_ACTIVITIES) == [space.name_of(c) for c in range(1, 13)]
    assert HAPT12_LABEL_MAP == space.label_map()


@pytest.mark.parametrize("activity", HAPT_ACTIVITIES)
def test_label_sequence_and_length(activity, clips):
    c = clips[activity]
    assert c.n_frames == round(8.0 * FPS) + 1 and c.fps == FPS
    if activity in TRANSITIONS:
        start, end = TRANSITIONS[activity]
        assert _label_runs(c.frame_labels) == [start, activity, end]
        m = c.params.motion
        n_tr = int(np.sum(c.frame_labels == activity))
        assert abs(n_tr / FPS - m.transition_time) < 2.0 / FPS
        lo, hi = getattr(Randomization(), f"{activity.lower()}_time")
        assert lo - 0.05 <= n_tr / FPS <= hi + 0.05
        assert np.sum(c.frame_labels == start) >= 0.3 * FPS and np.sum(c.frame_labels == end) >= 0.3 * FPS
    else:
        assert _label_runs(c.frame_labels) == [activity]


@pytest.mark.parametrize("activity", ["WALKING", "SIT_TO_LIE"])
def test_clip_to_motion_carries_hapt12_codes_and_the_body_shape(activity, clips):
    c = clips[activity]
    m = c.to_motion()
    assert m.label_map == HAPT12_LABEL_MAP
    names = np.array([m.label_map[int(k)] for k in m.labels])
    np.testing.assert_array_equal(names, c.frame_labels)
    assert m.poses.shape == (c.n_frames, 52, 3) and m.fps == FPS
    np.testing.assert_array_equal(m.betas, c.betas)
    assert np.abs(m.betas).max() > 0.05, "a randomised body shape"
    assert m.provenance["subject"] == c.params.subject and m.name.startswith("parametric/")


def test_generation_is_deterministic_per_seed():
    for activity in ("WALKING", "STAND_TO_SIT"):
        a, b = generate_clip(activity, 5), generate_clip(activity, 5)
        np.testing.assert_array_equal(a.R_local, b.R_local)
        np.testing.assert_array_equal(a.trans, b.trans)
        np.testing.assert_array_equal(a.betas, b.betas)
        c = generate_clip(activity, 6)
        assert np.abs(a.betas - c.betas).max() > 1e-3
        assert not np.array_equal(a.R_local, c.R_local)


def test_sample_params_draws_from_the_ranges():
    r = Randomization(walk_speed=(1.1, 1.2), walk_cadence=(1.8, 1.9), shape=False)
    for k in range(5):
        p = sample_params("WALKING", np.random.default_rng(k), r)
        assert 1.1 <= p.motion.speed <= 1.2 and 1.8 <= p.motion.step_frequency <= 1.9
        assert not any(p.betas)
    up = sample_params("WALKING_UPSTAIRS", np.random.default_rng(0))
    assert 0.15 <= up.motion.rise <= 0.19 and 0.25 <= up.motion.run <= 0.32
    assert up.motion.speed == pytest.approx(up.motion.run * up.motion.step_frequency)
    with pytest.raises(ValueError, match="walk_speed"):
        Randomization(walk_speed=(2.0, 1.0))
    with pytest.raises(ValueError, match="unknown activity"):
        generate_clip("JOGGING", 0)


def test_subject_pool_reuses_bodies():
    r = Randomization(n_subjects=2)
    draws = [sample_params("STANDING", np.random.default_rng(k), r) for k in range(8)]
    by_subject = {}
    for d in draws:
        by_subject.setdefault(d.subject, set()).add(d.betas)
    assert set(by_subject) <= {"s0000", "s0001"} and len(by_subject) == 2
    assert all(len(v) == 1 for v in by_subject.values()), "one body per virtual subject"


def test_generate_clips_order_and_processes_give_the_same_clips():
    one = list(generate_clips(["STANDING", "SIT_TO_STAND"], 2, seed=3, duration_s=3.0, progress=False))
    two = list(generate_clips(["STANDING", "SIT_TO_STAND"], 2, seed=3, duration_s=3.0, workers=2, progress=False))
    assert [c.label for c in one] == ["STANDING", "STANDING", "SIT_TO_STAND", "SIT_TO_STAND"]
    assert one[0].params.seed != one[1].params.seed
    for a, b in zip(one, two):
        assert a.name == b.name
        np.testing.assert_array_equal(a.R_local, b.R_local)
    ref = generate_clip("SIT_TO_STAND", clip_seed(3, "SIT_TO_STAND", 1), duration_s=3.0)
    np.testing.assert_array_equal(ref.trans, one[3].trans)


# ----------------------------------------------------------------------------- body shape
def test_body_shape_changes_the_skeleton_consistently_with_the_body(clips):
    from virtimu.body.files import load_body_model
    body = load_body_model()
    c = clips["WALKING"]
    np.testing.assert_allclose(c.skeleton.rest_joints, body.rest_joints(c.betas)[:24], atol=1e-12)
    tall = np.zeros(16)
    tall[0] = 2.0
    legs = [skeleton_for_betas(b).leg_lengths("left")[0] for b in (-tall, np.zeros(16), tall)]
    assert legs[0] < 0.95 * legs[1] and legs[2] > 1.05 * legs[1], "stature betas change segment lengths"


@pytest.mark.parametrize("stature", [-2.0, 2.0])
def test_extreme_bodies_keep_their_feet_on_the_floor(stature):
    r = Randomization(beta_std=(0.0,) * 16)
    p = sample_params("WALKING", np.random.default_rng(1), r)
    betas = np.zeros(16)
    betas[0], betas[2] = stature, stature / 2
    from virtimu.motion.parametric import build_clip
    c = build_clip(dataclasses.replace(p, betas=tuple(betas)), FPS, 4.0)
    feet = foot_points(c.joint_state(), c.skeleton)
    assert feet[..., 2].min() > -0.005
    assert np.all(feet[..., 2].min(axis=1) < 0.01), "always a foot on the floor"


# ----------------------------------------------------------------------------- gait
def test_walking_speed_and_cadence_are_the_drawn_ones(clips, states):
    c, p = clips["WALKING"], clips["WALKING"].params.motion
    pel = states["WALKING"].p[:, 0, :2]
    speed = np.linalg.norm(pel[-1] - pel[0]) / ((c.n_frames - 1) / FPS)
    assert abs(speed - p.speed) < 0.06 * p.speed
    strikes = sorted(a for side in ("left", "right") for a, _ in _runs(c.info[f"stance_{side}"]) if a > 0)
    cadence = (len(strikes) - 1) / ((strikes[-1] - strikes[0]) / FPS)
    assert abs(cadence - p.step_frequency) < 0.06 * p.step_frequency


@pytest.mark.parametrize("activity,sign", [("WALKING_UPSTAIRS", 1.0), ("WALKING_DOWNSTAIRS", -1.0)])
def test_stairs_raise_or_lower_the_pelvis_by_the_steps_taken(activity, sign, clips, states):
    c, p = clips[activity], clips[activity].params.motion
    z = states[activity].p[:, 0, 2]
    strikes = sorted(a for side in ("left", "right") for a, _ in _runs(c.info[f"stance_{side}"]) if a > 0)
    n_steps = len(strikes) - 1
    dz = z[strikes[-1]] - z[strikes[0]]
    assert abs(dz - sign * n_steps * p.rise) < 0.35 * p.rise
    r = Randomization()
    lo, hi = r.stairs_up_cadence if sign > 0 else r.stairs_down_cadence
    assert lo <= p.step_frequency <= hi
    assert lo + hi < sum(r.walk_cadence), "stair cadences lower than level walking"


@pytest.mark.parametrize("activity", ["WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS"])
def test_stair_feet_stand_on_the_treads_without_sliding(activity, clips, states):
    c = clips[activity]
    feet = foot_points(states[activity], c.skeleton)
    above = feet[..., 2] - stair_height(c, feet[..., :2])
    assert above.min() > -0.01, "no foot point sinks into a step"
    for i, side in enumerate(("left", "right")):
        pts = feet[:, 3 * i: 3 * i + 3]
        low = above[:, 3 * i: 3 * i + 3].min(axis=1)
        for a, b in _runs(c.info[f"stance_{side}"]):
            assert np.abs(low[a:b]).max() < 0.003, "the stance foot rests on its tread"
            v = np.linalg.norm(np.diff(pts[a:b], axis=0), axis=-1) * FPS  # (n, 3) point speeds
            assert v.min(axis=1).max() < 0.02, "the stance foot rolls about a point that does not slide"
            tread = stair_height(c, pts[a:b, :, :2])
            assert np.ptp(tread[:, 1]) == 0.0, "the ball stays on one tread"


def test_stairs_directions_and_errors():
    with pytest.raises(ValueError, match="direction"):
        stair_params("sideways")
    with pytest.raises(ValueError, match="rise"):
        generate_stairs(stair_params("up", rise=0.4, duration=2.0), skeleton_for_betas(np.zeros(16)))


# ----------------------------------------------------------------------------- postures and transitions
def _thigh_pitch(p: np.ndarray, side: str) -> np.ndarray:
    thigh = p[:, J[f"{side}_knee"]] - p[:, J[f"{side}_hip"]]
    return np.degrees(np.arcsin(np.abs(thigh[:, 2]) / np.linalg.norm(thigh, axis=1)))


def _trunk_from_vertical(p: np.ndarray) -> np.ndarray:
    return _angle_deg(p[:, J["neck"]] - p[:, J["pelvis"]], np.array([0.0, 0.0, 1.0]))


@pytest.mark.parametrize("activity", ["STAND_TO_SIT", "LIE_TO_SIT", "SITTING"])
def test_sitting_ends_on_the_seat_with_horizontal_thighs(activity, clips, states):
    c, p = clips[activity], states[activity].p
    last = slice(-10, None)
    hips = 0.5 * (p[last, J["left_hip"]] + p[last, J["right_hip"]])
    seat = c.info["seat_height"]
    assert np.all((hips[:, 2] - seat > 0.05) & (hips[:, 2] - seat < 0.16)), "hip joints just above the seat"
    for side in ("left", "right"):
        assert _thigh_pitch(p[last], side).max() < 25.0, "thighs roughly horizontal"
    assert _trunk_from_vertical(p[last]).max() < 40.0, "sitting up"


@pytest.mark.parametrize("activity", ["SIT_TO_LIE", "STAND_TO_LIE", "LAYING"])
def test_lying_ends_with_a_horizontal_trunk_on_the_bed(activity, clips, states):
    c, p = clips[activity], states[activity].p
    last = slice(-10, None)
    assert np.all(np.abs(90.0 - _trunk_from_vertical(p[last])) < 20.0), "trunk roughly horizontal"
    names = list(BACK_POINTS)
    trunk = [names.index(n) for n in ("sacrum", "lumbar", "left_scapula", "right_scapula")]
    low = back_points(states[activity], c.skeleton)[last][:, trunk, 2].min(axis=1)
    assert np.all(np.abs(low - c.info["seat_height"]) < 0.04), "the back rests on the bed"
    assert np.all(p[last, 0, 2] - c.info["seat_height"] < 0.3)


@pytest.mark.parametrize("activity", ["SIT_TO_STAND", "LIE_TO_STAND", "STANDING"])
def test_standing_ends_upright_on_straight_legs(activity, clips, states):
    c, p = clips[activity], states[activity].p
    last = slice(-10, None)
    assert np.all(np.abs(p[last, 0, 2] - c.info["standing_pelvis_z"]) < 0.03)
    assert _trunk_from_vertical(p[last]).max() < 10.0
    feet = foot_points(states[activity], c.skeleton)
    assert feet[..., 2].min() > -0.005 and np.all(feet[last, :, 2].max(axis=1) < 0.01), "both feet flat"


@pytest.mark.parametrize("activity", list(TRANSITIONS))
def test_transitions_keep_the_feet_planted_while_on_the_floor(activity, clips, states):
    feet = foot_points(states[activity], clips[activity].skeleton)
    assert feet[..., 2].min() > -0.01, "no foot point below the floor"
    on = np.all(feet[..., 2] < 0.003, axis=1)  # the whole sole on the floor
    for a, b in _runs(on):
        drift = np.linalg.norm(feet[a:b, :, :2] - feet[a, :, :2], axis=-1).max()
        assert drift < 0.02, "planted feet do not slide"


@pytest.mark.parametrize("activity", STATIC)
def test_static_postures_move_a_little(activity, clips, states):
    c, p = clips[activity], states[activity].p
    rate = np.linalg.norm(relative_rotation_vector(c.R_local[:-1], c.R_local[1:]), axis=-1) * FPS
    trunk = p[:, J["neck"]] - p[:, J["pelvis"]]
    assert np.ptp(trunk, axis=0).max() > 0.002, "some postural sway / breathing"
    assert rate[:, CORE].max() > 0.005
    assert rate[:, CORE].max() < 0.6, "but no large movements of the trunk"
    assert np.linalg.norm(np.diff(p[:, 0], axis=0), axis=1).max() * FPS < 0.1


def test_posture_generator_refuses_bad_timelines():
    skel = skeleton_for_betas(np.zeros(16))
    with pytest.raises(ValueError, match="transition"):
        generate_posture(PostureParams(start="stand", end="sit", duration=4.0, transition_at=3.0,
                                       transition_time=2.0), skel)
    with pytest.raises(ValueError, match="posture"):
        generate_posture(PostureParams(start="kneel", end="sit"), skel)


# ----------------------------------------------------------------------------- smoothness
@pytest.mark.parametrize("activity", HAPT_ACTIVITIES)
def test_joint_paths_are_c1(activity, clips, states):
    """No velocity jumps: the joint angular velocities and the joint-centre velocities change
    without isolated one-frame steps (a step would show as a spike in the second difference)."""
    c = clips[activity]
    w = relative_rotation_vector(c.R_local[:-1], c.R_local[1:]) * FPS  # (T-1, 24, 3) rad/s
    ang_acc = np.linalg.norm(np.diff(w, axis=0), axis=-1) * FPS  # rad/s^2
    lin_acc = np.linalg.norm(np.diff(states[activity].p, 2, axis=0), axis=-1) * FPS ** 2  # m/s^2
    for j in range(24):
        # Ankles and toes are left out of the angular check: at heel strike the level-walking
        # generator turns the foot onto the floor within a few hundredths of a second, which at
        # 50 Hz looks like a step in the ankle's angular velocity (their positions are checked).
        if j not in FEET:
            assert not _isolated_spikes(ang_acc[:, j], 3.0, 40.0), f"{activity}: joint {j} angular velocity jumps"
        assert not _isolated_spikes(lin_acc[:, j], 3.0, 10.0), f"{activity}: joint {j} velocity jumps"
    bound = 250.0 if activity in GAIT else 60.0
    assert ang_acc[:, CORE].max() < bound, f"{activity}: trunk / hip angular acceleration {ang_acc[:, CORE].max():.0f}"
    assert lin_acc[:, 0].max() < (15.0 if activity in GAIT else 9.0), "pelvis acceleration"


# ----------------------------------------------------------------------------- the virtual waist sensor
@pytest.fixture(scope="module")
def waist(clips):
    from virtimu.body.files import load_body_model
    from virtimu.sensors.placement import attach_sites, load_site_table, resolve_sites
    from virtimu.sensors.synth import SynthConfig, synthesize
    body = load_body_model()
    sites = resolve_sites("hapt", load_site_table())
    cfg = SynthConfig(fps=FPS, signals=("acc", "gyro"))

    def synth(clip):
        m = clip.to_motion()
        return synthesize(m, body, attach_sites(body, sites, m.betas), cfg)
    recs = {a: synth(c) for a, c in clips.items()}
    for a in GAIT:
        recs[a + "/2"] = synth(generate_clip(a, SEED + 1))
    return recs


@pytest.mark.parametrize("activity", STATIC)
def test_waist_sensor_reads_gravity_in_static_postures(activity, waist):
    rec = waist[activity]
    f = np.linalg.norm(rec.select(["waist/acc_x", "waist/acc_y", "waist/acc_z"]), axis=1)
    assert abs(f.mean() - 9.81) < 0.05
    assert 1e-5 < f.std() < 0.1, "small, non-zero motion"
    g = np.linalg.norm(rec.select(["waist/gyro_x", "waist/gyro_y", "waist/gyro_z"]), axis=1)
    assert 1e-4 < g.mean() < 0.2
    assert {rec.label_map[int(k)] for k in np.unique(rec.labels)} == {activity}


@pytest.mark.parametrize("activity", GAIT)
def test_waist_sensor_sees_the_cadence(activity, waist, clips):
    rec = waist[activity]
    f = np.linalg.norm(rec.select(["waist/acc_x", "waist/acc_y", "waist/acc_z"]), axis=1)
    x = (f - f.mean()) * np.hanning(len(f))
    spec = np.abs(np.fft.rfft(x, n=8 * len(x)))
    freq = np.fft.rfftfreq(8 * len(x), 1.0 / FPS)
    band = (freq > 0.5) & (freq < 4.0)
    peak = freq[band][np.argmax(spec[band])]
    f_step = clips[activity].params.motion.step_frequency
    assert abs(peak - f_step) < 0.12 * f_step
    assert abs(f.mean() - 9.81) < 0.3


def test_stairs_shake_the_waist_more_than_level_walking(waist):
    def spread(a: str) -> float:
        return float(np.mean([np.linalg.norm(waist[k].select(["waist/acc_x", "waist/acc_y", "waist/acc_z"]),
                                             axis=1).std() for k in (a, a + "/2")]))
    walk = spread("WALKING")
    assert spread("WALKING_UPSTAIRS") > walk and spread("WALKING_DOWNSTAIRS") > walk


def test_transitions_turn_the_waist_like_hapt(waist):
    """Integrated waist gyro over the labelled transition: the rotation's size (deg) is that of a
    HAPT transition (means of the HAPT RawData segments: ~30-35 deg sit <-> stand, ~110-117 deg
    with lying)."""
    from scipy.spatial.transform import Rotation
    sizes = {}
    for a in TRANSITIONS:
        rec = waist[a]
        gyro = rec.select(["waist/gyro_x", "waist/gyro_y", "waist/gyro_z"])
        names = np.array([rec.label_map[int(k)] for k in rec.labels])
        q = Rotation.identity()
        for w in gyro[names == a]:
            q = q * Rotation.from_rotvec(w / FPS)
        sizes[a] = np.degrees(np.linalg.norm(q.as_rotvec()))
    for a in ("STAND_TO_SIT", "SIT_TO_STAND"):
        assert 8.0 < sizes[a] < 60.0, sizes
    for a in ("SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND"):
        assert 70.0 < sizes[a] < 150.0, sizes


# ----------------------------------------------------------------------------- the script
def test_make_hapt_motions_script_writes_readable_clips(tmp_path):
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_hapt_motions.py"
    spec = importlib.util.spec_from_file_location("make_hapt_motions", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--activities", "STANDING", "SIT_TO_LIE", "--n", "1",
                     "--duration", "4", "--quiet"]) == 0
    files = sorted(tmp_path.rglob("*.npz"))
    assert len(files) == 2
    from virtimu.io.amass import read_amass
    m = read_amass(files[0])
    assert m.poses.shape[1] == 52 and m.fps == FPS
    with np.load(files[1], allow_pickle=False) as d:
        assert np.abs(d["betas"]).max() > 0
        assert set(d["virtimu_frame_labels"].tolist()) <= set(HAPT_ACTIVITIES)
