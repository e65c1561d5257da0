"""Batched forward kinematics and sparse linear blend skinning (pure numpy).

World frame: AMASS convention (z up) -- the root orientation in AMASS poses
already rotates SMPL's y-up model space into it.  The root joint rotates about
its rest position; ``trans`` is added on top, exactly as smplx does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtimu.body.model import BodyModel
from virtimu.rotations import axis_angle_to_matrix
from virtimu.types import Motion


@dataclass
class JointState:
    """World poses of all joints over time.

    R: (T, J, 3, 3) joint-to-world rotations R_wj.
    p: (T, J, 3) joint positions in metres (world).
    """

    R: np.ndarray
    p: np.ndarray


def joint_closure(parents: np.ndarray, joints) -> np.ndarray:
    """Sorted indices of ``joints`` and all their ancestors (what FK needs to place them)."""
    need: set[int] = set()
    for j in joints:
        j = int(j)
        while j >= 0 and j not in need:
            need.add(j)
            j = int(parents[j])
    return np.array(sorted(need), dtype=np.int64)


def motion_rotations(motion: Motion, body: BodyModel, joints: np.ndarray | None = None) -> np.ndarray:
    """Local joint rotations of ``motion`` in ``body``'s joint order, (T, J_body, 3, 3).

    Joints are matched by name: an SMPL+H / SMPL-X sequence drives an SMPL body
    through its 22 body joints; joints the motion does not have (SMPL's
    ``left_hand`` / ``right_hand`` when driven by SMPL+H/SMPL-X, jaw and eyes)
    stay at identity, and motion joints the body lacks (fingers on an SMPL
    body) are ignored.
    """
    T = motion.n_frames
    R = np.broadcast_to(np.eye(3), (T, body.n_joints, 3, 3)).copy()
    src = {n: i for i, n in enumerate(motion.joint_names)}
    body_idx = [j for j, n in enumerate(body.joint_names) if n in src]
    motion_idx = [src[body.joint_names[j]] for j in body_idx]
    R[:, body_idx] = axis_angle_to_matrix(motion.poses[:, motion_idx])
    return R


def forward_kinematics(R_local: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray,
                       trans: np.ndarray | None = None, joints: np.ndarray | None = None) -> JointState:
    """World joint poses from local rotations.

    R_local: (T, J, 3, 3) local rotations (joint 0 = root orientation in world).
    rest_joints: (J, 3) rest joint positions (model space, betas applied).
    parents: (J,) parent indices, parents[j] < j, -1 for the root.
    trans: (T, 3) root translation or None.
    joints: optional sorted joint indices closed under parents (`joint_closure`):
        only these are computed, the others are left NaN.
    Returns JointState(R (T, J, 3, 3), p (T, J, 3)).
    """
    T, J = R_local.shape[:2]
    order = range(J) if joints is None else [int(k) for k in joints]
    fill = np.empty if joints is None else (lambda shape: np.full(shape, np.nan))
    R_w = fill((T, J, 3, 3))
    p_w = fill((T, J, 3))
    # Work joint by joint in a (3, 3, T) / (3, T) layout: element-wise products
    # over contiguous time vectors are several times faster than stacked 3x3 matmuls.
    R_soa: dict[int, np.ndarray] = {}
    p_soa: dict[int, np.ndarray] = {}
    for j in order:
        Rl = np.ascontiguousarray(R_local[:, j].transpose(1, 2, 0))  # (3, 3, T)
        par = int(parents[j])
        if par < 0:
            R, p = Rl, np.repeat(np.asarray(rest_joints[j], dtype=np.float64)[:, None], T, axis=1)
            if trans is not None:
                p = p + np.asarray(trans, dtype=np.float64).T
        else:
            Rp, pp = R_soa[par], p_soa[par]
            R = _matmul_soa(Rp, Rl)
            off = np.asarray(rest_joints[j] - rest_joints[par], dtype=np.float64)
            p = pp + Rp[:, 0] * off[0] + Rp[:, 1] * off[1] + Rp[:, 2] * off[2]
        R_soa[j], p_soa[j] = R, p
        R_w[:, j] = R.transpose(2, 0, 1)
        p_w[:, j] = p.T
    return JointState(R=R_w, p=p_w)


def _matmul_soa(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """C = A @ B for (3, 3, T) stacks stored time-last."""
    C = np.empty_like(A)
    for i in range(3):
        a0, a1, a2 = A[i, 0], A[i, 1], A[i, 2]
        for k in range(3):
            C[i, k] = a0 * B[0, k] + a1 * B[1, k] + a2 * B[2, k]
    return C


def skin_vertices(body: BodyModel, betas: np.ndarray | None, R_local: np.ndarray, state: JointState,
                  idx: np.ndarray) -> np.ndarray:
    """Sparse linear blend skinning of the vertices ``idx`` only.

    Same maths as the full SMPL forward pass (shape blend shapes, pose blend
    shapes, LBS), restricted to S = len(idx) vertices and to the joints that
    influence them.  Returns (T, S, 3) world positions in metres.
    """
    idx = np.asarray(idx, dtype=np.int64)
    v = np.broadcast_to(body.shaped_vertices(betas, idx), (R_local.shape[0], len(idx), 3))  # (T, S, 3)
    if body.posedirs is not None:
        T = R_local.shape[0]
        feat = (R_local[:, 1:] - np.eye(3)).reshape(T, -1)  # (T, P)
        v = v + np.einsum("tp,scp->tsc", feat, body.posedirs[idx])
    rest = body.rest_joints(betas)  # (J, 3)
    w = body.weights[idx]  # (S, J)
    used = np.flatnonzero(np.any(w != 0, axis=0))
    # Skinning transforms of the used joints: x -> R_wj (x - rest_j) + p_wj.
    Rj = state.R[:, used]  # (T, U, 3, 3)
    tj = state.p[:, used] - np.einsum("tuab,ub->tua", Rj, rest[used])  # (T, U, 3)
    wu = w[:, used]  # (S, U)
    Rb = np.einsum("su,tuab->tsab", wu, Rj)  # blended (T, S, 3, 3)
    tb = np.einsum("su,tua->tsa", wu, tj)  # (T, S, 3)
    return np.einsum("tsab,tsb->tsa", Rb, v) + tb
