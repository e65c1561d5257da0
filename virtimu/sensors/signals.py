"""IMU signal physics: pure functions from sensor world poses to signals.

Conventions (see DESIGN.md):

* World frame: AMASS, z up, gravity ``GRAVITY = (0, 0, -9.81)`` m/s².
* ``R_ws`` (T, S, 3, 3): sensor-to-world rotations of S sensors over T frames
  (``v_w = R_ws @ v_s``).
* Accelerometer = specific force in the sensor frame,
  ``f_s = R_wsᵀ (p̈_w − g_w)``: a sensor lying still reads +9.81 m/s² along
  its upward axis.
* Gyroscope = body rates in the sensor frame, from consecutive orientations
  through the log map (never from Euler-angle differences).
* Magnetometer = a constant world field rotated into the sensor frame.

Everything is computed in float64; callers cast for storage.
"""
from __future__ import annotations

import logging

import numpy as np

from virtimu.rotations import matrix_to_quaternion, relative_rotation_vector

logger = logging.getLogger(__name__)

#: Gravity in the AMASS world frame (z up), m/s².
GRAVITY = np.array([0.0, 0.0, -9.81])

#: Default Earth magnetic field in the world frame, µT.
#: A typical mid-latitude northern-hemisphere field: 48 µT total intensity,
#: 60° inclination (pointing down into the ground).  AMASS has no geographic
#: north, so magnetic north is taken, by convention, along world +y:
#: ``48 * (0, cos 60°, -sin 60°) = (0, 24.0, -41.57)`` µT.
DEFAULT_MAG_FIELD = 48.0 * np.array([0.0, np.cos(np.deg2rad(60.0)), -np.sin(np.deg2rad(60.0))])

_AXES = ("x", "y", "z")

#: Channel suffixes per signal kind; a full channel name is ``<site>/<suffix>``.
SIGNAL_AXES: dict[str, list[str]] = {
    "acc": [f"acc_{a}" for a in _AXES],
    "gyro": [f"gyro_{a}" for a in _AXES],
    "mag": [f"mag_{a}" for a in _AXES],
    "rot": [f"rot_{i}{j}" for i in range(3) for j in range(3)],
    "quat": ["quat_w", "quat_x", "quat_y", "quat_z"],
}

#: Unit string per signal kind.
SIGNAL_UNITS: dict[str, str] = {
    "acc": "m/s^2",
    "gyro": "rad/s",
    "mag": "uT",
    "rot": "1",
    "quat": "1",
}


def channel_names(site: str, kind: str) -> list[str]:
    """Full channel names ``<site>/<suffix>`` of one signal kind at one site.

    >>> channel_names("left_wrist", "acc")
    ['left_wrist/acc_x', 'left_wrist/acc_y', 'left_wrist/acc_z']
    """
    if kind not in SIGNAL_AXES:
        raise KeyError(f"unknown signal kind {kind!r}; valid kinds: {sorted(SIGNAL_AXES)}")
    return [f"{site}/{suffix}" for suffix in SIGNAL_AXES[kind]]


def signal_kind(channel: str) -> str:
    """Signal kind of a channel name: ``'left_wrist/acc_x'`` -> ``'acc'``.

    The kind is the part of the last ``/``-separated field before its first
    ``_`` (``'rot_01'`` -> ``'rot'``); a name without ``_`` is its own kind.
    """
    leaf = channel.rsplit("/", 1)[-1]
    return leaf.split("_", 1)[0]


def _check_rotations(R: np.ndarray, name: str) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 3 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must be (T, ..., 3, 3) rotation matrices, got shape {R.shape}")
    return R


def central_difference_acc(p: np.ndarray, dt: float, span: int = 1) -> np.ndarray:
    """Second time derivative of positions by a central difference.

    ``a_t = (p_{t-n} + p_{t+n} - 2 p_t) / (n dt)²`` with smoothing span
    ``n = span`` (n = 1 is the formula of the SMPL/AMASS virtual-IMU papers,
    DIP and TransPose; larger n averages over a wider window).

    Edge rule: the first and last n frames, where the central formula has no
    neighbours, copy the nearest interior value (frame n for the start,
    frame T-1-n for the end).  This keeps the output aligned with the input
    frames and avoids one-sided differences, whose error is O(dt) instead of
    O(dt²).

    p: (T, ..., 3) positions in metres; dt: frame interval in seconds.
    Returns (T, ..., 3) accelerations in m/s² (float64).
    Raises ValueError when T < 2n + 1.
    """
    p = np.asarray(p, dtype=np.float64)
    n = int(span)
    if n != span or n < 1:
        raise ValueError(f"central_difference_acc: span must be a positive integer, got {span!r}")
    if not dt > 0:
        raise ValueError(f"central_difference_acc: dt must be > 0 seconds, got {dt!r}")
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"central_difference_acc: p must be (T, ..., 3) positions, got shape {p.shape}")
    T = p.shape[0]
    if T < 2 * n + 1:
        raise ValueError(
            f"central_difference_acc: need at least 2*span+1 = {2 * n + 1} frames for span={n}, got T={T}"
        )
    a = np.empty_like(p)
    a[n:T - n] = (p[:T - 2 * n] + p[2 * n:] - 2.0 * p[n:T - n]) / (n * dt) ** 2
    a[:n] = a[n]
    a[T - n:] = a[T - n - 1]
    return a


