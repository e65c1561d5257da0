"""Pretraining: the loss falls, checkpoints round-trip and a resumed run equals an uninterrupted one."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.selfpab.helpers import activity_signals, tiny_cfg
from virtimu.selfpab.model import SelfPABPretrainModel
from virtimu.selfpab.pretrain import load_upstream, pretrain, reconstruction_loss
from virtimu.selfpab.spectrogram import spectrogram


@pytest.fixture(scope="module")
def windows():
    X, _ = activity_signals(30, 1000, seed=3)
    return X


def _model_from(up) -> SelfPABPretrainModel:
    m = SelfPABPretrainModel(up.normalizer.dim, up.config.upstream)
    m.encoder.load_state_dict(up.encoder.state_dict())
    m.head.load_state_dict(up.head.state_dict())
    return m


class _PredictMean(torch.nn.Module):
    """Predicts the per-feature mean (0 after normalisation): the trivial reconstruction."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_tiny_pretrain_reduces_reconstruction_loss(tmp_path):
    X, _ = activity_signals(30, 1000, seed=3, noise=0.003)
    cfg = tiny_cfg({"pretrain.steps": 80, "pretrain.val_fraction": 0.0, "pretrain.lr": 1e-2,
                    "pretrain.final_lr": 1e-3})
    res = pretrain(X, cfg, tmp_path / "run", progress=False)
    assert res.step == 80 and res.frames_per_s > 0
    up = load_upstream(tmp_path / "run")
    held_out, _ = activity_signals(12, 1000, seed=99, noise=0.003)  # windows it never saw
    S = up.normalizer(spectrogram(held_out, up.config.spectrogram))
    torch.manual_seed(cfg.pretrain.seed)
    fresh = SelfPABPretrainModel(S.shape[-1], up.config.upstream)  # the weights training started from
    before = reconstruction_loss(fresh, S, up.config, seed=5)
    after = reconstruction_loss(_model_from(up), S, up.config, seed=5)
    trivial = reconstruction_loss(_PredictMean(), S, up.config, seed=5)
    assert after < 0.8 * before and after < 0.92 * trivial  # learned more than the feature means
    assert np.mean(res.history["loss"][-10:]) < np.mean(res.history["loss"][:10])
    summary = json.loads((tmp_path / "run" / "pretrain.json").read_text())
    assert summary["step"] == 80 and summary["frames_per_s"] > 0 and summary["config"]["spectrogram"]["n_axes"] == 3


def test_checkpoint_round_trip_weights_only(tmp_path, windows):
    cfg = tiny_cfg({"pretrain.steps": 8, "pretrain.checkpoint_every": 4})
    pretrain(windows, cfg, tmp_path, channels=["waist/acc_x", "waist/acc_y", "waist/acc_z"], progress=False)
    raw = torch.load(tmp_path / "upstream.pt", map_location="cpu", weights_only=True)
    assert raw["kind"] == "selfpab-upstream" and raw["channels"] == ["waist/acc_x", "waist/acc_y", "waist/acc_z"]
    up = load_upstream(tmp_path / "upstream.pt")
    assert up.config.upstream == cfg.upstream and up.step in (4, 8)
    x = torch.from_numpy(up.normalizer(spectrogram(windows[:2], up.config.spectrogram)))
    a = up.encoder(x)[-1]
    b = load_upstream(tmp_path).encoder(x)[-1]
    assert torch.equal(a, b)
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 8 and "optimizer" in state and len(state["history"]["loss"]) == 8


def test_resumed_run_equals_uninterrupted(tmp_path, windows):
    cfg = tiny_cfg({"pretrain.steps": 12, "pretrain.checkpoint_every": 4, "upstream.dropout": 0.1})
    pretrain(windows, cfg, tmp_path / "straight", progress=False)
    part = pretrain(windows, cfg, tmp_path / "split", stop_at=6, progress=False)
    assert part.step == 6
    with pytest.raises(FileExistsError, match="resume"):
        pretrain(windows, cfg, tmp_path / "split", progress=False)
    done = pretrain(windows, cfg, tmp_path / "split", resume=True, progress=False)
    assert done.step == 12 and len(done.history["loss"]) == 12
    assert done.seconds > part.seconds > 0 and done.frames_per_s > 0  # timing sums the parts
    again = pretrain(windows, cfg, tmp_path / "split", resume=True, progress=False)  # nothing left to do
    assert again.step == 12 and again.seconds == pytest.approx(done.seconds)
    assert json.loads((tmp_path / "split" / "pretrain.json").read_text())["frames_per_s"] > 0
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_refuses_another_architecture(tmp_path, windows):
    cfg = tiny_cfg({"pretrain.steps": 4})
    pretrain(windows, cfg, tmp_path, progress=False)
    other = tiny_cfg({"pretrain.steps": 8, "upstream.d_model": 8})
    with pytest.raises(ValueError, match="upstream settings"):
        pretrain(windows, other, tmp_path, resume=True, progress=False)
