"""Run reports and aggregation of repeated runs.

One evaluated run is a `RunResult`; `write_run` writes its directory:

- ``metrics.json``: the run (model, dataset, split, seed, config, provenance,
  timing, virtimu version) and its `Metrics`, written atomically;
- ``confusion.png``: the row-normalised confusion matrix with counts;
- ``per_class.md``: a Markdown table, one row per class.

`aggregate` summarises repeated runs of one (model, dataset, split) as
mean ± std (paper 004 reports mean ± std over 10 repeats) and
`results_table_markdown` sets those summaries beside published figures.
`summarise_runs` / `write_summary` describe a folder of runs (LOSO folds ×
seeds): ``summary.json``, ``summary.md``, a per-fold macro-F1 bar chart and
the confusion matrix summed over the runs (`sum_confusion`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from virtimu import __version__
from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.plots import plot_bars, plot_confusion
from virtimu.io.atomic import write_text_atomic

__all__ = [
    "RunResult", "to_jsonable", "write_json", "write_run", "read_run", "per_class_markdown",
    "aggregate", "aggregate_by", "results_table_markdown", "PAPER_FIGURES", "sum_confusion", "summarise_runs",
    "summary_markdown", "write_summary",
]

log = logging.getLogger(__name__)

#: Published figures (percent) from the seed papers, keyed by (model, dataset).
#: Model names follow `virtimu.models.registry`; 'source' says where each comes from.
PAPER_FIGURES: dict[tuple[str, str], dict[str, Any]] = {
    # paper 001, Table 2 (accuracy / macro-F1 %)
    ("cnn-deconv", "amass"): {"accuracy": 87.46, "macro_f1": 86.50, "source": "001 Table 2"},
    ("deepconvlstm", "amass"): {"accuracy": 73.03, "macro_f1": 72.43, "source": "001 Table 2"},
    ("cnn-deconv", "dip"): {"accuracy": 89.08, "macro_f1": 89.16, "source": "001 Table 2"},
    ("deepconvlstm", "dip"): {"accuracy": 78.33, "macro_f1": 79.31, "source": "001 Table 2"},
    ("cnn-deconv", "amass->dip"): {"accuracy": 91.15, "macro_f1": 91.21, "source": "001 Table 2"},
    ("deepconvlstm", "amass->dip"): {"accuracy": 84.80, "macro_f1": 85.12, "source": "001 Table 2"},
    # paper 002, macro-F1 % on HARTH (LOSO)
    ("deepconvlstm", "harth"): {"macro_f1": 51.2, "source": "002"},
    # paper 003, accuracy % on UCI HAR (raw signals)
    ("lstm", "uci-har"): {"accuracy": 90.91, "source": "003"},
    ("stacked-lstm", "uci-har"): {"accuracy": 92.05, "source": "003"},
    ("cnn1d", "uci-har"): {"accuracy": 91.52, "source": "003"},
    ("cnn-lstm", "uci-har"): {"accuracy": 92.37, "source": "003"},
    # paper 004 (approximate, mean over 10 repeats)
    ("convlstm", "uci-har"): {"accuracy": 90.0, "source": "004 (approx.)"},
}


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples, sets, paths and dataclasses turned into JSON types.

    Non-finite floats become None (JSON has no NaN).  Dict keys become strings.
    """
    if isinstance(obj, Metrics):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``to_jsonable(data)`` as indented JSON atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(data), indent=2, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


