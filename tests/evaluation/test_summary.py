"""Summaries of a folder of runs: summed confusion over differing classes, per-fold statistics, files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.plots import plot_bars
from virtimu.evaluation.report import (
    RunResult,
    sum_confusion,
    summarise_runs,
    summary_markdown,
    write_summary,
)

NAMES = {1: "walk", 2: "sit", 3: "lie"}


def _run(seed: int, t, p) -> RunResult:
    return RunResult("cnn1d", "s.zarr:default", "loso", seed, Metrics.compute(np.array(t), np.array(p), NAMES),
                     train_seconds=2.0 + seed)


def test_sum_confusion_aligns_classes_by_code():
    a = _run(0, [1, 1, 2], [1, 2, 2])  # classes 1, 2
    b = _run(1, [3, 3, 1], [3, 1, 1])  # classes 1, 3
    s = sum_confusion([a, b])
    assert s["labels"] == [1, 2, 3] and s["names"] == ["walk", "sit", "lie"]
    assert s["matrix"] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert np.sum(s["matrix"]) == 6


def test_summarise_runs_per_fold_and_fold_means():
    runs = [_run(0, [1, 2, 3, 3], [1, 2, 3, 3]), _run(1, [1, 2, 3, 3], [1, 2, 2, 3]),   # fold A: 1.0, 0.75
            _run(0, [1, 1, 2, 2], [1, 1, 1, 1]), _run(1, [1, 1, 2, 2], [1, 1, 2, 1])]   # fold B: 0.5, 0.75
    s = summarise_runs(runs, folds=["A", "A", "B", "B"], dirs=["fold-A/seed-0", "fold-A/seed-1",
                                                                "fold-B/seed-0", "fold-B/seed-1"])
    assert s["n_runs"] == 4 and s["n_folds"] == 2 and s["seeds"] == [0, 1]
    fa, fb = s["per_fold"]
    assert fa["fold"] == "A" and fa["accuracy"]["mean"] == pytest.approx(0.875)
    assert fa["accuracy"]["std"] == pytest.approx(0.125) and fb["accuracy"]["mean"] == pytest.approx(0.625)
    assert s["fold_means"]["accuracy"]["mean"] == pytest.approx(0.75)
    assert s["aggregate"]["accuracy"]["mean"] == pytest.approx(0.75)
    assert s["train_seconds_total"] == pytest.approx(2 + 3 + 2 + 3)
    assert s["runs"][1]["dir"] == "fold-A/seed-1" and s["runs"][1]["n_test"] == 4
    json.dumps(s, allow_nan=False)
    with pytest.raises(ValueError, match="3 folds"):
        summarise_runs(runs, folds=["A", "A", "B"])


def test_write_summary_files_without_folds(tmp_path):
    runs = [_run(s, [1, 2, 3], [1, 2, 3 if s else 2]) for s in range(3)]
    s = summarise_runs(runs)
    assert s["per_fold"] == [] and s["fold_means"] is None
    paths = write_summary(tmp_path, s)
    assert json.loads(paths["json"].read_text())["n_runs"] == 3
    md = paths["markdown"].read_text()
    assert "## Runs" in md and "## Per fold" not in md and md.count("\n| — |") == 3
    for key in ("folds", "confusion"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| lie |" in summary_markdown(s)


def test_plot_bars_checks_lengths(tmp_path):
    out = plot_bars(["a", "b"], [0.5, 0.7], [0.1, float("nan")], tmp_path / "b.png", reference=0.6)
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="2 names for 3 values"):
        plot_bars(["a", "b"], [0.5, 0.7, 0.1], None, tmp_path / "c.png")
    with pytest.raises(ValueError, match="std has 1 values"):
        plot_bars(["a", "b"], [0.5, 0.7], [0.1], tmp_path / "d.png")
