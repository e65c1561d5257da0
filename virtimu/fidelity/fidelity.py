"""Fidelity of synthetic IMU signals: synthesise the sensors of a real recording from its
ground-truth poses and compare, sensor by sensor and axis by axis.

Input: DIP-IMU sequences (`virtimu.datasets.dip` documents the layout): real
``imu_acc`` (world acceleration without gravity, DIP's y-up world),
``imu_ori`` (sensor-to-world rotations, calibrated to the body segments)
and ``gt`` (T, 72) SMPL poses at 60 Hz, **without root translation**.

How the two sides are put in one frame (documented choices):

1. World: both sides live in virtimu's z-up world.  The real signals go
   through the DIP loader's conversion (`virtimu.datasets.dip.dip_signals`,
   ``v_z = Y_TO_Z · v_y``, specific force ``f = R_wsᵀ (a − g)``).  The
   ``gt`` root orientation is in DIP's y-up world as well (TransPose's
   preprocessing rotates AMASS roots into that world to train next to DIP),
   so it is rotated by ``Y_TO_Z`` before synthesis (``gt_up='y'``, default;
   ``gt_up='z'`` takes roots that are already z up).
2. Synthesis: the ``gt`` poses drive the body (the open default body, or a
   user SMPL file) with zero shape and **zero translation**; sensors are the
   ``dip-full`` placement (17 sites, DIP's order, bone-aligned axes, as
   DIP's calibrated orientations are), signals at the sequence's rate:
   specific force, gyro, orientation; world acceleration without gravity
   ``a = R f + g`` for the world-frame comparison.
3. Signals compared, per sensor and axis (x, y, z):
   ``acc``: specific force in the sensor frame (gravity included: posture
   dominates it); ``freeacc``: world acceleration without gravity (motion
   only: the harshest test); ``gyro``: body rates in the sensor frame (DIP
   has no gyroscope; the real rates come from consecutive ``imu_ori``);
   and the orientation error, the geodesic angle between real and
   synthetic ``R_ws`` (degrees, median over frames).
4. Agreement: Pearson correlation r and RMSE (signal units) per axis, on
   the frames where both sides are finite, **raw** and **aligned**.
   Alignment fits one constant rotation per sensor by least squares
   (Kabsch / orthogonal Procrustes): for ``acc`` the mounting offset ``Q``
   with ``f_real ≈ Q f_syn``, fitted on the accelerations themselves
   (equivalently ``R_real ≈ R_syn Qᵀ``); for ``gyro`` likewise ``G`` with
   ``ω_real ≈ G ω_syn`` (body rates see only the mounting, not a world
   offset); for ``freeacc`` a world (heading) offset ``W`` with
   ``a_real ≈ W a_syn``; for orientations a world offset ``V`` and a
   mounting offset ``M`` with ``R_real ≈ V R_syn M``, fitted jointly
   (alternating Procrustes, `fit_world_and_mount`).  For a pure mounting
   offset the estimates agree (``Q ≈ G ≈ Mᵀ``, ``V ≈ I``).  ``Q`` is poorly
   determined about gravity for a sensor that barely turns, and the V/M
   split for one that turns about one axis only (hence medians in the
   summary); a large V (e.g. 90°) points to a wrong up-axis convention.
   The fitted offsets are reported as rotation matrices and angles.
5. Missing root motion: without translation the synthetic sensors lack the
   root's linear acceleration (walking, jumping ...).  It is reported per
   recording as the RMS of ``freeacc_real − freeacc_syn`` at the pelvis
   sensor (m/s², an estimate of the missing root acceleration plus noise).

Physics helpers (`kabsch`, `project_to_rotation`, `axis_agreement`,
`geodesic_deg`) are pure functions on arrays.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import virtimu
from virtimu.body.joints import SMPL_JOINT_NAMES
from virtimu.body.model import BodyModel
from virtimu.datasets.base import DatasetFormatError
from virtimu.datasets.dip import (
    DIP_SITES,
    FILE_PATTERN,
    FS,
    SUBJECT_PATTERN,
    Y_TO_Z,
    dip_signals,
    find_data_dir,
    read_sequence,
)
from virtimu.io.pickles import PickleReadError, restricted_load, to_plain
from virtimu.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from virtimu.sensors.placement import Site, attach_sites, resolve_sites
from virtimu.sensors.signals import GRAVITY
from virtimu.sensors.synth import SynthConfig, synthesize
from virtimu.types import Motion

log = logging.getLogger(__name__)

__all__ = [
    "AXES",
    "SIGNALS",
    "FidelityReport",
    "RecordingFidelity",
    "SensorFidelity",
    "SynthSignals",
    "axis_agreement",
    "compare_sequence",
    "dip_fidelity",
    "dip_files",
    "dip_motion",
    "fit_world_and_mount",
    "geodesic_deg",
    "kabsch",
    "project_to_rotation",
    "read_dip_gt",
    "rotation_angle_deg",
    "synthesize_dip",
]

#: Signals compared per sensor.
SIGNALS: tuple[str, ...] = ("acc", "freeacc", "gyro")
AXES: tuple[str, ...] = ("x", "y", "z")
UNITS = {"acc": "m/s^2", "freeacc": "m/s^2", "gyro": "rad/s"}
#: Sensor whose real-minus-synthetic free acceleration estimates the missing root acceleration.
ROOT_SENSOR = "pelvis"


# --------------------------------------------------------------------------- pure helpers


def kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation Q (3, 3) minimising Σ_t |a_t − Q b_t|² over rows of a, b (N, 3) (NaN rows skipped).

    Orthogonal Procrustes with the determinant fixed to +1.  Returns the
    identity when fewer than 2 finite rows remain.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if ok.sum() < 2:
        return np.eye(3)
    return project_to_rotation(a[ok].T @ b[ok])


def project_to_rotation(H: np.ndarray) -> np.ndarray:
    """The rotation nearest (Frobenius) to a 3×3 matrix: U diag(1, 1, det(U Vᵀ)) Vᵀ of H = U S Vᵀ."""
    U, _, Vt = np.linalg.svd(np.asarray(H, dtype=np.float64))
    d = np.sign(np.linalg.det(U @ Vt)) or 1.0
    return U @ np.diag([1.0, 1.0, d]) @ Vt


def _alternate(A: np.ndarray, B: np.ndarray, M: np.ndarray, iters: int, tol: float
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """Alternating Procrustes for A_t ≈ W B_t M from a starting M; returns (W, M, cost)."""
    cost = np.inf
    W = np.eye(3)
    for _ in range(iters):
        W = project_to_rotation(np.einsum("tij,tkj->ik", A, B @ M))  # Σ A_t (B_t M)ᵀ
        WB = np.einsum("ij,tjk->tik", W, B)
        M = project_to_rotation(np.einsum("tji,tjk->ik", WB, A))  # Σ (W B_t)ᵀ A_t
        new = float(np.sum((A - WB @ M) ** 2))
        if cost - new < tol * max(1.0, new):
            return W, M, new
        cost = new
    return W, M, cost


def fit_world_and_mount(R_real: np.ndarray, R_syn: np.ndarray, w_real: np.ndarray | None = None,
                        w_syn: np.ndarray | None = None, iters: int = 100, tol: float = 1e-12
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Constant rotations (W, M) (3, 3) minimising Σ_t ‖R_real_t − W R_syn_t M‖²_F.

    R_real, R_syn: (T, 3, 3) sensor-to-world rotations (non-finite frames
    skipped).  W is a world offset (heading, or a wrong up axis), M a
    mounting offset.  Alternating orthogonal Procrustes from two starts: M
    from the orientations alone (``Σ R_synᵀ R_real``) and, when body rates
    w_real, w_syn (T, 3) are given, M from them (``ω_real ≈ Mᵀ ω_syn``, Kabsch:
    rates see only the mounting).  The lower cost wins; when both fit
    equally (a sensor that barely turns determines only the product W·R·M),
    the start that better explains the rates wins, then the one with the
    smaller world offset.  The split stays ambiguous for a sensor that turns
    about one axis only (only W·R·M is determined).  Identity pair when no
    frame is usable.
    """
    ok = np.isfinite(R_real).all(axis=(1, 2)) & np.isfinite(R_syn).all(axis=(1, 2))
    A, B = np.asarray(R_real, dtype=np.float64)[ok], np.asarray(R_syn, dtype=np.float64)[ok]
    if not len(A):
        return np.eye(3), np.eye(3)
    starts = [project_to_rotation(np.einsum("tji,tjk->ik", B, A))]
    if w_real is not None and w_syn is not None:
        starts.append(kabsch(w_real, w_syn).T)
    fits = [_alternate(A, B, M0, iters, tol) for M0 in starts]
    best = min(c for _, _, c in fits)
    close = [f for f in fits if f[2] <= best * 1.01 + 1e-9]
    if len(close) > 1 and w_real is not None and w_syn is not None:
        okw = np.isfinite(w_real).all(axis=1) & np.isfinite(w_syn).all(axis=1)
        resid = np.array([float(np.sum((w_real[okw] - w_syn[okw] @ M) ** 2)) for _, M, _ in close])
        close = [f for f, r in zip(close, resid) if r <= resid.min() * 1.01 + 1e-9]
    # still tied (rotation about one axis only): the smallest world offset
    W, M, _ = min(close, key=lambda f: float(rotation_angle_deg(f[0])))
    return W, M


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Rotation angle(s) in degrees of R (..., 3, 3)."""
    tr = np.trace(np.asarray(R, dtype=np.float64), axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def geodesic_deg(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """(...,) angle in degrees of R_aᵀ R_b for R_a, R_b (..., 3, 3)."""
    return rotation_angle_deg(np.einsum("...ji,...jk->...ik", R_a, R_b))


def axis_agreement(real: np.ndarray, syn: np.ndarray) -> dict[str, np.ndarray]:
    """Per-axis agreement of two signals (T, 3) on frames where both are finite.

    Returns {'r': (3,) Pearson correlation (NaN for a constant axis),
    'rmse': (3,) root-mean-square difference (signal units), 'n': frames used}.
    """
    real = np.asarray(real, dtype=np.float64)
    syn = np.asarray(syn, dtype=np.float64)
    ok = np.isfinite(real).all(axis=1) & np.isfinite(syn).all(axis=1)
    n = int(ok.sum())
    if n < 3:
        return {"r": np.full(3, np.nan), "rmse": np.full(3, np.nan), "n": n}
    x, y = real[ok], syn[ok]
    rmse = np.sqrt(np.mean((x - y) ** 2, axis=0))
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    den = np.sqrt((xc ** 2).sum(axis=0) * (yc ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 1e-12, (xc * yc).sum(axis=0) / den, np.nan)
    return {"r": r, "rmse": rmse, "n": n}


# --------------------------------------------------------------------------- DIP input


def read_dip_gt(path: str | Path) -> np.ndarray:
    """(T, 72) ``gt`` SMPL axis-angle poses of a DIP-IMU pickle; DatasetFormatError naming the file if absent."""
    path = Path(path)
    try:
        data = to_plain(restricted_load(path, what="DIP-IMU sequence"))
    except PickleReadError as exc:
        raise DatasetFormatError(path, f"not a readable pickle ({exc})") from None
    if not isinstance(data, dict) or "gt" not in data:
        raise DatasetFormatError(path, "no 'gt' SMPL poses: fidelity needs the ground-truth poses", field="gt")
    gt = np.asarray(data["gt"], dtype=np.float64)
    if gt.ndim != 2 or gt.shape[1] != 72:
        raise DatasetFormatError(path, f"shape {gt.shape}, expected (T, 72) SMPL axis-angle poses", field="gt")
    return gt


def dip_motion(gt: np.ndarray, fs: float = FS, name: str = "dip", gt_up: str = "y") -> Motion:
    """A z-up `Motion` from DIP ``gt`` poses (T, 72): zero translation and shape, SMPL joints.

    gt_up: 'y' (DIP's world; the root is rotated by ``Y_TO_Z``) or 'z'.
    Frames with non-finite poses get the rest pose (callers mask them).
    """
    if gt_up not in ("y", "z"):
        raise ValueError(f"gt_up must be 'y' or 'z', got {gt_up!r}")
    gt = np.asarray(gt, dtype=np.float64)
    T = gt.shape[0]
    poses = np.where(np.isfinite(gt), gt, 0.0).reshape(T, 24, 3).copy()
    if gt_up == "y":
        poses[:, 0] = matrix_to_axis_angle(np.einsum("ij,tjk->tik", Y_TO_Z, axis_angle_to_matrix(poses[:, 0])))
    return Motion(poses=poses, trans=np.zeros((T, 3)), betas=np.zeros(10), fps=float(fs),
                  joint_names=list(SMPL_JOINT_NAMES), gender="neutral", model_type="smpl", name=name,
                  provenance={"from": "DIP-IMU gt poses", "gt_up": gt_up, "translation": "none (zero)"})


@dataclass
class SynthSignals:
    """Synthetic signals of S sensors over T frames (z-up world).

    acc: (T, S, 3) specific force, sensor frame, m/s²; freeacc: (T, S, 3)
    world acceleration without gravity, m/s²; gyro: (T, S, 3) rad/s;
    R: (T, S, 3, 3) sensor-to-world rotations.
    """

    acc: np.ndarray
    freeacc: np.ndarray
    gyro: np.ndarray
    R: np.ndarray


def synthesize_dip(motion: Motion, body: BodyModel, sites: Sequence[Site]) -> SynthSignals:
    """Synthesise ``sites`` on ``body`` driven by ``motion`` at the motion's rate (resample strategy, span 1)."""
    attachments = attach_sites(body, list(sites), betas=motion.betas)
    cfg = SynthConfig(fps=float(motion.fps), signals=("acc", "gyro", "rot"))
    rec = synthesize(motion, body, attachments, cfg, source="fidelity")
    x = rec.signals.astype(np.float64).reshape(rec.n_frames, len(sites), 15)
    acc, gyro, R = x[..., :3], x[..., 3:6], x[..., 6:].reshape(rec.n_frames, len(sites), 3, 3)
    freeacc = np.einsum("tsij,tsj->tsi", R, acc) + GRAVITY
    return SynthSignals(acc=acc, freeacc=freeacc, gyro=gyro, R=R)


# --------------------------------------------------------------------------- results


@dataclass
class SensorFidelity:
    """Agreement of one sensor in one recording.

    metrics: {signal: {'raw' | 'aligned': {'r': [3], 'rmse': [3]}}};
    n_frames: frames where both sides are finite;
    mount_offset: Q (3, 3) fitted on acc (f_real ≈ Q f_syn); mount_offset_deg its angle;
    mount_offset_ori / world_offset_ori: M, V (3, 3) fitted jointly on orientations
        (R_real ≈ V R_syn M, `fit_world_and_mount`; M ≈ Qᵀ for a pure mounting offset);
    gyro_offset: G (3, 3) fitted on gyro (ω_real ≈ G ω_syn; G ≈ Mᵀ);
    world_offset: W (3, 3) fitted on freeacc (a_real ≈ W a_syn); world_offset_deg its angle;
    ori_err_deg: median geodesic angle real vs synthetic, {'raw', 'aligned'} (aligned: V R_syn M).
    """

    site: str
    n_frames: int
    metrics: dict[str, dict[str, dict[str, list[float]]]]
    mount_offset: np.ndarray
    mount_offset_deg: float
    mount_offset_ori: np.ndarray
    world_offset_ori: np.ndarray
    world_offset: np.ndarray
    gyro_offset: np.ndarray
    world_offset_deg: float
    ori_err_deg: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return _plain({"site": self.site, "n_frames": self.n_frames, "metrics": self.metrics,
                       "mount_offset": self.mount_offset, "mount_offset_deg": self.mount_offset_deg,
                       "mount_offset_ori": self.mount_offset_ori, "world_offset_ori": self.world_offset_ori,
                       "world_offset_ori_deg": float(rotation_angle_deg(self.world_offset_ori)),
                       "world_offset": self.world_offset, "gyro_offset": self.gyro_offset,
                       "world_offset_deg": self.world_offset_deg, "ori_err_deg": self.ori_err_deg})


@dataclass
class RecordingFidelity:
    """Fidelity of one recording: per-sensor results plus the missing root acceleration estimate (m/s²)."""

    name: str
    subject: str | None
    n_frames: int
    sensors: dict[str, SensorFidelity]
    missing_root_acc_rms: float
    real_root_freeacc_rms: float

    def to_dict(self) -> dict[str, Any]:
        return _plain({"name": self.name, "subject": self.subject, "n_frames": self.n_frames,
                       "missing_root_acc_rms": self.missing_root_acc_rms,
                       "real_root_freeacc_rms": self.real_root_freeacc_rms,
                       "sensors": {k: v.to_dict() for k, v in self.sensors.items()}})


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


@dataclass
class FidelityReport:
    """Fidelity over recordings; `summary` averages over recordings (mean, std) per sensor/signal/axis."""

    recordings: list[RecordingFidelity]
    settings: dict[str, Any] = field(default_factory=dict)

    def sites(self) -> list[str]:
        seen: dict[str, None] = {}
        for rec in self.recordings:
            seen.update(dict.fromkeys(rec.sensors))
        return list(seen)

    def per_sensor(self) -> dict[str, dict[str, dict[str, dict[str, dict[str, list[float]]]]]]:
        """{site: {signal: {'raw'|'aligned': {'r'|'rmse': {'mean': [3], 'std': [3]}}}}} over recordings."""
        out: dict[str, Any] = {}
        for site in self.sites():
            recs = [r.sensors[site] for r in self.recordings if site in r.sensors]
            out[site] = {}
            for sig in SIGNALS:
                out[site][sig] = {}
                for mode in ("raw", "aligned"):
                    out[site][sig][mode] = {}
                    for met in ("r", "rmse"):
                        vals = np.array([s.metrics[sig][mode][met] for s in recs], dtype=np.float64)
                        out[site][sig][mode][met] = {"mean": _nanmean(vals), "std": _nanstd(vals)}
        return out

    def summary(self) -> dict[str, Any]:
        """Headline numbers: per signal and mode, mean r and RMSE over sensors, axes and recordings;
        median orientation error; mean fitted offsets; missing root acceleration."""
        out: dict[str, Any] = {"n_recordings": len(self.recordings),
                               "n_frames": int(sum(r.n_frames for r in self.recordings))}
        sens = [s for r in self.recordings for s in r.sensors.values()]
        for sig in SIGNALS:
            for mode in ("raw", "aligned"):
                for met in ("r", "rmse"):
                    vals = np.array([s.metrics[sig][mode][met] for s in sens], dtype=np.float64)
                    out[f"{sig}_{met}_{mode}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else None
        for mode in ("raw", "aligned"):
            vals = np.array([s.ori_err_deg[mode] for s in sens], dtype=np.float64)
            out[f"ori_err_deg_{mode}"] = float(np.nanmedian(vals)) if np.isfinite(vals).any() else None
        out["mount_offset_deg_median"] = float(np.median([s.mount_offset_deg for s in sens])) if sens else None
        out["world_offset_deg_median"] = float(np.median([s.world_offset_deg for s in sens])) if sens else None
        out["world_offset_ori_deg_median"] = (
            float(np.median([rotation_angle_deg(s.world_offset_ori) for s in sens])) if sens else None)
        roots = np.array([r.missing_root_acc_rms for r in self.recordings], dtype=np.float64)
        out["missing_root_acc_rms_mean"] = float(np.nanmean(roots)) if np.isfinite(roots).any() else None
        return out

    def to_dict(self) -> dict[str, Any]:
        return _plain({"settings": self.settings, "summary": self.summary(), "per_sensor": self.per_sensor(),
                       "recordings": [r.to_dict() for r in self.recordings],
                       "virtimu_version": virtimu.__version__})

    def to_markdown(self) -> str:
        """Summary line plus a per-sensor table (mean over recordings) of r and RMSE per axis."""
        s = self.summary()
        lines = [f"Fidelity over {s['n_recordings']} recordings ({s['n_frames']} frames).", ""]
        lines.append("| signal | r raw | r aligned | RMSE raw | RMSE aligned |")
        lines.append("|---|---|---|---|---|")
        for sig in SIGNALS:
            lines.append(f"| {sig} ({UNITS[sig]}) | {_f(s[f'{sig}_r_raw'])} | {_f(s[f'{sig}_r_aligned'])} | "
                         f"{_f(s[f'{sig}_rmse_raw'])} | {_f(s[f'{sig}_rmse_aligned'])} |")
        ori = (f"Orientation error (median over sensors of per-recording medians): raw "
               f"{_f(s['ori_err_deg_raw'])} deg, aligned {_f(s['ori_err_deg_aligned'])} deg; mean fitted "
               f"mounting offset (median over sensors) {_f(s['mount_offset_deg_median'])} deg (acc), world offset "
               f"{_f(s['world_offset_ori_deg_median'])} deg (orientations), {_f(s['world_offset_deg_median'])} deg "
               f"(free acc).")
        root = (f"Root translation is absent from the poses: estimated missing root acceleration "
                f"(RMS at the {ROOT_SENSOR} sensor) {_f(s['missing_root_acc_rms_mean'])} m/s^2.")
        lines += ["", ori, root, ""]
        head = "| sensor | " + " | ".join(f"{sig} r {a}" for sig in SIGNALS for a in AXES) + \
               " | " + " | ".join(f"{sig} RMSE" for sig in SIGNALS) + " |"
        for mode in ("raw", "aligned"):
            lines += [f"Per sensor, {mode} (mean over recordings; RMSE averaged over axes):", "", head,
                      "|" + "---|" * (1 + 3 * len(SIGNALS) + len(SIGNALS))]
            for site, d in self.per_sensor().items():
                rs = [_f(v) for sig in SIGNALS for v in d[sig][mode]["r"]["mean"]]
                es = [_f(_axis_mean(d[sig][mode]["rmse"]["mean"])) for sig in SIGNALS]
                lines.append(f"| {site} | " + " | ".join(rs) + " | " + " | ".join(es) + " |")
            lines.append("")
        return "\n".join(lines)


def _nanmean(vals: np.ndarray) -> list[float]:
    ok = np.isfinite(vals)
    with np.errstate(invalid="ignore"):
        return [float(np.nanmean(vals[:, i])) if ok[:, i].any() else float("nan") for i in range(vals.shape[1])]


def _nanstd(vals: np.ndarray) -> list[float]:
    ok = np.isfinite(vals)
    return [float(np.nanstd(vals[:, i])) if ok[:, i].any() else float("nan") for i in range(vals.shape[1])]


def _axis_mean(values: Sequence[float]) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else None


def _f(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"


# --------------------------------------------------------------------------- comparison


def compare_sensor(site: str, real: dict[str, np.ndarray], syn: SynthSignals, s_real: int, s_syn: int
                   ) -> SensorFidelity:
    """Agreement of one sensor: real slot ``s_real`` of ``real`` (dip_signals output) vs synthetic slot ``s_syn``."""
    R_real = real["rot"][:, s_real].reshape(-1, 3, 3)
    R_syn = syn.R[:, s_syn]
    f_real, f_syn = real["acc"][:, s_real], syn.acc[:, s_syn]
    a_real, a_syn = real["freeacc"][:, s_real], syn.freeacc[:, s_syn]
    w_real, w_syn = real["gyro"][:, s_real], syn.gyro[:, s_syn]
    Q = kabsch(f_real, f_syn)  # f_real ≈ Q f_syn
    G = kabsch(w_real, w_syn)  # ω_real ≈ G ω_syn
    W = kabsch(a_real, a_syn)  # a_real ≈ W a_syn
    ok_R = np.isfinite(R_real).all(axis=(1, 2)) & np.isfinite(R_syn).all(axis=(1, 2))
    W_ori, M = fit_world_and_mount(R_real, R_syn, w_real, w_syn)  # R_real ≈ W_ori R_syn M
    metrics: dict[str, dict[str, dict[str, list[float]]]] = {}
    pairs = {"acc": (f_real, f_syn, f_syn @ Q.T), "freeacc": (a_real, a_syn, a_syn @ W.T),
             "gyro": (w_real, w_syn, w_syn @ G.T)}
    n = 0
    for sig, (x, y_raw, y_al) in pairs.items():
        raw = axis_agreement(x, y_raw)
        al = axis_agreement(x, y_al)
        n = max(n, raw["n"])
        metrics[sig] = {"raw": {"r": raw["r"].tolist(), "rmse": raw["rmse"].tolist()},
                        "aligned": {"r": al["r"].tolist(), "rmse": al["rmse"].tolist()}}
    err_raw = geodesic_deg(R_real[ok_R], R_syn[ok_R])
    err_al = geodesic_deg(R_real[ok_R], np.einsum("ij,tjk->tik", W_ori, R_syn[ok_R]) @ M)
    med = (lambda e: float(np.median(e)) if e.size else float("nan"))
    return SensorFidelity(site=site, n_frames=n, metrics=metrics, mount_offset=Q,
                          mount_offset_deg=float(rotation_angle_deg(Q)), mount_offset_ori=M,
                          world_offset_ori=W_ori, world_offset=W, gyro_offset=G,
                          world_offset_deg=float(rotation_angle_deg(W)),
                          ori_err_deg={"raw": med(err_raw), "aligned": med(err_al)})


def compare_sequence(acc_y: np.ndarray, ori_y: np.ndarray, gt: np.ndarray, body: BodyModel,
                     sites: Sequence[str] | None = None, fs: float = FS, name: str = "dip",
                     subject: str | None = None, gt_up: str = "y") -> RecordingFidelity:
    """Fidelity of one DIP-layout sequence.

    acc_y: (T, 17, 3) DIP ``imu_acc``; ori_y: (T, 17, 3, 3) ``imu_ori``; gt: (T, 72)
    poses; sites: DIP sites to compare (default all 17, `DIP_SITES` names).
    """
    chosen = list(DIP_SITES) if sites is None else list(sites)
    bad = [s for s in chosen if s not in DIP_SITES]
    if bad:
        raise ValueError(f"unknown DIP sensor sites {bad}; valid: {list(DIP_SITES)}")
    if not (acc_y.shape[0] == ori_y.shape[0] == gt.shape[0]):
        raise ValueError(f"{name}: imu_acc {acc_y.shape[0]}, imu_ori {ori_y.shape[0]} and gt {gt.shape[0]} "
                         "frames differ")
    real = dip_signals(acc_y, ori_y, fs)
    preset = resolve_sites(None, preset="dip-full")
    by_name = {s.name: s for s in preset}
    sites_obj = [by_name[s] for s in chosen]
    syn = synthesize_dip(dip_motion(gt, fs, name, gt_up), body, sites_obj)
    bad_gt = ~np.isfinite(gt).all(axis=1)
    if bad_gt.any():
        for arr in (syn.acc, syn.freeacc, syn.gyro):
            arr[bad_gt] = np.nan
        syn.R[bad_gt] = np.nan
    sensors = {}
    for j, site in enumerate(chosen):
        sensors[site] = compare_sensor(site, real, syn, DIP_SITES.index(site), j)
    miss = real_rms = float("nan")
    if ROOT_SENSOR in chosen:
        d = real["freeacc"][:, DIP_SITES.index(ROOT_SENSOR)] - syn.freeacc[:, chosen.index(ROOT_SENSOR)]
        ok = np.isfinite(d).all(axis=1)
        if ok.any():
            miss = float(np.sqrt(np.mean(np.sum(d[ok] ** 2, axis=1))))
            a = real["freeacc"][ok, DIP_SITES.index(ROOT_SENSOR)]
            real_rms = float(np.sqrt(np.mean(np.sum(a ** 2, axis=1))))
    return RecordingFidelity(name=name, subject=subject, n_frames=int(gt.shape[0]), sensors=sensors,
                             missing_root_acc_rms=miss, real_root_freeacc_rms=real_rms)


def dip_files(root: str | Path) -> list[tuple[str, Path]]:
    """[(subject, path), ...] of every ``s_NN/<seq>.pkl`` under a DIP-IMU folder (sorted)."""
    data_dir = find_data_dir(Path(root))
    out = []
    for subject_dir in sorted(p for p in data_dir.iterdir() if p.is_dir() and SUBJECT_PATTERN.match(p.name)):
        out += [(subject_dir.name, p) for p in sorted(subject_dir.glob("*.pkl")) if FILE_PATTERN.match(p.name)]
    if not out:
        raise DatasetFormatError(data_dir, "no DIP-IMU sequence files (s_NN/<NN>.pkl) found")
    return out


def dip_fidelity(root: str | Path, body: BodyModel, sites: Sequence[str] | None = None, gt_up: str = "y",
                 max_files: int | None = None, progress: bool = True,
                 files: Iterable[tuple[str, Path]] | None = None) -> FidelityReport:
    """Fidelity of every sequence of a DIP-IMU folder (or of ``files``), see module docstring."""
    from tqdm.auto import tqdm

    todo = list(files) if files is not None else dip_files(root)
    if max_files is not None:
        todo = todo[:max_files]
    recs = []
    for subject, path in tqdm(todo, desc="fidelity", unit="seq", disable=not progress):
        acc, ori = read_sequence(path)
        gt = read_dip_gt(path)
        if gt.shape[0] != acc.shape[0]:
            raise DatasetFormatError(path, f"gt has {gt.shape[0]} frames, imu_acc {acc.shape[0]}", field="gt")
        recs.append(compare_sequence(acc, ori, gt, body, sites, FS, f"{subject}_{path.stem}", subject, gt_up))
    settings = {"root": str(root), "body": body.name, "sites": list(sites or DIP_SITES), "gt_up": gt_up,
                "fs": FS, "alignment": "per sensor: acc by Kabsch on acc (mount Q), gyro by Kabsch on gyro (G), freeacc "
                             "by Kabsch on freeacc (world W), orientation by a joint world/mount fit (V, M)",
                "translation": "none: DIP gt has no root translation"}
    return FidelityReport(recordings=recs, settings=settings)
