"""Fit a device model (`virtimu.sensors.noise`) to static segments of real recordings.

Input: recordings with per-frame labels (e.g. UCI HAPT, whose SITTING,
STANDING and LAYING segments are the wearer keeping still) and
``<site>/acc_*`` / ``<site>/gyro_*`` channels in SI units.  Each labelled
static run, trimmed by ``trim_s`` at both ends (posture transitions bleed
into the labels), is one *segment*.  Per signal kind and axis:

* **white noise density** (one-sided, units/√Hz, `SensorErrors.noise_density`):
  from the slope −1/2 part of the pooled overlapping Allan deviation
  (`allan.white_noise_from_allan`, × √2) when the curve has one at τ <= 1 s;
  otherwise from the top of the spectrum (`allan.white_density_from_psd`,
  median Welch PSD between 75 % and 95 % of Nyquist).  The method used is
  recorded per axis.
* **bias instability**: ADEV minimum / 0.664 (IEEE Std 952); reported only
  (the device model has no flicker term).
* **bias random walk**: the data give an upper bound ``K <= min_τ ADEV(τ)·√(3/τ)``
  (and a fit where the curve has a +1/2 slope part); the model keeps the
  base preset's ``bias_walk`` unless it exceeds that bound.
* **bias spread**: gyro: each recording's mean rate over its static
  segments is its bias (a still body turns at ~0 rad/s on average); the
  spread is the std of these across recordings.  acc: the constant
  offset ``b`` of all segment means ``m_i`` from ``|m_i − b| = |g|``
  (least squares; needs several postures), and the segment residuals
  ``r_i = |m_i − b| − |g| ≈ u_i · δ`` (``u_i`` the unit gravity direction,
  ``δ`` the segment's bias deviation), whose RMS equals the per-axis std of
  δ when it is isotropic.  The model's ``bias_std`` is the RMS constant
  offset per axis: gyro ``√(mean b_rec²)``, acc ``√(|b|²/3 + mean r_i²)`` —
  the measured device's own offset counts as one draw of a device of its kind.
* **quantisation step** (smallest spacing of the recorded values, when the
  values repeat like those of an ADC) and **range** (the largest |value|,
  taken as the full scale when several samples sit within 1.5 steps of it:
  the sensor clipped there).

Static segments are never perfectly still: body sway, breathing and the
heartbeat add low-frequency motion, so every fitted term is an **upper
bound** on the sensor's own noise (the PSD floor least affected).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import least_squares
from tqdm.auto import tqdm

import virtimu
from virtimu.fidelity import allan
from virtimu.io.atomic import write_text_atomic
from virtimu.sensors.noise import DeviceModel, SensorErrors
from virtimu.sensors.signals import GRAVITY, SIGNAL_UNITS
from virtimu.types import Recording

log = logging.getLogger(__name__)

__all__ = [
    "FIT_KINDS",
    "STATIC_ACTIVITIES",
    "AxisNoise",
    "KindNoise",
    "NoiseFit",
    "StaticSegment",
    "device_yaml_text",
    "fit_noise",
    "load_device_yaml",
    "quantisation_step",
    "static_segments",
    "write_device_yaml",
]

#: Label names of static postures (HAPT / UCI HAR spelling; matched case-insensitively).
STATIC_ACTIVITIES: tuple[str, ...] = ("SITTING", "STANDING", "LAYING")
#: Signal kinds fitted.
FIT_KINDS: tuple[str, ...] = ("acc", "gyro")
AXES = ("x", "y", "z")
#: Condition number above which the accelerometer offset is not identifiable from the postures seen.
MAX_OFFSET_CONDITION = 10.0
#: Largest averaging factor per segment, as a fraction of its length (>= 4 clusters per estimate).
PIECE_FRACTION = 0.25
#: Fewest clusters (summed over segments) behind a point of the pooled curve used in a fit.
MIN_CLUSTERS = 30
#: Largest |values| kept per recording and signal kind to detect clipping.
TOP_VALUES = 64
#: Largest cluster time (s) where a slope −1/2 part counts as the white-noise term.
WHITE_TAU_MAX = 1.0


@dataclass
class StaticSegment:
    """One trimmed static run of one recording.

    signals: {kind: (L, 3) array in SI units} per site, keyed ``(site, kind)``.
    """

    recording: str
    subject: str | None
    activity: str
    start: int
    stop: int
    signals: dict[tuple[str, str], np.ndarray]

    @property
    def n_samples(self) -> int:
        return self.stop - self.start


def _triplets(channels: Sequence[str], kinds: Sequence[str]) -> dict[tuple[str, str], list[int]]:
    """{(site, kind): [ix, iy, iz]} for every site holding all three axes of a kind."""
    index = {c: i for i, c in enumerate(channels)}
    sites = sorted({c.split("/", 1)[0] for c in channels if "/" in c})
    out: dict[tuple[str, str], list[int]] = {}
    for site in sites:
        for kind in kinds:
            names = [f"{site}/{kind}_{a}" for a in AXES]
            if all(n in index for n in names):
                out[(site, kind)] = [index[n] for n in names]
    return out


def static_segments(rec: Recording, activities: Sequence[str] = STATIC_ACTIVITIES, trim_s: float = 1.0,
                    min_s: float = 5.0, kinds: Sequence[str] = FIT_KINDS) -> list[StaticSegment]:
    """Trimmed runs of the static ``activities`` in ``rec`` (label names matched case-insensitively).

    A run keeps frames ``[start + trim, stop − trim)`` (trim = ``trim_s · fs``
    frames) and is dropped when shorter than ``min_s`` after trimming or when
    any of its samples is NaN.  Returns [] for a recording without labels or
    without acc/gyro triplets.
    """
    if rec.labels is None or rec.label_map is None:
        return []
    wanted = {a.lower() for a in activities}
    codes = {int(c): n for c, n in rec.label_map.items() if str(n).lower() in wanted}
    triplets = _triplets(rec.channels, kinds)
    if not codes or not triplets:
        return []
    labels = np.asarray(rec.labels)
    trim = round(trim_s * rec.fs)
    min_len = round(min_s * rec.fs)
    x = np.asarray(rec.signals, dtype=np.float64)
    out = []
    for code, name in codes.items():
        edges = np.flatnonzero(np.diff(np.r_[0, (labels == code).astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            a2, b2 = int(a) + trim, int(b) - trim
            if b2 - a2 < min_len:
                continue
            sig = {key: x[a2:b2, cols] for key, cols in triplets.items()}
            if not all(np.isfinite(v).all() for v in sig.values()):
                continue
            out.append(StaticSegment(rec.name, rec.subject, str(name), a2, b2, sig))
    out.sort(key=lambda s: s.start)
    return out


def quantisation_step(x: np.ndarray, max_unique_fraction: float = 0.5) -> float | None:
    """The spacing of an ADC's output levels in ``x`` (any shape), or None when ``x`` looks unquantised.

    Quantised data repeat values: with fewer than ``max_unique_fraction`` ×
    size distinct values, the step is the median of the gaps between
    neighbouring distinct values that are below 1.5 × the smallest gap.
    """
    v = np.unique(np.asarray(x, dtype=np.float64)[np.isfinite(x)])
    if v.size < 3 or v.size > max_unique_fraction * np.size(x):
        return None
    d = np.diff(v)
    d = d[d > 0]
    small = d[d < 1.5 * d.min()]
    return float(np.median(small))


@dataclass
class AxisNoise:
    """Fitted noise terms of one axis (units of the signal kind; densities one-sided, units/√Hz)."""

    axis: str
    white_density: float
    white_method: str
    white_density_psd: float
    white_density_allan: float
    adev_at_1s: float
    bias_instability: float
    bias_instability_tau: float
    bias_instability_at_edge: bool
    random_walk_fit: float
    random_walk_upper: float


@dataclass
class KindNoise:
    """Fitted device terms of one signal kind (all sites pooled).

    noise_density: RMS over axes of the axes' white densities (units/√Hz).
    bias_offset: {site: (3,) constant offset of the device} (acc: sphere
        fit, None when the postures do not determine it; gyro: mean bias).
    bias_spread: gyro: RMS over axes of the std of the per-recording
        biases across recordings; acc: RMS of the segment |g| residuals
        (the per-axis bias std under isotropy), both around the device offset.
    bias_std: the device model's constant-bias std (see module docstring).
    bias_walk_upper: the smallest axis bound on a bias random walk (units/√s).
    taus / adev: pooled Allan deviation curve, (K,) s and (K, 3).
    """

    kind: str
    unit: str
    axes: list[AxisNoise]
    noise_density: float
    bias_offset: dict[str, list[float] | None]
    bias_spread: float
    bias_std: float
    bias_walk_upper: float
    quantisation_step: float | None
    observed_max: float
    saturated: bool
    n_segments: int
    seconds: float
    taus: np.ndarray = field(repr=False)
    adev: np.ndarray = field(repr=False)
    #: gyro: {"<recording>/<site>": (3,) mean rate}; acc: {"<recording>/<site>": segment |g| residuals}.
    recording_bias: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["taus"] = np.asarray(self.taus).tolist()
        d["adev"] = np.where(np.isfinite(self.adev), self.adev, np.nan).tolist()
        return _plain(d)


@dataclass
class NoiseFit:
    """Result of `fit_noise`: per kind fits plus what they came from."""

    fs: float
    activities: list[str]
    trim_s: float
    n_recordings: int
    n_segments: int
    kinds: dict[str, KindNoise]
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _plain({"fs": self.fs, "activities": self.activities, "trim_s": self.trim_s,
                       "n_recordings": self.n_recordings, "n_segments": self.n_segments, "sources": self.sources,
                       "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
                       "virtimu_version": virtimu.__version__})

    def to_device_model(self, base: str = "smartphone", name: str = "fitted") -> DeviceModel:
        """A `DeviceModel` with the fitted terms; terms the data cannot give come from preset ``base``.

        Per fitted kind: ``noise_density`` (fitted), ``bias_std`` (fitted),
        ``bias_walk`` (the base value, capped by the data's upper bound),
        ``full_scale`` (observed clipping level, else the base value),
        ``lsb`` (the measured quantisation step; the base ``bits``
        otherwise).  Kinds not fitted (e.g. mag) keep the base preset.
        """
        model = DeviceModel.preset(base)
        kinds: dict[str, SensorErrors] = {}
        for kind, fit in self.kinds.items():
            b: SensorErrors = getattr(model, kind)
            walk = b.bias_walk if not np.isfinite(fit.bias_walk_upper) else min(b.bias_walk, fit.bias_walk_upper)
            full_scale = fit.observed_max if fit.saturated else b.full_scale
            lsb, bits = (fit.quantisation_step, None) if fit.quantisation_step else (b.lsb, b.bits)
            if bits is not None and full_scale is None:
                bits = None
            kinds[kind] = replace(b, noise_std=0.0, noise_density=_finite(fit.noise_density, 0.0),
                                  bias_std=_finite(fit.bias_std, b.bias_std), bias_walk=float(walk),
                                  full_scale=full_scale, bits=bits, lsb=lsb)
        return replace(model, name=name, **kinds)


def _finite(value: float, default: float) -> float:
    return float(value) if value is not None and np.isfinite(value) else float(default)


def _plain(obj: Any) -> Any:
    """JSON/YAML-friendly copy: numpy scalars/arrays to Python, NaN to None, tuple keys joined."""
    if isinstance(obj, dict):
        return {("/".join(k) if isinstance(k, tuple) else str(k)): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --------------------------------------------------------------------------- fitting


def _axis_noise(axis: str, taus: np.ndarray, adev: np.ndarray, n_clusters: np.ndarray,
                psd_density: float) -> AxisNoise:
    """Noise terms of one axis from its pooled ADEV curve and its PSD floor."""
    short = taus <= WHITE_TAU_MAX
    n_allan = allan.white_noise_from_allan(taus[short], adev[short], n_clusters=n_clusters[short],
                                           min_clusters=MIN_CLUSTERS)
    d_allan = n_allan * allan.ONE_SIDED_FROM_ALLAN
    method = "allan" if np.isfinite(d_allan) else "psd"
    white = d_allan if method == "allan" else psd_density
    B, tau_b, edge = allan.bias_instability(taus, adev, n_clusters=n_clusters, min_clusters=MIN_CLUSTERS)
    ok = np.isfinite(adev) & (n_clusters >= MIN_CLUSTERS)
    k_upper = float(np.min(adev[ok] * np.sqrt(3.0 / taus[ok]))) if ok.any() else float("nan")
    k_fit = allan.random_walk_from_allan(taus, adev, n_clusters=n_clusters, min_clusters=MIN_CLUSTERS)
    i1 = int(np.argmin(np.abs(np.log(taus) - 0.0)))
    return AxisNoise(axis=axis, white_density=float(white), white_method=method,
                     white_density_psd=float(psd_density), white_density_allan=float(d_allan),
                     adev_at_1s=float(adev[i1]) if abs(np.log(taus[i1])) < 0.2 else float("nan"),
                     bias_instability=B, bias_instability_tau=tau_b, bias_instability_at_edge=edge,
                     random_walk_fit=k_fit, random_walk_upper=k_upper)


def _acc_offset(means: np.ndarray, g: float) -> tuple[np.ndarray | None, np.ndarray]:
    """Offset b (3,) with |m_i − b| ≈ g by least squares, and the residuals |m_i − b| − g (n,).

    b is None (and the residuals are |m_i| − g) when fewer than 4 means or
    too similar orientations leave b undetermined.
    """
    plain = np.linalg.norm(means, axis=1) - g
    if len(means) < 4:
        return None, plain
    res = least_squares(lambda b: np.linalg.norm(means - b, axis=1) - g, np.zeros(3))
    cond = float(np.linalg.cond(res.jac)) if np.isfinite(res.jac).all() else np.inf
    if cond > MAX_OFFSET_CONDITION:
        log.info("accelerometer offset not identifiable (condition number %.1f): postures too alike", cond)
        return None, plain
    return res.x, res.fun


def fit_noise(recordings: Iterable[Recording], activities: Sequence[str] = STATIC_ACTIVITIES, trim_s: float = 1.0,
              min_s: float = 5.0, psd_band: tuple[float, float] = (0.75, 0.95), nperseg: int = 256,
              kinds: Sequence[str] = FIT_KINDS, progress: bool = True) -> NoiseFit:
    """Fit device noise terms to the static segments of ``recordings`` (see module docstring).

    All recordings must share one sampling rate; segments shorter than
    ``nperseg`` samples after trimming are skipped by the PSD.  Raises
    ValueError when no static segment is found.
    """
    fs: float | None = None
    segments: list[StaticSegment] = []
    sources: set[str] = set()
    n_rec = 0
    extremes: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    steps: dict[str, list[float | None]] = {k: [] for k in kinds}
    for rec in tqdm(recordings, desc="static segments", unit="rec", disable=not progress):
        if fs is None:
            fs = float(rec.fs)
        elif not np.isclose(fs, rec.fs):
            raise ValueError(f"{rec.source}/{rec.name}: {rec.fs} Hz, but earlier recordings are {fs} Hz; "
                             "fit one rate at a time")
        segs = static_segments(rec, activities, trim_s, min_s, kinds)
        trip = _triplets(rec.channels, kinds)
        for (_, kind), cols in trip.items():
            block = np.abs(np.asarray(rec.signals[:, cols], dtype=np.float64))
            block = block[np.isfinite(block)]
            extremes[kind].append(np.sort(block)[-TOP_VALUES:])  # enough to see clipping
            steps[kind].append(quantisation_step(np.asarray(rec.signals[:, cols])))
        if segs:
            n_rec += 1
            sources.add(rec.source)
        segments += segs
    if not segments or fs is None:
        raise ValueError(f"no static segments ({', '.join(activities)}) of at least {min_s:g} s after trimming "
                         f"{trim_s:g} s found in the recordings")
    g = float(np.linalg.norm(GRAVITY))
    out: dict[str, KindNoise] = {}
    for kind in kinds:
        keys = sorted({key for s in segments for key in s.signals if key[1] == kind})
        if not keys:
            continue
        pieces = [s.signals[key] for s in segments for key in keys if key in s.signals]
        grid = allan.averaging_factors(max(len(p) for p in pieces), max_fraction=PIECE_FRACTION)
        curve = allan.pool_allan([allan.allan_variance(p, fs, grid, max_fraction=PIECE_FRACTION) for p in pieces])
        f, psd = allan.mean_psd(pieces, fs, nperseg)
        dens = allan.white_density_from_psd(f, psd, fs, psd_band)
        adev = curve.adev
        axes = [_axis_noise(a, curve.taus, adev[:, i], curve.n_clusters, float(dens[i])) for i, a in enumerate(AXES)]
        offsets: dict[str, list[float] | None] = {}
        rec_bias: dict[str, list[float]] = {}
        if kind == "acc":
            sq, resid_all = [], []
            for key in keys:
                segs_k = [s for s in segments if key in s.signals]
                means = np.stack([s.signals[key].mean(axis=0) for s in segs_k])
                b, resid = _acc_offset(means, g)
                offsets[key[0]] = None if b is None else b.tolist()
                names = np.array([s.recording for s in segs_k])
                rec_bias.update({f"{n}/{key[0]}": resid[names == n].tolist() for n in dict.fromkeys(names)})
                resid_all.append(resid)
                sq.append((0.0 if b is None else float(b @ b) / 3.0) + float(np.mean(resid ** 2)))
            bias_std = float(np.sqrt(np.mean(sq)))
            spread = float(np.sqrt(np.mean(np.concatenate(resid_all) ** 2)))
        else:
            all_b, spreads = [], []
            for key in keys:
                per_rec: dict[str, list[np.ndarray]] = {}
                for s in segments:
                    if key in s.signals:
                        per_rec.setdefault(s.recording, []).append(s.signals[key])
                bias = np.stack([np.concatenate(v).mean(axis=0) for v in per_rec.values()])  # (R, 3)
                rec_bias.update({f"{n}/{key[0]}": b.tolist() for n, b in zip(per_rec, bias)})
                offsets[key[0]] = bias.mean(axis=0).tolist()
                all_b.append(bias)
                if len(bias) > 1:
                    spreads.append(float(np.sqrt(np.mean(bias.std(axis=0, ddof=1) ** 2))))
            bias_std = float(np.sqrt(np.mean(np.concatenate(all_b) ** 2)))
            spread = float(np.sqrt(np.mean(np.square(spreads)))) if spreads else float("nan")
        ext = np.concatenate(extremes[kind]) if extremes[kind] else np.zeros(1)
        step_vals = [s for s in steps[kind] if s]
        step = float(np.median(step_vals)) if step_vals and len(step_vals) >= len(steps[kind]) / 2 else None
        top = float(np.max(np.abs(ext)))
        near = int(np.sum(np.abs(ext) >= top - 1.5 * (step or 0.0))) if step else 1
        out[kind] = KindNoise(
            kind=kind, unit=SIGNAL_UNITS.get(kind, ""), axes=axes,
            noise_density=float(np.sqrt(np.mean([a.white_density ** 2 for a in axes]))),
            bias_offset=offsets, bias_spread=spread, bias_std=bias_std,
            bias_walk_upper=float(np.nanmin([a.random_walk_upper for a in axes])),
            quantisation_step=step, observed_max=top, saturated=near >= 5,
            n_segments=len(pieces), seconds=float(sum(len(p) for p in pieces) / fs),
            taus=curve.taus, adev=adev, recording_bias=rec_bias)
        log.info("%s: white %.4g %s/sqrt(Hz) (%s), bias std %.4g", kind, out[kind].noise_density,
                 out[kind].unit, "/".join(a.white_method for a in axes), bias_std)
    return NoiseFit(fs=fs, activities=list(activities), trim_s=float(trim_s), n_recordings=n_rec,
                    n_segments=len(segments), kinds=out, sources=sorted(sources))


# --------------------------------------------------------------------------- YAML


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def device_yaml_text(model: DeviceModel, fit: NoiseFit | None = None, base: str | None = None,
                     command: str | None = None) -> str:
    """The device-model YAML (``DeviceModel.from_dict`` reads it), with the fit documented in comments."""
    lines = ["# virtimu device model (virtimu.sensors.noise.DeviceModel.from_dict format)."]
    if command:
        lines.append(f"# Generated by: {command}")
    if fit is not None:
        lines += [
            (f"# Fitted by virtimu {virtimu.__version__} (virtimu.fidelity.calibrate) on {fit.n_segments} static "
             f"segments ({', '.join(fit.activities)}; trimmed {fit.trim_s:g} s each side) of {fit.n_recordings} "
             f"recordings from {', '.join(fit.sources)} at {fit.fs:g} Hz."),
            "# Static segments include body sway, breathing and heartbeat: the fitted noise is an UPPER BOUND",
            "# on the sensor's own noise.  Densities are one-sided (units/sqrt(Hz)); per-sample std = density *",
            "# sqrt(fs/2).  Terms the data cannot give (bias_walk beyond its upper bound, mag) come from the",
            f"# '{base}' preset.",
        ]
        for kind, k in fit.kinds.items():
            lines.append(f"# {kind} ({k.unit}), {k.n_segments} segments, {k.seconds:.0f} s:")
            for a in k.axes:
                lines.append(
                    f"#   {a.axis}: white {_fmt(a.white_density)} /sqrt(Hz) [{a.white_method}; PSD floor "
                    f"{_fmt(a.white_density_psd)}, Allan -1/2 slope {_fmt(a.white_density_allan)}], "
                    f"bias instability {_fmt(a.bias_instability)} at tau {_fmt(a.bias_instability_tau)} s"
                    f"{' (no floor seen: upper bound)' if a.bias_instability_at_edge else ''}, "
                    f"random walk <= {_fmt(a.random_walk_upper)} /sqrt(s)")
            offs = "; ".join(f"{site}: {'not identifiable' if b is None else [round(v, 5) for v in b]}"
                             for site, b in k.bias_offset.items())
            what = "segment |g| residual RMS" if kind == "acc" else "spread across recordings"
            lines.append(f"#   device offset {offs}; {what} {_fmt(k.bias_spread)}; "
                         f"bias_std {_fmt(k.bias_std)}")
            lines.append(f"#   quantisation step {_fmt(k.quantisation_step)}; largest |value| {_fmt(k.observed_max)}"
                         f"{' (clipped there)' if k.saturated else ''}")
    body = yaml.safe_dump(_plain(model.to_dict()), sort_keys=False, default_flow_style=False)
    return "\n".join(lines) + "\n" + body


def write_device_yaml(path: str | Path, model: DeviceModel, fit: NoiseFit | None = None, base: str | None = None,
                      command: str | None = None) -> Path:
    """Write `device_yaml_text` atomically; returns the path."""
    return write_text_atomic(path, device_yaml_text(model, fit, base, command))


def load_device_yaml(path: str | Path) -> DeviceModel:
    """Read a device-model YAML file (``DeviceModel.from_dict`` format).

    Raises ValueError naming the file for unreadable files, invalid YAML or
    invalid device-model fields.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read device model ({type(exc).__name__}: {exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    try:
        return DeviceModel.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: {exc}") from None
