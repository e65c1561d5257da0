"""Parametric walking and running.

How a gait is built (world frame, facing +x; turned to the requested heading
at the end):

1. Gait phase: a cycle phase Phi(t) (right heel strike at integers, left at
   half-integers) from the step frequency, slowly modulated by seeded noise.
2. Feet: each stance foot is pinned to the floor and rolls heel -> ball ->
   toe tip (heel strike, foot flat, heel off, toe off; :mod:`virtimu.motion.feet`).
   Foot placements follow from the pelvis position at heel strike, so stride
   length = speed x cycle time and nothing slides.
3. Pelvis: forward position from the (modulated) speed; lateral sway towards
   the stance foot; rotation, obliquity and tilt oscillating with the gait.
   Height: walking -- a smooth lower envelope (soft minimum) of the heights at
   which the stance legs follow a typical knee-flexion profile
   (``stance_knee``), so the vertical excursion emerges from the leg geometry;
   each leg's limit is continued as a parabola into the swing before heel
   strike, so the pelvis comes down to the heel-strike height in time instead
   of dropping onto it, and departs upwards after the other heel strike (the
   trailing leg then rises on its toes); running -- a spring-mass profile,
   ballistic (z'' = -g) in flight and a half-sine ground force in stance,
   offset so that the stance knees flex at least as ``stance_knee`` says until
   heel off.
4. Legs from analytic IK (:mod:`virtimu.motion.ik`).  Late in stance the heel
   rises smoothly where the knee would straighten, and in pre-swing so that
   the knee follows ``stance_knee`` to toe off.  In the swing the knee flexion
   is prescribed (:mod:`virtimu.motion.swing`): from its toe-off angle and
   rate to ``swing_knee`` and back, turning from extension to flexion
   ``swing_reversal`` s before heel strike so it arrives at the stance rate;
   the ankle lies on the ray from the hip towards a quintic path point (the
   path matches position and velocity at toe off and heel strike and is lifted
   until the foot clears the floor), at the distance that knee gives.  The
   ankle angle eases from its toe-off value through a dorsiflexed mid-swing
   value to its heel-strike value.  Nothing switches abruptly: every joint path
   keeps a continuous velocity (no kinks, so no acceleration spikes in virtual
   IMU signals).
5. Trunk counter-rotation, head stabilisation and arm swing (opposite to the
   legs) complete the pose.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from virtimu.kinematics import forward_kinematics
from virtimu.motion import anatomy as an
from virtimu.motion.clip import Clip, assemble, make_clip
from virtimu.motion.curves import hermite, keyframes, quintic, smooth_max, smooth_min, smoothstep, soft_min, sway
from virtimu.motion.feet import RollingFoot, pitch_for_knee
from virtimu.motion.ik import FootTrack, knee_flexion_for_distance, leg_reach, solve_legs
from virtimu.motion.skeleton import Skeleton, foot_points
from virtimu.motion.swing import fill_knee, place_ankles

log = logging.getLogger(__name__)

G = 9.81  # m/s^2
_SIDES = {"right": 0.0, "left": 0.5}  # cycle-phase offset of each foot's heel strike
_SIGN = {"left": 1.0, "right": -1.0}  # lateral side (world +y is the body's left when facing +x)
_LAND_NORM = 0.6 ** 3 * 0.4 ** 2  # peak of s^3 (1 - s)^2 (at s = 0.6)
_RELAX_ACC = 10.0  # m/s^2: how fast the trailing leg's height limit departs after the other heel strike
_GUARD_KNEE = 0.15  # rad: late in stance the heel rises before the knee straightens beyond about this ...
_GUARD_SOFT = 0.005  # m: ... with a smooth limit of this width on the hip-ankle distance
_PRESWING_SOFT = 0.2  # rad: width of the smooth lower limit of the pre-swing knee
_KNEE_TOL = 0.005  # rad: largest knee shortfall tolerated where the heel rise cannot keep a leg in reach
_MAX_LIFT = 0.25  # m: largest swing lift tried to clear the floor


@dataclass
class WalkParams:
    """Walking.  Lengths in m, times in s, angles in rad, frequencies in Hz.

    speed, step_frequency: mean speed and steps per second (cadence / 60);
        stride length = 2 * speed / step_frequency.
    duty_factor: stance fraction of a gait cycle (> 0.5: double support; < 0.5: flight phase).
    step_width: lateral distance between the left and right heel lines.
    foot_angle: toe-out of each foot's heel->ball line from the walking direction.
    heel_strike_pitch / toe_off_pitch: foot pitch (toes up +) at heel strike / toe off
        (toe off: the least plantar flexion; the heel rises further where the leg needs it).
    toe_pitch: foot pitch at which the foot stops rolling over the ball (toes flat) and
        rolls over the toe tip.
    foot_flat / heel_off: cycle phase (0 = heel strike) of foot flat and heel off.
    strike_ahead: where the heel lands, as the fraction of the stance-phase travel (speed x stance
        time - heel-to-ball roll) ahead of the pelvis.
    stance_knee: (cycle phase, knee flexion) key points over the stance phase (monotone cubic
        between them); they set the pelvis height (walking: at every frame; running: the offset
        of the spring-mass profile) and, from ``preswing`` to toe off, the heel rise.
    height_soft: width (m) of the soft minimum of the walking pelvis-height limits;
        preland_acc: curvature (m/s^2) with which those limits continue before heel strike.
    preswing: cycle phase from which the heel rise brings the knee onto ``stance_knee``.
    swing_lift: extra lift of the swing ankle; raised automatically until the foot clears the
        floor by ``clearance`` in mid-swing; swing_peak: where in the swing it peaks (0..1);
        swing_delay: (0..0.5) how much the foot's forward travel is held back early in the swing;
        swing_land: extra height late in the swing (peaking at 60 %) so the heel comes down onto the
        floor rather than gliding in;
        swing_ankle_reach / swing_dorsiflexion: the ankle turns from its toe-off angle to this
        dorsiflexion (rad) by this fraction of the swing, then to its heel-strike angle.
    swing_knee / swing_knee_at: peak knee flexion in the swing (rad) and where it peaks (0..1);
        swing_reversal: how long (s) before heel strike the knee turns from extension to flexion.
    max_heel_rise: largest toes-down foot pitch (rad) when the heel rises to keep a leg in reach.
    knee_min: least knee flexion anywhere.
    lateral: pelvis sway amplitude towards the stance foot.
    pelvis_rotation / pelvis_obliquity: amplitudes of pelvic yaw and roll; pelvis_tilt: mean
        anterior tilt.
    trunk_lean: forward lean of the thorax; thorax_rotation: thorax yaw, as a fraction of the
        pelvic yaw, in the opposite direction.
    arm_swing: shoulder flexion amplitude; arm_abduction: arms away from the body;
        elbow_flex / elbow_swing: mean elbow flexion and its swing.
    variability: relative size of slow speed / cadence fluctuations and foot-placement jitter.
    duration, fps, seed (all randomness), heading (rad, 0 = world +x, counter-clockwise),
    start: (x, y) of the pelvis at the first frame.
    """

    duration: float = 8.0
    fps: float = 120.0
    seed: int = 0
    heading: float = 0.0
    start: tuple[float, float] = (0.0, 0.0)
    speed: float = 1.35
    step_frequency: float = 1.8
    duty_factor: float = 0.61
    step_width: float = 0.12
    foot_angle: float = 0.12
    heel_strike_pitch: float = 0.45
    toe_off_pitch: float = -0.95
    toe_pitch: float = -0.6
    foot_flat: float = 0.08
    heel_off: float = 0.36
    strike_ahead: float = 0.46
    stance_knee: tuple = ((0.0, 0.10), (0.14, 0.32), (0.30, 0.22), (0.45, 0.10), (0.50, 0.12), (0.61, 0.45))
    swing_lift: float = 0.03
    swing_peak: float = 0.35
    swing_delay: float = 0.0
    swing_ankle_reach: float = 0.3
    swing_dorsiflexion: float = 0.1
    swing_land: float = 0.02
    swing_knee: float = 1.1
    swing_knee_at: float = 0.33
    swing_reversal: float = 0.06
    max_heel_rise: float = 1.15
    height_soft: float = 0.01
    preland_acc: float = 4.0
    preswing: float = 0.48
    clearance: float = 0.015
    knee_min: float = 0.0
    lateral: float = 0.02
    pelvis_rotation: float = 0.07
    pelvis_obliquity: float = 0.06
    pelvis_tilt: float = 0.08
    trunk_lean: float = 0.05
    thorax_rotation: float = 0.4
    arm_swing: float = 0.30
    arm_abduction: float = 0.14
    elbow_flex: float = 0.35
    elbow_swing: float = 0.15
    variability: float = 0.02
    name: str = "walking"
    label: str = "walking"

    @property
    def stride_length(self) -> float:
        """Distance (m) between successive heel strikes of the same foot."""
        return 2.0 * self.speed / self.step_frequency

    @property
    def cadence(self) -> float:
        """Steps per minute."""
        return 60.0 * self.step_frequency


@dataclass
class RunParams(WalkParams):
    """Running: :class:`WalkParams` with running defaults (duty factor < 0.5 gives a flight phase)."""

    duration: float = 8.0
    speed: float = 3.0
    step_frequency: float = 2.8
    duty_factor: float = 0.34
    step_width: float = 0.08
    foot_angle: float = 0.10
    heel_strike_pitch: float = 0.15
    toe_off_pitch: float = -1.0
    toe_pitch: float = -0.6
    foot_flat: float = 0.05
    heel_off: float = 0.16
    strike_ahead: float = 0.30
    stance_knee: tuple = ((0.0, 0.35), (0.17, 0.70), (0.34, 0.30))
    swing_lift: float = 0.05
    swing_delay: float = 0.0
    swing_peak: float = 0.35
    swing_land: float = 0.0
    swing_knee: float = 1.75
    swing_knee_at: float = 0.45
    preswing: float = 0.16
    clearance: float = 0.03
    knee_min: float = 0.05
    lateral: float = 0.015
    pelvis_rotation: float = 0.10
    pelvis_obliquity: float = 0.07
    pelvis_tilt: float = 0.14
    trunk_lean: float = 0.14
    thorax_rotation: float = 0.6
    arm_swing: float = 0.50
    arm_abduction: float = 0.20
    elbow_flex: float = 1.45
    elbow_swing: float = 0.20
    name: str = "running"
    label: str = "running"


def generate_gait(p: WalkParams, skel: Skeleton, terrain=None) -> Clip:
    """Walking or running clip for ``p`` (a :class:`WalkParams` or :class:`RunParams`) on ``skel``.

    terrain: None (level floor at z = 0), or an object describing uneven ground with the methods
    ``speed(p, f_step) -> (N,)`` (forward speed, m/s, for the step frequency (N,) Hz),
    ``place(heel (K, 3), foot: RollingFoot, lead: float) -> (K, 3)`` (the heel-strike points of
    one foot moved onto the ground), ``height(x (...,)) -> (...,)`` (ground height under world
    x) and ``fill_swing(ankle (N, 3), known (N,), fps, lift) -> (N, 3)`` (swing ankle paths
    between the stance phases, replacing the level-ground ones; ``lift`` is raised until the
    foot clears the ground), and the attributes ``clearance_ramp`` (the swing foot must clear
    the ground by ``p.clearance``, less within this fraction of the swing from toe off or heel
    strike), ``swing_on_path`` (True: the swing ankle follows its path and the knee the
    hip-ankle distance, for legs that stay well bent, instead of the prescribed swing-knee
    curve) and, optionally, ``swing_tau`` (s, how long the foot's angular velocity at toe off
    carries on into the swing; default 0.03).  Forefoot strikes get their toe extension eased
    in before landing.  See :mod:`virtimu.motion.stairs`.
    """
    _check(p)
    rng = np.random.default_rng(p.seed)
    fps = float(p.fps)
    n0 = int(round(3.0 / p.step_frequency * fps))  # padding: 1.5 cycles before and after
    T = int(round(p.duration * fps)) + 1
    t = (np.arange(T + 2 * n0) - n0) / fps
    Phi, v, f_step = _phase(t, p, rng)
    if terrain is not None:
        v = terrain.speed(p, f_step)

    # ------------------------------------------------------------ pelvis path in the ground plane
    x = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) / fps)])
    x -= np.interp(0.0, t, x)
    y = -p.lateral * np.sin(2 * np.pi * (Phi - 0.05))
    yaw = p.pelvis_rotation * np.cos(2 * np.pi * (Phi - 0.02))
    obliquity = -p.pelvis_obliquity * np.sin(2 * np.pi * (Phi + 0.05))  # left hip up +
    tilt = p.pelvis_tilt + 0.25 * p.pelvis_rotation * np.cos(4 * np.pi * Phi)
    R_root = an.base_root_rotation() @ an.trunk(flex=tilt, bend=-obliquity, turn=yaw)
    hip_off = {s: R_root @ skel.offset(f"{s}_hip", "pelvis") for s in _SIDES}

    # ------------------------------------------------------------ stance feet
    feet = {s: RollingFoot(skel, s, _SIGN[s] * p.foot_angle, p.toe_pitch) for s in _SIDES}
    st = {s: _stance(feet[s], p, Phi, t, x, rng, terrain) for s in _SIDES}
    for s in _SIDES:
        st[s]["pitch"] = _pitch_profile(st[s]["phi"], p)

    # ------------------------------------------------------------ pelvis height
    knee_nom = _nominal_knee(p)
    H = {}
    for s in _SIDES:
        fixed, phi = st[s]["fixed"], st[s]["phi"][st[s]["fixed"]]
        ankle, _, _ = feet[s].pose(st[s]["heel"][fixed], st[s]["pitch"][fixed])
        d = leg_reach(skel, s, knee_nom(phi))
        r2 = np.sum((ankle[:, :2] - (np.stack([x, y], 1)[fixed] + hip_off[s][fixed, :2])) ** 2, axis=1)
        if np.any(r2[phi < 0.5] >= d[phi < 0.5] ** 2):
            raise ValueError(f"{p.name}: the {s} foot cannot reach its placements on this body "
                             f"(speed {p.speed} m/s at {p.step_frequency} steps/s is too long a stride)")
        H[s] = np.full(len(t), np.inf)
        # The trailing leg (after the other foot's strike) rises on its toes instead of lowering the
        # pelvis: its limit departs upwards (smoothly, as a parabola in time) from then on.
        late = np.maximum(phi - 0.5, 0.0) * 2.0 / f_step[fixed]
        H[s][fixed] = (ankle[:, 2] + np.sqrt(np.maximum(d ** 2 - r2, 0.0)) - hip_off[s][fixed, 2]
                       + 0.5 * _RELAX_ACC * late ** 2)
        _extend_limits(H[s], fixed, fps, p.preland_acc)
    if p.duty_factor >= 0.5:
        # A smooth lower envelope: never above a leg's height, so no stance knee is straighter than
        # its nominal flexion before the heel may rise.
        z = soft_min(np.stack([H["left"], H["right"]], 1), p.height_soft)
    else:
        z_rel = _ballistic(Phi, p, f_step)
        # The legs bind until heel off; later in stance the heel rises instead.
        bind = {s: st[s]["fixed"] & (st[s]["phi"] <= p.heel_off) for s in _SIDES}
        z = z_rel + min(float(np.min(H[s][bind[s]] - z_rel[bind[s]])) for s in _SIDES)
    p_pelvis = np.stack([x, y, z], axis=1)

    # ------------------------------------------------------------ stance ankles (heel rises where needed)
    tracks: dict[str, FootTrack] = {}
    stance_knee: dict[str, np.ndarray] = {}
    for s in _SIDES:
        fixed = st[s]["fixed"]
        hip = p_pelvis + hip_off[s]
        pitch = st[s]["pitch"].copy()
        late = fixed & (st[s]["phi"] > p.foot_flat)
        pitch[late] = _late_stance_pitch(feet[s], st[s]["heel"][late], pitch[late], hip[late], skel,
                                         st[s]["phi"][late], p, knee_nom, check=(t[late] >= 0) & (t[late] <= p.duration))
        ankle = np.full((len(t), 3), np.nan)
        R = np.broadcast_to(feet[s].R_flat, (len(t), 3, 3)).copy()
        toe = np.zeros(len(t))
        ankle[fixed], R[fixed], toe[fixed] = feet[s].pose(st[s]["heel"][fixed], pitch[fixed])
        toe = _relax_toes(toe, fixed, st[s]["swing_s"], fps, 0.6 * (1.0 - p.duty_factor) * 2.0 / p.step_frequency)
        if terrain is not None:  # forefoot strikes land with the toes extended
            toe = _extend_toes_for_landing(toe, fixed, fps, 0.3 * (1.0 - p.duty_factor) * 2.0 / p.step_frequency)
        tracks[s] = FootTrack(ankle=ankle, R=R, fixed=fixed, toe_ext=toe, fill_reach=p.swing_ankle_reach,
                              fill_via=an.ankle(s, dorsi=p.swing_dorsiflexion))
        if terrain is not None:
            tracks[s].fill_tau = float(getattr(terrain, "swing_tau", tracks[s].fill_tau))
        u, w = skel.offset(f"{s}_knee", f"{s}_hip"), skel.offset(f"{s}_ankle", f"{s}_knee")
        k = np.full(len(t), np.nan)
        k[fixed] = knee_flexion_for_distance(u, w, np.linalg.norm(ankle[fixed] - hip[fixed], axis=1))
        stance_knee[s] = k
    stance_ankle = {s: tracks[s].ankle.copy() for s in _SIDES}

    # ------------------------------------------------------------ swing: prescribed knee, IK, clearance
    knee_axes = {s: np.einsum("tab,b->ta", an.rot_z(yaw), [0.0, 1.0, 0.0]) for s in _SIDES}
    upper = _upper_body(p, Phi, yaw, obliquity, tilt)
    swing_knee = {s: fill_knee(stance_knee[s], tracks[s].fixed, fps, p.swing_knee, p.swing_knee_at,
                               reversal=p.swing_reversal) for s in _SIDES}
    lift = p.swing_lift
    for _ in range(8):
        for s in _SIDES:
            fixed = tracks[s].fixed
            if terrain is not None and hasattr(terrain, "fill_swing"):
                path = terrain.fill_swing(stance_ankle[s], fixed, fps, lift)
            else:
                path = _fill_swing(stance_ankle[s], fixed, fps, lift, p.swing_peak, p.swing_delay, p.swing_land)
            hip = p_pelvis + hip_off[s]
            ankle = stance_ankle[s].copy()
            if terrain is not None and getattr(terrain, "swing_on_path", False):
                ankle[~fixed] = path[~fixed]  # the knee follows from the distance (a leg kept well bent)
                tracks[s].knee = None
            else:
                ankle[~fixed] = place_ankles(path[~fixed], hip[~fixed], swing_knee[s][~fixed], skel, s)
                tracks[s].knee = np.where(fixed, np.nan, swing_knee[s])
            tracks[s].ankle = ankle
        legs, miss = solve_legs(skel, R_root, p_pelvis, tracks, knee_axes, fps, knee_min=p.knee_min, tol=np.inf)
        R_local = assemble(len(t), {"pelvis": R_root, **legs, **upper})
        state = forward_kinematics(R_local, skel.rest_joints, skel.parents, p_pelvis - skel.rest_joints[0])
        pts = foot_points(state, skel)
        if terrain is None:
            low = min(pts[(st[s]["swing_s"] > 0.2) & (st[s]["swing_s"] < 0.8)][:, 3 * i: 3 * i + 3, 2].min()
                      for i, s in enumerate(("left", "right")))
        else:  # the clearance asked for grows from 0 at toe off / heel strike to p.clearance
            low = p.clearance + min(
                _clear_margin(pts[_inner_swing(st[s]["fixed"])][:, 3 * i: 3 * i + 3],
                              st[s]["swing_s"][_inner_swing(st[s]["fixed"])], terrain, p.clearance,
                              terrain.clearance_ramp)
                for i, s in enumerate(("left", "right")))
        deficit = p.clearance - low
        if deficit <= 1e-3:
            break
        lift += 1.3 * deficit
        if lift > _MAX_LIFT:
            raise ValueError(f"{p.name}: the swing foot does not clear the floor by {p.clearance} m even when "
                             f"lifted by {_MAX_LIFT} m: the stride ({p.stride_length:.2f} m) is too long or the "
                             f"swing knee flexion ({p.swing_knee} rad) too small for this body")
    log.debug("%s: swing lift %.3f m, largest IK miss %.1f mm", p.name, lift,
              1000 * max(m.max() for m in miss.values()))
    crop = slice(n0, n0 + T)
    info = {"swing_lift": float(lift),
            "stance_left": st["left"]["fixed"][crop], "stance_right": st["right"]["fixed"][crop]}
    return make_clip(p.name, p.label, p, skel, fps, R_local[crop], p_pelvis[crop], [p.label] * T,
                     heading=p.heading, start=p.start, info=info)


def _check(p: WalkParams) -> None:
    if not 0.2 < p.duty_factor < 0.8:
        raise ValueError(f"{p.name}: duty_factor must be in (0.2, 0.8), got {p.duty_factor}")
    if not 0 < p.foot_flat < p.heel_off < p.duty_factor:
        raise ValueError(f"{p.name}: need 0 < foot_flat < heel_off < duty_factor, got "
                         f"{p.foot_flat}, {p.heel_off}, {p.duty_factor}")
    if p.speed <= 0 or p.step_frequency <= 0 or p.duration <= 0 or p.fps <= 0:
        raise ValueError(f"{p.name}: speed, step_frequency, duration and fps must be positive")


def _phase(t: np.ndarray, p: WalkParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycle phase Phi (N,) (0 at t = 0), speed (N,) m/s and step frequency (N,) Hz on the grid t (N,)."""
    dt = t[1] - t[0]
    f = 0.5 * p.step_frequency * (1.0 + sway(t, rng, p.variability, 0.03, 0.15, 3))
    v = p.speed * (1.0 + sway(t, rng, p.variability, 0.03, 0.15, 3))
    Phi = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * dt)])
    Phi -= np.interp(0.0, t, Phi)
    return Phi, v, 2.0 * f


