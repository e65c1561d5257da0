"""The rest skeleton a procedural motion is generated for, and its contact points.

A :class:`Skeleton` holds the 24 SMPL rest joints (model space: y up, the body
faces +z, its left is +x; metres) plus the few surface points the generators
keep on (or above) the floor: per foot a heel, a ball (under the ``*_foot``
joint, the metatarsal heads) and a toe tip, and for lying and floor-sitting a
handful of points on the back of the trunk and head.  It is built from a
:class:`~virtimu.body.model.BodyModel` and betas (sole height and foot ends
from the mesh) or, without a body, from the approximate SMPL-neutral table
:data:`APPROX_SMPL_NEUTRAL_JOINTS`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from virtimu.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from virtimu.body.model import BodyModel
from virtimu.kinematics import JointState

log = logging.getLogger(__name__)

#: Approximate rest joints (24, 3) of the SMPL neutral body (betas = 0), metres,
#: model space, rounded to millimetres.  Used when no body model is at hand.
APPROX_SMPL_NEUTRAL_JOINTS = np.array([
    (0.000, -0.223, 0.028), (0.070, -0.314, 0.024), (-0.068, -0.315, 0.021), (-0.003, -0.109, -0.002),
    (0.104, -0.676, 0.036), (-0.106, -0.672, 0.030), (0.006, 0.021, 0.005), (0.089, -1.077, -0.008),
    (-0.085, -1.078, -0.004), (0.004, 0.074, 0.028), (0.120, -1.140, 0.114), (-0.123, -1.138, 0.118),
    (0.000, 0.288, -0.015), (0.079, 0.195, -0.005), (-0.082, 0.193, -0.009), (0.004, 0.351, 0.035),
    (0.170, 0.224, -0.016), (-0.175, 0.226, -0.020), (0.422, 0.214, -0.039), (-0.423, 0.214, -0.044),
    (0.671, 0.226, -0.043), (-0.672, 0.224, -0.049), (0.750, 0.215, -0.052), (-0.753, 0.214, -0.056),
])

#: Index of each SMPL joint by name.
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

#: Foot contact points, in this order, as returned by :func:`foot_points`.
FOOT_POINTS = ["left_heel", "left_ball", "left_toe", "right_heel", "right_ball", "right_toe"]

#: Surface points on the back of the body (for lying / sitting on the floor):
#: name -> (joint, offset in that joint's rest frame for the default body, metres).
#: Right-side points mirror the left ones (x negated).
_BACK_POINTS = {
    "left_ischium": ("pelvis", (0.06, -0.17, -0.05)),
    "right_ischium": ("pelvis", (-0.06, -0.17, -0.05)),
    "sacrum": ("pelvis", (0.0, -0.06, -0.13)),
    "lumbar": ("spine2", (0.0, 0.0, -0.12)),
    "left_scapula": ("spine3", (0.08, 0.10, -0.13)),
    "right_scapula": ("spine3", (-0.08, 0.10, -0.13)),
    "head_back": ("head", (0.0, 0.06, -0.11)),
    "left_calf": ("left_knee", (0.0, -0.15, -0.07)),
    "right_calf": ("right_knee", (0.0, -0.15, -0.07)),
    "left_heel_back": ("left_ankle", (0.0, -0.04, -0.07)),
    "right_heel_back": ("right_ankle", (0.0, -0.04, -0.07)),
    "left_elbow_back": ("left_elbow", (0.0, 0.0, -0.05)),
    "right_elbow_back": ("right_elbow", (0.0, 0.0, -0.05)),
}
BACK_POINTS = list(_BACK_POINTS)


@dataclass(frozen=True)
class FootGeometry:
    """Contact geometry of one foot, in the ankle joint's rest frame (model axes), metres.

    heel: (3,) offset ankle -> heel contact point (rear of the sole).
    ball: (3,) offset ankle -> ball contact point (sole under the ``*_foot`` joint).
    toe: (3,) offset foot joint -> toe-tip contact point (front of the sole, moves with the toes).
    """

    heel: np.ndarray
    ball: np.ndarray
    toe: np.ndarray

    @property
    def axis_yaw(self) -> float:
        """Angle (rad) of the heel->ball line from model +z towards +x (toe-out of the rest foot, left side +)."""
        d = self.ball - self.heel
        return float(np.arctan2(d[0], d[2]))


@dataclass(frozen=True)
class Skeleton:
    """Rest skeleton of one body.

    rest_joints: (24, 3) SMPL rest joints in model space (metres), betas applied.
    parents: (24,) parent indices (-1 for the pelvis).
    feet: {'left': FootGeometry, 'right': FootGeometry}.
    back_scale: scale of the default back-point offsets (body size relative to the default).
    source: where the joints came from ('approximate SMPL-neutral table', a body name ...).
    """

    rest_joints: np.ndarray
    parents: np.ndarray
    feet: dict
    back_scale: float = 1.0
    source: str = ""

    # ----------------------------------------------------------------- geometry
    def offset(self, child: str, parent: str) -> np.ndarray:
        """Rest vector parent -> child (3,), metres."""
        return self.rest_joints[J[child]] - self.rest_joints[J[parent]]

    def leg_lengths(self, side: str) -> tuple[float, float]:
        """(thigh, shank) lengths (m): hip->knee and knee->ankle rest distances."""
        thigh = np.linalg.norm(self.offset(f"{side}_knee", f"{side}_hip"))
        shank = np.linalg.norm(self.offset(f"{side}_ankle", f"{side}_knee"))
        return float(thigh), float(shank)

    def back_points(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Back-of-body surface points: (names, joint index (P,), offsets (P, 3) in the joint rest frames)."""
        names = list(_BACK_POINTS)
        idx = np.array([J[_BACK_POINTS[n][0]] for n in names])
        off = np.array([_BACK_POINTS[n][1] for n in names], dtype=np.float64) * self.back_scale
        return names, idx, off

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_rest_joints(cls, rest_joints: np.ndarray, sole_drop: float | None = None,
                         source: str = "rest joints") -> "Skeleton":
        """Skeleton from (24, 3) SMPL rest joints alone.

        sole_drop: height of the ankle joints above the soles (m); default scales
        0.07 m (SMPL neutral) with the leg length.  Heel 0.03 m behind the ankle,
        ball under the foot joint, toe tip 0.06 m in front of it (scaled likewise).
        """
        rest = np.asarray(rest_joints, dtype=np.float64)
        if rest.shape != (24, 3):
            raise ValueError(f"skeleton {source}: rest_joints must be (24, 3), got {rest.shape}")
        scale = _leg_scale(rest)
        drop = 0.07 * scale if sole_drop is None else float(sole_drop)
        feet = {}
        for side in ("left", "right"):
            ankle, foot = rest[J[f"{side}_ankle"]], rest[J[f"{side}_foot"]]
            sole = ankle[1] - drop
            feet[side] = FootGeometry(
                heel=np.array([0.0, sole - ankle[1], -0.03 * scale]),
                ball=np.array([foot[0] - ankle[0], sole - ankle[1], foot[2] - ankle[2]]),
                toe=np.array([0.0, sole - foot[1], 0.06 * scale]),
            )
        return cls(rest, np.array(SMPL_PARENTS), feet, back_scale=scale, source=source)

    @classmethod
    def from_body(cls, body: BodyModel, betas: np.ndarray | None = None) -> "Skeleton":
        """Skeleton of ``body`` with shape ``betas``: joints by name, feet from the mesh.

        The soles are the lowest rest vertices skinned mainly to each ankle/foot
        joint; the heel is the rearmost and the toe tip the foremost of the
        vertices within 1.5 cm of the sole.  Bodies without SMPL's ``*_hand``
        joints (SMPL+H, SMPL-X) get them extrapolated from the forearm.
        """
        rest_all = body.rest_joints(betas)
        rest = np.zeros((24, 3))
        for i, name in enumerate(SMPL_JOINT_NAMES):
            if name in body.joint_names:
                rest[i] = rest_all[body.joint_index(name)]
            else:  # *_hand: a third of a forearm beyond the wrist
                side = name.split("_")[0]
                w, e = rest_all[body.joint_index(f"{side}_wrist")], rest_all[body.joint_index(f"{side}_elbow")]
                rest[i] = w + (w - e) / 3.0
        verts = body.shaped_vertices(betas)
        owner = np.argmax(body.weights, axis=1)
        feet = {}
        for side in ("left", "right"):
            ia, i_f = body.joint_index(f"{side}_ankle"), body.joint_index(f"{side}_foot")
            sel = verts[np.isin(owner, [ia, i_f])]
            if len(sel) < 10:
                log.warning("body %s: too few %s foot vertices; using joint-based foot geometry", body.name, side)
                return cls.from_rest_joints(rest, source=body.name)
            sole = sel[:, 1].min()
            low = sel[sel[:, 1] < sole + 0.015]
            ankle, foot = rest[J[f"{side}_ankle"]], rest[J[f"{side}_foot"]]
            feet[side] = FootGeometry(
                heel=np.array([0.0, sole - ankle[1], low[:, 2].min() - ankle[2] + 0.01]),
                ball=np.array([foot[0] - ankle[0], sole - ankle[1], foot[2] - ankle[2]]),
                toe=np.array([0.0, sole - foot[1], max(low[:, 2].max() - foot[2] - 0.01, 0.01)]),
            )
        return cls(rest, np.array(SMPL_PARENTS), feet, back_scale=_leg_scale(rest), source=body.name or "body model")


