"""Downstream learner: frame labels, unfreezing step, predictions, persistence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.selfpab.helpers import activity_signals, tiny_cfg
from virtimu.selfpab.downstream import SelfPABDownstream, frame_labels, samples_from_frames
from virtimu.selfpab.pretrain import load_upstream, pretrain


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    X, _ = activity_signals(20, 1000, seed=1)
    out = tmp_path_factory.mktemp("up")
    pretrain(X, tiny_cfg({"pretrain.steps": 10}), out, progress=False)
    return load_upstream(out)


def _encoder_params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.model.encoder.state_dict().items()}


def test_frame_labels_majority_of_each_frame():
    y = np.zeros((1, 100), dtype=np.int64)
    y[0, 30:100] = 2  # frame 0 covers 0..49 (30 null, 20 of class 2)
    got = frame_labels(y, n_frames=3, frame=50, hop=25)
    assert got.tolist() == [[0, 2, 2]]


def test_samples_from_frames_averages_overlaps():
    proba = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])  # 3 frames of 50, hop 25 -> 100 samples
    per = samples_from_frames(proba, 100, 50, 25)
    assert per.shape == (1, 100, 2)
    np.testing.assert_allclose(per[0, :25], [[1.0, 0.0]] * 25)  # only frame 0
    np.testing.assert_allclose(per[0, 25:50], [[0.5, 0.5]] * 25)  # frames 0 and 1
    np.testing.assert_allclose(per[0, 50:], [[0.0, 1.0]] * 50)


@pytest.mark.parametrize("unfreeze", [3, 6])
def test_upstream_unfreezes_exactly_at_the_configured_step(upstream, unfreeze):
    X, y = activity_signals(16, 200, seed=2)
    start = {k: v.detach().clone() for k, v in upstream.encoder.state_dict().items()}
    cfg = tiny_cfg({"downstream.unfreeze_step": unfreeze, "downstream.steps": unfreeze})
    frozen = SelfPABDownstream(cfg, upstream).fit(X, y)
    assert frozen.history["unfrozen_at"] is None  # ran out of steps before unfreezing
    assert all(torch.equal(start[k], v) for k, v in _encoder_params(frozen).items())
    assert not torch.equal(frozen.model.layer_logits.detach(), torch.zeros(2))  # the head did train
    cfg = tiny_cfg({"downstream.unfreeze_step": unfreeze, "downstream.steps": unfreeze + 1})
    tuned = SelfPABDownstream(cfg, upstream).fit(X, y)
    assert tuned.history["unfrozen_at"] == unfreeze
    assert any(not torch.equal(start[k], v) for k, v in _encoder_params(tuned).items())


def test_scratch_model_trains_end_to_end_from_step_zero():
    X, y = activity_signals(16, 200, seed=3)
    m = SelfPABDownstream(tiny_cfg({"downstream.steps": 2}), None)
    m.fit(X, y)
    assert m.history["unfrozen_at"] == 0 and not m.pretrained


def test_learns_two_activities_and_round_trips(tmp_path, upstream):
    X, y = activity_signals(40, 200, seed=4)
    Xt, yt = activity_signals(20, 200, seed=5)
    m = SelfPABDownstream(tiny_cfg(), upstream, channels=["a", "b", "c"], label_map={0: "null", 1: "one", 2: "two"})
    m.fit(X, y)
    assert np.mean(m.predict(Xt) == yt) >= 0.95
    proba = m.predict_proba(Xt)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1.0)
    frames = m.predict_frame_proba(Xt)
    assert frames.shape == (20, 7, 2)  # (200 - 50) // 25 + 1 frames
    per_sample = m.predict_samples(Xt)
    assert per_sample.shape == (20, 200) and set(np.unique(per_sample)) <= {1, 2}
    path = m.save(tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "selfpab-downstream" and raw["pretrained"] is True
    again = SelfPABDownstream.load(path)
    np.testing.assert_allclose(again.predict_proba(Xt), proba, atol=1e-6)
    assert again.label_map == {0: "null", 1: "one", 2: "two"} and again.channels == ["a", "b", "c"]


def test_per_sample_labels_and_null_frames():
    X, y = activity_signals(12, 200, seed=6)
    ys = np.repeat(y[:, None], 200, axis=1)
    ys[:, :60] = 0  # the first frames are null: ignored by the loss
    m = SelfPABDownstream(tiny_cfg({"downstream.steps": 5}), None).fit(X, np.zeros_like(y), y_samples=ys)
    assert m.classes_.tolist() == [1, 2]
    with pytest.raises(ValueError, match="2 non-null classes"):
        SelfPABDownstream(tiny_cfg(), None).fit(X, np.ones_like(y))


def test_axes_must_match_the_upstream(upstream):
    X = np.zeros((4, 200, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="axes"):
        SelfPABDownstream(tiny_cfg(), upstream).fit(X, np.array([1, 2, 1, 2]))
    with pytest.raises(ValueError, match="pretrained on 3"):
        SelfPABDownstream(tiny_cfg(), upstream, channels=["a", "b"])
