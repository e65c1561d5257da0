"""Classification metrics on integer label codes (numpy only).

Conventions (they match scikit-learn's, which the tests use as reference):

- ``labels`` selects and orders the classes.  When it is None the classes are
  the sorted union of the codes in ``y_true`` and ``y_pred``.
- Per-class counts are taken over *all* samples: a sample whose true class is
  ``a`` and whose prediction is a class outside ``labels`` still counts as a
  false negative of ``a`` (as in ``precision_recall_fscore_support(labels=...)``).
- Zero division gives 0: precision of a class never predicted, recall of a
  class absent from ``y_true``, and F1 when both are undefined are all 0
  (scikit-learn's ``zero_division=0``, also its default behaviour).
- ``macro_f1`` is the unweighted mean of per-class F1 over ``labels``;
  ``weighted_f1`` weights each class by its support (true count) and is 0
  when the classes have no support at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "confusion_matrix", "accuracy", "class_counts", "precision_recall_f1", "per_class",
    "macro_f1", "weighted_f1", "Metrics",
]


def _as_1d(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of label codes, got shape {arr.shape}")
    return arr


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    return t, p


def _labels(t: np.ndarray, p: np.ndarray, labels: Sequence | np.ndarray | None) -> np.ndarray:
    if labels is None:
        return np.union1d(t, p)
    lab = _as_1d(labels, "labels")
    if lab.size == 0:
        raise ValueError("labels is empty: at least one class is needed")
    if np.unique(lab).size != lab.size:
        raise ValueError(f"labels has duplicates: {lab.tolist()}")
    return lab


def _index(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each element of ``y`` in ``labels``, -1 where it is not there.  (N,) int64."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, y)
    pos = np.clip(pos, 0, sorted_labels.size - 1)
    found = sorted_labels[pos] == y
    return np.where(found, order[pos], -1).astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence | np.ndarray | None = None) -> np.ndarray:
    """Confusion matrix C (K, K) int64: C[i, j] = samples of true class labels[i] predicted labels[j].

    Samples whose true or predicted code is not in ``labels`` are left out.
    Rows are true classes, columns predictions (scikit-learn's layout).
    """
    t, p = _pair(y_true, y_pred)
    lab = _labels(t, p, labels)
    k = lab.size
    ti, pi = _index(t, lab), _index(p, lab)
    keep = (ti >= 0) & (pi >= 0)
    flat = np.bincount(ti[keep] * k + pi[keep], minlength=k * k)
    return flat.reshape(k, k).astype(np.int64)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples with y_pred == y_true, in [0, 1]; raises on empty input."""
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("accuracy of zero samples is undefined")
    return float(np.mean(t == p))


def class_counts(y_true: Any, y_pred: Any,
                 labels: Sequence | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (labels (K,), true positives (K,), predicted counts (K,), true counts = support (K,))."""
    t, p = _pair(y_true, y_pred)
    lab = _labels(t, p, labels)
    k = lab.size
    ti, pi = _index(t, lab), _index(p, lab)
    hit = (t == p) & (ti >= 0)
    tp = np.bincount(ti[hit], minlength=k)
    n_pred = np.bincount(pi[pi >= 0], minlength=k)
    n_true = np.bincount(ti[ti >= 0], minlength=k)
    return lab, tp.astype(np.int64), n_pred.astype(np.int64), n_true.astype(np.int64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def precision_recall_f1(y_true: Any, y_pred: Any, labels: Sequence | np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 (K,) float64 and support (K,) int64, zero division -> 0.

    F1 = 2 TP / (2 TP + FP + FN), equal to the harmonic mean of precision and
    recall wherever that is defined.
    """
    _, tp, n_pred, n_true = class_counts(y_true, y_pred, labels)
    precision = _safe_div(tp, n_pred)
    recall = _safe_div(tp, n_true)
    f1 = _safe_div(2 * tp, n_pred + n_true)
    return precision, recall, f1, n_true


def per_class(y_true: Any, y_pred: Any, labels: Sequence | np.ndarray | None = None,
              names: Mapping[Any, str] | None = None) -> dict[str, dict[str, float | int]]:
    """{class name: {'precision', 'recall', 'f1', 'support'}} in the order of ``labels``.

    ``names`` maps codes to names (a label map); codes without a name are
    written as ``str(code)``.  Zero division gives 0 (see module docstring).
    """
    t, p = _pair(y_true, y_pred)
    lab = _labels(t, p, labels)
    prec, rec, f1, sup = precision_recall_f1(t, p, lab)
    out: dict[str, dict[str, float | int]] = {}
    for i, code in enumerate(lab.tolist()):
        name = _name(code, names)
        out[name] = {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                     "support": int(sup[i])}
    return out


def macro_f1(y_true: Any, y_pred: Any, labels: Sequence | np.ndarray | None = None) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: classes in y_true ∪ y_pred).

    Matches ``sklearn.metrics.f1_score(average='macro', labels=labels, zero_division=0)``;
    a class given in ``labels`` that occurs in neither array contributes F1 = 0.
    """
    _, _, f1, _ = precision_recall_f1(y_true, y_pred, labels)
    return float(np.mean(f1))


def weighted_f1(y_true: Any, y_pred: Any, labels: Sequence | np.ndarray | None = None) -> float:
    """Support-weighted mean of per-class F1 (0 when no class in ``labels`` has support)."""
    _, _, f1, sup = precision_recall_f1(y_true, y_pred, labels)
    total = sup.sum()
    return float(np.dot(f1, sup) / total) if total > 0 else 0.0


def _name(code: Any, names: Mapping[Any, str] | None) -> str:
    if names is None:
        return str(code)
    if code in names:
        return str(names[code])
    # label maps read from JSON have string keys
    return str(names.get(str(code), code))


@dataclass
class Metrics:
    """Summary metrics of one evaluation.

    accuracy, macro_f1, weighted_f1, macro_precision, macro_recall: fractions in [0, 1].
    n: number of samples.  labels: K class codes (order of ``confusion`` rows/columns).
    names: K class names.  confusion: (K, K) counts as nested lists (rows true, columns predicted).
    per_class: {name: {'precision', 'recall', 'f1', 'support'}}.
    """

    accuracy: float
    macro_f1: float
    weighted_f1: float
    macro_precision: float
    macro_recall: float
    n: int
    labels: list = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    per_class: dict[str, dict[str, float | int]] = field(default_factory=dict)

    @classmethod
    def compute(cls, y_true: Any, y_pred: Any, label_map: Mapping[Any, str] | None = None,
                labels: Sequence | np.ndarray | None = None) -> "Metrics":
        """Metrics of predictions ``y_pred`` (N,) against ``y_true`` (N,) codes.

        label_map: {code: name}; when given, every code in y_true/y_pred must be
        in it.  labels: the classes averaged over (default: the codes present
        in y_true ∪ y_pred, sorted), e.g. ``sorted(label_map)`` to count
        classes the test set lacks as F1 = 0.
        """
        t, p = _pair(y_true, y_pred)
        if t.size == 0:
            raise ValueError("cannot compute metrics of zero samples")
        if label_map is not None:
            known = {str(k) for k in label_map}
            unknown = sorted({str(c) for c in np.union1d(t, p).tolist()} - known)
            if unknown:
                raise ValueError(f"label codes {unknown} are not in the label map {dict(label_map)}")
        lab = _labels(t, p, labels)
        prec, rec, f1, sup = precision_recall_f1(t, p, lab)
        names = [_name(c, label_map) for c in lab.tolist()]
        return cls(
            accuracy=accuracy(t, p),
            macro_f1=float(np.mean(f1)),
            weighted_f1=float(np.dot(f1, sup) / sup.sum()) if sup.sum() > 0 else 0.0,
            macro_precision=float(np.mean(prec)),
            macro_recall=float(np.mean(rec)),
            n=int(t.size),
            labels=[c.item() if hasattr(c, "item") else c for c in lab],
            names=names,
            confusion=confusion_matrix(t, p, lab).tolist(),
            per_class={nm: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(sup[i])} for i, nm in enumerate(names)},
        )

    @property
    def confusion_array(self) -> np.ndarray:
        """The confusion matrix as a (K, K) int64 array."""
        k = len(self.labels)
        return np.asarray(self.confusion, dtype=np.int64).reshape(k, k)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (python floats/ints/strings only)."""
        return {
            "accuracy": float(self.accuracy), "macro_f1": float(self.macro_f1),
            "weighted_f1": float(self.weighted_f1), "macro_precision": float(self.macro_precision),
            "macro_recall": float(self.macro_recall), "n": int(self.n),
            "labels": [c.item() if hasattr(c, "item") else c for c in self.labels],
            "names": [str(n) for n in self.names],
            "confusion": [[int(v) for v in row] for row in self.confusion],
            "per_class": {str(k): {kk: (int(vv) if kk == "support" else float(vv)) for kk, vv in v.items()}
                          for k, v in self.per_class.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Metrics":
        """Inverse of `to_dict`; raises KeyError naming a missing field."""
        required = ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "n")
        missing = [k for k in required if k not in data]
        if missing:
            raise KeyError(f"metrics dict lacks fields {missing}; it has {sorted(data)}")
        return cls(**{k: data[k] for k in required},
                   labels=list(data.get("labels", [])), names=list(data.get("names", [])),
                   confusion=[list(r) for r in data.get("confusion", [])],
                   per_class={k: dict(v) for k, v in data.get("per_class", {}).items()})
