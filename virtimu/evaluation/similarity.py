"""Synthetic-vs-real signal similarity: per-class distribution distances of window statistics.

How realistic is a motion generator plus virtual sensor?  For each activity
class we compare the *distribution over windows* of simple statistics of
the accelerometer and gyroscope (what a classifier sees first) between the
synthetic and the real windows of that class:

1. `window_features` turns windows ``X (N, L, C)`` into ``F (N, D)``: per
   acc axis the mean (gravity direction) and std, the magnitude |a|'s mean,
   std and 10/50/90th percentiles, the dominant frequency of |a| (Hz), per
   gyro axis the RMS, and the mean |ω| (see `FEATURES`).
2. For class k and feature d, the 1-Wasserstein distance
   ``W1(F_syn[y_syn == k, d], F_real[y_real == k, d])`` (in the feature's
   unit) and the two-sample Kolmogorov-Smirnov statistic (0..1).
3. W1 is divided by the **real between-subject spread** of that feature in
   that class: the mean over real subjects s of
   ``W1(F_real[subject == s], F_real[subject != s])`` (leave-one-subject-out).
   A normalised distance of 1 means "the synthetic windows differ from the
   real ones as much as one real subject differs from the others"; < 1 is
   inside the natural variation, >> 1 is far from any real person.  Without
   subject ids (or with fewer than two subjects holding the class) the
   feature's real standard deviation is used instead (recorded in
   ``SimilarityResult.spread_kind``).

Everything is numpy/scipy on arrays in memory; `plot_similarity` writes a
class x feature heat map (PNG) and `SimilarityResult.to_markdown` a table.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import ks_2samp, wasserstein_distance

__all__ = ["FEATURES", "window_features", "w1_distance", "ks_distance", "between_subject_spread",
           "SimilarityResult", "compare_classes", "plot_similarity"]

log = logging.getLogger(__name__)

#: Feature names of `window_features` (acc in m/s², gyro in rad/s, frequency in Hz), in column order.
FEATURES: tuple[str, ...] = (
    "acc_mean_x", "acc_mean_y", "acc_mean_z", "acc_std_x", "acc_std_y", "acc_std_z",
    "accmag_mean", "accmag_std", "accmag_p10", "accmag_p50", "accmag_p90", "accmag_domfreq",
    "gyro_rms_x", "gyro_rms_y", "gyro_rms_z", "gyromag_mean",
)

#: Unit of each feature in `FEATURES`.
FEATURE_UNITS: dict[str, str] = {
    **{f: "m/s^2" for f in FEATURES if f.startswith("acc") and f != "accmag_domfreq"},
    "accmag_domfreq": "Hz",
    **{f: "rad/s" for f in FEATURES if f.startswith("gyro")},
}


def _find_triplet(channels: Sequence[str], kind: str) -> list[int]:
    """Column indices of the first site's ``<site>/<kind>_x, _y, _z`` channels."""
    for c in channels:
        if c.endswith(f"/{kind}_x"):
            site = c[: -len(f"/{kind}_x")]
            names = [f"{site}/{kind}_{a}" for a in "xyz"]
            if all(n in channels for n in names):
                return [list(channels).index(n) for n in names]
    raise ValueError(f"window_features: no '<site>/{kind}_x/_y/_z' channels among {list(channels)}")


