"""A generated motion clip and its conversion to the AMASS SMPL+H layout.

Generators build local joint rotations for the 24 SMPL joints facing world +x
near the origin; :func:`make_clip` turns them, the pelvis path and per-frame
labels into a :class:`Clip` placed at the requested heading and start point.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtimu.body.joints import SMPLH_JOINT_NAMES
from virtimu.kinematics import JointState, forward_kinematics
from virtimu.motion.anatomy import rot_z
from virtimu.motion.skeleton import J, Skeleton
from virtimu.rotations import matrix_to_axis_angle
from virtimu.types import Motion

#: Number of betas stored in the AMASS SMPL+H files (zeros: the default shape).
N_BETAS = 16
#: Number of DMPL coefficients stored in the AMASS SMPL+H files.
N_DMPLS = 8


def assemble(T: int, joints: dict[str, np.ndarray]) -> np.ndarray:
    """Local rotations (T, 24, 3, 3): identity except the named joints ((T, 3, 3) or (3, 3) each)."""
    R = np.broadcast_to(np.eye(3), (T, 24, 3, 3)).copy()
    for name, value in joints.items():
        R[:, J[name]] = value
    return R


@dataclass
class Clip:
    """A generated motion.

    name: file stem ('walking'); label: clip label ('walking').
    fps: frame rate (Hz).
    R_local: (T, 24, 3, 3) local rotations of the SMPL joints (joint 0 = root in the AMASS world, z up).
    trans: (T, 3) root translation (m); the pelvis joint is at rest_joints[0] + trans.
    frame_labels: (T,) lower-case label name per frame.
    params: the parameter dataclass the clip was generated from.
    skeleton: the rest skeleton it was generated on.
    info: generator diagnostics (stance masks, flight frames ...); not written to files.
    betas: optional (B,) shape coefficients of the body the skeleton was built from (None: the
        default shape, zeros); written to files and to :meth:`to_motion`.
    label_map: optional {code: name} that fixes the per-frame label codes of :meth:`to_motion`
        (e.g. a label space's map); None numbers the names in order of first appearance.
    source: prefix of the motion name ('demo' gives 'demo/walking').
    provenance: further facts merged into the motion's provenance (subject, seed ...).
    """

    name: str
    label: str
    fps: float
    R_local: np.ndarray
    trans: np.ndarray
    frame_labels: np.ndarray
    params: Any
    skeleton: Skeleton
    info: dict = field(default_factory=dict)
    betas: np.ndarray | None = None
    label_map: dict[int, str] | None = None
    source: str = "demo"
    provenance: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.R_local.shape[0])

    def joint_state(self) -> JointState:
        """World joint poses (forward kinematics on the generating skeleton)."""
        return forward_kinematics(self.R_local, self.skeleton.rest_joints, self.skeleton.parents, self.trans)

    def body_poses(self) -> np.ndarray:
        """(T, 22, 3) axis-angle of the 22 SMPL body joints (AMASS order)."""
        return matrix_to_axis_angle(self.R_local[:, :22])

    def smplh_poses(self) -> np.ndarray:
        """(T, 156) AMASS SMPL+H poses: 22 body joints, then 30 finger joints at zero."""
        out = np.zeros((self.n_frames, 156))
        out[:, :66] = self.body_poses().reshape(self.n_frames, 66)
        return out

    def label_codes(self) -> tuple[np.ndarray, dict[int, str]]:
        """Per-frame integer codes and {code: name}: from :attr:`label_map` when set, else
        1, 2 ... in order of first appearance."""
        if self.label_map is not None:
            label_map = {int(c): str(n) for c, n in self.label_map.items()}
            lookup = {n: c for c, n in label_map.items()}
            unknown = sorted(set(self.frame_labels.tolist()) - set(lookup))
            if unknown:
                raise ValueError(f"clip {self.name!r}: frame labels {unknown} are not in its label map "
                                 f"{sorted(lookup)}")
        else:
            names = list(dict.fromkeys(self.frame_labels.tolist()))
            label_map = {i + 1: n for i, n in enumerate(names)}
            lookup = {n: c for c, n in label_map.items()}
        return np.array([lookup[n] for n in self.frame_labels.tolist()], dtype=np.int64), label_map

    def betas_array(self, n: int = N_BETAS) -> np.ndarray:
        """(n,) shape coefficients: :attr:`betas` truncated / zero-padded (zeros when None)."""
        out = np.zeros(n)
        if self.betas is not None:
            b = np.asarray(self.betas, dtype=np.float64).reshape(-1)[:n]
            out[: len(b)] = b
        return out

    def to_motion(self) -> Motion:
        """The clip as a :class:`virtimu.types.Motion` (SMPL+H joint layout, 52 joints)."""
        codes, label_map = self.label_codes()
        return Motion(
            poses=self.smplh_poses().reshape(self.n_frames, len(SMPLH_JOINT_NAMES), 3),
            trans=self.trans.copy(), betas=self.betas_array(), fps=self.fps,
            joint_names=list(SMPLH_JOINT_NAMES), gender="neutral", model_type="smplh",
            name=f"{self.source}/{self.name}", labels=codes, label_map=label_map,
            provenance={"source": "virtimu procedural", "label": self.label,
                        "params": params_dict(self.params), "skeleton": self.skeleton.source,
                        **self.provenance},
        )


def params_dict(params: Any) -> dict:
    """Plain dict of a parameter dataclass (JSON-friendly)."""
    if dataclasses.is_dataclass(params):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(params).items()}
    return dict(params or {})


def make_clip(name: str, label: str, params: Any, skel: Skeleton, fps: float, R_local: np.ndarray,
              p_pelvis: np.ndarray, frame_labels: list[str] | np.ndarray, heading: float = 0.0,
              start: tuple[float, float] = (0.0, 0.0), info: dict | None = None) -> Clip:
    """Place a generated motion in the world and wrap it as a :class:`Clip`.

    R_local: (T, 24, 3, 3) local rotations built facing world +x.
    p_pelvis: (T, 3) world pelvis joint positions (m), same facing.
    The motion is turned by ``heading`` (rad, about world z, counter-clockwise
    seen from above) and shifted so that the pelvis starts above ``start`` (x, y).
    """
    R_local = np.array(R_local, dtype=np.float64)
    p = np.asarray(p_pelvis, dtype=np.float64)
    Rh = rot_z(heading)
    R_local[:, 0] = Rh @ R_local[:, 0]
    p = p @ Rh.T
    p[:, 0] += start[0] - p[0, 0]
    p[:, 1] += start[1] - p[0, 1]
    trans = p - skel.rest_joints[0]
    labels = np.asarray(frame_labels, dtype=str)
    if labels.shape != (R_local.shape[0],):
        raise ValueError(f"clip {name!r}: {labels.shape[0]} frame labels for {R_local.shape[0]} frames")
    return Clip(name=name, label=label, fps=float(fps), R_local=R_local, trans=trans, frame_labels=labels,
                params=params, skeleton=skel, info=dict(info or {}))
