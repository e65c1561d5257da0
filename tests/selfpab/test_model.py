"""SelfPAB networks: shapes, positional encoding, layer weighting, paper size."""
from __future__ import annotations

import math

import pytest
import torch

from virtimu.selfpab.config import UpstreamConfig
from virtimu.selfpab.model import (
    SelfPABClassifier, SelfPABEncoder, SelfPABPretrainModel, count_parameters, sinusoidal_encoding,
)

SMALL = UpstreamConfig(d_model=16, n_layers=3, n_heads=2, d_ff=32, dropout=0.0)


def test_sinusoidal_encoding_values():
    pe = sinusoidal_encoding(10, 8)
    assert pe.shape == (10, 8)
    assert float(pe[3, 0]) == pytest.approx(math.sin(3.0))
    assert float(pe[3, 1]) == pytest.approx(math.cos(3.0))
    assert float(pe[5, 2]) == pytest.approx(math.sin(5.0 / 10000 ** (2 / 8)))
    assert float(pe[5, 7]) == pytest.approx(math.cos(5.0 / 10000 ** (6 / 8)))


def test_encoder_returns_every_layer_and_uses_positions():
    torch.manual_seed(0)
    enc = SelfPABEncoder(12, SMALL).eval()
    x = torch.randn(2, 7, 12)
    outs = enc(x)
    assert len(outs) == 3 and all(o.shape == (2, 7, 16) for o in outs)
    same = x[:, :1].repeat(1, 7, 1)  # identical frames differ only by position
    h = enc(same)[-1]
    assert not torch.allclose(h[:, 0], h[:, 3])
    with pytest.raises(ValueError, match="expected"):
        enc(torch.randn(2, 7, 11))


def test_pretrain_model_reconstructs_input_dimension():
    m = SelfPABPretrainModel(12, SMALL)
    assert m(torch.randn(3, 5, 12)).shape == (3, 5, 12)


def test_paper_sized_model_has_about_60m_parameters():
    m = SelfPABPretrainModel(156, UpstreamConfig())
    assert 55e6 < count_parameters(m) < 65e6  # paper 002: "around 60M parameters"


def test_classifier_weighted_sum_and_freezing():
    torch.manual_seed(1)
    enc = SelfPABEncoder(12, SMALL)
    clf = SelfPABClassifier(enc, n_classes=4, hidden=8)
    x = torch.randn(2, 6, 12)
    assert clf(x).shape == (2, 6, 4)
    w = clf.layer_weights()
    assert w.shape == (3,) and float(w.detach().sum()) == pytest.approx(1.0)
    clf.eval()
    manual = sum(wi * o for wi, o in zip(w, enc(x)))
    assert torch.allclose(clf.features(x), manual, atol=1e-6)
    clf.train()
    clf.set_upstream_trainable(False)
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
    assert clf.layer_logits.requires_grad and clf.training
    clf.set_upstream_trainable(True)
    assert all(p.requires_grad for p in enc.parameters()) and enc.training
    linear = SelfPABClassifier(SelfPABEncoder(12, SMALL), n_classes=4, hidden=0)
    assert linear(x).shape == (2, 6, 4)
