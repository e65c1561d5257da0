"""HARTH / HAR70+ loaders on files written in the published CSV layout."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, G, datasets, load_dataset
from virtimu.datasets.harth import fill_gaps
from virtimu.labels.maps import get_label_space

HEADER = "timestamp,back_x,back_y,back_z,thigh_x,thigh_y,thigh_z,label"
BASE = dt.datetime(2019, 1, 12)


def stamps(n: int, step_ms: float = 20.0, start: dt.datetime = BASE) -> list[str]:
    """HARTH-style timestamps ('2019-01-12 00:00:00.020')."""
    return [(start + dt.timedelta(milliseconds=step_ms * i)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            for i in range(n)]


def write_csv(path: Path, ts: list[str], acc: np.ndarray, labels, header: str = HEADER,
              extra: str | None = None) -> Path:
    """One subject file; ``extra`` = 'index' (S015/S021 style) or 'unnamed' (S023 style)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    if extra == "index":
        lines.append(header.replace("timestamp,", "timestamp,index,"))
    elif extra == "unnamed":
        lines.append("," + header)
    else:
        lines.append(header)
    for i, (t, a, y) in enumerate(zip(ts, acc, labels)):
        vals = ",".join(f"{v:.6f}" for v in a)
        if extra == "index":
            lines.append(f"{t},{i},{vals},{y}")
        elif extra == "unnamed":
            lines.append(f"{i},{t},{vals},{y}")
        else:
            lines.append(f"{t},{vals},{y}")
    path.write_text("\n".join(lines) + "\n")
    return path


