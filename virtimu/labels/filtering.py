"""Acceleration-based label filtering: drop windows whose motion contradicts their label.

A label says "walking"; the thigh accelerometer of that window should then
show a step rhythm and clear dynamics.  A label says "standing"; every
accelerometer should then be quiet.  This module computes simple per-window
statistics of the specific force (and the gyro) at each sensor site, reads
per-class conditions on those statistics from YAML (``filters.yaml`` ships
with virtimu), and drops the windows whose class has rules and that fail any
of them, with a report of what was dropped and why.

This is the "acceleration-based filtering" step of the AMASS label-cleaning
procedure of Xia et al. (paper 001, section 2.3), which removes windows whose
acceleration characteristics (peaks, variances, ...) contradict their label;
the statistics and thresholds here are our own choices, documented in the
rules file.

Statistics (per window, per site; keys ``'<site>/<name>'``):

=================  =====  ===========================================================
name               unit   meaning
=================  =====  ===========================================================
``acc_mean``       m/s²   mean of the specific-force magnitude ``|a|``
``acc_std``        m/s²   standard deviation of ``|a|`` (population, ddof = 0)
``acc_var``        m²/s⁴  variance of ``|a|``
``acc_peak``       m/s²   maximum of ``|a|``
``acc_min``        m/s²   minimum of ``|a|`` (near 0 in free fall: flight phases)
``acc_p2p``        m/s²   peak-to-peak of ``|a|`` (max − min)
``acc_dyn_std``    m/s²   RMS of ``a − mean(a)`` (the window mean removes gravity and
                          slow posture): ``sqrt(trace(cov(a)))``; also sees rotations
                          of the sensor that leave ``|a|`` unchanged
``acc_dom_freq``   Hz     dominant frequency of ``|a|`` (detrended, Hann window,
                          zero-padded FFT), 0 when ``|a|`` is flat
``acc_gait_frac``  1      fraction of the spectral power of ``|a|`` (above
                          ``min_freq``) in the gait band, 0.5–3 Hz by default
``gyro_mean``      rad/s  mean of the angular-rate magnitude (sites with gyro)
``gyro_peak``      rad/s  maximum of the angular-rate magnitude
=================  =====  ===========================================================
"""
from __future__ import annotations

import fnmatch
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from virtimu.types import WindowSet

logger = logging.getLogger(__name__)

#: Magnitude of gravity, m/s² (the value of ``virtimu.sensors.signals.GRAVITY``).
G = 9.81

#: The 12 activity categories of the synthetic label set (null = code 0 is not a category).
SYNTHETIC_CLASSES: tuple[str, ...] = (
    "walking", "running", "jumping", "standing", "sitting", "lying", "stairs",
    "arm_stretching", "leg_stretching", "arm_gestures", "object_interaction", "dancing",
)

#: Statistic names computed per site, with units (see the module docstring).
STATISTICS: dict[str, str] = {
    "acc_mean": "m/s^2",
    "acc_std": "m/s^2",
    "acc_var": "m^2/s^4",
    "acc_peak": "m/s^2",
    "acc_min": "m/s^2",
    "acc_p2p": "m/s^2",
    "acc_dyn_std": "m/s^2",
    "acc_dom_freq": "Hz",
    "acc_gait_frac": "1",
    "gyro_mean": "rad/s",
    "gyro_peak": "rad/s",
}

#: Gait band (Hz) of ``acc_gait_frac``: stride to fast-step frequencies.
GAIT_BAND = (0.5, 3.0)

_ACC_AXES = ("acc_x", "acc_y", "acc_z")
_GYRO_AXES = ("gyro_x", "gyro_y", "gyro_z")
_OPERATORS = ("min", "max", "between")
_MATCH = ("all", "any")
_CONDITION_KEYS = {"stat", "why", "match", *_OPERATORS}
_TOP_KEYS = {"version", "description", "classes"}


# --------------------------------------------------------------------------- statistics

def _sites_with(channels: Sequence[str], axes: Sequence[str]) -> list[str]:
    """Sites (in channel order) that have all of ``<site>/<axis>`` for ``axes``."""
    present = set(channels)
    sites: list[str] = []
    for ch in channels:
        site, _, _ = ch.rpartition("/")
        if site and site not in sites and all(f"{site}/{a}" in present for a in axes):
            sites.append(site)
    return sites