def approximate_skeleton() -> Skeleton:
    """Skeleton of the approximate SMPL-neutral table (no body model needed)."""
    return Skeleton.from_rest_joints(APPROX_SMPL_NEUTRAL_JOINTS, source="approximate SMPL-neutral table")


def _leg_scale(rest: np.ndarray) -> float:
    """Leg length (hip->knee->ankle, mean of both sides) relative to the approximate SMPL-neutral table."""
    def leg(r: np.ndarray) -> float:
        out = 0.0
        for side in ("left", "right"):
            h, k, a = r[J[f"{side}_hip"]], r[J[f"{side}_knee"]], r[J[f"{side}_ankle"]]
            out += np.linalg.norm(k - h) + np.linalg.norm(a - k)
        return out / 2
    return float(leg(rest) / leg(APPROX_SMPL_NEUTRAL_JOINTS))


def foot_points(state: JointState, skel: Skeleton) -> np.ndarray:
    """World positions (T, 6, 3) of the foot contact points :data:`FOOT_POINTS`."""
    out = []
    for side in ("left", "right"):
        g = skel.feet[side]
        ia, i_f = J[f"{side}_ankle"], J[f"{side}_foot"]
        for joint, off in ((ia, g.heel), (ia, g.ball), (i_f, g.toe)):
            out.append(state.p[:, joint] + state.R[:, joint] @ off)
    return np.stack(out, axis=1)


def back_points(state: JointState, skel: Skeleton) -> np.ndarray:
    """World positions (T, P, 3) of the back-of-body points :data:`BACK_POINTS`."""
    _, idx, off = skel.back_points()
    return state.p[:, idx] + np.einsum("tpab,pb->tpa", state.R[:, idx], off)
