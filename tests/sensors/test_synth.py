"""End-to-end synthesis physics on a body: analytic answers through the whole path."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.body.joints import SMPLH_JOINT_NAMES
from virtimu.body.model import BodyModel
from virtimu.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from virtimu.sensors.placement import Attachment
from virtimu.sensors.synth import SynthConfig, synthesize
from virtimu.types import Motion

from tests.conftest import random_smpl_arrays

G = 9.81
# AMASS root orientation of an upright body: model y (up) -> world z.
UPRIGHT = np.array([np.pi / 2, 0.0, 0.0])


@pytest.fixture(scope="module")
def body() -> BodyModel:
    arrays = random_smpl_arrays(seed=3)
    arrays["posedirs"] = arrays["posedirs"] * 0.0
    return BodyModel.from_arrays(arrays, name="random")


def _attachments(body: BodyModel) -> list[Attachment]:
    rng = np.random.default_rng(0)
    mounts = axis_angle_to_matrix(rng.normal(size=(3, 3)))
    return [
        Attachment(name="left_wrist", vertex=10, joint=20, mount=mounts[0], offset_local=np.array([0.0, 0.02, 0.0])),
        Attachment(name="right_thigh", vertex=20, joint=5, mount=mounts[1], offset_local=np.zeros(3)),
        Attachment(name="head", vertex=30, joint=15, mount=np.eye(3), offset_local=np.zeros(3)),
    ]


def _motion(T: int, fps: float, root_aa: np.ndarray, trans: np.ndarray, body_pose: np.ndarray | None = None) -> Motion:
    poses = np.zeros((T, 52, 3))
    poses[:, 0] = root_aa
    if body_pose is not None:
        poses[:, 1:22] = body_pose
    return Motion(poses=poses, trans=trans, betas=np.zeros(16), fps=fps, joint_names=SMPLH_JOINT_NAMES,
                  name="test/clip", provenance={"subject": "s1"})


def _rot_of(rec, site: str) -> np.ndarray:
    cols = [f"{site}/rot_{i}{j}" for i in range(3) for j in range(3)]
    return rec.select(cols).reshape(-1, 3, 3).astype(np.float64)


def test_rest_reads_plus_g_up_in_sensor_frame(body: BodyModel) -> None:
    T = 30
    bp = np.random.default_rng(1).normal(scale=0.3, size=(21, 3))
    m = _motion(T, 60.0, UPRIGHT, np.tile([0.3, -0.2, 1.0], (T, 1)), body_pose=bp)
    rec = synthesize(m, body, _attachments(body), SynthConfig(fps=60.0, signals=("acc", "gyro", "rot")))
    for site in ("left_wrist", "right_thigh", "head"):
        acc = rec.select([f"{site}/acc_{a}" for a in "xyz"])
        R = _rot_of(rec, site)
        expected = np.einsum("tji,j->ti", R, [0.0, 0.0, G])  # R_ws^T (0, 0, g)
        np.testing.assert_allclose(acc, expected, atol=2e-4)
        assert np.allclose(np.linalg.norm(acc, axis=1), G, atol=2e-4)
        np.testing.assert_allclose(rec.select([f"{site}/gyro_{a}" for a in "xyz"]), 0.0, atol=1e-5)
    assert rec.channels[:3] == ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z"]
    assert rec.units[0] == "m/s^2" and rec.subject == "s1"


def test_constant_root_acceleration_recovered(body: BodyModel) -> None:
    fps, T = 60.0, 40
    t = np.arange(T) / fps
    a = np.array([1.5, -0.7, 2.0])
    trans = 0.5 * t[:, None] ** 2 * a + np.array([0.0, 0.0, 1.0])
    m = _motion(T, fps, UPRIGHT, trans)
    rec = synthesize(m, body, _attachments(body), SynthConfig(fps=fps, signals=("acc", "rot")))
    for site in ("left_wrist", "right_thigh", "head"):
        R = _rot_of(rec, site)
        expected = np.einsum("tji,j->ti", R, a - np.array([0.0, 0.0, -G]))
        np.testing.assert_allclose(rec.select([f"{site}/acc_{x}" for x in "xyz"]), expected, atol=5e-4)


def test_global_acc_without_gravity_mode(body: BodyModel) -> None:
    fps, T = 60.0, 40
    t = np.arange(T) / fps
    a = np.array([0.5, 0.25, -1.0])
    m = _motion(T, fps, UPRIGHT, 0.5 * t[:, None] ** 2 * a)
    rec = synthesize(m, body, _attachments(body), SynthConfig(fps=fps, signals=("acc",), acc_mode="global_no_gravity"))
    np.testing.assert_allclose(rec.select(["head/acc_x", "head/acc_y", "head/acc_z"]), np.tile(a, (T, 1)), atol=5e-4)


def test_constant_rate_root_rotation_on_gyro(body: BodyModel) -> None:
    fps, T, rate = 120.0, 120, 1.3  # rad/s about world z
    t = np.arange(T) / fps
    R_root = np.einsum("tab,bc->tac", axis_angle_to_matrix(np.outer(t * rate, [0, 0, 1])), axis_angle_to_matrix(UPRIGHT))
    m = _motion(T, fps, matrix_to_axis_angle(R_root), np.zeros((T, 3)))
    rec = synthesize(m, body, _attachments(body), SynthConfig(fps=fps, signals=("gyro", "rot")))
    for site in ("left_wrist", "head"):
        R = _rot_of(rec, site)
        expected = np.einsum("tji,j->ti", R, [0.0, 0.0, rate])
        np.testing.assert_allclose(rec.select([f"{site}/gyro_{x}" for x in "xyz"]), expected, atol=1e-4)


def test_paper_36_dim_layout_and_rate_change(body: BodyModel) -> None:
    fps_src, T = 120.0, 241
    t = np.arange(T) / fps_src
    trans = np.stack([0.3 * np.sin(2 * np.pi * 0.8 * t), np.zeros(T), 1.0 + 0.05 * np.cos(2 * np.pi * 1.7 * t)], 1)
    m = _motion(T, fps_src, UPRIGHT, trans)
    m.labels = np.where(t < 1.0, 1, 2)
    m.label_map = {0: "null", 1: "standing", 2: "walking"}
    rec = synthesize(m, body, _attachments(body), SynthConfig(fps=60.0, signals=("acc", "rot")))
    assert rec.signals.shape == (121, 36) and rec.fs == 60.0
    assert rec.channels[3:12] == [f"left_wrist/rot_{i}{j}" for i in range(3) for j in range(3)]
    assert rec.labels is not None and rec.labels[0] == 1 and rec.labels[-1] == 2
    assert rec.label_map[2] == "walking"
    # both rate strategies agree on a smooth motion away from the edges
    dec = synthesize(m, body, _attachments(body), SynthConfig(fps=60.0, signals=("acc", "rot"), strategy="decimate"))
    assert dec.signals.shape == rec.signals.shape
    np.testing.assert_allclose(dec.signals[10:-10], rec.signals[10:-10], atol=0.05)


def test_device_model_is_seeded(body: BodyModel) -> None:
    T = 60
    m = _motion(T, 60.0, UPRIGHT, np.zeros((T, 3)))
    clean = synthesize(m, body, _attachments(body), SynthConfig(signals=("acc",)))
    cfg = SynthConfig(signals=("acc",), device="smartphone", seed=4)
    a = synthesize(m, body, _attachments(body), cfg)
    b = synthesize(m, body, _attachments(body), cfg)
    np.testing.assert_array_equal(a.signals, b.signals)
    assert np.abs(a.signals - clean.signals).max() > 1e-3


def test_bad_config_rejected() -> None:
    with pytest.raises(ValueError, match="unknown signal kinds"):
        SynthConfig(signals=("acc", "temperature"))
    with pytest.raises(ValueError, match="strategy"):
        SynthConfig(strategy="nearest")
