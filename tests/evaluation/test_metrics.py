"""Metrics against scikit-learn's reference implementations, and the evaluation plots."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

sk = pytest.importorskip("sklearn.metrics")

from virtimu.evaluation import metrics as M  # noqa: E402
from virtimu.evaluation.plots import normalize_confusion, plot_confusion, plot_history, plot_metric_vs  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _cases():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 5, 200))
    yield "random", t, p, None
    yield "random-labels-subset", t, p, [3, 1, 0]
    # class 4 never predicted
    t2 = np.array([0, 1, 2, 4, 4, 1, 0, 2])
    p2 = np.array([0, 1, 1, 0, 2, 1, 0, 2])
    yield "never-predicted", t2, p2, None
    # class 7 predicted but absent from y_true
    t3 = np.array([1, 1, 2, 2, 3, 3])
    p3 = np.array([1, 7, 2, 2, 3, 7])
    yield "absent-from-true", t3, p3, None
    # a label in the list that occurs nowhere
    yield "missing-class-in-labels", t3, p3, [1, 2, 3, 5, 7]
    # single class, all right and all wrong
    yield "single-class", np.full(5, 2), np.full(5, 2), None
    yield "single-true-class-wrong", np.full(4, 2), np.array([2, 3, 3, 2]), None


CASES = list(_cases())


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("name,t,p,labels", CASES, ids=[c[0] for c in CASES])
def test_metrics_match_sklearn(name, t, p, labels):
    assert M.accuracy(t, p) == pytest.approx(sk.accuracy_score(t, p))
    for avg, ours in (("macro", M.macro_f1), ("weighted", M.weighted_f1)):
        ref = sk.f1_score(t, p, labels=labels, average=avg, zero_division=0)
        assert ours(t, p, labels) == pytest.approx(ref, abs=1e-12), avg
    ref_p, ref_r, ref_f, ref_s = sk.precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    prec, rec, f1, sup = M.precision_recall_f1(t, p, labels)
    np.testing.assert_allclose(prec, ref_p, atol=1e-12)
    np.testing.assert_allclose(rec, ref_r, atol=1e-12)
    np.testing.assert_allclose(f1, ref_f, atol=1e-12)
    np.testing.assert_array_equal(sup, ref_s)
    np.testing.assert_array_equal(M.confusion_matrix(t, p, labels), sk.confusion_matrix(t, p, labels=labels))


def test_sklearn_default_warn_behaviour_is_zero():
    """sklearn's default zero_division ('warn') also counts undefined scores as 0."""
    t, p = np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_f1 = sk.f1_score(t, p, average="macro")
        ref_p = sk.precision_score(t, p, average=None)
    assert M.macro_f1(t, p) == pytest.approx(ref_f1)
    np.testing.assert_allclose(M.precision_recall_f1(t, p)[0], ref_p)


def test_per_class_names_and_zero_division():
    t = np.array([0, 0, 1, 2])
    p = np.array([0, 1, 1, 0])
    pc = M.per_class(t, p, [0, 1, 2], names={0: "walk", 1: "sit", 2: "run"})
    assert list(pc) == ["walk", "sit", "run"]
    assert pc["run"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert pc["walk"]["precision"] == pytest.approx(0.5) and pc["walk"]["recall"] == pytest.approx(0.5)
    assert pc["sit"]["recall"] == 1.0 and pc["sit"]["precision"] == 0.5


def test_metrics_dataclass_compute_and_roundtrip():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.7, t, rng.integers(0, 4, 300))
    lm = {0: "null", 1: "walk", 2: "sit", 3: "stand", 4: "never_seen"}
    m = M.Metrics.compute(t, p, lm)
    assert m.labels == [0, 1, 2, 3] and m.names == ["null", "walk", "sit", "stand"]
    assert m.macro_f1 == pytest.approx(sk.f1_score(t, p, average="macro"))
    assert m.weighted_f1 == pytest.approx(sk.f1_score(t, p, average="weighted"))
    assert m.macro_precision == pytest.approx(sk.precision_score(t, p, average="macro"))
    assert m.macro_recall == pytest.approx(sk.recall_score(t, p, average="macro"))
    assert np.array_equal(m.confusion_array, sk.confusion_matrix(t, p))
    # averaging over the full label map counts the absent class as F1 = 0
    full = M.Metrics.compute(t, p, lm, labels=sorted(lm))
    assert full.macro_f1 == pytest.approx(sk.f1_score(t, p, labels=sorted(lm), average="macro", zero_division=0))
    assert full.macro_f1 < m.macro_f1
    d = m.to_dict()
    import json
    assert json.loads(json.dumps(d)) == d
    assert M.Metrics.from_dict(d) == m


def test_metrics_errors():
    with pytest.raises(ValueError, match="not in the label map"):
        M.Metrics.compute([0, 1, 5], [0, 1, 1], {0: "a", 1: "b"})
    with pytest.raises(ValueError, match="samples"):
        M.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="zero samples"):
        M.accuracy([], [])


def _assert_png(path, min_bytes=2000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temp file left


def test_plot_confusion_png(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 0]])
    path = plot_confusion(cm, ["walk", "sit", "run"], tmp_path / "sub" / "cm.png", normalize="true", title="t")
    _assert_png(path)
    # empty row normalises to zeros, not NaN
    norm = normalize_confusion(cm, "true")
    assert np.all(np.isfinite(norm)) and norm[2].sum() == 0 and norm[0].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="class names"):
        plot_confusion(cm, ["a", "b"], tmp_path / "bad.png")


def test_plot_metric_vs_and_history(tmp_path):
    x = [10, 50, 100, 500]
    mean = np.array([[0.4, 0.5, 0.6, 0.7], [0.3, 0.45, 0.55, 0.72]])
    std = np.full_like(mean, 0.03)
    _assert_png(plot_metric_vs(x, mean, std, tmp_path / "f1.png", label=["finetune", "scratch"],
                               xlabel="adaptation windows", logx=True))
    _assert_png(plot_metric_vs(x, mean[0], None, tmp_path / "one.png", label="a"))
    with pytest.raises(ValueError, match="labels"):
        plot_metric_vs(x, mean, std, tmp_path / "bad.png", label=["only-one"])
    hist = {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.7], "val_macro_f1": [0.3, 0.5, 0.6]}
    _assert_png(plot_history(hist, tmp_path / "hist.png"))
    rows = [{"epoch": i, "loss": v} for i, v in enumerate([1.0, 0.5])]
    _assert_png(plot_history(rows, tmp_path / "hist2.png"))
