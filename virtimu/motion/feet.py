"""A foot that rolls over the floor: heel, ball and toe-tip rockers.

Used by every generator that keeps a foot on the floor (stance in gait,
standing, sitting, jumping).  Positions in metres (world, z up), angles in
radians; the foot's pitch is positive toes-up.
"""
from __future__ import annotations

import numpy as np

from virtimu.motion import anatomy as an
from virtimu.motion.curves import smooth_max, smooth_min
from virtimu.motion.ik import knee_flexion_for_distance, leg_reach
from virtimu.motion.skeleton import Skeleton


class RollingFoot:
    """One foot on the floor, vectorised over frames.

    The foot rolls over its heel while its pitch is positive and over the ball of
    the foot (the toe joint, toes flat on the floor) when it pitches toes-down.
    The toe extension follows the foot pitch and saturates smoothly at
    ``-toe_pitch``: from there on the toes pitch down with the foot and the toe
    segment rolls over its tip.  The pose is a smooth function of the pitch on
    either side of 0 (heel / forefoot), so a pitch track that is C1 -- and passes
    0 with zero rate -- gives C1 joint paths.  The heel point of the flat foot is
    the reference position.

    skel, side: the skeleton and 'left' | 'right'.
    yaw: heading of the foot's heel->ball line, counter-clockwise from world +x (rad).
    toe_pitch: foot pitch (< 0) around which the toe extension saturates (the toes leave
        the floor and the foot rolls on the toe tip).
    toe_soft: width (rad) of that smooth saturation.
    """

    def __init__(self, skel: Skeleton, side: str, yaw: float = 0.0, toe_pitch: float = -0.6,
                 toe_soft: float = 0.15):
        g = skel.feet[side]
        self.side = side
        self.heel, self.ball, self.toe = g.heel, g.ball, g.toe
        self.foot = skel.offset(f"{side}_foot", f"{side}_ankle")  # ankle -> toe joint (rest)
        # Ankle-frame yaw that turns the heel->ball line to ``yaw``.
        self.R_flat = an.rot_z(yaw - g.axis_yaw) @ an.base_root_rotation()  # world ankle frame, flat foot
        self.toe_pitch = float(toe_pitch)
        self.toe_soft = float(toe_soft)
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

    def toe_extension(self, pitch: np.ndarray) -> np.ndarray:
        """Toe extension (n,) rad at foot pitch (n,): 0 on the heel, -pitch on the ball, saturating
        smoothly at -toe_pitch (C-infinity for pitch <= 0, exactly 0 at pitch 0)."""
        x = np.maximum(-np.asarray(pitch, dtype=np.float64), 0.0)
        top = -self.toe_pitch
        return smooth_min(x, top, self.toe_soft) - smooth_min(0.0, top, self.toe_soft)

    def pose(self, heel_pos: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ankle position (n, 3), ankle world rotation (n, 3, 3) and toe extension (n,) of the
        foot whose flat-foot heel point is ``heel_pos`` (n, 3), at ``pitch`` (n,)."""
        pitch = np.asarray(pitch, dtype=np.float64)
        heel_pos = np.broadcast_to(heel_pos, pitch.shape + (3,))
        R = self.R_flat @ an.rot_x(-pitch)
        toe_ext = self.toe_extension(pitch)
        # Forefoot: the toe segment (pitch + extension <= 0) rolls on its tip, the foot turns about the toe joint.
        R_toe = self.R_flat @ an.rot_x(-(pitch + toe_ext))
        toe_joint = heel_pos + self.tip_rel - R_toe @ self.toe
        ankle = toe_joint - np.einsum("nab,b->na", R, self.foot)
        on_heel = pitch > 0
        if on_heel.any():
            ankle[on_heel] = heel_pos[on_heel] - R[on_heel] @ self.heel
        return ankle, R, toe_ext

    def ankle_distance(self, heel_pos: np.ndarray, pitch: np.ndarray, point: np.ndarray) -> np.ndarray:
        """Distance (n,) from ``point`` (n, 3) to the ankle of the foot at (heel_pos (n, 3), pitch (n,))."""
        return np.linalg.norm(self.pose(heel_pos, pitch)[0] - point, axis=1)


def _closest_pitch(foot: RollingFoot, heel: np.ndarray, hip: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pitch (n,) in [a, b] (n,) at which the ankle comes closest to the hip: a coarse grid, then
    golden-section refinement around the best grid point (the distance is unimodal there)."""
    n = len(a)
    grid = a[None, :] + (b - a)[None, :] * np.linspace(0.0, 1.0, 25)[:, None]
    d_grid = np.stack([foot.ankle_distance(heel, g, hip) for g in grid])
    i = np.argmin(d_grid, axis=0)
    cols = np.arange(n)
    lo = grid[np.maximum(i - 1, 0), cols]
    hi = grid[np.minimum(i + 1, 24), cols]
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(30):
        m1 = hi - ratio * (hi - lo)
        m2 = lo + ratio * (hi - lo)
        left = foot.ankle_distance(heel, m1, hip) < foot.ankle_distance(heel, m2, hip)
        hi = np.where(left, m2, hi)
        lo = np.where(left, lo, m1)
    return 0.5 * (lo + hi)


def pitch_for_knee(foot: RollingFoot, heel: np.ndarray, hip: np.ndarray, skel: Skeleton, knee: np.ndarray,
                   top: np.ndarray | float, limit: float) -> np.ndarray:
    """Foot pitch (n,) at most ``top`` (n,) at which the leg from ``hip`` (n, 3) to this foot
    (flat-foot heel points ``heel`` (n, 3)) has the knee flexion ``knee`` (n,) rad.

    Searched between ``top`` and ``top - limit``, but not beyond the pitch at which the ankle
    comes closest to the hip (further on the foot would turn over and the ankle move away
    again): over that range the hip-ankle distance falls monotonically as the pitch falls.
    Where even ``top`` leaves the knee more flexed, ``top`` is returned; where the knee cannot
    be flexed that much, the closest pitch.  Smooth knee and hip tracks give a smooth pitch.
    """
    knee = np.asarray(knee, dtype=np.float64)
    n = knee.shape[0]
    hi = np.broadcast_to(np.asarray(top, dtype=np.float64), (n,)).astype(np.float64)
    heel = np.broadcast_to(heel, (n, 3))
    hip = np.broadcast_to(hip, (n, 3))
    d_goal = leg_reach(skel, foot.side, knee)
    lo = _closest_pitch(foot, heel, hip, hi - limit, hi)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        bad = foot.ankle_distance(heel, mid, hip) > d_goal  # still too far from the hip
        hi = np.where(bad, mid, hi)
        lo = np.where(bad, lo, mid)
    return 0.5 * (lo + hi)


def raise_heel(foot: RollingFoot, heel: np.ndarray, pitch: np.ndarray, hip: np.ndarray, skel: Skeleton,
               knee_floor: np.ndarray | float, limit: float, soft: float = 0.01) -> np.ndarray:
    """Foot pitch (n,) at or below ``pitch`` (n,) at which the knee of the leg from ``hip`` (n, 3) to
    this foot stays flexed by at least about ``knee_floor`` (n,) rad: the heel rises (the foot
    pitches further toes-down, by at most ``limit`` rad) where the leg would otherwise be
    straighter.  heel: (n, 3) flat-foot heel points; pitch <= 0 (forefoot) wherever a rise may be
    needed.

    The knee this gives is a smooth maximum (width ``soft`` rad) of the knee at ``pitch`` and the
    floor, so smooth inputs give a smooth pitch -- no corner where the heel starts to rise; well
    above the floor (by ~10 ``soft``) the pitch is unchanged.  Meant as a guard against straight
    legs: the knee at ``pitch`` is clipped at full extension, so a leg that is out of reach there
    gets the floor, with a corner at the moment it goes out of reach.
    """
    pitch = np.asarray(pitch, dtype=np.float64)
    heel = np.broadcast_to(heel, pitch.shape + (3,))
    hip = np.broadcast_to(hip, pitch.shape + (3,))
    floor = np.broadcast_to(np.asarray(knee_floor, dtype=np.float64), pitch.shape)
    side = foot.side
    u = skel.offset(f"{side}_knee", f"{side}_hip")
    v = skel.offset(f"{side}_ankle", f"{side}_knee")
    knee = knee_flexion_for_distance(u, v, foot.ankle_distance(heel, pitch, hip))
    target = smooth_max(knee, floor, soft)
    need = target - knee > 1e-6  # elsewhere the change is far below anything visible
    out = pitch.copy()
    if need.any():
        out[need] = pitch_for_knee(foot, heel[need], hip[need], skel, target[need], pitch[need], limit)
    return out
