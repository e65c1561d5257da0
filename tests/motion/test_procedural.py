"""Procedural motions and the bundled demo clips: AMASS format, physical plausibility, parameters."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.kinematics import forward_kinematics
from virtimu.motion import (
    DEMO_CLIPS, DEMO_MOTIONS_DIR, JumpParams, RunParams, SitParams, Skeleton, WalkParams, amass_arrays,
    approximate_skeleton, default_skeleton, generate, generate_demo_clips,
)
from virtimu.motion.curves import ease_rotation_gaps, fill_gaps_c1, smooth_max, smooth_min, so3_exp, so3_log
from virtimu.motion.feet import RollingFoot
from virtimu.motion.skeleton import APPROX_SMPL_NEUTRAL_JOINTS, J, back_points, foot_points
from virtimu.motion.swing import fill_knee
from virtimu.rotations import axis_angle_to_matrix, relative_rotation_vector
from virtimu.sensors.resample import resample_pose_sequence

G = 9.81
AMASS_KEYS = {"trans", "gender", "mocap_framerate", "betas", "dmpls", "poses"}
EXPECTED_LABELS = {
    "walking": {"walking"}, "running": {"running"}, "standing": {"standing"},
    "sit_stand": {"standing", "sitting_down", "sitting", "standing_up"},
    "jumping": {"standing", "jumping"}, "waving": {"standing", "waving"},
    "arm_stretching": {"standing", "arm_stretching"}, "lying_down": {"standing", "lying_down", "lying"},
}


# ----------------------------------------------------------------------------- fixtures / helpers
@pytest.fixture(scope="module")
def skel() -> Skeleton:
    return default_skeleton()


@pytest.fixture(scope="module")
def clips(skel):
    return generate_demo_clips(skel)


@pytest.fixture(scope="module")
def states(clips):
    return {name: clip.joint_state() for name, clip in clips.items()}


def _load(name: str) -> dict:
    path = DEMO_MOTIONS_DIR / f"{name}.npz"
    if not path.is_file():
        pytest.fail(f"demo clip {path} is missing; run scripts/make_demo_motions.py")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _fk_from_file(d: dict, skel: Skeleton):
    T = d["poses"].shape[0]
    R = np.broadcast_to(np.eye(3), (T, 24, 3, 3)).copy()
    R[:, :22] = axis_angle_to_matrix(d["poses"][:, :66].reshape(T, 22, 3))
    return forward_kinematics(R, skel.rest_joints, skel.parents, d["trans"])


def _runs(mask: np.ndarray, min_len: int = 1) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in mask."""
    m = np.concatenate([[False], mask, [False]]).astype(int)
    starts, stops = np.flatnonzero(np.diff(m) == 1), np.flatnonzero(np.diff(m) == -1)
    return [(a, b) for a, b in zip(starts, stops) if b - a >= min_len]


def _max_slip(points: np.ndarray, on: float = 0.005) -> float:
    """Largest horizontal drift (m) of any contact point (T, P, 3) while it stays within ``on`` of the floor."""
    worst = 0.0
    for k in range(points.shape[1]):
        for a, b in _runs(points[:, k, 2] < on, 3):
            xy = points[a:b, k, :2]
            worst = max(worst, float(np.linalg.norm(xy - xy[0], axis=1).max()))
    return worst


def _step_frequency(feet: np.ndarray, fps: float) -> float:
    """Steps per second from foot-strike events (a foot's lowest point reaching the floor)."""
    events = []
    for side in (slice(0, 3), slice(3, 6)):
        low = feet[:, side, 2].min(axis=1) < 0.01
        events += [a for a, _ in _runs(low, 3) if a > 0]
    events = np.sort(events)
    return (len(events) - 1) / ((events[-1] - events[0]) / fps)


def _speed(p: np.ndarray, fps: float) -> float:
    return float(np.linalg.norm(p[-1, :2] - p[0, :2]) / ((len(p) - 1) / fps))


