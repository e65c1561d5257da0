"""DIP-IMU loader on pickles written in the published layout (DIP_IMU/s_NN/<NN>.pkl)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from virtimu.datasets.base import DatasetFormatError, datasets, load_dataset
from virtimu.datasets.dip import DIP_SITES, Y_TO_Z
from virtimu.io.pickles import UnsafePickleError
from virtimu.labels.maps import get_label_space
from virtimu.sensors.placement import load_site_table

FS = 60.0
DIP5 = get_label_space("dip5")


def _py2_pickle(obj: dict, path: Path) -> None:
    """Protocol-2 pickle with numpy 1.x module names, as the Python 2 files of DIP-IMU carry."""
    raw = pickle.dumps(obj, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def _sequence(T: int = 120, acc: np.ndarray | None = None, ori: np.ndarray | None = None) -> dict:
    """A DIP-IMU dict: still sensors with identity orientation (y-up world), zero free acceleration."""
    return {
        "imu_acc": np.zeros((T, 17, 3)) if acc is None else acc,
        "imu_ori": np.tile(np.eye(3), (T, 17, 1, 1)) if ori is None else ori,
        "gt": np.zeros((T, 72)),
        "sop": np.zeros((T, 72)),
        "sip": np.zeros((T, 72)),
    }


def _load(root: Path, **kw) -> list:
    return list(load_dataset("dip", root, **kw))


def test_registered_with_complete_info() -> None:
    info = datasets()["dip"]
    assert info.fs == FS and info.label_space == "dip5" and len(info.sites) == 17
    assert info.download_url is None and "dip.is.tue.mpg.de" in info.instructions


def test_site_order_matches_dip_full_preset() -> None:
    preset = [s.name for s in load_site_table().preset_sites("dip-full")]
    assert list(DIP_SITES) == preset


def test_units_frames_labels_and_subjects(tmp_path: Path) -> None:
    root = tmp_path / "DIP_IMU_and_Others"
    T = 90
    # sensor 7 (llowerarm -> left_wrist): turned 90 deg about DIP's vertical y axis and
    # accelerating (1, 2, 3) m/s^2 in the y-up world; all others still with identity.
    acc = np.zeros((T, 17, 3))
    acc[:, 7] = [1.0, 2.0, 3.0]
    ori = np.tile(np.eye(3), (T, 17, 1, 1))
    R7 = Rotation.from_rotvec([0.0, np.pi / 2, 0.0]).as_matrix()
    ori[:, 7] = R7
    ori[40, 3] = np.nan  # a dropped frame of lshoulder
    acc[40, 3] = np.nan
    _py2_pickle(_sequence(T, acc, ori), root / "DIP_IMU" / "s_01" / "01.pkl")
    _py2_pickle(_sequence(T), root / "DIP_IMU" / "s_01" / "02.pkl")
    _py2_pickle(_sequence(T), root / "DIP_IMU" / "s_02" / "01_a.pkl")

    recs = _load(root)
    assert [r.name for r in recs] == ["s_01_01", "s_01_02", "s_02_01_a"]
    assert [r.subject for r in recs] == ["s_01", "s_01", "s_02"]
    r = recs[0]
    assert r.fs == FS and r.source == "dip" and r.attrs == {"kind": "real", "dataset": "dip"}
    assert r.provenance["files"] == ["DIP_IMU/s_01/01.pkl"]
    assert len(r.channels) == 17 * (3 + 3 + 3 + 9)

    # still identity sensor: its y axis points up (DIP world is y up) -> +9.81 on y
    head = r.select(["head/acc_x", "head/acc_y", "head/acc_z"])
    np.testing.assert_allclose(head, np.tile([0.0, 9.81, 0.0], (T, 1)), atol=1e-5)
    # specific force computed independently in DIP's y-up frame: f = R^T (a - g_y)
    expected = R7.T @ (np.array([1.0, 2.0, 3.0]) - np.array([0.0, -9.81, 0.0]))
    got = r.select([f"left_wrist/acc_{a}" for a in "xyz"])
    np.testing.assert_allclose(got, np.tile(expected, (T, 1)), atol=1e-5)
    # free acceleration in virtimu's z-up world: (x, y, z)_yup -> (x, -z, y)
    free = r.select([f"left_wrist/freeacc_{a}" for a in "xyz"])
    np.testing.assert_allclose(free, np.tile([1.0, -3.0, 2.0], (T, 1)), atol=1e-6)
    # orientation channels in the z-up world
    rot = r.select([f"left_wrist/rot_{i}{j}" for i in range(3) for j in range(3)])
    np.testing.assert_allclose(rot[0].reshape(3, 3), Y_TO_Z @ R7, atol=1e-6)
    assert r.units[r.channels.index("left_wrist/gyro_x")] == "rad/s"

    # dropped frame stays NaN (never invented); gyro NaN on it and its neighbours only
    sh = r.select(["left_shoulder/acc_x", "left_shoulder/gyro_x"])
    assert np.isnan(sh[40, 0]) and np.isfinite(np.delete(sh[:, 0], 40)).all()
    assert np.isnan(sh[39:42, 1]).all() and np.isfinite(np.delete(sh[:, 1], [39, 40, 41])).all()
    assert r.provenance["nan_frames"] == 1

    # labels: only 01 = upper body (stretching_arms) is known by default; 02 -> null
    assert r.label_map == DIP5.label_map()
    assert (recs[0].labels == DIP5.code("stretching_arms")).all()
    assert (recs[1].labels == 0).all()
    assert (recs[2].labels == DIP5.code("stretching_arms")).all()


def test_activity_mapping_file(tmp_path: Path) -> None:
    _py2_pickle(_sequence(30), tmp_path / "s_03" / "04.pkl")
    (tmp_path / "dip_activities.yaml").write_text('"04": jumping\n5: computer_work\n', encoding="utf-8")
    (rec,) = _load(tmp_path)
    assert (rec.labels == DIP5.code("jumping")).all()
    assert rec.provenance["activity_source"] == "dip_activities.yaml"

    (tmp_path / "dip_activities.yaml").write_text('"04": cartwheels\n', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"dip_activities\.yaml.*field '04'.*cartwheels"):
        _load(tmp_path)


def test_gyro_from_constant_rotation_about_vertical(tmp_path: Path) -> None:
    T, w = 60, 1.5  # rad/s about DIP's vertical (y) axis
    t = np.arange(T) / FS
    ori = np.tile(np.eye(3), (T, 17, 1, 1))
    ori[:, 0] = Rotation.from_rotvec(np.outer(w * t, [0.0, 1.0, 0.0])).as_matrix()
    _py2_pickle(_sequence(T, ori=ori), tmp_path / "s_01" / "01.pkl")
    (rec,) = _load(tmp_path)
    gyro = rec.select(["head/gyro_x", "head/gyro_y", "head/gyro_z"])
    np.testing.assert_allclose(gyro, np.tile([0.0, w, 0.0], (T, 1)), atol=1e-5)


def test_resampling_keeps_sine(tmp_path: Path) -> None:
    T, f, A = 600, 2.0, 3.0
    acc = np.zeros((T, 17, 3))
    acc[:, 2, 0] = A * np.sin(2 * np.pi * f * np.arange(T) / FS)
    _py2_pickle(_sequence(T, acc=acc), tmp_path / "s_01" / "01.pkl")
    (rec,) = _load(tmp_path, fs=30.0)
    assert rec.fs == 30.0 and rec.n_frames == 300 and rec.labels.shape == (300,)
    x = rec.select(["pelvis/freeacc_x"])[:, 0].astype(np.float64)[30:-30]
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / 30.0)
    assert abs(freqs[np.argmax(spec)] - f) < 0.15
    assert abs(np.max(np.abs(x)) - A) < 0.05 * A


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing_key", r"01\.pkl.*field 'imu_ori'.*missing key"),
        ("wrong_shape", r"01\.pkl.*field 'imu_acc'.*shape \(20, 16, 3\)"),
        ("frames_differ", r"01\.pkl.*field 'imu_ori'.*imu_acc has 21 frames, imu_ori 20"),
        ("not_rotation", r"01\.pkl.*field 'imu_ori'.*frame 5, sensor 4 \(rshoulder\)"),
        ("truncated", r"01\.pkl.*not a readable pickle"),
        ("not_dict", r"01\.pkl.*expected a dict"),
        ("bad_name", r"walking\.pkl.*<NN>\[_<part>\]\.pkl"),
    ],
)
def test_bad_files_name_file_and_field(tmp_path: Path, case: str, match: str) -> None:
    seq = _sequence(20)
    path = tmp_path / "s_01" / "01.pkl"
    if case == "missing_key":
        del seq["imu_ori"]
    elif case == "wrong_shape":
        seq["imu_acc"] = np.zeros((20, 16, 3))
    elif case == "frames_differ":
        seq["imu_acc"] = np.zeros((21, 17, 3))
    elif case == "not_rotation":
        seq["imu_ori"][5, 4] = 2.0 * np.eye(3)
    elif case == "not_dict":
        seq = [1, 2, 3]  # type: ignore[assignment]
    elif case == "bad_name":
        path = tmp_path / "s_01" / "walking.pkl"
    _py2_pickle(seq, path)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetFormatError, match=match):
        _load(tmp_path)


def test_pickle_carrying_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s_01" / "01.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"01\.pkl.*os\.system"):
        _load(tmp_path)


def test_missing_folders_are_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match=r"empty.*s_01 \.\.\. s_10"):
        _load(tmp_path / "empty")
    (tmp_path / "d" / "s_01").mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match=r"s_01.*no sequence files"):
        _load(tmp_path / "d")


def test_warns_when_acc_looks_like_it_includes_gravity(tmp_path: Path, caplog) -> None:
    acc = np.tile([0.0, 9.81, 0.0], (30, 17, 1))  # 1 g on the y-up axis: gravity was not removed
    _py2_pickle(_sequence(30, acc=acc), tmp_path / "s_01" / "01.pkl")
    with caplog.at_level("WARNING", logger="virtimu.datasets.dip"):
        (rec,) = _load(tmp_path)
    assert "may include gravity" in caplog.text
    assert rec.provenance["median_free_acc_norm"] == pytest.approx(9.81)
