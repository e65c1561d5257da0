"""The virtimu default body: an open, self-made, SMPL-compatible body model.

The SMPL model files cannot be redistributed, so virtimu ships its own body,
generated here from published anthropometric proportions and written in the
SMPL pickle layout as ``virtimu/assets/body/SMPL_NEUTRAL.pkl``: ``smplx``
(``smplx.create(path_to_pkl)``, ``smplx.SMPL(folder, gender='neutral')``, or
``smplx.create(DIR, model_type='smpl', gender='neutral')`` with the file at
``DIR/smpl/SMPL_NEUTRAL.pkl``) and ``virtimu.body.files`` load it like SMPL's
own file.

What it is
----------
* The 24 SMPL joints (names, order and kinematic tree of SMPL).
* SMPL's model space: y up, the body faces +z, the body's left is +x, T-pose
  at rest (arms straight out along +-x, palms down, legs straight, feet
  pointing +z), and SMPL's origin convention (rest pelvis joint near
  (0, -0.22, 0.03)), so that AMASS root translations put the feet on the floor.
* A closed, smooth, single, genus-0 triangle surface of exactly 6890 vertices
  and 13776 faces (SMPL's counts, so SMPL vertex ids used as extra joints by
  ``smplx`` stay valid; the 21 vertex ids ``smplx`` reads as nose, eyes, ears,
  finger tips, toes and heels are placed at those places on this body).  The
  vertices are *not* in correspondence with SMPL's otherwise.
* Smooth, surface-diffused linear-blend-skinning weights (<= 4 joints per
  vertex), a joint regressor that averages a neighbourhood of surface vertices
  around each joint (so joints follow shape changes), 16 hand-designed shape
  blend shapes (one standard deviation per unit beta) and zero pose blend
  shapes.

How it is made (see :func:`build_default_body`)
----------------------------------------------
1. Rest joints (:func:`rest_joints`) from segment-length proportions of
   stature H = 1.70 m, after Drillis & Contini (1966) as reproduced in
   D. A. Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed.,
   Wiley 2009, Fig. 4.1 (heights above the floor as fractions of H: shoulder
   0.818, hip 0.530, knee 0.285, ankle 0.039, chin 0.870, eye 0.936; lengths:
   upper arm 0.186, forearm 0.146, hand 0.108, foot 0.152; widths: shoulder
   0.259, chest 0.174, hip 0.191, foot 0.055).  Where the figure gives no
   value (spine levels, joint centres inside the trunk) or where its values
   do not fit a T-pose skeleton, documented estimates are used (see
   ``PROPORTIONS``).  The whole skeleton is then placed in SMPL's origin
   convention.
2. A signed-distance-like field: smooth union of tapered capsules,
   ellipsoids, rounded boxes and a lofted elliptic trunk, sized with rounded
   girths of an average adult (see ``GIRTHS``).
3. ``skimage.measure.marching_cubes`` on a fixed grid, then edge-collapse
   simplification to 6890 vertices (finer on hands, head and feet),
   valence-improving edge flips, tangential relaxation and projection back
   onto the implicit surface.
4. Skinning weights, joint regressor and shape blend shapes as above.

Everything is deterministic (fixed grid, no random numbers).
"""
from __future__ import annotations

import copyreg
import heapq
import io
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from virtimu.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS

#: Version of the generated body; bump when the generator's output changes.
BODY_VERSION = "1.0.0"

JOINT_NAMES = list(SMPL_JOINT_NAMES)
PARENTS = list(SMPL_PARENTS)
N_JOINTS = 24
N_VERTICES = 6890          # as SMPL; 2 * 6890 - 4 = 13776 faces for a genus-0 surface
N_BETAS = 16               # AMASS stores 16 betas
N_POSE_FEATURES = 9 * (N_JOINTS - 1)  # 207

#: Stature of the default body in metres.
STATURE = 1.70

#: Rest pelvis joint in SMPL's model space (approximate SMPL-neutral value).
PELVIS_POSITION = (0.0, -0.22, 0.03)

#: Segment proportions used, as fractions of stature H.
#: Source "W" = Drillis & Contini (1966), reproduced in Winter (2009), Fig. 4.1.
#: Source "E" = estimate made for this body (documented in the comment).
PROPORTIONS = {
    # heights above the floor
    "shoulder_height": (0.818, "W"),
    "hip_height": (0.530, "W"),         # taken as hip-joint-centre height
    "knee_height": (0.285, "W"),
    "ankle_height": (0.039, "W"),
    "chin_height": (0.870, "W"),
    "eye_height": (0.936, "W"),
    "chest_height": (0.720, "W"),       # nipple level
    "crotch_height": (0.470, "E"),      # typical crotch height of adults
    "pelvis_above_hip": (0.026, "E"),   # SMPL-style root joint, above the hip centres
    "spine1_height": (0.620, "E"),      # navel / L3 level
    "spine2_height": (0.700, "E"),      # lower ribs / T12
    "spine3_height": (0.735, "E"),      # mid chest
    "neck_height": (0.852, "E"),        # C7 (cervicale), about 0.85 H in adult surveys
    "head_height": (0.897, "E"),        # atlanto-occipital level, between chin and eye
    "collar_height": (0.800, "E"),
    # lengths / widths
    "shoulder_width": (0.259, "W"),     # informs the shoulder breadth of the trunk
    "shoulder_joint_half_width": (0.1025, "E"),  # gleno-humeral centres ~0.205 H apart
    "chest_width": (0.174, "W"),
    "hip_width": (0.191, "W"),
    "hip_joint_half_width": (0.050, "E"),  # hip-joint centres ~0.17 m apart
    "collar_half_width": (0.045, "E"),
    "upper_arm": (0.186, "W"),
    "forearm": (0.146, "W"),
    "hand": (0.108, "W"),
    "foot_length": (0.152, "W"),
    "foot_width": (0.055, "W"),
    "arm_span": (1.000, "E"),           # finger-tip to finger-tip span ~ stature
}

#: Rounded circumferences (m) of an average adult, used for the radii of the
#: limb and trunk primitives (approximate sex-averaged values of the order of
#: the 2012 US Army anthropometric survey, ANSUR II, Gordon et al. 2014; they
#: are estimates, rounded, not exact survey statistics).
GIRTHS = {
    "chest": 0.92, "waist": 0.80, "hip": 0.96, "neck": 0.36, "head": 0.56,
    "upper_arm": 0.30, "elbow": 0.25, "forearm": 0.26, "wrist": 0.165,
    "thigh": 0.54, "knee": 0.35, "calf": 0.36, "ankle": 0.22,
}


# --------------------------------------------------------------------------
# Skeleton
# --------------------------------------------------------------------------

def _p(name: str) -> float:
    return PROPORTIONS[name][0]


def floor_height() -> float:
    """y of the soles in model space (follows from the pelvis convention)."""
    return PELVIS_POSITION[1] - (_p("hip_height") + _p("pelvis_above_hip")) * STATURE


def _arm_lengths() -> tuple[float, float, float, float]:
    """(shoulder x, upper arm, forearm, hand) in metres.

    Winter's arm segments (0.186 + 0.146 + 0.108 = 0.440 H from shoulder to
    finger tip) are measured standing and overlap at the shoulder; summed with
    a gleno-humeral breadth they overshoot the arm span (~1.0 H).  They are
    therefore scaled by a common factor so that the T-pose finger-tip span is
    ``arm_span`` * H, keeping their ratios.
    """
    H = STATURE
    x_sh = _p("shoulder_joint_half_width") * H
    reach = 0.5 * _p("arm_span") * H - x_sh
    total = (_p("upper_arm") + _p("forearm") + _p("hand")) * H
    s = reach / total
    return x_sh, s * _p("upper_arm") * H, s * _p("forearm") * H, s * _p("hand") * H


