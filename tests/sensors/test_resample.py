"""Rate conversion: target frames, exact copies at coinciding frames, SLERP, accuracy of
(a) resample poses then difference and (b) difference then anti-aliased decimation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from virtimu.rotations import axis_angle_to_matrix, relative_rotation_vector
from virtimu.sensors.resample import (
    decimate_signals,
    rational_ratio,
    resample_orientations,
    resample_pose_sequence,
    target_times,
)
from virtimu.sensors.signals import central_difference_acc

# Sinusoidal root trajectory: one frequency and phase per axis.
AMP = np.array([0.2, 0.15, 0.05])  # m
FREQ = np.array([1.3, 0.7, 2.1])  # Hz
PHASE = np.array([0.3, 1.1, -0.4])
OMEGA = 2 * np.pi * FREQ
DURATION = 4.0  # s


def _position(t: np.ndarray) -> np.ndarray:
    return AMP * np.sin(OMEGA * t[:, None] + PHASE)


def _acceleration(t: np.ndarray) -> np.ndarray:
    return -AMP * OMEGA**2 * np.sin(OMEGA * t[:, None] + PHASE)


def _truncation_bound(fs: float) -> float:
    """Leading central-difference error, max over axes of amp * w^4 * dt^2 / 12 (m/s^2)."""
    return float(np.max(AMP * OMEGA**4)) / fs**2 / 12


def _smooth_rotations(n: int, fs: float, n_joints: int = 3) -> np.ndarray:
    t = np.arange(n) / fs
    aa = np.stack([np.sin(1.1 * t + j)[:, None] * np.array([0.3, -0.5, 0.8]) * (j + 1) for j in range(n_joints)],
                  axis=1)
    return axis_angle_to_matrix(aa)  # (n, J, 3, 3)


# --------------------------------------------------------------------------- target frames


@pytest.mark.parametrize("n_src, fs_src, fs_dst, n_dst", [
    (121, 120, 60, 61),   # exactly 1 s
    (120, 120, 60, 60),   # 119/120 s: last target at 59/60 s
    (101, 100, 60, 61),
    (100, 100, 60, 60),   # 0.99 s -> 0 .. 59/60
    (51, 50, 60, 61),     # upsampling
    (1, 120, 60, 1),
])
def test_target_times(n_src, fs_src, fs_dst, n_dst):
    t = target_times(n_src, fs_src, fs_dst)
    assert len(t) == n_dst
    np.testing.assert_allclose(t, np.arange(n_dst) / fs_dst)
    assert t[-1] <= (n_src - 1) / fs_src + 1e-12
    assert t[-1] + 1 / fs_dst > (n_src - 1) / fs_src  # no room for one more frame


def test_target_times_rejects_bad_rates():
    with pytest.raises(ValueError, match="fs_dst"):
        target_times(10, 100.0, 0.0)
    with pytest.raises(ValueError, match="n_src"):
        target_times(0, 100.0, 60.0)


# --------------------------------------------------------------------------- strategy (a)


@pytest.mark.parametrize("fs_src, fs_dst", [(120, 60), (120, 40), (100, 50), (60, 60)])
def test_integer_ratio_copies_source_frames_exactly(fs_src, fs_dst):
    n = int(DURATION * fs_src) + 1
    R = _smooth_rotations(n, fs_src)
    trans = _position(np.arange(n) / fs_src)
    R_dst, trans_dst, t_dst = resample_pose_sequence(R, trans, fs_src, fs_dst)
    m = fs_src // fs_dst
    np.testing.assert_array_equal(R_dst, R[::m])
    np.testing.assert_array_equal(trans_dst, trans[::m])
    np.testing.assert_array_equal(t_dst, np.arange(len(t_dst)) / fs_dst)


def test_rotations_are_slerped_not_linear_axis_angle():
    """Upsampling 30 -> 60 Hz puts every odd target frame at the geodesic midpoint."""
    n = 11
    R = Rotation.random(n * 2, random_state=9).as_matrix().reshape(n, 2, 3, 3)
    # keep steps below pi so the geodesic is unique
    steps = relative_rotation_vector(R[:-1], R[1:])
    R = np.concatenate([R[:1], np.einsum("tjab,tjbc->tjac", R[:-1], axis_angle_to_matrix(0.5 * steps))])
    R_dst, _, t_dst = resample_pose_sequence(R, np.zeros((n, 3)), 30.0, 60.0)
    assert len(t_dst) == 2 * n - 1
    np.testing.assert_array_equal(R_dst[::2], R)
    half = relative_rotation_vector(R[:-1], R[1:]) / 2
    midpoints = np.einsum("tjab,tjbc->tjac", R[:-1], axis_angle_to_matrix(half))
    np.testing.assert_allclose(R_dst[1::2], midpoints, atol=1e-10)
    # linear interpolation of axis-angle would differ from the geodesic here
    aa = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(n, 2, 3)
    linear = axis_angle_to_matrix(0.5 * (aa[:-1] + aa[1:]))
    assert np.max(np.abs(linear - midpoints)) > 1e-3


@pytest.mark.parametrize("fs_src, rel_tol", [
    (120, 1.01),  # frames coincide: the 60 Hz truncation error only
    (100, 1.05),  # non-integer ratio: + cubic-spline error at 100 Hz
    (50, 2.0),    # upsampling: + spline second-derivative error O(dt_src^2)
])
def test_resample_then_difference_matches_analytic_acceleration(fs_src, rel_tol):
    fs_dst = 60.0
    n = int(DURATION * fs_src) + 1
    t_src = np.arange(n) / fs_src
    R = _smooth_rotations(n, fs_src, n_joints=2)
    R_dst, trans_dst, t_dst = resample_pose_sequence(R, _position(t_src), fs_src, fs_dst)
    assert R_dst.shape == (len(t_dst), 2, 3, 3) and trans_dst.shape == (len(t_dst), 3)
    acc = central_difference_acc(trans_dst, 1 / fs_dst)
    err = np.max(np.abs(acc - _acceleration(t_dst))[1:-1])
    bound = _truncation_bound(fs_dst)
    assert err <= rel_tol * bound, (err, bound)
    # the error is the O(dt^2) truncation at 60 Hz, not something smaller by luck
    assert err > 0.5 * bound


def test_resample_pose_sequence_validates_shapes():
    with pytest.raises(ValueError, match="trans"):
        resample_pose_sequence(np.broadcast_to(np.eye(3), (5, 2, 3, 3)), np.zeros((4, 3)), 120, 60)
    with pytest.raises(ValueError, match="R_local"):
        resample_pose_sequence(np.zeros((5, 3, 3)), np.zeros((5, 3)), 120, 60)


def test_resample_orientations_matches_pose_resampling():
    n = int(DURATION * 100) + 1
    R = _smooth_rotations(n, 100.0, n_joints=4).reshape(n, 2, 2, 3, 3)
    out = resample_orientations(R, 100.0, 60.0)
    assert out.shape == (len(target_times(n, 100.0, 60.0)), 2, 2, 3, 3)
    R_dst, _, _ = resample_pose_sequence(R.reshape(n, 4, 3, 3), np.zeros((n, 3)), 100.0, 60.0)
    np.testing.assert_allclose(out.reshape(R_dst.shape), R_dst, atol=1e-12)
    np.testing.assert_allclose(np.einsum("...ji,...jk->...ik", out, out), np.broadcast_to(np.eye(3), out.shape),
                               atol=1e-12)


# --------------------------------------------------------------------------- strategy (b)


@pytest.mark.parametrize("fs_src, fs_dst", [
    (120, 60), (100, 60), (50, 60), (250, 60), (60, 60), (59.94, 60), (120, 59.123), (200, 30),
])
@pytest.mark.parametrize("n", [2, 37, 481])
def test_decimated_length_matches_strategy_a_frames(fs_src, fs_dst, n):
    x = np.random.default_rng(n).normal(size=(n, 3))
    y = decimate_signals(x, fs_src, fs_dst)
    _, _, t_dst = resample_pose_sequence(np.broadcast_to(np.eye(3), (n, 1, 3, 3)), np.zeros((n, 3)), fs_src, fs_dst)
    assert y.shape == (len(t_dst), 3)
    # time axis elsewhere
    y2 = decimate_signals(x.T[None], fs_src, fs_dst, axis=-1)
    assert y2.shape == (1, 3, len(t_dst))
    np.testing.assert_allclose(y2[0].T, y, atol=1e-12)


def test_rational_ratio():
    assert rational_ratio(250, 60) == (6, 25)
    assert rational_ratio(120, 60) == (1, 2)
    assert rational_ratio(59.94, 60) == (1000, 999)


def _amplitude(y: np.ndarray) -> float:
    return float(np.sqrt(2 * np.mean(y**2)))


def test_decimation_is_anti_aliased():
    fs_src, fs_dst = 250.0, 60.0
    n = int(10 * fs_src) + 1
    t = np.arange(n) / fs_src
    t_dst = target_times(n, fs_src, fs_dst)
    keep = (t_dst > 1.0) & (t_dst < 9.0)
    # 40 Hz is above the 30 Hz target Nyquist: it would alias to 20 Hz at full amplitude
    aliased = decimate_signals(np.sin(2 * np.pi * 40 * t + 0.3), fs_src, fs_dst)
    assert _amplitude(aliased[keep]) < 0.01
    naive = np.sin(2 * np.pi * 40 * t_dst + 0.3)  # what plain picking of samples would give
    assert _amplitude(naive[keep]) > 0.9
    # 2 Hz passes with < 1 % amplitude error, in phase
    passed = decimate_signals(np.sin(2 * np.pi * 2 * t + 0.3), fs_src, fs_dst)
    np.testing.assert_allclose(passed[keep], np.sin(2 * np.pi * 2 * t_dst[keep] + 0.3), atol=0.01)


def test_decimation_keeps_constant_offsets_at_the_edges():
    """Gravity-like offsets must not ring at the ends (edge padding extends the trend)."""
    x = np.full((301, 1), 9.81) + 0.01 * np.arange(301)[:, None] / 120
    y = decimate_signals(x, 120.0, 60.0)
    t = target_times(301, 120.0, 60.0)
    np.testing.assert_allclose(y[:, 0], 9.81 + 0.01 * t, atol=1e-6)


@pytest.mark.parametrize("fs_src, atol", [(120, 0.005), (100, 0.01), (250, 0.01)])
def test_difference_then_decimate_matches_analytic_acceleration(fs_src, atol):
    """Strategy (b): central difference at the native rate, low-pass and decimate to 60 Hz."""
    fs_dst = 60.0
    n = int(DURATION * fs_src) + 1
    acc_native = central_difference_acc(_position(np.arange(n) / fs_src), 1 / fs_src)
    acc = decimate_signals(acc_native, fs_src, fs_dst)
    t_dst = target_times(n, fs_src, fs_dst)
    keep = (t_dst > 0.5) & (t_dst < DURATION - 0.5)
    err = np.max(np.abs(acc - _acceleration(t_dst))[keep])
    # peak acceleration is ~13 m/s^2; atol is well below the 60 Hz truncation error of strategy (a)
    assert err < atol < _truncation_bound(fs_dst)


def test_decimation_to_a_rate_without_small_exact_ratio_stays_aligned():
    """120 -> 60.02 Hz is approximated as 1/2 (denominator <= 1000) and then re-gridded onto
    the exact target times; without that the frames would drift by 6.7 ms over 20 s."""
    fs_src, fs_dst = 120.0, 60.02
    n = int(20 * fs_src) + 1
    t = np.arange(n) / fs_src
    y = decimate_signals(np.sin(2 * np.pi * 2 * t + 0.3), fs_src, fs_dst)
    t_dst = target_times(n, fs_src, fs_dst)
    keep = (t_dst > 1.0) & (t_dst < t_dst[-1] - 1.0)
    np.testing.assert_allclose(y[keep], np.sin(2 * np.pi * 2 * t_dst[keep] + 0.3), atol=0.005)
