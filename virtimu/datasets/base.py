"""What every real-dataset loader shares: the registry, errors, resampling, ingest.

A loader turns a dataset folder in its exact published layout into
`Recording`s (the same type synthesis produces): SI units (m/s², rad/s),
channels named ``<site>/<signal>_<axis>`` after the virtual sensor sites
(``waist/acc_x``, ``right_wrist/gyro_z`` ...), per-frame integer labels in
the dataset's label space (``virtimu.labels.maps``; 0 = null), subject ids
as strings, NaN where the dataset has gaps, and provenance (dataset, files,
device axes and how they map to the site's axes).

Register a loader with `register(DatasetInfo(...))(load_function)` where
``load_function(path: Path) -> Iterator[Recording]`` yields recordings at
the dataset's native rate; `load_dataset` adds the optional rate change.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.sensors.resample import decimate_signals, resample_orientations, target_times
from virtimu.types import Recording

log = logging.getLogger(__name__)

#: Standard gravity (m/s²) for datasets that record acceleration in g.
G = 9.80665


class DatasetFormatError(ValueError):
    """A dataset file does not have the published layout.

    The message names the file and, where known, the line and field.
    """

    def __init__(self, file: str | Path, problem: str, line: int | None = None, field: str | None = None):
        where = str(file) + (f", line {line}" if line is not None else "") + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")
        self.file, self.line, self.field = str(file), line, field


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a dataset, for ``virtimu data list`` and provenance.

    name: short id used on the command line ('hapt', 'dip', ...).
    fs: native sampling rate (Hz).  sites: virtual sensor sites its sensors map to.
    label_space: name of its label space in ``virtimu.labels.maps``.
    layout: the published file layout the loader reads.
    download_url / sha256: for ``virtimu data fetch`` (None = manual download).
    instructions: how to obtain it when there is no public URL.
    """

    name: str
    title: str
    fs: float
    sites: tuple[str, ...]
    label_space: str
    licence: str
    url: str
    layout: str
    citation: str
    download_url: str | None = None
    sha256: str | None = None
    instructions: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Path], Iterator[Recording]]
_REGISTRY: dict[str, tuple[DatasetInfo, Loader]] = {}


def register(info: DatasetInfo) -> Callable[[Loader], Loader]:
    """Decorator registering ``load(path) -> Iterator[Recording]`` under ``info.name``."""

    def deco(fn: Loader) -> Loader:
        _REGISTRY[info.name] = (info, fn)
        return fn

    return deco


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to the dataset folder ``root`` with '/' separators (for messages and provenance)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


def _import_loaders() -> None:
    # Loader modules register themselves on import.
    import importlib
    import pkgutil

    import virtimu.datasets as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in ("base", "fetch", "ingest", "fixtures"):
            importlib.import_module(f"virtimu.datasets.{mod.name}")


def datasets() -> dict[str, DatasetInfo]:
    """All registered datasets by name."""
    _import_loaders()
    return {name: info for name, (info, _) in sorted(_REGISTRY.items())}


def get_dataset(name: str) -> tuple[DatasetInfo, Loader]:
    _import_loaders()
    key = name.lower().replace("_", "-")
    aliases = {k.replace("_", "-"): k for k in _REGISTRY}
    if key not in aliases:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[aliases[key]]


def resample_recording(rec: Recording, fs: float) -> Recording:
    """``rec`` at rate ``fs``: anti-aliased polyphase rate change of every
    continuous channel, SLERP for orientation groups ``<site>/rot_00..rot_22``,
    labels by nearest frame, NaN gaps kept as NaN (frames whose filter window
    touches a gap become NaN rather than invented values)."""
    if np.isclose(rec.fs, fs):
        return rec
    x = rec.signals.astype(np.float64)
    bad = ~np.isfinite(x).all(axis=1)
    filled = np.where(np.isfinite(x), x, 0.0)
    y = decimate_signals(filled, rec.fs, fs, axis=0)
    n = len(target_times(rec.n_frames, rec.fs, fs))
    y = y[:n]
    index = {c: i for i, c in enumerate(rec.channels)}
    for site in sorted({c.rsplit("/", 1)[0] for c in rec.channels if c.endswith("/rot_00")}):
        cols = [index.get(f"{site}/rot_{i}{j}") for i in range(3) for j in range(3)]
        if None in cols:
            continue
        R = x[:, cols].reshape(-1, 1, 3, 3)
        ok = np.isfinite(R).all(axis=(1, 2, 3))
        if not ok.any():
            continue
        nearest = np.maximum.accumulate(np.where(ok, np.arange(len(ok)), 0))  # last valid frame (first: next)
        nearest[: np.argmax(ok)] = np.argmax(ok)
        y[:, cols] = resample_orientations(R[nearest], rec.fs, fs)[:n].reshape(n, 9)
    t = np.arange(n) / fs
    src = np.clip(np.rint(t * rec.fs).astype(np.int64), 0, rec.n_frames - 1)
    if bad.any():
        # any output frame within one source-filter length of a gap is marked missing
        spread = max(1, int(np.ceil(rec.fs / fs)) * 4)
        near = np.convolve(bad.astype(float), np.ones(2 * spread + 1), mode="same") > 0
        y[near[src]] = np.nan
    labels = None if rec.labels is None else np.asarray(rec.labels)[src]
    prov = dict(rec.provenance)
    prov["resampled_from_hz"] = float(rec.fs)
    return replace(rec, signals=y.astype(np.float32), fs=float(fs), labels=labels, provenance=prov)


def load_dataset(name: str, path: str | Path, fs: float | None = None) -> Iterator[Recording]:
    """Recordings of dataset ``name`` under ``path``, optionally at rate ``fs``."""
    info, load = get_dataset(name)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{info.name}: {root} does not exist. {info.instructions}".strip())
    for rec in load(root):
        yield rec if fs is None else resample_recording(rec, fs)
