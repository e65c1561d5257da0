"""Cut recordings into fixed-length labelled windows; drop, balance and concatenate them.

Pipeline (``make_windows``)::

    Recording --label_mapper--> select channels (+ acc magnitude) --> resample to cfg.fs
        --> window_starts --> drop NaN windows, label by majority with purity  (window_recording)
    --> concat_windowsets (one label map, unified by name)
    --> drop_null --> drop_small_classes --> balance_classes                      (make_windows)

`stream_windows` runs the same steps one recording at a time and hands each
recording's windows to a sink (a `virtimu.store.windows.WindowAppender`) as
soon as they are cut, so memory holds one recording, not the run; its
output, concatenated, is make_windows' set (same windows, order, label codes,
report).  drop_null and the acceleration filter (`StreamFilter`) work window
by window; min_class_windows takes two passes (count, then write);
balancing needs the whole set and stays with make_windows.

Settings live in `WindowConfig`; its defaults are the setting of the
virtual-IMU paper "001" (60 frames, 50 % overlap, recording rate kept).  The
setting of paper "000" is ``WindowConfig(length=100, fs=25, magnitude=True,
min_class_windows=100)``.

Resampling (when ``cfg.fs`` differs from a recording's rate) follows
`virtimu.sensors.resample`: continuous channels (acc, gyro, mag and any other
kind) go through the anti-aliased polyphase `decimate_signals`; orientation
channels go through `resample_orientations` (SLERP) as whole groups: the nine
``<site>/rot_00 .. rot_22`` of a site (row-major matrix) or its four
``<site>/quat_w .. quat_z`` (scalar-first, w >= 0).  Frame labels take the
label of the nearest source frame.  Gaps (NaN) are bridged by linear
interpolation (nearest valid orientation for rotations) only for the filter,
and every output frame whose source neighbourhood touches a gap is marked
invalid, so windows over gaps are still dropped.

Balancing: ``'oversample'`` repeats random windows of the smaller classes;
``'interpolate'`` (the interpolation up-sampling of paper 001) adds windows
``lam * a + (1 - lam) * b`` of two random distinct windows a, b of the same
class, ``lam ~ U(0, 1)`` per new window.  Interpolated orientation channels
(rot_*, quat_*) are *not* valid rotations any more: they are treated as
ordinary features, as the paper does with its 36-dimensional input.
Balance only training data (after `virtimu.evaluation.splits`): a balanced set
split afterwards leaks interpolated copies of test windows into training.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from virtimu.rotations import matrix_to_quaternion, quaternion_to_matrix
from virtimu.sensors.resample import decimate_signals, resample_orientations, target_times
from virtimu.sensors.signals import SIGNAL_AXES, signal_kind
from virtimu.types import NULL_LABEL, Recording, WindowSet

logger = logging.getLogger(__name__)

#: Translates per-frame labels and their map into another label space.
LabelMapper = Callable[[np.ndarray, dict[int, str]], tuple[np.ndarray, dict[int, str]]]

#: Name of the null class (code ``NULL_LABEL``) in label maps made here.
NULL_NAME = "null"

#: Balancing methods of `balance_classes`.
BALANCE_METHODS = ("none", "oversample", "interpolate")

#: Channel suffix of the acceleration magnitude added by ``magnitude=True``.
MAG_SUFFIX = "acc_mag"

_ORIENTATION_KINDS = ("rot", "quat")
_ACC_AXES = ("acc_x", "acc_y", "acc_z")
#: Rates closer than this (relative) count as equal: no resampling.
_RATE_RTOL = 1e-9


# ----------------------------------------------------------------------------- config


@dataclass
class WindowConfig:
    """How recordings become windows.

    length: window length in frames at the output rate (paper 001: 60; paper 000: 100 at 25 Hz).
    overlap: fraction of a window shared with the next, 0 <= overlap < 1;
        the step is ``max(1, floor(length * (1 - overlap) + 0.5))`` frames.
    fs: output rate in Hz; None keeps each recording's rate.
    channels: fnmatch patterns (``'left_wrist/*'``, ``'*/acc_*'``) selecting
        channels, ordered by pattern, then by recording order (each channel
        once); None keeps all channels.
    magnitude: add ``<site>/acc_mag`` = Euclidean norm of the site's
        acc_x/y/z (paper 000's fourth channel) after the site's last selected
        acc channel, for every site with a selected acc channel.
    purity: a window takes its majority label only when that label covers at
        least this fraction of its frames, otherwise ``NULL_LABEL`` (counted
        as impure).  Default 0.8: a window keeps its activity when at most a
        fifth of it belongs to a neighbouring activity.
    drop_null: drop null windows after windowing.
    min_class_windows: drop non-null classes with fewer windows (0 keeps all;
        paper 000 uses 100).
    balance: 'none' | 'oversample' | 'interpolate' (paper 001 uses
        'interpolate'; see the module docstring on when to balance).
    seed: seed of balancing.
    """

    length: int = 60
    overlap: float = 0.5
    fs: float | None = None
    channels: list[str] | None = None
    magnitude: bool = False
    purity: float = 0.8
    drop_null: bool = False
    min_class_windows: int = 0
    balance: str = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or int(self.length) != self.length or self.length < 1:
            raise ValueError(f"WindowConfig.length must be a positive number of frames, got {self.length!r}")
        self.length = int(self.length)
        self.overlap = float(self.overlap)
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"WindowConfig.overlap must be in [0, 1), got {self.overlap!r}")
        if self.fs is not None:
            self.fs = float(self.fs)
            if not (np.isfinite(self.fs) and self.fs > 0):
                raise ValueError(f"WindowConfig.fs must be a positive rate in Hz or None, got {self.fs!r}")
        if isinstance(self.channels, str):
            self.channels = [self.channels]
        if self.channels is not None:
            self.channels = [str(p) for p in self.channels]
            if not self.channels:
                raise ValueError("WindowConfig.channels must be None (all) or a non-empty list of patterns")
        self.magnitude = bool(self.magnitude)
        self.purity = float(self.purity)
        if not 0.0 <= self.purity <= 1.0:
            raise ValueError(f"WindowConfig.purity must be in [0, 1], got {self.purity!r}")
        self.drop_null = bool(self.drop_null)
        if int(self.min_class_windows) != self.min_class_windows or self.min_class_windows < 0:
            raise ValueError(f"WindowConfig.min_class_windows must be an integer >= 0, got {self.min_class_windows!r}")
        self.min_class_windows = int(self.min_class_windows)
        if self.balance not in BALANCE_METHODS:
            raise ValueError(f"WindowConfig.balance must be one of {BALANCE_METHODS}, got {self.balance!r}")
        self.seed = int(self.seed)

    @property
    def step(self) -> int:
        """Frames between consecutive window starts (half-up rounding)."""
        return max(1, int(np.floor(self.length * (1.0 - self.overlap) + 0.5)))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> WindowConfig:
        """Config from a (YAML) mapping; unknown keys raise ValueError listing the valid ones."""
        data = dict(data or {})
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"WindowConfig: unknown keys {unknown}; valid keys: {valid}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (JSON/YAML-safe) that `from_dict` reads back."""
        out = dataclasses.asdict(self)
        out["channels"] = None if self.channels is None else list(self.channels)
        return out


# ----------------------------------------------------------------------------- channels


def _site(channel: str) -> str:
    return channel.rsplit("/", 1)[0] if "/" in channel else ""


def _leaf(channel: str) -> str:
    return channel.rsplit("/", 1)[-1]


def _join(site: str, suffix: str) -> str:
    return f"{site}/{suffix}" if site else suffix


def select_channels(available: Sequence[str], patterns: Sequence[str] | None, where: str = "recording") -> list[str]:
    """Channel names matching ``patterns`` (case-sensitive fnmatch).

    Order: by pattern, then by the order of ``available``; a channel matched
    by several patterns appears once, at its first pattern.  None selects all.
    Raises ValueError naming a pattern that matches nothing and listing the
    available channels (``where`` names the recording in the message).
    """
    available = list(available)
    if patterns is None:
        return available
    out: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        hits = [c for c in available if fnmatch.fnmatchcase(c, pattern)]
        if not hits:
            raise ValueError(f"{where}: channel pattern {pattern!r} matches no channel; "
                             f"available channels: {available}")
        for c in hits:
            if c not in seen:
                seen.add(c)
                out.append(c)
    return out


def _with_magnitude(selected: list[str], available: Sequence[str], where: str) -> tuple[list[str], dict[str, str]]:
    """Output channel order with ``<site>/acc_mag`` inserted; returns (names, {mag name: site})."""
    avail = set(available)
    last_acc: dict[str, int] = {}
    for i, c in enumerate(selected):
        if signal_kind(c) == "acc" and _leaf(c) != MAG_SUFFIX:
            last_acc[_site(c)] = i
    mags: dict[str, str] = {}
    for site in last_acc:
        name = _join(site, MAG_SUFFIX)
        if name in selected:
            continue  # the recording already has it (a real dataset's own magnitude)
        missing = [_join(site, a) for a in _ACC_AXES if _join(site, a) not in avail]
        if missing:
            raise ValueError(f"{where}: magnitude=True needs {missing} for {name}; available channels: "
                             f"{list(available)}")
        mags[name] = site
    if not mags and not any(_leaf(c) == MAG_SUFFIX for c in selected):
        raise ValueError(f"{where}: magnitude=True but no acc channel is selected; selected channels: {selected}")
    out: list[str] = []
    insert_after = {last_acc[site]: name for name, site in mags.items()}
    for i, c in enumerate(selected):
        out.append(c)
        if i in insert_after:
            out.append(insert_after[i])
    return out, mags


def _orientation_groups(names: Iterable[str], available: Sequence[str], where: str) -> dict[tuple[str, str], list[str]]:
    """{(site, 'rot' | 'quat'): full channel group} for orientation channels among ``names``."""
    avail = set(available)
    groups: dict[tuple[str, str], list[str]] = {}
    for c in names:
        kind = signal_kind(c)
        if kind not in _ORIENTATION_KINDS or _leaf(c) not in SIGNAL_AXES[kind]:
            continue
        key = (_site(c), kind)
        if key in groups:
            continue
        group = [_join(key[0], s) for s in SIGNAL_AXES[kind]]
        missing = [g for g in group if g not in avail]
        if missing:
            raise ValueError(f"{where}: resampling {c!r} needs its whole {kind} group; missing {missing}")
        groups[key] = group
    return groups


# ----------------------------------------------------------------------------- resampling


def _fill_gaps(x: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """x (T, K) with rows ``bad`` replaced by linear interpolation (ends: nearest valid row)."""
    if not bad.any():
        return x
    good = np.flatnonzero(~bad)
    if good.size == 0:
        return np.zeros_like(x)
    t = np.arange(x.shape[0], dtype=np.float64)
    out = x.copy()
    for k in range(x.shape[1]):
        out[:, k] = np.interp(t, good, x[good, k])
    return out


def _nearest_valid(bad: np.ndarray) -> np.ndarray:
    """(T,) index of the nearest frame that is not ``bad`` (identity where none is bad)."""
    t = np.arange(bad.shape[0])
    good = np.flatnonzero(~bad)
    if good.size == 0 or good.size == bad.size:
        return t
    pos = np.searchsorted(good, t)
    left = good[np.clip(pos - 1, 0, good.size - 1)]
    right = good[np.clip(pos, 0, good.size - 1)]
    return np.where(np.abs(t - left) <= np.abs(right - t), left, right)


def _bad_output_frames(bad_src: np.ndarray, fs_src: float, fs_dst: float, n_dst: int) -> np.ndarray:
    """Output frames whose source neighbourhood (+-half an output interval, at least the
    two bracketing source frames) contains a bad source frame.  Returns (n_dst,) bool."""
    if not bad_src.any():
        return np.zeros(n_dst, dtype=bool)
    u = np.arange(n_dst, dtype=np.float64) * (float(fs_src) / float(fs_dst))
    h = 0.5 * float(fs_src) / float(fs_dst)
    last = bad_src.size - 1
    lo = np.clip(np.floor(u - h + 1e-9).astype(np.int64), 0, last)
    hi = np.clip(np.ceil(u + h - 1e-9).astype(np.int64), 0, last)
    hi = np.maximum(hi, np.clip(np.ceil(u).astype(np.int64), 0, last))
    lo = np.minimum(lo, np.clip(np.floor(u).astype(np.int64), 0, last))
    cs = np.concatenate([[0], np.cumsum(bad_src)])
    return (cs[hi + 1] - cs[lo]) > 0


def _resample_columns(rec: Recording, names: list[str], fs_dst: float, bad_src: np.ndarray,
                      where: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Resample the named columns of ``rec`` to ``fs_dst``.

    Returns ({name: (n_dst,) float64}, bad_dst (n_dst,) bool, source frame of each output frame (n_dst,)).
    """
    fs_src = float(rec.fs)
    t_dst = target_times(rec.n_frames, fs_src, fs_dst)
    n_dst = len(t_dst)
    nearest = np.clip(np.rint(t_dst * fs_src).astype(np.int64), 0, rec.n_frames - 1)
    out: dict[str, np.ndarray] = {}
    groups = _orientation_groups(names, rec.channels, where)
    in_group = {c for g in groups.values() for c in g}
    fill_idx = _nearest_valid(bad_src)
    for (_, kind), group in groups.items():
        x = rec.select(group).astype(np.float64)[fill_idx]
        R = x.reshape(-1, 3, 3) if kind == "rot" else quaternion_to_matrix(x)
        R_dst = resample_orientations(R[:, None], fs_src, fs_dst)[:, 0]
        y = R_dst.reshape(n_dst, 9) if kind == "rot" else matrix_to_quaternion(R_dst)
        for j, c in enumerate(group):
            out[c] = y[:, j]
    plain = [c for c in names if c not in in_group]
    if plain:
        x = _fill_gaps(rec.select(plain).astype(np.float64), bad_src)
        y = decimate_signals(x, fs_src, fs_dst, axis=0)[:n_dst]
        for j, c in enumerate(plain):
            out[c] = y[:, j]
    return out, _bad_output_frames(bad_src, fs_src, fs_dst, n_dst), nearest


# ----------------------------------------------------------------------------- windows


def window_starts(n_frames: int, length: int, step: int) -> np.ndarray:
    """First frames of all windows of ``length`` frames lying fully inside ``n_frames``.

    Starts 0, step, 2*step, ... while ``start + length <= n_frames``;
    empty when ``n_frames < length``.  Returns (N,) int64.
    """
    if length < 1 or step < 1:
        raise ValueError(f"window_starts: length and step must be >= 1, got length={length}, step={step}")
    if n_frames < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, int(n_frames) - int(length) + 1, int(step), dtype=np.int64)


def window_labels(labels: np.ndarray, starts: np.ndarray, length: int,
                  purity: float) -> tuple[np.ndarray, np.ndarray]:
    """Majority label of each window, ``NULL_LABEL`` where it covers < ``purity`` of the frames.

    labels: (T,) int frame labels; starts: (N,) window starts.
    Ties go to the lowest code.  Returns (y (N,) int64, impure (N,) bool).
    """
    labels = np.asarray(labels)
    starts = np.asarray(starts, dtype=np.int64)
    n = starts.size
    best = np.full(n, NULL_LABEL, dtype=np.int64)
    best_count = np.full(n, -1, dtype=np.int64)
    for code in np.unique(labels):
        cs = np.concatenate([[0], np.cumsum(labels == code, dtype=np.int64)])
        count = cs[starts + length] - cs[starts]
        better = count > best_count
        best[better] = int(code)
        best_count[better] = count[better]
    impure = (best_count < purity * length - 1e-9) & (best != NULL_LABEL)
    y = np.where(impure, NULL_LABEL, best)
    return y, impure


def _recording_labels(rec: Recording, label_mapper: LabelMapper | None,
                      where: str) -> tuple[np.ndarray, dict[int, str]]:
    """Frame labels (T,) int64 and label map (with the null code) of a recording, after the mapper."""
    if rec.labels is None:
        labels = np.full(rec.n_frames, NULL_LABEL, dtype=np.int64)
        label_map: dict[int, str] = {}
    else:
        labels = np.asarray(rec.labels).astype(np.int64)
        if rec.label_map is None:
            raise ValueError(f"{where}: has labels but no label_map")
        label_map = {int(k): str(v) for k, v in rec.label_map.items()}
    if label_mapper is not None:
        labels, label_map = label_mapper(labels, dict(label_map))
        labels = np.asarray(labels).astype(np.int64)
        label_map = {int(k): str(v) for k, v in label_map.items()}
        if labels.shape != (rec.n_frames,):
            raise ValueError(f"{where}: label_mapper returned labels of shape {labels.shape}, "
                             f"expected ({rec.n_frames},)")
    label_map.setdefault(NULL_LABEL, NULL_NAME)
    unknown = sorted(set(np.unique(labels).tolist()) - set(label_map))
    if unknown:
        raise ValueError(f"{where}: label codes {unknown} are not in its label_map {label_map}")
    return labels, label_map


def window_recording(rec: Recording, cfg: WindowConfig, label_mapper: LabelMapper | None = None) -> WindowSet:
    """Windows of one recording (see the module docstring for the steps).

    Returns a `WindowSet` with X (N, cfg.length, C) float32 at rate
    ``cfg.fs or rec.fs``, ``recording = '<source>/<name>'``, ``start`` in
    output frames, subject ``rec.subject or ''``.  Its attrs hold
    ``config`` (cfg.to_dict()), ``n_cut`` (windows inside the recording),
    ``n_nan`` (dropped: a NaN/inf in a frame of the window),
    ``n_impure`` (relabelled null by purity) and ``n_windows`` (kept).
    """
    where = f"recording {rec.source}/{rec.name}"
    labels, label_map = _recording_labels(rec, label_mapper, where)
    selected = select_channels(rec.channels, cfg.channels, where)
    mags: dict[str, str] = {}
    out_names = list(selected)
    if cfg.magnitude:
        out_names, mags = _with_magnitude(selected, rec.channels, where)
    needed = list(selected)
    for site in mags.values():
        needed += [c for c in (_join(site, a) for a in _ACC_AXES) if c not in needed]

    needed_x = rec.select(needed).astype(np.float64)
    bad_src = ~np.isfinite(needed_x).all(axis=1)
    fs_out = float(rec.fs) if cfg.fs is None else float(cfg.fs)
    if np.isclose(fs_out, float(rec.fs), rtol=_RATE_RTOL, atol=0.0):
        cols = {c: needed_x[:, j] for j, c in enumerate(needed)}
        bad = bad_src
        frame_labels = labels
    else:
        resample_names = list(dict.fromkeys(needed))
        groups = _orientation_groups(resample_names, rec.channels, where)
        resample_names += [c for g in groups.values() for c in g if c not in resample_names]
        if len(resample_names) > len(needed):
            bad_src = ~np.isfinite(rec.select(resample_names)).all(axis=1)
        cols, bad, src = _resample_columns(rec, resample_names, fs_out, bad_src, where)
        frame_labels = labels[src]
    for name, site in mags.items():
        acc = np.stack([cols[_join(site, a)] for a in _ACC_AXES], axis=1)
        cols[name] = np.linalg.norm(acc, axis=1)
    unit_of = dict(zip(rec.channels, rec.units, strict=True))
    units = []
    for c in out_names:
        if c in mags:
            acc_units = {unit_of[_join(mags[c], a)] for a in _ACC_AXES}
            if len(acc_units) != 1:
                raise ValueError(f"{where}: acc channels of site {mags[c]!r} have different units {acc_units}")
            units.append(acc_units.pop())
        else:
            units.append(unit_of[c])

    n_out = len(frame_labels)
    signals = np.stack([cols[c] for c in out_names], axis=1) if n_out else np.zeros((0, len(out_names)))
    bad = bad | ~np.isfinite(signals).all(axis=1)
    L = cfg.length
    starts = window_starts(n_out, L, cfg.step)
    n_cut = int(starts.size)
    if n_cut:
        bad_cs = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])
        ok = (bad_cs[starts + L] - bad_cs[starts]) == 0
    else:
        ok = np.zeros(0, dtype=bool)
    starts = starts[ok]
    n_nan = n_cut - int(starts.size)
    y, impure = window_labels(frame_labels, starts, L, cfg.purity)
    if starts.size:
        view = np.lib.stride_tricks.sliding_window_view(signals, L, axis=0)  # (T-L+1, C, L)
        X = np.ascontiguousarray(view[starts].transpose(0, 2, 1), dtype=np.float32)
    else:
        X = np.zeros((0, L, len(out_names)), dtype=np.float32)
    n = X.shape[0]
    if n_nan:
        logger.debug("%s: %d of %d windows dropped for NaN", where, n_nan, n_cut)
    return WindowSet(
        X=X, y=y, subject=np.full(n, rec.subject or "", dtype=object),
        recording=np.full(n, f"{rec.source}/{rec.name}", dtype=object), start=starts,
        source=np.full(n, rec.source, dtype=object), channels=out_names, units=units, fs=fs_out,
        label_map=label_map,
        attrs={"config": cfg.to_dict(), "n_cut": n_cut, "n_nan": n_nan, "n_impure": int(impure.sum()),
               "n_windows": n},
    )


# ----------------------------------------------------------------------------- concatenation


_COUNT_ATTRS = ("n_cut", "n_nan", "n_impure", "n_windows")


class LabelUnifier:
    """Unifies label maps one at a time, as `unify_label_maps` does for a list of them.

    null_name: name of code ``NULL_LABEL`` (`unify_label_maps` takes it from
    the first map that has that code).  ``add(map)`` returns the map's code
    translation; codes given out never change, so the translations of
    earlier maps stay valid.  ``label_map`` is the unified map so far.
    """

    def __init__(self, null_name: str = NULL_NAME) -> None:
        self.null_name = null_name
        self._unified: dict[int, str] = {NULL_LABEL: null_name}
        self._by_name: dict[str, int] = {null_name: NULL_LABEL}

    @property
    def label_map(self) -> dict[int, str]:
        """The unified map so far, {code: name} in code order."""
        return dict(sorted(self._unified.items()))

    def add(self, label_map: dict[int, str]) -> dict[int, int]:
        """{old code: unified code} for every code of ``label_map`` (new names get codes)."""
        tr: dict[int, int] = {}
        for code in sorted(label_map):
            name = label_map[code]
            if code == NULL_LABEL or name == self.null_name:
                tr[code] = NULL_LABEL
                continue
            if name not in self._by_name:
                new = code if code not in self._unified else max(self._unified) + 1
                self._unified[new] = name
                self._by_name[name] = new
            tr[code] = self._by_name[name]
        return tr


def unify_label_maps(maps: Sequence[dict[int, str]]) -> tuple[dict[int, str], list[dict[int, int]]]:
    """One label map over all names, null = ``NULL_LABEL``, and a code translation per input map.

    Code ``NULL_LABEL`` of every map, and any code named like the first map's
    null name (default ``'null'``), map to ``NULL_LABEL``.  Other names keep
    their first code where it is free, else get the next free code; inputs
    that agree keep their codes.  Returns (unified map, [{old code: new code}]).
    """
    null_name = NULL_NAME
    for m in maps:
        if NULL_LABEL in m:
            null_name = m[NULL_LABEL]
            break
    unifier = LabelUnifier(null_name)
    translations = [unifier.add(m) for m in maps]
    return unifier.label_map, translations


def _translate(y: np.ndarray, tr: dict[int, int]) -> np.ndarray:
    if all(k == v for k, v in tr.items()):
        return y.astype(np.int64)
    out = np.empty_like(y, dtype=np.int64)
    for old, new in tr.items():
        out[y == old] = new
    return out


def _describe(ws: WindowSet) -> str:
    recs = np.unique(ws.recording)
    shown = ", ".join(recs[:3].tolist()) + (" ..." if recs.size > 3 else "")
    return f"window set of {len(ws)} windows ({shown or 'no recordings'})"


def _check_compatible(i: int, ws: WindowSet, ref: WindowSet) -> None:
    """ValueError when set ``i`` differs from set 0 ``ref`` in channels, units, rate or window length."""
    problems = []
    if list(ws.channels) != list(ref.channels):
        problems.append(f"channels {ws.channels} != {ref.channels}")
    if list(ws.units) != list(ref.units):
        problems.append(f"units {ws.units} != {ref.units}")
    if not np.isclose(ws.fs, ref.fs, rtol=_RATE_RTOL, atol=0.0):
        problems.append(f"fs {ws.fs} Hz != {ref.fs} Hz")
    if ws.X.shape[1] != ref.X.shape[1]:
        problems.append(f"window length {ws.X.shape[1]} != {ref.X.shape[1]}")
    if problems:
        raise ValueError(f"concat_windowsets: set {i} ({_describe(ws)}) does not match set 0 "
                         f"({_describe(ref)}): " + "; ".join(problems))


def concat_windowsets(sets: Sequence[WindowSet]) -> WindowSet:
    """Concatenate window sets with the same channels, units, rate and window length.

    Label maps are unified by name (`unify_label_maps`).  Counts in attrs
    (n_cut, n_nan, n_impure, n_windows) are summed; other attrs come from the
    first set.  Raises ValueError naming the first incompatible set.
    """
    sets = list(sets)
    if not sets:
        raise ValueError("concat_windowsets: no window sets to concatenate")
    ref = sets[0]
    for i, ws in enumerate(sets[1:], start=1):
        _check_compatible(i, ws, ref)
    label_map, translations = unify_label_maps([ws.label_map for ws in sets])
    attrs = dict(ref.attrs)
    for key in _COUNT_ATTRS:
        if any(key in ws.attrs for ws in sets):
            attrs[key] = int(sum(int(ws.attrs.get(key, 0)) for ws in sets))
    return WindowSet(
        X=np.concatenate([ws.X for ws in sets], axis=0),
        y=np.concatenate([_translate(ws.y, tr) for ws, tr in zip(sets, translations, strict=True)]),
        subject=np.concatenate([ws.subject.astype(object) for ws in sets]),
        recording=np.concatenate([ws.recording.astype(object) for ws in sets]),
        start=np.concatenate([ws.start for ws in sets]),
        source=np.concatenate([ws.source.astype(object) for ws in sets]),
        channels=list(ref.channels), units=list(ref.units), fs=float(ref.fs), label_map=label_map, attrs=attrs,
    )


# ----------------------------------------------------------------------------- dropping


def drop_null(ws: WindowSet) -> WindowSet:
    """The windows whose label is not ``NULL_LABEL`` (label map unchanged)."""
    return ws.subset(ws.y != NULL_LABEL)


def drop_small_classes(ws: WindowSet, min_windows: int) -> WindowSet:
    """Drop non-null classes with fewer than ``min_windows`` windows (label map unchanged).

    The null class is never dropped here (that is `drop_null`'s job).
    ``min_windows <= 0`` keeps everything.
    """
    if min_windows <= 0 or len(ws) == 0:
        return ws
    codes, counts = np.unique(ws.y, return_counts=True)
    small = [int(c) for c, n in zip(codes, counts, strict=True) if n < min_windows and c != NULL_LABEL]
    if not small:
        return ws
    return ws.subset(~np.isin(ws.y, small))


# ----------------------------------------------------------------------------- balancing


@dataclass
class BalancePlan:
    """Which windows a balancing keeps and which it adds (indices into the input set).

    keep: (K,) ascending indices of input windows kept as they are.
    parent_a, parent_b: (M,) parents of each added window; equal for copies.
    lam: (M,) weight of parent a: ``new = lam * X[a] + (1 - lam) * X[b]`` (1.0 for copies).
    method, target, seed: the request.
    """

    keep: np.ndarray
    parent_a: np.ndarray
    parent_b: np.ndarray
    lam: np.ndarray
    method: str
    target: int
    seed: int


def plan_balance(y: np.ndarray, method: str, seed: int = 0, target: int | None = None) -> BalancePlan:
    """Plan a balancing of labels ``y`` (N,) to ``target`` windows per class present.

    target: defaults to the size of the largest class.  Classes above it keep
    a random ``target`` of their windows (without replacement); classes below
    it get ``target - n`` new windows: random copies ('oversample') or
    interpolations of two random distinct windows of the class
    ('interpolate'; a class of one window gets copies, with a warning).
    'none' keeps everything.  Classes are processed in ascending code order
    from one ``numpy.random.default_rng(seed)`` stream: deterministic given
    (y, method, seed, target).
    """
    if method not in BALANCE_METHODS:
        raise ValueError(f"balance method must be one of {BALANCE_METHODS}, got {method!r}")
    y = np.asarray(y)
    empty_i = np.zeros(0, dtype=np.int64)
    codes, counts = np.unique(y, return_counts=True)
    if target is None:
        target = int(counts.max()) if counts.size else 0
    elif int(target) != target or target < 1:
        raise ValueError(f"balance target must be a positive number of windows per class, got {target!r}")
    target = int(target)
    if method == "none" or y.size == 0:
        return BalancePlan(np.arange(y.size), empty_i, empty_i, np.zeros(0), method, target, int(seed))
    rng = np.random.default_rng(seed)
    keep, pa, pb, lam = [], [], [], []
    for code, n in zip(codes, counts, strict=True):
        idx = np.flatnonzero(y == code)
        if n >= target:
            keep.append(np.sort(rng.choice(idx, size=target, replace=False)) if n > target else idx)
            continue
        keep.append(idx)
        need = target - int(n)
        a = rng.integers(0, n, size=need)
        if method == "interpolate" and n >= 2:
            b = (a + rng.integers(1, n, size=need)) % n
            w = rng.uniform(0.0, 1.0, size=need)
        else:
            if method == "interpolate":
                logger.warning("plan_balance: class %s has 1 window; interpolation impossible, copying it", code)
            b = a
            w = np.ones(need)
        pa.append(idx[a])
        pb.append(idx[b])
        lam.append(w)
    def cat(parts: list[np.ndarray], dt: type) -> np.ndarray:
        return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dtype=dt)

    return BalancePlan(np.sort(cat(keep, np.int64)), cat(pa, np.int64), cat(pb, np.int64), cat(lam, np.float64),
                       method, target, int(seed))


def _pair_label(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a == b, a, "mixed").astype(object)


def apply_balance(ws: WindowSet, plan: BalancePlan) -> WindowSet:
    """The balanced set: kept windows (input order), then the added windows.

    Copies keep their parent's metadata.  Interpolated windows get
    ``start = -1``, ``recording = 'interpolated:<rec_a>|<rec_b>'``, and the
    subject (and source) of the parents where they agree, else ``'mixed'``.
    ``attrs['balance']`` records method, seed, target and windows added per class.
    """
    a, b, lam = plan.parent_a, plan.parent_b, plan.lam
    Xa = ws.X[a].astype(np.float64)
    X_new = lam[:, None, None] * Xa + (1.0 - lam[:, None, None]) * ws.X[b].astype(np.float64)
    mixed = a != b
    rec_a, rec_b = ws.recording[a].astype(object), ws.recording[b].astype(object)
    recording = np.where(mixed, "interpolated:" + rec_a + "|" + rec_b, rec_a).astype(object)
    subject = np.where(mixed, _pair_label(ws.subject[a], ws.subject[b]), ws.subject[a]).astype(object)
    source = np.where(mixed, _pair_label(ws.source[a], ws.source[b]), ws.source[a]).astype(object)
    start = np.where(mixed, -1, ws.start[a])
    k = plan.keep
    codes, counts = np.unique(ws.y[a], return_counts=True)
    added = {ws.label_map[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}
    attrs = dict(ws.attrs)
    attrs["balance"] = {"method": plan.method, "seed": plan.seed, "target": plan.target, "n_added": added,
                        "n_removed": int(len(ws) - k.size)}
    return WindowSet(
        X=np.concatenate([ws.X[k], X_new.astype(np.float32)], axis=0),
        y=np.concatenate([ws.y[k], ws.y[a]]),
        subject=np.concatenate([ws.subject[k].astype(object), subject]),
        recording=np.concatenate([ws.recording[k].astype(object), recording]),
        start=np.concatenate([ws.start[k], start]),
        source=np.concatenate([ws.source[k].astype(object), source]),
        channels=list(ws.channels), units=list(ws.units), fs=ws.fs, label_map=dict(ws.label_map), attrs=attrs,
    )


def balance_classes(ws: WindowSet, method: str, seed: int = 0, target: int | None = None) -> WindowSet:
    """Every class present gets exactly ``target`` windows (default: the largest class's count).

    ``apply_balance(ws, plan_balance(ws.y, method, seed, target))``; see both.
    """
    return apply_balance(ws, plan_balance(ws.y, method, seed, target))


# ----------------------------------------------------------------------------- make_windows


@dataclass
class WindowReport:
    """What `make_windows` did.

    config: the WindowConfig as a dict.
    n_recordings: recordings read; n_short: of them, too short for one window.
    n_cut: windows inside the recordings; n_nan: dropped for NaN;
    n_impure: relabelled null by purity.
    counts: {step: {class name: windows}} after each step applied, in order
        ('windowed', 'drop_null', 'min_class_windows', 'balance').
    dropped_classes: {class name: reason}.
    """

    config: dict[str, Any]
    n_recordings: int = 0
    n_short: int = 0
    n_cut: int = 0
    n_nan: int = 0
    n_impure: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped_classes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (JSON-safe)."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """Human-readable summary: totals, a class x step table, dropped classes."""
        cfg = self.config
        lines = [(
            f"{self.n_recordings} recordings ({self.n_short} shorter than one window of {cfg.get('length')} "
            f"frames), {self.n_cut} windows cut, {self.n_nan} dropped for NaN, "
            f"{self.n_impure} relabelled null (purity < {cfg.get('purity')})"
        )]
        steps = list(self.counts)
        names: list[str] = []
        for step in steps:
            names += [n for n in self.counts[step] if n not in names]
        width = max([len("class")] + [len(n) for n in names])
        col = max([8] + [len(s) for s in steps])
        lines.append("class".ljust(width) + "".join(s.rjust(col + 2) for s in steps))
        for name in names:
            cells = [str(self.counts[s][name]) if name in self.counts[s] else "-" for s in steps]
            lines.append(name.ljust(width) + "".join(c.rjust(col + 2) for c in cells))
        totals = [str(sum(self.counts[s].values())) for s in steps]
        lines.append("total".ljust(width) + "".join(t.rjust(col + 2) for t in totals))
        for name, why in self.dropped_classes.items():
            lines.append(f"dropped {name}: {why}")
        return "\n".join(lines)


def make_windows(recordings: Iterable[Recording], cfg: WindowConfig, label_mapper: LabelMapper | None = None,
                 progress: bool = False) -> tuple[WindowSet, WindowReport]:
    """Window all recordings, concatenate, then drop null / small classes and balance per ``cfg``.

    All recordings must give the same channels, units and rate after
    selection (ValueError names the first that does not); label maps are
    unified by name with null = ``NULL_LABEL``.  Returns the window set
    (attrs: config, counts, the report as a dict) and a `WindowReport`.
    """
    report = WindowReport(config=cfg.to_dict())
    sets = []
    for rec in tqdm(recordings, desc="windows", unit="rec", disable=not progress):
        ws = window_recording(rec, cfg, label_mapper)
        report.n_recordings += 1
        report.n_short += int(ws.attrs["n_cut"] == 0)
        sets.append(ws)
    if not sets:
        raise ValueError("make_windows: no recordings")
    ws = concat_windowsets(sets)
    report.n_cut = int(ws.attrs["n_cut"])
    report.n_nan = int(ws.attrs["n_nan"])
    report.n_impure = int(ws.attrs["n_impure"])
    report.counts["windowed"] = ws.class_counts()
    if cfg.drop_null:
        before = ws.class_counts()
        ws = drop_null(ws)
        report.counts["drop_null"] = ws.class_counts()
        null_name = ws.label_map[NULL_LABEL]
        if before.get(null_name):
            report.dropped_classes[null_name] = f"null class, {before[null_name]} windows (drop_null)"
    if cfg.min_class_windows > 0:
        before = ws.class_counts()
        ws = drop_small_classes(ws, cfg.min_class_windows)
        after = ws.class_counts()
        report.counts["min_class_windows"] = after
        for name, n in before.items():
            if name not in after:
                report.dropped_classes[name] = f"{n} windows < min_class_windows={cfg.min_class_windows}"
    if cfg.balance != "none" and len(ws):
        ws = balance_classes(ws, cfg.balance, cfg.seed)
        report.counts["balance"] = ws.class_counts()
    ws.attrs["config"] = cfg.to_dict()
    ws.attrs["n_windows"] = len(ws)
    ws.attrs["report"] = report.to_dict()
    logger.info("make_windows: %d recordings -> %d windows", report.n_recordings, len(ws))
    return ws, report


# ----------------------------------------------------------------------------- streaming


def global_steps(cfg: WindowConfig) -> list[str]:
    """Steps of ``cfg`` needing the whole run's class counts or windows ('min_class_windows', 'balance')."""
    steps = []
    if cfg.min_class_windows > 0:
        steps.append("min_class_windows")
    if cfg.balance != "none":
        steps.append("balance")
    return steps


def _add_counts(counter: dict[int, int], y: np.ndarray) -> None:
    codes, counts = np.unique(y, return_counts=True)
    for code, n in zip(codes.tolist(), counts.tolist(), strict=True):
        counter[code] = counter.get(code, 0) + n


def _named_counts(counter: dict[int, int], label_map: dict[int, str]) -> dict[str, int]:
    """{name: windows} in code order (as `WindowSet.class_counts`)."""
    return {label_map[c]: n for c, n in sorted(counter.items()) if n}


def _unified_windows(recordings: Iterable[Recording], cfg: WindowConfig, label_mapper: LabelMapper | None,
                     progress: bool, desc: str) -> Iterator[tuple[WindowSet, LabelUnifier]]:
    """Each recording's windows with y in the codes of the label map unified so far (its ``label_map``)."""
    unifier: LabelUnifier | None = None
    ref: WindowSet | None = None
    for i, rec in enumerate(tqdm(recordings, desc=desc, unit="rec", disable=not progress)):
        ws = window_recording(rec, cfg, label_mapper)
        if ref is None:  # metadata of the first set, for the error message of concat_windowsets
            ref = dataclasses.replace(ws, X=np.broadcast_to(np.zeros((1, 1, 1), dtype=np.float32), ws.X.shape))
            unifier = LabelUnifier(ws.label_map.get(NULL_LABEL, NULL_NAME))
        else:
            _check_compatible(i, ws, ref)
        tr = unifier.add(ws.label_map)
        yield dataclasses.replace(ws, y=_translate(ws.y, tr), label_map=unifier.label_map), unifier


def stream_windows(recordings: Iterable[Recording] | Callable[[], Iterable[Recording]], cfg: WindowConfig,
                   sink: Callable[[WindowSet], None], label_mapper: LabelMapper | None = None,
                   progress: bool = False,
                   stage: Callable[[WindowSet], WindowSet] | None = None) -> tuple[WindowReport, dict[str, Any]]:
    """`make_windows` one recording at a time: each recording's windows go to ``sink`` as soon as they are cut.

    Memory holds one recording's windows, not the run's.  Concatenated, the
    sets given to ``sink`` (one per recording, in order, also when empty)
    are exactly the set `make_windows` returns for the same input: same
    windows in the same order, y in the codes of the label map unified so
    far (each set's ``label_map``; codes never change once given, and the
    last map is make_windows' map).  Returns (report, attrs): the same
    `WindowReport` and the attrs make_windows gives its set (config, n_cut,
    n_nan, n_impure, n_windows, report).

    Steps: drop_null works window by window.  min_class_windows needs the
    class counts of the whole run first, so it takes two passes (the first
    windows everything and counts, the second drops the small classes and
    writes): ``recordings`` must then be a zero-argument callable returning
    a fresh iterable of the same recordings (it may always be one).
    Balancing needs every window at once: ValueError (use make_windows).
    stage: an optional step on each recording's windows after these (e.g.
    `StreamFilter`), before the sink; it must treat each window on its own.
    """
    if cfg.balance != "none":
        raise ValueError("stream_windows: balancing needs every window of the run at once; use make_windows")
    two_pass = cfg.min_class_windows > 0
    if two_pass and not callable(recordings):
        raise ValueError("stream_windows: min_class_windows needs two passes over the recordings; pass a "
                         "zero-argument callable that returns them")
    source = recordings if callable(recordings) else (lambda: recordings)

    small: list[int] = []
    if two_pass:
        totals: dict[int, int] = {}
        for ws, _ in _unified_windows(source(), cfg, label_mapper, progress, "windows (counting)"):
            _add_counts(totals, ws.y[ws.y != NULL_LABEL] if cfg.drop_null else ws.y)
        small = sorted(c for c, n in totals.items() if n < cfg.min_class_windows and c != NULL_LABEL)

    report = WindowReport(config=cfg.to_dict())
    counts: dict[str, dict[int, int]] = {"windowed": {}}
    if cfg.drop_null:
        counts["drop_null"] = {}
    if two_pass:
        counts["min_class_windows"] = {}
    n_windows = 0
    unifier: LabelUnifier | None = None
    for ws, unifier in _unified_windows(source(), cfg, label_mapper, progress, "windows"):  # noqa: B007 (used after)
        report.n_recordings += 1
        report.n_short += int(ws.attrs["n_cut"] == 0)
        report.n_cut += int(ws.attrs["n_cut"])
        report.n_nan += int(ws.attrs["n_nan"])
        report.n_impure += int(ws.attrs["n_impure"])
        _add_counts(counts["windowed"], ws.y)
        if cfg.drop_null:
            ws = drop_null(ws)
            _add_counts(counts["drop_null"], ws.y)
        if two_pass:
            ws = ws.subset(~np.isin(ws.y, small)) if small else ws
            _add_counts(counts["min_class_windows"], ws.y)
        n_windows += len(ws)
        if stage is not None:
            ws = stage(ws)
        sink(ws)
    if unifier is None:
        raise ValueError("make_windows: no recordings")
    label_map = unifier.label_map
    report.counts = {step: _named_counts(c, label_map) for step, c in counts.items()}
    if cfg.drop_null and counts["windowed"].get(NULL_LABEL):
        report.dropped_classes[label_map[NULL_LABEL]] = (f"null class, {counts['windowed'][NULL_LABEL]} windows "
                                                         "(drop_null)")
    if two_pass:
        before = report.counts["drop_null" if cfg.drop_null else "windowed"]
        after = report.counts["min_class_windows"]
        for name, n in before.items():
            if name not in after:
                report.dropped_classes[name] = f"{n} windows < min_class_windows={cfg.min_class_windows}"
    attrs = {"config": cfg.to_dict(), "n_cut": report.n_cut, "n_nan": report.n_nan, "n_impure": report.n_impure,
             "n_windows": n_windows, "report": report.to_dict()}
    logger.info("stream_windows: %d recordings -> %d windows", report.n_recordings, n_windows)
    return report, attrs


class StreamFilter:
    """The acceleration-based label filter (`virtimu.labels.filtering.filter_windows`) applied recording by
    recording, with one report for the whole run.

    ``StreamFilter(rules)(ws)`` filters one batch of windows and returns the
    kept ones (a `stream_windows` stage).  `report` merges the batches'
    reports into the one `filter_windows` gives for their concatenation
    (per-class counts, per-condition counts, the first ``max_examples``
    dropped windows per class, notes, the keep mask), `attrs` the
    ``label_filter`` attrs it sets.  Every window's statistics depend on that
    window only, so filtering batch by batch drops the same windows.  The
    batches must share one label space, later maps extending earlier ones
    (as `stream_windows` gives them).
    """

    def __init__(self, rules: Any, max_examples: int = 5, **options: Any) -> None:
        self.rules = rules
        self.max_examples = int(max_examples)
        self.options = options
        self._reports: list[Any] = []
        self._keep: list[np.ndarray] = []
        self._label_map: dict[int, str] = {}

    def __call__(self, ws: WindowSet) -> WindowSet:
        from virtimu.labels.filtering import filter_windows

        self._label_map = dict(ws.label_map)
        if len(ws) == 0:
            self._keep.append(np.zeros(0, dtype=bool))
            return ws
        kept, report = filter_windows(ws, self.rules, max_examples=self.max_examples, **self.options)
        self._reports.append(report)
        self._keep.append(report.keep)
        return kept

    def report(self) -> Any:
        """The merged `FilterReport` of every batch so far."""
        from virtimu.labels.filtering import ConditionResult, FilterReport

        code_of = {name: code for code, name in sorted(self._label_map.items(), reverse=True)}

        def class_order(label: str) -> int:
            return code_of.get(label, len(code_of))

        per_class: dict[str, dict[str, int]] = {}
        conditions: dict[tuple[str, int], ConditionResult] = {}
        notes: dict[tuple[str, int], str] = {}
        examples: dict[str, list[tuple[str, int]]] = {}
        for rep in self._reports:
            for label, row in rep.per_class.items():
                total = per_class.setdefault(label, {"windows": 0, "kept": 0, "dropped": 0,
                                                     "conditions": row["conditions"]})
                for key in ("windows", "kept", "dropped"):
                    total[key] += row[key]
            skipped = [r for r in rep.conditions if r.skipped]
            for r, note in zip(skipped, rep.notes, strict=False):
                notes.setdefault((r.label, r.index), note)
            for r in rep.conditions:
                key = (r.label, r.index)
                if key in conditions:
                    conditions[key].n_checked += r.n_checked
                    conditions[key].n_failed += r.n_failed
                else:
                    conditions[key] = ConditionResult(r.label, r.index, r.condition, list(r.keys), r.n_checked,
                                                      r.n_failed)
            for label, items in rep.examples.items():
                examples.setdefault(label, []).extend(items)
        ordered = sorted(conditions, key=lambda k: (class_order(k[0]), k[1]))
        return FilterReport(
            keep=np.concatenate(self._keep) if self._keep else np.zeros(0, dtype=bool),
            per_class={label: per_class[label] for label in sorted(per_class, key=class_order)},
            conditions=[conditions[k] for k in ordered],
            examples={label: examples[label][:self.max_examples] for label in sorted(examples, key=class_order)},
            notes=[notes[k] for k in ordered if k in notes],
            rules_source=self.rules.source,
        )

    def attrs(self) -> dict[str, Any]:
        """The ``label_filter`` attrs `filter_windows` puts on its kept set, for the whole run."""
        report = self.report()
        return {"rules": self.rules.source, "windows": report.n_windows, "kept": report.n_kept,
                "dropped": report.n_dropped}
