"""Sparse skinning and forward kinematics against the full smplx forward pass (the slow reference)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import smplx
import torch

from virtimu.body.model import BodyModel
from virtimu.kinematics import forward_kinematics, skin_vertices
from virtimu.rotations import axis_angle_to_matrix

DEFAULT_BODY = Path(__file__).resolve().parents[1] / "virtimu" / "assets" / "body" / "SMPL_NEUTRAL.pkl"


def _smplx_forward(model_file: Path, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray):
    model = smplx.create(str(model_file), model_type="smpl", num_betas=betas.shape[1])
    T = poses.shape[0]
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    out = model(global_orient=f32(poses[:, 0]), body_pose=f32(poses[:, 1:].reshape(T, -1)),
                betas=f32(betas), transl=f32(trans))
    return out.vertices.detach().numpy().astype(np.float64), out.joints.detach().numpy()[:, :24]


def _check_against_smplx(model_file: Path, seed: int) -> None:
    with open(model_file, "rb") as fh:
        body = BodyModel.from_arrays(pickle.load(fh))
    rng = np.random.default_rng(seed)
    T = 6
    poses = rng.normal(scale=0.6, size=(T, 24, 3))
    betas = rng.normal(scale=1.0, size=10)
    trans = rng.normal(scale=0.5, size=(T, 3))
    verts, joints = _smplx_forward(model_file, poses, np.tile(betas, (T, 1)), trans)

    R = axis_angle_to_matrix(poses)
    state = forward_kinematics(R, body.rest_joints(betas), body.parents, trans)
    idx = rng.choice(body.v_template.shape[0], size=12, replace=False)
    sparse = skin_vertices(body, betas, R, state, idx)
    assert np.abs(sparse - verts[:, idx]).max() < 1e-5
    assert np.abs(state.p - joints).max() < 1e-5
    # the test can fail: a wrong betas vector moves the vertices measurably
    wrong = skin_vertices(body, betas + 1.0, R, state, idx)
    assert np.abs(wrong - verts[:, idx]).max() > 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_skinning_matches_smplx_on_random_smpl_file(random_smpl_dir: Path, seed: int) -> None:
    _check_against_smplx(random_smpl_dir / "SMPL_NEUTRAL.pkl", seed)


@pytest.mark.skipif(not DEFAULT_BODY.exists(), reason="default body not generated (make body)")
@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_skinning_matches_smplx_on_default_body(seed: int) -> None:
    _check_against_smplx(DEFAULT_BODY, seed)


def test_forward_kinematics_chain_by_hand() -> None:
    """Two joints: rotating the root by 90 deg about z swings the child's offset accordingly."""
    rest = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    parents = np.array([-1, 0])
    R = axis_angle_to_matrix(np.array([[[0, 0, np.pi / 2], [0, 0, 0]]]))
    st = forward_kinematics(R, rest, parents, trans=np.array([[0.0, 0.0, 2.0]]))
    np.testing.assert_allclose(st.p[0, 1], [0.0, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(st.R[0, 1], R[0, 0], atol=1e-12)