def acc_sites(channels: Sequence[str]) -> list[str]:
    """Sites that have ``acc_x``, ``acc_y`` and ``acc_z`` channels, in channel order."""
    return _sites_with(channels, _ACC_AXES)


def _nfft(length: int, fs: float, resolution: float) -> int:
    """FFT length: a power of two, at least ``length`` and fine enough for ``resolution`` Hz."""
    need = max(length, math.ceil(fs / resolution))
    return 1 << (need - 1).bit_length()


def spectral_peak(x: np.ndarray, fs: float, *, min_freq: float = 0.3,
                  band: tuple[float, float] = GAIT_BAND, resolution: float = 0.05,
                  flat_rms: float = 0.02, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Dominant frequency and band power fraction of signals, one per row.

    x: (N, L) signals (e.g. ``|a|`` in m/s²) sampled at ``fs`` Hz.
    Each row is linearly detrended, multiplied by a Hann window and
    zero-padded to a power of two with a bin spacing of at most
    ``resolution`` Hz (the padding interpolates the spectrum; the true
    resolution of an L-sample window stays about ``fs / L``), and the peak
    is refined between bins by a parabola through the log power of the
    largest bin and its neighbours.  Frequencies below ``min_freq`` Hz
    (leftover trend) are ignored.

    Returns ``(dom_freq (N,) Hz, band_frac (N,))``: the frequency of the
    largest power peak at or above ``min_freq`` and the fraction of that power
    lying in ``band`` (inclusive).  Rows whose detrended RMS is below
    ``flat_rms`` (the units of ``x``) are flat: both are 0.  Rows holding a
    NaN give NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"spectral_peak: x must be (N, L), got {x.shape}")
    n, length = x.shape
    dom = np.zeros(n)
    frac = np.zeros(n)
    if n == 0 or length < 3:
        return dom, frac
    nfft = _nfft(length, fs, resolution)
    freqs = np.fft.rfftfreq(nfft, d=1.0 / fs)
    search = freqs >= min_freq
    if not search.any():
        raise ValueError(f"spectral_peak: min_freq {min_freq} Hz is above Nyquist ({fs / 2} Hz)")
    in_band = search & (freqs >= band[0]) & (freqs <= band[1])
    f_search = freqs[search]
    t = np.arange(length, dtype=np.float64)
    t -= t.mean()
    hann = np.hanning(length)
    for lo in range(0, n, chunk):
        xs = x[lo:lo + chunk]
        # Linear detrend by least squares on a centred time axis (closed form).
        xs = xs - xs.mean(axis=1, keepdims=True)
        slope = (xs @ t) / (t @ t)
        xs = xs - slope[:, None] * t[None, :]
        rms = np.sqrt(np.mean(xs * xs, axis=1))
        power = np.abs(np.fft.rfft(xs * hann, n=nfft, axis=1)) ** 2
        p_search = power[:, search]
        total = p_search.sum(axis=1)
        d = f_search[0] + _peak_bins(p_search) * (freqs[1] - freqs[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            fr = power[:, in_band].sum(axis=1) / total
        flat = rms < flat_rms
        d[flat] = 0.0
        fr[flat] = 0.0
        bad = ~np.isfinite(rms)
        d[bad] = np.nan
        fr[bad] = np.nan
        dom[lo:lo + chunk] = d
        frac[lo:lo + chunk] = fr
    return dom, frac


def _peak_bins(power: np.ndarray) -> np.ndarray:
    """(n,) fractional index of each row's maximum: parabola through log power at the peak and its neighbours."""
    k = np.argmax(power, axis=1)
    if power.shape[1] < 3:
        return k.astype(np.float64)
    rows = np.arange(power.shape[0])
    inner = (k > 0) & (k < power.shape[1] - 1)
    kc = np.clip(k, 1, power.shape[1] - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm, l0, lp = (np.log(power[rows, kc + o]) for o in (-1, 0, 1))
        denom = lm - 2 * l0 + lp
        delta = np.where(denom < 0, 0.5 * (lm - lp) / denom, 0.0)
    delta = np.where(inner & np.isfinite(delta), np.clip(delta, -0.5, 0.5), 0.0)
    return k + delta


def acc_statistics(acc: np.ndarray, fs: float, *, gyro: np.ndarray | None = None,
                   min_freq: float = 0.3, band: tuple[float, float] = GAIT_BAND,
                   resolution: float = 0.05, flat_rms: float = 0.02) -> dict[str, np.ndarray]:
    """Per-window statistics of one site's specific force (and angular rate).

    acc: (N, L, 3) specific force in m/s² (sensor frame; any frame works,
        every statistic is rotation invariant).
    gyro: optional (N, L, 3) angular rate in rad/s.
    fs: sampling rate in Hz.  Other arguments: see ``spectral_peak``.

    Returns {statistic name: (N,) float64} with the names of ``STATISTICS``
    (``gyro_*`` only when ``gyro`` is given).
    """
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 3 or acc.shape[2] != 3:
        raise ValueError(f"acc_statistics: acc must be (N, L, 3), got {acc.shape}")
    if acc.shape[1] < 1:
        raise ValueError("acc_statistics: windows are empty (L = 0)")
    mag = np.linalg.norm(acc, axis=2)                     # (N, L) m/s²
    out: dict[str, np.ndarray] = {
        "acc_mean": mag.mean(axis=1),
        "acc_std": mag.std(axis=1),
        "acc_var": mag.var(axis=1),
        "acc_peak": mag.max(axis=1),
        "acc_min": mag.min(axis=1),
    }
    out["acc_p2p"] = out["acc_peak"] - out["acc_min"]
    out["acc_dyn_std"] = np.sqrt(acc.var(axis=1).sum(axis=1))
    out["acc_dom_freq"], out["acc_gait_frac"] = spectral_peak(
        mag, fs, min_freq=min_freq, band=band, resolution=resolution, flat_rms=flat_rms)
    if gyro is not None:
        gyro = np.asarray(gyro, dtype=np.float64)
        if gyro.shape != acc.shape:
            raise ValueError(f"acc_statistics: gyro shape {gyro.shape} != acc shape {acc.shape}")
        rate = np.linalg.norm(gyro, axis=2)
        out["gyro_mean"] = rate.mean(axis=1)
        out["gyro_peak"] = rate.max(axis=1)
    return out


def _check_units(ws: WindowSet, names: Sequence[str], expected: str) -> None:
    for name in names:
        unit = ws.units[ws.channels.index(name)]
        if unit != expected:
            raise ValueError(f"window_statistics: channel {name!r} has units {unit!r}, expected {expected!r} "
                             f"(convert to SI before filtering)")


def window_statistics(ws: WindowSet, sites: Sequence[str] | None = None, **options: Any) -> dict[str, np.ndarray]:
    """Acceleration (and gyro) statistics of every window at each site.

    ws: windows, X (N, L, C) with channels ``<site>/acc_x|y|z`` in m/s²
        (``<site>/gyro_x|y|z`` in rad/s are used when present).
    sites: sites to describe; default: every site with the three acc channels
        (in paper 001's setup ``left_wrist``, ``right_thigh`` and ``head``).
    options: ``min_freq``, ``band``, ``resolution``, ``flat_rms`` (see
        ``spectral_peak``).

    Returns {``'<site>/<statistic>'``: (N,) float64}; see ``STATISTICS``.
    Raises ValueError naming the site and the missing channels when a
    requested site has no complete accelerometer, or a channel is not SI.
    """
    available = acc_sites(ws.channels)
    if sites is None:
        sites = available
    index = {c: i for i, c in enumerate(ws.channels)}
    stats: dict[str, np.ndarray] = {}
    for site in sites:
        acc_names = [f"{site}/{a}" for a in _ACC_AXES]
        missing = [c for c in acc_names if c not in index]
        if missing:
            raise ValueError(f"window_statistics: site {site!r} lacks channels {missing}; "
                             f"sites with an accelerometer: {available}")
        _check_units(ws, acc_names, "m/s^2")
        gyro_names = [f"{site}/{a}" for a in _GYRO_AXES]
        gyro = None
        if all(c in index for c in gyro_names):
            _check_units(ws, gyro_names, "rad/s")
            gyro = ws.X[:, :, [index[c] for c in gyro_names]]
        acc = ws.X[:, :, [index[c] for c in acc_names]]
        for name, value in acc_statistics(acc, ws.fs, gyro=gyro, **options).items():
            stats[f"{site}/{name}"] = value
    return stats


def _stat_sites(stats: Mapping[str, np.ndarray]) -> list[str]:
    sites: list[str] = []
    for key in stats:
        site = key.rpartition("/")[0]
        if site not in sites:
            sites.append(site)
    return sites


# --------------------------------------------------------------------------- rules

class FilterRulesError(ValueError):
    """A rules file is malformed; the message names the file, class and condition."""


@dataclass(frozen=True)
class Condition:
    """One condition on a window statistic.

    stat: ``'<site>/<statistic>'``; the site may be a glob pattern
        (``'*/acc_std'``, ``'*_wrist/acc_peak'``) matched against the sites
        present.
    low, high: bounds (inclusive); ``None`` means unbounded.
    op: how the rule was written: 'min', 'max' or 'between'.
    why: the rationale (free text, copied into reports).
    match: 'all' (every matching site must satisfy the bounds) or 'any'
        (at least one must); only matters for patterns.
    """

    stat: str
    low: float | None
    high: float | None
    op: str
    why: str = ""
    match: str = "all"

    @property
    def site(self) -> str:
        return self.stat.rpartition("/")[0]

    @property
    def statistic(self) -> str:
        return self.stat.rpartition("/")[2]

    def describe(self) -> str:
        """E.g. ``'right_thigh/acc_dom_freq in [0.6, 2.5]'``, ``'any */acc_std >= 0.2'``."""
        prefix = "any " if self.match == "any" else ""
        if self.op == "between":
            return f"{prefix}{self.stat} in [{self.low:g}, {self.high:g}]"
        if self.op == "min":
            return f"{prefix}{self.stat} >= {self.low:g}"
        return f"{prefix}{self.stat} <= {self.high:g}"

    def resolve(self, stats: Mapping[str, np.ndarray]) -> list[str]:
        """Concrete statistic keys this condition checks (empty: nothing to check)."""
        sites = [s for s in _stat_sites(stats) if fnmatch.fnmatchcase(s, self.site)]
        return [f"{s}/{self.statistic}" for s in sites if f"{s}/{self.statistic}" in stats]

    def within(self, values: np.ndarray) -> np.ndarray:
        """(N,) bool: values within the bounds.  NaN fails (it cannot be confirmed)."""
        values = np.asarray(values, dtype=np.float64)
        ok = ~np.isnan(values)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok

    def passes(self, stats: Mapping[str, np.ndarray], keys: Sequence[str] | None = None,
               rows: np.ndarray | None = None) -> np.ndarray:
        """(n,) bool: the windows (``rows`` of ``stats``, default all) satisfying this condition.

        keys: the resolved statistic keys (default ``self.resolve(stats)``);
        all or any of them must be within the bounds, per ``match``.
        Raises KeyError when nothing resolves (callers skip such conditions).
        """
        keys = self.resolve(stats) if keys is None else list(keys)
        if not keys:
            raise KeyError(f"condition {self.describe()!r}: no matching statistic in {sorted(stats)}")
        checks = [self.within(np.asarray(stats[k]) if rows is None else np.asarray(stats[k])[rows]) for k in keys]
        combine = np.logical_and if self.match == "all" else np.logical_or
        return combine.reduce(np.stack(checks), axis=0)


@dataclass
class FilterRules:
    """Per-class conditions: a window of class c is kept when it passes all of ``rules[c]``.

    rules: {class name: conditions}; classes without an entry (or with an
        empty list) are never filtered.
    source: where the rules came from (file path or '<dict>'), for messages
        and provenance.
    description: free text from the rules file.
    """

    rules: dict[str, tuple[Condition, ...]]
    source: str = "<dict>"
    description: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>",
                  classes: Iterable[str] | None = SYNTHETIC_CLASSES) -> FilterRules:
        """Validate and build rules from the parsed YAML layout.

        Layout: ``{version: 1, description: str, classes: {name: [condition, ...]}}``
        with each condition ``{stat: '<site>/<statistic>', min: x | max: x |
        between: [lo, hi], why: str, match: all | any}`` (exactly one operator;
        ``match`` defaults to 'all').
        classes: allowed class names (default the 12 synthetic categories);
            None allows any name.
        Raises FilterRulesError naming ``source``, the class and the condition index.
        """
        if not isinstance(data, Mapping):
            raise FilterRulesError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        unknown_top = sorted(set(data) - _TOP_KEYS)
        if unknown_top:
            raise FilterRulesError(f"{source}: unknown top-level keys {unknown_top}; allowed: {sorted(_TOP_KEYS)}")
        if data.get("version", 1) != 1:
            raise FilterRulesError(f"{source}: unsupported version {data.get('version')!r} (expected 1)")
        body = data.get("classes")
        if not isinstance(body, Mapping):
            raise FilterRulesError(f"{source}: 'classes' must be a mapping of class name -> list of conditions")
        allowed = None if classes is None else list(classes)
        rules: dict[str, tuple[Condition, ...]] = {}
        for name, conds in body.items():
            where = f"{source}: class {name!r}"
            if allowed is not None and name not in allowed:
                raise FilterRulesError(f"{where}: unknown class; known classes: {allowed}")
            if conds is None:
                conds = []
            if not isinstance(conds, list):
                raise FilterRulesError(f"{where}: expected a list of conditions, got {type(conds).__name__}")
            rules[str(name)] = tuple(_parse_condition(c, f"{where}, condition {i}") for i, c in enumerate(conds))
        return cls(rules=rules, source=source, description=str(data.get("description", "")).strip())

    @classmethod
    def from_yaml(cls, path: str | os.PathLike | None = None,
                  classes: Iterable[str] | None = SYNTHETIC_CLASSES) -> FilterRules:
        """Rules from a YAML file; ``None`` reads the shipped ``assets/labels/filters.yaml``."""
        if path is None:
            text = resources.files("virtimu").joinpath("assets/labels/filters.yaml").read_text(encoding="utf-8")
            source = "virtimu/assets/labels/filters.yaml"
        else:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise FilterRulesError(f"{source}: cannot read rules file ({err})") from err
        try:
            data = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError, OverflowError) as err:  # ValueError: e.g. a date like 2019-13-45
            raise FilterRulesError(f"{source}: not valid YAML ({err})") from err
        try:
            return cls.from_dict(data, source=source, classes=classes)
        except FilterRulesError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            # a value of an unexpected type deep in the document: still name the file
            raise FilterRulesError(f"{source}: malformed rules file ({type(exc).__name__}: {exc})") from None

    @classmethod
    def default(cls) -> FilterRules:
        """The shipped rules (``virtimu/assets/labels/filters.yaml``)."""
        return cls.from_yaml(None)

    def to_dict(self) -> dict[str, Any]:
        """The YAML layout of these rules (round-trips through ``from_dict``)."""
        classes: dict[str, list[dict[str, Any]]] = {}
        for name, conds in self.rules.items():
            items = []
            for c in conds:
                item: dict[str, Any] = {"stat": c.stat}
                if c.op == "between":
                    item["between"] = [c.low, c.high]
                else:
                    item[c.op] = c.low if c.op == "min" else c.high
                if c.match != "all":
                    item["match"] = c.match
                if c.why:
                    item["why"] = c.why
                items.append(item)
            classes[name] = items
        return {"version": 1, "description": self.description, "classes": classes}


def _number(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        raise FilterRulesError(f"{where}: {what} must be a number, got {value!r}")
    return float(value)


def _parse_condition(item: Any, where: str) -> Condition:
    if not isinstance(item, Mapping):
        raise FilterRulesError(f"{where}: expected a mapping like {{stat: ..., min: ...}}, got {item!r}")
    unknown = sorted(set(item) - _CONDITION_KEYS)
    if unknown:
        raise FilterRulesError(f"{where}: unknown operator/key {unknown}; operators: {list(_OPERATORS)}, "
                               f"other keys: ['stat', 'why']")
    stat = item.get("stat")
    if not isinstance(stat, str) or "/" not in stat:
        raise FilterRulesError(f"{where}: 'stat' must be '<site>/<statistic>' (site may be '*'), got {stat!r}")
    site, _, name = stat.rpartition("/")
    if not site:
        raise FilterRulesError(f"{where}: empty site in {stat!r}")
    if name not in STATISTICS:
        raise FilterRulesError(f"{where}: unknown statistic {name!r}; known: {sorted(STATISTICS)}")
    ops = [op for op in _OPERATORS if op in item]
    if len(ops) != 1:
        raise FilterRulesError(f"{where}: needs exactly one operator of {list(_OPERATORS)}, got {ops or 'none'}")
    op = ops[0]
    low = high = None
    if op == "min":
        low = _number(item["min"], where, "min")
    elif op == "max":
        high = _number(item["max"], where, "max")
    else:
        pair = item["between"]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise FilterRulesError(f"{where}: 'between' must be [low, high], got {pair!r}")
        low = _number(pair[0], where, "between[0]")
        high = _number(pair[1], where, "between[1]")
        if low > high:
            raise FilterRulesError(f"{where}: 'between' low {low:g} > high {high:g}")
    why = item.get("why", "")
    if not isinstance(why, str):
        raise FilterRulesError(f"{where}: 'why' must be text, got {why!r}")
    match = item.get("match", "all")
    if match not in _MATCH:
        raise FilterRulesError(f"{where}: 'match' must be one of {list(_MATCH)}, got {match!r}")
    return Condition(stat=stat, low=low, high=high, op=op, why=" ".join(why.split()), match=match)


# --------------------------------------------------------------------------- filtering

@dataclass
class ConditionResult:
    """Outcome of one condition of one class over the windows of that class.

    keys: the concrete statistics checked (empty when skipped).
    n_checked: windows of the class; n_failed: windows failing this condition
    (a window can fail several conditions).
    """

    label: str
    index: int
    condition: Condition
    keys: list[str]
    n_checked: int
    n_failed: int

    @property
    def skipped(self) -> bool:
        return not self.keys


@dataclass
class FilterReport:
    """What ``filter_windows`` kept and dropped.

    keep: (N,) bool mask over the input windows (True = kept).
    per_class: {label: {'windows', 'kept', 'dropped', 'conditions'}} for
        every label present in the input.
    conditions: one ``ConditionResult`` per (class present, condition).
    examples: {label: [(recording, start), ...]} some dropped windows.
    notes: human-readable remarks (skipped conditions ...).
    rules_source: where the rules came from.
    """

    keep: np.ndarray
    per_class: dict[str, dict[str, int]]
    conditions: list[ConditionResult]
    examples: dict[str, list[tuple[str, int]]]
    notes: list[str] = field(default_factory=list)
    rules_source: str = ""

    @property
    def n_windows(self) -> int:
        return int(self.keep.size)

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    @property
    def n_dropped(self) -> int:
        return self.n_windows - self.n_kept

    def failed(self, label: str) -> dict[str, int]:
        """{condition description: windows failing it} for one class."""
        return {r.condition.describe(): r.n_failed for r in self.conditions if r.label == label}

    def to_dict(self, include_mask: bool = False) -> dict[str, Any]:
        """JSON-able summary (the keep mask only when ``include_mask``)."""
        out: dict[str, Any] = {
            "rules": self.rules_source,
            "windows": self.n_windows,
            "kept": self.n_kept,
            "dropped": self.n_dropped,
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
            "conditions": [
                {"class": r.label, "index": r.index, "condition": r.condition.describe(), "why": r.condition.why,
                 "checked": r.keys, "windows": r.n_checked, "failed": r.n_failed, "skipped": r.skipped}
                for r in self.conditions
            ],
            "examples": {k: [{"recording": rec, "start": int(s)} for rec, s in v] for k, v in self.examples.items()},
            "notes": list(self.notes),
        }
        if include_mask:
            out["keep"] = self.keep.astype(bool).tolist()
        return out

    def format(self) -> str:
        """Plain-text tables: per class counts, failing conditions, dropped examples, notes."""
        lines = [f"acceleration-based label filter (rules: {self.rules_source})",
                 f"{self.n_windows} windows: {self.n_kept} kept, {self.n_dropped} dropped", ""]
        width = max([len("class")] + [len(k) for k in self.per_class])
        lines.append(f"{'class':<{width}}  {'windows':>7}  {'kept':>7}  {'dropped':>7}  {'dropped %':>9}  rules")
        for label, row in self.per_class.items():
            pct = 100.0 * row["dropped"] / row["windows"] if row["windows"] else 0.0
            lines.append(f"{label:<{width}}  {row['windows']:>7}  {row['kept']:>7}  {row['dropped']:>7}  "
                         f"{pct:>8.1f}%  {row['conditions']}")
        if self.conditions:
            lines += ["", "conditions (windows failing each; a window may fail several):"]
            cw = max(len(r.condition.describe()) for r in self.conditions)
            for r in self.conditions:
                state = "skipped" if r.skipped else f"{r.n_failed:>5} / {r.n_checked}"
                lines.append(f"  {r.label:<{width}}  #{r.index:<2} {r.condition.describe():<{cw}}  {state}")
        if self.examples:
            lines += ["", "dropped examples (recording @ start frame):"]
            for label, items in self.examples.items():
                lines.append(f"  {label}: " + ", ".join(f"{rec}@{s}" for rec, s in items))
        if self.notes:
            lines += ["", "notes:"] + [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def filter_windows(ws: WindowSet, rules: FilterRules, *, stats: Mapping[str, np.ndarray] | None = None,
                   max_examples: int = 5, **options: Any) -> tuple[WindowSet, FilterReport]:
    """Drop the windows whose acceleration contradicts their label.

    A window is dropped when its class has rules and any condition fails;
    windows of classes without rules (null included) are kept.  A condition
    on a site (or statistic) the windows lack is skipped with a note.

    ws: windows (N, L, C); labels by name through ``ws.label_map``.
    rules: per-class conditions (``FilterRules.default()`` for the shipped ones).
    stats: precomputed ``window_statistics(ws)`` (computed here when None);
        each value (N,).
    max_examples: dropped (recording, start) examples kept per class.
    options: passed to ``window_statistics``.

    Returns ``(kept windows, report)``; ``report.keep`` is the (N,) bool
    mask over ``ws``.  ``kept.attrs['label_filter']`` records the rules
    source and the counts.
    """
    n = len(ws)
    if stats is None:
        stats = window_statistics(ws, **options)
    for key, value in stats.items():
        if np.shape(value) != (n,):
            raise ValueError(f"filter_windows: statistic {key!r} has shape {np.shape(value)}, expected ({n},)")
    keep = np.ones(n, dtype=bool)
    per_class: dict[str, dict[str, int]] = {}
    results: list[ConditionResult] = []
    examples: dict[str, list[tuple[str, int]]] = {}
    notes: list[str] = []
    sites = _stat_sites(stats)
    for code in sorted(set(np.unique(ws.y).tolist())):
        label = ws.label_map[int(code)]
        members = np.flatnonzero(ws.y == code)
        conds = rules.rules.get(label, ())
        ok = np.ones(members.size, dtype=bool)
        for i, cond in enumerate(conds):
            keys = cond.resolve(stats)
            if not keys:
                note = (f"{label} condition {i} ({cond.describe()}): no statistic {cond.statistic!r} at a site "
                        f"matching {cond.site!r} (sites: {sites}); skipped")
                notes.append(note)
                logger.info("label filter: %s", note)
                results.append(ConditionResult(label, i, cond, [], int(members.size), 0))
                continue
            passed = cond.passes(stats, keys, members)
            ok &= passed
            results.append(ConditionResult(label, i, cond, keys, int(members.size), int((~passed).sum())))
        keep[members] = ok
        dropped = members[~ok]
        per_class[label] = {"windows": int(members.size), "kept": int(ok.sum()), "dropped": int(dropped.size),
                            "conditions": len(conds)}
        if dropped.size and max_examples > 0:
            examples[label] = [(str(ws.recording[j]), int(ws.start[j])) for j in dropped[:max_examples]]
    report = FilterReport(keep=keep, per_class=per_class, conditions=results, examples=examples,
                          notes=notes, rules_source=rules.source)
    kept = ws.subset(keep)
    kept.attrs["label_filter"] = {"rules": rules.source, "windows": n, "kept": report.n_kept,
                                  "dropped": report.n_dropped}
    logger.info("label filter: kept %d of %d windows (%d dropped)", report.n_kept, n, report.n_dropped)
    return kept, report
