"""pipelines/opportunity_to_jsifos.py (paper 000) end to end with --quick on stand-in data."""
from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.pipeline_outputs import check_common_outputs, check_png

from pipelines import opportunity_to_jsifos as pipe


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("opportunity_to_jsifos")
    assert pipe.main(["--quick", "--out", str(out)]) == 0
    return out


def test_grid_of_runs(quick_run: Path) -> None:
    results, rows, _ = check_common_outputs(quick_run, "opportunity_to_jsifos")
    cfg = results["config"]
    folds, sizes, ks = cfg["loso"]["test_subjects"], cfg["adaptation_sizes"], cfg["freeze_k"]
    # one row per (fold, size) for each k, the end-to-end model and the RF, one repeat
    assert len(rows) == len(folds) * len(sizes) * (len(ks) + 2)
    transfer = [r for r in rows if r["model"] == pipe.TRANSFER]
    assert sorted({int(r["k"]) for r in transfer}) == ks
    assert {r["fold"] for r in rows} == set(folds)
    for r in rows:
        assert r["fold"] not in r["val_subjects"].split(",") and len(r["val_subjects"].split(",")) == 2
        assert 0 < int(r["n_used"]) <= int(r["n_adapt"])  # a stratified sample of the fold's training windows
        assert int(r["n_adapt"]) != 20 or int(r["n_used"]) == 20
    # aggregates: one per (model, k, size) with all folds in it
    agg = {(a["model"], a["k"], a["n_adapt"]): a for a in results["aggregates"]}
    assert len(agg) == len(sizes) * (len(ks) + 2)
    assert all(a["n_runs"] == len(folds) for a in agg.values())
    # source model: trained on Opportunity's aggregated classes
    assert results["source"]["windows"] > 0 and len(results["source"]["classes"]) >= 2
    assert all("_" in c or c in ("stand", "walk", "sit", "lie") for c in results["source"]["classes"])
    assert set(results["jsi-fos_windows"]["class_counts"]) <= {"lying", "allfours", "allfours_moving", "standing",
                                                               "cycling", "walking"}


def test_report_findings_and_plots(quick_run: Path) -> None:
    results, _, report = check_common_outputs(quick_run, "opportunity_to_jsifos")
    assert "| transfer, k = 0 |" in report and "| Random Forest |" in report
    assert len(results["findings"]) == 3
    assert all(f["holds"] in (True, False, None) for f in results["findings"])
    m = next(a for a in results["aggregates"] if a["model"] == "rf" and a["n_adapt"] == 60)
    assert f"{100 * m['macro_f1']['mean']:.2f}" in report  # the table is built from the runs
    check_png(quick_run / "plots" / "f1_vs_size_by_k.png", width=(400, 1200), height=(300, 800))
    check_png(quick_run / "plots" / "f1_vs_size_models.png", width=(400, 1200), height=(300, 800))
    assert (quick_run / "runs" / "rf" / "-" / "n20" / "S01" / "rep0" / "confusion.png").is_file()
