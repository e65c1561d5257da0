"""pipelines/synthetic_to_harth.py end to end with --quick on stand-in data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.pipelines.pipeline_outputs import check_common_outputs, check_png, read_csv

from pipelines import synthetic_to_harth as pipe
from virtimu.pipelines.common import ConfigError

MODELS = (pipe.PRETRAINED, pipe.SELFPAB, pipe.SCRATCH, pipe.XGB)


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
        # every model is scored on the same test windows of a fold
        for fold in subjects:
            assert len({r["n_test"] for r in mine if r["fold"] == fold}) == 1
    assert "running" in results["harth_windows"]["class_counts"]
    assert "running" not in results["har70plus_windows"]["class_counts"]
    assert set(results["pretrain"]) == {"deepconvlstm", "selfpab"}
    assert results["pretrain"]["deepconvlstm"]["windows"] > 0
    assert results["synthesis"]["sites"][0]["name"] == "back"
    # report: ours beside paper 002's figures, which come from paper_figures.yaml
    assert "| xgb | harth | loso | 2 |" in report and "74.20" in report
    assert "not wired" not in report


def test_selfpab_arm(quick_run: Path) -> None:
    results = json.loads((quick_run / "results.json").read_text(encoding="utf-8"))
    sp = results["pretrain"]["selfpab"]
    n_synth = sum(results["synthetic_windows"]["class_counts"].values())
    # the quick config's tiny upstream, pre-trained on the synthetic window set (5 s -> 2 s windows in --quick)
    assert sp["data"] == "windows" and sp["windows"] == n_synth and sp["samples_per_window"] == 100
    assert sp["steps"] == 20 and sp["config"]["upstream"]["d_model"] == 16 and sp["config"]["pretrain"]["seed"] == 0
    assert sp["channels"] == ["back/acc_x", "back/acc_y", "back/acc_z",
                              "right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z"]
    assert Path(sp["checkpoint"]).is_file() and 0 < sp["train_loss"] < 10
    # per-fold run folders carry the pipeline's model / split names
    run_dir = quick_run / "runs" / "harth" / pipe.SELFPAB / "S006" / "rep0"
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["model"] == pipe.SELFPAB and metrics["split"] == "loso" and metrics["dataset"] == "harth"
    assert metrics["provenance"]["evaluated_on"] == "windows" and metrics["provenance"]["unfrozen_at"] == 20
    row = next(r for r in read_csv(quick_run / "runs.csv") if r["run_id"] == "harth/selfpab-pretrained/S006/rep0")
    assert float(row["macro_f1"]) == pytest.approx(metrics["metrics"]["macro_f1"])
    report = (quick_run / "report.md").read_text(encoding="utf-8")
    # our SelfPAB row beside the paper's SelfPAB figure (Table 3: 81.3 macro-F1), not in the reference list
    line = next(s for s in report.splitlines() if s.startswith("| selfpab-pretrained | harth | loso | 2 |"))
    assert "81.30" in line and "94.60" in line and "HUNT4" in line
    assert "| selfpab | harth |" not in report


def test_plots(quick_run: Path) -> None:
    for target in ("harth", "har70plus"):
        check_png(quick_run / "plots" / f"f1_per_subject_{target}.png", width=(400, 1400), height=(300, 800))
        for model in MODELS:
            check_png(quick_run / "plots" / f"confusion_{target}_{model}.png")


def test_selfpab_alone_on_recordings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert pipe.main(["--quick", "--out", str(out), "pretrain=selfpab", "targets=[harth]", "selfpab.data=recordings",
                      "baselines.deepconvlstm=false", "baselines.xgb={}"]) == 0
    results, rows, report = check_common_outputs(out, "synthetic_to_harth")
    assert {r["model"] for r in rows} == {pipe.SELFPAB} and len(rows) == 2
    sp = results["pretrain"]["selfpab"]
    assert set(results["pretrain"]) == {"selfpab"} and sp["data"] == "recordings" and sp["samples_per_window"] == 100
    # windows cut from the recordings include the stretches the labelled window set drops
    assert sp["windows"] > sum(results["synthetic_windows"]["class_counts"].values())
    assert "deepconvlstm-pretrained" not in report and "| deepconvlstm | harth | 51.2 |" in report


@pytest.mark.parametrize("override, message", [
    ("pretrain=[deepconvlstm,bert]", "give one or more distinct names of ['deepconvlstm', 'selfpab']"),
    ("pretrain=[selfpab,selfpab]", "distinct names"),
    ("pretrain=[]", "distinct names"),
    ("selfpab.config=no_such_preset", "selfpab: SelfPAB config 'no_such_preset'"),
    ("selfpab.data=labels", "selfpab.data: 'labels'; choose one of ['windows', 'recordings']"),
    ("selfpab.pretrain.window_length=0", "window_length must be >= 1"),
])
def test_bad_pretrain_settings_are_refused_before_work(tmp_path: Path, capsys, override: str, message: str) -> None:
    assert pipe.main(["--quick", "--out", str(tmp_path), override]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "work").exists()  # refused before any work


def test_selfpab_config_block() -> None:
    cfg = {"selfpab": {"config": "cpu", "data": "windows", "upstream": {"d_model": 32, "n_heads": 2},
                       "downstream": {"steps": 7}}}
    spcfg, mode = pipe.selfpab_config(cfg, seed=5)
    assert mode == "windows" and spcfg.upstream.d_model == 32 and spcfg.upstream.n_layers == 3  # rest: cpu preset
    assert spcfg.downstream.steps == 7 and spcfg.pretrain.seed == 5
    assert pipe.selfpab_config({"selfpab": {"pretrain": {"seed": 9}}}, seed=5)[0].pretrain.seed == 9
    with pytest.raises(ConfigError, match="selfpab.upstream: expected a mapping"):
        pipe.selfpab_config({"selfpab": {"upstream": 3}}, seed=0)
    with pytest.raises(ConfigError, match="unknown key .width."):
        pipe.selfpab_config({"selfpab": {"upstream": {"width": 3}}}, seed=0)


def test_pretrain_models_and_paper_counterparts() -> None:
    assert pipe.pretrain_models("selfpab") == ["selfpab"]
    assert pipe.pretrain_models(["selfpab", "deepconvlstm"]) == ["selfpab", "deepconvlstm"]
    table = {("selfpab", "harth"): {"macro_f1": 81.3, "source": "002 Table 3"}, ("xgb", "harth"): {"macro_f1": 74.2}}
    out = pipe.with_counterparts(table)
    assert out[(pipe.SELFPAB, "harth")]["macro_f1"] == 81.3 and out[("selfpab", "harth")] == table[("selfpab", "harth")]
    assert (pipe.SELFPAB, "har70plus") not in out and len(out) == 3


def test_time_masking_check_warns_for_short_windows(caplog) -> None:
    spcfg, _ = pipe.selfpab_config({"selfpab": {"config": "cpu"}}, seed=0)
    with caplog.at_level("WARNING", logger=pipe.NAME):
        assert pipe._check_time_masking(spcfg, 250) == 0  # 5 s: 9 frames, floor(0.15 * 9 / 3) = 0
    assert "no time span is altered" in caplog.text and ">= 525 samples" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger=pipe.NAME):
        assert pipe._check_time_masking(spcfg, 600) == 1 and pipe._check_time_masking(spcfg, 1500) == 2
    assert caplog.text == ""


def test_recordings_too_short_for_selfpab_windows(tmp_path: Path, capsys) -> None:
    assert pipe.main(["--quick", "--out", str(tmp_path), "pretrain=selfpab", "targets=[harth]",
                      "selfpab.data=recordings", "selfpab.pretrain.window_length=100000"]) == 2
    err = capsys.readouterr().err
    assert "SelfPAB pre-training data (selfpab.data=recordings)" in err and "window_length" in err
