"""Many runs from the CLI: every LOSO fold, k-fold, repeated seeds, resume, summaries, eval of a folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.training_toy_data import toy_store_in
from virtimu.cli import main
from virtimu.training.run import RunSpec, SetData, find_runs, is_multi_run, plan_runs
from virtimu.types import WindowSet

torch.set_num_threads(1)

FAST = ["epochs=3", "lr=1e-2", "batch_size=32"]


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory) -> tuple[Path, WindowSet]:
    """(store path, WindowSet): 6 subjects × 3 classes × 10 windows, 16 windows per chunk."""
    return toy_store_in(tmp_path_factory.mktemp("toy"))


def _metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())


@pytest.fixture(scope="module")
def loso_folder(toy_store, tmp_path_factory) -> Path:
    """All 6 LOSO folds × seeds 0, 1 of cnn1d on the toy store."""
    path, _ = toy_store
    out = tmp_path_factory.mktemp("loso") / "runs"
    assert main(["train", "cnn1d", "--store", str(path), "--split", "loso", "--folds", "all", "--seeds", "0,1",
                 "--val-subjects", "1", "--quiet", "--out", str(out), *FAST]) == 0
    return out


def test_loso_all_folds_and_seeds_written(loso_folder, toy_store):
    _, ws = toy_store
    runs = find_runs(loso_folder)
    assert [rel for _, rel in runs] == [f"fold-s{i}/seed-{s}" for i in range(1, 7) for s in (0, 1)]
    for fold, rel in runs:
        d = loso_folder / rel
        for name in ("model.pt", "split.json", "metrics.json", "confusion.png", "per_class.md"):
            assert (d / name).is_file(), (rel, name)
        split = json.loads((d / "split.json").read_text())
        assert set(ws.subject[split["test"]].tolist()) == {fold}  # the fold's subject, and only it
        assert fold not in set(ws.subject[split["train"]].tolist())
        m = _metrics(d)
        assert m["seed"] == int(rel[-1]) and m["config"]["train"]["seed"] == int(rel[-1])
    a = torch.load(loso_folder / "fold-s1/seed-0/model.pt", weights_only=True)["state_dict"]
    b = torch.load(loso_folder / "fold-s1/seed-1/model.pt", weights_only=True)["state_dict"]
    assert not all(torch.equal(a[k], b[k]) for k in a)  # the seeds differ
    # LOSO validation subjects are used for validation (history has validation scores)
    hist = torch.load(loso_folder / "fold-s1/seed-0/model.pt", weights_only=True)["history"]
    assert all(np.isfinite(hist["val_f1"]))


def test_loso_summary_aggregates_every_run(loso_folder):
    summary = json.loads((loso_folder / "summary.json").read_text())
    assert summary["n_runs"] == 12 and summary["n_folds"] == 6 and summary["seeds"] == [0, 1]
    accs = [_metrics(loso_folder / r["dir"])["metrics"]["accuracy"] for r in summary["runs"]]
    assert summary["aggregate"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["aggregate"]["accuracy"]["std"] == pytest.approx(np.std(accs))
    fold1 = next(e for e in summary["per_fold"] if e["fold"] == "s1")
    f1s = [_metrics(loso_folder / f"fold-s1/seed-{s}")["metrics"]["macro_f1"] for s in (0, 1)]
    assert fold1["macro_f1"]["mean"] == pytest.approx(np.mean(f1s)) and fold1["n_runs"] == 2
    conf = np.array(summary["confusion"]["matrix"])
    assert conf.sum() == sum(r["n_test"] for r in summary["runs"]) == 2 * 180
    assert set(summary["aggregate"]["per_class_f1"]) == {"walk", "sit", "lie"}
    assert summary["aggregate"]["train_seconds"]["n"] == 12
    md = (loso_folder / "summary.md").read_text()
    assert "## Per fold" in md and md.count("| fold-s") == 12
    for png in ("folds_macro_f1.png", "confusion_sum.png"):
        assert (loso_folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_resumes_and_refuses_other_settings(toy_store, tmp_path, capsys):
    path, _ = toy_store
    out = tmp_path / "runs"
    args = ["train", "cnn1d", "--store", str(path), "--split", "loso", "--folds", "2", "--repeats", "2",
            "--quiet", "--out", str(out), *FAST]
    assert main(args) == 0
    assert [rel for _, rel in find_runs(out)] == ["fold-s1/seed-0", "fold-s1/seed-1", "fold-s2/seed-0",
                                                  "fold-s2/seed-1"]
    kept = (out / "fold-s1/seed-0/model.pt").stat().st_mtime_ns
    (out / "fold-s2/seed-1/metrics.json").unlink()  # an interrupted sub-run
    capsys.readouterr()
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count("done before") == 3 and "[4/4] fold s2 seed 1" in text
    assert (out / "fold-s1/seed-0/model.pt").stat().st_mtime_ns == kept
    assert (out / "fold-s2/seed-1/metrics.json").is_file()
    assert main([*args[:-len(FAST)], "epochs=4", "lr=1e-2", "batch_size=32"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_kfold_partitions_subjects(toy_store, tmp_path):
    path, ws = toy_store
    out = tmp_path / "kfold"
    assert main(["train", "cnn1d", "--store", str(path), "--split", "kfold", "--k", "3", "--quiet",
                 "--out", str(out), *FAST]) == 0
    runs = find_runs(out)
    assert [rel for _, rel in runs] == ["fold-0/seed-0", "fold-1/seed-0", "fold-2/seed-0"]
    tests = [json.loads((out / rel / "split.json").read_text()) for _, rel in runs]
    all_test = np.concatenate([t["test"] for t in tests])
    assert sorted(all_test.tolist()) == list(range(len(ws)))  # the test parts partition the set
    for t in tests:
        assert not set(ws.subject[t["test"]].tolist()) & set(ws.subject[t["train"]].tolist())
        assert t["how"]["k"] == 3
    assert json.loads((out / "summary.json").read_text())["n_folds"] == 3


def test_plan_runs_fold_selection(toy_store):
    path, _ = toy_store
    data = SetData(str(path))
    spec = RunSpec(model="cnn1d", store=str(path), split="loso")
    assert [s.fold for s in plan_runs(spec, data, "2")] == ["s1", "s2"]
    assert [s.rel for s in plan_runs(spec, data, "s3,s5", seeds=[4])] == ["fold-s3/seed-4", "fold-s5/seed-4"]
    assert len(plan_runs(spec, data, "all", seeds=[0, 1, 2])) == 18
    assert [s.rel for s in plan_runs(RunSpec(model="rf", store=str(path)), data, None, [0, 1])] == ["seed-0", "seed-1"]
    with pytest.raises(ValueError, match="unknown subjects"):
        plan_runs(spec, data, "s1,s9")
    with pytest.raises(ValueError, match="choose 1..6"):
        plan_runs(spec, data, "7")
    with pytest.raises(ValueError, match="--folds needs"):
        plan_runs(RunSpec(model="cnn1d", store=str(path)), data, "all")


def test_feature_learner_repeats_vary_its_seed(toy_store, tmp_path, capsys):
    path, _ = toy_store
    out = tmp_path / "rf"
    assert main(["train", "rf", "--store", str(path), "--repeats", "2", "--quiet", "--out", str(out),
                 "model.n_estimators=10"]) == 0
    assert [_metrics(out / f"seed-{s}")["config"]["model"]["seed"] for s in (0, 1)] == [0, 1]
    assert _metrics(out / "seed-0")["config"]["model"]["n_estimators"] == 10
    assert (out / "seed-1" / "model.zip").is_file()
    assert "2 runs (ratio)" in capsys.readouterr().out


def test_eval_of_a_folder_matches_training(loso_folder, tmp_path):
    assert is_multi_run(loso_folder) and not is_multi_run(loso_folder / "fold-s1/seed-0")
    assert main(["eval", str(loso_folder), "--quiet"]) == 0  # store and set recorded in the runs
    trained = json.loads((loso_folder / "summary.json").read_text())
    evaluated = json.loads((loso_folder / "eval" / "summary.json").read_text())
    assert evaluated["n_runs"] == 12 and evaluated["split"] == "test part"
    for a, b in zip(trained["runs"], evaluated["runs"]):
        assert (a["fold"], a["seed"], a["dir"]) == (b["fold"], b["seed"], b["dir"])
        assert b["accuracy"] == pytest.approx(a["accuracy"]) and b["n_test"] == a["n_test"]
    assert (loso_folder / "fold-s3/seed-1/eval/metrics.json").is_file()
    assert (loso_folder / "eval" / "folds_macro_f1.png").is_file()


def test_single_run_flags_conflict(toy_store, tmp_path, capsys):
    path, _ = toy_store
    assert main(["train", "cnn1d", "--store", str(path), "--folds", "all", "--out", str(tmp_path / "a")]) == 2
    assert "--folds needs" in capsys.readouterr().err
    assert main(["train", "cnn1d", "--store", str(path), "--seeds", "0,1", "--repeats", "2",
                 "--out", str(tmp_path / "b")]) == 2
    assert "not both" in capsys.readouterr().err


def test_single_run_unchanged_and_eval_defaults_to_its_store(toy_store, tmp_path):
    path, _ = toy_store
    run = tmp_path / "one"
    assert main(["train", "cnn1d", "--store", str(path), "--split", "loso", "--test-subject", "s4",
                 "--val-subjects", "1", "--out", str(run), *FAST]) == 0
    assert not (run / "summary.json").exists() and not (run / "sweep.json").exists()  # one plain run folder
    m = _metrics(run)
    assert m["split"] == "loso" and m["provenance"]["split"]["test_subject"] == "s4" and m["seed"] == 0
    assert main(["eval", str(run)]) == 0
    again = _metrics(run / "eval")
    assert again["split"] == "test part" and again["metrics"]["accuracy"] == pytest.approx(m["metrics"]["accuracy"])
