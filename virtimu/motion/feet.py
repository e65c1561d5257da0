"""A foot that rolls over the floor: heel, ball and toe-tip rockers.

Used by every generator that keeps a foot on the floor (stance in gait,
standing, sitting, jumping).  Positions in metres (world, z up), angles in
radians; the foot's pitch is positive toes-up.
"""
from __future__ import annotations

import numpy as np

from virtimu.motion import anatomy as an
from virtimu.motion.skeleton import Skeleton


class RollingFoot:
    """One foot on the floor, vectorised over frames.

    The foot rolls over three pivots as its pitch goes from positive to
    negative: the heel (pitch > 0), the toe joint (the ball of the foot, toes
    kept flat on the floor; toe_pitch < pitch <= 0), then the toe tip with the
    toe extension frozen (pitch <= toe_pitch).  The pose is a continuous function of the
    pitch alone; the heel point of the flat foot is the reference position.

    skel, side: the skeleton and 'left' | 'right'.
    yaw: heading of the foot's heel->ball line, counter-clockwise from world +x (rad).
    toe_pitch: foot pitch (< 0) at which the ball rocker hands over to the toe tip.
    """

    def __init__(self, skel: Skeleton, side: str, yaw: float = 0.0, toe_pitch: float = -0.6):
        g = skel.feet[side]
        self.side = side
        self.heel, self.ball, self.toe = g.heel, g.ball, g.toe
        self.foot = skel.offset(f"{side}_foot", f"{side}_ankle")  # ankle -> toe joint (rest)
        # Ankle-frame yaw that turns the heel->ball line to ``yaw``.
        self.R_flat = an.rot_z(yaw - g.axis_yaw) @ an.base_root_rotation()  # world ankle frame, flat foot
        self.toe_pitch = float(toe_pitch)
        flat = self.R_flat
        #: Toe (metatarsophalangeal) joint relative to the heel point of the flat foot, (3,).
        self.mtp_rel = flat @ (self.foot - self.heel)
        #: Toe-tip pivot relative to the heel point, (3,).
        self.tip_rel = self.mtp_rel + flat @ self.toe
        #: Horizontal heel -> toe-tip pivot travel (m).
        self.roll = float(np.linalg.norm(self.tip_rel[:2]))

    def ankle_flat(self, heel_pos: np.ndarray) -> np.ndarray:
        """Ankle joint position (..., 3) of the flat foot whose heel point is ``heel_pos`` (..., 3)."""
        return heel_pos - self.R_flat @ self.heel

    def heel_for_ankle(self, ankle_pos: np.ndarray) -> np.ndarray:
        """Heel point (..., 3) of the flat foot whose ankle joint is at ``ankle_pos`` (..., 3)."""
        return ankle_pos + self.R_flat @ self.heel

    def pose(self, heel_pos: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ankle position (n, 3), ankle world rotation (n, 3, 3) and toe extension (n,) of the
        foot whose flat-foot heel point is ``heel_pos`` (n, 3), at ``pitch`` (n,)."""
        pitch = np.asarray(pitch, dtype=np.float64)
        heel_pos = np.broadcast_to(heel_pos, pitch.shape + (3,))
        R = self.R_flat @ an.rot_x(-pitch)
        on_heel = (pitch > 0)[:, None]
        pivot = np.where(on_heel, heel_pos, heel_pos + self.mtp_rel)
        off = np.where(on_heel, self.heel, self.foot)
        ankle = pivot - np.einsum("nab,nb->na", R, off)
        toe_ext = np.clip(-pitch, 0.0, -self.toe_pitch)
        tip = pitch < self.toe_pitch
        if tip.any():
            R_toe = self.R_flat @ an.rot_x(-(pitch[tip] - self.toe_pitch))
            toe_joint = heel_pos[tip] + self.tip_rel - R_toe @ self.toe
            ankle[tip] = toe_joint - R[tip] @ self.foot
        return ankle, R, toe_ext


def raise_heel(foot: RollingFoot, heel: np.ndarray, pitch: np.ndarray, hip: np.ndarray,
               reach: np.ndarray | float, limit: float) -> np.ndarray:
    """Foot pitch (n,) no higher than ``pitch`` (n,) and as close to it as possible with the ankle
    within ``reach`` (n,) of the hip (n, 3): the heel rises where the leg would otherwise be too
    long, the foot pitching down by at most ``limit`` rad.  heel: (n, 3) flat-foot heel points."""
    pitch = np.asarray(pitch, dtype=np.float64)
    reach = np.broadcast_to(np.asarray(reach, dtype=np.float64), pitch.shape)
    heel = np.broadcast_to(heel, pitch.shape + (3,))

    def too_far(sel: np.ndarray, pt: np.ndarray) -> np.ndarray:
        return np.linalg.norm(foot.pose(heel[sel], pt)[0] - hip[sel], axis=1) > reach[sel]

    need = too_far(np.ones(pitch.shape, bool), pitch)
    if not need.any():
        return pitch
    lo = np.zeros(need.sum())  # extra plantar flexion known to be too small
    hi = np.maximum(pitch[need] + limit, 0.0)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        bad = too_far(need, pitch[need] - mid)
        lo = np.where(bad, mid, lo)
        hi = np.where(bad, hi, mid)
    out = pitch.copy()
    out[need] = pitch[need] - hi
    return out
