"""Synthetic -> HAPT study: library pieces on small arrays, and the pipeline end to end with --quick."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from virtimu.pipelines import hapt_study as hs

ROOT = Path(__file__).resolve().parents[2]
HAPT = ROOT.parent / "shared" / "data" / "hapt"
CONFIG = ROOT / "pipelines" / "configs" / "synthetic_to_hapt.yaml"


# ----------------------------------------------------------------------------- configuration


def test_config_file_loads_and_quick_block_and_overrides_apply() -> None:
    full = hs.load_config(CONFIG)
    assert full["budgets"] == [10, 25, 50, 100, 200, "all"]
    assert len(full["seeds"]) >= 5
    assert full["data"]["test_subjects"] == list(hs.UCI_TEST_SUBJECTS)
    quick = hs.load_config(CONFIG, ["seeds=[3, 4]", "synthetic.n_per_activity=1"], quick=True)
    assert quick["quick_mode"] and len(quick["budgets"]) == 2
    assert quick["seeds"] == [3, 4] and quick["synthetic"]["n_per_activity"] == 1
    assert quick["target"]["train"]["lr"] == full["target"]["train"]["lr"]  # merged, not replaced


def test_config_errors_name_the_bad_key(tmp_path) -> None:
    with pytest.raises(hs.ConfigError, match="synthetic.n_per_actvity"):
        hs.load_config(None, ["synthetic.n_per_actvity=3"])
    with pytest.raises(hs.ConfigError, match="budgets"):
        hs.load_config(None, ["budgets=[0, all]"])
    with pytest.raises(hs.ConfigError, match="freeze"):
        hs.load_config(None, ["transfer.freeze=some"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants:\n  - {name: x, set: {budgets: [5]}}\n")
    with pytest.raises(hs.ConfigError, match="cannot change"):
        hs.load_config(bad)


def test_variant_settings_and_which_runs_they_invalidate() -> None:
    cfg = hs.load_config(None, ["variants=[{name: tgt, set: {transfer.normalisation: target}}, "
                                "{name: uci, set: {preprocess.signals: uci}}]"])
    base, tgt, uci = (hs.variant_config(cfg, v) for v in [None, *cfg["variants"]])
    assert tgt["transfer"]["normalisation"] == "target" and base["transfer"]["normalisation"] == "source"
    assert hs.scratch_key(tgt) == hs.scratch_key(base)  # a transfer option leaves scratch runs valid
    assert hs.pretrained_key(tgt) != hs.pretrained_key(base)
    assert hs.synthetic_key(tgt) == hs.synthetic_key(base)
    assert hs.scratch_key(uci) != hs.scratch_key(base)  # preprocessing changes both arms
    assert hs.synthetic_key(uci) != hs.synthetic_key(base)


# ----------------------------------------------------------------------------- windows and samples


def test_cut_windows_keeps_pure_enough_windows_with_their_majority_label() -> None:
    T = 40
    labels = np.zeros(T, dtype=int)
    labels[0:16] = 5
    labels[16:21] = 7  # a short transition
    labels[21:40] = 4
    sig = np.arange(T, dtype=np.float32)[:, None].repeat(6, 1)
    X, R, y = hs.cut_windows(sig, sig, labels, length=10, step=5, purity=0.6)
    # windows start 0,5,...,30; majority/purity: [5,5,(5:6/10 ok),(7: 5/10 <0.6 -> drop),(4:8/10),4,4]
    assert y.tolist() == [5, 5, 5, 4, 4, 4]
    assert X.shape == (6, 10, 6) and X[3, 0, 0] == 20.0  # 4th kept window starts at frame 20
    np.testing.assert_array_equal(X, R)


def test_uci_signals_split_gravity_from_body_acceleration() -> None:
    fs = 50.0
    t = np.arange(500) / fs
    raw = np.zeros((500, 6), np.float32)
    raw[:, 0] = 9.81 + np.sin(2 * np.pi * 2.0 * t)  # gravity + 2 Hz motion
    sig, names = hs.input_signals(raw, fs, "uci")
    assert sig.shape == (500, 9) and names[0] == "waist/bodyacc_x" and names[3:] == list(hs.RAW_CHANNELS)
    mid = slice(100, 400)
    assert abs(sig[mid, 0].mean()) < 0.05  # body acc has no gravity
    assert np.std(sig[mid, 0]) == pytest.approx(np.sqrt(0.5), rel=0.05)
    with pytest.raises(ValueError, match="mode"):
        hs.input_signals(raw, fs, "nope")


def _walking_like(T: int = 400, fs: float = 50.0) -> np.ndarray:
    t = np.arange(T) / fs
    raw = np.zeros((T, 6))
    raw[:, 0] = 9.81 + 2.5 * np.sin(2 * np.pi * 1.8 * t)  # vertical bounce at the step rate
    raw[:, 1] = 0.8 * np.sin(2 * np.pi * 0.9 * t)
    raw[:, 3] = 0.3 * np.sin(2 * np.pi * 0.9 * t)
    return raw


def test_soft_mount_rocks_moving_sensors_only() -> None:
    fs = 50.0
    walk = _walking_like()
    rocked = hs.soft_mount(walk, fs, rock_deg=5.0, jiggle_ms2=0.0, seed=1)
    # a rotation keeps |acc| per sample and adds angular rate
    np.testing.assert_allclose(np.linalg.norm(rocked[:, :3], axis=1), np.linalg.norm(walk[:, :3], axis=1),
                               rtol=1e-12)
    assert np.sqrt((rocked[:, 4:] ** 2).mean()) > 0.05 > np.sqrt((walk[:, 4:] ** 2).mean())
    jig = hs.soft_mount(walk, fs, rock_deg=0.0, jiggle_ms2=5.0, seed=1)
    np.testing.assert_allclose(jig[:, 3:], walk[:, 3:])  # jiggle is linear only
    assert jig[:, 2].std() > 0.3 > walk[:, 2].std()
    still = np.zeros((400, 6))
    still[:, 0] = 9.81
    np.testing.assert_allclose(hs.soft_mount(still, fs, 5.0, 5.0, seed=1), still, atol=1e-9)
    np.testing.assert_array_equal(hs.soft_mount(walk, fs, 0.0, 0.0, seed=1), walk)
    np.testing.assert_array_equal(rocked, hs.soft_mount(walk, fs, 5.0, 0.0, seed=1))  # seeded
    with pytest.raises(ValueError, match="T, 6"):
        hs.soft_mount(walk[:, :3], fs, 5.0, 0.0, seed=1)


def test_per_class_sample_is_balanced_nested_and_seeded() -> None:
    y = np.repeat([1, 2, 3], [50, 8, 30])
    small = hs.per_class_sample(y, 5, seed=0)
    big = hs.per_class_sample(y, 20, seed=0)
    assert np.bincount(y[small]).tolist() == [0, 5, 5, 5]
    assert np.bincount(y[big]).tolist() == [0, 20, 8, 20]  # class 2 gives all it has
    assert set(small) <= set(big)  # nested budgets
    assert not np.array_equal(small, hs.per_class_sample(y, 5, seed=1))
    assert hs.per_class_sample(y, None, seed=0).tolist() == list(range(len(y)))


def test_target_epochs_reach_the_minimum_number_of_steps() -> None:
    assert hs.target_epochs(120, 64, 12, 250) == 125  # 2 batches per epoch
    assert hs.target_epochs(9600, 64, 12, 250) == 12  # 150 batches x 12 > 250


def test_frame_codes_map_parametric_and_demo_names_to_hapt12() -> None:
    codes = hs.frame_codes(np.array([1, 2, 3, 0]), {0: "null", 1: "STANDING", 2: "sitting_down", 3: "running"})
    assert codes.tolist() == [5, 7, 0, 0]


# ----------------------------------------------------------------------------- comparison and report


def test_verdict_words_follow_the_paired_test() -> None:
    assert hs.verdict([0.05, 0.06, 0.04, 0.05, 0.07])["verdict"] == "helped"
    assert hs.verdict([-0.05, -0.06, -0.04, -0.05, -0.07])["verdict"] == "did not help"
    v = hs.verdict([0.05, -0.04, 0.01, -0.02, 0.0])
    assert v["verdict"] == "inconclusive" and v["wins"] == 2 and v["n"] == 5
    assert hs.verdict([0.0, 0.0])["verdict"] == "inconclusive"
    assert math.isnan(hs.verdict([0.1])["p"])


def _fake_results(deltas: dict) -> dict:
    """A results dict with runs whose pretrained arm differs from scratch by ``deltas[budget]``."""
    budgets, seeds, runs = list(deltas), [0, 1, 2], []
    names = list(hs.HAPT_LABELS.values())
    for s in seeds:
        runs.append({"variant": "base", "arm": "synthetic_only", "budget": 0, "seed": s, "n_windows": 0,
                     "macro_f1": 0.3, "accuracy": 0.4, "per_class_f1": {n: 0.3 for n in names}, "train_s": 0.0,
                     "epochs": 0, "pretrain": {"seconds": 1.0, "holdout_macro_f1": 0.9}})
        for b in budgets:
            f = 0.5 + 0.01 * s + (0.1 if b == "all" else 0.0)
            for arm, v in (("scratch", f), ("pretrained", f + deltas[b] + 0.001 * s)):
                runs.append({"variant": "base", "arm": arm, "budget": b, "seed": s, "n_windows": 120,
                             "macro_f1": v, "accuracy": v, "per_class_f1": {n: v for n in names},
                             "train_s": 1.0, "epochs": 3})
    cfg = hs.load_config(CONFIG)
    res = {"config": cfg, "seeds": seeds, "budgets": budgets, "commit": "abc123", "runs": runs, "argv": ["--x"],
           "data": {"real": {"train": {"n": 1000, "per_class": {n: 100 for n in names}, "subjects": ["1"]},
                             "test": {"n": 500, "per_class": {}, "subjects": ["2"]}},
                    "synthetic": {"base": {"n_clips": 12, "n_windows": 60, "generator": "parametric",
                                           "seconds": 3.0, "signal_seconds": 96.0}}},
           "similarity": {}, "seconds_total": 60.0}
    res["summary"] = hs.summarise(runs, ["base"], budgets)
    return res


def test_report_is_generated_from_the_numbers(tmp_path) -> None:
    res = _fake_results({10: 0.08, "all": -0.05})
    text = hs.report_markdown(res)
    assert "commit `abc123`" in text
    assert "| 10 | 120 | 51.0 ± 1.0 | 59.1 ± 1.1 | 8.1 ± 0.1 | 3/3 |" in text
    assert "| all |" in text and "did not help" in text and "helped" in text
    assert "**helped** (paired t-test over seeds, p < 0.05) at 10 labelled" in text
    paths = hs.write_outputs(res, tmp_path)
    for key in ("csv", "f1_vs_labels", "per_class", "report"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    rows = list(csv.DictReader(open(paths["csv"])))
    assert len(rows) == len(res["runs"]) and float(rows[1]["macro_f1"]) == pytest.approx(0.5)
    assert "delta" not in paths  # no variants, no variant plot
    assert (tmp_path / "summary.md").read_text().count("| 10 | 120 |") == 1


def test_report_lists_variants_and_summarises_a_results_file_without_summary(tmp_path) -> None:
    res = _fake_results({10: 0.08, "all": -0.05})
    extra = [{**r, "variant": "tn", "macro_f1": r["macro_f1"] + (0.02 if r["arm"] == "pretrained" else 0.0)}
             for r in res["runs"]]
    res["runs"] += extra
    res["variants"] = [{"name": "base", "set": {}}, {"name": "tn", "set": {"transfer.normalisation": "target"}}]
    del res["summary"]  # as in a run still going
    paths = hs.write_outputs(res, tmp_path)
    assert paths["delta"].read_bytes()[:4] == b"\x89PNG"
    text = paths["report"].read_text()
    assert "## Attempts to make pretraining help" in text
    assert '| tn | `transfer.normalisation="target"` |' in text and "+10.1 +" in text


def test_result_store_reuses_rows_and_carries_other_variants_only_when_still_valid(tmp_path) -> None:
    rows = [{"key": "scratch|k1|10|0", "variant": "a", "arm": "scratch", "budget": 10, "seed": 0},
            {"key": "pretrained|old|10|0", "variant": "a", "arm": "pretrained", "budget": 10, "seed": 0},
            {"key": "pretrained|k2|10|7", "variant": "a", "arm": "pretrained", "budget": 10, "seed": 7},
            {"key": "scratch|k1|10|0", "variant": "gone", "arm": "scratch", "budget": 10, "seed": 0}]
    (tmp_path / "results.json").write_text(json.dumps({"runs": rows, "started": "then"}))
    store = hs.ResultStore(tmp_path, {"study": "x"})
    assert store.cached("scratch|k1|10|0")["variant"] in ("a", "gone")
    assert store.carry({"a": {"k1", "k2"}}, budgets=[10], seeds=[0]) == ["a"]
    assert store.carried == rows[:1]  # stale settings, other seeds and unknown variants are dropped
    store.add({"key": "new", "variant": "base"})
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["key"] for r in saved["runs"]] == ["new", "scratch|k1|10|0"]
    assert hs.ResultStore(tmp_path, {}, reuse=False).cached("new") is None


# ----------------------------------------------------------------------------- the pipeline end to end


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if not (HAPT / "RawData" / "labels.txt").exists():
        pytest.skip(f"UCI HAPT raw data not present at {HAPT} (get it with `virtimu data fetch hapt`)")
    from pipelines import synthetic_to_hapt

    out = tmp_path_factory.mktemp("s2h_quick")
    rc = synthetic_to_hapt.main(["--quick", "--out", str(out), "--no-progress"])
    return rc, out


def test_quick_run_writes_well_formed_outputs(quick_run) -> None:
    rc, out = quick_run
    assert rc == 0
    for name in ("report.md", "results.json", "results.csv", "f1_vs_labels.png", "per_class_f1.png",
                 "similarity.png", "config.yaml"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for png in ("f1_vs_labels.png", "per_class_f1.png", "similarity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((out / "results.json").read_text())
    for key in ("config", "seeds", "budgets", "commit", "runs", "summary", "similarity", "data", "variants"):
        assert key in res, key
    seeds, budgets = res["seeds"], res["budgets"]
    assert len(seeds) == 2 and len(budgets) == 2
    runs = res["runs"]
    assert len(runs) == len(seeds) * (2 * len(budgets) + 1)
    for r in runs:
        assert 0.0 <= r["macro_f1"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0
        assert len(r["per_class_f1"]) == 12 and all(math.isfinite(v) for v in r["per_class_f1"].values())
        assert math.isfinite(r["train_s"]) and r["arm"] in hs.ARMS
    for b in budgets:  # both arms train on the same sample size
        for s in seeds:
            n = {r["arm"]: r["n_windows"] for r in runs if r["budget"] == b and r["seed"] == s}
            assert n["scratch"] == n["pretrained"] > 0
    cmp = res["summary"]["base"]["budgets"]
    assert [c["budget"] for c in cmp] == budgets
    assert all(c["delta"]["verdict"] in ("helped", "did not help", "inconclusive") for c in cmp)
    sim = res["similarity"]["base"]
    assert len(sim["classes"]) == 12 and math.isfinite(sim["overall"]["median_normalised"])
    report = (out / "report.md").read_text()
    for c in cmp:
        assert f"| {c['budget']} |" in report
        assert f"{100 * c['scratch']['mean']:.1f} ± {100 * c['scratch']['std']:.1f}" in report
    assert res["commit"] in report and "Statement (generated)" in report
    with open(out / "results.csv") as fh:
        assert sum(1 for _ in fh) == len(runs) + 1


def test_report_only_regenerates_the_same_report(quick_run) -> None:
    from pipelines import synthetic_to_hapt

    rc, out = quick_run
    before = (out / "report.md").read_text()
    (out / "report.md").unlink()
    assert synthetic_to_hapt.main(["--out", str(out), "--report-only"]) == 0
    assert (out / "report.md").read_text() == before


def test_bad_setting_is_an_error_exit(tmp_path, capsys) -> None:
    from pipelines import synthetic_to_hapt

    assert synthetic_to_hapt.main(["--quick", "--out", str(tmp_path), "--set", "model.nme=x"]) == 2
    assert "error:" in capsys.readouterr().err