def _ballistic(Phi: np.ndarray, p: WalkParams, f_step: np.ndarray) -> np.ndarray:
    """Running pelvis height (N,) m relative to touchdown: spring-mass with a half-sine ground force.

    Flight: z'' = -g (exactly for a constant step frequency f_step (N,) Hz; slow cadence
    fluctuations change it by their relative rate of change).  Stance (contact time tc):
    z'' = -g + F sin(pi tau / tc), F chosen so that the take-off speed equals the landing speed;
    z, z' and z'' are continuous.
    """
    ps = np.mod(2.0 * Phi, 1.0)  # step phase, 0 = a touchdown
    Ts = 1.0 / f_step  # local step period (s)
    tc = p.duty_factor * 2.0 * Ts
    tf = Ts - tc
    v0 = 0.5 * G * tf  # vertical take-off speed
    fpk = G * np.pi * Ts / (2.0 * tc)  # peak ground force per unit mass
    tau = ps * Ts
    stance = tau < tc
    ts = np.where(stance, tau, 0.0)
    z_st = -v0 * ts - 0.5 * G * ts ** 2 + fpk * (tc / np.pi) * (ts - (tc / np.pi) * np.sin(np.pi * ts / tc))
    tfl = np.where(stance, 0.0, tau - tc)
    z_fl = v0 * tfl - 0.5 * G * tfl ** 2
    return np.where(stance, z_st, z_fl)


