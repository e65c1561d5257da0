"""Windowing: start arithmetic, channel selection, magnitude, resampling, purity, NaN gaps,
concatenation with label maps unified by name, class dropping and balancing."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from virtimu.types import NULL_LABEL, Recording, WindowSet
from virtimu.windows import (
    LabelUnifier,
    StreamFilter,
    WindowConfig,
    apply_balance,
    balance_classes,
    concat_windowsets,
    drop_null,
    drop_small_classes,
    global_steps,
    make_windows,
    plan_balance,
    select_channels,
    stream_windows,
    unify_label_maps,
    window_labels,
    window_recording,
    window_starts,
)

SITES = ("left_wrist", "right_thigh")
KINDS = {"acc": ["acc_x", "acc_y", "acc_z"], "gyro": ["gyro_x", "gyro_y", "gyro_z"],
         "rot": [f"rot_{i}{j}" for i in range(3) for j in range(3)]}
UNITS = {"acc": "m/s^2", "gyro": "rad/s", "rot": "1"}


def _channels(sites=SITES, kinds=("acc", "gyro", "rot")) -> tuple[list[str], list[str]]:
    names, units = [], []
    for s in sites:
        for k in kinds:
            names += [f"{s}/{a}" for a in KINDS[k]]
            units += [UNITS[k]] * len(KINDS[k])
    return names, units


def _rec(T: int = 200, fs: float = 50.0, labels=None, label_map=None, name: str = "r0", subject: str | None = "s1",
         source: str = "demo", seed: int = 0, sites=SITES, kinds=("acc", "gyro", "rot")) -> Recording:
    """Random signals (rotation channels valid rotations) with the given labels."""
    rng = np.random.default_rng(seed)
    channels, units = _channels(sites, kinds)
    x = rng.normal(size=(T, len(channels)))
    for s in sites:
        if "rot" in kinds:
            cols = [channels.index(f"{s}/{r}") for r in KINDS["rot"]]
            x[:, cols] = Rotation.random(T, random_state=rng.integers(1 << 30)).as_matrix().reshape(T, 9)
    if labels is not None and label_map is None:
        label_map = {0: "null", **{int(c): f"class{int(c)}" for c in np.unique(labels) if c != 0}}
    return Recording(signals=x, channels=channels, units=units, fs=fs, source=source, name=name,
                     labels=labels, label_map=label_map, subject=subject)


# ----------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("T, L, overlap, expected", [
    (100, 60, 0.5, [0, 30]),           # step 30, third window would end at 120
    (120, 60, 0.5, [0, 30, 60]),       # last window ends exactly at T
    (59, 60, 0.5, []),                 # shorter than one window
    (60, 60, 0.0, [0]),
    (250, 100, 0.5, [0, 50, 100, 150]),
    (10, 4, 0.75, [0, 1, 2, 3, 4, 5, 6]),
    (61, 60, 0.99, [0, 1]),            # step rounds to 0 -> clamped to 1
    (90, 60, 0.25, [0]),               # step 45
    (25, 5, 0.5, [0, 3, 6, 9, 12, 15, 18]),  # 2.5 rounds half-up to 3
])
def test_window_starts_and_step(T, L, overlap, expected):
    cfg = WindowConfig(length=L, overlap=overlap)
    starts = window_starts(T, L, cfg.step)
    np.testing.assert_array_equal(starts, expected)
    assert starts.dtype == np.int64
    if len(expected):
        assert starts[-1] + L <= T and starts[-1] + cfg.step + L > T


def test_window_count_formula_on_a_grid():
    for T in (0, 1, 17, 60, 61, 333):
        for L in (1, 5, 60):
            for overlap in (0.0, 0.3, 0.5, 0.9):
                step = WindowConfig(length=L, overlap=overlap).step
                n = len(window_starts(T, L, step))
                assert n == (0 if T < L else (T - L) // step + 1), (T, L, overlap)


def test_config_validation_and_dict_round_trip():
    cfg = WindowConfig(length=100, overlap=0.5, fs=25, channels="left_wrist/*", magnitude=True,
                       min_class_windows=100, balance="interpolate", seed=3)
    assert cfg.channels == ["left_wrist/*"] and cfg.step == 50
    again = WindowConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert WindowConfig().length == 60 and WindowConfig().overlap == 0.5 and WindowConfig().fs is None
    for bad in ({"overlap": 1.0}, {"overlap": -0.1}, {"length": 0}, {"purity": 1.5}, {"balance": "smote"},
                {"fs": 0}, {"min_class_windows": -1}):
        with pytest.raises(ValueError):
            WindowConfig(**bad)
    with pytest.raises(ValueError, match="lenght"):
        WindowConfig.from_dict({"lenght": 60})


# ----------------------------------------------------------------------------- channels


def test_select_channels_order_dedup_and_errors():
    channels, _ = _channels()
    got = select_channels(channels, ["*/gyro_*", "left_wrist/*"])
    expected = ([f"{s}/{a}" for s in SITES for a in KINDS["gyro"]]
                + [f"left_wrist/{a}" for a in KINDS["acc"] + KINDS["rot"]])
    assert got == expected
    assert select_channels(channels, None) == channels
    assert select_channels(channels, ["right_thigh/acc_z", "left_wrist/acc_x"]) == \
        ["right_thigh/acc_z", "left_wrist/acc_x"]
    with pytest.raises(ValueError, match=r"'head/\*'.*left_wrist/acc_x"):
        select_channels(channels, ["left_wrist/*", "head/*"])


def test_window_recording_copies_frames_and_metadata():
    rec = _rec(T=130, labels=np.ones(130, dtype=np.int16), subject=None, name="clip_a", source="demo")
    cfg = WindowConfig(length=40, overlap=0.25, channels=["right_thigh/acc_*", "left_wrist/gyro_x"])
    ws = window_recording(rec, cfg)
    np.testing.assert_array_equal(ws.start, [0, 30, 60, 90])
    assert ws.channels == ["right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z", "left_wrist/gyro_x"]
    assert ws.units == ["m/s^2"] * 3 + ["rad/s"]
    assert ws.X.shape == (4, 40, 4) and ws.X.dtype == np.float32
    src = rec.select(ws.channels)
    for i, s in enumerate(ws.start):
        np.testing.assert_array_equal(ws.X[i], src[s:s + 40])
    assert set(ws.recording) == {"demo/clip_a"} and set(ws.subject) == {""} and set(ws.source) == {"demo"}
    assert ws.fs == 50.0 and ws.attrs["n_cut"] == 4 and ws.attrs["config"]["length"] == 40


def test_magnitude_channel_values_and_placement():
    rec = _rec(T=100)
    cfg = WindowConfig(length=20, overlap=0.0, channels=["*/acc_*", "left_wrist/gyro_x"], magnitude=True)
    ws = window_recording(rec, cfg)
    assert ws.channels == ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z", "left_wrist/acc_mag",
                           "right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z", "right_thigh/acc_mag",
                           "left_wrist/gyro_x"]
    assert ws.units[3] == "m/s^2" and ws.units[7] == "m/s^2"
    for site, col in (("left_wrist", 3), ("right_thigh", 7)):
        acc = rec.select([f"{site}/acc_x", f"{site}/acc_y", f"{site}/acc_z"])[:100].reshape(5, 20, 3)
        np.testing.assert_allclose(ws.X[:, :, col], np.linalg.norm(acc.astype(np.float64), axis=2), rtol=1e-6)
    with pytest.raises(ValueError, match="no acc channel"):
        window_recording(rec, WindowConfig(length=20, channels=["*/gyro_*"], magnitude=True))


# ----------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("fs_out", [50.0, 60.0])
def test_resample_from_100_hz_keeps_sine_and_valid_rotations(fs_out):
    fs, T = 100.0, 1000
    t = np.arange(T) / fs
    suffixes = KINDS["acc"] + KINDS["rot"] + ["quat_w", "quat_x", "quat_y", "quat_z"]
    channels = [f"left_wrist/{s}" for s in suffixes]
    units = ["m/s^2"] * 3 + ["1"] * 13

    def angle(tt):  # about z; passes through +-pi, so linear interpolation of matrices would fail
        return 1.5 * tt + 0.5 * np.sin(2 * np.pi * 0.3 * tt)

    R = Rotation.from_rotvec(np.outer(angle(t), [0.0, 0.0, 1.0]))
    quat = np.roll(R.as_quat(), 1, axis=1)
    quat *= np.where(quat[:, :1] < 0, -1.0, 1.0)
    acc = np.stack([2.0 * np.sin(2 * np.pi * 1.0 * t), np.full(T, 9.81), np.zeros(T)], axis=1)
    x = np.concatenate([acc, R.as_matrix().reshape(T, 9), quat], axis=1)
    labels = np.where(t < 4.0, 1, 2)
    rec = Recording(signals=x, channels=channels, units=units, fs=fs, source="demo", name="sine",
                    labels=labels, label_map={0: "null", 1: "walk", 2: "run"}, subject="s1")
    ws = window_recording(rec, WindowConfig(length=50, overlap=0.5, fs=fs_out, purity=0.0))
    assert ws.fs == fs_out and ws.channels == channels
    n_out = int(np.floor((T - 1) * fs_out / fs)) + 1
    assert len(ws) == (n_out - 50) // 25 + 1
    np.testing.assert_array_equal(ws.start, np.arange(len(ws)) * 25)
    t_out = (ws.start[:, None] + np.arange(50)[None, :]) / fs_out  # (N, L) seconds
    interior = (t_out > 0.5) & (t_out < 9.0)
    err = np.abs(ws.X[:, :, 0] - 2.0 * np.sin(2 * np.pi * t_out))[interior]
    assert err.max() < 0.02 * 2.0  # amplitude kept within 2 % (1 Hz is far below the output Nyquist)
    # a constant stays constant up to the polyphase filter's per-phase DC gain ripple (~1.4e-4 at 3/5)
    np.testing.assert_allclose(ws.X[:, :, 1], 9.81, rtol=1e-5 if fs_out == 50.0 else 5e-4)
    Rw = ws.X[:, :, 3:12].astype(np.float64).reshape(-1, 3, 3)
    np.testing.assert_allclose(Rw @ Rw.transpose(0, 2, 1), np.broadcast_to(np.eye(3), Rw.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(Rw), 1.0, atol=1e-5)
    R_true = Rotation.from_rotvec(np.outer(angle(t_out.ravel()), [0.0, 0.0, 1.0]))
    assert (Rotation.from_matrix(Rw) * R_true.inv()).magnitude().max() < 1e-4
    q = ws.X[:, :, 12:16].astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    Rq = Rotation.from_quat(np.roll(q, -1, axis=1))
    assert (Rq * R_true.inv()).magnitude().max() < 1e-4
    # labels by nearest frame: windows wholly before 4 s are walk, wholly after are run
    end_t = (ws.start + 49) / fs_out
    assert np.all(ws.y[end_t < 4.0] == 1) and np.all(ws.y[ws.start / fs_out >= 4.0] == 2)
    assert set(ws.y[(ws.start / fs_out < 4.0) & (end_t >= 4.0)]) <= {1, 2}


def test_resampling_drops_windows_over_a_gap():
    rec = _rec(T=600, fs=100.0, kinds=("acc",), sites=("left_wrist",))
    rec.signals[300:305, 1] = np.nan
    ws = window_recording(rec, WindowConfig(length=20, overlap=0.5, fs=50.0))
    assert np.isfinite(ws.X).all()
    # output frames 150..152 sit on source frames 300..304 (the gap); 149 and 153 only neighbour it
    all_starts = window_starts(300, 20, 10)
    np.testing.assert_array_equal(ws.start, all_starts[(all_starts + 20 <= 150) | (all_starts >= 153)])
    assert ws.attrs["n_cut"] == len(all_starts) and ws.attrs["n_nan"] == 2


# ----------------------------------------------------------------------------- labels and gaps


def test_window_labels_majority_purity_and_ties():
    labels = np.array([1] * 10 + [1] * 7 + [2] * 3 + [0] * 6 + [3] * 4 + [2] * 5 + [3] * 5)
    starts = np.array([0, 10, 20, 30])
    y, impure = window_labels(labels, starts, 10, purity=0.8)
    np.testing.assert_array_equal(y, [1, 0, 0, 0])       # 70 % class 1 -> null; 60 % null -> null; tie -> null
    np.testing.assert_array_equal(impure, [False, True, False, True])
    y, impure = window_labels(labels, starts, 10, purity=0.5)
    np.testing.assert_array_equal(y, [1, 1, 0, 2])         # tie 5/5 between 2 and 3 -> lower code
    assert not impure.any()


def test_purity_relabels_null_and_counts():
    labels = np.array([1] * 17 + [2] * 13 + [2] * 10)
    rec = _rec(T=40, labels=labels, label_map={0: "null", 1: "walk", 2: "run"})
    ws = window_recording(rec, WindowConfig(length=10, overlap=0.0, purity=0.8))
    np.testing.assert_array_equal(ws.y, [1, 0, 2, 2])
    assert ws.attrs["n_impure"] == 1
    ws = window_recording(rec, WindowConfig(length=10, overlap=0.0, purity=0.6))
    np.testing.assert_array_equal(ws.y, [1, 1, 2, 2])
    assert ws.attrs["n_impure"] == 0


def test_nan_windows_dropped_and_counted():
    rec = _rec(T=100, labels=np.ones(100, dtype=int))
    rec.signals[45, 4] = np.nan
    ws = window_recording(rec, WindowConfig(length=20, overlap=0.5))
    np.testing.assert_array_equal(ws.start, [0, 10, 20, 50, 60, 70, 80])
    assert ws.attrs["n_nan"] == 2 and ws.attrs["n_cut"] == 9 and np.isfinite(ws.X).all()
    # a NaN in a channel that is not selected does not matter
    ws = window_recording(rec, WindowConfig(length=20, overlap=0.5, channels=["right_thigh/*"]))
    assert ws.attrs["n_nan"] == 0 and len(ws) == 9


def test_label_mapper_and_unlabelled_recordings():
    labels = np.repeat([1, 2, 3], 20)
    rec = _rec(T=60, labels=labels, label_map={0: "null", 1: "walk", 2: "jog", 3: "sit"})

    def merge_gaits(lab, lmap):
        return np.where(lab == 3, 2, np.where(lab > 0, 1, 0)), {0: "null", 1: "locomotion", 2: "sit"}

    ws = window_recording(rec, WindowConfig(length=20, overlap=0.0), label_mapper=merge_gaits)
    np.testing.assert_array_equal(ws.y, [1, 1, 2])
    assert ws.class_counts() == {"locomotion": 2, "sit": 1}
    ws = window_recording(_rec(T=60), WindowConfig(length=20, overlap=0.0))
    np.testing.assert_array_equal(ws.y, [NULL_LABEL] * 3)
    bad = _rec(T=60, labels=np.full(60, 7), label_map={0: "null", 1: "walk"})
    with pytest.raises(ValueError, match=r"demo/r0.*\[7\]"):
        window_recording(bad, WindowConfig(length=20))


# ----------------------------------------------------------------------------- concatenation, report


def test_make_windows_unifies_label_maps_by_name_and_reports():
    lab_a = np.repeat([1, 2, 0], [60, 20, 30])   # walk 6, run 2, null 3 windows of 10
    rec_a = _rec(T=110, labels=lab_a, label_map={0: "null", 1: "walk", 2: "run"}, name="a", subject="s1")
    lab_b = np.repeat([1, 2], [20, 40])          # here code 1 = run, 2 = walk
    rec_b = _rec(T=60, labels=lab_b, label_map={0: "null", 1: "run", 2: "walk"}, name="b", subject="s2", seed=1)
    short = _rec(T=5, labels=np.ones(5, dtype=int), label_map={0: "null", 1: "walk"}, name="c")
    cfg = WindowConfig(length=10, overlap=0.0, drop_null=True, min_class_windows=5)
    ws, report = make_windows([rec_a, rec_b, short], cfg)
    assert ws.label_map == {0: "null", 1: "walk", 2: "run"}
    from_b = ws.recording == "demo/b"
    np.testing.assert_array_equal(ws.y[from_b], [1, 1, 1, 1])  # b's walk windows, coded as a's walk
    assert report.counts["windowed"] == {"null": 3, "walk": 10, "run": 4}
    assert report.counts["drop_null"] == {"walk": 10, "run": 4}
    assert report.counts["min_class_windows"] == {"walk": 10}
    assert set(report.dropped_classes) == {"null", "run"} and "min_class_windows=5" in report.dropped_classes["run"]
    assert report.n_recordings == 3 and report.n_short == 1 and report.n_cut == 17
    assert ws.class_counts() == {"walk": 10} and len(ws) == 10
    text = report.format()
    assert "run" in text and "walk" in text and "17 windows cut" in text


def test_unify_label_maps_keeps_agreeing_codes_and_reassigns_clashes():
    unified, tr = unify_label_maps([{0: "null", 1: "walk", 2: "run"}, {0: "null", 2: "sit", 3: "walk"}])
    assert unified == {0: "null", 1: "walk", 2: "run", 3: "sit"}
    assert tr[0] == {0: 0, 1: 1, 2: 2} and tr[1] == {0: 0, 2: 3, 3: 1}


def test_concat_rejects_mismatched_channels_and_rates():
    a = window_recording(_rec(T=50), WindowConfig(length=10))
    b = window_recording(_rec(T=50, sites=("left_wrist",), name="b"), WindowConfig(length=10))
    with pytest.raises(ValueError, match="channels"):
        concat_windowsets([a, b])
    c = window_recording(_rec(T=50, fs=100.0, name="c"), WindowConfig(length=10))
    with pytest.raises(ValueError, match=r"fs 100.0 Hz != 50.0 Hz"):
        concat_windowsets([a, c])
    with pytest.raises(ValueError, match="channels"):
        make_windows([_rec(T=50), _rec(T=50, sites=("left_wrist",), name="b")], WindowConfig(length=10))
    both = concat_windowsets([a, window_recording(_rec(T=50, name="d"), WindowConfig(length=10))])
    assert len(both) == 2 * len(a) and both.attrs["n_cut"] == 2 * a.attrs["n_cut"]


def test_drop_null_and_small_classes():
    ws = _toy_set([0] * 4 + [1] * 5 + [2] * 2 + [3] * 3)
    assert drop_null(ws).class_counts() == {"c1": 5, "c2": 2, "c3": 3}
    kept = drop_small_classes(ws, 3)
    assert kept.class_counts() == {"null": 4, "c1": 5, "c3": 3}   # null never dropped here
    assert drop_small_classes(ws, 0) is ws


# ----------------------------------------------------------------------------- balancing


def _toy_set(y, seed: int = 0) -> WindowSet:
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    n = y.size
    return WindowSet(X=rng.normal(size=(n, 8, 3)), y=y, subject=[f"s{i % 3}" for i in range(n)],
                     recording=[f"demo/r{i % 4}" for i in range(n)], start=np.arange(n) * 4,
                     source=["demo"] * n, channels=["a/acc_x", "a/acc_y", "a/acc_z"], units=["m/s^2"] * 3,
                     fs=50.0, label_map={0: "null", 1: "c1", 2: "c2", 3: "c3"})


@pytest.mark.parametrize("method", ["oversample", "interpolate"])
@pytest.mark.parametrize("target", [None, 4])
def test_balance_gives_exact_target_counts(method, target):
    ws = _toy_set([1] * 5 + [2] * 2 + [3] * 9)
    out = balance_classes(ws, method, seed=7, target=target)
    want = 9 if target is None else 4
    assert out.class_counts() == {"c1": want, "c2": want, "c3": want}
    assert out.attrs["balance"]["method"] == method and out.attrs["balance"]["target"] == want
    if target is None:
        np.testing.assert_array_equal(out.X[:len(ws)], ws.X)  # originals first, unchanged


def test_interpolated_windows_lie_between_their_parents():
    ws = _toy_set([1] * 5 + [2] * 2 + [3] * 9)
    plan = plan_balance(ws.y, "interpolate", seed=3)
    out = apply_balance(ws, plan)
    new = slice(plan.keep.size, None)
    a, b, lam = plan.parent_a, plan.parent_b, plan.lam
    assert a.size == (9 - 5) + (9 - 2)
    assert np.all(a != b) and np.all(ws.y[a] == ws.y[b]) and np.all(out.y[new] == ws.y[a])
    assert np.all((lam >= 0) & (lam <= 1)) and np.ptp(lam) > 0.1
    lo, hi = np.minimum(ws.X[a], ws.X[b]), np.maximum(ws.X[a], ws.X[b])
    assert np.all(out.X[new] >= lo) and np.all(out.X[new] <= hi)
    np.testing.assert_allclose(out.X[new], lam[:, None, None] * ws.X[a] + (1 - lam[:, None, None]) * ws.X[b],
                               rtol=1e-6, atol=1e-6)
    assert np.all(out.start[new] == -1)
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        assert out.recording[plan.keep.size + i] == f"interpolated:{ws.recording[pa]}|{ws.recording[pb]}"
        want = ws.subject[pa] if ws.subject[pa] == ws.subject[pb] else "mixed"
        assert out.subject[plan.keep.size + i] == want
    assert "mixed" in set(out.subject[new])  # the toy subjects differ for some pairs


def test_oversample_repeats_same_class_windows_and_balancing_is_seeded():
    ws = _toy_set([1] * 5 + [2] * 2 + [3] * 9)
    out = balance_classes(ws, "oversample", seed=1)
    for x, y in zip(out.X[len(ws):], out.y[len(ws):], strict=True):
        same = ws.X[ws.y == y]
        assert np.any(np.all(same == x, axis=(1, 2)))
    again = balance_classes(ws, "interpolate", seed=5)
    np.testing.assert_array_equal(again.X, balance_classes(ws, "interpolate", seed=5).X)
    assert not np.array_equal(again.X, balance_classes(ws, "interpolate", seed=6).X)
    single = balance_classes(_toy_set([1] * 4 + [2]), "interpolate", seed=0)   # one window: copies
    assert single.class_counts() == {"c1": 4, "c2": 4}
    np.testing.assert_array_equal(single.X[single.y == 2], np.repeat(single.X[4:5], 4, axis=0))


def test_make_windows_balances_per_config():
    labels = np.repeat([1, 2], [80, 30])
    rec = _rec(T=110, labels=labels, label_map={0: "null", 1: "walk", 2: "run"})
    ws, report = make_windows([rec], WindowConfig(length=10, overlap=0.0, balance="interpolate", seed=2))
    assert ws.class_counts() == {"walk": 8, "run": 8} and report.counts["balance"] == {"walk": 8, "run": 8}
    ws2, _ = make_windows([rec], WindowConfig(length=10, overlap=0.0, balance="interpolate", seed=2))
    np.testing.assert_array_equal(ws.X, ws2.X)


# ----------------------------------------------------------------------------- streaming


def _mixed_recordings() -> list[Recording]:
    """Recordings with clashing label maps, a NaN gap, an unlabelled and a too-short one, gait-like thigh signals."""
    rng = np.random.default_rng(7)
    recs = []
    maps = [{0: "null", 1: "walking", 2: "standing"}, {0: "null", 1: "standing", 2: "sitting", 3: "walking"},
            {0: "null", 5: "jumping", 1: "walking"}]
    for i, T in enumerate([230, 180, 75, 310, 9, 140]):
        lm = maps[i % 3]
        codes = sorted(lm)
        labels = np.repeat(rng.choice(codes, size=T // 20 + 1), 20)[:T]
        rec = _rec(T=T, fs=50.0, labels=labels, label_map=lm, name=f"r{i}", subject=f"s{i % 2}", seed=i,
                   kinds=("acc", "gyro"))
        t = np.arange(T) / 50.0
        for s in SITES:  # gravity plus a 1.5 Hz swing on half the recordings: some windows pass the filter
            col = rec.channels.index(f"{s}/acc_z")
            rec.signals[:, col] += 9.81 + (4.0 * np.sin(2 * np.pi * 1.5 * t) if i % 2 else 0.0)
        if i == 3:
            rec.signals[100:104, 2] = np.nan
        recs.append(rec)
    recs.append(_rec(T=120, labels=None, name="unlabelled", seed=9, kinds=("acc", "gyro")))
    return recs


def _concat_batches(batches: list[WindowSet]) -> WindowSet:
    last = batches[-1]
    return WindowSet(X=np.concatenate([b.X for b in batches]), y=np.concatenate([b.y for b in batches]),
                     subject=np.concatenate([b.subject for b in batches]),
                     recording=np.concatenate([b.recording for b in batches]),
                     start=np.concatenate([b.start for b in batches]),
                     source=np.concatenate([b.source for b in batches]), channels=last.channels, units=last.units,
                     fs=last.fs, label_map=last.label_map)


def _assert_same_windows(a: WindowSet, b: WindowSet) -> None:
    for key in ("X", "y", "subject", "recording", "start", "source"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert a.label_map == b.label_map and a.channels == b.channels and a.units == b.units and a.fs == b.fs


def test_label_unifier_gives_unify_label_maps_codes_one_map_at_a_time():
    maps = [{0: "null", 1: "walk", 2: "run"}, {0: "null", 2: "sit", 3: "walk"}, {7: "jump", 1: "sit"}]
    unified, translations = unify_label_maps(maps)
    unifier = LabelUnifier()
    assert [unifier.add(m) for m in maps] == translations and unifier.label_map == unified


@pytest.mark.parametrize("cfg", [
    WindowConfig(length=20, overlap=0.5, purity=0.6),
    WindowConfig(length=20, overlap=0.5, drop_null=True),
    WindowConfig(length=16, overlap=0.75, drop_null=True, min_class_windows=15),
    WindowConfig(length=20, overlap=0.0, fs=25.0, min_class_windows=6, magnitude=True),
])
def test_stream_windows_gives_make_windows_set_report_and_attrs(cfg):
    recs = _mixed_recordings()
    ref, ref_report = make_windows(recs, cfg)
    batches: list[WindowSet] = []
    report, attrs = stream_windows(lambda: iter(recs), cfg, batches.append)
    assert len(batches) == len(recs)  # one batch per recording, empty ones included
    assert max(len(b) for b in batches) < len(ref) or len(ref) == 0
    _assert_same_windows(_concat_batches(batches), ref)
    assert report.to_dict() == ref_report.to_dict() and report.format() == ref_report.format()
    assert attrs == ref.attrs
    if global_steps(cfg):
        assert "min_class_windows" in report.counts
        assert any("min_class_windows" in why for why in report.dropped_classes.values())


def test_stream_windows_needs_two_passes_for_min_class_windows_and_refuses_balancing():
    recs = _mixed_recordings()
    with pytest.raises(ValueError, match="callable"):
        stream_windows(iter(recs), WindowConfig(length=20, min_class_windows=5), lambda ws: None)
    with pytest.raises(ValueError, match="make_windows"):
        stream_windows(recs, WindowConfig(length=20, balance="oversample"), lambda ws: None)
    assert global_steps(WindowConfig(balance="interpolate", min_class_windows=3)) == ["min_class_windows", "balance"]
    with pytest.raises(ValueError, match="no recordings"):
        stream_windows([], WindowConfig(length=20), lambda ws: None)
    other = _rec(T=100, fs=100.0, name="fast", kinds=("acc", "gyro"))
    with pytest.raises(ValueError, match=r"set 7 .* fs 100.0 Hz != 50.0 Hz"):  # the message of concat_windowsets
        stream_windows([*recs, other], WindowConfig(length=20), lambda ws: None)


def test_stream_filter_report_equals_one_filter_of_the_whole_set():
    from virtimu.labels.filtering import FilterRules, filter_windows

    cfg = WindowConfig(length=50, overlap=0.5, drop_null=True)
    recs = _mixed_recordings()
    ref, _ = make_windows(recs, cfg)
    rules = FilterRules.default()
    ref_kept, ref_report = filter_windows(ref, rules)
    stage = StreamFilter(rules)
    batches: list[WindowSet] = []
    _, attrs = stream_windows(recs, cfg, batches.append, stage=stage)
    report = stage.report()
    assert 0 < ref_report.n_dropped < ref_report.n_windows and ref_report.notes  # the test exercises drops and notes
    assert report.to_dict(include_mask=True) == ref_report.to_dict(include_mask=True)
    assert report.format() == ref_report.format()
    assert stage.attrs() == ref_kept.attrs["label_filter"]
    _assert_same_windows(_concat_batches(batches), ref_kept)


def _set_contents(path, name: str) -> tuple[dict, dict]:
    """(arrays, attrs without commit times) of a stored window set."""
    import json

    import zarr

    group = zarr.open_group(path / "windows" / name, mode="r")
    arrays = {key: np.asarray(group[key][:]) for key in group.array_keys()}
    attrs = json.loads((path / "windows" / name / "zarr.json").read_text())["attributes"]
    for entry in attrs["provenance"]:
        entry.pop("time")
    return arrays, attrs


@pytest.mark.parametrize("options, cfg", [
    (["--drop-null", "--filter", "default"], WindowConfig(drop_null=True)),
    (["--length", "16", "--overlap", "0.75", "--min-class-windows", "15", "--filter", "default"],
     WindowConfig(length=16, overlap=0.75, min_class_windows=15)),
    (["--balance", "oversample", "--drop-null"], WindowConfig(balance="oversample", drop_null=True)),
])
def test_cli_windows_streams_the_set_the_in_memory_path_writes(tmp_path, capsys, monkeypatch, options, cfg):
    import virtimu.windows as vw
    from virtimu.cli import main
    from virtimu.labels.filtering import FilterRules, filter_windows
    from virtimu.store import RecordingStore
    from virtimu.store.windows import WindowAppender, WindowStore

    recs = _mixed_recordings()
    streamed, reference = tmp_path / "streamed.zarr", tmp_path / "reference.zarr"
    for path in (streamed, reference):
        store = RecordingStore(path)
        for rec in recs:
            store.write(rec)
    batch_sizes: list[int] = []
    original_add = WindowAppender.add

    def spy_add(self, ws):
        batch_sizes.append(len(ws))
        return original_add(self, ws)

    monkeypatch.setattr(WindowAppender, "add", spy_add)
    balance = cfg.balance != "none"
    if not balance:  # the streaming path never holds the run's windows together
        monkeypatch.setattr(vw, "concat_windowsets", lambda sets: pytest.fail("concatenated the whole run"))
    for _ in range(2):  # a new set, then an append to it
        assert main(["windows", str(streamed), "--name", "w", "--quiet", *options]) == 0
    printed = capsys.readouterr().out
    monkeypatch.undo()
    if not balance:
        assert len(batch_sizes) == 2 * len(recs)  # one batch per recording
    else:
        assert len(batch_sizes) == 2

    rstore = RecordingStore(reference, mode="r")
    for _ in range(2):
        ws, report = make_windows([rstore.read(s, n) for s, n in rstore.list()], cfg)
        assert report.format() in printed
        if "--filter" in options:
            ws, freport = filter_windows(ws, FilterRules.default())
            assert freport.format() in printed
        WindowStore(reference).append("w", ws)
    got, want = _set_contents(streamed, "w"), _set_contents(reference, "w")
    assert sorted(got[0]) == sorted(want[0])
    for key in want[0]:
        np.testing.assert_array_equal(got[0][key], want[0][key], err_msg=key)
    assert got[1] == want[1]
    assert len(got[1]["provenance"]) == 2


def test_cli_windows_killed_before_its_commit_leaves_the_set_unchanged(tmp_path, capsys, monkeypatch):
    from virtimu.cli import main
    from virtimu.store import RecordingStore
    from virtimu.store.windows import WindowStore

    path = tmp_path / "s.zarr"
    store = RecordingStore(path)
    for rec in _mixed_recordings():
        store.write(rec)
    assert main(["windows", str(path), "--length", "20", "--quiet"]) == 0
    before = _set_contents(path, "default")
    X_before = WindowStore(path, mode="r").read("default").X

    def die(group, attrs):
        raise KeyboardInterrupt  # stands for a killed process: after every row was written, before the commit

    monkeypatch.setattr(WindowStore, "_commit", staticmethod(die))
    with pytest.raises(KeyboardInterrupt):
        main(["windows", str(path), "--length", "20", "--quiet"])
    with pytest.raises(KeyboardInterrupt):
        main(["windows", str(path), "--length", "20", "--quiet", "--name", "fresh"])
    monkeypatch.undo()
    reader = WindowStore(path, mode="r")
    assert reader.list_sets() == ["default"] and _set_contents(path, "default")[1] == before[1]
    assert not [p for p in (path / "windows").iterdir() if p.name.startswith(".tmp-")]
    n = reader.n_windows("default")
    assert n == len(X_before) > 0
    np.testing.assert_array_equal(reader.read("default").X, X_before)
    assert main(["windows", str(path), "--length", "20", "--quiet"]) == 0  # the rerun appends the run once
    assert WindowStore(path, mode="r").n_windows("default") == 2 * n
    capsys.readouterr()
