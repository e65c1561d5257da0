"""`virtimu train` / `virtimu eval` on a labelled, windowed demo store: runs, splits, transfer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from virtimu.cli import main


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "demo.zarr"
    assert main(["synth", "--out", str(out), "--workers", "1", "--quiet", "--signals", "acc,gyro"]) == 0
    assert main(["label", str(out), "--quiet"]) == 0
    assert main(["windows", str(out), "--drop-null", "--overlap", "0.75", "--quiet"]) == 0
    return out


def test_train_eval_ratio_split(demo_store: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "cnn1d", "--store", str(demo_store), "--out", str(run), "epochs=15", "seed=1"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    assert metrics["metrics"]["n"] == len(split["test"])
    assert metrics["metrics"]["accuracy"] > 0.5  # 8 classes: chance is ~0.2
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["model_name"] == "cnn1d" and ckpt["train_config"]["epochs"] == 15
    capsys.readouterr()
    assert main(["eval", str(run), "--store", str(demo_store)]) == 0
    again = json.loads((run / "eval" / "metrics.json").read_text())
    assert again["metrics"]["accuracy"] == pytest.approx(metrics["metrics"]["accuracy"])
    assert (run / "confusion.png").stat().st_size > 2000


def test_transfer_freezes_first_conv_layer(demo_store: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    assert main(["train", "cnn1d", "--store", str(demo_store), "--out", str(src), "epochs=5"]) == 0
    dst = tmp_path / "dst"
    assert main(["train", "cnn1d", "--store", str(demo_store), "--init", str(src / "model.pt"), "--freeze-conv", "1",
                 "--n-windows", "40", "--out", str(dst), "epochs=3", "lr=0.01"]) == 0
    a = torch.load(src / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(dst / "model.pt", weights_only=True)["state_dict"]
    first = [k for k in a if k.startswith("convs.0.")]  # cnn1d's first conv block
    assert first and torch.load(dst / "model.pt", weights_only=True)["frozen"] == first
    for k in first:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["convs.1.0.weight"], b["convs.1.0.weight"])  # the next block trained


def test_bad_split_and_unknown_model(demo_store: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "cnn1d", "--store", str(demo_store), "--split", "subjects", "--out", str(tmp_path / "x")]) == 2
    assert "test subjects" in capsys.readouterr().err
    assert main(["train", "resnet9000", "--store", str(demo_store), "--out", str(tmp_path / "y"), "epochs=1"]) == 2
    assert "resnet9000" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["rf", "xgb"])
def test_feature_learners_train_and_eval(demo_store: Path, tmp_path: Path, model: str) -> None:
    run = tmp_path / model
    assert main(["train", model, "--store", str(demo_store), "--out", str(run)]) == 0
    assert (run / "model.zip").exists() and not (run / "model.pt").exists()
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["accuracy"] > 0.5
    assert main(["eval", str(run), "--store", str(demo_store)]) == 0
    again = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])


def _all_models() -> list[str]:
    from virtimu.models.registry import MODELS
    from virtimu.training.run import feature_models

    return sorted(MODELS) + [m for m in feature_models() if m not in ("rf", "xgb")]


@pytest.mark.parametrize("model", _all_models())
def test_every_model_trains_and_evaluates_from_the_cli(demo_store: Path, tmp_path: Path, model: str) -> None:
    """Every registered model name goes through `virtimu train` and `virtimu eval` on the store."""
    from virtimu.models.registry import MODELS

    run = tmp_path / model
    settings = ["epochs=1", "batch_size=32"] if model in MODELS else []
    if model == "rf-tsfresh":
        settings = ["model.feature_set=minimal", "model.workers=1", "model.n_estimators=20"]
    assert main(["train", model, "--store", str(demo_store), "--out", str(run), *settings]) == 0, model
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["n"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    assert (run / ("model.pt" if model in MODELS else "model.zip")).is_file()
    assert main(["eval", str(run), "--store", str(demo_store)]) == 0
    again = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert again["n"] == metrics["n"]
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])  # the saved model predicts the same