def acc_in_sensor_frame(acc_w: np.ndarray, R_ws: np.ndarray) -> np.ndarray:
    """World acceleration expressed in the sensor frame, without gravity.

    acc_w: (T, S, 3) m/s² world frame; R_ws: (T, S, 3, 3) sensor-to-world.
    Returns ``R_wsᵀ acc_w`` (T, S, 3) m/s².
    """
    acc_w = np.asarray(acc_w, dtype=np.float64)
    R_ws = _check_rotations(R_ws, "R_ws")
    if acc_w.shape != R_ws.shape[:-1]:
        raise ValueError(f"acc_w shape {acc_w.shape} does not match R_ws shape {R_ws.shape} (expected (..., 3))")
    return np.einsum("...ji,...j->...i", R_ws, acc_w)


def specific_force(acc_w: np.ndarray, R_ws: np.ndarray, gravity: np.ndarray = GRAVITY) -> np.ndarray:
    """Accelerometer reading: specific force in the sensor frame.

    ``f_s = R_wsᵀ (acc_w − g)``; a sensor at rest reads ``R_wsᵀ (0, 0, +9.81)``.

    acc_w: (T, S, 3) world accelerations, m/s²; R_ws: (T, S, 3, 3)
    sensor-to-world rotations; gravity: (3,) world gravity, m/s².
    Returns (T, S, 3) m/s².
    """
    acc_w = np.asarray(acc_w, dtype=np.float64)
    gravity = np.asarray(gravity, dtype=np.float64)
    if gravity.shape != (3,):
        raise ValueError(f"gravity must be a (3,) vector in m/s^2, got shape {gravity.shape}")
    return acc_in_sensor_frame(acc_w - gravity, R_ws)


def global_acc_without_gravity(acc_w: np.ndarray) -> np.ndarray:
    """DIP/TransPose convention: world-frame acceleration with gravity excluded.

    This is ``p̈_w`` itself (no rotation, no gravity term); the function only
    names the convention.  acc_w: (T, S, 3) m/s² -> (T, S, 3) m/s² (float64 copy).
    """
    return np.array(acc_w, dtype=np.float64, copy=True)


def gyro_from_orientations(R_ws: np.ndarray, dt: float) -> np.ndarray:
    """Angular velocity in the sensor frame from consecutive orientations.

    Midpoint rate between frames t and t+1: ``ω = log(R_tᵀ R_{t+1}) / dt``
    (rotation vector of the step, expressed in frame t; it is the same vector
    in frame t+1, because a rotation leaves its own axis fixed).  The value
    at frame t is the mean of its two adjacent midpoint rates; the first and
    last frames take their one-sided midpoint rate.  Exact for rotation at a
    constant rate about a fixed body axis or a fixed world axis, as long as
    one step turns by less than π (|ω| dt < π).

    R_ws: (T, ..., 3, 3) sensor-to-world rotations, T >= 2; dt in seconds.
    Returns (T, ..., 3) rad/s.
    """
    R_ws = _check_rotations(R_ws, "R_ws")
    if not dt > 0:
        raise ValueError(f"gyro_from_orientations: dt must be > 0 seconds, got {dt!r}")
    T = R_ws.shape[0]
    if T < 2:
        raise ValueError(f"gyro_from_orientations: need at least 2 frames, got T={T}")
    step = relative_rotation_vector(R_ws[:-1], R_ws[1:])  # (T-1, ..., 3) rad
    max_angle = float(np.max(np.linalg.norm(step, axis=-1)))
    if max_angle > 0.9 * np.pi:
        logger.warning(
            "gyro_from_orientations: a frame-to-frame rotation of %.2f rad (near pi) at dt=%.4g s; "
            "rates above %.1f rad/s are ambiguous at this frame rate", max_angle, dt, np.pi / dt,
        )
    mid = step / dt
    w = np.empty(R_ws.shape[:-1])
    w[0] = mid[0]
    w[-1] = mid[-1]
    if T > 2:
        w[1:-1] = 0.5 * (mid[:-1] + mid[1:])
    return w


def magnetometer(R_ws: np.ndarray, field_w: np.ndarray = DEFAULT_MAG_FIELD) -> np.ndarray:
    """Magnetometer reading: the world field in the sensor frame, ``R_wsᵀ m_w``.

    R_ws: (T, S, 3, 3); field_w: (3,) µT in the world frame.
    Returns (T, S, 3) µT.
    """
    R_ws = _check_rotations(R_ws, "R_ws")
    field_w = np.asarray(field_w, dtype=np.float64)
    if field_w.shape != (3,):
        raise ValueError(f"field_w must be a (3,) vector in uT, got shape {field_w.shape}")
    return np.einsum("...ji,j->...i", R_ws, field_w)


def orientation_channels(R_ws: np.ndarray) -> np.ndarray:
    """Rotation matrices flattened row-major: channels rot_00, rot_01, ..., rot_22.

    R_ws: (T, S, 3, 3) -> (T, S, 9), dimensionless.
    """
    R_ws = _check_rotations(R_ws, "R_ws")
    return R_ws.reshape(R_ws.shape[:-2] + (9,)).copy()


def quaternion_channels(R_ws: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) with w >= 0: channels quat_w .. quat_z.

    R_ws: (T, S, 3, 3) -> (T, S, 4), dimensionless.
    """
    R_ws = _check_rotations(R_ws, "R_ws")
    return matrix_to_quaternion(R_ws)
