"""Accelerometer windows for SelfPAB from a virtimu store, in g.

The store holds SI units (m/s²); paper 002 works in g, so accelerations are
divided by standard gravity 9.80665 m/s² here, at the edge (channels whose
unit is already ``g`` are kept).  Only accelerometer channels are accepted.

Two inputs:

- `from_window_set`: a window set made by ``virtimu windows`` (for long
  pretraining windows e.g. ``--length 15000 --fs 50 --channels
  'back/acc_*,right_thigh/acc_*'``).  A window set has one label per window.
- `from_recordings`: windows cut directly from the recordings (resampled to
  the config's rate with the anti-aliased `decimate_signals`, labels taken
  from the nearest source sample).  These keep per-sample labels
  (``y_samples``), so downstream training can label every spectrogram frame
  (paper 002 trains and evaluates per frame).

`AccData` carries X (N, L, C) in g, window labels y (N,), optional
per-sample labels (N, L), subject / recording / start per window, the
channel names, rate and label map.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from virtimu.selfpab.config import STANDARD_GRAVITY
from virtimu.sensors.resample import decimate_signals, target_times
from virtimu.types import NULL_LABEL
from virtimu.windows import select_channels, unify_label_maps, window_labels, window_starts

log = logging.getLogger(__name__)

__all__ = ["AccData", "parse_channels", "to_g", "from_window_set", "from_recordings", "load_acc_data"]

#: Accepted accelerometer units and their factor to g.
ACC_UNIT_TO_G = {"m/s^2": 1.0 / STANDARD_GRAVITY, "m/s2": 1.0 / STANDARD_GRAVITY, "m s-2": 1.0 / STANDARD_GRAVITY,
                 "g": 1.0}
_RATE_RTOL = 1e-9


@dataclass
class AccData:
    """Accelerometer windows in g.

    X: (N, L, C) float32 in g.  y: (N,) int64 window labels (``NULL_LABEL``
    when unknown or impure).  y_samples: (N, L) int64 per-sample labels or
    None.  subject / recording: (N,) str.  start: (N,) int64 first sample at
    ``fs``.  channels: C names.  fs: Hz.  label_map: {code: name}.
    provenance: where the data came from.
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    start: np.ndarray
    channels: list[str]
    fs: float
    label_map: dict[int, str]
    y_samples: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float32)
        if self.X.ndim != 3:
            raise ValueError(f"AccData: X must be (N, L, C), got {self.X.shape}")
        n = self.X.shape[0]
        self.y = np.asarray(self.y, dtype=np.int64)
        self.subject = np.asarray(self.subject, dtype=str)
        self.recording = np.asarray(self.recording, dtype=str)
        self.start = np.asarray(self.start, dtype=np.int64)
        for key in ("y", "subject", "recording", "start"):
            if getattr(self, key).shape != (n,):
                raise ValueError(f"AccData: {key} has shape {getattr(self, key).shape}, expected ({n},)")
        if self.y_samples is not None:
            self.y_samples = np.asarray(self.y_samples, dtype=np.int64)
            if self.y_samples.shape != self.X.shape[:2]:
                raise ValueError(f"AccData: y_samples {self.y_samples.shape} != {self.X.shape[:2]}")
        if len(self.channels) != self.X.shape[2]:
            raise ValueError(f"AccData: {len(self.channels)} channel names for {self.X.shape[2]} columns")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, idx: np.ndarray) -> AccData:
        """The windows at ``idx`` (indices or boolean mask)."""
        idx = np.asarray(idx)
        return AccData(X=self.X[idx], y=self.y[idx], subject=self.subject[idx], recording=self.recording[idx],
                       start=self.start[idx], channels=list(self.channels), fs=self.fs,
                       label_map=dict(self.label_map),
                       y_samples=None if self.y_samples is None else self.y_samples[idx],
                       provenance=dict(self.provenance))


