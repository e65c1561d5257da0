"""Virtual IMU synthesis: a Motion on a body with attached sensors -> a Recording.

The steps (paper 001's method, generalised):

1. local joint rotations of the motion on the body (joints matched by name);
2. rate conversion, one of two strategies (``SynthConfig.strategy``):
   ``"resample"`` (default, as paper 001 / DIP / TransPose): SLERP the poses
   and spline the translation to the target rate, then difference there;
   ``"decimate"`` (a real sensor's way): compute everything at the native
   mocap rate, then low-pass and decimate (orientations by SLERP);
3. forward kinematics for joint orientations, sparse skinning of only the
   sensor vertices for positions;
4. central finite differences for acceleration, log-map differences of
   orientations for the gyroscope, the constant Earth field for the
   magnetometer; optional device model (noise, bias, range, quantisation).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import virtimu
from virtimu.body.model import BodyModel
from virtimu.kinematics import forward_kinematics, joint_closure, motion_rotations, skin_vertices
from virtimu.sensors import signals as sig
from virtimu.sensors.noise import DeviceModel, apply_device_model
from virtimu.sensors.placement import Attachment
from virtimu.sensors.resample import decimate_signals, resample_orientations, resample_pose_sequence, target_times
from virtimu.types import NULL_LABEL, Motion, Recording

SIGNAL_KINDS = ("acc", "gyro", "rot", "quat", "mag")
ACC_MODES = ("specific_force", "global_no_gravity")
STRATEGIES = ("resample", "decimate")


@dataclass
class SynthConfig:
    """Settings of one synthesis run (defaults: paper 001 at 60 Hz, plus gyro).

    fps: target sampling rate (Hz).
    strategy: "resample" (poses to target rate, difference there) or
        "decimate" (difference at the mocap rate, anti-alias, decimate).
    span: smoothing span n of the central difference (1 = paper 001).
    signals: which signal kinds to output, among acc, gyro, rot, quat, mag.
    acc_mode: "specific_force" (what a real accelerometer reads, gravity
        included, sensor frame) or "global_no_gravity" (DIP/TransPose:
        world-frame acceleration without gravity).
    device: device-model preset name ("none", "smartphone", "xsens") or a dict
        of DeviceModel fields.
    seed: seed of the device model draws (combined with the recording name).
    """

    fps: float = 60.0
    strategy: str = "resample"
    span: int = 1
    signals: tuple[str, ...] = ("acc", "gyro", "rot")
    acc_mode: str = "specific_force"
    device: Any = "none"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.signals, str):
            self.signals = tuple(s.strip() for s in self.signals.split(",") if s.strip())
        self.signals = tuple(self.signals)
        bad = [s for s in self.signals if s not in SIGNAL_KINDS]
        if bad or not self.signals:
            raise ValueError(f"unknown signal kinds {bad}; choose from {list(SIGNAL_KINDS)}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose from {list(STRATEGIES)}")
        if self.acc_mode not in ACC_MODES:
            raise ValueError(f"unknown acc_mode {self.acc_mode!r}; choose from {list(ACC_MODES)}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if int(self.span) < 1:
            raise ValueError(f"span must be >= 1, got {self.span}")
        self.span = int(self.span)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["signals"] = list(self.signals)
        return d

    def device_model(self) -> DeviceModel:
        if isinstance(self.device, DeviceModel):
            return self.device
        if isinstance(self.device, dict):
            return DeviceModel.from_dict(self.device)
        return DeviceModel.preset(self.device or "none")


def sensor_trajectories(body: BodyModel, betas: np.ndarray, R_local: np.ndarray, trans: np.ndarray,
                        attachments: list[Attachment]) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, S, 3) and orientations R_ws (T, S, 3, 3) of the sensors.

    Positions: sparse skinning of the sensors' vertices plus each sensor's small
    local offset carried by its joint; orientations: forward kinematics of the
    sensor's joint times its mounting rotation.
    """
    verts = np.array([a.vertex for a in attachments])
    joints = np.array([a.joint for a in attachments])
    state = forward_kinematics(R_local, body.rest_joints(betas), body.parents, trans,
                               joints=needed_joints(body, attachments))
    R_wj = state.R[:, joints]  # (T, S, 3, 3)
    offsets = np.stack([np.asarray(a.offset_local, dtype=np.float64) for a in attachments])  # (S, 3)
    mounts = np.stack([np.asarray(a.mount, dtype=np.float64) for a in attachments])  # (S, 3, 3)
    P = skin_vertices(body, betas, R_local, state, verts) + np.einsum("tsab,sb->tsa", R_wj, offsets)
    R_ws = np.einsum("tsab,sbc->tsac", R_wj, mounts)
    return P, R_ws


def needed_joints(body: BodyModel, attachments: list[Attachment]) -> np.ndarray:
    """Joints whose world pose the sensors need: their own joints, the joints
    skinning their vertices, and all ancestors."""
    verts = np.array([a.vertex for a in attachments])
    weighted = np.flatnonzero(np.any(body.weights[verts] != 0, axis=0))
    return joint_closure(body.parents, list(weighted) + [a.joint for a in attachments])


