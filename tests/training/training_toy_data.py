"""A small separable window store (6 subjects, 3 classes, tiny chunks) for run / streaming tests.

A plain module, not a conftest: ``from conftest import ...`` elsewhere must keep finding the root
conftest.  Test modules build their fixtures with `toy_store_in`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from virtimu.store.windows import WindowStore
from virtimu.types import WindowSet

LABEL_MAP = {0: "null", 1: "walk", 2: "sit", 3: "lie"}
SUBJECTS = ("s1", "s2", "s3", "s4", "s5", "s6")


def toy_windows(per_class: int = 10, length: int = 16, channels: int = 3, seed: int = 0,
                subjects: tuple[str, ...] = SUBJECTS) -> WindowSet:
    """Windows (N, length, channels): class c in {1, 2, 3} has +3 on channel c-1; offset 5, scale 2."""
    rng = np.random.default_rng(seed)
    X, y, subj = [], [], []
    for s in subjects:
        for c in (1, 2, 3):
            x = rng.normal(size=(per_class, length, channels))
            x[:, :, (c - 1) % channels] += 3.0
            X.append(5.0 + 2.0 * x)
            y += [c] * per_class
            subj += [s] * per_class
    n = len(y)
    order = rng.permutation(n)  # interleave subjects and classes in the store
    return WindowSet(X=np.concatenate(X)[order].astype(np.float32), y=np.array(y)[order],
                     subject=np.array(subj)[order], recording=np.array([f"toy/{s}" for s in subj])[order],
                     start=np.arange(n), source=np.full(n, "toy"),
                     channels=[f"wrist/acc_{a}" for a in "xyz"][:channels], units=["m/s^2"] * channels,
                     fs=50.0, label_map=dict(LABEL_MAP))


def write_store(path: Path, ws: WindowSet, chunk_rows: int = 16, set_name: str = "default") -> Path:
    WindowStore(path, mode="a").append(set_name, ws, chunk_rows=chunk_rows)
    return path


def toy_store_in(folder: Path, name: str = "toy.zarr", chunk_rows: int = 16, **kw) -> tuple[Path, WindowSet]:
    """Write `toy_windows` (``kw``) as set 'default' of ``folder/name``; returns (store path, the WindowSet)."""
    ws = toy_windows(**kw)
    return write_store(folder / name, ws, chunk_rows=chunk_rows), ws