# ----------------------------------------------------------------------------- the files
@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_demo_file_has_amass_smplh_layout(name):
    d = _load(name)
    assert AMASS_KEYS | {"virtimu_label", "virtimu_frame_labels"} <= set(d)
    T = d["poses"].shape[0]
    assert d["poses"].shape == (T, 156) and np.issubdtype(d["poses"].dtype, np.floating)
    assert d["trans"].shape == (T, 3) and np.issubdtype(d["trans"].dtype, np.floating)
    assert d["betas"].shape == (16,) and not d["betas"].any()
    assert d["dmpls"].shape == (T, 8)
    assert str(d["gender"]) == "neutral"
    assert float(d["mocap_framerate"]) == 120.0
    assert 6.0 <= (T - 1) / 120.0 <= 12.0
    assert not d["poses"][:, 66:].any(), "finger joints must be zero"
    assert np.all(np.isfinite(d["poses"])) and np.all(np.isfinite(d["trans"]))
    labels = d["virtimu_frame_labels"]
    assert labels.shape == (T,) and labels.dtype.kind == "U"
    assert set(labels.tolist()) == EXPECTED_LABELS[name]
    assert str(d["virtimu_label"]) == DEMO_CLIPS[name].label


def test_demo_files_are_small():
    total = sum((DEMO_MOTIONS_DIR / f"{n}.npz").stat().st_size for n in DEMO_CLIPS)
    assert total < 2_000_000


@pytest.mark.parametrize("name", ["walking", "sit_stand"])
def test_demo_file_reads_with_the_amass_reader(name):
    amass = pytest.importorskip("virtimu.io.amass")
    m = amass.read_amass(DEMO_MOTIONS_DIR / f"{name}.npz")
    d = _load(name)
    assert m.model_type == "smplh" and m.fps == 120.0
    assert m.poses.shape == (d["poses"].shape[0], 52, 3)
    np.testing.assert_allclose(m.trans, d["trans"])


@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_demo_files_match_the_generator(name, clips):
    """The shipped clips are what the generator makes on the default skeleton (else: regenerate)."""
    d, fresh = _load(name), amass_arrays(clips[name])
    msg = f"{name}.npz is stale: run python scripts/make_demo_motions.py"
    np.testing.assert_allclose(d["poses"], fresh["poses"], atol=1e-5, err_msg=msg)
    np.testing.assert_allclose(d["trans"], fresh["trans"], atol=1e-6, err_msg=msg)
    assert d["virtimu_frame_labels"].tolist() == fresh["virtimu_frame_labels"].tolist()


def test_file_kinematics_equal_clip_kinematics(clips, skel):
    """Axis-angle round trip through the file keeps the body where the generator put it."""
    st_file = _fk_from_file(_load("walking"), skel)
    np.testing.assert_allclose(st_file.p[:, :22], clips["walking"].joint_state().p[:, :22], atol=1e-4)


# ----------------------------------------------------------------------------- feet and floor
@pytest.mark.parametrize("name", ["walking", "running", "jumping", "sit_stand", "standing", "waving",
                                  "arm_stretching"])
def test_feet_neither_sink_nor_slide(name, states, skel):
    feet = foot_points(states[name], skel)
    assert feet[..., 2].min() > -0.01, "a foot point sinks more than 1 cm into the floor"
    assert _max_slip(feet) < 0.02, "a foot point slides more than 2 cm while on the floor"


def test_walking_always_has_a_foot_on_the_floor(states, skel):
    low = foot_points(states["walking"], skel)[..., 2].min(axis=1)
    assert np.all(np.abs(low) < 0.01)


def test_walking_speed_cadence_and_bounce(clips, states, skel):
    c, st = clips["walking"], states["walking"]
    assert 1.2 <= _speed(st.p[:, 0], c.fps) <= 1.5
    assert 1.7 <= _step_frequency(foot_points(st, skel), c.fps) <= 1.9
    z = st.p[:, 0, 2]
    assert 0.03 <= z.max() - z.min() <= 0.055
    # The vertical bounce repeats at the step frequency: strongest spectral line near 1.8 Hz.
    spec = np.abs(np.fft.rfft((z - z.mean()) * np.hanning(len(z)), n=16 * len(z)))
    f = np.fft.rfftfreq(16 * len(z), 1 / c.fps)
    assert 1.6 <= f[np.argmax(spec)] <= 2.0


def test_walking_arms_swing_opposite_to_the_legs(states):
    p = states["walking"].p
    fwd = lambda j: p[:, j, 0] - p[:, 0, 0]  # noqa: E731 - forward offset from the pelvis
    # Left wrist forward when the right ankle is forward and vice versa.
    assert np.corrcoef(fwd(J["left_wrist"]), fwd(J["right_ankle"]))[0, 1] > 0.5
    assert np.corrcoef(fwd(J["left_wrist"]), fwd(J["left_ankle"]))[0, 1] < -0.5