def _extend_limits(H: np.ndarray, fixed: np.ndarray, fps: float, acc: float, cap: float = 0.3) -> None:
    """Continue each stance run's height limit H (T,) (inf in swing) into the swing on both sides,
    as parabolas of curvature ``acc`` (m/s^2) matching the value and rate at heel strike / toe off,
    up to ``cap`` metres above them -- so the pelvis starts down towards the heel-strike height in
    time instead of dropping onto it, and is released smoothly at toe off (in place)."""
    T = len(H)
    idx = np.flatnonzero(fixed)
    if len(idx) == 0:
        return
    cut = np.flatnonzero(np.diff(idx) > 1)
    starts = idx[np.concatenate([[0], cut + 1])]
    ends = idx[np.concatenate([cut, [len(idx) - 1]])]
    free = ~np.asarray(fixed, dtype=bool)
    for a, step in [(a, -1) for a in starts] + [(b, +1) for b in ends]:
        n = a - step
        if not (0 <= a + step < T and 0 <= n < T) or free[n]:
            continue  # need two stance frames for the rate
        slope = (H[a] - H[n]) * fps * step  # dH/dt at this end of the run
        j = np.arange(a + step, -1 if step < 0 else T, step)
        j = j[np.cumsum(~free[j]) == 0]  # the swing frames next to this end of the run
        tau = (j - a) / fps
        ext = H[a] + slope * tau + 0.5 * acc * tau ** 2
        ok = ext < H[a] + cap
        H[j[ok]] = np.minimum(H[j[ok]], ext[ok])


