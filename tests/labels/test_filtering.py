"""Acceleration-based label filtering: statistics, rules, filtering and the shipped thresholds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from virtimu.labels.filtering import (
    STATISTICS,
    SYNTHETIC_CLASSES,
    Condition,
    FilterRules,
    FilterRulesError,
    G,
    acc_statistics,
    filter_windows,
    spectral_peak,
    window_statistics,
)
from virtimu.types import WindowSet

FS = 60.0


def _sine_magnitude(freq: float, n_frames: int, amplitude: float = 2.0, phase: float = 0.0) -> np.ndarray:
    """(n_frames, 3) specific force along z whose magnitude is g + A sin(2 pi f t)."""
    t = np.arange(n_frames) / FS
    acc = np.zeros((n_frames, 3))
    acc[:, 2] = G + amplitude * np.sin(2 * np.pi * freq * t + phase)
    return acc


def _windowset(X: np.ndarray, labels: list[str], channels: list[str], units: list[str] | None = None,
               recordings: list[str] | None = None, starts: list[int] | None = None) -> WindowSet:
    names = ["null", *sorted(set(labels))]
    label_map = dict(enumerate(names))
    code = {v: k for k, v in label_map.items()}
    n = len(labels)
    if units is None:
        units = ["m/s^2" if "/acc_" in c else "rad/s" if "/gyro_" in c else "1" for c in channels]
    return WindowSet(X=X, y=[code[lab] for lab in labels], subject=[""] * n,
                     recording=recordings or [f"test/r{i}" for i in range(n)],
                     start=starts or list(range(n)), source=["test"] * n, channels=channels, units=units,
                     fs=FS, label_map=label_map)


def _acc_channels(*sites: str) -> list[str]:
    return [f"{s}/acc_{a}" for s in sites for a in "xyz"]


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("n_frames, tolerance", [(120, 0.01), (60, 0.25)])
@pytest.mark.parametrize("phase", [0.0, 1.0, 2.5])
def test_dominant_frequency_of_a_sine(n_frames: int, tolerance: float, phase: float) -> None:
    # 1.8 Hz (a walking step rate): within 0.01 Hz in a 2-s window, and within a
    # quarter of the native resolution fs/L = 1 Hz in a 1-s window.
    acc = _sine_magnitude(1.8, n_frames, phase=phase)[None]
    stats = acc_statistics(acc, FS)
    assert abs(stats["acc_dom_freq"][0] - 1.8) <= tolerance
    assert stats["acc_gait_frac"][0] > 0.9


@pytest.mark.parametrize("freq", [1.3, 2.7, 5.0, 11.3])
def test_dominant_frequency_across_the_band(freq: float) -> None:
    x = G + 1.5 * np.sin(2 * np.pi * freq * np.arange(240) / FS)
    dom, frac = spectral_peak(x[None], FS)
    assert abs(dom[0] - freq) <= 0.005  # 4-s window, peak refined between the 0.03 Hz bins
    inside = 0.5 <= freq <= 3.0
    assert (frac[0] > 0.8) if inside else (frac[0] < 0.05)


def test_dominant_frequency_is_vectorised_and_picks_the_stronger_component() -> None:
    t = np.arange(240) / FS
    rows = np.stack([G + 2.0 * np.sin(2 * np.pi * 1.0 * t) + 0.5 * np.sin(2 * np.pi * 4.0 * t),
                     G + 0.5 * np.sin(2 * np.pi * 1.0 * t) + 2.0 * np.sin(2 * np.pi * 4.0 * t),
                     G + 0.3 * t])  # a pure trend: removed by detrending, hence flat
    dom, frac = spectral_peak(rows, FS)
    np.testing.assert_allclose(dom[:2], [1.0, 4.0], atol=0.01)
    assert frac[0] > 0.9 and frac[1] < 0.1
    assert dom[2] == 0.0 and frac[2] == 0.0
    nan_row = rows[:1].copy()
    nan_row[0, 5] = np.nan
    many = np.concatenate([rows] * 3 + [nan_row])
    dom_chunked, frac_chunked = spectral_peak(many, FS, chunk=2)
    np.testing.assert_array_equal(dom_chunked[:9], np.tile(dom, 3))
    np.testing.assert_array_equal(frac_chunked[:9], np.tile(frac, 3))
    assert np.isnan(dom_chunked[9]) and np.isnan(frac_chunked[9])


def test_flat_magnitude_gives_zero_frequency_even_when_the_sensor_rotates() -> None:
    # The sensor turns (gravity moves between axes) but |a| stays g: no |a| rhythm.
    angle = np.linspace(0, 3 * np.pi, 90)
    acc = G * np.stack([np.sin(angle), np.zeros_like(angle), np.cos(angle)], axis=1)[None]
    stats = acc_statistics(acc, FS)
    assert stats["acc_dom_freq"][0] == 0.0 and stats["acc_gait_frac"][0] == 0.0
    assert stats["acc_std"][0] < 1e-9
    np.testing.assert_allclose(stats["acc_mean"][0], G)
    assert stats["acc_dyn_std"][0] > 5.0  # the rotation is motion, seen by the vector statistic


def test_magnitude_statistics_exact_values() -> None:
    # |a| alternates 5 (3-4-0 vector) and 13 (vertical): mean 9, std 4, peak 13, min 5.
    acc = np.tile(np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 13.0]]), (30, 1))[None]
    gyro = np.tile(np.array([[0.0, 0.0, 2.0], [0.0, 3.0, 4.0]]), (30, 1))[None]
    stats = acc_statistics(acc, FS, gyro=gyro)
    assert set(stats) == set(STATISTICS)
    np.testing.assert_allclose([stats[k][0] for k in ("acc_mean", "acc_std", "acc_var", "acc_peak", "acc_min",
                                                      "acc_p2p")], [9.0, 4.0, 16.0, 13.0, 5.0, 8.0])
    # per-axis variances 2.25, 4, 42.25 about the mean vector (1.5, 2, 6.5)
    np.testing.assert_allclose(stats["acc_dyn_std"][0], np.sqrt(48.5))
    np.testing.assert_allclose([stats["gyro_mean"][0], stats["gyro_peak"][0]], [3.5, 5.0])


def test_statistics_are_rotation_invariant() -> None:
    rng = np.random.default_rng(7)
    acc = rng.normal(size=(4, 60, 3)) * 3 + np.array([0, 0, G])
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a = acc_statistics(acc, FS)
    b = acc_statistics(acc @ q.T, FS)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-9, err_msg=key)


def test_window_statistics_finds_sites_gyro_and_checks_units() -> None:
    channels = _acc_channels("left_wrist", "right_thigh") + ["right_thigh/gyro_x", "right_thigh/gyro_y",
                                                            "right_thigh/gyro_z", "head/acc_x", "head/acc_y"]
    X = np.zeros((3, 60, len(channels)), dtype=np.float32)
    X[:, :, 2] = X[:, :, 5] = G
    X[:, :, 8] = 1.0  # thigh gyro_z = 1 rad/s
    ws = _windowset(X, ["standing"] * 3, channels)
    stats = window_statistics(ws)
    sites = {k.rpartition("/")[0] for k in stats}
    assert sites == {"left_wrist", "right_thigh"}  # head has no acc_z
    assert "right_thigh/gyro_mean" in stats and "left_wrist/gyro_mean" not in stats
    np.testing.assert_allclose(stats["right_thigh/gyro_peak"], 1.0)
    np.testing.assert_allclose(stats["left_wrist/acc_peak"], G, rtol=1e-6)
    assert all(v.shape == (3,) for v in stats.values())
    assert set(window_statistics(ws, sites=["right_thigh"])) == {f"right_thigh/{s}" for s in STATISTICS}
    with pytest.raises(ValueError, match=r"'head'.*head/acc_z"):
        window_statistics(ws, sites=["head"])
    in_g = _windowset(X, ["standing"] * 3, channels, units=["g" if "/acc_" in c else "rad/s" for c in channels])
    with pytest.raises(ValueError, match="left_wrist/acc_x.*'g'"):
        window_statistics(in_g)


# --------------------------------------------------------------------------- conditions and rules


def test_condition_operators_are_inclusive_and_nan_fails() -> None:
    values = np.array([0.5, 1.0, 1.5, 2.0, 2.5, np.nan])
    lo = Condition("s/acc_std", 1.0, None, "min")
    hi = Condition("s/acc_std", None, 2.0, "max")
    mid = Condition("s/acc_std", 1.0, 2.0, "between")
    np.testing.assert_array_equal(lo.within(values), [0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(hi.within(values), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(mid.within(values), [0, 1, 1, 1, 0, 0])
    assert mid.describe() == "s/acc_std in [1, 2]" and lo.describe() == "s/acc_std >= 1"


def test_wildcards_match_all_or_any_site() -> None:
    stats = {"left_wrist/acc_std": np.array([0.1, 0.1, 2.0]), "right_wrist/acc_std": np.array([0.1, 2.0, 2.0]),
             "right_thigh/acc_std": np.array([0.1, 0.1, 0.1])}
    every = Condition("*/acc_std", None, 1.0, "max")
    wrists = Condition("*_wrist/acc_std", 1.0, None, "min", match="any")
    assert every.resolve(stats) == list(stats)
    np.testing.assert_array_equal(every.passes(stats), [True, False, False])
    assert wrists.resolve(stats) == ["left_wrist/acc_std", "right_wrist/acc_std"]
    np.testing.assert_array_equal(wrists.passes(stats), [False, True, True])
    assert Condition("head/acc_std", None, 1.0, "max").resolve(stats) == []


def test_shipped_rules_cover_the_categories_with_reasons_and_round_trip() -> None:
    rules = FilterRules.default()
    assert set(rules.rules) == set(SYNTHETIC_CLASSES)
    for name, conds in rules.rules.items():
        assert conds, name
        assert all(len(c.why) > 30 for c in conds), name
    again = FilterRules.from_dict(rules.to_dict())
    assert again.rules == rules.rules


BAD_RULES = [
    ({"walking": [{"stat": "right_thigh/acc_foo", "min": 1}]}, r"class 'walking', condition 0: unknown statistic 'acc_foo'"),
    ({"flying": [{"stat": "head/acc_std", "min": 1}]}, r"class 'flying': unknown class"),
    ({"walking": [{"stat": "head/acc_std", "min": 1}, {"stat": "head/acc_std", "above": 1}]},
     r"class 'walking', condition 1: unknown operator/key \['above'\]"),
    ({"walking": [{"stat": "head/acc_std", "min": 1, "max": 2}]}, r"condition 0: needs exactly one operator"),
    ({"walking": [{"stat": "head/acc_std"}]}, r"condition 0: needs exactly one operator.*none"),
    ({"running": [{"stat": "head/acc_std", "between": [3, 1]}]}, r"class 'running', condition 0: 'between' low 3"),
    ({"running": [{"stat": "head/acc_std", "between": [1]}]}, r"'between' must be \[low, high\]"),
    ({"running": [{"stat": "head/acc_std", "min": "high"}]}, r"condition 0: min must be a number"),
    ({"running": [{"stat": "acc_std", "min": 1}]}, r"condition 0: 'stat' must be '<site>/<statistic>'"),
    ({"running": [{"stat": "*/acc_std", "min": 1, "match": "most"}]}, r"'match' must be one of"),
    ({"running": {"stat": "head/acc_std", "min": 1}}, r"class 'running': expected a list of conditions"),
]


@pytest.mark.parametrize("classes, message", BAD_RULES)
def test_invalid_rules_name_file_class_and_condition(tmp_path: Path, classes: dict, message: str) -> None:
    path = tmp_path / "my_rules.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "classes": classes}))
    with pytest.raises(FilterRulesError, match=message) as info:
        FilterRules.from_yaml(path)
    assert str(path) in str(info.value)


def test_invalid_rule_files_at_the_top_level(tmp_path: Path) -> None:
    path = tmp_path / "top.yaml"
    for text, message in [("- a\n- b\n", "mapping at the top level"), ("version: 2\nclasses: {}\n", "version"),
                          ("classes: {}\nthresholds: 1\n", r"unknown top-level keys \['thresholds'\]"),
                          ("classes: [: bad\n", "not valid YAML")]:
        path.write_text(text)
        with pytest.raises(FilterRulesError, match=message):
            FilterRules.from_yaml(path)
    with pytest.raises(FilterRulesError, match="cannot read"):
        FilterRules.from_yaml(tmp_path / "missing.yaml")
    # Other label sets: any class name when classes=None.
    path.write_text("classes:\n  waving:\n    - {stat: left_wrist/acc_std, min: 0.5}\n")
    assert list(FilterRules.from_yaml(path, classes=None).rules) == ["waving"]


# --------------------------------------------------------------------------- filtering and report


def _report_case() -> WindowSet:
    """10 windows at two sites: 4 quiet standing, 2 moving 'standing', 3 walking-like, 1 null."""
    n_frames = 120
    quiet = np.concatenate([np.tile([0.0, 0.0, G], (n_frames, 1))] * 2, axis=1)
    step = np.concatenate([_sine_magnitude(1.8, n_frames, amplitude=3.0), _sine_magnitude(1.0, n_frames, 4.0)],
                          axis=1)
    X = np.stack([quiet] * 4 + [step] * 2 + [step] * 3 + [quiet])
    labels = ["standing"] * 6 + ["walking"] * 3 + ["null"]
    return _windowset(X, labels, _acc_channels("head", "right_thigh"),
                      recordings=[f"demo/clip{i // 5}" for i in range(10)], starts=[30 * i for i in range(10)])


def test_filter_counts_mask_examples_and_report() -> None:
    ws = _report_case()
    rules = FilterRules.from_dict({"classes": {
        "standing": [{"stat": "right_thigh/acc_std", "max": 0.6}, {"stat": "*/acc_peak", "max": 11.0},
                     {"stat": "left_wrist/acc_std", "max": 3.0}],
        "walking": [{"stat": "right_thigh/acc_dom_freq", "between": [0.6, 3.2]},
                    {"stat": "head/acc_dom_freq", "between": [2.0, 3.0]}],
    }}, source="case.yaml")
    kept, report = filter_windows(ws, rules, max_examples=1)
    np.testing.assert_array_equal(report.keep, [1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    assert len(kept) == 5 and report.n_dropped == 5
    assert kept.class_counts() == {"standing": 4, "null": 1}
    assert report.per_class["standing"] == {"windows": 6, "kept": 4, "dropped": 2, "conditions": 3}
    assert report.per_class["walking"] == {"windows": 3, "kept": 0, "dropped": 3, "conditions": 2}
    assert report.per_class["null"] == {"windows": 1, "kept": 1, "dropped": 0, "conditions": 0}
    assert report.failed("standing") == {"right_thigh/acc_std <= 0.6": 2, "*/acc_peak <= 11": 2,
                                         "left_wrist/acc_std <= 3": 0}
    # head rhythm 1.8 Hz is outside [2, 3]; the thigh's 1 Hz stride is inside [0.6, 3.2]
    assert report.failed("walking") == {"right_thigh/acc_dom_freq in [0.6, 3.2]": 0,
                                        "head/acc_dom_freq in [2, 3]": 3}
    skipped = [r for r in report.conditions if r.skipped]
    assert [(r.label, r.index) for r in skipped] == [("standing", 2)]
    assert len(report.notes) == 1 and "left_wrist" in report.notes[0] and "skipped" in report.notes[0]
    assert report.examples == {"standing": [("demo/clip0", 120)], "walking": [("demo/clip1", 180)]}
    assert kept.attrs["label_filter"] == {"rules": "case.yaml", "windows": 10, "kept": 5, "dropped": 5}
    d = json.loads(json.dumps(report.to_dict(include_mask=True)))
    assert d["kept"] == 5 and d["keep"][:5] == [True] * 4 + [False]
    assert d["conditions"][1]["checked"] == ["head/acc_peak", "right_thigh/acc_peak"]
    text = report.format()
    assert "case.yaml" in text and "10 windows: 5 kept, 5 dropped" in text
    assert "head/acc_dom_freq in [2, 3]" in text and "demo/clip1@180" in text and "skipped" in text


def test_missing_site_rules_are_skipped_not_errors() -> None:
    ws = _report_case()
    rules = FilterRules.from_dict({"classes": {"standing": [{"stat": "left_wrist/acc_std", "max": 0.1},
                                                            {"stat": "head/gyro_peak", "max": 0.1}]}})
    kept, report = filter_windows(ws, rules)
    assert report.keep.all() and len(kept) == len(ws)
    assert len(report.notes) == 2 and all(r.skipped for r in report.conditions)


def test_precomputed_statistics_are_used_and_checked() -> None:
    ws = _report_case()
    rules = FilterRules.from_dict({"classes": {"walking": [{"stat": "head/acc_peak", "min": 100.0}]}})
    stats = window_statistics(ws)
    stats["head/acc_peak"] = np.full(len(ws), 150.0)  # pretend: every window passes
    _, report = filter_windows(ws, rules, stats=stats)
    assert report.keep.all()
    stats["head/acc_peak"] = np.full(3, 150.0)
    with pytest.raises(ValueError, match="head/acc_peak"):
        filter_windows(ws, rules, stats=stats)


# --------------------------------------------------------------------------- shipped rules on the demo clips

#: Demo frame labels -> the 12 categories; transitions (sitting_down ...) are left out.
DEMO_TO_CATEGORY = {"walking": "walking", "running": "running", "jumping": "jumping", "standing": "standing",
                    "sitting": "sitting", "lying": "lying", "arm_stretching": "arm_stretching",
                    "waving": "arm_gestures"}

#: Label swaps that contradict the motion (true category -> wrong label).
SWAPS = {"walking": "standing", "standing": "running", "running": "walking", "jumping": "lying",
         "lying": "jumping", "sitting": "walking", "arm_gestures": "running", "arm_stretching": "jumping"}


@pytest.fixture(scope="module")
def demo_windows(tmp_path_factory) -> tuple[WindowSet, np.ndarray]:
    """Demo clips synthesised by the CLI, cut into 60-frame windows (50 % overlap), majority label.

    Returns the windows and each window's purity (share of frames with the majority label).
    """
    from virtimu.cli import main
    from virtimu.store import RecordingStore

    out = tmp_path_factory.mktemp("demo") / "demo.zarr"
    assert main(["synth", "--out", str(out), "--workers", "1", "--quiet"]) == 0
    store = RecordingStore(out, "r")
    label_map = {0: "null", **{i + 1: c for i, c in enumerate(SYNTHETIC_CLASSES)}}
    code = {v: k for k, v in label_map.items()}
    X, y, rec, start, purity = [], [], [], [], []
    length, hop = 60, 30
    for source, name in store.list():
        r = store.read(source, name)
        frame_names = np.array([r.label_map[int(c)] for c in r.labels])
        for s in range(0, r.n_frames - length + 1, hop):
            names, counts = np.unique(frame_names[s:s + length], return_counts=True)
            top = str(names[counts.argmax()])
            if top not in DEMO_TO_CATEGORY:
                continue
            X.append(r.signals[s:s + length])
            y.append(code[DEMO_TO_CATEGORY[top]])
            rec.append(f"{source}/{name}")
            start.append(s)
            purity.append(counts.max() / length)
    n = len(y)
    ws = WindowSet(X=np.stack(X), y=y, subject=[""] * n, recording=rec, start=start, source=["demo"] * n,
                   channels=r.channels, units=r.units, fs=r.fs, label_map=label_map)
    return ws, np.array(purity)


def test_shipped_rules_keep_correct_demo_labels(demo_windows) -> None:
    ws, purity = demo_windows
    assert {"walking", "running", "jumping", "standing", "sitting", "lying"} <= set(ws.class_counts())
    _, report = filter_windows(ws, FilterRules.default())
    assert not report.notes  # the paper's three sites are all present
    pure = purity == 1.0
    assert pure.sum() >= 80
    # windows lying entirely inside one labelled activity: all kept
    assert report.keep[pure].mean() >= 0.98, report.format()
    # majority-labelled windows may straddle a jump or a sit-down: nearly all kept
    assert report.keep.mean() >= 0.85, report.format()


def test_shipped_rules_drop_swapped_demo_labels(demo_windows) -> None:
    ws, purity = demo_windows
    names = np.array([ws.label_map[int(c)] for c in ws.y])
    chosen = np.flatnonzero((purity == 1.0) & np.isin(names, list(SWAPS)))
    swapped = ws.subset(chosen)
    code = {v: k for k, v in ws.label_map.items()}
    swapped.y = np.array([code[SWAPS[n]] for n in names[chosen]], dtype=np.int64)
    assert len(set(names[chosen])) >= 7
    _, report = filter_windows(swapped, FilterRules.default())
    assert report.n_dropped / report.n_windows >= 0.9, report.format()
    for label, row in report.per_class.items():
        assert row["dropped"] / row["windows"] >= 0.8, (label, report.format())