def test_running_speed_cadence_and_flight(clips, states, skel):
    c, st = clips["running"], states["running"]
    feet = foot_points(st, skel)
    assert 2.5 <= _speed(st.p[:, 0], c.fps) <= 4.0
    assert 2.6 <= _step_frequency(feet, c.fps) <= 3.0
    airborne = feet[..., 2].min(axis=1) > 0.01
    assert 0.1 < airborne.mean() < 0.5
    flights = _runs(airborne, 6)
    assert len(flights) >= 10
    acc = np.diff(c.trans[:, 2], 2) * c.fps ** 2
    for a, b in flights:  # interior frames of each flight: free fall
        np.testing.assert_allclose(acc[a + 1: b - 3], -G, atol=0.1)


def test_jumps_are_ballistic(clips, states, skel):
    c = clips["jumping"]
    feet = foot_points(states["jumping"], skel)
    flights = _runs(feet[..., 2].min(axis=1) > 0.01, 10)
    assert len(flights) == DEMO_CLIPS["jumping"].n_jumps
    acc = np.diff(c.trans[:, 2], 2) * c.fps ** 2
    for a, b in flights:
        np.testing.assert_allclose(acc[a + 1: b - 3], -G, atol=0.1)
    z = states["jumping"].p[:, 0, 2]
    assert z.max() - z[0] > 0.2, "the pelvis rises at least 20 cm above standing"


def test_sitting_lowers_the_pelvis_onto_the_seat(clips, states):
    c, p = clips["sit_stand"], states["sit_stand"].p
    seat = DEMO_CLIPS["sit_stand"].seat_height
    sitting = c.frame_labels == "sitting"
    hips = 0.5 * (p[:, J["left_hip"]] + p[:, J["right_hip"]])
    assert np.all(np.abs(hips[sitting, 2] - seat - 0.1) < 0.05), "hip joints ~10 cm above a 45 cm seat"
    assert p[0, 0, 2] - p[sitting, 0, 2].max() > 0.25
    # Hips and knees near 90 degrees while seated.
    thigh = p[:, J["left_knee"]] - p[:, J["left_hip"]]
    shank = p[:, J["left_ankle"]] - p[:, J["left_knee"]]
    trunk = p[:, J["neck"]] - p[:, J["pelvis"]]
    ang = lambda a, b: np.degrees(np.arccos(np.sum(a * b, 1) / np.linalg.norm(a, axis=1)  # noqa: E731
                                            / np.linalg.norm(b, axis=1)))
    assert np.all(np.abs(ang(thigh, shank)[sitting] - 90) < 20)
    assert np.all(np.abs(180 - ang(trunk, thigh)[sitting] - 90) < 25)
    # The trunk leans forward while sitting down and standing up.
    lean = np.degrees(np.arctan2(np.linalg.norm(trunk[:, :2], axis=1), trunk[:, 2]))
    for phase in ("sitting_down", "standing_up"):
        assert lean[c.frame_labels == phase].max() > 25
    labels = [lab for i, lab in enumerate(c.frame_labels) if i == 0 or lab != c.frame_labels[i - 1]]
    assert labels == ["standing", "sitting_down", "sitting", "standing_up", "standing"]


def test_lying_ends_flat_on_the_floor(clips, states, skel):
    c, st = clips["lying_down"], states["lying_down"]
    lying = c.frame_labels == "lying"
    trunk = st.p[lying, J["neck"]] - st.p[lying, J["pelvis"]]
    incl = np.degrees(np.arcsin(np.abs(trunk[:, 2]) / np.linalg.norm(trunk, axis=1)))
    assert incl.max() < 15, "trunk horizontal"
    assert st.p[lying, 0, 2].max() < 0.25, "pelvis at floor height"
    pts = np.concatenate([back_points(st, skel), foot_points(st, skel)], axis=1)
    assert pts[..., 2].min() > -0.01
    assert np.all(pts[lying, :, 2].min(axis=1) < 0.01), "the body rests on the floor"
    labels = [lab for i, lab in enumerate(c.frame_labels) if i == 0 or lab != c.frame_labels[i - 1]]
    assert labels == ["standing", "lying_down", "lying"]


