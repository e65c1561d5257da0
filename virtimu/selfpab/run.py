"""One SelfPAB downstream run: split, label budget, train, evaluate, write the run folder.

`split_indices` gives (train, test) window indices for the ``ratio``,
``loso`` (one test subject per fold) and ``subjects`` (fixed test subjects)
splits of `virtimu.evaluation.splits`; `per_class_sample` draws a label
budget of n windows per class; `run_downstream` trains a
`SelfPABDownstream` and writes ``model.pt``, ``metrics.json``,
``confusion.png``, ``per_class.md`` and ``history.json`` into its folder.

Metrics: on windows (the window label against the aggregated frame
predictions) and, when the data has per-sample labels (windows cut from
recordings), on samples as paper 002 reports them (frame predictions
unfolded to 50 Hz, null samples left out; a sample inside two overlapping
test windows counts twice).  ``metrics.json`` holds the primary one
(samples when available, else windows) and the other under
``provenance['window_metrics']``.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.report import RunResult, write_json, write_run
from virtimu.evaluation.splits import loso, ratio_split, stratified_sample
from virtimu.selfpab.config import SelfPABConfig
from virtimu.selfpab.data import AccData
from virtimu.selfpab.downstream import SelfPABDownstream
from virtimu.selfpab.pretrain import Upstream
from virtimu.types import NULL_LABEL

log = logging.getLogger(__name__)

__all__ = ["SPLITS", "split_indices", "per_class_sample", "run_downstream", "MODEL_NAME"]

SPLITS = ("ratio", "loso", "subjects")
MODEL_NAME = "model.pt"


def split_indices(data: AccData, split: str, *, seed: int = 0, ratio: float = 0.7,
                  test_subjects: Sequence[str] | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Folds ``[(name, train_idx, test_idx)]`` of the labelled windows of ``data``.

    ratio: one stratified random split (``ratio`` of the windows train).
    loso: one fold per subject in ``test_subjects`` (default: every subject).
    subjects: one fold testing on all of ``test_subjects`` together.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "ratio":
        tr, te = ratio_split(data.y, train=ratio, seed=seed)
        return [(f"ratio-{ratio:g}", tr, te)]
    if split == "loso":
        folds = loso(data.subject, n_val_subjects=0, seed=seed,
                     test_subjects=None if not test_subjects else [str(s) for s in test_subjects])
        return [(f"loso-{f.test_subject}", f.train, f.test) for f in folds]
    if not test_subjects:
        raise ValueError("split 'subjects' needs test subjects (e.g. --test-subjects 2,4,9)")
    want = {str(s) for s in test_subjects}
    missing = sorted(want - set(data.subject.tolist()))
    if missing:
        raise ValueError(f"test subjects {missing} not in the data; subjects: {sorted(set(data.subject.tolist()))}")
    is_test = np.isin(data.subject, list(want))
    return [("subjects", np.flatnonzero(~is_test), np.flatnonzero(is_test))]


def per_class_sample(y: np.ndarray, n_per_class: int | None, seed: int) -> np.ndarray:
    """Positions of ``n_per_class`` windows of every class in ``y`` (all of a smaller class; all if None).

    Nested across budgets: each class's windows are shuffled once by
    ``default_rng([seed, code])`` and the first n taken, so a larger budget
    holds every window of a smaller one.  Returns ascending int64 positions.
    """
    y = np.asarray(y)
    if n_per_class is None:
        return np.arange(y.size, dtype=np.int64)
    if int(n_per_class) < 1:
        raise ValueError(f"per_class_sample: n_per_class must be >= 1, got {n_per_class!r}")
    out = [np.random.default_rng([int(seed), int(c)]).permutation(np.flatnonzero(y == c))[: int(n_per_class)]
           for c in np.unique(y)]
    return np.sort(np.concatenate(out)).astype(np.int64)


def _labelled(data: AccData) -> np.ndarray:
    """Windows that carry a label: a non-null window label, or any non-null sample."""
    if data.y_samples is not None:
        return np.flatnonzero(np.any(data.y_samples != NULL_LABEL, axis=1) | (data.y != NULL_LABEL))
    return np.flatnonzero(data.y != NULL_LABEL)


def evaluate(model: SelfPABDownstream, data: AccData) -> dict[str, Any]:
    """Window-level (and, with per-sample labels, sample-level) true / predicted codes of ``data``."""
    out: dict[str, Any] = {}
    keep = data.y != NULL_LABEL
    if np.any(keep):
        out["windows"] = (data.y[keep], model.predict(data.X[keep]))
    if data.y_samples is not None:
        pred = model.predict_samples(data.X)
        mask = data.y_samples != NULL_LABEL
        if np.any(mask):
            out["samples"] = (data.y_samples[mask], pred[mask])
    return out


def run_downstream(data: AccData, train_idx: np.ndarray, test_idx: np.ndarray, cfg: SelfPABConfig,
                   upstream: Upstream | None, out_dir: str | os.PathLike | None, *, name: str = "fold",
                   dataset: str = "", n_per_class: int | None = None, n_windows: int | None = None,
                   seed: int | None = None, progress: bool = False,
                   provenance: dict[str, Any] | None = None) -> RunResult:
    """Train on ``data[train_idx]`` (optionally a label budget of it), evaluate on ``data[test_idx]``.

    n_per_class: windows per class (`per_class_sample`); n_windows: a
    stratified sample of that many windows (`stratified_sample`); seed:
    overrides ``cfg.downstream.seed`` (initialisation, batches and budget
    draw).  With ``out_dir`` the run folder is written; returns the
    `RunResult` (model 'selfpab' or 'selfpab-scratch').
    """
    import dataclasses

    if seed is not None:
        cfg = dataclasses.replace(cfg, downstream=dataclasses.replace(cfg.downstream, seed=int(seed)))
    seed = cfg.downstream.seed
    train_idx = np.asarray(train_idx, dtype=np.int64)
    train_idx = train_idx[np.isin(train_idx, _labelled(data))]
    if n_per_class is not None:
        train_idx = train_idx[per_class_sample(data.y[train_idx], n_per_class, seed)]
    elif n_windows is not None:
        train_idx = train_idx[stratified_sample(data.y[train_idx], int(n_windows), seed=seed)]
    train, test = data.subset(train_idx), data.subset(np.asarray(test_idx, dtype=np.int64))
    if len(test) == 0:
        raise ValueError(f"{name}: no test windows")
    model = SelfPABDownstream(cfg, upstream, channels=data.channels, label_map=data.label_map)
    t0 = time.perf_counter()
    model.fit(train.X, train.y, y_samples=train.y_samples, progress=progress)
    train_s = time.perf_counter() - t0
    results = evaluate(model, test)
    if not results:
        raise ValueError(f"{name}: the test windows carry no labels")
    primary = "samples" if "samples" in results else "windows"
    labels = None  # classes of y_true and y_pred, as scikit-learn's macro average
    extra = {k: Metrics.compute(t, p, data.label_map, labels=labels).to_dict()
             for k, (t, p) in results.items() if k != primary}
    model.provenance = {**(provenance or {}), "fold": name, "n_train_windows": len(train),
                        "n_test_windows": len(test), "n_per_class": n_per_class, "n_windows": n_windows}
    result = RunResult(model="selfpab" if upstream is not None else "selfpab-scratch", dataset=dataset, split=name,
                       seed=int(seed), train_seconds=train_s, config=cfg.to_dict(),
                       provenance={**model.provenance, "evaluated_on": primary,
                                   **({"window_metrics": extra["windows"]} if "windows" in extra else {}),
                                   "unfrozen_at": model.history.get("unfrozen_at"),
                                   "final_train_loss": float(np.mean(model.history["loss"][-20:]))})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / MODEL_NAME)
        write_json(out / "history.json", model.history)
        write_run(out, result, results[primary][0], results[primary][1], data.label_map, labels=labels)
    else:
        result.metrics = Metrics.compute(results[primary][0], results[primary][1], data.label_map, labels=labels)
    return result
