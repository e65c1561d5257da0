"""Synthetic-vs-real fidelity on DIP-layout sequences whose "real" side is our own synthesis."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tests.fidelity.helpers import FS, dip_sequence, write_py2_pickle
from virtimu.body.files import load_body_model
from virtimu.datasets.base import DatasetFormatError
from virtimu.datasets.dip import DIP_SITES
from virtimu.fidelity.fidelity import (
    FidelityReport,
    axis_agreement,
    compare_sequence,
    dip_fidelity,
    fit_world_and_mount,
    geodesic_deg,
    kabsch,
    project_to_rotation,
    rotation_angle_deg,
)


@pytest.fixture(scope="module")
def body():
    return load_body_model(None)


@pytest.fixture(scope="module")
def matched(body):
    seq, M = dip_sequence(T=240, seed=0, offset_deg=20.0, noise=0.05)
    rec = compare_sequence(seq["imu_acc"], seq["imu_ori"], seq["gt"], body, name="fixture")
    return rec, M


def test_joint_world_and_mount_fit() -> None:
    rng = np.random.default_rng(1)
    R = Rotation.random(200, random_state=2).as_matrix()
    V = Rotation.from_rotvec([0.0, 0.0, 1.2]).as_matrix()
    M = Rotation.from_rotvec([0.4, -0.2, 0.1]).as_matrix()
    noisy = Rotation.from_rotvec(rng.normal(scale=0.01, size=(200, 3))).as_matrix()
    W_fit, M_fit = fit_world_and_mount(V @ R @ M @ noisy, R)
    assert geodesic_deg(W_fit, V) < 0.5 and geodesic_deg(M_fit, M) < 0.5


def test_kabsch_recovers_a_rotation_under_noise() -> None:
    rng = np.random.default_rng(0)
    Q = Rotation.from_rotvec([0.3, -0.5, 0.8]).as_matrix()
    b = rng.normal(size=(500, 3))
    a = b @ Q.T + rng.normal(scale=0.01, size=(500, 3))
    a[3] = np.nan  # skipped
    assert geodesic_deg(kabsch(a, b), Q) < 0.2
    R = project_to_rotation(np.diag([1.0, 1.0, -1.0]))  # a reflection: nearest proper rotation
    assert np.isclose(np.linalg.det(R), 1.0) and np.allclose(R @ R.T, np.eye(3))
    assert rotation_angle_deg(Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix()) == pytest.approx(90.0)


def test_axis_agreement_values() -> None:
    t = np.linspace(0, 10, 400)
    x = np.stack([np.sin(t), np.cos(t), np.zeros_like(t)], axis=1)
    out = axis_agreement(x, x + [0.0, 0.5, 0.0])
    assert np.allclose(out["r"][:2], 1.0) and np.isnan(out["r"][2])  # constant axis: no correlation
    assert np.allclose(out["rmse"], [0.0, 0.5, 0.0]) and out["n"] == 400
    assert axis_agreement(x, -x)["r"][0] == pytest.approx(-1.0)


def test_matching_sequence_correlates_after_alignment(matched) -> None:
    rec, _ = matched
    assert set(rec.sensors) == set(DIP_SITES)
    report = FidelityReport([rec])
    s = report.summary()
    # the known 20 deg mounting offsets lower the raw agreement; alignment restores it
    assert s["acc_r_aligned"] > 0.99 and s["gyro_r_aligned"] > 0.99 and s["freeacc_r_aligned"] > 0.99
    assert s["acc_rmse_raw"] > 10 * s["acc_rmse_aligned"]
    assert s["acc_rmse_aligned"] == pytest.approx(0.05, rel=0.2)  # the added noise
    assert s["ori_err_deg_raw"] > 15 and s["ori_err_deg_aligned"] < 0.5
    assert s["world_offset_deg_median"] < 1.0  # worlds agree: the gt root convention is handled
    assert s["world_offset_ori_deg_median"] < 0.1


def test_recovers_the_mounting_offsets(matched) -> None:
    rec, M = matched
    for i, site in enumerate(DIP_SITES):
        sf = rec.sensors[site]
        assert geodesic_deg(sf.mount_offset.T, M[i]) < 1.0  # from acc (Kabsch): f_real = M^T f_syn
        assert geodesic_deg(sf.mount_offset_ori, M[i]) < 0.1  # from orientations
        assert rotation_angle_deg(sf.world_offset_ori) < 0.1  # no world offset in this fixture
        assert geodesic_deg(sf.gyro_offset.T, M[i]) < 0.1  # from gyro
        assert sf.mount_offset_deg == pytest.approx(20.0, abs=1.0)


def test_shuffled_readings_correlate_poorly(body) -> None:
    seq, _ = dip_sequence(T=240, seed=0, offset_deg=0.0, noise=0.05)
    perm = np.random.default_rng(5).permutation(240)
    rec = compare_sequence(seq["imu_acc"][perm], seq["imu_ori"][perm], seq["gt"], body)
    s = FidelityReport([rec]).summary()
    assert abs(s["acc_r_aligned"]) < 0.3 and abs(s["freeacc_r_aligned"]) < 0.3
    assert s["ori_err_deg_raw"] > 10


def test_wrong_up_axis_shows_as_large_orientation_error(body) -> None:
    seq, _ = dip_sequence(T=120, seed=1, offset_deg=0.0, noise=0.0)
    good = compare_sequence(seq["imu_acc"], seq["imu_ori"], seq["gt"], body, sites=["pelvis", "head"])
    bad = compare_sequence(seq["imu_acc"], seq["imu_ori"], seq["gt"], body, sites=["pelvis", "head"], gt_up="z")
    assert good.sensors["pelvis"].ori_err_deg["raw"] < 0.1
    pelvis = bad.sensors["pelvis"]
    assert pelvis.ori_err_deg["raw"] > 60  # the 90 deg y-up / z-up turn ...
    assert rotation_angle_deg(pelvis.world_offset_ori) == pytest.approx(90.0, abs=1.0)  # ... found as a world offset
    assert pelvis.ori_err_deg["aligned"] < 0.5 and rotation_angle_deg(pelvis.mount_offset_ori) < 1.0
    # body rates do not see a world offset: gyro agrees raw and aligned; gravity-laden acc does not
    assert min(pelvis.metrics["gyro"]["raw"]["r"]) > 0.99 and min(pelvis.metrics["gyro"]["aligned"]["r"]) > 0.99
    assert np.mean(pelvis.metrics["acc"]["raw"]["rmse"]) > 3.0


def test_missing_root_translation_is_reported(body) -> None:
    T = 240
    t = np.arange(T) / FS
    amp, f = 0.05, 1.5  # root bobbing 5 cm at 1.5 Hz: acceleration amplitude amp (2 pi f)^2
    trans = np.zeros((T, 3))
    trans[:, 2] = amp * np.sin(2 * np.pi * f * t)
    seq, _ = dip_sequence(T=T, seed=2, offset_deg=0.0, noise=0.0, trans=trans)
    rec = compare_sequence(seq["imu_acc"], seq["imu_ori"], seq["gt"], body)
    expected = amp * (2 * np.pi * f) ** 2 / np.sqrt(2)  # RMS of the root's vertical acceleration
    assert rec.missing_root_acc_rms == pytest.approx(expected, rel=0.1)
    still, _ = dip_sequence(T=T, seed=2, offset_deg=0.0, noise=0.0)
    rec0 = compare_sequence(still["imu_acc"], still["imu_ori"], still["gt"], body)
    assert rec0.missing_root_acc_rms < 0.05 * expected


def test_nan_frames_are_skipped(body) -> None:
    seq, _ = dip_sequence(T=120, seed=3, offset_deg=0.0, noise=0.01)
    acc = seq["imu_acc"].copy()
    ori = seq["imu_ori"].copy()
    acc[10:14, 15] = np.nan
    ori[10:14, 15] = np.nan
    rec = compare_sequence(acc, ori, seq["gt"], body, sites=["left_foot", "head"])
    foot = rec.sensors["left_foot"]
    assert foot.n_frames < rec.sensors["head"].n_frames
    assert min(foot.metrics["acc"]["aligned"]["r"]) > 0.99


def test_folder_of_pickles_and_report_outputs(body, tmp_path: Path) -> None:
    data = tmp_path / "DIP_IMU_and_Others" / "DIP_IMU"
    for s, seed in (("s_01", 0), ("s_02", 1)):
        seq, _ = dip_sequence(T=120, seed=seed, offset_deg=10.0, noise=0.02)
        write_py2_pickle(seq, data / s / "01.pkl")
    report = dip_fidelity(tmp_path, body, sites=["left_wrist", "pelvis"], progress=False)
    assert [r.name for r in report.recordings] == ["s_01_01", "s_02_01"]
    d = report.to_dict()
    assert d["summary"]["n_recordings"] == 2 and set(d["per_sensor"]) == {"left_wrist", "pelvis"}
    assert len(d["per_sensor"]["pelvis"]["acc"]["aligned"]["r"]["mean"]) == 3
    md = report.to_markdown()
    assert "| left_wrist |" in md and "Root translation is absent" in md
    with pytest.raises(ValueError, match="unknown DIP sensor"):
        dip_fidelity(tmp_path, body, sites=["left_ear"], progress=False)


def test_pickle_without_gt_is_a_clear_error(body, tmp_path: Path) -> None:
    seq, _ = dip_sequence(T=60, seed=0)
    del seq["gt"]
    write_py2_pickle(seq, tmp_path / "DIP_IMU" / "s_01" / "02.pkl")
    with pytest.raises(DatasetFormatError, match=r"02\.pkl.*gt"):
        dip_fidelity(tmp_path, body, progress=False)