def test_standing_sways_slowly(clips):
    c = clips["standing"]
    v = np.linalg.norm(np.diff(c.trans, axis=0), axis=1) * c.fps
    assert v.max() < 0.05
    assert np.ptp(c.trans[:, 0]) > 0.002, "some postural sway"


def test_waving_hand_is_up_and_waves_at_2_hz(clips, states):
    c, p = clips["waving"], states["waving"].p
    wav = c.frame_labels == "waving"
    core = wav & (np.cumsum(wav) > 1.2 * c.fps) & (np.cumsum(wav[::-1])[::-1] > 1.2 * c.fps)
    assert np.all(p[core, J["right_wrist"], 2] > p[core, J["right_shoulder"], 2] + 0.15)
    assert np.all(p[core, J["left_wrist"], 2] < p[core, J["left_shoulder"], 2])
    side = p[core, J["right_wrist"], 1] - p[core, J["right_elbow"], 1]
    spec = np.abs(np.fft.rfft((side - side.mean()) * np.hanning(len(side)), n=8 * len(side)))
    f = np.fft.rfftfreq(8 * len(side), 1 / c.fps)
    assert 1.8 <= f[np.argmax(spec)] <= 2.2


def test_arm_stretching_goes_overhead_and_sideways(states):
    p = states["arm_stretching"].p
    up = np.minimum(p[:, J["left_wrist"], 2], p[:, J["right_wrist"], 2]) - p[:, J["head"], 2]
    assert up.max() > 0.25, "both hands well above the head"
    span = p[:, J["left_wrist"], 1] - p[:, J["right_wrist"], 1]
    level = np.abs(p[:, J["left_wrist"], 2] - p[:, J["left_shoulder"], 2]) < 0.1
    assert (span * level).max() > 1.2, "arms out to the sides at shoulder height"


# ----------------------------------------------------------------------------- smoothness
@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_motion_is_smooth(name, clips):
    c = clips[name]
    step = np.linalg.norm(relative_rotation_vector(c.R_local[:-1], c.R_local[1:]), axis=-1)
    assert step.max() < 0.2, "a joint turns more than 0.2 rad between frames"
    assert np.linalg.norm(np.diff(c.trans, axis=0), axis=1).max() < 0.04, "the root jumps"
    assert np.abs(np.diff(c.trans, 2, axis=0)).max() * c.fps ** 2 < 30.0, "root acceleration spike"