def rest_joints() -> np.ndarray:
    """The intended rest joints (24, 3) of the default body in SMPL model space."""
    H = STATURE
    yf = floor_height()

    def y(frac: float) -> float:
        return yf + frac * H

    J = np.zeros((N_JOINTS, 3))
    x_sh, l_ua, l_fa, l_hand = _arm_lengths()
    x_hip = _p("hip_joint_half_width") * H
    y_sh = y(_p("shoulder_height"))
    for side, s in (("left", 1.0), ("right", -1.0)):
        def put(name: str, pos: tuple[float, float, float]) -> None:
            J[JOINT_NAMES.index(f"{side}_{name}")] = pos
        put("hip", (s * x_hip, y(_p("hip_height")), 0.025))
        put("knee", (s * (x_hip + 0.008), y(_p("knee_height")), 0.015))
        put("ankle", (s * (x_hip + 0.005), y(_p("ankle_height")), -0.02))
        heel_z = -0.02 - 0.25 * _p("foot_length") * H
        # foot joint at the ball of the foot (~73 % of foot length from the heel)
        put("foot", (s * (x_hip + 0.008), yf + 0.023, heel_z + 0.73 * _p("foot_length") * H))
        put("collar", (s * _p("collar_half_width") * H, y(_p("collar_height")), -0.005))
        put("shoulder", (s * x_sh, y_sh, -0.01))
        put("elbow", (s * (x_sh + l_ua), y_sh, -0.01))
        put("wrist", (s * (x_sh + l_ua + l_fa), y_sh, -0.01))
        # SMPL's "hand" joint sits about half-way along the hand (knuckles)
        put("hand", (s * (x_sh + l_ua + l_fa + 0.5 * l_hand), y_sh, -0.01))
    J[0] = PELVIS_POSITION
    J[3] = (0.0, y(_p("spine1_height")), -0.005)
    J[6] = (0.0, y(_p("spine2_height")), -0.005)
    J[9] = (0.0, y(_p("spine3_height")), 0.0)
    J[12] = (0.0, y(_p("neck_height")), -0.02)
    J[15] = (0.0, y(_p("head_height")), 0.01)
    return J


# --------------------------------------------------------------------------
# Implicit surface
# --------------------------------------------------------------------------

def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (blend radius k)."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(k - np.abs(a - b), 0.0, None) / k
    return np.minimum(a, b) - 0.25 * k * h * h


def _smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    return -_smin(-a, -b, k)


@dataclass
class _Prim:
    """A leaf primitive: ``kind`` with parameters, blend radius ``k`` (to what
    came before it in its group) and a body-part rule for skinning."""

    kind: str
    params: dict
    k: float
    part: int | str
    name: str = ""

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        if self.kind == "cone":
            a, b = np.asarray(p["a"]), np.asarray(p["b"])
            lo = np.minimum(a - p["ra"], b - p["rb"])
            hi = np.maximum(a + p["ra"], b + p["rb"])
        elif self.kind in ("ellipsoid", "box"):
            ext = np.asarray(p["r"]) + (p.get("round", 0.0) if self.kind == "box" else 0.0)
            lo, hi = np.asarray(p["c"]) - ext, np.asarray(p["c"]) + ext
        elif self.kind == "loft":
            ys, a, b, zc = (np.asarray(p[key]) for key in ("ys", "a", "b", "zc"))
            lo = np.array([-a.max(), ys[0], (zc - b).min()])
            hi = np.array([a.max(), ys[-1], (zc + b).max()])
        else:  # pragma: no cover
            raise ValueError(self.kind)
        return lo, hi

    def sdf(self, P: np.ndarray) -> np.ndarray:
        return _PRIM_FUNCS[self.kind](P, **self.params)


