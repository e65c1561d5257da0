"""Body-model files: SMPL pickles (incl. chumpy layout), SMPL+H / SMPL-X npz, folders, safety."""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import fake_chumpy, random_smpl_arrays
from virtimu.body.files import (DEFAULT_BODY_PATH, BodyModelFileError, clear_body_model_cache,
                                find_body_model_file, load_body_model)
from virtimu.body.joints import JOINT_NAMES, PARENTS
from virtimu.body.model import BodyModel
from virtimu.io.pickles import UnsafePickleError


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_body_model_cache()
    yield
    clear_body_model_cache()


def _assert_body_matches(body: BodyModel, arrays: dict, model_type: str):
    assert body.model_type == model_type and body.joint_names == JOINT_NAMES[model_type]
    np.testing.assert_allclose(body.v_template, arrays["v_template"])
    np.testing.assert_allclose(body.weights, arrays["weights"])
    J = arrays["J_regressor"]
    np.testing.assert_allclose(body.J_regressor, J.toarray() if hasattr(J, "toarray") else J)
    np.testing.assert_array_equal(body.parents, PARENTS[model_type])
    np.testing.assert_array_equal(body.faces, arrays["f"])
    B = min(arrays["shapedirs"].shape[2], 300)
    np.testing.assert_allclose(body.shapedirs, arrays["shapedirs"][:, :, :B])
    np.testing.assert_allclose(body.posedirs, arrays["posedirs"])


def test_random_smpl_pickle(tmp_path):
    arrays = random_smpl_arrays()
    path = tmp_path / "SMPL_MALE.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    body = load_body_model(path)
    _assert_body_matches(body, arrays, "smpl")
    assert body.name == "SMPL_MALE.pkl" and body.gender == "male"  # gender from the file name
    assert body.topology == "smpl" and body.n_betas == 10


def test_smplh_release_npz(tmp_path):
    arrays = random_smpl_arrays(n_vertices=400, model_type="smplh", n_betas=16, seed=1)
    folder = tmp_path / "smplh" / "female"
    folder.mkdir(parents=True)
    # the MANO-site model.npz also holds strings and a dict (object array) that are not needed
    np.savez(folder / "model.npz", **arrays, bs_style=np.array("lbs"), bs_type=np.array("lrotmin"),
             pose_training_info=np.array({"epochs": 3}, dtype=object))
    body = load_body_model(folder / "model.npz")
    _assert_body_matches(body, arrays, "smplh")
    assert body.n_joints == 52 and body.posedirs.shape == (400, 3, 51 * 9)
    assert body.gender == "female" and body.name == "model.npz"


def test_smplx_npz_keeps_300_shape_components(tmp_path):
    arrays = random_smpl_arrays(n_vertices=300, model_type="smplx", n_betas=400, seed=2)
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **arrays, joint2num=np.array({"pelvis": 0}, dtype=object),
             part2num=np.array({"global": 0}, dtype=object), hands_meanl=np.zeros(45))
    body = load_body_model(path)
    assert body.n_joints == 55 and body.model_type == "smplx"
    assert body.shapedirs.shape == (300, 3, 300)
    _assert_body_matches(body, arrays, "smplx")


