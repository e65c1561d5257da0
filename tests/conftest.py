"""Shared fixtures: small synthetic body models and motions written in published layouts."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from virtimu.body.joints import JOINT_NAMES, PARENTS


def random_smpl_arrays(n_vertices: int = 6890, model_type: str = "smpl", n_betas: int = 10,
                       seed: int = 0) -> dict:
    """Arrays of a random SMPL-format body (same keys, shapes and dtypes as SMPL_*.pkl).

    Vertices scattered around a rough human layout, random shape and pose blend
    shapes, a random row-normalised joint regressor and skinning weights with up
    to 4 joints per vertex.
    """
    rng = np.random.default_rng(seed)
    J = len(JOINT_NAMES[model_type])
    V = n_vertices
    v_template = rng.normal(scale=0.3, size=(V, 3))
    shapedirs = rng.normal(scale=0.01, size=(V, 3, n_betas))
    posedirs = rng.normal(scale=0.005, size=(V, 3, 9 * (J - 1)))
    J_regressor = rng.random((J, V)) * (rng.random((J, V)) < 0.05)
    J_regressor[:, 0] += 1e-3
    J_regressor /= J_regressor.sum(axis=1, keepdims=True)
    weights = np.zeros((V, J))
    for v in range(V):
        js = rng.choice(J, size=rng.integers(1, 5), replace=False)
        weights[v, js] = rng.random(len(js)) + 0.1
    weights /= weights.sum(axis=1, keepdims=True)
    kintree = np.stack([np.array(PARENTS[model_type]) % 4294967296, np.arange(J)]).astype(np.int64)
    faces = rng.integers(0, V, size=(2 * V, 3)).astype(np.uint32)
    return {
        "v_template": v_template, "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": J_regressor, "weights": weights, "kintree_table": kintree, "f": faces,
    }


@pytest.fixture
def random_smpl_dir(tmp_path: Path) -> Path:
    """A folder holding a random SMPL-format ``SMPL_NEUTRAL.pkl`` (loadable by smplx)."""
    folder = tmp_path / "smpl"
    folder.mkdir()
    with open(folder / "SMPL_NEUTRAL.pkl", "wb") as fh:
        pickle.dump(random_smpl_arrays(), fh)
    return folder