def _sd_cone(P, a, b, ra, rb):
    """Distance to the convex hull of two spheres (a, ra) and (b, rb)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    axis = b - a
    L = float(np.linalg.norm(axis))
    u = axis / L
    d = P - a
    t = d @ u
    q = np.sqrt(np.maximum(np.einsum("ij,ij->i", d, d) - t * t, 0.0))
    sin_t = (ra - rb) / L
    cos_t = math.sqrt(max(1.0 - sin_t * sin_t, 0.0))
    s = t * cos_t - q * sin_t          # position of P's foot along the tangent line
    side = t * sin_t + q * cos_t - ra
    da = np.sqrt(t * t + q * q) - ra
    db = np.sqrt((t - L) ** 2 + q * q) - rb
    return np.where(s < 0.0, da, np.where(s > L * cos_t, db, side))


def _sd_ellipsoid(P, c, r):
    """First-order distance to an axis-aligned ellipsoid: f / |grad f|."""
    q = (P - np.asarray(c)) / np.asarray(r)
    k0 = np.linalg.norm(q, axis=1)
    k1 = np.linalg.norm(q / np.asarray(r), axis=1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _sd_box(P, c, r, round):
    """Distance to an axis-aligned box of half extents r, inflated by `round`."""
    q = np.abs(P - np.asarray(c)) - np.asarray(r)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    return outside + inside - round


def _loft_profile(ys, a, b, zc):
    from scipy.interpolate import PchipInterpolator

    return (PchipInterpolator(ys, a), PchipInterpolator(ys, b), PchipInterpolator(ys, zc))


def _sd_loft(P, ys, a, b, zc, round_lo, round_hi):
    """Elliptic cylinder along y whose half width a(y), half depth b(y) and depth
    centre zc(y) are monotone-cubic interpolated; rounded ends."""
    fa, fb, fz = _loft_profile(ys, a, b, zc)
    yc = np.clip(P[:, 1], ys[0], ys[-1])
    A, B, Z = fa(yc), fb(yc), fz(yc)
    qx, qz = P[:, 0] / A, (P[:, 2] - Z) / B
    k0 = np.sqrt(qx * qx + qz * qz)
    k1 = np.sqrt((qx / A) ** 2 + (qz / B) ** 2)
    d2 = k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
    lo_y, hi_y = ys[0], ys[-1]
    mid = 0.5 * (lo_y + hi_y)
    rc = np.where(P[:, 1] < mid, round_lo, round_hi)
    dy = np.maximum(lo_y - P[:, 1], P[:, 1] - hi_y)
    wx, wy = d2 + rc, dy + rc
    return np.hypot(np.maximum(wx, 0.0), np.maximum(wy, 0.0)) + np.minimum(np.maximum(wx, wy), 0.0) - rc


_PRIM_FUNCS = {"cone": _sd_cone, "ellipsoid": _sd_ellipsoid, "box": _sd_box, "loft": _sd_loft}


@dataclass
class _Group:
    """Smooth union of primitives (each blended with radius prim.k), optionally
    cut by the half-space y >= floor (flat soles), blended into the body with k."""

    prims: list
    k: float
    floor: float | None = None
    floor_k: float = 0.0
    name: str = ""

    def bbox(self):
        los, his = zip(*(p.bbox() for p in self.prims))
        return np.min(los, axis=0), np.max(his, axis=0)

    def sdf(self, P):
        f = None
        for prim in self.prims:
            g = prim.sdf(P)
            f = g if f is None else _smin(f, g, prim.k)
        if self.floor is not None:
            f = _smax(f, self.floor - P[:, 1], self.floor_k)
        return f


@dataclass
class BodyShape:
    """The implicit body: components blended in order, plus per-leaf part rules."""

    components: list
    joints: np.ndarray
    rules: dict = field(default_factory=dict)

    def leaves(self) -> list[_Prim]:
        out = []
        for c in self.components:
            out.extend(c.prims if isinstance(c, _Group) else [c])
        return out

    def sdf(self, P: np.ndarray, margin: float = 0.05) -> np.ndarray:
        """Field value at points P (N, 3): negative inside; values farther than
        ``margin`` from every primitive are clipped to ``margin``."""
        P = np.asarray(P, dtype=np.float64)
        f = np.full(len(P), margin)
        for comp in self.components:
            lo, hi = comp.bbox()
            m = np.all((P >= lo - margin) & (P <= hi + margin), axis=1)
            if not m.any():
                continue
            idx = np.nonzero(m)[0]
            f[idx] = _smin(f[idx], comp.sdf(P[idx]), comp.k)
        return np.minimum(f, margin)

    def gradient(self, P: np.ndarray, eps: float = 1e-4) -> np.ndarray:
        G = np.zeros_like(P)
        for i in range(3):
            d = np.zeros(3)
            d[i] = eps
            G[:, i] = (self.sdf(P + d) - self.sdf(P - d)) / (2 * eps)
        return G

    def project(self, P: np.ndarray, iters: int = 6) -> np.ndarray:
        """Newton-project points onto the zero level set."""
        P = P.copy()
        for _ in range(iters):
            f = self.sdf(P)
            g = self.gradient(P)
            gg = np.maximum(np.einsum("ij,ij->i", g, g), 1e-8)
            step = (f / gg)[:, None] * g
            # limit steps (far points / flat gradients)
            n = np.linalg.norm(step, axis=1, keepdims=True)
            step *= np.minimum(1.0, 0.01 / np.maximum(n, 1e-12))
            P -= step
        return P

    def labels(self, P: np.ndarray) -> np.ndarray:
        """Joint index (0..23) of the body part owning each surface point:
        the part rule of the closest leaf primitive."""
        leaves = self.leaves()
        vals = np.stack([leaf.sdf(P) for leaf in leaves], axis=1)
        owner = np.argmin(vals, axis=1)
        lab = np.zeros(len(P), dtype=np.int64)
        for i, leaf in enumerate(leaves):
            m = owner == i
            if not m.any():
                continue
            if isinstance(leaf.part, int):
                lab[m] = leaf.part
            else:
                lab[m] = self.rules[leaf.part](P[m])
        # the skin of the crotch (between the thigh tops, up to 2 cm below the
        # trunk's lower end) belongs to the pelvis, so that left and right leg
        # never share skin directly
        crotch_y = floor_height() + TRUNK_BOTTOM * STATURE - 0.02
        seam = np.isin(lab, (1, 2)) & (np.abs(P[:, 0]) < 0.03) & (P[:, 1] > crotch_y)
        lab[seam] = 0
        return lab


#: The thigh cone's radius at the hip joint relative to the thigh girth radius,
#: and its blend radius (small, so that the inner thighs part just below the crotch).
THIGH_TOP_SCALE = 1.08
THIGH_BLEND = 0.012
#: Lower end of the trunk (fraction of stature above the floor), just below the crotch.
TRUNK_BOTTOM = 0.455


def body_shape() -> BodyShape:
    """The implicit body of the default model (all sizes in metres)."""
    H = STATURE
    J = rest_joints()
    yf = floor_height()
    Y = lambda frac: yf + frac * H  # noqa: E731
    r = lambda girth: GIRTHS[girth] / (2 * math.pi)  # noqa: E731

    comps: list = []
    # --- trunk: lofted ellipses (half width a, half depth b, depth centre zc)
    # heights (fraction of H) and sizes chosen so that the sections reproduce
    # the Winter widths (chest 0.174 H, hip 0.191 H) and the GIRTHS above.
    prof = [  # (height/H, a, b, zc)
        (TRUNK_BOTTOM, 0.120, 0.080, 0.005),
        (_p("crotch_height"), 0.148, 0.093, 0.004),
        (0.500, 0.168, 0.115, -0.002),
        (0.530, 0.172, 0.122, -0.002),   # hip-joint level, buttocks: hip girth
        (0.575, 0.156, 0.108, 0.008),    # iliac crest
        (0.620, 0.145, 0.106, 0.014),    # waist / navel: waist girth
        (0.670, 0.148, 0.108, 0.016),
        (0.720, 0.158, 0.122, 0.018),    # chest: chest girth, 0.174 H breadth
        (0.770, 0.160, 0.112, 0.008),    # arm pits
        (0.805, 0.150, 0.090, -0.004),
        (0.832, 0.105, 0.068, -0.012),
        (0.845, 0.070, 0.055, -0.016),
    ]
    ys = [Y(h) for h, *_ in prof]
    comps.append(_Prim("loft", dict(ys=ys, a=[p[1] for p in prof], b=[p[2] for p in prof],
                                    zc=[p[3] for p in prof], round_lo=0.06, round_hi=0.03),
                       0.0, "trunk", "trunk"))
    # --- neck and head
    neck_r = r("neck")
    comps.append(_Prim("cone", dict(a=(0, Y(0.830), -0.025), b=(0, J[15, 1] + 0.02, -0.005),
                                    ra=neck_r + 0.008, rb=neck_r - 0.002), 0.03, 12, "neck"))
    head_top = Y(1.0)
    cranium_c = (0.0, head_top - 0.102, -0.004)
    head = _Group([
        _Prim("ellipsoid", dict(c=cranium_c, r=(0.076, 0.102, 0.097)), 0.0, 15, "cranium"),
        _Prim("ellipsoid", dict(c=(0.0, Y(0.870) + 0.058, 0.03), r=(0.056, 0.060, 0.066)), 0.04, 15, "face"),
        _Prim("ellipsoid", dict(c=(0.0, Y(0.903), 0.097), r=(0.012, 0.021, 0.018)), 0.012, 15, "nose"),
        _Prim("ellipsoid", dict(c=(0.077, Y(0.925), -0.008), r=(0.012, 0.030, 0.018)), 0.01, 15, "left_ear"),
        _Prim("ellipsoid", dict(c=(-0.077, Y(0.925), -0.008), r=(0.012, 0.030, 0.018)), 0.01, 15, "right_ear"),
    ], k=0.035, name="head")
    comps.append(head)

    x_sh, l_ua, l_fa, l_hand = _arm_lengths()
    for side, s in (("left", 1.0), ("right", -1.0)):
        j = {n: JOINT_NAMES.index(f"{side}_{n}") for n in
             ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")}
        sh, el, wr = J[j["shoulder"]], J[j["elbow"]], J[j["wrist"]]
        # shoulder girdle / deltoid
        comps.append(_Prim("cone", dict(a=(s * 0.055, sh[1] - 0.012, -0.012), b=tuple(sh + (0, 0.004, 0)),
                                        ra=0.052, rb=0.052), 0.05, j["collar"], f"{side}_shoulder_girdle"))
        comps.append(_Prim("ellipsoid", dict(c=tuple(sh + (s * 0.012, -0.004, 0)), r=(0.058, 0.056, 0.056)),
                           0.03, j["shoulder"], f"{side}_deltoid"))
        # arm
        comps.append(_Prim("cone", dict(a=tuple(sh), b=tuple(el), ra=r("upper_arm"), rb=r("elbow")),
                           0.03, j["shoulder"], f"{side}_upper_arm"))
        comps.append(_Prim("cone", dict(a=tuple(el), b=tuple(wr), ra=r("forearm") + 0.002, rb=r("wrist")),
                           0.02, j["elbow"], f"{side}_forearm"))
        # hand (palm down, thumb to the front +z)
        hy, hz = wr[1], wr[2]
        palm_c = (s * (wr[0] * s + 0.055), hy, hz)
        fing_c = (s * (wr[0] * s + l_hand - 0.046), hy - 0.002, hz - 0.002)
        hand = _Group([
            _Prim("box", dict(c=palm_c, r=(0.042, 0.006, 0.030), round=0.011), 0.0, "hand", f"{side}_palm"),
            _Prim("box", dict(c=fing_c, r=(0.034, 0.0015, 0.029), round=0.0095), 0.02, "hand", f"{side}_fingers"),
            _Prim("cone", dict(a=(s * (wr[0] * s + 0.030), hy - 0.006, hz + 0.030),
                               b=(s * (wr[0] * s + 0.092), hy - 0.010, hz + 0.058), ra=0.015, rb=0.0095),
                  0.015, j["wrist"], f"{side}_thumb"),
        ], k=0.02, name=f"{side}_hand")
        comps.append(hand)
        # leg
        hip, knee, ankle = J[j["hip"]], J[j["knee"]], J[j["ankle"]]
        comps.append(_Prim("cone", dict(a=tuple(hip), b=tuple(knee), ra=THIGH_TOP_SCALE * r("thigh"), rb=r("knee")),
                           THIGH_BLEND, j["hip"], f"{side}_thigh"))
        comps.append(_Prim("cone", dict(a=tuple(knee), b=tuple(ankle), ra=r("knee") - 0.002, rb=r("ankle")),
                           0.02, j["knee"], f"{side}_shin"))
        calf_c = (knee[0] * 0.5 + ankle[0] * 0.5, knee[1] - 0.12, knee[2] - 0.022)
        comps.append(_Prim("ellipsoid", dict(c=calf_c, r=(0.050, 0.12, 0.050)), 0.04, j["knee"], f"{side}_calf"))
        # foot: heel, instep, fore foot, toes; flat sole at the floor
        ax = ankle[0]
        fl = _p("foot_length") * H
        heel_z = ankle[2] - 0.25 * fl
        toe_z = heel_z + fl
        fw = 0.5 * _p("foot_width") * H * 1.05
        foot = _Group([
            _Prim("ellipsoid", dict(c=(ax, yf + 0.035, heel_z + 0.036), r=(0.032, 0.042, 0.036)), 0.0,
                  "foot", f"{side}_heel"),
            _Prim("cone", dict(a=tuple(ankle + (0, -0.004, 0.004)), b=(ax + s * 0.006, yf + 0.030, heel_z + 0.165),
                               ra=0.036, rb=0.026), 0.03, "foot", f"{side}_instep"),
            _Prim("ellipsoid", dict(c=(ax + s * 0.010, yf + 0.022, heel_z + 0.095), r=(0.036, 0.024, 0.060)), 0.03,
                  "foot", f"{side}_midfoot"),
            _Prim("ellipsoid", dict(c=(ax + s * 0.006, yf + 0.024, heel_z + 0.175), r=(fw, 0.027, 0.060)), 0.03,
                  "foot", f"{side}_forefoot"),
            _Prim("ellipsoid", dict(c=(ax + s * 0.003, yf + 0.013, toe_z - 0.038), r=(fw * 0.9, 0.016, 0.038)),
                  0.02, "foot", f"{side}_toes"),
        ], k=0.025, floor=yf, floor_k=0.006, name=f"{side}_foot")
        comps.append(foot)

    def trunk_rule(P):
        y = P[:, 1]
        out = np.full(len(P), 0)
        out[y >= J[3, 1]] = 3
        out[y >= J[6, 1]] = 6
        out[y >= J[9, 1]] = 9
        return out

    def hand_rule(P):
        left = P[:, 0] > 0
        beyond = np.abs(P[:, 0]) > abs(J[22, 0])
        return np.where(left, np.where(beyond, 22, 20), np.where(beyond, 23, 21))

    def foot_rule(P):
        left = P[:, 0] > 0
        front = P[:, 2] > J[10, 2] - 0.01
        return np.where(left, np.where(front, 10, 7), np.where(front, 11, 8))

    return BodyShape(comps, J, rules={"trunk": trunk_rule, "hand": hand_rule, "foot": foot_rule})


# --------------------------------------------------------------------------
# Mesh
# --------------------------------------------------------------------------

def _signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _edges(f: np.ndarray) -> np.ndarray:
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def _largest_component(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = _edges(f)
    n = len(v)
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    keep_lab = np.bincount(lab[f[:, 0]]).argmax()
    fk = f[lab[f[:, 0]] == keep_lab]
    used = np.unique(fk)
    remap = -np.ones(n, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return v[used], remap[fk]


def _marching_cubes(shape: BodyShape, h: float) -> tuple[np.ndarray, np.ndarray]:
    from skimage.measure import marching_cubes

    lo = np.array([-0.90, floor_height() - 0.03, -0.17])
    hi = np.array([0.90, floor_height() + STATURE + 0.03, 0.20])
    # an irrational-ish offset keeps grid samples off exact zero values
    lo = lo - h * np.array([0.3183, 0.2718, 0.1414])
    n = np.ceil((hi - lo) / h).astype(int) + 1
    axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
    vol = np.empty(tuple(n))
    # evaluate slab by slab in x to bound memory
    Y, Z = np.meshgrid(axes[1], axes[2], indexing="ij")
    yz = np.stack([Y.ravel(), Z.ravel()], axis=1)
    step = 16
    for i0 in range(0, n[0], step):
        xs = axes[0][i0:i0 + step]
        P = np.concatenate([np.column_stack([np.full(len(yz), x), yz]) for x in xs])
        vol[i0:i0 + len(xs)] = shape.sdf(P).reshape(len(xs), n[1], n[2])
    verts, faces, _, _ = marching_cubes(vol, level=0.0, spacing=(h, h, h), allow_degenerate=False)
    verts = verts + lo
    v, f = _largest_component(verts, faces.astype(np.int64))
    if _signed_volume(v, f) < 0:
        f = f[:, ::-1].copy()
    return v, f


class _Mesh:
    """Mutable triangle mesh for edge collapses and flips (closed manifold)."""

    def __init__(self, v: np.ndarray, f: np.ndarray):
        self.P = v.tolist()
        self.F = f.tolist()
        self.falive = [True] * len(self.F)
        self.valive = [True] * len(self.P)
        self.vf: list[set] = [set() for _ in range(len(self.P))]
        for fi, tri in enumerate(self.F):
            for w in tri:
                self.vf[w].add(fi)
        self.nv = len(self.P)

    def nbrs(self, u: int) -> set:
        s = set()
        F = self.F
        for fi in self.vf[u]:
            s.update(F[fi])
        s.discard(u)
        return s

    @staticmethod
    def _normal(a, b, c):
        ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        vx, vy, vz = c[0] - a[0], c[1] - a[1], c[2] - a[2]
        return (uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)

    @staticmethod
    def _quality(a, b, c):
        """4 sqrt(3) area / sum of squared edges: 1 for equilateral, 0 degenerate."""
        n = _Mesh._normal(a, b, c)
        area2 = math.sqrt(n[0] ** 2 + n[1] ** 2 + n[2] ** 2)
        s = sum((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2
                for p, q in ((a, b), (b, c), (c, a)))
        return 2.0 * math.sqrt(3.0) * area2 / max(s, 1e-30)

    def _faces_ok(self, faces, moved: dict, min_cos: float, min_q: float) -> bool:
        """True when every (old triangle, new triangle) pair in `faces`, with the
        new positions `moved` {vertex: position}, keeps its orientation (normals
        within acos(min_cos)) and a quality of at least `min_q`."""
        P = self.P
        for old_tri, new_tri in faces:
            pa = [P[w] for w in old_tri]
            na = self._normal(*pa)
            pb = [moved.get(w, P[w]) for w in new_tri]
            nb = self._normal(*pb)
            la = math.sqrt(na[0] ** 2 + na[1] ** 2 + na[2] ** 2)
            lb = math.sqrt(nb[0] ** 2 + nb[1] ** 2 + nb[2] ** 2)
            if la < 1e-18 or lb < 1e-18:
                return False
            if (na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2]) < min_cos * la * lb:
                return False
            if self._quality(*pb) < min_q:
                return False
        return True

    def collapse(self, i: int, j: int, max_valence: int = 11) -> bool:
        """Collapse edge (i, j) into i at the midpoint; False when not allowed."""
        shared = self.vf[i] & self.vf[j]
        if len(shared) != 2:
            return False
        opp = set()
        for fi in shared:
            opp.update(self.F[fi])
        opp -= {i, j}
        ni, nj = self.nbrs(i), self.nbrs(j)
        if (ni & nj) != opp or len(opp) != 2:
            return False
        if any(len(self.nbrs(o)) <= 3 for o in opp):
            return False
        if len(ni) + len(nj) - 4 > max_valence:
            return False
        Pi, Pj = self.P[i], self.P[j]
        mid = [(Pi[0] + Pj[0]) * 0.5, (Pi[1] + Pj[1]) * 0.5, (Pi[2] + Pj[2]) * 0.5]
        checks = []
        for fi in (self.vf[i] | self.vf[j]) - shared:
            tri = self.F[fi]
            checks.append((tri, [i if w == j else w for w in tri]))
        if not self._faces_ok(checks, {i: mid}, 0.4, 0.12):
            return False
        for fi in self.vf[j] - shared:
            self.F[fi] = [i if w == j else w for w in self.F[fi]]
            self.vf[i].add(fi)
        for fi in shared:
            self.falive[fi] = False
            for w in self.F[fi]:
                self.vf[w].discard(fi)
        self.vf[j] = set()
        self.valive[j] = False
        self.P[i] = mid
        self.nv -= 1
        return True

    def flip(self, i: int, j: int) -> bool:
        """Flip edge (i, j) when it brings the four valences closer to 6."""
        shared = list(self.vf[i] & self.vf[j])
        if len(shared) != 2:
            return False
        f1, f2 = (self.F[k] for k in shared)
        a = next(w for w in f1 if w not in (i, j))
        b = next(w for w in f2 if w not in (i, j))
        if a == b or b in self.nbrs(a):
            return False
        val = {w: len(self.vf[w]) for w in (i, j, a, b)}  # closed mesh: #faces == valence
        before = sum((val[w] - 6) ** 2 for w in (i, j, a, b))
        after = (val[i] - 7) ** 2 + (val[j] - 7) ** 2 + (val[a] - 5) ** 2 + (val[b] - 5) ** 2
        if after >= before or val[i] <= 3 or val[j] <= 3:
            return False
        # keep orientation: f1 has i->j (or j->i); new faces (a, b, .) consistently
        def oriented(tri, p, q):  # does tri contain directed edge p->q ?
            k = tri.index(p)
            return tri[(k + 1) % 3] == q
        if oriented(f1, i, j):
            n1, n2 = [i, b, a], [j, a, b]
        else:
            n1, n2 = [j, b, a], [i, a, b]
        # the two new faces must not fold over the old ones
        P = self.P
        on = [self._normal(*[P[w] for w in t]) for t in (f1, f2)]
        nn = [self._normal(*[P[w] for w in t]) for t in (n1, n2)]
        ref = [on[0][k] + on[1][k] for k in range(3)]
        for n in nn:
            ln = math.sqrt(sum(c * c for c in n))
            lr = math.sqrt(sum(c * c for c in ref))
            if ln < 1e-18 or sum(n[k] * ref[k] for k in range(3)) < 0.7 * ln * lr:
                return False
        if min(self._quality(*[P[w] for w in t]) for t in (n1, n2)) < 0.2:
            return False
        k1, k2 = shared
        # n1 contains the vertex kept from f1 side; assign faces and update vf
        for k, tri in ((k1, n1), (k2, n2)):
            for w in self.F[k]:
                self.vf[w].discard(k)
            self.F[k] = tri
            for w in tri:
                self.vf[w].add(k)
        return True

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        alive = np.nonzero(self.valive)[0]
        remap = -np.ones(len(self.P), dtype=np.int64)
        remap[alive] = np.arange(len(alive))
        v = np.asarray(self.P)[alive]
        f = np.asarray([t for t, a in zip(self.F, self.falive) if a], dtype=np.int64)
        return v, remap[f]


def _sizing(v: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Relative target edge length per point: finer on hands, head and feet."""
    def smooth(t):
        t = np.clip(t, 0.0, 1.0)
        return t * t * (3 - 2 * t)

    s = np.ones(len(v))
    ax = np.abs(v[:, 0])
    wrist_x = abs(joints[20, 0])
    s -= 0.45 * smooth((ax - (wrist_x - 0.08)) / 0.08)                   # hands
    s -= 0.28 * smooth((v[:, 1] - (joints[12, 1] + 0.01)) / 0.05) * smooth((0.14 - ax) / 0.02)  # head
    s -= 0.22 * smooth(((joints[7, 1] + 0.05) - v[:, 1]) / 0.06)          # feet
    return s


