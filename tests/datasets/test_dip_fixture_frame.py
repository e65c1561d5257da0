"""The DIP-IMU fixture's ``gt`` root orientation is in DIP's y-up world, as in the real files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.body.files import load_body_model
from virtimu.datasets import fixtures as F
from virtimu.datasets.dip import read_sequence
from virtimu.fidelity.fidelity import compare_sequence, dip_motion, read_dip_gt, rotation_angle_deg
from virtimu.rotations import axis_angle_to_matrix


@pytest.fixture(scope="module")
def dip_root(tmp_path_factory) -> Path:
    return F.write_dip_fixture(tmp_path_factory.mktemp("dip"), subjects=1, seconds=2.0)


def _file(root: Path, seq: str) -> Path:
    return root / "DIP_IMU_and_Others" / "DIP_IMU" / "s_01" / f"{seq}.pkl"


def test_gt_root_round_trips_to_the_generating_motion(dip_root: Path) -> None:
    for seq in ("03", "05"):  # walking (upright), computer work (sitting)
        kind = F.DIP_SEQUENCES[seq][1]
        clip = F.activity_clip(kind, 100 + int(seq), fps=60.0, seconds=2.0)  # seed as write_dip_fixture(seed=0), s=1
        gt = read_dip_gt(_file(dip_root, seq))
        motion = dip_motion(gt, gt_up="y")  # the reader of DIP gt: y-up root -> z-up
        T = gt.shape[0]
        want = axis_angle_to_matrix(clip.to_motion().poses[:T, 0])
        got = axis_angle_to_matrix(motion.poses[:, 0])
        assert np.abs(got - want).max() < 1e-6
        # the other body joints are relative rotations and stay as generated
        assert np.allclose(motion.poses[:, 1:22], clip.to_motion().poses[:T, 1:22], atol=1e-9)


def test_gt_root_is_y_up_like_the_imu_orientations(dip_root: Path) -> None:
    gt = read_dip_gt(_file(dip_root, "03"))
    R_root = axis_angle_to_matrix(gt[:, :3])
    _, ori = read_sequence(_file(dip_root, "03"))
    # walking upright: the pelvis (SMPL body y axis) points up the world, which is +y in DIP's frame
    body_up = R_root[:, :, 1]
    assert np.median(body_up[:, 1]) > 0.9 and np.abs(np.median(body_up[:, 2])) < 0.3
    # and gt agrees with the pelvis sensor's y-up orientation up to the small placement jitter
    pelvis = ori[:, 2].astype(np.float64)
    angle = rotation_angle_deg(np.einsum("tji,tjk->tik", R_root, pelvis))
    assert np.median(angle) < 20.0


def test_fidelity_on_the_fixture_finds_no_world_offset(dip_root: Path) -> None:
    acc, ori = read_sequence(_file(dip_root, "03"))
    gt = read_dip_gt(_file(dip_root, "03"))
    rec = compare_sequence(acc, ori, gt, load_body_model(None), sites=["pelvis", "head"])
    pelvis = rec.sensors["pelvis"]
    assert rotation_angle_deg(pelvis.world_offset_ori) < 5.0  # was ~90 deg with a z-up root
    assert pelvis.ori_err_deg["raw"] < 15.0
