"""Test data for the fidelity tests: DIP-layout sequences made by our own synthesis, and static recordings.

``dip_sequence`` synthesises the 17 ``dip-full`` sensors from known smooth
random SMPL poses (z-up), then writes what DIP-IMU stores: ``gt`` with the
root in DIP's y-up world, ``imu_acc`` the world acceleration without gravity
(y up) plus noise, ``imu_ori`` the sensor orientations times a known
per-sensor mounting offset ``M`` (R_real = R_syn M, so f_real = Mᵀ f_syn).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from virtimu.body.files import load_body_model
from virtimu.datasets.dip import Y_TO_Z
from virtimu.fidelity.fidelity import dip_motion, synthesize_dip
from virtimu.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from virtimu.sensors.noise import DeviceModel, apply_device_model
from virtimu.sensors.placement import resolve_sites
from virtimu.types import Recording

FS = 60.0
Z_TO_Y = Y_TO_Z.T


def smooth_poses(T: int, seed: int, amplitude: float = 0.4) -> np.ndarray:
    """(T, 24, 3) z-up SMPL axis-angle poses: every joint swings on random slow sinusoids; upright root."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / FS
    f = rng.uniform(0.2, 1.0, size=(24, 3))
    ph = rng.uniform(0, 2 * np.pi, size=(24, 3))
    poses = amplitude * np.sin(2 * np.pi * f[None] * t[:, None, None] + ph[None])
    upright = Rotation.from_euler("x", 90, degrees=True).as_matrix()  # SMPL y-up body -> z-up world
    poses[:, 0] = matrix_to_axis_angle(upright @ axis_angle_to_matrix(poses[:, 0]))
    return poses


def dip_sequence(T: int = 240, seed: int = 0, offset_deg: float = 20.0, noise: float = 0.05,
                 trans: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """(DIP pickle dict, M (17, 3, 3) mounting offsets) for known poses.

    trans: optional (T, 3) z-up root translation used for the "real" side
    only (DIP's gt has none), to test the missing-root report.
    """
    rng = np.random.default_rng(seed + 1)
    poses = smooth_poses(T, seed)
    body = load_body_model(None)
    sites = resolve_sites(None, preset="dip-full")
    motion = dip_motion(poses.reshape(T, 72), FS, gt_up="z")
    if trans is not None:
        motion.trans = np.asarray(trans, dtype=np.float64)
    syn = synthesize_dip(motion, body, sites)
    axes = rng.normal(size=(17, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    M = Rotation.from_rotvec(axes * np.radians(offset_deg)).as_matrix()
    acc_y = np.einsum("ij,tsj->tsi", Z_TO_Y, syn.freeacc) + rng.normal(scale=noise, size=(T, 17, 3))
    ori_y = np.einsum("ij,tsjk->tsik", Z_TO_Y, np.einsum("tsij,sjk->tsik", syn.R, M))
    gt = poses.copy()
    gt[:, 0] = matrix_to_axis_angle(np.einsum("ij,tjk->tik", Z_TO_Y, axis_angle_to_matrix(poses[:, 0])))
    return {"imu_acc": acc_y.astype(np.float32), "imu_ori": ori_y.astype(np.float32),
            "gt": gt.reshape(T, 72)}, M


def write_py2_pickle(obj: dict, path: Path) -> None:
    """Protocol-2 pickle with numpy 1.x module names, as DIP-IMU's Python 2 files carry."""
    raw = pickle.dumps(obj, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


# --------------------------------------------------------------------------- static recordings

#: Gravity direction (unit, sensor frame) of each static posture of `static_recording`.
POSTURES = {"STANDING": np.array([1.0, 0.0, 0.0]), "SITTING": np.array([0.5, 0.0, np.sqrt(0.75)]),
            "LAYING": np.array([0.0, 0.0, 1.0]), "LAYING_SIDE": np.array([0.0, 1.0, 0.0])}
LABEL_MAP = {0: "null", 1: "WALKING", 4: "SITTING", 5: "STANDING", 6: "LAYING"}
CHANNELS = [f"waist/{k}_{a}" for k in ("acc", "gyro") for a in "xyz"]
UNITS = ["m/s^2"] * 3 + ["rad/s"] * 3


def static_recording(name: str, seed: int, model: DeviceModel, fs: float = 50.0, seg_s: float = 20.0,
                     walk_peak: float = 0.0) -> Recording:
    """Still postures (STANDING, SITTING, LAYING, LAYING on the side), each ``seg_s`` long, between 2 s of
    "WALKING" (a 2 Hz swing of amplitude ``walk_peak`` m/s² on acc x), through ``model`` (seed ``seed``)."""
    blocks, labels = [], []
    n_walk, n_seg = int(2 * fs), int(seg_s * fs)
    codes = {v: k for k, v in LABEL_MAP.items()}
    for posture, g_dir in POSTURES.items():
        walk = np.zeros((n_walk, 6))
        walk[:, :3] = 9.81 * g_dir
        walk[:, 0] += walk_peak * np.sin(2 * np.pi * 2.0 * np.arange(n_walk) / fs)
        blocks.append(walk)
        labels.append(np.full(n_walk, codes["WALKING"]))
        still = np.zeros((n_seg, 6))
        still[:, :3] = 9.81 * g_dir
        blocks.append(still)
        labels.append(np.full(n_seg, codes["LAYING" if posture == "LAYING_SIDE" else posture]))
    clean = np.concatenate(blocks)
    x = apply_device_model(clean, CHANNELS, fs, model, seed=seed)
    return Recording(signals=x.astype(np.float32), channels=list(CHANNELS), units=list(UNITS), fs=fs,
                     source="test", name=name, labels=np.concatenate(labels).astype(np.int16),
                     label_map=dict(LABEL_MAP), subject=name)
