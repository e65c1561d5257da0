"""pipelines/synthetic_to_harth.py end to end with --quick on stand-in data."""
from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.pipeline_outputs import check_common_outputs, check_png

from pipelines import synthetic_to_harth as pipe

MODELS = (pipe.PRETRAINED, pipe.SCRATCH, pipe.XGB)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic_to_harth")
    assert pipe.main(["--quick", "--out", str(out)]) == 0
    return out


def test_runs_per_target_fold_and_model(quick_run: Path) -> None:
    results, rows, report = check_common_outputs(quick_run, "synthetic_to_harth")
    folds = {"harth": {"S006", "S007"}, "har70plus": {"501", "502"}}  # the quick config's test subjects
    assert len(rows) == sum(len(f) for f in folds.values()) * len(MODELS)
    for target, subjects in folds.items():
        mine = [r for r in rows if r["target"] == target]
        assert {r["fold"] for r in mine} == subjects and {r["model"] for r in mine} == set(MODELS)
        assert all(r["dataset"] == target and r["split"] == "loso" for r in mine)
    assert "running" in results["harth_windows"]["class_counts"]
    assert "running" not in results["har70plus_windows"]["class_counts"]
    assert results["pretrain"]["model"] == "deepconvlstm" and results["pretrain"]["windows"] > 0
    assert results["synthesis"]["sites"][0]["name"] == "back"
    # report: ours beside paper 002's figures, which come from paper_figures.yaml
    assert "| xgb | harth | loso | 2 |" in report and "74.20" in report and "| selfpab | harth |" in report


def test_plots(quick_run: Path) -> None:
    for target in ("harth", "har70plus"):
        check_png(quick_run / "plots" / f"f1_per_subject_{target}.png", width=(400, 1400), height=(300, 800))
        for model in MODELS:
            check_png(quick_run / "plots" / f"confusion_{target}_{model}.png")


def test_selfpab_is_not_wired_yet(tmp_path: Path, capsys) -> None:
    assert pipe.main(["--quick", "--out", str(tmp_path), "pretrain=selfpab"]) == 2
    assert "not wired into this pipeline yet" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()  # refused before any work