def parse_channels(spec: str | Sequence[str] | None) -> list[str] | None:
    """``'back/acc_*,right_thigh/acc_*'`` -> ['back/acc_*', 'right_thigh/acc_*'] (None stays None)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    else:
        items = [str(s).strip() for s in spec]
    items = [s for s in items if s]
    if not items:
        raise ValueError(f"channel patterns {spec!r}: expected at least one pattern")
    return items


def to_g(X: np.ndarray, channels: Sequence[str], units: Sequence[str], where: str) -> np.ndarray:
    """X (..., C) accelerations converted to g, per channel unit; non-acceleration channels raise ValueError."""
    factors = []
    for c, u in zip(channels, units):
        key = str(u).strip()
        if key not in ACC_UNIT_TO_G or not str(c).split("/")[-1].startswith("acc"):
            raise ValueError(f"{where}: channel {c!r} (unit {u!r}) is not an accelerometer axis in "
                             f"{sorted(ACC_UNIT_TO_G)}; SelfPAB takes accelerometer axes only "
                             f"(select them with e.g. --channels 'back/acc_*')")
        factors.append(ACC_UNIT_TO_G[key])
    return (np.asarray(X, dtype=np.float64) * np.asarray(factors)).astype(np.float32)


def _check_rate(fs: float, want: float, where: str) -> None:
    if abs(float(fs) - float(want)) > _RATE_RTOL * float(want):
        raise ValueError(f"{where}: sampled at {fs:g} Hz, SelfPAB expects {want:g} Hz "
                         f"(re-window with --fs {want:g}, or use the recordings)")


def from_window_set(store: str | os.PathLike, set_name: str, channels: Sequence[str] | None = None,
                    sources: Sequence[str] | None = None, fs: float = 50.0) -> AccData:
    """Windows of a stored set as `AccData` (window labels only).

    channels: fnmatch patterns (None = every channel of the set, which must
    then all be accelerometer axes).  sources: keep windows of these sources.
    Raises ValueError when the set's rate differs from ``fs``.
    """
    from virtimu.store.windows import WindowStore

    where = f"{store}: window set {set_name!r}"
    ws = WindowStore(store, mode="r")
    if not ws.has_set(set_name):
        raise ValueError(f"{store}: no window set {set_name!r}; sets: {ws.list_sets()}")
    meta = ws.meta(set_name)
    rows = np.arange(len(meta), dtype=np.int64)
    if sources:
        src = meta.source
        rows = rows[np.isin(src, list(sources))]
        if rows.size == 0:
            raise ValueError(f"{where}: no windows from sources {list(sources)}; it has {sorted(set(src.tolist()))}")
    wset = ws.read(set_name, rows)
    _check_rate(wset.fs, fs, where)
    names = select_channels(wset.channels, parse_channels(channels), where=where)
    col = [wset.channels.index(c) for c in names]
    X = to_g(wset.X[:, :, col], names, [wset.units[i] for i in col], where)
    return AccData(X=X, y=wset.y, subject=wset.subject, recording=wset.recording, start=wset.start,
                   channels=names, fs=float(wset.fs), label_map=dict(wset.label_map),
                   provenance={"store": os.fspath(store), "set": set_name, "sources": list(sources or [])})


def _resample_labels(labels: np.ndarray, n_src: int, fs_src: float, fs_dst: float) -> np.ndarray:
    t = target_times(n_src, fs_src, fs_dst)
    return labels[np.clip(np.rint(t * fs_src).astype(np.int64), 0, n_src - 1)]


def from_recordings(store: str | os.PathLike, channels: Sequence[str] | None, length: int, overlap: float = 0.5,
                    fs: float = 50.0, sources: Sequence[str] | None = None, purity: float = 0.8,
                    subjects: Sequence[str] | None = None, progress: bool = False) -> AccData:
    """Windows of ``length`` samples at ``fs`` cut from the store's recordings, with per-sample labels.

    channels: fnmatch patterns naming accelerometer axes (every recording
    must have them).  overlap: fraction shared by consecutive windows.
    sources / subjects: keep only these.  Windows touching a gap (NaN) are
    dropped.  Window labels: majority label covering >= ``purity`` of the
    samples, else ``NULL_LABEL``; unlabelled recordings give null labels.
    Label maps of different recordings are unified by name.
    """
    from virtimu.store import RecordingStore

    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"from_recordings: overlap must be in [0, 1), got {overlap!r}")
    patterns = parse_channels(channels)
    rs = RecordingStore(store, mode="r")
    keys = [k for k in rs.list() if not sources or k[0] in set(sources)]
    if not keys:
        raise ValueError(f"{store}: no recordings" + (f" from sources {list(sources)}" if sources else "")
                         + f"; sources in the store: {rs.sources()}")
    step = max(1, int(np.floor(length * (1.0 - overlap) + 0.5)))
    parts: list[dict[str, Any]] = []
    maps: list[dict[int, str]] = []
    names_out: list[str] | None = None
    for src, name in tqdm(keys, desc="recordings", disable=not progress, leave=False):
        rec = rs.read(src, name)
        if subjects is not None and str(rec.subject) not in {str(s) for s in subjects}:
            continue
        where = f"{store}: recording {src}/{name}"
        names = select_channels(rec.channels, patterns, where=where)
        if names_out is None:
            names_out = names
        elif [n.split("/")[-1] for n in names] != [n.split("/")[-1] for n in names_out] or len(names) != len(names_out):
            raise ValueError(f"{where}: channels {names} differ from the first recording's {names_out}")
        x = to_g(rec.select(names), names, [rec.units[rec.channels.index(c)] for c in names], where)
        labels = rec.labels if rec.labels is not None else np.full(rec.n_frames, NULL_LABEL, dtype=np.int64)
        if abs(float(rec.fs) - float(fs)) > _RATE_RTOL * float(fs):
            bad = ~np.all(np.isfinite(x), axis=1)
            filled = np.where(np.isfinite(x), x, 0.0)
            labels = _resample_labels(np.asarray(labels), rec.n_frames, rec.fs, fs)
            bad = _resample_labels(bad, rec.n_frames, rec.fs, fs)
            x = decimate_signals(filled, rec.fs, fs, axis=0).astype(np.float32)[: labels.size]
            x[bad] = np.nan
        starts = window_starts(x.shape[0], length, step)
        if starts.size == 0:
            log.info("%s: %d samples at %g Hz, shorter than one window of %d; skipped", where, x.shape[0], fs, length)
            continue
        finite = np.all(np.isfinite(x), axis=1)
        cs = np.concatenate([[0], np.cumsum(~finite)])
        starts = starts[cs[starts + length] - cs[starts] == 0]
        if starts.size == 0:
            continue
        maps.append(dict(rec.label_map or {NULL_LABEL: "null"}))
        idx = starts[:, None] + np.arange(length)[None, :]
        parts.append({"X": x[idx], "ys": np.asarray(labels, dtype=np.int64)[idx], "starts": starts,
                      "subject": str(rec.subject or ""), "recording": f"{src}/{name}"})
    if not parts:
        raise ValueError(f"{store}: no window of {length} samples at {fs:g} Hz in the selected recordings")
    unified, trans = unify_label_maps(maps)
    ys_all = []
    for part, tr in zip(parts, trans):
        lut_keys = np.array(sorted(tr), dtype=np.int64)
        ys = part["ys"]
        unknown = np.setdiff1d(np.unique(ys), lut_keys)
        if unknown.size:
            raise ValueError(f"{store}: recording {part['recording']} has label codes {unknown.tolist()} "
                             f"outside its label map")
        ys_all.append(np.array([tr[int(k)] for k in lut_keys], dtype=np.int64)[np.searchsorted(lut_keys, ys)])
    y_samples = np.concatenate(ys_all)
    y, _ = window_labels(y_samples.reshape(-1), np.arange(len(y_samples)) * length, length, purity)
    n_per = [len(p["starts"]) for p in parts]
    return AccData(
        X=np.concatenate([p["X"] for p in parts]), y=y, y_samples=y_samples,
        subject=np.repeat([p["subject"] for p in parts], n_per),
        recording=np.repeat([p["recording"] for p in parts], n_per),
        start=np.concatenate([p["starts"] for p in parts]), channels=list(names_out or []), fs=float(fs),
        label_map=unified,
        provenance={"store": os.fspath(store), "recordings": len(parts), "sources": list(sources or []),
                    "length": int(length), "overlap": float(overlap)})


def load_acc_data(store: str | os.PathLike, channels: Sequence[str] | None, *, set_name: str | None = None,
                  length: int = 15000, overlap: float = 0.5, fs: float = 50.0,
                  sources: Sequence[str] | None = None, purity: float = 0.8, progress: bool = False) -> AccData:
    """`from_window_set` when ``set_name`` is given, else `from_recordings`."""
    if set_name:
        return from_window_set(store, set_name, channels=channels, sources=sources, fs=fs)
    return from_recordings(store, channels, length=length, overlap=overlap, fs=fs, sources=sources,
                           purity=purity, progress=progress)
