"""Walking up and down stairs: the gait generator on a flight of steps.

Step-over-step stair walking, one foot per tread, built by
:func:`virtimu.motion.gait.generate_gait` on a :class:`Stairs` terrain:

* the pelvis advances one tread depth (``run``) per step, locked to the gait phase, so the
  feet land on successive treads whatever the cadence fluctuations;
* each foot lands on its tread (ascending: toes ``toe_margin`` short of the next riser, the heel
  may overhang the nosing on short treads; descending: heel ``heel_margin`` in front of the
  riser behind it, the toes may overhang the nosing) at the tread's height, so the stance
  ankles -- and with them the pelvis height limits of the gait generator -- rise or fall by
  ``rise`` per step;
* the stance-knee profile sets the pelvis path: ascending, the leading knee lands flexed
  (~55 deg) and extends to lift the body; descending, the leading foot lands on its forefoot
  with a nearly straight knee, and the trailing knee flexes deeply (~80 deg) to lower the body
  (profiles after the sagittal-plane stair kinematics in the literature, e.g. McFadyen &
  Winter 1988, J Biomech 21:733, and Riener et al. 2002, Gait Posture 15:32 -- rounded);
* the swing foot is lifted until every foot point clears the steps (nosings included) by
  ``clearance``.

The flight is unbounded (no landings): the whole clip is on the stairs.  World frame: the
generator works facing +x with the pelvis starting above x = 0; the clip is then turned by
``heading`` and moved to ``start`` (:func:`stair_height` maps world points back).
Lengths in metres, times in seconds, angles in radians.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from virtimu.motion.anatomy import rot_z
from virtimu.motion.clip import Clip
from virtimu.motion.feet import RollingFoot
from virtimu.motion.gait import WalkParams, generate_gait
from virtimu.motion.skeleton import Skeleton

_UP_KNEE = ((0.0, 1.2), (0.12, 1.1), (0.30, 0.4), (0.42, 0.15), (0.50, 0.18), (0.62, 0.65))
_DOWN_KNEE = ((0.0, 0.12), (0.12, 0.40), (0.30, 0.50), (0.45, 0.75), (0.55, 1.15), (0.62, 1.40))
#: Swing via points (time fraction, forward fraction, height fraction from take-off to landing,
#: share of the swing lift): up -- raise the foot above the landing tread early, carry it
#: forward, set it down; down -- carry it over the nosing, then lower it.
_UP_VIAS = ((0.35, 0.15, 1.0, 1.0), (0.75, 0.9, 1.0, 0.7))
_DOWN_VIAS = ((0.25, 0.4, 0.05, 1.0), (0.65, 0.97, 0.55, 0.5))


@dataclass
class StairParams(WalkParams):
    """Stair walking: :class:`~virtimu.motion.gait.WalkParams` plus the stairs.

    direction: 'up' | 'down'.  rise / run: step height and tread depth (m); the forward speed is
    run x step_frequency (``speed`` is set from them).  toe_margin / heel_margin: the foot's
    place on its tread (see the module docstring).  Defaults: a stair-ascent gait; use
    :func:`stair_params` for direction-specific defaults.
    """

    direction: str = "up"
    rise: float = 0.17
    run: float = 0.28
    toe_margin: float = 0.06
    heel_margin: float = 0.03
    step_frequency: float = 1.55
    duty_factor: float = 0.62
    step_width: float = 0.14
    foot_angle: float = 0.10
    heel_strike_pitch: float = -0.06
    toe_off_pitch: float = -0.35
    foot_flat: float = 0.06
    heel_off: float = 0.45
    strike_ahead: float = 0.6
    stance_knee: tuple = _UP_KNEE
    swing_lift: float = 0.05
    swing_peak: float = 0.4
    swing_delay: float = 0.3
    swing_land: float = 0.03
    swing_knee: float = 1.65
    swing_knee_at: float = 0.4
    preswing: float = 0.5
    clearance: float = 0.02
    height_soft: float = 0.03
    lateral: float = 0.025
    pelvis_rotation: float = 0.05
    pelvis_obliquity: float = 0.05
    pelvis_tilt: float = 0.12
    trunk_lean: float = 0.15
    arm_swing: float = 0.15
    variability: float = 0.02
    name: str = "stairs_up"
    label: str = "stairs_up"

    def __post_init__(self) -> None:
        self.speed = self.run * self.step_frequency


def stair_params(direction: str, **changes) -> StairParams:
    """:class:`StairParams` with the defaults of ``direction`` ('up' or 'down') and ``changes``."""
    if direction == "up":
        base = dict(direction="up", name="stairs_up", label="stairs_up")
    elif direction == "down":
        base = dict(direction="down", step_frequency=1.65, heel_strike_pitch=-0.15, foot_flat=0.15, heel_off=0.50,
                    toe_off_pitch=-0.5, stance_knee=_DOWN_KNEE, strike_ahead=0.45, swing_knee=1.45, swing_knee_at=0.35,
                    swing_delay=0.0, swing_lift=0.03, swing_land=0.0, trunk_lean=0.04, pelvis_tilt=0.08,
                    preswing=0.52, name="stairs_down", label="stairs_down")
    else:
        raise ValueError(f"stairs direction must be 'up' or 'down', got {direction!r}")
    base.update(changes)
    return StairParams(**base)


@dataclass
class Stairs:
    """An unbounded straight flight along +x (generator frame).

    Tread n (any integer) spans x in [origin + n run, origin + (n + 1) run) at height
    sign x n x rise (sign +1 up, -1 down).  Implements the terrain interface of
    :func:`virtimu.motion.gait.generate_gait`.
    """

    rise: float
    run: float
    sign: float
    origin: float
    lead: float
    foot_length: float
    clearance_ramp: float = 0.3
    swing_on_path: bool = True
    swing_tau: float = 0.03
    vias: tuple = _UP_VIAS

    def height(self, x: np.ndarray) -> np.ndarray:
        """Ground height (...,) m under generator-frame x (...,)."""
        return self.sign * self.rise * self.tread(x)

    def tread(self, x: np.ndarray) -> np.ndarray:
        """Tread index (...,) under x (...,)."""
        return np.floor((np.asarray(x, dtype=np.float64) - self.origin) / self.run)

    def speed(self, p: WalkParams, f_step: np.ndarray) -> np.ndarray:
        """Forward speed (N,) m/s: one tread per step."""
        return self.run * np.asarray(f_step, dtype=np.float64)

    def place(self, heel: np.ndarray, foot: RollingFoot, lead: float) -> np.ndarray:
        """Heel-strike points (K, 3) on the tread under the middle of each foot."""
        if abs(lead - self.lead) > 0.01:  # left and right feet differ by a fraction of a millimetre
            raise ValueError(f"stairs: the gait's heel lead ({lead:.4f} m) differs from the one the flight was "
                             f"laid out for ({self.lead:.4f} m)")
        out = np.array(heel, dtype=np.float64)
        out[:, 2] = self.height(out[:, 0] + 0.5 * self.foot_length)
        return out


    def fill_swing(self, ankle: np.ndarray, known: np.ndarray, fps: float, lift: float) -> np.ndarray:
        """Swing ankle paths (N, 3) between the stance phases (``known``) of ``ankle`` (N, 3).

        Each swing from take-off point A to strike point B passes through the via points
        ``vias``: (fraction of the swing time, fraction of the forward travel, height as a
        fraction of the way from A's to B's height, share of ``lift`` added).  Ascending, the foot
        is first raised above the landing tread, then carried forward and lowered onto it;
        descending, it is carried over the nosing at about take-off height, then lowered.  Each
        coordinate is a chain of quintics matching position, velocity (Catmull-Rom at the via
        points, the stance velocities at the ends) and zero acceleration at every knot (C2 within
        the swing, C1 at toe off and strike).  The lateral coordinate is one quintic.  Gaps at
        the ends hold the nearest value.
        """
        from virtimu.motion.curves import quintic

        out = np.array(ankle, dtype=np.float64)
        idx = np.flatnonzero(known)
        out[: idx[0]] = ankle[idx[0]]
        out[idx[-1] + 1:] = ankle[idx[-1]]
        for g in np.flatnonzero(np.diff(idx) > 1):
            a, b = idx[g], idx[g + 1]
            va = (ankle[a] - ankle[a - 1]) * fps if a > 0 and known[a - 1] else np.zeros(3)
            vb = (ankle[b + 1] - ankle[b]) * fps if b + 1 < len(ankle) and known[b + 1] else np.zeros(3)
            ta, tb = a / fps, b / fps
            A, B = ankle[a], ankle[b]
            t = np.arange(a + 1, b) / fps
            out[a + 1: b, 1] = quintic(t, ta, tb, (A[1], va[1], 0.0), (B[1], vb[1], 0.0))
            knots_t = [ta] + [ta + f * (tb - ta) for f, _, _, _ in self.vias] + [tb]
            for c in (0, 2):
                vals = [A[c]]
                for _, fx, fz, lw in self.vias:
                    vals.append(A[0] + fx * (B[0] - A[0]) if c == 0 else A[2] + fz * (B[2] - A[2]) + lw * lift)
                vals.append(B[c])
                vel = [va[c]] + [(vals[i + 1] - vals[i - 1]) / (knots_t[i + 1] - knots_t[i - 1])
                                 for i in range(1, len(vals) - 1)] + [vb[c]]
                seg = np.searchsorted(knots_t, t, side="right") - 1
                res = np.empty(len(t))
                for i in range(len(knots_t) - 1):
                    m = seg == i
                    if m.any():
                        res[m] = quintic(t[m], knots_t[i], knots_t[i + 1], (vals[i], vel[i], 0.0),
                                         (vals[i + 1], vel[i + 1], 0.0))
                out[a + 1: b, c] = res
        return out


def layout(p: StairParams, skel: Skeleton) -> Stairs:
    """The flight for ``p`` on ``skel``: treads placed so that the feet land where ``p`` says."""
    foot = RollingFoot(skel, "left", p.foot_angle, p.toe_pitch)
    length = float(foot.tip_rel[0])  # heel -> toe tip along the walking direction
    t_stance = p.duty_factor * 2.0 / p.step_frequency
    lead = p.strike_ahead * (p.speed * t_stance - foot.roll)  # as generate_gait computes it
    heel_in = p.run - p.toe_margin - length if p.direction == "up" else p.heel_margin
    sign = 1.0 if p.direction == "up" else -1.0
    return Stairs(rise=p.rise, run=p.run, sign=sign, origin=lead - heel_in, lead=lead, foot_length=length,
                  vias=_UP_VIAS if p.direction == "up" else _DOWN_VIAS, swing_on_path=p.direction == "up")


def _check(p: StairParams) -> None:
    if p.direction not in ("up", "down"):
        raise ValueError(f"{p.name}: direction must be 'up' or 'down', got {p.direction!r}")
    if not (0.05 <= p.rise <= 0.25 and 0.18 <= p.run <= 0.45):
        raise ValueError(f"{p.name}: need rise in [0.05, 0.25] m and run in [0.18, 0.45] m, got {p.rise}, {p.run}")


def generate_stairs(p: StairParams, skel: Skeleton) -> Clip:
    """Stair walking clip for ``p`` on ``skel`` (label ``p.label``); ``info['stairs']`` holds the
    flight (generator frame) and ``info['heading']`` / ``info['start']`` the placement."""
    _check(p)
    p = dataclasses.replace(p)  # re-runs __post_init__: speed = run x step_frequency
    stairs = layout(p, skel)
    local = generate_gait(dataclasses.replace(p, heading=0.0, start=(0.0, 0.0)), skel, terrain=stairs)
    clip = _place(local, p.heading, p.start)
    clip.params = p
    clip.info.update({"stairs": stairs, "heading": float(p.heading), "start": tuple(map(float, p.start))})
    return clip


def _place(clip: Clip, heading: float, start: tuple[float, float]) -> Clip:
    """Turn a clip generated with heading 0 from the origin by ``heading`` about the world z axis
    through its first pelvis position and move that position to ``start``."""
    Rh = rot_z(heading)
    pel = clip.trans + clip.skeleton.rest_joints[0]
    p0 = pel[0].copy()
    pel = (pel - [p0[0], p0[1], 0.0]) @ Rh.T + [start[0], start[1], 0.0]
    R = clip.R_local.copy()
    R[:, 0] = Rh @ R[:, 0]
    clip.R_local, clip.trans = R, pel - clip.skeleton.rest_joints[0]
    clip.info["local_origin"] = (float(p0[0]), float(p0[1]))
    return clip


def stair_height(clip: Clip, xy: np.ndarray) -> np.ndarray:
    """Height (...,) of the stairs of a :func:`generate_stairs` clip under world points xy (..., 2)."""
    st: Stairs = clip.info["stairs"]
    Rh = rot_z(clip.info["heading"])[:2, :2]
    x0 = clip.info["local_origin"][0]
    local = (np.asarray(xy, dtype=np.float64) - np.asarray(clip.info["start"])) @ Rh  # Rh^T applied to rows
    return st.height(local[..., 0] + x0)
