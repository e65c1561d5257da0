"""Signal physics against analytic answers: rest = +1 g up, constant acceleration,
O(dt²) central differences, constant-rate rotation, magnetometer and channel layout."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from virtimu.rotations import axis_angle_to_matrix, quaternion_to_matrix
from virtimu.sensors.signals import (
    DEFAULT_MAG_FIELD,
    GRAVITY,
    SIGNAL_AXES,
    SIGNAL_UNITS,
    acc_in_sensor_frame,
    central_difference_acc,
    channel_names,
    global_acc_without_gravity,
    gyro_from_orientations,
    magnetometer,
    orientation_channels,
    quaternion_channels,
    signal_kind,
    specific_force,
)

FS = 60.0
DT = 1.0 / FS


def _random_rotations(n: int, seed: int) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


def _expm(w: np.ndarray) -> np.ndarray:
    """Rotation matrix exp([w]x) for w (..., 3)."""
    return axis_angle_to_matrix(w)


# --------------------------------------------------------------------------- accelerometer


def test_rest_reads_plus_one_g_up_in_sensor_frame():
    T, S = 7, 3
    R = np.empty((T, S, 3, 3))
    R[:, 0] = np.eye(3)
    R[:, 1] = _random_rotations(1, seed=1)[0]
    R[:, 2] = axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))  # upside down
    p = np.broadcast_to(np.array([0.3, -1.2, 0.9]), (T, S, 3))
    acc_w = central_difference_acc(p, DT)
    f = specific_force(acc_w, R)
    assert f.shape == (T, S, 3)
    np.testing.assert_allclose(f[:, 0], np.broadcast_to([0.0, 0.0, 9.81], (T, 3)), atol=1e-12)
    np.testing.assert_allclose(f[:, 1], np.broadcast_to(R[0, 1].T @ [0.0, 0.0, 9.81], (T, 3)), atol=1e-12)
    np.testing.assert_allclose(f[:, 2], np.broadcast_to([0.0, 0.0, -9.81], (T, 3)), atol=1e-12)
    # |f| = g whatever the orientation
    np.testing.assert_allclose(np.linalg.norm(f, axis=-1), 9.81, rtol=1e-12)


def test_specific_force_in_free_fall_is_zero_and_sensor_frame_rotation():
    R = _random_rotations(4, seed=2).reshape(4, 1, 3, 3)
    acc_w = np.broadcast_to(GRAVITY, (4, 1, 3))
    np.testing.assert_allclose(specific_force(acc_w, R), 0.0, atol=1e-12)
    a = np.random.default_rng(0).normal(size=(4, 1, 3))
    a_s = acc_in_sensor_frame(a, R)
    np.testing.assert_allclose(np.einsum("tsij,tsj->tsi", R, a_s), a, atol=1e-12)
    g = global_acc_without_gravity(a)
    np.testing.assert_array_equal(g, a)
    assert g is not a


def test_specific_force_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="R_ws"):
        specific_force(np.zeros((5, 2, 3)), np.zeros((5, 3, 3, 3)))
    with pytest.raises(ValueError, match="gravity"):
        specific_force(np.zeros((5, 2, 3)), np.zeros((5, 2, 3, 3)), gravity=np.zeros(2))


@pytest.mark.parametrize("span", [1, 3])
def test_constant_acceleration_recovered_exactly(span):
    T = 151
    t = np.arange(T) * DT
    a = np.array([[1.5, -0.7, 3.2], [-9.81, 0.0, 0.25]])  # (S, 3)
    v0 = np.array([[0.4, 1.0, -0.3], [0.0, -2.0, 1.0]])
    p0 = np.array([[0.1, 0.2, 1.0], [-0.5, 0.0, 0.8]])
    p = p0 + v0 * t[:, None, None] + 0.5 * a * t[:, None, None] ** 2
    acc = central_difference_acc(p, DT, span=span)
    assert acc.shape == p.shape
    np.testing.assert_allclose(acc, np.broadcast_to(a, acc.shape), rtol=1e-6, atol=1e-9)


def _sine_error(fs: float) -> float:
    """Max error of the central difference of a sine against its analytic acceleration."""
    dt = 1.0 / fs
    t = np.arange(int(2.0 * fs) + 1) * dt
    w, amp = 2 * np.pi * 1.7, 0.3
    p = np.zeros((len(t), 1, 3))
    p[:, 0, 0] = amp * np.sin(w * t + 0.4)
    a_true = -amp * w**2 * np.sin(w * t + 0.4)
    a = central_difference_acc(p, dt)
    return float(np.max(np.abs(a[1:-1, 0, 0] - a_true[1:-1])))


def test_central_difference_error_is_second_order():
    e1, e2, e3 = _sine_error(60.0), _sine_error(120.0), _sine_error(240.0)
    assert 3.8 < e1 / e2 < 4.2
    assert 3.9 < e2 / e3 < 4.1
    # and it has the leading truncation term amp * w^4 * dt^2 / 12
    w, amp = 2 * np.pi * 1.7, 0.3
    assert e1 == pytest.approx(amp * w**4 / 60.0**2 / 12, rel=0.05)


def test_central_difference_edges_copy_nearest_interior():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(20, 2, 3))
    for n in (1, 2, 4):
        a = central_difference_acc(p, DT, span=n)
        interior = (p[:20 - 2 * n] + p[2 * n:] - 2 * p[n:20 - n]) / (n * DT) ** 2
        np.testing.assert_allclose(a[n:20 - n], interior, rtol=1e-12)
        for k in range(n):
            np.testing.assert_array_equal(a[k], a[n])
            np.testing.assert_array_equal(a[19 - k], a[19 - n])


def test_central_difference_rejects_short_and_bad_input():
    with pytest.raises(ValueError, match="= 7 frames for span=3, got T=6"):
        central_difference_acc(np.zeros((6, 1, 3)), DT, span=3)
    with pytest.raises(ValueError, match="span"):
        central_difference_acc(np.zeros((10, 1, 3)), DT, span=0)
    with pytest.raises(ValueError, match="dt"):
        central_difference_acc(np.zeros((10, 1, 3)), 0.0)
    assert central_difference_acc(np.zeros((7, 1, 3)), DT, span=3).shape == (7, 1, 3)


# --------------------------------------------------------------------------- gyroscope


@pytest.mark.parametrize("rate", [0.3, 3.0, 10.0])
def test_constant_body_rate_with_tilted_mounting(rate):
    """Body turns at constant rate about a body-fixed (oblique) axis; sensors are mounted
    with fixed rotations R_bs; each reads R_bsᵀ ω_b."""
    T = 90
    axis = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    w_b = rate * axis
    t = np.arange(T) * DT
    R0 = _random_rotations(1, seed=4)[0]
    R_wb = R0 @ _expm(t[:, None] * w_b)  # (T, 3, 3)
    R_bs = np.stack([np.eye(3), _random_rotations(1, seed=5)[0],
                     axis_angle_to_matrix(np.array([0.0, np.pi / 2, 0.0]))])  # (S, 3, 3)
    R_ws = np.einsum("tij,sjk->tsik", R_wb, R_bs)
    gyro = gyro_from_orientations(R_ws, DT)
    assert gyro.shape == (T, 3, 3)
    expected = np.einsum("sji,j->si", R_bs, w_b)  # R_bsᵀ ω_b
    np.testing.assert_allclose(gyro, np.broadcast_to(expected, gyro.shape), atol=1e-9 * max(rate, 1))


def test_constant_world_rate_gives_rotating_sensor_frame_rate():
    """Rotation at constant rate Ω about a fixed world axis: ω_s(t) = R_ws(t)ᵀ Ω, exactly."""
    T = 60
    Omega = np.array([2.0, 5.0, -7.0])  # |Ω| ≈ 8.8 rad/s
    t = np.arange(T) * DT
    R0 = _random_rotations(2, seed=6)  # two sensors
    R_ws = np.einsum("tij,sjk->tsik", _expm(t[:, None] * Omega), R0)
    gyro = gyro_from_orientations(R_ws, DT)
    expected = np.einsum("tsji,j->tsi", R_ws, Omega)
    np.testing.assert_allclose(gyro, expected, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(gyro, axis=-1), np.linalg.norm(Omega), rtol=1e-10)


def test_gyro_of_oscillating_rotation_is_second_order():
    """θ(t) = A sin(w t) about a fixed axis: ω = A w cos(w t); error shrinks ~4x per halving of dt."""
    axis = np.array([0.0, 0.6, 0.8])
    amp, w = 1.2, 2 * np.pi * 1.1

    def err(fs: float) -> float:
        t = np.arange(int(2 * fs) + 1) / fs
        R = _expm((amp * np.sin(w * t))[:, None] * axis)[:, None]
        g = gyro_from_orientations(R, 1 / fs)[1:-1, 0]
        return float(np.max(np.abs(g - (amp * w * np.cos(w * t[1:-1]))[:, None] * axis)))

    ratio = err(60.0) / err(120.0)
    assert 3.7 < ratio < 4.3


def test_gyro_rejects_single_frame():
    with pytest.raises(ValueError, match="at least 2 frames"):
        gyro_from_orientations(np.eye(3)[None, None], DT)


# --------------------------------------------------------------------------- magnetometer, orientation


def test_magnetometer_rotates_world_field():
    assert np.linalg.norm(DEFAULT_MAG_FIELD) == pytest.approx(48.0)
    assert DEFAULT_MAG_FIELD[2] < 0 and DEFAULT_MAG_FIELD[0] == 0 and DEFAULT_MAG_FIELD[1] > 0
    R = _random_rotations(6, seed=7).reshape(3, 2, 3, 3)
    m = magnetometer(R)
    assert m.shape == (3, 2, 3)
    np.testing.assert_allclose(np.einsum("tsij,tsj->tsi", R, m), np.broadcast_to(DEFAULT_MAG_FIELD, m.shape),
                               atol=1e-12)
    ident = magnetometer(np.broadcast_to(np.eye(3), (2, 1, 3, 3)))
    np.testing.assert_allclose(ident[0, 0], DEFAULT_MAG_FIELD)


def test_orientation_and_quaternion_channel_layout():
    R = _random_rotations(8, seed=8).reshape(4, 2, 3, 3)
    rot = orientation_channels(R)
    assert rot.shape == (4, 2, 9)
    for k, name in enumerate(SIGNAL_AXES["rot"]):
        i, j = int(name[-2]), int(name[-1])
        np.testing.assert_array_equal(rot[..., k], R[..., i, j])
    q = quaternion_channels(R)
    assert q.shape == (4, 2, 4)
    assert np.all(q[..., 0] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-12)


def test_channel_tables_and_names():
    assert set(SIGNAL_AXES) == set(SIGNAL_UNITS) == {"acc", "gyro", "mag", "rot", "quat"}
    assert [len(SIGNAL_AXES[k]) for k in ("acc", "gyro", "mag", "rot", "quat")] == [3, 3, 3, 9, 4]
    assert SIGNAL_AXES["rot"][1] == "rot_01" and SIGNAL_AXES["quat"][0] == "quat_w"
    assert SIGNAL_UNITS["acc"] == "m/s^2" and SIGNAL_UNITS["mag"] == "uT"
    assert channel_names("left_wrist", "gyro") == ["left_wrist/gyro_x", "left_wrist/gyro_y", "left_wrist/gyro_z"]
    assert [signal_kind(c) for c in ("left_wrist/acc_x", "head/rot_22", "a/b/quat_w", "mag_z")] == \
        ["acc", "rot", "quat", "mag"]
    with pytest.raises(KeyError, match="valid kinds"):
        channel_names("head", "baro")