def standing(n: int, seed: int = 0) -> np.ndarray:
    """(n, 6) g: about +1 g on back_x and thigh_x, small noise."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(scale=0.05, size=(n, 6))
    acc[:, 0] += 1.0
    acc[:, 3] += 1.0
    return acc


def test_registered_with_complete_info():
    info = datasets()
    for name, space in (("harth", "harth"), ("har70plus", "har70plus")):
        d = info[name]
        assert d.fs == 50.0 and d.sites == ("back", "right_thigh") and d.label_space == space
        assert d.licence == "CC BY 4.0" and d.download_url.startswith("https://archive.ics.uci.edu/static/public/")
        assert d.citation and d.layout and d.url


def test_units_axes_labels_and_subject(tmp_path):
    n = 10
    acc = standing(n)
    codes = [6, 6, 7, 1, 13, 14, 130, 140, 8, 2]
    write_csv(tmp_path / "harth" / "S006.csv", stamps(n), acc, codes)
    recs = list(load_dataset("harth", tmp_path))
    assert len(recs) == 1
    r = recs[0]
    assert r.channels == ["back/acc_x", "back/acc_y", "back/acc_z",
                          "right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z"]
    assert r.units == ["m/s^2"] * 6 and r.fs == 50.0
    np.testing.assert_allclose(r.signals, acc * G, rtol=1e-6, atol=1e-5)
    assert r.select(["back/acc_x"])[:, 0].mean() == pytest.approx(G, abs=0.5)
    assert r.labels.tolist() == codes
    assert r.label_map == get_label_space("harth").label_map()
    assert (r.subject, r.name, r.source) == ("S006", "S006", "harth")
    assert r.attrs == {"kind": "real", "dataset": "harth"}
    p = r.provenance
    assert p["files"] == ["harth/S006.csv"] and p["native_fs_hz"] == 50.0 and p["dataset"] == "harth"
    assert set(p["axes"]) == set(r.channels) and "back_x" in p["axes"]["back/acc_x"]
    assert p["start_time"].startswith("2019-01-12T00:00:00")


@pytest.mark.parametrize("extra", ["index", "unnamed"])
def test_extra_index_columns_of_published_files_are_ignored(tmp_path, extra):
    n = 8
    acc = standing(n, seed=1)
    write_csv(tmp_path / "S015.csv", stamps(n), acc, [1] * n, extra=extra)
    (r,) = load_dataset("harth", tmp_path)
    np.testing.assert_allclose(r.signals, acc * G, rtol=1e-6, atol=1e-5)
    assert r.provenance["ignored_columns"] == (["index"] if extra == "index" else [""])


def test_har70plus_subjects_and_labels(tmp_path):
    n = 7
    for subj, codes in (("501", [1, 3, 4, 5, 6, 7, 8]), ("502", [8] * 7)):
        write_csv(tmp_path / "har70plus" / f"{subj}.csv", stamps(n), standing(n), codes)
    recs = list(load_dataset("har70plus", tmp_path / "har70plus"))
    assert [r.subject for r in recs] == ["501", "502"] and [r.name for r in recs] == ["501", "502"]
    assert recs[0].labels.tolist() == [1, 3, 4, 5, 6, 7, 8]
    assert recs[0].source == "har70plus" and recs[0].label_map == get_label_space("har70plus").label_map()


def test_har70plus_rejects_harth_only_code(tmp_path):
    write_csv(tmp_path / "501.csv", stamps(4), standing(4), [1, 1, 2, 1])
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("har70plus", tmp_path))
    assert err.value.file == "501.csv" and err.value.line == 4 and err.value.field == "label"
    assert "unknown label code 2" in str(err.value)


def test_gaps_are_nan_filled_joined_or_split(tmp_path):
    # rows: 5 regular, then a step of 40 ms (1 missing: joined), 4 regular, a step of 200 ms
    # (9 missing: NaN-filled), 5 regular, then a 120 s pause (split), 6 regular.
    t_ms = [20 * i for i in range(5)]
    t_ms += [t_ms[-1] + 40 + 20 * i for i in range(4)]
    t_ms += [t_ms[-1] + 200 + 20 * i for i in range(5)]
    t_ms += [t_ms[-1] + 120_000 + 20 * i for i in range(6)]
    ts = [(BASE + dt.timedelta(milliseconds=m)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] for m in t_ms]
    n = len(ts)
    acc = standing(n, seed=2)
    write_csv(tmp_path / "S010.csv", ts, acc, [7] * n)
    a, b = load_dataset("harth", tmp_path)
    assert (a.name, b.name) == ("S010_seg00", "S010_seg01") and a.subject == b.subject == "S010"
    assert a.n_frames == 5 + 4 + 9 + 5 and b.n_frames == 6
    gap = ~np.isfinite(a.signals).any(axis=1)
    assert np.flatnonzero(gap).tolist() == list(range(9, 18))
    assert (a.labels[gap] == 0).all() and (a.labels[~gap] == 7).all()
    np.testing.assert_allclose(a.signals[~gap], acc[:14] * G, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(b.signals, acc[14:] * G, rtol=1e-6, atol=1e-5)
    assert a.provenance["gaps_filled"] == 1 and a.provenance["frames_filled"] == 9
    assert b.provenance["segment"] == 1 and b.provenance["n_segments"] == 2


def test_fill_gaps_counts_short_steps():
    t = np.array([0.0, 0.01, 0.02, 0.04, 0.06])
    (seg,), short = fill_gaps(t, 50.0, "x.csv")
    assert short == 2 and seg.n_frames == 5 and seg.frames.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("fs", [25.0, 100.0])
def test_resampling_keeps_sine_frequency_and_amplitude(tmp_path, fs):
    n, f0, amp = 1000, 2.0, 0.5  # 20 s at 50 Hz, 2 Hz, 0.5 g
    t = np.arange(n) / 50.0
    acc = np.zeros((n, 6))
    acc[:, 1] = amp * np.sin(2 * np.pi * f0 * t)
    write_csv(tmp_path / "S006.csv", stamps(n), acc, [1] * n)
    (r,) = load_dataset("harth", tmp_path, fs=fs)
    assert r.fs == fs and r.provenance["resampled_from_hz"] == 50.0
    y = r.select(["back/acc_y"])[:, 0].astype(np.float64)
    core = y[len(y) // 10: -len(y) // 10]
    spec = np.abs(np.fft.rfft(core * np.hanning(core.size)))
    freqs = np.fft.rfftfreq(core.size, 1.0 / fs)
    assert freqs[np.argmax(spec)] == pytest.approx(f0, abs=0.1)
    assert np.sqrt(2) * core.std() == pytest.approx(amp * G, rel=0.03)


def set_cell(rows: list[str], i: int, j: int, value: str) -> list[str]:
    """Copy of ``rows`` with cell j of data row i replaced."""
    cells = rows[i].split(",")
    cells[j] = value
    return rows[:i] + [",".join(cells)] + rows[i + 1:]


def _rows(n: int) -> list[str]:
    acc = standing(n)
    return [f"{t}," + ",".join(f"{v:.6f}" for v in a) + ",6" for t, a in zip(stamps(n), acc)]


@pytest.mark.parametrize(
    "edit, line, field, words",
    [
        (lambda r: r[:-1] + [r[-1].rsplit(",", 3)[0]], 6, None, "columns, expected 8"),
        (lambda r: set_cell(r, 2, 2, "abc"), 4, "back_y", "'abc' is not a number"),
        (lambda r: set_cell(r, 3, 7, "9"), 5, "label", "unknown label code 9"),
        (lambda r: set_cell(r, 1, 0, "yesterday"), 3, "timestamp", "not a date-time"),
        (lambda r: r[:3] + [r[1]] + r[4:], 5, "timestamp", "does not increase"),
    ],
    ids=["truncated", "non-numeric", "unknown-label", "bad-timestamp", "backward-time"],
)
def test_bad_rows_name_file_line_and_field(tmp_path, edit, line, field, words):
    rows = edit(_rows(5))
    (tmp_path / "S006.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("harth", tmp_path))
    assert err.value.file == "S006.csv" and err.value.line == line and err.value.field == field
    assert words in str(err.value) and "S006.csv, line" in str(err.value)


@pytest.mark.parametrize(
    "header, field, words",
    [
        (HEADER.replace("label", "activity"), "activity", "unexpected column 'activity'"),
        (HEADER.replace(",thigh_z", ""), "thigh_z", "lacks columns ['thigh_z']"),
    ],
)
def test_bad_header_names_the_field(tmp_path, header, field, words):
    (tmp_path / "S006.csv").write_text(header + "\n" + "\n".join(_rows(3)) + "\n")
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("harth", tmp_path))
    assert err.value.field == field and err.value.line == 1 and words in str(err.value)


def test_missing_files_and_empty_file(tmp_path):
    with pytest.raises(DatasetFormatError, match="no harth subject files"):
        list(load_dataset("harth", tmp_path))
    (tmp_path / "S006.csv").write_text("")
    with pytest.raises(DatasetFormatError, match="empty file"):
        list(load_dataset("harth", tmp_path))
    (tmp_path / "S006.csv").write_text(HEADER + "\n")
    with pytest.raises(DatasetFormatError, match="no data rows"):
        list(load_dataset("harth", tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(load_dataset("harth", tmp_path / "absent"))
