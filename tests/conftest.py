"""Shared fixtures: small synthetic body models and motions written in published layouts."""
from __future__ import annotations

import pickle
import sys
import types
from contextlib import contextmanager
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


@contextmanager
def fake_chumpy():
    """Temporarily register minimal ``chumpy.ch.Ch`` / ``chumpy.reordering.Reshape`` classes
    whose pickled state mirrors chumpy's (attribute dict minus its caches)."""

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": set(), "_itr": None, "_make_dense": False,
                    "_make_sparse": False, "_depends_on_deps": {}}

    class Reshape:
        def __init__(self, a, newshape):
            self.a, self.newshape = a, newshape

        def __getstate__(self):
            return {"a": self.a, "newshape": self.newshape, "_dirty_vars": set()}

    ch_mod, re_mod, pkg = (types.ModuleType(n) for n in ("chumpy.ch", "chumpy.reordering", "chumpy"))
    for cls, mod in ((Ch, ch_mod), (Reshape, re_mod)):
        cls.__module__ = mod.__name__
        cls.__qualname__ = cls.__name__
        setattr(mod, cls.__name__, cls)
    pkg.ch, pkg.reordering = ch_mod, re_mod
    names = ("chumpy", "chumpy.ch", "chumpy.reordering")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({"chumpy": pkg, "chumpy.ch": ch_mod, "chumpy.reordering": re_mod})
    try:
        yield types.SimpleNamespace(Ch=Ch, Reshape=Reshape)
    finally:
        for n, mod in saved.items():
            if mod is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = mod
