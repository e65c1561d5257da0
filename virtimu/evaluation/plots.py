"""Evaluation figures written as PNG files: confusion matrices, metric curves, training history.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global
figure state, no windows) and written atomically (temporary file + rename).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from virtimu.io.atomic import atomic_path

__all__ = ["normalize_confusion", "plot_confusion", "plot_metric_vs", "plot_bars", "plot_history"]

log = logging.getLogger(__name__)


def _save(fig: Figure, path: str | os.PathLike, dpi: int) -> Path:
    """Render ``fig`` to PNG at ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    log.debug("wrote %s", path)
    return path


def normalize_confusion(cm: np.ndarray, normalize: str | None = "true") -> np.ndarray:
    """Confusion matrix (K, K) as fractions: 'true' per row, 'pred' per column, 'all' overall, None as is.

    Empty rows/columns give 0 (not NaN).
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got {cm.shape}")
    if normalize is None:
        return cm
    if normalize == "true":
        den = cm.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        den = cm.sum(axis=0, keepdims=True)
    elif normalize == "all":
        den = np.full((1, 1), cm.sum())
    else:
        raise ValueError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}")
    out = np.zeros_like(cm)
    np.divide(cm, np.broadcast_to(den, cm.shape), out=out, where=np.broadcast_to(den, cm.shape) > 0)
    return out


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: str | os.PathLike,
                   normalize: str | None = "true", title: str = "Confusion matrix",
                   dpi: int = 120) -> Path:
    """Heat map of a confusion matrix ``cm`` (K, K) counts (rows true, columns predicted) to PNG.

    Colours show the ``normalize``d fractions ('true': recall per row,
    'pred': precision per column, 'all', or None for raw counts); each cell
    is annotated with its count and, when normalised, its percentage.
    """
    counts = np.asarray(cm)
    k = counts.shape[0] if counts.ndim == 2 else -1
    if counts.ndim != 2 or counts.shape != (k, k):
        raise ValueError(f"confusion matrix must be square (K, K), got {counts.shape}")
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for a {k}x{k} confusion matrix")
    values = normalize_confusion(counts, normalize)
    side = max(4.0, 0.6 * k + 2.5)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot(1, 1, 1)
    vmax = 1.0 if normalize is not None else max(float(values.max()), 1.0)
    im = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="fraction" if normalize is not None else "count")
    ax.set_xticks(range(k), labels=list(names), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title if normalize is None else f"{title} (normalised over {normalize})")
    fontsize = max(5.0, min(10.0, 90.0 / max(k, 1)))
    for i in range(k):
        for j in range(k):
            text = f"{int(counts[i, j])}"
            if normalize is not None:
                text += f"\n{100.0 * values[i, j]:.1f}%"
            colour = "white" if values[i, j] > 0.5 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=fontsize)
    return _save(fig, path, dpi)


def _series(values: Any, n_x: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_x:
        raise ValueError(f"{what} must be ({n_x},) or (S, {n_x}) to match x, got {np.shape(values)}")
    return arr


def plot_metric_vs(x: Sequence[float] | np.ndarray, mean: Any, std: Any | None, path: str | os.PathLike,
                   label: str | Sequence[str] | None = None, *, xlabel: str = "", ylabel: str = "macro-F1",
                   title: str = "", logx: bool = False, dpi: int = 120) -> Path:
    """Line plot of a metric against a setting (e.g. macro-F1 vs adaptation size) with ±std error bars.

    x: (n,) setting values.  mean: (n,) for one series or (S, n) for S series.
    std: same shape as ``mean`` or None (no error bars).  label: one name per
    series (str for a single series).  logx: logarithmic x axis.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {xs.shape}")
    means = _series(mean, xs.size, "mean")
    stds = None if std is None else _series(std, xs.size, "std")
    if stds is not None and stds.shape != means.shape:
        raise ValueError(f"std shape {stds.shape} differs from mean shape {means.shape}")
    if label is None:
        labels: list[str | None] = [None] * means.shape[0]
    elif isinstance(label, str):
        labels = [label]
    else:
        labels = list(label)
    if len(labels) != means.shape[0]:
        raise ValueError(f"{len(labels)} labels for {means.shape[0]} series")
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for s in range(means.shape[0]):
        ax.errorbar(xs, means[s], yerr=None if stds is None else stds[s], marker="o", capsize=3,
                    label=labels[s])
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if any(lb is not None for lb in labels):
        ax.legend()
    return _save(fig, path, dpi)


def plot_bars(names: Sequence[str], mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray | None,
              path: str | os.PathLike, *, ylabel: str = "macro-F1", xlabel: str = "", title: str = "",
              reference: float | None = None, reference_label: str = "mean", ylim: tuple[float, float] | None = None,
              dpi: int = 120) -> Path:
    """Bar chart, one bar per name (e.g. per LOSO fold) with ±std error bars, to PNG.

    names: (n,) bar labels.  mean: (n,) heights.  std: (n,) error bar
    half-lengths (NaN or None: no bar).  reference: draw a horizontal line at
    this value (e.g. the mean over all runs) labelled ``reference_label``.
    """
    labels = [str(n) for n in names]
    means = np.asarray(mean, dtype=np.float64).reshape(-1)
    if means.size != len(labels):
        raise ValueError(f"{len(labels)} names for {means.size} values")
    stds = None
    if std is not None:
        stds = np.asarray(std, dtype=np.float64).reshape(-1)
        if stds.shape != means.shape:
            raise ValueError(f"std has {stds.size} values for {means.size} bars")
        stds = np.where(np.isfinite(stds), stds, 0.0)
    fig = Figure(figsize=(max(4.0, 0.35 * len(labels) + 2.0), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.arange(len(labels))
    ax.bar(xs, means, yerr=stds, capsize=3 if stds is not None else 0, color="tab:blue", alpha=0.8)
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="tab:red", linestyle="--", linewidth=1, label=f"{reference_label} {reference:.3f}")
        ax.legend(loc="lower right")
    ax.set_xticks(xs, labels=labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path, dpi)


def _history_columns(history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]
                     ) -> dict[str, np.ndarray]:
    """{name: (E,) values} from a dict of per-epoch lists or a list of per-epoch dicts."""
    if isinstance(history, Mapping):
        cols = {str(k): np.asarray(v, dtype=np.float64) for k, v in history.items()
                if np.ndim(v) == 1 and len(v) > 0}
    else:
        keys: list[str] = []
        for row in history:
            keys += [k for k in row if k not in keys]
        cols = {k: np.asarray([row.get(k, np.nan) for row in history], dtype=np.float64) for k in keys}
    cols.pop("epoch", None)
    cols.pop("step", None)
    return cols


def plot_history(history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
                 path: str | os.PathLike, title: str = "Training history", dpi: int = 120) -> Path:
    """Training curves to PNG: series whose name contains 'loss' on the left panel, the rest on the right.

    history: {'loss': [...], 'val_loss': [...], 'val_macro_f1': [...]} (one
    value per epoch) or a list of per-epoch dicts.  Missing values may be NaN.
    """
    cols = _history_columns(history)
    if not cols:
        raise ValueError("history has no per-epoch series to plot")
    losses = {k: v for k, v in cols.items() if "loss" in k}
    others = {k: v for k, v in cols.items() if "loss" not in k}
    panels = [p for p in (losses, others) if p]
    fig = Figure(figsize=(5.0 * len(panels), 4.0))
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for name, values in panel.items():
            ax.plot(np.arange(1, values.size + 1), values, marker=".", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if panel is losses else "metric")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path, dpi)
