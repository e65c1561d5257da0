"""Shared pieces of the hostile-input tests: bounded Hypothesis settings, store snapshots."""
from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

from hypothesis import HealthCheck, settings


#: Bounded, reproducible property runs: fixed example counts, no deadline (the CI machine
#: is shared), derandomized (the same examples on every run), no example database on disk.
def bounded(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


_counter = itertools.count()


def fresh_dir(base: Path, prefix: str = "ex") -> Path:
    """A new empty folder under ``base`` (one per Hypothesis example)."""
    path = base / f"{prefix}{next(_counter):05d}"
    path.mkdir(parents=True)
    return path


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256 of the content (or 'dir')} of everything under ``root`` (absent: {})."""
    if not root.exists():
        return {}
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out