def window_features(X: np.ndarray, channels: Sequence[str], fs: float,
                    min_freq: float = 0.3) -> np.ndarray:
    """Per-window statistics ``F (N, len(FEATURES))`` float64 of windows ``X (N, L, C)``.

    channels: the C channel names; the first site with ``acc_x/y/z`` and
    ``gyro_x/y/z`` channels is used (acc in m/s², gyro in rad/s).
    fs: sampling rate (Hz), for the dominant frequency of |a| (the largest
    |FFT| bin of the mean-removed magnitude at or above ``min_freq`` Hz; 0
    when the window is exactly constant).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[2] != len(channels):
        raise ValueError(f"window_features: X must be (N, L, {len(channels)}) for channels {list(channels)}, "
                         f"got shape {X.shape}")
    if X.shape[1] < 4:
        raise ValueError(f"window_features: windows of {X.shape[1]} samples are too short")
    acc = X[:, :, _find_triplet(channels, "acc")]  # (N, L, 3)
    gyro = X[:, :, _find_triplet(channels, "gyro")]  # (N, L, 3)
    mag = np.linalg.norm(acc, axis=2)  # (N, L)
    p10, p50, p90 = np.percentile(mag, [10, 50, 90], axis=1)
    spec = np.abs(np.fft.rfft(mag - mag.mean(axis=1, keepdims=True), axis=1))  # (N, L//2+1)
    freqs = np.fft.rfftfreq(X.shape[1], d=1.0 / float(fs))
    band = freqs >= min_freq
    dom = freqs[band][np.argmax(spec[:, band], axis=1)]
    dom = np.where(spec[:, band].max(axis=1) > 1e-12, dom, 0.0)
    cols = [acc.mean(axis=1), acc.std(axis=1), mag.mean(axis=1)[:, None], mag.std(axis=1)[:, None],
            p10[:, None], p50[:, None], p90[:, None], dom[:, None],
            np.sqrt((gyro ** 2).mean(axis=1)), np.linalg.norm(gyro, axis=2).mean(axis=1)[:, None]]
    F = np.concatenate(cols, axis=1)
    assert F.shape[1] == len(FEATURES)
    return F


def w1_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between the empirical distributions of samples a (n,) and b (m,) (their unit)."""
    return float(wasserstein_distance(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (largest CDF gap, 0..1) of samples a (n,) and b (m,)."""
    return float(ks_2samp(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).statistic)


def between_subject_spread(values: np.ndarray, subjects: np.ndarray, min_windows: int = 2) -> float:
    """Mean over subjects s of ``W1(values[subjects == s], values[subjects != s])`` (NaN if < 2 subjects).

    values: (n,) one feature of one class's real windows; subjects: (n,) ids.
    Subjects with fewer than ``min_windows`` windows are skipped.
    """
    values = np.asarray(values, dtype=np.float64)
    subjects = np.asarray(subjects).astype(str)
    if values.shape != subjects.shape:
        raise ValueError(f"between_subject_spread: values {values.shape} and subjects {subjects.shape} differ")
    ids, counts = np.unique(subjects, return_counts=True)
    ids = ids[counts >= min_windows]
    if ids.size < 2:
        return float("nan")
    return float(np.mean([w1_distance(values[subjects == s], values[subjects != s]) for s in ids]))


@dataclass
class SimilarityResult:
    """Per-class, per-feature distances between synthetic and real windows.

    classes: K class names; features: D feature names (`FEATURES`).
    w1: (K, D) 1-Wasserstein distances in feature units (NaN: a side has too few windows).
    ks: (K, D) Kolmogorov-Smirnov statistics.  spread: (K, D) real between-subject spread
    (or the real std, see spread_kind).  normalised: (K, D) ``w1 / spread``.
    n_synthetic / n_real: (K,) windows per class.  spread_kind: (K,) 'between_subject' | 'std' | 'none'.
    syn_mean / real_mean: (K, D) feature means (to read the sign of a difference).
    """

    classes: list[str]
    features: list[str]
    w1: np.ndarray
    ks: np.ndarray
    spread: np.ndarray
    normalised: np.ndarray
    n_synthetic: np.ndarray
    n_real: np.ndarray
    spread_kind: list[str]
    syn_mean: np.ndarray
    real_mean: np.ndarray
    units: dict[str, str] = field(default_factory=lambda: dict(FEATURE_UNITS))

    def class_summary(self) -> dict[str, dict[str, float]]:
        """{class: {'median_normalised', 'max_normalised', 'mean_ks', 'worst_feature' ...}} over features."""
        out: dict[str, dict[str, Any]] = {}
        for k, name in enumerate(self.classes):
            row = self.normalised[k]
            finite = np.isfinite(row)
            worst = self.features[int(np.nanargmax(np.where(finite, row, -np.inf)))] if finite.any() else None
            out[name] = {
                "n_synthetic": int(self.n_synthetic[k]), "n_real": int(self.n_real[k]),
                "median_normalised": float(np.median(row[finite])) if finite.any() else float("nan"),
                "max_normalised": float(np.max(row[finite])) if finite.any() else float("nan"),
                "mean_ks": float(np.nanmean(self.ks[k])) if np.isfinite(self.ks[k]).any() else float("nan"),
                "worst_feature": worst,
            }
        return out

    def overall(self) -> dict[str, float]:
        """Median normalised distance and mean KS statistic over all finite (class, feature) cells."""
        n = self.normalised[np.isfinite(self.normalised)]
        k = self.ks[np.isfinite(self.ks)]
        return {"median_normalised": float(np.median(n)) if n.size else float("nan"),
                "mean_ks": float(np.mean(k)) if k.size else float("nan")}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (NaN kept as float; `virtimu.evaluation.report.to_jsonable` turns it into null)."""
        return {"classes": list(self.classes), "features": list(self.features), "units": dict(self.units),
                "w1": self.w1.tolist(), "ks": self.ks.tolist(), "spread": self.spread.tolist(),
                "normalised": self.normalised.tolist(), "n_synthetic": self.n_synthetic.tolist(),
                "n_real": self.n_real.tolist(), "spread_kind": list(self.spread_kind),
                "syn_mean": self.syn_mean.tolist(), "real_mean": self.real_mean.tolist(),
                "class_summary": self.class_summary(), "overall": self.overall()}

    def to_markdown(self, features: Sequence[str] | None = None, digits: int = 2) -> str:
        """Markdown table: one row per class, normalised W1 per feature (all or ``features``), plus KS mean."""
        feats = list(features) if features is not None else list(self.features)
        cols = [self.features.index(f) for f in feats]
        head = "| class | n syn | n real | " + " | ".join(feats) + " | median | mean KS |"
        sep = "|---|---:|---:|" + "---:|" * len(feats) + "---:|---:|"
        lines = [head, sep]
        summary = self.class_summary()
        for k, name in enumerate(self.classes):
            cells = [_fmt(self.normalised[k, j], digits) for j in cols]
            s = summary[name]
            lines.append(f"| {name} | {int(self.n_synthetic[k])} | {int(self.n_real[k])} | " + " | ".join(cells)
                         + f" | {_fmt(s['median_normalised'], digits)} | {_fmt(s['mean_ks'], digits)} |")
        return "\n".join(lines)


def _fmt(x: float, digits: int) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def compare_classes(F_syn: np.ndarray, y_syn: np.ndarray, F_real: np.ndarray, y_real: np.ndarray,
                    subjects_real: np.ndarray | None = None, class_names: Mapping[int, str] | None = None,
                    features: Sequence[str] = FEATURES, min_windows: int = 5) -> SimilarityResult:
    """Distances between synthetic and real feature distributions, class by class.

    F_syn (n, D), y_syn (n,) and F_real (m, D), y_real (m,): features of the
    windows and their integer class codes; subjects_real (m,): real subject
    ids for the between-subject normalisation (None: real std instead).
    class_names: {code: name} of the classes to compare (default: codes
    present on both sides).  Classes with fewer than ``min_windows`` windows
    on a side get NaN distances.
    """
    F_syn, F_real = np.asarray(F_syn, dtype=np.float64), np.asarray(F_real, dtype=np.float64)
    y_syn, y_real = np.asarray(y_syn), np.asarray(y_real)
    D = len(features)
    if F_syn.ndim != 2 or F_real.ndim != 2 or F_syn.shape[1] != D or F_real.shape[1] != D:
        raise ValueError(f"compare_classes: features must be (n, {D}), got {F_syn.shape} and {F_real.shape}")
    if y_syn.shape != (F_syn.shape[0],) or y_real.shape != (F_real.shape[0],):
        raise ValueError("compare_classes: y_syn / y_real must hold one code per feature row")
    if subjects_real is not None:
        subjects_real = np.asarray(subjects_real).astype(str)
        if subjects_real.shape != y_real.shape:
            raise ValueError(f"compare_classes: subjects_real {subjects_real.shape} must match y_real {y_real.shape}")
    if class_names is None:
        codes = sorted(set(np.unique(y_syn).tolist()) & set(np.unique(y_real).tolist()))
        class_names = {int(c): str(c) for c in codes}
    codes = sorted(int(c) for c in class_names)
    K = len(codes)
    shape = (K, D)
    w1, ks, spread = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    syn_mean, real_mean = np.full(shape, np.nan), np.full(shape, np.nan)
    n_syn, n_real = np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64)
    kinds: list[str] = []
    for k, code in enumerate(codes):
        s, r = F_syn[y_syn == code], F_real[y_real == code]
        n_syn[k], n_real[k] = len(s), len(r)
        if len(r):
            real_mean[k] = r.mean(axis=0)
        if len(s):
            syn_mean[k] = s.mean(axis=0)
        if len(r) < min_windows:
            kinds.append("none")
            continue
        subj = subjects_real[y_real == code] if subjects_real is not None else None
        kind = "std"
        for d in range(D):
            sp = between_subject_spread(r[:, d], subj) if subj is not None else float("nan")
            if np.isfinite(sp):
                kind = "between_subject"
            else:
                sp = float(np.std(r[:, d]))
            spread[k, d] = sp
        kinds.append(kind)
        if len(s) < min_windows:
            continue
        for d in range(D):
            w1[k, d] = w1_distance(s[:, d], r[:, d])
            ks[k, d] = ks_distance(s[:, d], r[:, d])
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(spread > 0, w1 / spread, np.nan)
    return SimilarityResult(classes=[class_names[c] for c in codes], features=list(features), w1=w1, ks=ks,
                            spread=spread, normalised=normalised, n_synthetic=n_syn, n_real=n_real,
                            spread_kind=kinds, syn_mean=syn_mean, real_mean=real_mean)


def plot_similarity(result: SimilarityResult, path: str | os.PathLike, vmax: float = 5.0,
                    title: str = "synthetic vs real: W1 / real between-subject spread", dpi: int = 120) -> Path:
    """Heat map (classes x features) of the normalised W1 distances, values written in the cells (PNG)."""
    from matplotlib.figure import Figure

    from virtimu.evaluation.plots import _save

    K, D = result.normalised.shape
    fig = Figure(figsize=(1.0 + 0.62 * D, 1.2 + 0.42 * K))
    ax = fig.add_subplot(1, 1, 1)
    data = np.ma.masked_invalid(result.normalised)
    im = ax.imshow(np.clip(data, 0, vmax), cmap="viridis_r", vmin=0, vmax=vmax, aspect="auto")
    for k in range(K):
        for d in range(D):
            v = result.normalised[k, d]
            ax.text(d, k, "–" if not np.isfinite(v) else f"{v:.1f}", ha="center", va="center", fontsize=6,
                    color="white" if np.isfinite(v) and v > 0.6 * vmax else "black")
    ax.set_xticks(range(D))
    ax.set_xticklabels(result.features, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(K))
    ax.set_yticklabels(result.classes, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label=f"normalised W1 (clipped at {vmax:g})")
    return _save(fig, path, dpi)