def _signal_blocks(P: np.ndarray, R_ws: np.ndarray, dt: float, cfg: SynthConfig) -> dict[str, np.ndarray]:
    """Signal arrays by kind, each (T, S, k)."""
    out: dict[str, np.ndarray] = {}
    if "acc" in cfg.signals:
        acc_w = sig.central_difference_acc(P, dt, span=cfg.span)
        out["acc"] = sig.specific_force(acc_w, R_ws) if cfg.acc_mode == "specific_force" else acc_w
    if "gyro" in cfg.signals:
        out["gyro"] = sig.gyro_from_orientations(R_ws, dt)
    if "rot" in cfg.signals:
        out["rot"] = sig.orientation_channels(R_ws)
    if "quat" in cfg.signals:
        out["quat"] = sig.quaternion_channels(R_ws)
    if "mag" in cfg.signals:
        out["mag"] = sig.magnetometer(R_ws)
    return out


def _frame_labels(motion: Motion, n_out: int, fs_out: float) -> np.ndarray | None:
    """Per-frame labels at the output rate (nearest source frame)."""
    if motion.labels is None:
        return None
    t = np.arange(n_out) / fs_out
    src = np.clip(np.rint(t * motion.fps).astype(np.int64), 0, motion.n_frames - 1)
    return np.asarray(motion.labels)[src].astype(np.int16)


def synthesize(motion: Motion, body: BodyModel, attachments: list[Attachment], cfg: SynthConfig,
               source: str = "amass") -> Recording:
    """Virtual IMU recording of ``motion`` (see module docstring).

    Channels are ordered site by site, then signal kind in ``cfg.signals``
    order, e.g. ``left_wrist/acc_x ... left_wrist/rot_22, right_thigh/acc_x ...``.
    Raises ValueError when the sequence is too short for the difference span.
    """
    if not attachments:
        raise ValueError("no sensors to synthesise")
    if body.posedirs is None:  # pose blend shapes need every joint's rotation; plain LBS does not
        R_local = motion_rotations(motion, body, joints=needed_joints(body, attachments))
    else:
        R_local = motion_rotations(motion, body)
    trans = np.asarray(motion.trans, dtype=np.float64)
    min_frames = 2 * cfg.span + 1
    if cfg.strategy == "resample":
        if not np.isclose(motion.fps, cfg.fps):
            R_local, trans, _ = resample_pose_sequence(R_local, trans, motion.fps, cfg.fps)
        if len(trans) < min_frames:
            raise ValueError(f"{motion.name}: {len(trans)} frames at {cfg.fps} Hz; need >= {min_frames}")
        P, R_ws = sensor_trajectories(body, motion.betas, R_local, trans, attachments)
        blocks = _signal_blocks(P, R_ws, 1.0 / cfg.fps, cfg)
    else:
        if motion.n_frames < min_frames:
            raise ValueError(f"{motion.name}: {motion.n_frames} frames; need >= {min_frames}")
        P, R_ws = sensor_trajectories(body, motion.betas, R_local, trans, attachments)
        blocks = _signal_blocks(P, R_ws, 1.0 / motion.fps, cfg)
        if not np.isclose(motion.fps, cfg.fps):
            n_out = len(target_times(motion.n_frames, motion.fps, cfg.fps))
            R_out = resample_orientations(R_ws, motion.fps, cfg.fps)
            for kind, arr in blocks.items():
                if kind in ("rot", "quat"):
                    fn = sig.orientation_channels if kind == "rot" else sig.quaternion_channels
                    blocks[kind] = fn(R_out)
                else:
                    blocks[kind] = decimate_signals(arr, motion.fps, cfg.fps, axis=0)[:n_out]
            if len(R_out) < min_frames:
                raise ValueError(f"{motion.name}: {len(R_out)} frames at {cfg.fps} Hz; need >= {min_frames}")

    columns, channels, units = [], [], []
    for s, att in enumerate(attachments):
        for kind in cfg.signals:
            arr = blocks[kind][:, s]
            columns.append(arr)
            channels += [f"{att.name}/{axis}" for axis in sig.SIGNAL_AXES[kind]]
            units += [sig.SIGNAL_UNITS[kind]] * arr.shape[1]
    signals = np.concatenate(columns, axis=1)
    device = cfg.device_model()
    if not device.is_identity():
        signals = apply_device_model(signals, channels, cfg.fps, device, seed=_seed_for(cfg.seed, motion.name))

    labels = _frame_labels(motion, signals.shape[0], cfg.fps)
    label_map = motion.label_map
    if labels is not None and label_map is None:
        label_map = {NULL_LABEL: "null"}
    prov = dict(motion.provenance)
    prov.update({"source_fps": float(motion.fps), "source_frames": motion.n_frames,
                 "model_type": motion.model_type, "gender": motion.gender})
    return Recording(
        signals=signals.astype(np.float32), channels=channels, units=units, fs=float(cfg.fps),
        source=source, name=motion.name, labels=labels, label_map=label_map,
        subject=prov.get("subject"), provenance=prov,
        attrs={
            "kind": "synthetic",
            "config": cfg.to_dict(),
            "placement": [_attachment_dict(a) for a in attachments],
            "body": {"name": body.name, "model_type": body.model_type, "topology": body.topology,
                     "gender": body.gender, "n_vertices": int(body.v_template.shape[0])},
            "betas": np.asarray(motion.betas, dtype=float).tolist(),
            "virtimu_version": virtimu.__version__,
        },
    )


def _attachment_dict(a: Attachment) -> dict[str, Any]:
    return {"site": a.name, "vertex": int(a.vertex), "joint": int(a.joint),
            "mount": np.asarray(a.mount, dtype=float).tolist(),
            "offset_local": np.asarray(a.offset_local, dtype=float).tolist()}


def _seed_for(seed: int, name: str) -> int:
    """A per-recording seed: stable across runs and processes (no Python hash)."""
    import zlib

    return (int(seed) * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % (2**32)