# ----------------------------------------------------------------------------- kinematic smoothness (virtual IMUs)
# Accelerometers are synthesised from second differences of positions at 60 Hz, so a joint path
# with a velocity discontinuity (a kink) shows up as a one-frame acceleration spike.
IMU_FPS = 60.0
FEET_ANKLES = [J[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
OTHER_JOINTS = [j for j in range(24) if j not in FEET_ANKLES]

#: Largest joint-centre acceleration (m/s^2, second difference of FK positions at 60 Hz):
#: (all joints but ankles / feet, ankles / feet).  Typical values: in walking, thigh-worn
#: accelerometers peak around 15-25 m/s^2 and shank / foot-worn ones around 3-6 g; in running at
#: ~3 m/s the tibia sees 5-10 g at foot strike (an impact this impact-free generator does not
#: make) and the thigh 3-5 g, i.e. joint centres stay below ~8 g; a vigorous arm swing keeps the
#: wrist well under ~10 g; slow daily activities stay below ~4 g.
JOINT_ACC_BOUNDS = {"walking": (30.0, 60.0), "running": (70.0, 80.0), "jumping": (70.0, 70.0)}
DAILY_ACC_BOUND = (40.0, 40.0)

#: Largest |specific force| (m/s^2, gravity included) of the default wrist / thigh / head sensors.
#: Walking: wrist ~1.5 g, thigh ~1.5-2.5 g, head ~1.5 g; running: wrist ~3-4 g, thigh 3-5 g, head
#: ~2-3 g; counter-movement jumps: ~2.5 g at the trunk and head in the push-off (ground reaction
#: force ~2.5 body weights), wrist below ~8 g with arm swing; slow activities ~1-2 g.
SENSOR_ACC_BOUNDS = {
    "walking": {"left_wrist": 25.0, "right_thigh": 25.0, "head": 20.0},
    "running": {"left_wrist": 45.0, "right_thigh": 50.0, "head": 30.0},
    "jumping": {"left_wrist": 80.0, "right_thigh": 50.0, "head": 40.0},
}
DAILY_SENSOR_BOUND = 20.0


def _joint_acc_imu_rate(clip) -> np.ndarray:
    """|acceleration| (T - 2, 24) m/s^2 of the world joint positions at 60 Hz (poses resampled as
    the synthesis does), second difference centred on frames 1 .. T - 2."""
    R, trans, _ = resample_pose_sequence(clip.R_local, clip.trans, clip.fps, IMU_FPS)
    p = forward_kinematics(R, clip.skeleton.rest_joints, clip.skeleton.parents, trans).p
    return np.linalg.norm(np.diff(p, 2, axis=0), axis=-1) * IMU_FPS ** 2


def _isolated_spikes(a: np.ndarray, half: int = 3, factor: float = 3.0, margin: float = 10.0) -> list[int]:
    """Indices i whose a[i] exceeds ``factor`` x the median of a[i - half .. i + half] (without i)
    plus ``margin`` -- frames with a complete neighbourhood only."""
    out = []
    for i in range(half, len(a) - half):
        nb = np.concatenate([a[i - half: i], a[i + 1: i + half + 1]])
        if a[i] > factor * np.median(nb) + margin:
            out.append(i)
    return out


@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_joint_paths_have_no_acceleration_spikes(name, clips):
    """No joint (all 24) has a velocity jump: no isolated one-frame acceleration spike at 60 Hz."""
    acc = _joint_acc_imu_rate(clips[name])
    for j in range(24):
        spikes = _isolated_spikes(acc[:, j])
        assert not spikes, (f"{name}: joint {j} has isolated acceleration spikes at 60 Hz frames "
                            f"{[i + 1 for i in spikes[:5]]} ({acc[spikes[0], j]:.0f} m/s^2)")


@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_joint_accelerations_are_realistic(name, clips):
    acc = _joint_acc_imu_rate(clips[name])
    body, feet = JOINT_ACC_BOUNDS.get(name, DAILY_ACC_BOUND)
    assert acc[:, OTHER_JOINTS].max() < body, f"{name}: a joint accelerates at {acc[:, OTHER_JOINTS].max():.0f} m/s^2"
    assert acc[:, FEET_ANKLES].max() < feet, f"{name}: a foot accelerates at {acc[:, FEET_ANKLES].max():.0f} m/s^2"


def test_jumping_arm_swing_has_a_realistic_speed(clips):
    """Counter-movement arm swing: shoulder rate below ~10 rad/s, wrist acceleration below ~7 g."""
    c = clips["jumping"]
    for side in ("left", "right"):
        R = c.R_local[:, J[f"{side}_shoulder"]]
        rate = np.linalg.norm(relative_rotation_vector(R[:-1], R[1:]), axis=-1) * c.fps
        assert 5.0 < rate.max() < 10.0, "a vigorous but human arm swing"
    acc = _joint_acc_imu_rate(c)
    assert acc[:, [J["left_wrist"], J["right_wrist"]]].max() < 70.0


def test_jump_take_off_and_landing_keep_the_feet_velocity_continuous(clips):
    """The ankles leave and meet the floor without a velocity jump (no 1 m/s step in one frame)."""
    c = clips["jumping"]
    p = c.joint_state().p
    for j in (J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]):
        dv = np.linalg.norm(np.diff(p[:, j], 2, axis=0), axis=-1) * c.fps  # velocity change per frame, m/s
        assert dv.max() < 0.5


@pytest.fixture(scope="module")
def imu_recordings():
    """Virtual wrist / thigh / head IMU recordings of the shipped demo files (the default synthesis)."""
    amass = pytest.importorskip("virtimu.io.amass")
    from virtimu.body.files import load_body_model
    from virtimu.sensors.placement import attach_sites, load_site_table, resolve_sites
    from virtimu.sensors.synth import SynthConfig, synthesize
    body = load_body_model()
    sites = resolve_sites("wrist,thigh,head", load_site_table())
    attachments = attach_sites(body, sites)
    return {name: synthesize(amass.read_amass(DEMO_MOTIONS_DIR / f"{name}.npz"), body, attachments, SynthConfig())
            for name in DEMO_CLIPS}


@pytest.mark.parametrize("name", list(DEMO_CLIPS))
def test_synthesized_accelerometers_are_plausible(name, imu_recordings):
    """End to end (file -> synthesis at 60 Hz): accelerometer maxima within realistic bounds per
    activity and site, and no isolated spikes."""
    rec = imu_recordings[name]
    bounds = SENSOR_ACC_BOUNDS.get(name, {})
    for site in ("left_wrist", "right_thigh", "head"):
        f = np.linalg.norm(rec.select([f"{site}/acc_{a}" for a in "xyz"]), axis=1)
        assert f.max() < bounds.get(site, DAILY_SENSOR_BOUND), f"{name} {site}: |a| up to {f.max():.1f} m/s^2"
        assert not _isolated_spikes(f), f"{name} {site}: isolated accelerometer spikes"
    if name == "jumping":
        gyro = np.linalg.norm(rec.select([f"left_wrist/gyro_{a}" for a in "xyz"]), axis=1)
        assert gyro.max() < 12.0, "wrist rate of a human arm swing"


def test_fill_knee_carries_angle_and_rate_and_stays_flexed():
    fps = 120.0
    t = np.arange(240) / fps
    knee = 0.4 + 0.3 * np.sin(3.0 * t)
    known = np.ones(240, bool)
    known[60:180] = False
    knee[:60] = 0.5 - 6.0 * (t[:60] - t[59])  # extending fast into the gap
    out = fill_knee(np.where(known, knee, np.nan), known, fps, peak=1.2, peak_at=0.4, reversal=0.06)
    np.testing.assert_allclose(out[known], knee[known])
    rate = np.diff(out) * fps
    assert abs(rate[59] - rate[58]) < 1.0 and abs(rate[180] - rate[179]) < 1.0, "rate continuous at both ends"
    assert out.min() > 0.03, "never straighter than the floor"
    assert abs(out[60:180].max() - 1.2) < 0.02
    assert np.abs(np.diff(out, 2)).max() * fps ** 2 < 400.0, "no corner (angular acceleration bounded)"


def test_fill_gaps_c1_keeps_value_and_rate():
    fps = 100.0
    x = np.sin(np.arange(100) / fps * 4.0)
    known = np.ones(100, bool)
    known[30:70] = False
    out = fill_gaps_c1(np.where(known, x, 0.0), known, fps)
    np.testing.assert_array_equal(out[known], x[known])
    rate = np.diff(out) * fps
    # a C0 (linear) fill would change the rate by ~3 at each end; curvature alone by ~0.2
    assert abs(rate[29] - rate[28]) < 0.25 and abs(rate[70] - rate[69]) < 0.25


def test_rolling_foot_pose_is_smooth_over_the_forefoot(skel):
    """Rolling from the ball onto the toe tip has no corner: the ankle path is C1 in the pitch."""
    foot = RollingFoot(skel, "left")
    pitch = np.linspace(-1.3, -0.001, 400)
    ankle, _, toe = foot.pose(np.zeros((400, 3)), pitch)
    h = pitch[1] - pitch[0]
    curvature = np.linalg.norm(np.diff(ankle, 2, axis=0), axis=1) / h ** 2
    assert curvature.max() < 0.5, "the pivot moves gradually from the ball to the toe tip"
    assert np.all(np.diff(toe) <= 1e-12) and toe.max() <= -foot.toe_pitch + 0.01


def test_smooth_max_and_min_bracket_the_hard_ones():
    a, b = np.linspace(-1, 1, 21), np.zeros(21)
    hi, lo = smooth_max(a, b, 0.1), smooth_min(a, b, 0.1)
    assert np.all(hi >= np.maximum(a, b)) and np.all(hi - np.maximum(a, b) <= 0.1 * np.log(2) + 1e-12)
    assert np.all(lo <= np.minimum(a, b)) and np.all(np.minimum(a, b) - lo <= 0.1 * np.log(2) + 1e-12)


def test_too_long_a_stride_is_refused():
    with pytest.raises(ValueError, match="stride|reach"):
        generate(RunParams(duration=3.0, speed=4.0, step_frequency=2.5), approximate_skeleton())


# ----------------------------------------------------------------------------- the generator as a library
def test_generation_is_deterministic_and_seeded():
    a = generate(WalkParams(duration=2.0, seed=3))
    b = generate(WalkParams(duration=2.0, seed=3))
    c = generate(WalkParams(duration=2.0, seed=4))
    np.testing.assert_array_equal(a.R_local, b.R_local)
    np.testing.assert_array_equal(a.trans, b.trans)
    assert np.abs(a.trans - c.trans).max() > 1e-3


@pytest.mark.parametrize("speed,freq", [(1.0, 1.6), (1.6, 2.0)])
def test_walking_parameters_take_effect(speed, freq):
    skel = approximate_skeleton()
    c = generate(WalkParams(duration=5.0, speed=speed, step_frequency=freq, variability=0.0), skel)
    st = c.joint_state()
    assert abs(_speed(st.p[:, 0], c.fps) - speed) < 0.05
    assert abs(_step_frequency(foot_points(st, skel), c.fps) - freq) < 0.1
    assert abs(WalkParams(speed=speed, step_frequency=freq).stride_length - 2 * speed / freq) < 1e-12


def test_heading_and_start_place_the_walk():
    c = generate(WalkParams(duration=3.0, heading=np.pi / 2, start=(2.0, -1.0)))
    p = c.joint_state().p[:, 0]
    np.testing.assert_allclose(p[0, :2], [2.0, -1.0], atol=1e-9)
    d = p[-1, :2] - p[0, :2]
    assert d[1] > 3.0 and abs(d[0]) < 0.2, "walks along +y"
    # The body faces its walking direction: pelvis forward axis (model +z) along +y.
    fwd = c.R_local[:, 0] @ np.array([0.0, 0.0, 1.0])
    assert np.all(fwd[:, 1] > 0.9)


def test_other_bodies_keep_their_feet_on_the_floor():
    """The generator takes the rest skeleton as input: a 10 % smaller body still walks cleanly."""
    small = Skeleton.from_rest_joints(0.9 * APPROX_SMPL_NEUTRAL_JOINTS, source="small")
    for params in (WalkParams(duration=3.0), RunParams(duration=3.0)):
        feet = foot_points(generate(params, small).joint_state(), small)
        assert feet[..., 2].min() > -0.01
        assert _max_slip(feet) < 0.02


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="duty_factor"):
        generate(WalkParams(duty_factor=0.9))
    with pytest.raises(ValueError, match="jumps"):
        generate(JumpParams(n_jumps=5, duration=6.0))
    with pytest.raises(ValueError, match="timeline"):
        generate(SitParams(duration=5.0))
    with pytest.raises(TypeError, match="no generator"):
        generate(object())


