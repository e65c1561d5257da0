"""SelfPAB on the real UCI HAPT recordings (../shared/data/hapt): units, shapes, a short end-to-end run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.selfpab.helpers import tiny_cfg
from virtimu.selfpab.data import from_recordings
from virtimu.selfpab.downstream import SelfPABDownstream
from virtimu.selfpab.pretrain import load_upstream, pretrain
from virtimu.selfpab.spectrogram import spectrogram

HAPT = Path(__file__).resolve().parents[3] / "shared" / "data" / "hapt"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAPT.exists(), reason=f"real UCI HAPT data not found at {HAPT}")]


@pytest.fixture(scope="module")
def hapt_store(tmp_path_factory):
    from virtimu.datasets.ingest import ingest

    store = tmp_path_factory.mktemp("hapt") / "hapt.zarr"
    ingest("hapt", HAPT, store, progress=False)
    return store


def test_hapt_windows_in_g_and_spectrogram(hapt_store):
    d = from_recordings(hapt_store, "waist/acc_*", length=1500, subjects=["1", "2"])
    assert d.channels == ["waist/acc_x", "waist/acc_y", "waist/acc_z"] and d.X.shape[1:] == (1500, 3)
    mag = np.linalg.norm(d.X, axis=2)
    assert abs(np.median(mag) - 1.0) < 0.05  # gravity reads ~1 g after the m/s^2 -> g conversion
    S = spectrogram(d.X[:4], tiny_cfg().spectrogram)
    assert S.shape == (4, 59, 78) and np.all(np.isfinite(S))


def test_short_pretrain_and_downstream_on_hapt(hapt_store, tmp_path):
    cfg = tiny_cfg({"pretrain.window_length": 1500, "pretrain.steps": 30, "downstream.steps": 150,
                    "downstream.unfreeze_step": 100, "downstream.batch_size": 32,
                    "upstream.d_model": 32, "upstream.n_heads": 4, "upstream.d_ff": 64})
    unlabelled = from_recordings(hapt_store, "waist/acc_*", length=1500, subjects=["1", "3", "5"])
    res = pretrain(unlabelled, cfg, tmp_path, progress=False)
    assert res.history["loss"][-1] < res.history["loss"][0]
    up = load_upstream(tmp_path)
    win = from_recordings(hapt_store, "waist/acc_*", length=128, overlap=0.5, purity=0.6,
                          subjects=["1", "3", "5", "2"])
    win = win.subset(win.y != 0)
    tr, te = win.subject != "2", win.subject == "2"
    model = SelfPABDownstream(cfg, up, channels=win.channels, label_map=win.label_map).fit(win.X[tr], win.y[tr])
    acc = float(np.mean(model.predict(win.X[te]) == win.y[te]))
    assert acc > 0.35  # 12 classes, 6 of them frequent: far above chance after 150 steps


def test_study_script_quick_run(tmp_path):
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[2] / "scripts" / "selfpab_hapt_study.py"
    spec = importlib.util.spec_from_file_location("selfpab_hapt_study", path)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    out = tmp_path / "out"
    assert study.main(["--quick", "--out", str(out), "--work", str(tmp_path / "work"), "--hapt", str(HAPT)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["rows"]) == 3 * len(results["budgets"]) * len(results["seeds"])
    assert all(0.0 <= r["macro_f1"] <= 1.0 for r in results["rows"])
    report = (out / "report.md").read_text()
    assert "| 10 |" in report and "| all |" in report and "frames/s" in report
    from PIL import Image

    for png in ("f1_vs_labels.png", "pretrain_loss.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 300 and im.size[1] > 200
    assert study.main(["--report-only", "--out", str(out)]) == 0
