"""virtimu.pipelines.common: settings, data roots, provenance, run log and output helpers."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.report import RunResult
from virtimu.pipelines import common
from virtimu.pipelines.common import ConfigError, DataMissingError


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 0, "data": {"dip": None}, "train": {"epochs": 50, "lr": 0.001},
        "models": ["a", "b"], "quick": {"train": {"epochs": 2}, "models": ["a"]}}))
    return path


def test_quick_section_and_overrides(tmp_path: Path) -> None:
    path = _config(tmp_path)
    full = common.load_config(path)
    assert full["train"] == {"epochs": 50, "lr": 0.001} and full["quick"] is False and full["models"] == ["a", "b"]
    quick = common.load_config(path, quick=True, overrides=["train.lr=1e-4", "models=[c, d]", "seed=3"])
    assert quick["train"] == {"epochs": 2, "lr": 1e-4}  # quick merged deep, then the override
    assert quick["models"] == ["c", "d"] and quick["seed"] == 3 and quick["quick"] is True
    with pytest.raises(ConfigError, match=r"unknown setting 'train\.epoch'.*\['epochs', 'lr'\]"):
        common.load_config(path, overrides=["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"'seed' is not a section"):
        common.load_config(path, overrides=["seed.x=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        common.load_config(path, overrides=["seed"])
    with pytest.raises(ConfigError, match="does not exist"):
        common.load_config(tmp_path / "missing.yaml")


def test_start_writes_config_and_checks_data_first(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with pytest.raises(DataMissingError, match=r"dip: no data folder given; pass --data dip=PATH.*virtimu data list"):
        common.start("p", ["--out", str(tmp_path / "o1")], "doc", ("dip",), path)
    with pytest.raises(DataMissingError, match="nowhere does not exist"):
        common.start("p", ["--out", str(tmp_path / "o1"), "--data", f"dip={tmp_path / 'nowhere'}"], "doc",
                     ("dip",), path)
    with pytest.raises(ConfigError, match="this pipeline reads dip"):
        common.start("p", ["--quick", "--out", str(tmp_path / "o1"), "--data", "amass=x"], "doc", ("dip",), path)
    run = common.start("p", ["--quick", "--out", str(tmp_path / "o2"), "train.lr=0.5"], "doc", ("dip",), path)
    assert run.quick and run.data == {"dip": None} and run.config["train"]["lr"] == 0.5
    assert yaml.safe_load((tmp_path / "o2" / "config.yaml").read_text())["train"] == {"epochs": 2, "lr": 0.5}
    assert run.provenance["pipeline"] == "p" and "git_commit" in run.provenance

    calls = []

    def writer(folder: Path, size: int = 1) -> Path:
        calls.append(size)
        (folder / "data").mkdir(parents=True)
        return folder / "data"

    root = common.data_root(run, "dip", writer, size=4)
    assert root == tmp_path / "o2" / "work" / "fixtures" / "dip" / "data" and calls == [4]
    assert common.data_root(run, "dip", writer, size=4) == root and calls == [4]  # written once, reused
    assert run.provenance["data"]["dip"]["fixture"] is True
    real = tmp_path / "real"
    real.mkdir()
    run.data["dip"] = str(real)
    assert common.data_root(run, "dip", writer) == real and run.provenance["data"]["dip"]["fixture"] is False


def test_git_commit_reads_refs_and_packed_refs(tmp_path: Path) -> None:
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    sub = tmp_path / "repo" / "pkg" / "mod.py"
    sub.parent.mkdir()
    sub.write_text("")
    assert common.git_commit(sub) == "a" * 40
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text("# pack-refs with: peeled\n" + "b" * 40 + " refs/heads/main\n")
    assert common.git_commit(sub) == "b" * 40
    (git / "HEAD").write_text("c" * 40 + "\n")  # detached head
    assert common.git_commit(sub) == "c" * 40
    assert common.git_commit(tmp_path / "elsewhere") is None or common.git_commit(tmp_path) != "c" * 40


def test_runlog_rows_aggregate_and_csv(tmp_path: Path) -> None:
    log = common.RunLog()
    lm = {1: "a", 2: "b"}
    for seed, pred in ((0, [1, 2, 2, 2]), (1, [1, 1, 2, 2])):
        r = RunResult(model="m", dataset="d", split="s", seed=seed, train_seconds=1.0)
        r.metrics = Metrics.compute(np.array([1, 1, 2, 2]), np.array(pred), lm)
        log.add(r, k=1, n_adapt=100)
    rows = log.rows()
    assert [r["accuracy"] for r in rows] == [0.75, 1.0] and rows[0]["k"] == 1
    (agg,) = log.aggregate(by=("k",))
    assert agg["n_runs"] == 2 and agg["k"] == 1 and agg["accuracy"]["mean"] == pytest.approx(0.875)
    path = common.write_csv(tmp_path / "runs.csv", rows)
    with open(path, newline="") as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == 2 and float(back[1]["accuracy"]) == 1.0 and back[0]["model"] == "m"
    with pytest.raises(ValueError, match="no metrics"):
        log.add(RunResult(model="m", dataset="d", split="s", seed=2))


def test_markdown_and_percent() -> None:
    table = common.markdown_table(["a", "b"], [["x|y", 1.5]])
    assert table.splitlines() == ["| a | b |", "|---|---:|", "| x\\|y | 1.5 |"]
    with pytest.raises(ValueError, match="2 columns"):
        common.markdown_table(["a", "b"], [[1]])
    assert common.percent({"mean": 0.5, "std": 0.1, "n": 3}) == "50.00 ± 10.00"
    assert common.percent({"mean": 0.5, "std": 0.0, "n": 1}) == "50.00" and common.percent(None) == "—"


def test_paper_figures_and_label_mapper() -> None:
    p001 = common.paper_figures("001")
    assert p001["table"][("cnn-deconv", "amass->dip")] == {"accuracy": 91.15, "macro_f1": 91.21,
                                                          "source": "001 Table 2"}
    assert len(p001["table"]) == 8 and "Table 2" in p001["citation"]
    assert common.paper_figures("000")["table"] == {} and len(common.paper_figures("000")["findings"]) == 3
    assert common.paper_figures("002")["table"][("deepconvlstm", "harth")]["macro_f1"] == 51.2
    with pytest.raises(KeyError, match="no paper '009'"):
        common.paper_figures("009")
    from virtimu.labels.maps import get_label_space

    syn, harth = get_label_space("synthetic12"), get_label_space("harth")
    mapper = common.label_mapper("synthetic12", "harth")
    codes, lmap = mapper(np.array([syn.code("walking"), syn.code("stairs"), syn.code("lying")]), syn.label_map())
    assert codes.tolist() == [harth.code("walking"), 0, harth.code("lying")] and lmap == harth.label_map()


@pytest.mark.parametrize("name, overrides", [
    ("amass_to_dip", ["train.device=cuda", "models=[rf]", "fine_tune.epochs=5", "synthesis.mount=null"]),
    ("opportunity_to_jsifos", ["freeze_k=[1]", "repeats=1", "adaptation_sizes=[100,1000]",
                               "target_train.device=cuda", "source_train.epochs=3"]),
    ("synthetic_to_harth", ["targets=[harth]", "pretrain=deepconvlstm", "pretrain_train.device=cuda",
                            "target_train.lr=1e-4"]),
])
def test_pipeline_configs_load_full_and_quick(name: str, overrides: list[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / f"{name}.yaml"
    full = common.load_config(path, overrides=overrides)  # the README's examples are valid settings
    quick = common.load_config(path, quick=True)
    assert full["seed"] == quick["seed"] == 0 and set(full["data"]) == set(quick["data"])
    assert all(v is None for v in full["data"].values())  # no machine-specific paths committed
    for section in ("train", "source_train", "target_train", "pretrain_train"):
        if section in quick:
            assert quick[section]["threads"] == 1 and full[section]["threads"] is None