def test_clip_to_motion_labels(clips):
    m = clips["sit_stand"].to_motion()
    assert m.poses.shape == (clips["sit_stand"].n_frames, 52, 3)
    assert m.label_map[m.labels[0]] == "standing"
    assert set(m.label_map.values()) == EXPECTED_LABELS["sit_stand"]
    assert 0 not in m.label_map, "code 0 stays the null label"


def test_ease_rotation_gaps_is_continuous_and_hits_the_ends():
    t = np.arange(120) / 120.0
    R = so3_exp(np.outer(2.0 * t, [0.0, 0.6, 0.8]))
    known = np.ones(120, bool)
    known[40:90] = False
    F = ease_rotation_gaps(R, known, 120.0)
    np.testing.assert_allclose(F[known], R[known])
    rate = np.linalg.norm(so3_log(np.einsum("tba,tbc->tac", F[:-1], F[1:])), axis=1) * 120
    # Steps 38 -> 39 (known) and 39 -> 40 (first eased): the angular speed carries on into the gap
    # (an ease from rest would drop it to ~0) ...
    assert abs(rate[39] - rate[38]) < 0.4 * rate[38]
    assert abs(rate[89] - rate[90]) < 0.4 * rate[90]
    # ... and the gap is covered without detours: total turn about the direct one.
    assert rate[39:90].sum() / 120 < 1.2 * np.linalg.norm(so3_log(R[39].T @ R[90]))


def test_make_demo_motions_script_writes_a_readable_clip(tmp_path):
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_demo_motions.py"
    spec = importlib.util.spec_from_file_location("make_demo_motions", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--only", "standing", "--approximate-skeleton"]) == 0
    with np.load(tmp_path / "standing.npz", allow_pickle=False) as d:
        assert d["poses"].shape[1] == 156 and str(d["virtimu_label"]) == "standing"
