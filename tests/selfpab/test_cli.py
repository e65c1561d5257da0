"""``virtimu pretrain selfpab`` and ``virtimu selfpab-downstream`` end to end on a tiny store."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
import yaml

import virtimu.cli
from tests.selfpab.helpers import tiny_cfg
from tests.selfpab.test_data import write_store
from virtimu.selfpab.cli import register


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setattr(virtimu.cli, "EXTENSIONS", ("virtimu.selfpab.cli",))
    return virtimu.cli.main


@pytest.fixture
def setup(tmp_path):
    store = write_store(tmp_path / "s.zarr", fs=50.0, seconds=60.0, subjects=("1", "2", "3"))
    cfg = tiny_cfg({"spectrogram.n_axes": 6, "pretrain.window_length": 1000, "pretrain.steps": 6,
                    "pretrain.checkpoint_every": 3, "downstream.window_length": 500, "downstream.steps": 6,
                    "downstream.unfreeze_step": 3})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return store, path


def test_pretrain_then_downstream(cli, setup, tmp_path, capsys):
    store, cfg = setup
    out = tmp_path / "up"
    args = ["pretrain", "selfpab", "--store", str(store), "--channels", "back/acc_*,right_thigh/acc_*",
            "--config", str(cfg), "--out", str(out), "--quiet"]
    assert cli(args + ["--steps", "3"]) == 0
    assert "spectrogram frames/s" in capsys.readouterr().out
    assert cli(args) == 2  # a checkpoint exists: refuse without --resume
    assert "--resume" in capsys.readouterr().err
    assert cli(args + ["--resume"]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6 and state["channels"][0] == "back/acc_x"
    run = tmp_path / "ds"
    rc = cli(["selfpab-downstream", "--upstream", str(out), "--store", str(store), "--source", "toy",
              "--split", "loso", "--test-subject", "3", "--out", str(run), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "loso-3: macro-F1" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "selfpab" and metrics["split"] == "loso-3"
    assert metrics["provenance"]["evaluated_on"] == "samples" and metrics["provenance"]["unfrozen_at"] == 3
    assert 0.0 <= metrics["metrics"]["macro_f1"] <= 1.0
    assert (run / "model.pt").is_file() and (run / "confusion.png").is_file()


def test_downstream_without_upstream_all_folds(cli, setup, tmp_path, capsys):
    store, cfg = setup
    run = tmp_path / "scratch"
    rc = cli(["selfpab-downstream", "--store", str(store), "--channels", "back/acc_*,right_thigh/acc_*",
              "--config", str(cfg), "--split", "loso", "--all-folds", "--out", str(run), "--quiet",
              "downstream.steps=2"])
    assert rc == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_runs"] == 3 and summary["model"] == "selfpab-scratch"
    assert {p.name for p in run.iterdir() if p.is_dir()} == {"loso-1", "loso-2", "loso-3"}


def test_errors_exit_2(cli, setup, tmp_path, capsys):
    store, cfg = setup
    rc = cli(["pretrain", "selfpab", "--store", str(store), "--channels", "waist/acc_*", "--config", str(cfg),
              "--out", str(tmp_path / "x"), "--quiet"])
    assert rc == 2 and "matches no channel" in capsys.readouterr().err
    rc = cli(["selfpab-downstream", "--store", str(store), "--out", str(tmp_path / "y"), "--quiet"])
    assert rc == 2 and "--channels is required" in capsys.readouterr().err
    rc = cli(["pretrain", "selfpab", "--store", str(store), "--channels", "back/acc_*", "--config", "nope",
              "--out", str(tmp_path / "z")])
    assert rc == 2 and "preset" in capsys.readouterr().err


def test_register_reuses_an_existing_pretrain_command():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    other = sub.add_parser("pretrain").add_subparsers(dest="method")
    other.add_parser("other-method")
    register(sub)
    assert set(other.choices) == {"other-method", "selfpab"}
