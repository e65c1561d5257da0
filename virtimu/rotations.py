"""Rotation utilities: pure functions on arrays, shapes in docstrings.

Conventions: rotation matrices act on column vectors (``v_w = R_wb @ v_b``);
quaternions are scalar-first ``(w, x, y, z)``.  scipy's ``Rotation`` does the
conversions; the helpers here only fix shapes and conventions.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """aa (..., 3) axis-angle (radians) -> R (..., 3, 3)."""
    aa = np.asarray(aa, dtype=np.float64)
    flat = aa.reshape(-1, 3)
    R = Rotation.from_rotvec(flat).as_matrix()
    return R.reshape(aa.shape[:-1] + (3, 3))


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """R (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi]."""
    R = np.asarray(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    aa = Rotation.from_matrix(flat).as_rotvec()
    return aa.reshape(R.shape[:-2] + (3,))


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """R (..., 3, 3) -> unit quaternion (..., 4), scalar first (w, x, y, z), w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()  # (x, y, z, w)
    q = np.concatenate([q[:, 3:], q[:, :3]], axis=1)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(R.shape[:-2] + (4,))


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """q (..., 4) scalar-first (w, x, y, z) -> R (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    flat = q.reshape(-1, 4)
    R = Rotation.from_quat(np.concatenate([flat[:, 1:], flat[:, :1]], axis=1)).as_matrix()
    return R.reshape(q.shape[:-1] + (3, 3))


def relative_rotation_vector(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """Rotation vector of ``R_a^T R_b`` (the step from a to b in a's frame).

    R_a, R_b: (..., 3, 3) -> (..., 3) radians.
    """
    rel = np.einsum("...ji,...jk->...ik", R_a, R_b)
    return matrix_to_axis_angle(rel)


def slerp_rotations(R: np.ndarray, t_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of rotation sequences.

    R: (T, K, 3, 3) rotations sampled at times t_src (T,) (increasing);
    t_dst: (T2,) query times inside [t_src[0], t_src[-1]].
    Returns (T2, K, 3, 3).  Never interpolates axis-angle linearly.
    """
    R = np.asarray(R, dtype=np.float64)
    T, K = R.shape[:2]
    t_dst = np.clip(np.asarray(t_dst, dtype=np.float64), t_src[0], t_src[-1])
    out = np.empty((len(t_dst), K, 3, 3))
    if T == 1:
        out[:] = R[0]
        return out
    for k in range(K):
        s = Slerp(t_src, Rotation.from_matrix(R[:, k]))
        out[:, k] = s(t_dst).as_matrix()
    return out