def test_npz_object_member_read_through_restricted_unpickler(tmp_path):
    arrays = random_smpl_arrays(n_vertices=200, seed=3)
    J = sp.csc_matrix(arrays["J_regressor"])
    path = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(path, **{**arrays, "J_regressor": np.array(J, dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(path, allow_pickle=False)["J_regressor"]  # the plain path refuses it ...
    body = load_body_model(path)  # ... the loader reads it through the restricted unpickler
    np.testing.assert_allclose(body.J_regressor, arrays["J_regressor"])


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_npz_object_member_carrying_code_refused(tmp_path):
    marker = tmp_path / "pwned"
    arrays = random_smpl_arrays(n_vertices=200, seed=4)
    path = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(path, **{**arrays, "weights": np.array(_Evil(f"touch {marker}"), dtype=object)})
    with pytest.raises(UnsafePickleError, match="system") as err:
        load_body_model(path)
    assert str(path) in str(err.value) and "weights" in str(err.value)
    assert not marker.exists()


def test_pickle_carrying_code_refused(tmp_path):
    marker = tmp_path / "pwned"
    arrays = random_smpl_arrays(n_vertices=200, seed=5)
    arrays["bs_style"] = _Evil(f"touch {marker}")
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        load_body_model(path)
    assert str(path) in str(err.value) and "system" in str(err.value)
    assert not marker.exists()


def test_official_chumpy_layout_pickle(tmp_path):
    """SMPL 1.0/1.1 layout: chumpy v_template/shapedirs/posedirs/weights, csc J_regressor, extras."""
    arrays = random_smpl_arrays(seed=6)
    V = arrays["v_template"].shape[0]
    J_sparse = sp.csc_matrix(arrays["J_regressor"])
    with fake_chumpy() as chumpy:
        Ch = chumpy.Ch
        official = {
            "J_regressor_prior": J_sparse, "f": arrays["f"], "J_regressor": J_sparse,
            "kintree_table": arrays["kintree_table"], "J": np.zeros((24, 3)),
            "weights_prior": arrays["weights"], "weights": Ch(arrays["weights"]),
            "vert_sym_idxs": np.arange(V), "posedirs": Ch(arrays["posedirs"]),
            "pose_training_info": {"num_iters": 1}, "bs_style": "lbs", "v_template": Ch(arrays["v_template"]),
            "shapedirs": Ch(arrays["shapedirs"]), "bs_type": "lrotmin",
        }
        blob = pickle.dumps(official, protocol=2)
    assert b"chumpy.ch" in blob and b"scipy.sparse" in blob
    path = tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl"
    path.write_bytes(blob)
    body = load_body_model(path)
    _assert_body_matches(body, arrays, "smpl")
    assert body.gender == "neutral"


def _write_smpl(path: Path, seed: int, n_vertices: int = 150) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(random_smpl_arrays(n_vertices=n_vertices, seed=seed), protocol=2))


def test_directory_gender_selection_and_fallback(tmp_path, caplog):
    models = tmp_path / "models"
    _write_smpl(models / "smpl" / "SMPL_MALE.pkl", seed=10)
    _write_smpl(models / "smpl" / "SMPL_NEUTRAL.pkl", seed=11)
    male = load_body_model(models, gender="male")
    assert male.name == "SMPL_MALE.pkl" and male.gender == "male"
    with caplog.at_level(logging.WARNING, logger="virtimu.body.files"):
        female = load_body_model(models, gender="female")
    assert female.name == "SMPL_NEUTRAL.pkl" and female.gender == "neutral"
    assert any("neutral" in r.getMessage() and "female" in r.getMessage() for r in caplog.records)
    assert not np.allclose(male.v_template, female.v_template)


def test_directory_release_names_and_model_type(tmp_path):
    models = tmp_path / "models"
    _write_smpl(models / "basicModel_f_lbs_10_207_0_v1.0.0.pkl", seed=12)
    _write_smpl(models / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl", seed=13)
    hand = random_smpl_arrays(n_vertices=150, model_type="smplh", seed=14)
    (models / "smplh" / "female").mkdir(parents=True)
    np.savez(models / "smplh" / "female" / "model.npz", **hand)
    smplx_arrays = random_smpl_arrays(n_vertices=150, model_type="smplx", seed=15)
    (models / "smplx").mkdir()
    np.savez(models / "smplx" / "SMPLX_FEMALE.npz", **smplx_arrays)

    path, gender = find_body_model_file(models, "female")
    assert path.name == "basicmodel_f_lbs_10_207_0_v1.1.0.pkl" and gender == "female"  # newest release
    body_h = load_body_model(models, gender="f", model_type="smplh")
    assert body_h.model_type == "smplh" and body_h.name == "model.npz" and body_h.gender == "female"
    body_x = load_body_model(models, gender="female", model_type="smplx")
    assert body_x.model_type == "smplx" and body_x.name == "SMPLX_FEMALE.npz"


def test_directory_without_model_lists_names(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_body_model(tmp_path, gender="male")
    msg = str(err.value)
    for name in ("SMPL_MALE.pkl", "SMPLH_MALE.npz", "male/model.npz", "SMPLX_MALE.npz", "SMPLX_NEUTRAL.npz",
                 "basicmodel_m_lbs_10_207_0_v1.*.pkl", str(tmp_path / "smplx")):
        assert name in msg


def test_wrong_model_type_and_missing_fields(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    _write_smpl(path, seed=16)
    with pytest.raises(BodyModelFileError, match="J_regressor has 24"):
        load_body_model(path, model_type="smplx")
    arrays = random_smpl_arrays(n_vertices=100, seed=17)
    del arrays["weights"]
    bad = tmp_path / "SMPLH_NEUTRAL.npz"
    np.savez(bad, **arrays)
    with pytest.raises(BodyModelFileError, match=r"missing fields \['weights'\]"):
        load_body_model(bad)
    with pytest.raises(FileNotFoundError):
        load_body_model(tmp_path / "nope.pkl")
    with pytest.raises(ValueError, match="gender"):
        load_body_model(path, gender="robot")


def test_cache_by_path_and_mtime(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    _write_smpl(path, seed=18)
    first = load_body_model(path)
    assert load_body_model(path) is first
    _write_smpl(path, seed=19, n_vertices=151)
    os.utime(path, ns=(first_mtime := path.stat().st_mtime_ns + 10**9, first_mtime))
    second = load_body_model(path)
    assert second is not first and second.v_template.shape[0] == 151


def test_default_body():
    if not DEFAULT_BODY_PATH.is_file():
        pytest.skip(f"default body {DEFAULT_BODY_PATH} not generated yet")
    body = load_body_model()
    assert body.model_type == "smpl" and body.n_joints == 24 and body.gender == "neutral"
    assert body.name == "SMPL_NEUTRAL.pkl"
    np.testing.assert_allclose(body.weights.sum(axis=1), 1.0, atol=1e-6)