@dataclass
class RunResult:
    """One evaluated training run.

    model: registry name ('deepconvlstm' ...).  dataset: evaluation data
    ('dip', 'amass->dip' ...).  split: split name ('ratio-0.7', 'loso' ...).
    seed: random seed of the run.  metrics: `Metrics` (or None until computed).
    train_seconds: wall time of training in seconds.  config: the model and
    training config.  provenance: inputs needed to reproduce the run.
    """

    model: str
    dataset: str
    split: str
    seed: int
    metrics: Metrics | None = None
    train_seconds: float = float("nan")
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the run, with the virtimu version."""
        out = to_jsonable(self)
        out["virtimu_version"] = __version__
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunResult":
        """Inverse of `to_dict`; raises KeyError naming missing fields."""
        missing = [k for k in ("model", "dataset", "split", "seed") if k not in data]
        if missing:
            raise KeyError(f"run result lacks fields {missing}; it has {sorted(data)}")
        metrics = data.get("metrics")
        secs = data.get("train_seconds")
        return cls(model=str(data["model"]), dataset=str(data["dataset"]), split=str(data["split"]),
                   seed=int(data["seed"]), metrics=None if metrics is None else Metrics.from_dict(metrics),
                   train_seconds=float("nan") if secs is None else float(secs),
                   config=dict(data.get("config") or {}), provenance=dict(data.get("provenance") or {}))


def per_class_markdown(metrics: Metrics) -> str:
    """Markdown table of per-class precision/recall/F1 (percent) and support, one row per class."""
    lines = ["| class | precision (%) | recall (%) | F1 (%) | support |",
             "|---|---:|---:|---:|---:|"]
    for name, m in metrics.per_class.items():
        safe = str(name).replace("|", "\\|")
        lines.append(f"| {safe} | {100 * m['precision']:.2f} | {100 * m['recall']:.2f} | "
                     f"{100 * m['f1']:.2f} | {int(m['support'])} |")
    return "\n".join(lines) + "\n"


def write_run(out_dir: str | os.PathLike, result: RunResult, y_true: Any, y_pred: Any,
              label_map: Mapping[Any, str] | None, labels: Sequence | None = None) -> dict[str, Path]:
    """Write a run's ``metrics.json``, ``confusion.png`` and ``per_class.md`` under ``out_dir``.

    Metrics are recomputed from ``y_true``/``y_pred`` (N,) codes with
    ``label_map`` (and optional ``labels``, see `Metrics.compute`) and stored
    in ``result.metrics``.  Returns {'metrics': path, 'confusion': path, 'per_class': path}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = Metrics.compute(y_true, y_pred, label_map, labels=labels)
    result.metrics = metrics
    title = f"{result.model} on {result.dataset} ({result.split}, seed {result.seed})"
    paths = {
        "confusion": plot_confusion(metrics.confusion_array, metrics.names, out / "confusion.png",
                                    normalize="true", title=title),
        "per_class": write_text_atomic(out / "per_class.md", f"# {title}\n\n"
                                 f"accuracy {100 * metrics.accuracy:.2f} %, macro-F1 "
                                 f"{100 * metrics.macro_f1:.2f} %, n = {metrics.n}\n\n"
                                 + per_class_markdown(metrics)),
    }
    # metrics.json last: its presence marks a complete run directory
    paths["metrics"] = write_json(out / "metrics.json", result.to_dict())
    log.info("run %s: accuracy %.4f macro-F1 %.4f -> %s", title, metrics.accuracy, metrics.macro_f1, out)
    return paths


