"""Shapes, transfer hooks, overfitting and registry checks for the torch models."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from virtimu.models.cnn_deconv import CNNDeconv, CNNDeconvConfig
from virtimu.models.recurrent import split_subsequences
from virtimu.models.registry import MODELS, build_model, model_config

NAMES = sorted(MODELS)
SHAPES = [(60, 36, 12), (128, 9, 6), (100, 4, 10)]
EXPECTED_CONV = {"deepconvlstm": 4, "cnn-deconv": 3, "lstm": 0, "stacked-lstm": 0,
                 "cnn1d": 2, "cnn-lstm": 2, "convlstm": 1}


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def sine_windows(n: int = 32, length: int = 32, channels: int = 3, seed: int = 0):
    """Two classes: sines of 1 vs 3 cycles per window, random phase/amplitude, small noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length) / length
    cycles = np.where(y == 0, 1.0, 3.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    amp = rng.uniform(0.7, 1.3, (n, 1, channels))
    x = amp * np.sin(2 * np.pi * cycles * t[None, :, None] + phase) + 0.05 * rng.standard_normal((n, length, channels))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length,channels,n_classes", SHAPES)
def test_forward_shape(name, length, channels, n_classes):
    torch.manual_seed(0)
    model = build_model(name, channels, length, n_classes).eval()
    out = model(torch.randn(2, length, channels))
    assert out.shape == (2, n_classes)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_wrong_channel_count_is_rejected(name):
    model = build_model(name, 4, 64, 3)
    with pytest.raises(ValueError, match="expects x of shape"):
        model(torch.randn(2, 64, 5))


@pytest.mark.parametrize("name", NAMES)
def test_conv_layers(name):
    model = build_model(name, 9, 128, 6)
    layers = model.conv_layers
    assert len(layers) == EXPECTED_CONV[name]
    owned = {id(m) for m in model.modules()}
    for layer in layers:
        assert id(layer) in owned  # registered sub-modules, so freezing affects the model
        assert any(isinstance(m, nn.Conv1d | nn.Conv2d) for m in layer.modules())


@pytest.mark.parametrize("name", NAMES)
def test_replace_head_keeps_other_weights(name):
    torch.manual_seed(0)
    model = build_model(name, 9, 64, 6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.replace_head(3)
    after = model.state_dict()
    assert model.eval()(torch.randn(2, 64, 9)).shape == (2, 3)
    changed = {k for k in before if k not in after or before[k].shape != after[k].shape
               or not torch.equal(before[k], after[k])}
    assert changed, "the output layer must be new"
    assert all(k.startswith("head.") for k in changed), changed
    for k in before.keys() - changed:
        assert torch.equal(before[k], after[k])


@pytest.mark.parametrize("name", NAMES)
def test_fc_parameters_are_the_head(name):
    model = build_model(name, 9, 64, 6)
    fc = {id(p) for p in model.fc_parameters()}
    head = {id(p) for p in model.head.parameters()}
    assert fc == head and fc
    n_all = len(list(model.parameters()))
    assert len(fc) < n_all  # the head is not the whole model


@pytest.mark.parametrize("name", NAMES)
def test_overfits_tiny_separable_set(name):
    torch.manual_seed(0)
    x, y = sine_windows()
    model = build_model(name, x.shape[2], x.shape[1], 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # the papers' learning rate
    criterion = nn.CrossEntropyLoss()
    model.eval()
    with torch.no_grad():
        loss0 = criterion(model(x), y).item()
    model.train()
    for _ in range(150):
        opt.zero_grad()
        if hasattr(model, "training_loss"):
            loss, _ = model.training_loss(x, y, criterion)
        else:
            loss = criterion(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(x)
    loss1 = criterion(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    assert acc == 1.0, (name, acc, loss0, loss1)
    assert loss1 < 0.5 * loss0, (name, loss0, loss1)


def test_cnn_deconv_loss_is_ce_plus_weighted_reconstruction():
    torch.manual_seed(0)
    x, y = sine_windows(n=8)
    criterion = nn.CrossEntropyLoss()
    # lambda = 0: the loss is the cross-entropy of the returned logits (noise on)
    model0 = CNNDeconv(CNNDeconvConfig(recon_weight=0.0), 3, 32, 2).train()
    loss, logits = model0.training_loss(x, y, criterion)
    assert torch.allclose(loss, criterion(logits, y))
    # lambda = 0.7 without noise, eval mode (deterministic): CE + 0.7 * MSE(recon, x)
    model = CNNDeconv(CNNDeconvConfig(recon_weight=0.7, noise_std=0.0), 3, 32, 2).eval()
    loss, logits = model.training_loss(x, y, criterion)
    mse = torch.mean((model.reconstruct(x) - x) ** 2)
    assert torch.allclose(logits, model(x))
    assert torch.allclose(loss, criterion(logits, y) + 0.7 * mse)
    assert mse.item() > 0.01  # the penalty term is not vanishing


def test_cnn_deconv_noise_only_in_training_mode():
    torch.manual_seed(0)
    x, y = sine_windows(n=8)
    model = CNNDeconv(CNNDeconvConfig(noise_std=0.5, dropout=0.0), 3, 32, 2)
    criterion = nn.CrossEntropyLoss()
    model.train()
    l1, _ = model.training_loss(x, y, criterion)
    l2, _ = model.training_loss(x, y, criterion)
    assert not torch.allclose(l1, l2)  # different corruption each call
    model.eval()
    l3, _ = model.training_loss(x, y, criterion)
    l4, _ = model.training_loss(x, y, criterion)
    assert torch.equal(l3, l4)


def test_cnn_deconv_reconstruction_improves():
    torch.manual_seed(0)
    x, y = sine_windows()
    model = CNNDeconv(CNNDeconvConfig(recon_weight=1.0), 3, 32, 2)
    assert model.reconstruct(x).shape == x.shape
    with torch.no_grad():
        mse0 = torch.mean((model.reconstruct(x) - x) ** 2).item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(150):
        opt.zero_grad()
        loss, _ = model.training_loss(x, y, criterion)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mse1 = torch.mean((model.reconstruct(x) - x) ** 2).item()
    assert mse1 < 0.5 * mse0, (mse0, mse1)


@pytest.mark.parametrize("length", [32, 31, 37])
def test_cnn_deconv_odd_lengths_reconstruct_exactly(length):
    model = CNNDeconv(CNNDeconvConfig(), 5, length, 3)
    x = torch.randn(2, length, 5)
    assert model.reconstruct(x).shape == (2, length, 5)
    assert model(x).shape == (2, 3)


def test_split_subsequences_keeps_latest_samples():
    x = torch.arange(2 * 10 * 1, dtype=torch.float32).reshape(2, 10, 1)
    sub = split_subsequences(x, 4)  # 10 = 4 * 2 + 2: first 2 samples dropped
    assert sub.shape == (2, 4, 2, 1)
    assert torch.equal(sub[0, :, :, 0].flatten(), torch.arange(2, 10, dtype=torch.float32))


@pytest.mark.parametrize("name", ["cnn-lstm", "convlstm"])
def test_subsequence_models_accept_non_multiple_length(name):
    model = build_model(name, 3, 130, 4).eval()  # 130 = 4 * 32 + 2
    assert model(torch.randn(2, 130, 3)).shape == (2, 4)


def test_deepconvlstm_defaults_follow_paper():
    cfg = model_config("deepconvlstm", {})
    assert (cfg.n_conv, cfg.n_filters, cfg.kernel_size, cfg.n_lstm, cfg.lstm_hidden, cfg.dropout) == \
        (4, 64, 5, 2, 128, 0.5)
    model = build_model("deepconvlstm", 4, 100, 10)
    assert all(m.hidden_size == 128 for m in model.lstms)
    assert isinstance(model.head, nn.Linear) and model.head.in_features == 128
    with pytest.raises(ValueError, match="too short"):
        build_model("deepconvlstm", 4, 16, 10)


def test_registry_builds_every_name_with_overrides():
    assert set(MODELS) == {"deepconvlstm", "cnn-deconv", "lstm", "stacked-lstm", "cnn1d", "cnn-lstm", "convlstm"}
    for name, (cfg_type, model_type) in MODELS.items():
        model = build_model(name, 6, 64, 5)
        assert isinstance(model, model_type) and isinstance(model.cfg, cfg_type)
        assert model.cfg == cfg_type()  # defaults
    model = build_model("lstm", 6, 64, 5, {"hidden": 16})
    assert model.lstm.hidden_size == 16
    cfg = model_config("stacked-lstm", {"n_layers": 3})
    assert build_model("stacked-lstm", 6, 64, 5, cfg).lstm.num_layers == 3
    assert model_config("stacked-lstm", {}).n_layers == 2
    assert dataclasses.asdict(model_config("cnn-deconv", {"recon_weight": 0.3}))["recon_weight"] == 0.3


def test_registry_rejects_unknown_names_and_keys():
    with pytest.raises(KeyError, match="unknown model 'transformer'.*deepconvlstm"):
        build_model("transformer", 3, 32, 2)
    with pytest.raises(ValueError, match=r"unknown config keys \['hiden'\].*hidden"):
        build_model("lstm", 3, 32, 2, {"hiden": 10})
    with pytest.raises(ValueError, match="unknown config keys"):
        model_config("cnn1d", {"n_filters": 8, "lr": 1e-3})
    with pytest.raises(TypeError, match="config must be"):
        build_model("lstm", 3, 32, 2, model_config("cnn1d", {}))


@pytest.mark.parametrize("name", ["deepconvlstm", "cnn-deconv", "cnn-lstm"])
def test_freezing_first_conv_layer_keeps_it_fixed(name):
    torch.manual_seed(0)
    x, y = sine_windows(n=8)
    model = build_model(name, 3, 32, 2).train()
    first, rest = model.conv_layers[0], model.conv_layers[1]
    for p in first.parameters():
        p.requires_grad_(False)
    frozen = [p.clone() for p in first.parameters()]
    trained = [p.clone() for p in rest.parameters()]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, first.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(trained, rest.parameters()))


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, 4, 40, 3).eval()
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    other = build_model(name, 4, 40, 3).eval()
    other.load_state_dict(torch.load(path, weights_only=True))
    x = torch.randn(2, 40, 4)
    assert torch.equal(model(x), other(x))
