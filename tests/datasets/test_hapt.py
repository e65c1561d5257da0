"""UCI HAPT raw loader: files written in the archive's RawData layout, plus the real copy in shared/data/hapt."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, G, load_dataset
from virtimu.datasets.hapt import CHANNELS, load_hapt
from virtimu.labels.maps import get_label_map, get_label_space
from virtimu.windows import WindowConfig, make_windows

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hapt"
needs_real = pytest.mark.skipif(not (REAL / "RawData" / "labels.txt").is_file(),
                                reason=f"real HAPT data not found at {REAL}")

ACTIVITIES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING",
              "STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND"]


def write_xyz(path: Path, values: np.ndarray) -> None:
    """x y z per line, single spaces (as in RawData/acc_expXX_userYY.txt)."""
    path.write_text("".join(" ".join(f"{v:.12g}" for v in row) + "\n" for row in values), encoding="ascii")


def write_hapt(raw: Path, experiments: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]],
               segments: list[tuple[int, int, int, int, int]], activity_dir: Path | None = None) -> None:
    """A RawData folder: acc (g) / gyro (rad/s) per (exp, user), labels.txt rows, activity_labels.txt."""
    raw.mkdir(parents=True, exist_ok=True)
    for (exp, user), (acc, gyro) in experiments.items():
        write_xyz(raw / f"acc_exp{exp:02d}_user{user:02d}.txt", acc)
        write_xyz(raw / f"gyro_exp{exp:02d}_user{user:02d}.txt", gyro)
    (raw / "labels.txt").write_text("".join(" ".join(map(str, s)) + "\n" for s in segments), encoding="ascii")
    (activity_dir or raw).joinpath("activity_labels.txt").write_text(
        "".join(f"{i} {n}\n" for i, n in enumerate(ACTIVITIES, 1)), encoding="ascii")


def small_experiments(seed: int = 0) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for exp, user, n in [(1, 1, 20), (2, 1, 15), (3, 2, 12)]:
        acc = np.round(rng.normal(scale=0.5, size=(n, 3)) + [1.0, 0.0, 0.0], 6)
        gyro = np.round(rng.normal(scale=0.2, size=(n, 3)), 6)
        out[(exp, user)] = (acc, gyro)
    return out


SEGMENTS = [(1, 1, 5, 3, 7), (1, 1, 7, 8, 10), (1, 1, 4, 11, 18), (2, 1, 1, 0, 14), (3, 2, 12, 5, 5)]


@pytest.fixture
def hapt_dir(tmp_path: Path) -> tuple[Path, dict]:
    exps = small_experiments()
    write_hapt(tmp_path / "hapt" / "RawData", exps, SEGMENTS)
    return tmp_path / "hapt", exps


def test_units_channels_subjects_and_provenance(hapt_dir):
    root, exps = hapt_dir
    recs = list(load_dataset("hapt", root))
    assert [r.name for r in recs] == ["exp01_user01", "exp02_user01", "exp03_user02"]
    assert [r.subject for r in recs] == ["1", "1", "2"]
    for rec, ((exp, user), (acc, gyro)) in zip(recs, sorted(exps.items()), strict=True):
        assert rec.channels == CHANNELS == ["waist/acc_x", "waist/acc_y", "waist/acc_z",
                                            "waist/gyro_x", "waist/gyro_y", "waist/gyro_z"]
        assert rec.units == ["m/s^2"] * 3 + ["rad/s"] * 3
        assert rec.fs == 50.0 and rec.source == "hapt"
        np.testing.assert_allclose(rec.select(CHANNELS[:3]), acc * G, rtol=1e-6)
        np.testing.assert_allclose(rec.select(CHANNELS[3:]), gyro, rtol=1e-6, atol=1e-7)
        assert rec.attrs == {"kind": "real", "dataset": "hapt"}
        assert rec.label_map == get_label_space("hapt12").label_map()
        prov = rec.provenance
        assert prov["dataset"] == "hapt" and prov["fs"] == 50.0
        assert prov["files"] == [f"RawData/acc_exp{exp:02d}_user{user:02d}.txt",
                                 f"RawData/gyro_exp{exp:02d}_user{user:02d}.txt", "RawData/labels.txt"]
        assert prov["axes"]["waist/acc_x"].startswith("phone x")
        assert not np.isnan(rec.signals).any()


def test_label_rows_are_zero_based_inclusive(hapt_dir):
    root, _ = hapt_dir
    recs = {r.name: r for r in load_dataset("hapt", root)}
    expected = np.zeros(20, dtype=np.int64)
    expected[3:8], expected[8:11], expected[11:19] = 5, 7, 4  # rows start..end inclusive
    np.testing.assert_array_equal(recs["exp01_user01"].labels, expected)
    np.testing.assert_array_equal(recs["exp02_user01"].labels, np.ones(15))
    lab3 = recs["exp03_user02"].labels
    assert lab3[5] == 12 and np.count_nonzero(lab3) == 1


def test_label_rows_one_based_option_shifts_by_one(hapt_dir):
    root, _ = hapt_dir
    with pytest.raises(DatasetFormatError, match=r"labels.txt, line 4, field 'start'.*before the first row"):
        next(load_hapt(root, index_base=1))  # '2 1 1 0 14': row 0 does not exist when counting from 1
    (root / "RawData" / "labels.txt").write_text("1 1 5 3 7\n1 1 7 8 10\n1 1 4 11 18\n")
    rec = next(load_hapt(root, index_base=1))
    expected = np.zeros(20, dtype=np.int64)
    expected[2:7], expected[7:10], expected[10:18] = 5, 7, 4
    np.testing.assert_array_equal(rec.labels, expected)
    with pytest.raises(ValueError, match="index_base"):
        next(load_hapt(root, index_base=2))


def test_archive_layout_with_activity_labels_beside_rawdata(tmp_path):
    exps = small_experiments(1)
    top = tmp_path / "HAPT Data Set"
    write_hapt(top / "RawData", exps, SEGMENTS, activity_dir=top)
    assert not (top / "RawData" / "activity_labels.txt").exists()
    for root in (tmp_path, top, top / "RawData"):
        recs = list(load_dataset("hapt", root))
        assert len(recs) == 3
        np.testing.assert_allclose(recs[0].signals[:, 0], exps[(1, 1)][0][:, 0] * G, rtol=1e-6)


def test_experiment_without_segments_is_all_null(tmp_path, caplog):
    exps = small_experiments()
    write_hapt(tmp_path / "RawData", exps, [s for s in SEGMENTS if s[0] != 2])
    with caplog.at_level(logging.WARNING, logger="virtimu.datasets.hapt"):
        recs = {r.name: r for r in load_dataset("hapt", tmp_path)}
    assert not recs["exp02_user01"].labels.any()
    assert "no rows in labels.txt" in caplog.text


def test_resampling_keeps_sine_frequency_and_amplitude(tmp_path):
    fs, f0, amp, n = 50.0, 2.0, 0.5, 1000
    t = np.arange(n) / fs
    acc = np.stack([1.0 + amp * np.sin(2 * np.pi * f0 * t), np.zeros(n), np.zeros(n)], axis=1)
    write_hapt(tmp_path / "RawData", {(1, 1): (acc, np.zeros((n, 3)))}, [(1, 1, 1, 100, 899)])
    rec = next(load_dataset("hapt", tmp_path, fs=20.0))
    assert rec.fs == 20.0 and rec.n_frames == 400
    x = rec.select(["waist/acc_x"])[40:-40, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(x - x.mean()))
    freq = np.fft.rfftfreq(x.size, 1 / 20.0)[np.argmax(spec)]
    assert abs(freq - f0) < 0.1
    assert abs(np.sqrt(2) * x.std() - amp * G) < 0.02 * amp * G  # 32 whole periods: rms * sqrt(2) = amplitude
    assert abs(x.mean() - G) < 0.01 * G
    assert rec.labels[40] == 1 and rec.labels[0] == 0  # nearest-frame labels: frame 100 at 50 Hz = 2 s


# ----------------------------------------------------------------------------- bad files


def _break(root: Path, kind: str) -> None:
    raw = root / "RawData"
    acc1 = raw / "acc_exp01_user01.txt"
    lines = acc1.read_text().splitlines(keepends=True)
    if kind == "truncated":
        lines[3] = " ".join(lines[3].split()[:2]) + "\n"
        acc1.write_text("".join(lines))
    elif kind == "non_numeric":
        parts = lines[5].split()
        parts[1] = "0.12x"
        lines[5] = " ".join(parts) + "\n"
        acc1.write_text("".join(lines))
    elif kind == "unknown_label":
        (raw / "labels.txt").write_text("1 1 5 3 7\n1 1 13 8 10\n")
    elif kind == "past_end":
        (raw / "labels.txt").write_text("1 1 5 3 7\n2 1 1 0 15\n")
    elif kind == "overlap":
        (raw / "labels.txt").write_text("1 1 5 3 7\n1 1 4 7 9\n")
    elif kind == "reversed":
        (raw / "labels.txt").write_text("1 1 5 7 3\n")
    elif kind == "fractional":
        (raw / "labels.txt").write_text("1 1 5 3 7\n1 1 4 8.5 9\n")
    elif kind == "labels_columns":
        (raw / "labels.txt").write_text("1 1 5 3 7\n1 1 4 8\n")
    elif kind == "missing_gyro":
        (raw / "gyro_exp02_user01.txt").unlink()
    elif kind == "row_mismatch":
        gyro = raw / "gyro_exp02_user01.txt"
        gyro.write_text("".join(gyro.read_text().splitlines(keepends=True)[:-1]))
    elif kind == "unknown_experiment":
        (raw / "labels.txt").write_text("1 1 5 3 7\n9 4 1 0 5\n")
    elif kind == "missing_activity_labels":
        (raw / "activity_labels.txt").unlink()
    elif kind == "renamed_activity":
        (raw / "activity_labels.txt").write_text("1 WALKING\n2 CLIMBING\n")
    elif kind == "missing_labels":
        (raw / "labels.txt").unlink()
    else:  # pragma: no cover
        raise AssertionError(kind)


BAD = [
    ("truncated", "RawData/acc_exp01_user01.txt, line 4", "expected 3"),
    ("non_numeric", "RawData/acc_exp01_user01.txt, line 6, field 'y'", "not a number"),
    ("unknown_label", "RawData/labels.txt, line 2, field 'activity'", "unknown activity code 13"),
    ("past_end", "RawData/labels.txt, line 2, field 'end'", "run past the end"),
    ("overlap", "RawData/labels.txt, line 2, field 'start'", "overlap"),
    ("reversed", "RawData/labels.txt, line 1, field 'end'", "< start"),
    ("fractional", "RawData/labels.txt, line 2, field 'start'", "not an integer"),
    ("labels_columns", "RawData/labels.txt, line 2", "expected 5"),
    ("missing_gyro", "RawData/gyro_exp02_user01.txt", "missing"),
    ("row_mismatch", "RawData/gyro_exp02_user01.txt", "has 14 rows"),
    ("unknown_experiment", "RawData/labels.txt, line 2, field 'experiment'", "no acc_exp09_user04.txt"),
    ("missing_activity_labels", "RawData/activity_labels.txt", "missing"),
    ("renamed_activity", "RawData/activity_labels.txt, line 2, field 'name'", "'CLIMBING'"),
    ("missing_labels", "RawData/labels.txt", "missing"),
]


@pytest.mark.parametrize("kind,where,what", BAD, ids=[b[0] for b in BAD])
def test_bad_files_name_file_line_and_field(hapt_dir, kind, where, what):
    root, _ = hapt_dir
    _break(root, kind)
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("hapt", root))
    assert str(err.value).startswith(where), str(err.value)
    assert what in str(err.value)


def test_a_bad_second_experiment_does_not_spoil_the_first(hapt_dir):
    root, _ = hapt_dir
    _break(root, "row_mismatch")
    it = load_dataset("hapt", root)
    assert next(it).name == "exp01_user01"  # complete and valid
    with pytest.raises(DatasetFormatError, match="gyro_exp02_user01"):
        next(it)


def test_missing_folder_and_no_rawdata(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(load_dataset("hapt", tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="no HAPT RawData folder"):
        list(load_dataset("hapt", tmp_path / "empty"))


# ----------------------------------------------------------------------------- real data


@needs_real
def test_real_first_experiment(tmp_path):
    """exp01_user01 copied alone: the published first row, row count and first segments."""
    raw = tmp_path / "RawData"
    raw.mkdir()
    for name in ("acc_exp01_user01.txt", "gyro_exp01_user01.txt", "activity_labels.txt"):
        shutil.copy(REAL / "RawData" / name, raw / name)
    rows = [ln for ln in (REAL / "RawData" / "labels.txt").read_text().splitlines() if ln.split()[:2] == ["1", "1"]]
    (raw / "labels.txt").write_text("\n".join(rows) + "\n")
    rec = next(load_dataset("hapt", tmp_path))
    assert rec.name == "exp01_user01" and rec.subject == "1" and rec.n_frames == 20598
    np.testing.assert_allclose(rec.signals[0, :3], np.array([0.918055589877, -0.112499999424, 0.509722251429]) * G,
                               rtol=1e-6)
    # labels.txt starts "1 1 5 250 1232", "1 1 7 1233 1392": rows 250..1232 standing, then stand-to-sit
    assert rec.labels[249] == 0 and rec.labels[250] == 5 and rec.labels[1232] == 5 and rec.labels[1233] == 7
    assert rec.labels[1392] == 7 and rec.labels[1393] == 4


#: Segments per activity in the real copy (its README).
REAL_SEGMENTS = {1: 127, 2: 183, 3: 186, 4: 120, 5: 120, 6: 120, 7: 60, 8: 62, 9: 60, 10: 60, 11: 58, 12: 58}


def _segments_per_label(labels: np.ndarray) -> dict[int, int]:
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    codes, counts = np.unique(labels[starts], return_counts=True)
    return {int(c): int(n) for c, n in zip(codes, counts) if c != 0}


@pytest.fixture(scope="module")
def real_recordings():
    if not (REAL / "RawData" / "labels.txt").is_file():
        pytest.skip(f"real HAPT data not found at {REAL}")
    return list(load_dataset("hapt", REAL))


@needs_real
@pytest.mark.slow
def test_real_subjects_recordings_segments_and_gravity(real_recordings):
    recs = real_recordings
    assert len(recs) == 61
    assert len({r.name for r in recs}) == 61
    assert sorted({r.subject for r in recs}, key=int) == [str(i) for i in range(1, 31)]
    assert sum(r.n_frames for r in recs) == 1_122_772
    seg: dict[int, int] = {}
    for r in recs:
        for c, n in _segments_per_label(r.labels).items():
            seg[c] = seg.get(c, 0) + n
    assert seg == REAL_SEGMENTS
    labels = np.concatenate([r.labels for r in recs])
    assert np.count_nonzero(labels == 0) == 307_158
    acc = np.concatenate([r.select(CHANNELS[:3]) for r in recs])
    static = np.isin(labels, [4, 5, 6])
    med = float(np.median(np.linalg.norm(acc[static], axis=1)))
    assert abs(med - 9.81) < 0.03 * 9.81, med
    # standing: phone x points up (mount hapt_phone)
    standing = acc[labels == 5].mean(axis=0)
    assert standing[0] > 0.95 * G and abs(standing[1]) < 0.25 * G


@needs_real
@pytest.mark.slow
def test_real_uci_har_style_windows(real_recordings):
    to6 = get_label_map("hapt12", "uci_har6")

    def mapper(labels, _map):
        return to6.apply(labels), to6.dst.label_map()

    cfg = WindowConfig(length=128, overlap=0.5, purity=1.0, drop_null=True)
    ws, _report = make_windows(real_recordings, cfg, label_mapper=mapper)
    counts = ws.class_counts()
    assert set(counts) == {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"}
    assert ws.X.shape[1:] == (128, 6)
    # UCI HAR publishes 10299 windows (1722 / 1544 / 1406 / 1777 / 1906 / 1944): same order of magnitude
    assert 9000 < len(ws) < 11500, counts
    for name, n in counts.items():
        assert 1200 < n < 2300, (name, n)
    assert len(np.unique(ws.subject)) == 30