def read_run(path: str | os.PathLike) -> RunResult:
    """Read a `RunResult` from ``metrics.json`` (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"run result {path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"run result {path}: not valid JSON ({exc})") from None
    return RunResult.from_dict(data)


def _stats(values: Sequence[float], ddof: int) -> dict[str, Any]:
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = float(np.std(arr, ddof=ddof)) if arr.size > ddof else 0.0
    return {"mean": float(np.mean(arr)), "std": std, "n": int(arr.size), "values": arr.tolist()}


_SUMMARY = ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall")


def aggregate(results: Sequence[RunResult], ddof: int = 0) -> dict[str, Any]:
    """Mean ± std over repeated runs of one (model, dataset, split).

    Returns a JSON-safe dict: 'model', 'dataset', 'split', 'n_runs', 'seeds';
    for each of accuracy, macro_f1, weighted_f1, macro_precision,
    macro_recall and train_seconds a {'mean', 'std', 'n', 'values'} entry
    (fractions, as in `Metrics`); 'per_class_f1': {class: the same entry}
    over the runs whose test set has that class.  std uses ``ddof``
    (0 = numpy's default, population std; 1 = sample std).  Raises
    ValueError for no runs, runs without metrics, or runs of different
    (model, dataset, split).
    """
    if not results:
        raise ValueError("aggregate needs at least one run")
    keys = {(r.model, r.dataset, r.split) for r in results}
    if len(keys) > 1:
        raise ValueError(f"aggregate got runs of different (model, dataset, split): {sorted(keys)}; "
                         "use aggregate_by to group them")
    no_metrics = [r.seed for r in results if r.metrics is None]
    if no_metrics:
        raise ValueError(f"runs with seeds {no_metrics} have no metrics")
    first = results[0]
    out: dict[str, Any] = {"model": first.model, "dataset": first.dataset, "split": first.split,
                           "n_runs": len(results), "seeds": [int(r.seed) for r in results]}
    for key in _SUMMARY:
        out[key] = _stats([float(getattr(r.metrics, key)) for r in results], ddof)
    out["train_seconds"] = _stats([float(r.train_seconds) for r in results], ddof)
    names: list[str] = []
    for r in results:
        names += [n for n in r.metrics.per_class if n not in names]
    out["per_class_f1"] = {
        n: _stats([float(r.metrics.per_class[n]["f1"]) for r in results
                   if n in r.metrics.per_class and r.metrics.per_class[n].get("support", 1) > 0], ddof)
        for n in names
    }
    return out


def aggregate_by(results: Sequence[RunResult], ddof: int = 0) -> list[dict[str, Any]]:
    """`aggregate` per (model, dataset, split) group, in order of first appearance."""
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.dataset, r.split), []).append(r)
    return [aggregate(g, ddof=ddof) for g in groups.values()]


def _paper_entry(paper_figures: Mapping[Any, Mapping[str, Any]] | None, row: Mapping[str, Any]
                 ) -> Mapping[str, Any] | None:
    """Paper figures for a row, looked up by (model, dataset, split), (model, dataset), 'model/dataset', model."""
    if not paper_figures:
        return None
    model, dataset, split = row.get("model"), row.get("dataset"), row.get("split")
    for key in ((model, dataset, split), (model, dataset), f"{model}/{dataset}", model):
        if key in paper_figures:
            return paper_figures[key]
    return None


def _fmt_ours(entry: Any, digits: int) -> str:
    if not isinstance(entry, Mapping) or entry.get("mean") is None:
        return "—"
    mean, std = 100 * entry["mean"], entry.get("std")
    if std is None or entry.get("n", 1) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {100 * std:.{digits}f}"


def _fmt_paper(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float, np.floating, np.integer)):
        return f"{float(value):.{digits}f}"
    return str(value)


def results_table_markdown(rows: Sequence[Mapping[str, Any]],
                           paper_figures: Mapping[Any, Mapping[str, Any]] | None = None,
                           metrics: Sequence[str] = ("accuracy", "macro_f1"), digits: int = 2) -> str:
    """Markdown table of aggregated runs (`aggregate` dicts) with the papers' figures beside ours.

    Our values are shown in percent as 'mean ± std' (std omitted for a single
    run).  ``paper_figures`` maps (model, dataset, split), (model, dataset),
    'model/dataset' or model to {metric: percent value, 'source': text}, e.g.
    `PAPER_FIGURES`; a missing figure shows as '—'.
    """
    titles = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1",
              "macro_precision": "macro-precision", "macro_recall": "macro-recall"}
    header = ["model", "dataset", "split", "runs"]
    for m in metrics:
        name = titles.get(m, m)
        header += [f"{name} (%) ours"] + ([f"{name} (%) paper"] if paper_figures is not None else [])
    if paper_figures is not None:
        header.append("paper source")
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3 - (paper_figures is not None))
                            + (["---"] if paper_figures is not None else [])) + "|"]
    for row in rows:
        paper = _paper_entry(paper_figures, row)
        cells = [str(row.get("model", "")), str(row.get("dataset", "")), str(row.get("split", "")),
                 str(row.get("n_runs", ""))]
        for m in metrics:
            cells.append(_fmt_ours(row.get(m), digits))
            if paper_figures is not None:
                cells.append(_fmt_paper(None if paper is None else paper.get(m), digits))
        if paper_figures is not None:
            cells.append(str(paper.get("source", "")) if paper else "")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- folders of runs
def sum_confusion(results: Sequence[RunResult]) -> dict[str, Any]:
    """Confusion matrices of several runs summed over the union of their classes.

    Classes are matched by label code (sorted); returns {'labels': [K codes],
    'names': [K names], 'matrix': (K, K) nested lists of counts}, rows true,
    columns predicted.
    """
    names: dict[Any, str] = {}
    for r in results:
        if r.metrics is None:
            raise ValueError(f"run with seed {r.seed} has no metrics")
        for code, name in zip(r.metrics.labels, r.metrics.names):
            names.setdefault(code, str(name))
    codes = sorted(names, key=lambda c: (str(type(c)), c))
    pos = {c: i for i, c in enumerate(codes)}
    total = np.zeros((len(codes), len(codes)), dtype=np.int64)
    for r in results:
        idx = np.array([pos[c] for c in r.metrics.labels], dtype=np.int64)
        if idx.size:
            total[np.ix_(idx, idx)] += r.metrics.confusion_array
    return {"labels": list(codes), "names": [names[c] for c in codes], "matrix": total.tolist()}


def summarise_runs(results: Sequence[RunResult], folds: Sequence[str | None] | None = None,
                   dirs: Sequence[str] | None = None, ddof: int = 0) -> dict[str, Any]:
    """Summary of a folder of runs of one model (folds × seeds).

    results: the runs; folds: each run's fold (LOSO test subject, k-fold
    index) or None; dirs: each run's folder.  Returns a JSON-safe dict:
    model, dataset, split, n_runs, n_folds, seeds; 'runs': one row per run
    (fold, seed, dir, accuracy, macro_f1, weighted_f1, train_seconds,
    n_test); 'aggregate': `aggregate` over all runs (mean ± std of each
    metric, per-class F1 and train_seconds); 'per_fold': per fold the
    mean ± std over its seeds of accuracy, macro_f1 and train_seconds;
    'fold_means': mean ± std over the folds of those per-fold means (None
    without folds); 'confusion': `sum_confusion`; 'train_seconds_total'.
    Fractions as in `Metrics`; std with ``ddof``.
    """
    if not results:
        raise ValueError("summarise_runs needs at least one run")
    folds = list(folds) if folds is not None else [None] * len(results)
    dirs = list(dirs) if dirs is not None else [""] * len(results)
    if len(folds) != len(results) or len(dirs) != len(results):
        raise ValueError(f"{len(results)} runs but {len(folds)} folds and {len(dirs)} folders")
    agg = aggregate(results, ddof=ddof)
    rows = [{"fold": f, "seed": int(r.seed), "dir": d, "accuracy": r.metrics.accuracy, "macro_f1": r.metrics.macro_f1,
             "weighted_f1": r.metrics.weighted_f1, "train_seconds": r.train_seconds, "n_test": r.metrics.n}
            for r, f, d in zip(results, folds, dirs)]
    per_fold: list[dict[str, Any]] = []
    fold_means = None
    if any(f is not None for f in folds):
        order: dict[str, list[int]] = {}
        for i, f in enumerate(folds):
            order.setdefault(str(f), []).append(i)
        for f, idx in order.items():
            entry: dict[str, Any] = {"fold": f, "n_runs": len(idx), "seeds": [int(results[i].seed) for i in idx],
                                     "n_test": int(results[idx[0]].metrics.n)}
            for key in ("accuracy", "macro_f1", "weighted_f1"):
                entry[key] = _stats([float(getattr(results[i].metrics, key)) for i in idx], ddof)
            entry["train_seconds"] = _stats([float(results[i].train_seconds) for i in idx], ddof)
            per_fold.append(entry)
        fold_means = {key: _stats([e[key]["mean"] for e in per_fold], ddof) for key in ("accuracy", "macro_f1",
                                                                                          "weighted_f1")}
    secs = [r.train_seconds for r in results if r.train_seconds is not None and math.isfinite(r.train_seconds)]
    return to_jsonable({
        "model": agg["model"], "dataset": agg["dataset"], "split": agg["split"], "n_runs": len(results),
        "n_folds": len(per_fold), "seeds": sorted({int(r.seed) for r in results}), "ddof": ddof,
        "runs": rows, "aggregate": agg, "per_fold": per_fold, "fold_means": fold_means,
        "confusion": sum_confusion(results), "train_seconds_total": float(sum(secs)),
    })


def _pct(entry: Mapping[str, Any] | None, digits: int = 2) -> str:
    return _fmt_ours(entry, digits) if entry is not None else "—"


def summary_markdown(summary: Mapping[str, Any], paper_figures: Mapping[Any, Mapping[str, Any]] | None = None) -> str:
    """Markdown report of a `summarise_runs` dict: overall table, per fold, per class F1, every run."""
    agg = summary["aggregate"]
    secs = agg.get("train_seconds") or {}
    lines = [f"# {summary['model']} on {summary['dataset']} ({summary['split']})", "",
             f"{summary['n_runs']} runs" + (f" = {summary['n_folds']} folds × seeds {summary['seeds']}"
                                          if summary.get("n_folds") else f", seeds {summary['seeds']}")
             + f"; mean ± std over runs (std ddof={summary.get('ddof', 0)}); training "
             + (f"{secs['mean']:.1f} s per run, " if secs.get("mean") is not None else "")
             + f"{summary.get('train_seconds_total', 0.0):.0f} s in total.", "",
             "## Over all runs", "",
             results_table_markdown([agg], paper_figures, metrics=("accuracy", "macro_f1", "weighted_f1")).rstrip()]
    if summary.get("fold_means"):
        fm = summary["fold_means"]
        lines += ["", (f"Over the {summary['n_folds']} per-fold means: accuracy {_pct(fm['accuracy'])} %, "
                       f"macro-F1 {_pct(fm['macro_f1'])} %.")]
    if summary.get("per_fold"):
        lines += ["", "## Per fold", "", "| fold | runs | test windows | accuracy (%) | macro-F1 (%) | train s |",
                  "|---|---:|---:|---:|---:|---:|"]
        for e in summary["per_fold"]:
            ts = e["train_seconds"]["mean"]
            lines.append(f"| {e['fold']} | {e['n_runs']} | {e['n_test']} | {_pct(e['accuracy'])} | "
                         f"{_pct(e['macro_f1'])} | {'—' if ts is None else f'{ts:.1f}'} |")
    lines += ["", "## Per-class F1", "", "| class | F1 (%) | runs with the class |", "|---|---:|---:|"]
    for name, entry in agg["per_class_f1"].items():
        lines.append(f"| {str(name).replace('|', chr(92) + '|')} | {_pct(entry)} | {entry['n']} |")
    lines += ["", "## Runs", "", "| fold | seed | accuracy (%) | macro-F1 (%) | train s | test windows | folder |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for r in summary["runs"]:
        ts = r.get("train_seconds")
        lines.append(f"| {'—' if r['fold'] is None else r['fold']} | {r['seed']} | {100 * r['accuracy']:.2f} | "
                     f"{100 * r['macro_f1']:.2f} | {'—' if ts is None else f'{ts:.1f}'} | {r['n_test']} | "
                     f"{r['dir']} |")
    return "\n".join(lines) + "\n"


def write_summary(out_dir: str | os.PathLike, summary: Mapping[str, Any],
                  paper_figures: Mapping[Any, Mapping[str, Any]] | None = None) -> dict[str, Path]:
    """Write ``summary.json``, ``summary.md``, ``folds_macro_f1.png`` (per-fold, or per-run without folds,
    macro-F1 with ±std error bars) and ``confusion_sum.png`` (confusion summed over runs) to ``out_dir``.

    paper_figures: published figures to set beside ours in summary.md (see
    `results_table_markdown`), or None.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{summary['model']} ({summary['split']}, {summary['n_runs']} runs)"
    if summary.get("per_fold"):
        names = [e["fold"] for e in summary["per_fold"]]
        means = [e["macro_f1"]["mean"] for e in summary["per_fold"]]
        stds = [e["macro_f1"]["std"] if e["macro_f1"]["n"] > 1 else float("nan") for e in summary["per_fold"]]
        xlabel = "fold (test subject)" if summary["split"] == "loso" else "fold"
    else:
        names = [f"seed {r['seed']}" for r in summary["runs"]]
        means, stds, xlabel = [r["macro_f1"] for r in summary["runs"]], None, "run"
    overall = summary["aggregate"]["macro_f1"]["mean"]
    conf = summary["confusion"]
    paths = {
        "folds": plot_bars(names, means, stds, out / "folds_macro_f1.png", ylabel="macro-F1", xlabel=xlabel,
                           title=title, reference=overall, reference_label="mean over runs", ylim=(0.0, 1.0)),
        "confusion": plot_confusion(np.asarray(conf["matrix"], dtype=np.int64), conf["names"],
                                    out / "confusion_sum.png", normalize="true",
                                    title=f"{title}, summed"),
        "markdown": write_text_atomic(out / "summary.md", summary_markdown(summary, paper_figures)),
    }
    paths["json"] = write_json(out / "summary.json", summary)
    return paths
