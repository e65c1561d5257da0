"""PAMAP2 loader on files written in the published .dat layout (54 space-separated columns)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, datasets, load_dataset
from virtimu.labels.maps import get_label_space


def make_rows(n: int, activity, t0: float = 5.0, step: float = 0.01) -> np.ndarray:
    """(n, 54) rows: column c (0-based) of row i holds c + i/1000, except timestamp, activityID, heart rate."""
    x = np.arange(54)[None, :] + np.arange(n)[:, None] * 1e-3
    x[:, 0] = t0 + step * np.arange(n)
    x[:, 1] = activity
    x[:, 2] = np.nan
    x[::9, 2] = 104.0  # heart rate ~9 Hz
    for base in (3, 20, 37):
        x[:, base + 13: base + 17] = [1.0, 0.0, 0.0, 0.0]  # invalid orientation
    return x


def write_dat(path: Path, rows: np.ndarray) -> Path:
    """Space-separated like the dataset: '8.38 0 104 30 2.37223 ...', NaN for missing values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in rows:
        cells = [f"{r[0]:.2f}", f"{int(r[1])}" if np.isfinite(r[1]) else "NaN"]
        cells += ["NaN" if not np.isfinite(v) else f"{v:.6f}" for v in r[2:]]
        lines.append(" ".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_registered_with_label_space():
    d = datasets()["pamap2"]
    assert d.fs == 100.0 and d.sites == ("right_wrist", "chest", "right_shin") and d.label_space == "pamap2"
    space = get_label_space("pamap2")
    assert set(space.codes) == {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 24}
    assert space.name_of(7) == "Nordic walking" and space.name_of(24) == "rope jumping"


def test_columns_units_labels_and_sessions(tmp_path):
    n = 12
    acts = np.array([0, 0, 1, 1, 2, 3, 24, 24, 17, 0, 5, 5])
    rows = make_rows(n, acts)
    rows[4, 4:7] = np.nan  # hand IMU drop-out
    root = tmp_path / "PAMAP2_Dataset"
    write_dat(root / "Protocol" / "subject101.dat", rows)
    write_dat(root / "Optional" / "subject105.dat", make_rows(5, 19))
    recs = list(load_dataset("pamap2", tmp_path))
    assert [r.name for r in recs] == ["protocol_subject101", "optional_subject105"]
    assert [r.subject for r in recs] == ["101", "105"]
    r = recs[0]
    assert r.fs == 100.0 and r.source == "pamap2" and r.attrs == {"kind": "real", "dataset": "pamap2"}
    assert len(r.channels) == 27 and r.channels[:3] == ["right_wrist/acc_x", "right_wrist/acc_y", "right_wrist/acc_z"]
    assert r.units[r.channels.index("chest/gyro_y")] == "rad/s" and r.units[r.channels.index("right_shin/mag_z")] == "uT"
    i = np.arange(n) * 1e-3
    # 1-based columns (readme): hand 4-20, chest 21-37, ankle 38-54; in each: temp, acc16 x-z, acc6, gyro, mag
    for ch, col in (("right_wrist/acc_y", 6), ("chest/acc_x", 22), ("right_shin/gyro_z", 47),
                    ("right_shin/mag_z", 50), ("right_wrist/gyro_x", 11), ("chest/mag_y", 32)):
        got = r.select([ch])[:, 0]
        expect = (col - 1) + i
        ok = np.isfinite(got)
        np.testing.assert_allclose(got[ok], expect[ok], rtol=1e-6, err_msg=ch)
    assert not np.isfinite(r.select(["right_wrist/acc_x"])[4, 0])  # NaN kept, not filled
    assert np.isfinite(r.select(["right_wrist/gyro_x"])[4, 0])
    assert r.labels.tolist() == acts.tolist()
    assert r.label_map == get_label_space("pamap2").label_map()
    p = r.provenance
    assert p["files"] == ["PAMAP2_Dataset/Protocol/subject101.dat"] and p["native_fs_hz"] == 100.0
    assert set(p["axes"]) == set(r.channels) and "column 5" in p["axes"]["right_wrist/acc_x"]
    assert recs[1].labels.tolist() == [19] * 5


def test_timestamp_gap_is_nan_filled(tmp_path):
    a = make_rows(6, 4)
    b = make_rows(6, 4, t0=a[-1, 0] + 0.11)  # 10 missing samples
    write_dat(tmp_path / "Protocol" / "subject102.dat", np.vstack([a, b]))
    (r,) = load_dataset("pamap2", tmp_path)
    assert r.n_frames == 22
    gap = ~np.isfinite(r.signals).all(axis=1)
    assert np.flatnonzero(gap).tolist() == list(range(6, 16)) and (r.labels[gap] == 0).all()


def test_resampling_keeps_sine(tmp_path):
    n, f0, amp = 2000, 3.0, 4.0  # 20 s at 100 Hz
    rows = make_rows(n, 4)
    rows[:, 21] = amp * np.sin(2 * np.pi * f0 * np.arange(n) / 100.0)  # chest acc x
    write_dat(tmp_path / "Protocol" / "subject103.dat", rows)
    (r,) = load_dataset("pamap2", tmp_path, fs=50.0)
    y = r.select(["chest/acc_x"])[200:-200, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.fft.rfftfreq(y.size, 1 / 50.0)[np.argmax(spec)] == pytest.approx(f0, abs=0.1)
    assert np.sqrt(2) * y.std() == pytest.approx(amp, rel=0.03)


def _text(rows: np.ndarray) -> list[str]:
    return [" ".join(f"{v:.4f}" if np.isfinite(v) else "NaN" for v in r) for r in rows]


@pytest.mark.parametrize(
    "edit, line, field, words",
    [
        (lambda L: L[:3] + [" ".join(L[3].split()[:40])] + L[4:], 4, None, "40 columns, expected 54"),
        (lambda L: L[:2] + [L[2].replace(L[2].split()[22], "abc", 1)] + L[3:], 3, "chest/acc_y", "'abc'"),
        (lambda L: L[:4] + [" ".join(["5.0400", "8.0000", *L[4].split()[2:]])] + L[5:], 5, "activityID",
         "unknown label code 8"),
        (lambda L: L[:1] + [" ".join(["5.0100", "2.5000", *L[1].split()[2:]])] + L[2:], 2, "activityID",
         "not an integer"),
        (lambda L: L[:2] + [" ".join(["5.0000", *L[2].split()[1:]])] + L[3:], 3, "timestamp", "does not increase"),
    ],
    ids=["truncated", "non-numeric", "unknown-activity", "fractional-activity", "backward-time"],
)
def test_bad_rows_name_file_line_and_field(tmp_path, edit, line, field, words):
    lines = edit(_text(make_rows(6, 1)))
    f = tmp_path / "Protocol" / "subject104.dat"
    f.parent.mkdir()
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("pamap2", tmp_path))
    assert err.value.file == "Protocol/subject104.dat" and err.value.line == line and err.value.field == field
    assert words in str(err.value)


def test_reads_the_inner_zip_of_the_uci_archive(tmp_path):
    rows = make_rows(5, 3)
    src = write_dat(tmp_path / "src" / "subject107.dat", rows)
    with zipfile.ZipFile(tmp_path / "PAMAP2_Dataset.zip", "w") as zf:
        zf.write(src, "PAMAP2_Dataset/Protocol/subject107.dat")
        zf.writestr("PAMAP2_Dataset/DataCollectionProtocol.pdf", b"%PDF")
    (r,) = load_dataset("pamap2", tmp_path)
    assert (r.name, r.subject) == ("protocol_subject107", "107") and r.labels.tolist() == [3] * 5
    assert r.provenance["files"] == ["PAMAP2_Dataset.zip/PAMAP2_Dataset/Protocol/subject107.dat"]
    np.testing.assert_allclose(r.select(["chest/acc_x"])[:, 0], rows[:, 21], rtol=1e-6)


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(DatasetFormatError, match="no PAMAP2 files"):
        list(load_dataset("pamap2", tmp_path))
    (tmp_path / "PAMAP2_Dataset.zip").write_bytes(b"PK")
    with pytest.raises(DatasetFormatError, match="not a zip archive"):
        list(load_dataset("pamap2", tmp_path))
    (tmp_path / "Protocol").mkdir()
    with pytest.raises(DatasetFormatError, match="no subjectNNN.dat"):
        list(load_dataset("pamap2", tmp_path))