def _late_stance_pitch(foot: RollingFoot, heel: np.ndarray, pitch: np.ndarray, hip: np.ndarray, skel: Skeleton,
                       phi: np.ndarray, p: WalkParams, knee_nom, check: np.ndarray | None = None) -> np.ndarray:
    """Foot pitch (n,) after foot flat: the prescribed pitch (n,), with the heel raised further where needed.

    heel, hip: (n, 3); phi: (n,) stance phase.  Until the other foot strikes, the pelvis height keeps
    the knee at or above nominal.  Then the pelvis no longer waits for this leg, so (1) a guard
    keeps its hip-ankle distance smoothly below the reach of a knee flexed by ``_GUARD_KNEE`` --
    in distance space, where it is smooth even for a leg that would be out of reach -- and (2) in
    pre-swing the knee is brought up to a smooth maximum of that and the nominal flexion.  The
    heel rises (the foot pitches toes-down) as much as that knee needs.  All steps are smooth in
    time, so the knee and the foot keep continuous rates.  Raises ValueError where, among the
    frames ``check`` (n,) bool (default all), the heel cannot rise far enough (the stride is too
    long for the body).
    """
    side = foot.side
    u = skel.offset(f"{side}_knee", f"{side}_hip")
    v = skel.offset(f"{side}_ankle", f"{side}_knee")
    d0 = foot.ankle_distance(heel, pitch, hip)
    d_guard = smooth_min(d0, leg_reach(skel, side, max(_GUARD_KNEE, p.knee_min)), _GUARD_SOFT)
    # The pelvis height stops waiting for this leg at the other heel strike (walking) or at heel
    # off (running, see generate_gait); the guard fades in just before.
    free_from = 0.5 if p.duty_factor >= 0.5 else p.heel_off
    d_g = d0 + smoothstep((phi - free_from + 0.05) / 0.05) * (d_guard - d0)
    k0 = knee_flexion_for_distance(u, v, d_g)
    w = smoothstep((phi - p.preswing) / (p.duty_factor - p.preswing))
    target = k0 + w * (smooth_max(k0, knee_nom(phi), _PRESWING_SOFT) - k0)
    need = target - knee_flexion_for_distance(u, v, d0) > 1e-6
    out = pitch.copy()
    if need.any():
        out[need] = pitch_for_knee(foot, heel[need], hip[need], skel, target[need], pitch[need], p.max_heel_rise)
        got = knee_flexion_for_distance(u, v, foot.ankle_distance(heel[need], out[need], hip[need]))
        ok = np.ones(len(phi), bool) if check is None else np.asarray(check, bool)
        short = float(np.max(target[need] - got, where=ok[need], initial=0.0))
        if short > _KNEE_TOL:
            raise ValueError(f"{p.name}: the {side} leg cannot stay in reach late in stance even with the heel "
                             f"raised by {p.max_heel_rise} rad (knee {short:.2f} rad short): the stride "
                             f"({p.stride_length:.2f} m) is too long for this body; lower the speed or raise "
                             f"the step frequency")
    return out


