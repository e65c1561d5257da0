"""Run reports (metrics.json, confusion.png, per_class.md), aggregation and the results table."""
from __future__ import annotations

import json

import numpy as np
import pytest

from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.report import (
    PAPER_FIGURES, RunResult, aggregate, aggregate_by, read_run, results_table_markdown, to_jsonable, write_run,
)

LABEL_MAP = {0: "null", 1: "walk", 2: "sit|down", 3: "run"}


def _preds(seed: int, n: int = 120):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.75, t, rng.integers(0, 4, n))
    return t, p


def _run(seed: int, model="deepconvlstm", dataset="dip", split="ratio-0.7") -> RunResult:
    t, p = _preds(seed)
    return RunResult(model, dataset, split, seed, Metrics.compute(t, p, LABEL_MAP), train_seconds=1.5 + seed)


def test_write_run_files(tmp_path):
    t, p = _preds(3)
    res = RunResult("cnn-deconv", "dip", "ratio-0.7", seed=np.int64(3), train_seconds=np.float32(2.5),
                    config={"lr": np.float64(1e-3), "layers": (64, 64), "arr": np.arange(3)},
                    provenance={"store": tmp_path / "store.zarr"})
    paths = write_run(tmp_path / "run", res, t, p, LABEL_MAP)
    data = json.loads(paths["metrics"].read_text())
    assert data["seed"] == 3 and data["config"]["layers"] == [64, 64] and data["config"]["arr"] == [0, 1, 2]
    assert data["metrics"]["accuracy"] == pytest.approx(float(np.mean(t == p)))
    assert "virtimu_version" in data
    png = paths["confusion"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    md = paths["per_class"].read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| class")]
    assert len(rows) == len(LABEL_MAP)
    assert "sit\\|down" in md  # a '|' in a class name does not break the table
    assert all(len(r.split(" | ")) == 5 for r in rows)
    back = read_run(tmp_path / "run")
    assert back.metrics == res.metrics and back.seed == 3
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_to_jsonable_nan_and_numpy():
    out = to_jsonable({1: np.float32(0.5), "x": float("nan"), "t": (np.int16(2),)})
    assert out == {"1": 0.5, "x": None, "t": [2]}
    json.dumps(out, allow_nan=False)


def test_aggregate_matches_numpy():
    runs = [_run(s) for s in range(5)]
    agg = aggregate(runs)
    acc = np.array([r.metrics.accuracy for r in runs])
    f1 = np.array([r.metrics.macro_f1 for r in runs])
    assert agg["n_runs"] == 5 and agg["seeds"] == [0, 1, 2, 3, 4]
    assert agg["accuracy"]["mean"] == pytest.approx(acc.mean()) and agg["accuracy"]["std"] == pytest.approx(acc.std())
    assert agg["macro_f1"]["mean"] == pytest.approx(f1.mean()) and agg["macro_f1"]["std"] == pytest.approx(f1.std())
    walk = np.array([r.metrics.per_class["walk"]["f1"] for r in runs])
    assert agg["per_class_f1"]["walk"]["mean"] == pytest.approx(walk.mean())
    assert agg["per_class_f1"]["walk"]["std"] == pytest.approx(walk.std())
    assert aggregate(runs, ddof=1)["accuracy"]["std"] == pytest.approx(acc.std(ddof=1))
    assert agg["train_seconds"]["mean"] == pytest.approx(3.5)
    json.dumps(agg, allow_nan=False)


def test_aggregate_known_values():
    runs = []
    for s, (a, f) in enumerate([(0.8, 0.7), (0.9, 0.6), (0.7, 0.8)]):
        m = Metrics(accuracy=a, macro_f1=f, weighted_f1=f, macro_precision=f, macro_recall=f, n=10,
                    per_class={"walk": {"precision": 1.0, "recall": 1.0, "f1": f, "support": 5}})
        runs.append(RunResult("lstm", "uci-har", "subjects", s, m))
    agg = aggregate(runs)
    assert agg["accuracy"]["mean"] == pytest.approx(0.8)
    assert agg["accuracy"]["std"] == pytest.approx(np.std([0.8, 0.9, 0.7]))
    assert agg["per_class_f1"]["walk"]["values"] == pytest.approx([0.7, 0.6, 0.8])


def test_aggregate_rejects_mixed_and_groups():
    runs = [_run(0), _run(1), _run(2, model="lstm")]
    with pytest.raises(ValueError, match="different"):
        aggregate(runs)
    groups = aggregate_by(runs)
    assert [(g["model"], g["n_runs"]) for g in groups] == [("deepconvlstm", 2), ("lstm", 1)]
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_results_table_has_paper_figures_beside_ours():
    rows = aggregate_by([_run(0), _run(1), _run(2, model="cnn-deconv"), _run(3, model="rf")])
    table = results_table_markdown(rows, PAPER_FIGURES)
    lines = table.strip().splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert len(lines) == 2 + 3
    dcl = next(ln for ln in lines if ln.startswith("| deepconvlstm"))
    cells = [c.strip() for c in dcl.strip("|").split("|")]
    ours = 100 * rows[0]["accuracy"]["mean"]
    assert cells[4] == f"{ours:.2f} ± {100 * rows[0]['accuracy']['std']:.2f}"
    assert cells[5] == "78.33" and cells[7] == "79.31" and cells[8] == "001 Table 2"
    rf = next(ln for ln in lines if ln.startswith("| rf"))
    assert "—" in rf and "±" not in rf  # no paper figure, single run without std
    plain = results_table_markdown(rows)
    assert "paper" not in plain
