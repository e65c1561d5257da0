"""Ingest a real dataset into a recording store (``virtimu ingest NAME PATH``)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from virtimu.datasets.base import load_dataset
from virtimu.store import RecordingStore

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    dataset: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    frames: int = 0
    subjects: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.dataset}: {len(self.written)} recordings written, {len(self.skipped)} already present; "
                f"{self.frames} frames, {len(self.subjects)} subjects in {self.seconds:.1f} s")


def ingest(name: str, path: str | Path, store_path: str | Path, fs: float | None = None,
           overwrite: bool = False, progress: bool = True) -> IngestReport:
    """Load dataset ``name`` from ``path`` and write each recording atomically.

    A bad file raises (DatasetFormatError naming file and line/field) before its
    recording is written; recordings already written stay complete, and a
    re-run skips them.
    """
    store = RecordingStore(store_path, mode="a")
    report = IngestReport(dataset=name)
    start = time.perf_counter()
    for rec in tqdm(load_dataset(name, path, fs=fs), desc=f"ingest {name}", unit="rec", disable=not progress):
        if not overwrite and store.has(rec.source, rec.name):
            report.skipped.append(rec.name)
            continue
        store.write(rec, overwrite=overwrite)
        report.written.append(rec.name)
        report.frames += rec.n_frames
        if rec.subject:
            report.subjects.add(rec.subject)
    report.seconds = time.perf_counter() - start
    return report
