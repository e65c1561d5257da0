"""UCI HAR loader: windows written in the archive's 'Inertial Signals' layout, recordings rebuilt from them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, G, load_dataset
from virtimu.datasets.uci_har import continuous_runs, join_windows, load_uci_har_windows
from virtimu.labels.maps import get_label_space

REAL_HAPT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hapt"

ACTIVITIES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
SIGNALS = ("total_acc", "body_acc", "body_gyro")
ACC = ["waist/acc_x", "waist/acc_y", "waist/acc_z"]
GYRO = ["waist/gyro_x", "waist/gyro_y", "waist/gyro_z"]


def fmt(v: float) -> str:
    """A value as the archive prints it: 16 characters, 7 decimals, 3-digit exponent (' 1.0128170e+000')."""
    mant, exp = f"{v:.7e}".split("e")
    return f"{mant}e{exp[0]}{int(exp[1:]):03d}".rjust(16)


def windows_of(x: np.ndarray) -> np.ndarray:
    """(T, C) -> (k, 128, C) windows with hop 64 (only windows lying fully inside)."""
    starts = np.arange(0, x.shape[0] - 128 + 1, 64)
    return np.stack([x[s:s + 128] for s in starts])


def write_split(root: Path, split: str, segments: list[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """Write one split from segments (subject, activity, (T, 9) signal in file units:
    total_acc xyz, body_acc xyz, body_gyro xyz).  Returns the (N, 128, 9) windows written."""
    wins, subj, acts = [], [], []
    for s, a, x in segments:
        w = windows_of(x)
        wins.append(w)
        subj += [s] * len(w)
        acts += [a] * len(w)
    W = np.concatenate(wins)
    folder = root / split / "Inertial Signals"
    folder.mkdir(parents=True, exist_ok=True)
    for k, sig in enumerate(SIGNALS):
        for j, axis in enumerate("xyz"):
            rows = W[:, :, 3 * k + j]
            text = "".join(" " + "".join(fmt(v) for v in row) + "\n" for row in rows)
            (folder / f"{sig}_{axis}_{split}.txt").write_text(text, encoding="ascii")
    (root / split / f"subject_{split}.txt").write_text("".join(f"{s}\n" for s in subj), encoding="ascii")
    (root / split / f"y_{split}.txt").write_text("".join(f"{a}\n" for a in acts), encoding="ascii")
    return W


def signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(n, 9))
    x[:, 0] += 1.0  # total_acc x carries gravity
    return x


@pytest.fixture
def har(tmp_path: Path):
    """A 'UCI HAR Dataset' folder: train = subject 1 (standing 4 windows, walking 3 windows, then walking
    again after a gap: 2 windows) + subject 3 (laying, 2 windows); test = subject 2 (sitting, 3 windows)."""
    root = tmp_path / "UCI HAR Dataset"
    root.mkdir()
    (root / "activity_labels.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(ACTIVITIES, 1)))
    segs = {
        "train": [(1, 5, signal(128 + 3 * 64, 0)), (1, 1, signal(128 + 2 * 64, 1)), (1, 1, signal(128 + 64, 2)),
                  (3, 6, signal(128 + 64 + 30, 3))],
        "test": [(2, 4, signal(128 + 2 * 64, 4))],
    }
    written = {split: write_split(root, split, s) for split, s in segs.items()}
    return tmp_path, root, segs, written


def test_recordings_rebuilt_from_overlapping_windows(har):
    parent, root, segs, _ = har
    recs = list(load_dataset("uci-har", root))
    assert [r.name for r in recs] == ["train_user01_run001", "train_user01_run002", "train_user01_run003",
                                      "train_user03_run001", "test_user02_run001"]
    expected = segs["train"] + segs["test"]
    for rec, (subj, act, x) in zip(recs, expected, strict=True):
        n = 128 + 64 * ((x.shape[0] - 128) // 64)  # frames covered by whole windows
        assert rec.n_frames == n
        assert rec.channels == ACC + GYRO and rec.units == ["m/s^2"] * 3 + ["rad/s"] * 3
        np.testing.assert_allclose(rec.select(ACC), x[:n, 0:3] * G, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rec.select(GYRO), x[:n, 6:9], rtol=1e-6, atol=1e-7)
        assert rec.subject == str(subj)
        np.testing.assert_array_equal(rec.labels, np.full(n, act))
        assert rec.label_map == get_label_space("uci_har6").label_map()
        assert rec.fs == 50.0 and rec.source == "uci-har" and rec.attrs == {"kind": "real", "dataset": "uci-har"}
        assert rec.provenance["dataset"] == "uci-har"
        assert "train/Inertial Signals/total_acc_x_train.txt" in recs[0].provenance["files"]
    assert [r.provenance["split"] for r in recs] == ["train"] * 4 + ["test"]
    assert [r.provenance["window_lines"] for r in recs] == [[1, 4], [5, 7], [8, 9], [10, 11], [1, 3]]
    assert [r.provenance["n_windows"] for r in recs] == [4, 3, 2, 2, 3]
    # the folder holding 'UCI HAR Dataset' works too
    assert [r.name for r in load_dataset("uci_har", parent)] == [r.name for r in recs]


def test_windows_reproduce_the_files_and_point_into_recordings(har):
    _, root, _, written = har
    ws = load_uci_har_windows(root, body_acc=True)
    W = np.concatenate([written["train"], written["test"]])
    assert ws.X.shape == (W.shape[0], 128, 9) == (14, 128, 9)
    assert ws.channels == ACC + GYRO + ["waist/bodyacc_x", "waist/bodyacc_y", "waist/bodyacc_z"]
    np.testing.assert_allclose(ws.X[:, :, :3], W[:, :, 0:3] * G, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ws.X[:, :, 3:6], W[:, :, 6:9], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ws.X[:, :, 6:9], W[:, :, 3:6] * G, rtol=1e-6, atol=1e-6)
    assert ws.y.tolist() == [5] * 4 + [1] * 5 + [6] * 2 + [4] * 3
    assert ws.attrs["split"] == ["train"] * 11 + ["test"] * 3
    assert ws.attrs["n_train"] == 11 and ws.attrs["n_test"] == 3
    recs = {f"uci-har/{r.name}": r for r in load_dataset("uci-har", root)}
    for i in range(len(ws)):
        rec = recs[ws.recording[i]]
        np.testing.assert_array_equal(rec.signals[ws.start[i]:ws.start[i] + 128], ws.X[i, :, :6])
        assert rec.subject == ws.subject[i]


def test_continuity_helpers():
    x = signal(128 + 64 * 3, 7)
    w = windows_of(x)
    np.testing.assert_array_equal(join_windows(w), x)
    both = np.concatenate([w, windows_of(signal(128, 8))])
    assert continuous_runs(both, np.ones(5), np.ones(5)) == [(0, 3), (4, 4)]
    assert continuous_runs(both, np.ones(5), np.array([1, 1, 2, 2, 2])) == [(0, 1), (2, 3), (4, 4)]
    assert continuous_runs(both, np.array([1, 2, 2, 2, 2]), np.ones(5)) == [(0, 0), (1, 3), (4, 4)]


def test_resampling_keeps_sine_frequency_and_amplitude(tmp_path):
    root = tmp_path / "UCI HAR Dataset"
    root.mkdir()
    (root / "activity_labels.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(ACTIVITIES, 1)))
    fs, f0, amp = 50.0, 2.0, 0.4
    t = np.arange(128 + 64 * 15) / fs  # 20.48 s
    x = np.zeros((t.size, 9))
    x[:, 0] = 1.0 + amp * np.sin(2 * np.pi * f0 * t)
    x[:, 6] = 0.5 * np.sin(2 * np.pi * 1.0 * t)
    write_split(root, "train", [(1, 1, x)])
    write_split(root, "test", [(2, 4, x)])
    rec = next(load_dataset("uci-har", root, fs=25.0))
    assert rec.fs == 25.0 and rec.n_frames == 544
    a = rec.select(["waist/acc_x"])[50:-94, 0].astype(np.float64)  # 400 frames = 32 periods
    spec = np.abs(np.fft.rfft(a - a.mean()))
    assert abs(np.fft.rfftfreq(a.size, 1 / 25.0)[np.argmax(spec)] - f0) < 0.1
    assert abs(np.sqrt(2) * a.std() - amp * G) < 0.02 * amp * G
    g = rec.select(["waist/gyro_x"])[50:-94, 0].astype(np.float64)
    assert abs(np.sqrt(2) * g.std() - 0.5) < 0.02 * 0.5
    assert (rec.labels == 1).all()


# ----------------------------------------------------------------------------- bad files


def _edit_line(path: Path, line: int, fn) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = fn(lines[line - 1])
    path.write_text("".join(lines))


def _break(root: Path, kind: str) -> None:
    sig = root / "train" / "Inertial Signals"
    if kind == "truncated":
        _edit_line(sig / "total_acc_x_train.txt", 3, lambda s: " ".join(s.split()[:127]) + "\n")
    elif kind == "non_numeric":
        _edit_line(root / "test" / "Inertial Signals" / "body_gyro_y_test.txt", 2,
                   lambda s: " ".join(s.split()[:4] + ["1.2e-00x"] + s.split()[5:]) + "\n")
    elif kind == "unknown_label":
        _edit_line(root / "train" / "y_train.txt", 6, lambda s: "7\n")
    elif kind == "missing_signal":
        (root / "test" / "Inertial Signals" / "body_gyro_z_test.txt").unlink()
    elif kind == "row_mismatch":
        p = root / "train" / "subject_train.txt"
        p.write_text("".join(p.read_text().splitlines(keepends=True)[:-1]))
    elif kind == "window_mismatch":
        p = sig / "total_acc_z_train.txt"
        p.write_text("".join(p.read_text().splitlines(keepends=True)[:-2]))
    elif kind == "missing_activity_labels":
        (root / "activity_labels.txt").unlink()
    elif kind == "missing_split":
        for p in sorted((root / "test").rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        (root / "test").rmdir()
    elif kind == "subject_not_integer":
        _edit_line(root / "train" / "subject_train.txt", 2, lambda s: "1.5\n")
    else:  # pragma: no cover
        raise AssertionError(kind)


BAD = [
    ("truncated", "train/Inertial Signals/total_acc_x_train.txt, line 3", "expected 128"),
    ("non_numeric", "test/Inertial Signals/body_gyro_y_test.txt, line 2, field 'sample 5'", "not a number"),
    ("unknown_label", "train/y_train.txt, line 6, field 'activity'", "unknown activity code 7"),
    ("missing_signal", "test/Inertial Signals/body_gyro_z_test.txt", "missing"),
    ("row_mismatch", "train/subject_train.txt", "has 10 rows but train/y_train.txt has 11"),
    ("window_mismatch", "train/Inertial Signals/total_acc_z_train.txt", "has 9 windows"),
    ("missing_activity_labels", "activity_labels.txt", "missing"),
    ("missing_split", "test", "folder is missing"),
    ("subject_not_integer", "train/subject_train.txt, line 2, field 'subject'", "not an integer"),
]


@pytest.mark.parametrize("kind,where,what", BAD, ids=[b[0] for b in BAD])
def test_bad_files_name_file_line_and_field(har, kind, where, what):
    _, root, _, _ = har
    _break(root, kind)
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("uci-har", root))
    msg = str(err.value)
    assert msg.startswith(where + (":" if ", line" not in where else "")), msg
    assert what in msg


def test_no_recording_before_both_splits_are_checked(har):
    _, root, _, _ = har
    _break(root, "non_numeric")  # the error is in the test split; train recordings must not come out first
    it = load_dataset("uci-har", root)
    with pytest.raises(DatasetFormatError, match="body_gyro_y_test"):
        next(it)


def test_not_a_uci_har_folder(tmp_path):
    with pytest.raises(DatasetFormatError, match="no UCI HAR folder"):
        list(load_dataset("uci-har", tmp_path))


# ----------------------------------------------------------------------------- real signals


@pytest.mark.skipif(not (REAL_HAPT / "RawData" / "labels.txt").is_file(),
                    reason=f"real HAPT data not found at {REAL_HAPT}")
def test_real_hapt_segments_in_uci_har_layout_round_trip(tmp_path):
    """UCI HAR windows are cut from the same phone's signals as HAPT: windows of the real exp01
    activity segments, written in the UCI HAR layout, come back as those segments."""
    raw = REAL_HAPT / "RawData"
    acc = np.loadtxt(raw / "acc_exp01_user01.txt")
    gyro = np.loadtxt(raw / "gyro_exp01_user01.txt")
    labels = np.loadtxt(raw / "labels.txt", dtype=int)
    segs = [(1, a, np.concatenate([acc[s:e + 1], acc[s:e + 1] * 0.0, gyro[s:e + 1]], axis=1))
            for exp, user, a, s, e in labels if exp == 1 and a <= 6 and e - s + 1 >= 128]
    root = tmp_path / "UCI HAR Dataset"
    root.mkdir()
    (root / "activity_labels.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(ACTIVITIES, 1)))
    write_split(root, "train", segs[:6])
    write_split(root, "test", segs[6:])
    recs = list(load_dataset("uci-har", root))
    assert len(recs) == len(segs)  # no two segments joined, none split
    for rec, (_, act, x) in zip(recs, segs, strict=True):
        n = rec.n_frames
        assert n == 128 + 64 * ((x.shape[0] - 128) // 64)
        np.testing.assert_allclose(rec.select(ACC), x[:n, :3] * G, rtol=1e-6, atol=1e-5)
        assert (rec.labels == act).all()
    standing = np.concatenate([r.select(ACC) for r in recs if r.labels[0] == 5])
    # this subject's phone reads about 1.035 g at rest (all 30 subjects: median 1.023 g)
    assert abs(np.median(np.linalg.norm(standing, axis=1)) - 9.81) < 0.05 * 9.81