def _nominal_knee(p: WalkParams):
    """Nominal stance knee flexion (rad) as a C1 function of the stance phase (cycle fraction since
    heel strike), through the key points ``p.stance_knee`` (monotone cubic, held outside)."""
    key = np.array(p.stance_knee, dtype=np.float64)
    return lambda phi: keyframes(key[:, 0], key[:, 1], np.asarray(phi, dtype=np.float64))


def _pitch_profile(phi: np.ndarray, p: WalkParams) -> np.ndarray:
    """Prescribed foot pitch (toes up +, rad) at stance phase phi (cycle fraction since heel strike)."""
    a = p.heel_strike_pitch * (1.0 - np.clip(phi / p.foot_flat, 0.0, 1.0)) ** 2
    s = np.clip((phi - p.heel_off) / (p.duty_factor - p.heel_off), 0.0, 1.0)
    return a + p.toe_off_pitch * s ** 2


def _inner_swing(fixed: np.ndarray) -> np.ndarray:
    """(N,) bool: swing frames with stance frames both before and after them (complete swings)."""
    fixed = np.asarray(fixed, dtype=bool)
    return ~fixed & (np.cumsum(fixed) > 0) & (np.cumsum(fixed[::-1])[::-1] > 0)


def _clear_margin(pts: np.ndarray, s: np.ndarray, terrain, clearance: float, ramp: float) -> float:
    """Least margin (m) by which the swing-foot points (n, P, 3) at normalised swing times s (n,)
    clear the terrain under them by more than ``clearance`` x min(1, ((distance of s from 0 or 1)
    - 0.05) / ``ramp``)^2 (nothing asked for in the first and last 5 %: lift-off and touch-down)."""
    if not pts.size:
        return np.inf
    need = clearance * np.clip((np.minimum(s, 1.0 - s) - 0.05) / ramp, 0.0, 1.0) ** 2
    return float(np.min(pts[..., 2] - terrain.height(pts[..., 0]) - need[:, None]))


