"""AMASS reader/writer on files written in the exact release layouts."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from virtimu.body.joints import JOINT_NAMES
from virtimu.io.amass import (AmassFormatError, find_amass_files, is_shape_file, read_amass,
                              write_amass)
from virtimu.types import NULL_LABEL

SMPLH_KEYS = ["trans", "gender", "mocap_framerate", "betas", "dmpls", "poses"]
SMPLX_KEYS = ["gender", "surface_model_type", "mocap_frame_rate", "mocap_time_length", "markers_latent",
              "latent_labels", "markers_latent_vids", "trans", "poses", "betas", "num_betas", "root_orient",
              "pose_body", "pose_hand", "pose_jaw", "pose_eye"]


def _motion_arrays(T: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.3, size=(T, width))
    trans = np.cumsum(rng.normal(scale=0.01, size=(T, 3)), axis=0)
    betas = rng.normal(size=16)
    return poses, trans, betas


def release_smplh(path: Path, T: int = 12, fps: float = 120.0, gender="male", seed: int = 0, **override):
    """An SMPL+H release file written key by key (independent of write_amass)."""
    poses, trans, betas = _motion_arrays(T, 156, seed)
    arrays = {"trans": trans, "gender": np.array(gender), "mocap_framerate": np.array(fps),
              "betas": betas, "dmpls": np.zeros((T, 8)), "poses": poses}
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def release_smplx(path: Path, T: int = 10, fps: float = 250.0, gender="female", seed: int = 1, **override):
    """An SMPL-X release (``*_stageii.npz``) file, including the object-array ``markers_latent_vids``."""
    poses, trans, betas = _motion_arrays(T, 165, seed)
    arrays = {
        "gender": np.array(gender), "surface_model_type": np.array("smplx"),
        "mocap_frame_rate": np.array(fps), "mocap_time_length": np.array(T / fps),
        "markers_latent": np.zeros((3, 3)), "latent_labels": np.array(["C7", "CLAV", "LFHD"]),
        "markers_latent_vids": np.array({"C7": 3470, "CLAV": 5533, "LFHD": 8929}, dtype=object),
        "trans": trans, "poses": poses, "betas": betas, "num_betas": np.array(16),
        "root_orient": poses[:, :3], "pose_body": poses[:, 3:66], "pose_hand": poses[:, 75:],
        "pose_jaw": poses[:, 66:69], "pose_eye": poses[:, 69:75],
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


# --------------------------------------------------------------------------- writer layout


def test_writer_smplh_layout(tmp_path):
    poses, trans, betas = _motion_arrays(7, 156)
    path = write_amass(tmp_path / "a_poses.npz", poses, trans, betas, 120, gender="male")
    with np.load(path, allow_pickle=False) as npz:
        assert list(npz.files) == SMPLH_KEYS
        assert npz["poses"].shape == (7, 156) and npz["dmpls"].shape == (7, 8)
        assert npz["betas"].shape == (16,) and npz["mocap_framerate"].shape == ()
        assert str(npz["gender"]) == "male"
    assert [p.name for p in tmp_path.iterdir()] == ["a_poses.npz"]  # no temp file left


def test_writer_smplx_layout(tmp_path):
    poses, trans, betas = _motion_arrays(9, 165)
    path = write_amass(tmp_path / "b_stageii.npz", poses, trans, betas, 60.0)
    with np.load(path, allow_pickle=False) as npz:
        assert list(npz.files) == [k for k in SMPLX_KEYS if k != "markers_latent_vids"]
        shapes = {k: npz[k].shape for k in ("root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye")}
        assert shapes == {"root_orient": (9, 3), "pose_body": (9, 63), "pose_hand": (9, 90),
                          "pose_jaw": (9, 3), "pose_eye": (9, 6)}
        recombined = np.concatenate([npz["root_orient"], npz["pose_body"], npz["pose_jaw"], npz["pose_eye"],
                                     npz["pose_hand"]], axis=1)
        np.testing.assert_array_equal(recombined, poses)
        assert str(npz["surface_model_type"]) == "smplx" and int(npz["num_betas"]) == 16
        assert float(npz["mocap_time_length"]) == pytest.approx(9 / 60.0)


def test_writer_rejects_bad_input_without_leaving_files(tmp_path):
    poses, trans, betas = _motion_arrays(5, 156)
    with pytest.raises(ValueError, match="trans"):
        write_amass(tmp_path / "x.npz", poses, trans[:4], betas, 120)
    with pytest.raises(ValueError, match="model_type"):
        write_amass(tmp_path / "x.npz", poses, trans, betas, 120, model_type="smplx")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reading


def test_round_trip_smplh_120fps(tmp_path):
    poses, trans, betas = _motion_arrays(15, 156, seed=3)
    path = write_amass(tmp_path / "s_poses.npz", poses, trans, betas, 120, gender="female")
    m = read_amass(path)
    assert m.model_type == "smplh" and m.joint_names == JOINT_NAMES["smplh"]
    assert m.poses.shape == (15, 52, 3)
    np.testing.assert_array_equal(m.poses.reshape(15, -1), poses)
    np.testing.assert_array_equal(m.trans, trans)
    np.testing.assert_array_equal(m.betas, betas)
    assert m.fps == 120.0 and m.gender == "female"
    assert m.labels is None and m.label_map is None


def test_round_trip_smplx_250fps_release_file(tmp_path):
    path = tmp_path / "walk_stageii.npz"
    arrays = release_smplx(path, T=10, fps=250.0, gender="neutral")
    m = read_amass(path)  # markers_latent_vids is an object array: must never be unpickled
    assert m.model_type == "smplx" and m.poses.shape == (10, 55, 3)
    assert m.fps == 250.0 and m.gender == "neutral"
    np.testing.assert_array_equal(m.poses.reshape(10, -1), arrays["poses"])
    # joint order: SMPL-X poses hold jaw at joint 22, left index1 at joint 25
    np.testing.assert_array_equal(m.poses[:, JOINT_NAMES["smplx"].index("jaw")], arrays["pose_jaw"])
    np.testing.assert_array_equal(m.poses[:, 25], arrays["pose_hand"][:, :3])


def test_writer_output_read_back_smplx(tmp_path):
    poses, trans, betas = _motion_arrays(4, 165, seed=5)
    m = read_amass(write_amass(tmp_path / "x.npz", poses, trans, betas[:10], 100.0, gender="male"))
    assert m.model_type == "smplx" and m.betas.shape == (10,) and m.fps == 100.0


def test_smpl_72_and_single_frame(tmp_path):
    poses, trans, betas = _motion_arrays(1, 72)
    m = read_amass(write_amass(tmp_path / "one.npz", poses, trans, betas[:10], 30.0))
    assert m.model_type == "smpl" and m.poses.shape == (1, 24, 3) and m.n_frames == 1
    assert m.joint_names == JOINT_NAMES["smpl"]


def test_bytes_gender(tmp_path):
    path = tmp_path / "b_poses.npz"
    release_smplh(path, gender=np.array(b"female"))
    assert read_amass(path).gender == "female"


def test_betas_other_lengths(tmp_path):
    path = tmp_path / "c_poses.npz"
    release_smplh(path, betas=np.arange(10.0)[None])  # (1, 10)
    np.testing.assert_array_equal(read_amass(path).betas, np.arange(10.0))


def test_frame_labels_and_clip_label(tmp_path):
    poses, trans, betas = _motion_arrays(6, 156)
    names = ["walk", "walk", "", "sit", "null", "walk"]
    m = read_amass(write_amass(tmp_path / "l.npz", poses, trans, betas, 50, label="walk", frame_labels=names))
    assert m.label_map == {NULL_LABEL: "null", 1: "sit", 2: "walk"}
    np.testing.assert_array_equal(m.labels, [2, 2, 0, 1, 0, 2])
    assert m.provenance["label"] == "walk"
    clip = read_amass(write_amass(tmp_path / "k.npz", poses, trans, betas, 50, label="jump"))
    assert clip.label_map == {0: "null", 1: "jump"} and np.all(clip.labels == 1)
    assert clip.provenance["label"] == "jump"


def test_directory_search_and_provenance(tmp_path):
    root = tmp_path / "AMASS"
    for rel in ("CMU/01/01_02_poses.npz", "CMU/01/01_01_poses.npz", "BMLrub/rub001/0001_treadmill_poses.npz"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        release_smplh(root / rel)
    np.savez(root / "CMU/01/shape.npz", betas=np.zeros(16), gender=np.array("male"))
    (root / "ACCAD/Female1").mkdir(parents=True)
    release_smplx(root / "ACCAD/Female1/A1_stageii.npz")
    np.savez(root / "ACCAD/Female1/female_stagei.npz", betas=np.zeros(16), gender=np.array("female"))

    files = find_amass_files(root)
    rel = [f.relative_to(root).as_posix() for f in files]
    assert rel == ["ACCAD/Female1/A1_stageii.npz", "BMLrub/rub001/0001_treadmill_poses.npz",
                   "CMU/01/01_01_poses.npz", "CMU/01/01_02_poses.npz"]
    assert is_shape_file(root / "CMU/01/shape.npz") and is_shape_file("x/male_stagei.npz")
    assert not is_shape_file("x/A1_stageii.npz")

    path = root / "CMU/01/01_01_poses.npz"
    m = read_amass(path, root=root)
    assert m.name == "CMU/01/01_01_poses"
    p = m.provenance
    assert (p["sub_dataset"], p["subject"], p["sequence"]) == ("CMU", "01", "01_01_poses")
    assert p["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p["original_fps"] == 120.0 and p["model_type"] == "smplh" and p["gender"] == "male"
    assert Path(p["file"]) == path.resolve()
    # without a root the AMASS layout is assumed; rooted at the sub-dataset, the name is relative to it
    assert read_amass(path).name == "CMU/01/01_01_poses"
    m_cmu = read_amass(path, root=root / "CMU")
    assert m_cmu.name == "01/01_01_poses" and m_cmu.provenance["sub_dataset"] == "CMU"
    assert read_amass(root / "ACCAD/Female1/A1_stageii.npz", root=root).provenance["subject"] == "Female1"


def test_find_single_file_and_empty_dirs(tmp_path):
    path = tmp_path / "a.npz"
    release_smplh(path)
    assert find_amass_files(path) == [path]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    np.savez(empty / "sub" / "shape.npz", betas=np.zeros(16))
    with pytest.raises(FileNotFoundError, match="no motion sequences.*1 shape files"):
        find_amass_files(empty)
    with pytest.raises(AmassFormatError, match="shape file"):
        find_amass_files(empty / "sub" / "shape.npz")
    with pytest.raises(FileNotFoundError):
        find_amass_files(tmp_path / "missing")


def test_npz_without_poses_is_not_skipped(tmp_path):
    np.savez(tmp_path / "odd.npz", trans=np.zeros((3, 3)))
    files = find_amass_files(tmp_path)
    assert [f.name for f in files] == ["odd.npz"]
    with pytest.raises(AmassFormatError, match="poses"):
        read_amass(files[0])


def _nan_poses():
    poses = _motion_arrays(12, 156)[0]
    poses[3, 10] = np.nan
    return poses


BAD_FILES = {
    "missing key": (dict(trans=None), r"missing field 'trans'.*fields present: \['betas', 'dmpls'"),
    "missing fps": (dict(mocap_framerate=None), r"missing field 'mocap_framerate' or 'mocap_frame_rate'"),
    "NaN poses": (dict(poses=_nan_poses()), r"field 'poses'.*non-finite.*first at frame 3"),
    "inf trans": (dict(trans=np.full((12, 3), np.inf)), r"field 'trans'.*non-finite.*frame 0"),
    "poses width": (dict(poses=np.zeros((12, 150))), r"field 'poses'.*width 150"),
    "poses 3d": (dict(poses=np.zeros((12, 52, 3))), r"field 'poses'.*shape \(12, 52, 3\)"),
    "trans shape": (dict(trans=np.zeros((12, 2))), r"field 'trans'.*expected \(T, 3\)"),
    "frame mismatch": (dict(trans=np.zeros((11, 3))), r"field 'trans'.*11 frames but 'poses' has 12"),
    "zero length": (dict(poses=np.zeros((0, 156)), trans=np.zeros((0, 3)), dmpls=np.zeros((0, 8))),
                    r"field 'poses'.*zero-length"),
    "zero fps": (dict(mocap_framerate=np.array(0.0)), r"field 'mocap_framerate'.*positive"),
    "bad gender": (dict(gender=np.array("robot")), r"field 'gender'.*'robot'"),
    "string poses": (dict(poses=np.array(["a"] * 12)), r"field 'poses'.*dtype"),
    "object poses": (dict(poses=np.array([{}] * 12, dtype=object)), r"field 'poses'.*unpickling"),
    "model type mismatch": (dict(surface_model_type=np.array("smplx")), r"field 'poses'.*surface_model_type"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_format_error(tmp_path, case):
    override, pattern = BAD_FILES[case]
    path = tmp_path / "bad_poses.npz"
    release_smplh(path, **override)
    with pytest.raises(AmassFormatError) as err:
        read_amass(path)
    msg = str(err.value)
    assert str(path) in msg
    assert re.search(pattern, msg), msg


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "cut_poses.npz"
    release_smplh(path, T=200)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(AmassFormatError, match=re.escape(str(path))):
        read_amass(path)


def test_not_an_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(AmassFormatError, match="not a readable .npz"):
        read_amass(path)
    npy = tmp_path / "arr.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(AmassFormatError, match="single .npy"):
        read_amass(npy)


def test_corrupt_member_names_field(tmp_path):
    path = tmp_path / "flip_poses.npz"
    release_smplh(path, T=50)
    data = bytearray(path.read_bytes())
    at = data.index(b"poses.npy") + 400  # inside the poses member's data
    data[at:at + 8] = bytes(8) if any(data[at:at + 8]) else b"\x01" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(AmassFormatError, match=r"field 'poses'.*corrupt"):
        read_amass(path)