def _decimate(v: np.ndarray, f: np.ndarray, target: int, sizing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest-edge-first collapses (edge length relative to `sizing`) down to
    `target` vertices, keeping the surface manifold and its genus (link
    condition) and the triangles unflipped; then valence-improving flips."""
    m = _Mesh(v, f)
    size = sizing.tolist()
    P = m.P

    def cost(i, j):
        a, b = P[i], P[j]
        d = math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2)
        return d / (0.5 * (size[i] + size[j]))

    heap = [(cost(i, j), i, j) for i, j in _edges(f).tolist()]
    heapq.heapify(heap)
    while m.nv > target:
        if not heap:
            raise RuntimeError("edge collapse ran out of candidate edges")
        c, i, j = heapq.heappop(heap)
        if not (m.valive[i] and m.valive[j]):
            continue
        if j not in m.nbrs(i):
            continue
        c_now = cost(i, j)
        if abs(c_now - c) > 1e-12:
            heapq.heappush(heap, (c_now, i, j))
            continue
        # keep the endpoint with more neighbours (fewer changes)
        if len(m.vf[j]) > len(m.vf[i]):
            i, j = j, i
        if not m.collapse(i, j):
            continue
        size[i] = 0.5 * (size[i] + size[j])
        for w in m.nbrs(i):
            heapq.heappush(heap, (cost(i, w), i, w))
    # valence-improving flips
    for _ in range(4):
        flipped = 0
        _, f_now = m.arrays()
        alive = np.nonzero(m.valive)[0]
        e = _edges(f_now)
        for a, b in alive[e].tolist():
            if m.flip(a, b):
                flipped += 1
        if flipped == 0:
            break
    return m.arrays()


def _adjacency(n: int, f: np.ndarray):
    from scipy.sparse import coo_matrix

    e = _edges(f)
    A = coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
    return A.tocsr()


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _relax(shape: BodyShape, v: np.ndarray, f: np.ndarray, iters: int = 8, lam: float = 0.5) -> np.ndarray:
    """Tangential Laplacian relaxation, each step projected onto the surface."""
    A = _adjacency(len(v), f)
    deg = np.asarray(A.sum(axis=1)).ravel()
    for _ in range(iters):
        c = (A @ v) / deg[:, None]
        d = c - v
        n = _vertex_normals(v, f)
        d -= np.einsum("ij,ij->i", d, n)[:, None] * n
        v = shape.project(v + lam * d, iters=3)
    return v


def _check_closed_manifold(f: np.ndarray, n_vertices: int) -> None:
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = e[:, 0] * n_vertices + e[:, 1]
    if len(np.unique(key)) != len(key):
        raise RuntimeError("mesh has an inconsistently oriented or non-manifold edge")
    rev = e[:, 1] * n_vertices + e[:, 0]
    if not np.all(np.isin(rev, key)):
        raise RuntimeError("mesh is not closed")
    if n_vertices - len(key) // 2 + len(f) != 2:
        raise RuntimeError("mesh is not a single genus-0 surface")


#: Vertex ids that ``smplx`` reads as extra joints (SMPL/SMPL+H topology) and the
#: body places they are put at on this body.
SMPLX_LANDMARK_IDS = {
    "nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583,
    "rthumb": 6191, "rindex": 5782, "rmiddle": 5905, "rring": 6016, "rpinky": 6133,
    "lthumb": 2746, "lindex": 2319, "lmiddle": 2445, "lring": 2556, "lpinky": 2673,
    "LBigToe": 3216, "LSmallToe": 3226, "LHeel": 3387,
    "RBigToe": 6617, "RSmallToe": 6624, "RHeel": 6787,
}


def _landmark_targets(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Points next to (or on) the surface at each smplx landmark."""
    H = STATURE
    yf = floor_height()
    l_hand = _arm_lengths()[3]
    t: dict[str, np.ndarray] = {}
    t["nose"] = np.array([0.0, yf + 0.905 * H, 0.2])
    eye_y = yf + _p("eye_height") * H
    # on the face at eye height (the face surface lies near z = 0.085 there)
    t["leye"] = np.array([0.032, eye_y, 0.085])
    t["reye"] = np.array([-0.032, eye_y, 0.085])
    t["lear"] = np.array([0.2, yf + 0.925 * H, -0.008])
    t["rear"] = np.array([-0.2, yf + 0.925 * H, -0.008])
    for side, s, p in (("l", 1.0, 20), ("r", -1.0, 21)):
        wr = joints[p]
        tip_x = s * (abs(wr[0]) + l_hand + 0.05)
        for name, dz in (("index", 0.022), ("middle", 0.006), ("ring", -0.01), ("pinky", -0.026)):
            t[side + name] = np.array([tip_x, wr[1], wr[2] + dz])
        t[side + "thumb"] = np.array([s * (abs(wr[0]) + 0.12), wr[1] - 0.01, wr[2] + 0.08])
    for side, s, a in (("L", 1.0, 7), ("R", -1.0, 8)):
        ank = joints[a]
        toe_z = ank[2] - 0.25 * _p("foot_length") * H + _p("foot_length") * H
        t[side + "BigToe"] = np.array([ank[0] - s * 0.02, yf + 0.01, toe_z + 0.05])
        t[side + "SmallToe"] = np.array([ank[0] + s * 0.04, yf + 0.01, toe_z - 0.02])
        t[side + "Heel"] = np.array([ank[0], yf + 0.005, ank[2] - 0.25 * _p("foot_length") * H - 0.05])
    return t


def _landmark_order(v: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Permutation `order` (new index -> old index) placing landmark vertices at
    the ids smplx expects."""
    n = len(v)
    targets = _landmark_targets(joints)
    fixed: dict[int, int] = {}
    used: set = set()
    for name, new_id in SMPLX_LANDMARK_IDS.items():
        d = np.linalg.norm(v - targets[name], axis=1)
        for old in np.argsort(d):
            if int(old) not in used:
                fixed[new_id] = int(old)
                used.add(int(old))
                break
    rest = iter(i for i in range(n) if i not in used)
    return np.array([fixed[k] if k in fixed else next(rest) for k in range(n)], dtype=np.int64)


def build_mesh(shape: BodyShape | None = None, grid: float = 0.0085) -> tuple[np.ndarray, np.ndarray]:
    """Closed rest surface (v (6890, 3), f (13776, 3)) of the default body."""
    shape = shape or body_shape()
    v, f = _marching_cubes(shape, grid)
    v = shape.project(v, iters=2)
    v, f = _decimate(v, f, N_VERTICES, _sizing(v, shape.joints))
    v = _relax(shape, v, f)
    _check_closed_manifold(f, len(v))
    order = _landmark_order(v, shape.joints)
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    return v[order], inv[f]


# --------------------------------------------------------------------------
# Skinning weights
# --------------------------------------------------------------------------

#: Joint chains that never share a vertex: a vertex of one leg gets no weight of the other.
EXCLUSIVE_CHAINS = ((1, 4, 7, 10), (2, 5, 8, 11))


def skinning_weights(v: np.ndarray, f: np.ndarray, labels: np.ndarray, iters: int = 18,
                     alpha: float = 0.5, max_influences: int = 4) -> np.ndarray:
    """(V, 24) weights: body-part labels diffused over the surface (so blending
    only crosses joints along the skin, never across gaps such as between the
    fingers of a hand and the thigh), truncated to ``max_influences`` per
    vertex and renormalised.  A vertex of one leg gets no weight of the other
    (``EXCLUSIVE_CHAINS``)."""
    A = _adjacency(len(v), f)
    deg = np.asarray(A.sum(axis=1)).ravel()
    W = np.zeros((len(v), N_JOINTS))
    W[np.arange(len(v)), labels] = 1.0
    for _ in range(iters):
        W = (1 - alpha) * W + alpha * (A @ W) / deg[:, None]
    for chain in EXCLUSIVE_CHAINS:
        others = [j for c in EXCLUSIVE_CHAINS if c is not chain for j in c]
        W[np.ix_(np.isin(labels, chain), others)] = 0.0
    order = np.argsort(-W, axis=1, kind="stable")
    keep = np.zeros_like(W, dtype=bool)
    np.put_along_axis(keep, order[:, :max_influences], True, axis=1)
    W = np.where(keep & (W > 1e-3), W, 0.0)
    return W / W.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------
# Joint regressor
# --------------------------------------------------------------------------

def joint_regressor(v: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(24, V) non-negative rows summing to 1, each a smooth average of the
    vertices around a joint (a shell of radius ~1.8x the joint's depth below
    the skin) that reproduces the joint: J_regressor @ v == joints."""
    from scipy.optimize import lsq_linear

    R = np.zeros((len(joints), len(v)))
    for jn, J in enumerate(joints):
        d = np.linalg.norm(v - J, axis=1)
        depth = d.min()
        radius = max(1.9 * depth, 0.025)
        idx = np.nonzero(d < radius)[0]
        w0 = np.exp(-(d[idx] / (0.6 * radius)) ** 2)
        w0 /= w0.sum()
        lam = 50.0
        A = np.vstack([lam * np.vstack([v[idx].T, np.ones(len(idx))]), np.eye(len(idx))])
        b = np.concatenate([lam * np.append(J, 1.0), w0])
        sol = lsq_linear(A, b, bounds=(0.0, np.inf), method="bvls", tol=1e-12)
        w = np.maximum(sol.x, 0.0)
        R[jn, idx] = w / w.sum()
    return R


# --------------------------------------------------------------------------
# Shape blend shapes
# --------------------------------------------------------------------------

def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _softramp(t, w):
    """Smooth max(t, 0) with transition width w."""
    return w * np.logaddexp(0.0, t / w)


#: The 16 shape components: (name, description).  One unit of beta is about
#: one standard deviation of the adult population (rounded values; e.g.
#: stature SD ~7 cm, biacromial breadth SD ~2 cm, head circumference SD ~3 %).
SHAPE_COMPONENTS = [
    ("stature", "uniform scaling about the pelvis joint, +4.1 % (about +7 cm of stature)"),
    ("girth", "radial scaling of all segments about their bone axes (+9 % trunk, +7 % limbs)"),
    ("leg_length", "legs +3 % longer and trunk shorter (stature nearly kept)"),
    ("shoulder_width", "shoulders and arms moved outwards by 1 cm per side"),
    ("hip_width", "pelvis widened by 7 %, legs moved apart accordingly"),
    ("arm_length", "arms and hands +4 % longer (from the shoulder joint)"),
    ("belly", "abdomen deepened forwards (about +2.5 cm at the navel)"),
    ("head_size", "head +3 % (uniform scaling about its centre)"),
    ("chest_depth", "chest deepened forwards (about +1.5 cm)"),
    ("neck_length", "neck +1.2 cm (head moved up)"),
    ("lower_body_girth", "hips and thighs +6 % girth, waist -2 %"),
    ("arm_girth", "upper arms and forearms +8 % girth"),
    ("calf_girth", "shanks +6 % girth"),
    ("foot_length", "feet +5 % longer (about the ankle)"),
    ("hand_size", "hands +5 % (about the wrist)"),
    ("trunk_depth", "trunk depth (front-back) +5 %"),
]


def _bone_axes(joints: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Axis segment (start, end) of the body part of each joint; None for the
    trunk joints (their axis is the vertical trunk centre line)."""
    l_hand = _arm_lengths()[3]
    ends = {}
    for j in range(N_JOINTS):
        kids = [k for k in range(N_JOINTS) if PARENTS[k] == j]
        if len(kids) == 1:
            ends[j] = joints[kids[0]]
    ends[22] = joints[22] + (0.5 * l_hand, 0, 0)
    ends[23] = joints[23] - (0.5 * l_hand, 0, 0)
    ends[10] = joints[10] + (0, 0, 0.07)
    ends[11] = joints[11] + (0, 0, 0.07)
    ends[15] = joints[15] + (0, 0.15, 0)
    ends[12] = joints[15]
    axes: list = [None] * N_JOINTS
    for j, e in ends.items():
        if j in (0, 3, 6, 9):
            continue
        axes[j] = (joints[j], np.asarray(e, float))
    return axes


def _closest_on_segment(P, a, b):
    ab = b - a
    t = np.clip(((P - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return a + t[:, None] * ab


def _trunk_centre(P):
    """Point of the trunk centre line at each point's height."""
    shape = body_shape()
    loft = shape.components[0].params
    fz = _loft_profile(loft["ys"], loft["a"], loft["b"], loft["zc"])[2]
    y = np.clip(P[:, 1], loft["ys"][0], loft["ys"][-1])
    return np.column_stack([np.zeros(len(P)), P[:, 1], fz(y)])


def _radial(P, W, joints, factors):
    """sum_j W[:, j] * factors[j] * (P - axis_j(P)): radial growth per part."""
    axes = _bone_axes(joints)
    out = np.zeros_like(P)
    centre = _trunk_centre(P)
    for j in range(N_JOINTS):
        fj = factors[j]
        if fj == 0.0:
            continue
        m = W[:, j] > 0
        if not m.any():
            continue
        if axes[j] is None:
            c = centre[m]
        else:
            c = _closest_on_segment(P[m], *axes[j])
        out[m] += (W[m, j] * fj)[:, None] * (P[m] - c)
    return out


def shape_displacements(P: np.ndarray, W: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N, 3, 16) displacement per unit beta of points P (N, 3) whose
    body-part weights are W (N, 24) (skinning weights for vertices, one-hot
    rows for joints)."""
    J = joints
    N = len(P)
    out = np.zeros((N, 3, N_BETAS))
    x, y, z = P[:, 0], P[:, 1], P[:, 2]
    sgn = np.where(x >= 0, 1.0, -1.0)
    legs = W[:, [1, 2, 4, 5, 7, 8, 10, 11]].sum(axis=1)
    trunk = W[:, [0, 3, 6, 9]].sum(axis=1)
    centre = _trunk_centre(P)
    loft = body_shape().components[0].params
    from scipy.interpolate import PchipInterpolator
    fb = PchipInterpolator(loft["ys"], loft["b"])
    yc = np.clip(y, loft["ys"][0], loft["ys"][-1])
    z_back = centre[:, 2] - fb(yc)
    depth = 2 * fb(yc)

    # 0 stature: uniform scaling about the pelvis joint (SD of stature ~7 cm)
    out[:, :, 0] = (0.07 / STATURE) * (P - J[0])
    # 1 girth
    f1 = np.full(N_JOINTS, 0.07)
    f1[[0, 3, 6, 9]] = 0.09
    f1[[12]] = 0.05
    f1[[15]] = 0.0
    f1[[20, 21, 22, 23, 7, 8, 10, 11]] = 0.02
    out[:, :, 1] = _radial(P, W, J, f1)
    # 2 leg length vs trunk: legs +3 %, trunk shortened so the head top moves
    #   down by the same amount the soles do
    y_hip = J[1, 1]
    a_leg = 0.03
    leg_drop = a_leg * (y_hip - floor_height())
    b_trunk = leg_drop / (floor_height() + STATURE - J[0, 1])
    out[:, 1, 2] = -a_leg * _softramp(y_hip - y, 0.015) - b_trunk * _softramp(y - J[0, 1], 0.015)
    # 3 shoulder width: +1 cm per side
    out[:, 0, 3] = 0.01 * sgn * _smoothstep((np.abs(x) - 0.05) / 0.12) * _smoothstep((y - 0.08) / 0.09)
    # 4 hip width: pelvis x-scaled +7 %, legs translated with the hip joints
    hipw = _smoothstep((J[3, 1] + 0.02 - y) / 0.12)
    out[:, 0, 4] = 0.07 * hipw * (trunk * x + legs * sgn * abs(J[1, 0]))
    # 5 arm length: +4 % beyond the shoulder joints
    out[:, 0, 5] = 0.04 * sgn * _softramp(np.abs(x) - abs(J[16, 0]), 0.01)
    # 6 belly: abdomen deepened forwards, 2.5 cm at the navel front
    gy = np.exp(-0.5 * ((y - J[3, 1]) / 0.08) ** 2)
    gx = np.exp(-0.5 * (x / 0.11) ** 2)
    out[:, 2, 6] = 0.025 * gy * gx * np.clip((z - z_back) / np.maximum(depth, 1e-3), 0, None) * trunk
    # 7 head size: +3 % about the cranium centre
    head_c = np.array([0.0, floor_height() + STATURE - 0.102, -0.004])
    out[:, :, 7] = 0.03 * W[:, [15]] * (P - head_c)
    # 8 chest depth: +1.5 cm at the chest front
    gy = np.exp(-0.5 * ((y - (floor_height() + _p("chest_height") * STATURE)) / 0.07) ** 2)
    gx = np.exp(-0.5 * (x / 0.12) ** 2)
    out[:, 2, 8] = 0.015 * gy * gx * np.clip((z - z_back) / np.maximum(depth, 1e-3), 0, None) * trunk
    # 9 neck length: +1.2 cm
    out[:, 1, 9] = 0.012 * _smoothstep((y - (J[12, 1] - 0.005)) / (J[15, 1] + 0.03 - J[12, 1]))
    # 10 lower body girth
    f10 = np.zeros(N_JOINTS)
    f10[[1, 2]] = 0.06
    out[:, :, 10] = _radial(P, W, J, f10)
    pel = _smoothstep((J[3, 1] - y) / 0.10)
    out[:, :, 10] += _radial(P, W * pel[:, None], J, np.where(np.arange(N_JOINTS) == 0, 0.06, 0.0))
    waist = np.exp(-0.5 * ((y - J[3, 1]) / 0.06) ** 2)
    out[:, :, 10] += _radial(P, W * waist[:, None], J, np.where(np.isin(np.arange(N_JOINTS), (0, 3)), -0.02, 0.0))
    # 11 arm girth
    f11 = np.zeros(N_JOINTS)
    f11[[16, 17, 18, 19]] = 0.08
    out[:, :, 11] = _radial(P, W, J, f11)
    # 12 calf girth
    f12 = np.zeros(N_JOINTS)
    f12[[4, 5]] = 0.06
    out[:, :, 12] = _radial(P, W, J, f12)
    # 13 foot length: +5 % along z about the ankle
    foot_w = W[:, [7, 8, 10, 11]].sum(axis=1)
    z_ank = np.where(x >= 0, J[7, 2], J[8, 2])
    out[:, 2, 13] = 0.05 * foot_w * (z - z_ank)
    # 14 hand size: +5 % about the wrist
    hand_w = W[:, [20, 21, 22, 23]].sum(axis=1)
    wrist = np.where((x >= 0)[:, None], J[20], J[21])
    out[:, :, 14] = 0.05 * hand_w[:, None] * (P - wrist)
    # 15 trunk depth: +5 % about the trunk centre
    out[:, 2, 15] = 0.05 * trunk * (z - centre[:, 2])
    return out


# --------------------------------------------------------------------------
# Model file
# --------------------------------------------------------------------------

class ZerosArray:
    """Placeholder that pickles as ``numpy.zeros(shape, dtype)`` (keeps the
    zero pose blend shapes out of the file)."""

    def __init__(self, shape: tuple, dtype: str = "float32"):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = str(dtype)

    def __reduce__(self):
        return (np.zeros, (self.shape, self.dtype))


class _PortablePickler(pickle.Pickler):
    """Writes numpy arrays as ``numpy.ndarray`` + ``numpy.dtype`` + raw bytes
    (NEWOBJ + BUILD), readable by NumPy 1.x and 2.x alike."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            a = np.ascontiguousarray(obj)
            if a.dtype.hasobject:
                return NotImplemented
            return (copyreg.__newobj__, (np.ndarray, a.shape, a.dtype),
                    (1, a.shape, a.dtype, False, a.tobytes()))
        return NotImplemented


LICENSE = "MIT"
SOURCE = (
    "virtimu default body, generated by virtimu.body.default_body from published anthropometric "
    "proportions (Drillis & Contini 1966, as reproduced in Winter 2009) and rounded average girths; "
    "contains no data of the SMPL model."
)


def build_default_body(grid: float = 0.0085) -> dict:
    """All arrays of the default body, as a dict in the SMPL pickle layout."""
    shape = body_shape()
    J = shape.joints
    v, f = build_mesh(shape, grid=grid)
    v = v.astype(np.float32).astype(np.float64)  # stored as float32; fit everything to the stored values
    labels = shape.labels(v)
    W = skinning_weights(v, f, labels)
    Jreg = joint_regressor(v, J)
    sd = shape_displacements(v, W, J)
    kintree = np.array([[4294967295] + PARENTS[1:], list(range(N_JOINTS))], dtype=np.int64)
    return {
        "v_template": v.astype(np.float32),
        "f": f.astype(np.uint32),
        "shapedirs": sd.astype(np.float32),
        "posedirs": ZerosArray((len(v), 3, N_POSE_FEATURES), "float32"),
        "J_regressor": Jreg.astype(np.float32),
        "weights": W.astype(np.float32),
        "kintree_table": kintree,
        "joint_names": list(JOINT_NAMES),
        "virtimu_body_version": BODY_VERSION,
        "license": LICENSE,
        "source": SOURCE,
        "shape_components": [f"{n}: {d}" for n, d in SHAPE_COMPONENTS],
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def dumps_model(model: dict) -> bytes:
    buf = io.BytesIO()
    _PortablePickler(buf, protocol=4).dump(model)
    return buf.getvalue()


def default_body_dir() -> Path:
    """Folder holding the shipped default body.

    ``smplx.SMPL(str(default_body_dir()), gender='neutral')`` loads it, as does
    ``smplx.create(str(default_body_path()))``; ``smplx.create(DIR,
    model_type='smpl')`` instead expects ``DIR/smpl/SMPL_NEUTRAL.pkl``.
    """
    return Path(__file__).resolve().parent.parent / "assets" / "body"


def default_body_path() -> Path:
    """The shipped default body file (``SMPL_NEUTRAL.pkl``)."""
    return default_body_dir() / "SMPL_NEUTRAL.pkl"


def write_default_body(out_dir: Path | str | None = None, grid: float = 0.0085) -> Path:
    """Generate the body and write ``SMPL_NEUTRAL.pkl`` and ``README.md`` to
    ``out_dir`` (default: the package's asset folder).  Returns the pkl path."""
    out = Path(out_dir) if out_dir is not None else default_body_dir()
    out.mkdir(parents=True, exist_ok=True)
    model = build_default_body(grid=grid)
    path = out / "SMPL_NEUTRAL.pkl"
    path.write_bytes(dumps_model(model))
    (out / "README.md").write_text(readme_text(model, path.stat().st_size))
    return path


def readme_text(model: dict, size_bytes: int | None = None) -> str:
    v = np.asarray(model["v_template"], np.float64)
    J = np.asarray(model["J_regressor"], np.float64) @ v
    J = np.where(np.abs(J) < 5e-4, 0.0, J)  # no "-0.000" in the table
    return _README.format(  # filled in below
        version=BODY_VERSION, nv=len(v), nf=len(model["f"]),
        height=float(v[:, 1].max() - v[:, 1].min()),
        sole=float(v[:, 1].min()), top=float(v[:, 1].max()),
        size=f"{size_bytes / 1e6:.2f} MB" if size_bytes else "",
        joints="\n".join(f"| {i} | {n} | {PARENTS[i]} | {J[i, 0]:+.3f} | {J[i, 1]:+.3f} | {J[i, 2]:+.3f} |"
                         for i, n in enumerate(JOINT_NAMES)),
        components="\n".join(f"| {i} | {n} | {d} |" for i, (n, d) in enumerate(SHAPE_COMPONENTS)),
        proportions="\n".join(f"| {k} | {val:g} | {'Winter (2009), Fig. 4.1' if src == 'W' else 'estimate'} |"
                              for k, (val, src) in PROPORTIONS.items()),
    )


_README = """# virtimu default body (`SMPL_NEUTRAL.pkl`)

An open, self-made body model in the file layout of SMPL, shipped with virtimu
because the SMPL model files cannot be redistributed.  It is generated by
`scripts/make_default_body.py` (logic in `virtimu/body/default_body.py`),
deterministically, from published anthropometric proportions.  It contains no
data of SMPL, SMPL+H or SMPL-X.

Load it like an SMPL file:

```python
import smplx
from virtimu.body.default_body import default_body_dir, default_body_path
body = smplx.create(str(default_body_path()), num_betas=10)              # the file itself
body = smplx.SMPL(str(default_body_dir()), gender="neutral", num_betas=10)  # its folder
```

`smplx.create(DIR, model_type="smpl", gender="neutral")` looks for
`DIR/smpl/SMPL_NEUTRAL.pkl`: copy or link the file into such a layout to use it
that way.  `smplx` keeps at most 10 betas for files with fewer than 300 shape
components; the file holds 16, which `virtimu.body.files.load_body_model()`
(the default when no path is given) uses.

## What it is

* Version {version}; {nv} vertices, {nf} triangles ({size}); one closed, smooth,
  genus-0 surface with outward-facing triangles.  The vertex and face counts
  equal SMPL's so that SMPL vertex ids used by `smplx` as extra joints stay
  valid; the 21 ids `smplx` reads (nose, eyes, ears, finger tips, toes, heels)
  sit at those places on this body.  Otherwise vertices do **not** correspond to
  SMPL's: do not use SMPL vertex ids for sensor placement on this body.
* SMPL's 24 joints, names, order and kinematic tree; SMPL's model space: y up,
  facing +z, the body's left is +x; T-pose at rest (arms along +-x, palms down).
  Placed in SMPL's origin convention (rest pelvis joint at (0, -0.22, 0.03)) so
  AMASS root translations put the feet on the floor.  Stature {height:.3f} m
  (soles at y = {sole:.3f}, head top at y = {top:.3f}).
* Skinning weights: body parts (owner primitive of the surface) diffused over
  the surface, at most 4 joints per vertex, rows sum to 1.
* Joint regressor: each joint is a smooth non-negative average of a shell of
  vertices around it that reproduces the joint exactly at rest, so joints follow
  shape changes.
* 16 shape blend shapes (one unit of beta is about one population standard
  deviation; they are hand-designed deformations, not a PCA, and not
  orthogonal); pose blend shapes are zero (`posedirs` is stored as a
  `numpy.zeros` call).
* Keys: `v_template`, `f`, `shapedirs` (V, 3, 16), `posedirs` (V, 3, 207),
  `J_regressor` (24, V), `weights` (V, 24), `kintree_table` (2, 24), plus
  metadata `joint_names`, `virtimu_body_version`, `license`, `source`,
  `shape_components`, `bs_style`, `bs_type`.  The pickle only references the
  globals `numpy.ndarray`, `numpy.dtype` and `numpy.zeros` (arrays are stored
  as raw bytes; readable by NumPy 1.x and 2.x).

## Rest joints

| # | joint | parent | x | y | z |
|---|---|---|---|---|---|
{joints}

## Shape components (per unit beta)

| beta | name | effect |
|---|---|---|
{components}

## Provenance

Stature H = 1.70 m.  Segment proportions (fractions of H) from Drillis, R. &
Contini, R. (1966), *Body Segment Parameters*, Technical Report 1166-03,
School of Engineering and Science, New York University, as reproduced in Winter, D. A.
(2009), *Biomechanics and Motor Control of Human Movement*, 4th ed., Wiley,
Fig. 4.1.  Values marked "estimate" are choices made for this body where the
figure gives no value or where its standing-posture values do not fit a T-pose
skeleton (the arm segments are scaled by a common factor so that the finger-tip
span equals stature, keeping Winter's ratios).  Girths are rounded
sex-averaged adult circumferences of the order of the 2012 US Army
anthropometric survey (ANSUR II; Gordon, C. C. et al., 2014, Technical Report
NATICK/TR-15/007, *2012 Anthropometric Survey of U.S. Army Personnel*) -
estimates, not survey statistics.

| proportion | fraction of H | source |
|---|---|---|
{proportions}

The surface is the zero set of a smooth union of tapered capsules, ellipsoids,
rounded boxes and a lofted elliptic trunk, extracted with marching cubes
(scikit-image), simplified by edge collapses to the vertex count above, improved
by edge flips and tangential relaxation and projected back onto the implicit
surface.

## Limitations

* No pose-corrective blend shapes: strongly bent joints show the usual linear
  blend skinning artefacts (some volume loss on the inside of a bend).
* Mitten hands (no fingers), simple feet and face; no finger joints (SMPL, not
  SMPL+H).
* The shape space is not SMPL's: betas fitted for SMPL / SMPL+H (e.g. AMASS
  `betas`) mean something else here.  Use zero betas, or this body's own
  components, unless only a rough size change is wanted (beta 0 is stature).

## Licence

MIT, like virtimu.  Copyright (c) the virtimu authors.  The generated file and
this description may be used, modified and redistributed under the MIT licence
terms of the project.
"""