def _stance(feet: RollingFoot, p: WalkParams, Phi: np.ndarray, t: np.ndarray, x: np.ndarray,
            rng: np.random.Generator, terrain=None) -> dict[str, np.ndarray]:
    """Stance bookkeeping of one foot on the grid: fixed (N,) bool (stance), phi (N,) cycle phase
    since its last heel strike, heel (N, 3) heel-strike point of the current cycle,
    swing_s (N,) normalised swing time (NaN in stance).  ``terrain`` (see :func:`generate_gait`)
    moves the heel-strike points onto uneven ground."""
    Ps = Phi - _SIDES[feet.side]
    k = np.floor(Ps).astype(int)
    phi = Ps - k
    ks = np.arange(k.min() - 1, k.max() + 2)
    t_k = _strike_times(ks, Ps, t)
    t_stance = p.duty_factor * 2.0 / p.step_frequency
    lead = p.strike_ahead * (p.speed * t_stance - feet.roll)
    jitter = 0.25 * p.variability * rng.normal(size=(len(ks), 2))  # ~5 mm for variability 0.02
    lat = _SIGN[feet.side] * 0.5 * p.step_width
    heel_k = np.stack([np.interp(t_k, t, x) + lead + jitter[:, 0], lat + jitter[:, 1], np.zeros(len(ks))], axis=1)
    if terrain is not None:
        heel_k = terrain.place(heel_k, feet, lead)
    fixed = phi < p.duty_factor
    return {"fixed": fixed, "phi": phi, "heel": heel_k[k - ks[0]],
            "swing_s": np.where(fixed, np.nan, (phi - p.duty_factor) / (1.0 - p.duty_factor))}


def _strike_times(ks: np.ndarray, Ps: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Times (K,) at which the foot phase Ps (N,) (increasing, on times t) reaches the integers ks,
    extrapolated linearly beyond the grid."""
    rate = (t[-1] - t[0]) / (Ps[-1] - Ps[0])
    out = np.interp(ks, Ps, t)
    out = np.where(ks < Ps[0], t[0] + (ks - Ps[0]) * rate, out)
    return np.where(ks > Ps[-1], t[-1] + (ks - Ps[-1]) * rate, out)


def _relax_toes(toe: np.ndarray, fixed: np.ndarray, swing_s: np.ndarray, fps: float, relax_time: float) -> np.ndarray:
    """Toe extension (N,): stance values kept; in each swing a C1 Hermite back to 0 over ``relax_time`` s."""
    out = toe.copy()
    idx = np.flatnonzero(fixed)
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        rate = (toe[a] - toe[a - 1]) * fps if a > 0 and fixed[a - 1] else 0.0
        n_rel = max(int(round(relax_time * fps)), 1)
        s = np.clip(np.arange(1, b - a) / n_rel, 0.0, 1.0)
        out[a + 1: b] = hermite(np.array([toe[a]]), np.array([rate]), np.zeros(1), np.zeros(1), s,
                                n_rel / fps)[:, 0]
    out[: idx[0]] = 0.0
    out[idx[-1] + 1:] = 0.0
    return out


def _extend_toes_for_landing(toe: np.ndarray, fixed: np.ndarray, fps: float, lead_time: float) -> np.ndarray:
    """Toe extension (N,) with each swing's last ``lead_time`` s replaced by a cubic Hermite from
    the relaxed value (and rate) there to the strike's extension and rate, so a foot that lands on
    its forefoot (toes extended at the strike) keeps a continuous toe angle and rate."""
    out = toe.copy()
    idx = np.flatnonzero(fixed)
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        if abs(toe[b]) < 1e-9:
            continue
        n = min(max(int(round(lead_time * fps)), 2), b - a - 1)
        c = b - n
        rate_b = (toe[b + 1] - toe[b]) * fps if b + 1 < len(toe) and fixed[b + 1] else 0.0
        rate_c = (toe[c] - toe[c - 1]) * fps
        s = np.arange(1, n) / n
        out[c + 1: b] = hermite(np.array([toe[c]]), np.array([rate_c]), np.array([toe[b]]), np.array([rate_b]), s,
                                n / fps)[:, 0]
    return out


def _fill_swing(ankle: np.ndarray, known: np.ndarray, fps: float, lift: float, peak: float,
                delay: float = 0.0, land: float = 0.0) -> np.ndarray:
    """Swing-phase ankle positions (T, 3) in the world between the stance phases.

    ankle: (T, 3), valid where ``known`` (stance).  In each gap every
    coordinate follows a quintic matching position and velocity (and zero
    acceleration) at toe off and heel strike -- the foot speeds up to about
    twice the walking speed in mid-swing like a minimum-jerk reach -- and the
    height gets an extra smooth bump of ``lift`` metres peaking at the
    fraction ``peak`` of the swing.  ``delay`` (0..0.5) holds the horizontal progress back
    early in the swing and speeds it up late.  Gaps at the ends hold the nearest value.
    """
    out = ankle.copy()
    idx = np.flatnonzero(known)
    out[: idx[0]] = ankle[idx[0]]
    out[idx[-1] + 1:] = ankle[idx[-1]]
    a_, b_ = 2.0, 2.0 * (1.0 - peak) / peak
    norm = (a_ / (a_ + b_)) ** a_ * (b_ / (a_ + b_)) ** b_
    for g in np.flatnonzero(np.diff(idx) > 1):
        a, b = idx[g], idx[g + 1]
        n = b - a
        va = (ankle[a] - ankle[a - 1]) * fps if a > 0 and known[a - 1] else np.zeros(3)
        vb = (ankle[b + 1] - ankle[b]) * fps if b + 1 < len(ankle) and known[b + 1] else np.zeros(3)
        s = np.arange(1, n) / n
        dur = n / fps
        # Horizontal: quintic in the warped time u = s - delay s (1 - s), which keeps the foot
        # behind the hip longer (the shank swings forward late); end rates divided by du/ds.
        u = s - delay * s * (1.0 - s)
        for c in range(2):
            out[a + 1: b, c] = quintic(u, 0.0, 1.0, (ankle[a, c], va[c] * dur / (1.0 - delay), 0.0),
                                       (ankle[b, c], vb[c] * dur / (1.0 + delay), 0.0))
        out[a + 1: b, 2] = quintic(s, 0.0, 1.0, (ankle[a, 2], va[2] * dur, 0.0), (ankle[b, 2], vb[2] * dur, 0.0))
        out[a + 1: b, 2] += lift * s ** a_ * (1 - s) ** b_ / norm
        # A late, steeper descent: the heel comes down onto the floor rather than gliding in.
        out[a + 1: b, 2] += land * (s ** 3 * (1 - s) ** 2) / _LAND_NORM
    return out


def _upper_body(p: WalkParams, Phi: np.ndarray, yaw: np.ndarray, obliquity: np.ndarray,
                tilt: np.ndarray) -> dict[str, np.ndarray]:
    """Trunk, head and arm rotations (each (N, 3, 3)) for the gait phase Phi (N,)."""
    lean = p.trunk_lean - tilt  # spine flexion so that the thorax leans trunk_lean forward
    twist = -(1.0 + p.thorax_rotation) * yaw
    out = {}
    for name, w in (("spine1", 0.3), ("spine2", 0.3), ("spine3", 0.4)):
        out[name] = an.trunk(flex=w * lean, bend=w * obliquity, turn=w * twist)
    head_turn = -0.5 * (yaw + twist)
    out["neck"] = an.trunk(flex=-0.5 * p.trunk_lean, turn=head_turn)
    out["head"] = an.trunk(flex=-0.4 * p.trunk_lean + 0.01 * np.cos(4 * np.pi * Phi), turn=head_turn)
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        c = sgn * np.cos(2 * np.pi * (Phi - 0.04))  # +1: this arm forward (the other leg forward)
        out[f"{side}_collar"] = an.collar(side, pro=0.05 * c)
        out[f"{side}_shoulder"] = an.shoulder(side, flex=p.arm_swing * c - 0.05, abd=p.arm_abduction)
        out[f"{side}_elbow"] = an.elbow(side, flex=p.elbow_flex + p.elbow_swing * c)
        out[f"{side}_wrist"] = an.wrist(side, flex=0.1)
    return out
