"""JSI-FOS loader on files written in the CSV layout virtimu defines for it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, G, datasets, load_dataset
from virtimu.labels.maps import get_label_space


def write_csv(path: Path, t, acc: np.ndarray, labels, time_col: str = "timestamp",
              header: str | None = None) -> Path:
    header = header or f"{time_col},acc_x,acc_y,acc_z,label"
    lines = [header] + [f"{ti:.3f},{a[0]:.6f},{a[1]:.6f},{a[2]:.6f},{y}" for ti, a, y in zip(t, acc, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrist(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acc = rng.normal(scale=0.1, size=(n, 3))
    acc[:, 1] -= 1.0
    return acc


def test_registered_without_download():
    d = datasets()["jsi-fos"]
    assert d.fs == 50.0 and d.sites == ("right_wrist",) and d.label_space == "jsifos18"
    assert d.download_url is None and "not publicly downloadable" in d.instructions


def test_units_site_labels_subjects_and_time_units(tmp_path):
    n = 6
    acc1, acc2 = wrist(n, 1), wrist(n, 2)
    names = ["Lying back", "lying_back", "", "walking", "Standing-leaning still", "null"]
    write_csv(tmp_path / "S01.csv", 100.0 + 0.02 * np.arange(n), acc1, names)
    write_csv(tmp_path / "S02.csv", 20.0 * np.arange(n), acc2, ["cycling"] * n, time_col="timestamp_ms")
    r1, r2 = load_dataset("jsi-fos", tmp_path)
    space = get_label_space("jsifos18")
    assert (r1.subject, r1.name, r2.subject) == ("S01", "S01", "S02")
    assert r1.channels == ["right_wrist/acc_x", "right_wrist/acc_y", "right_wrist/acc_z"]
    assert r1.units == ["m/s^2"] * 3 and r1.fs == 50.0 and r1.source == "jsi-fos"
    np.testing.assert_allclose(r1.signals, acc1 * G, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(r2.signals, acc2 * G, rtol=1e-6, atol=1e-5)
    assert r1.labels.tolist() == [space.code("lying_back")] * 2 + [0, space.code("walking"),
                                                                   space.code("standing_leaning_still"), 0]
    assert (r2.labels == space.code("cycling")).all() and r2.n_frames == n  # ms read as ms: no gaps
    assert r1.label_map == space.label_map() and r1.attrs == {"kind": "real", "dataset": "jsi-fos"}
    assert r2.provenance["time_column"] == "timestamp_ms" and r1.provenance["files"] == ["S01.csv"]
    assert set(r1.provenance["axes"]) == set(r1.channels)


def test_gap_and_resampling(tmp_path):
    n, f0, amp = 1000, 1.5, 0.8
    t = np.arange(n) / 50.0
    acc = np.zeros((n, 3))
    acc[:, 2] = amp * np.sin(2 * np.pi * f0 * t)
    write_csv(tmp_path / "7.csv", t, acc, ["walking"] * n)
    (r,) = load_dataset("jsi-fos", tmp_path, fs=25.0)
    y = r.select(["right_wrist/acc_z"])[50:-50, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.fft.rfftfreq(y.size, 1 / 25.0)[np.argmax(spec)] == pytest.approx(f0, abs=0.1)
    assert np.sqrt(2) * y.std() == pytest.approx(amp * G, rel=0.03)

    t2 = np.concatenate([t[:10], t[10:20] + 1.0])  # 50 missing samples
    write_csv(tmp_path / "7.csv", t2, acc[:20], ["walking"] * 20)
    (r,) = load_dataset("jsi-fos", tmp_path)
    assert r.n_frames == 70 and np.isnan(r.signals[10:60]).all() and (r.labels[10:60] == 0).all()


@pytest.mark.parametrize(
    "kind, line, field, words",
    [
        ("unknown-activity", 4, "label", "unknown activity 'dancing'"),
        ("ms-in-seconds-column", 1, "timestamp", "looks like milliseconds"),
        ("extra-column", 1, "gyro_x", "unexpected column 'gyro_x'"),
        ("missing-column", 1, "acc_z", "lacks columns ['acc_z']"),
        ("truncated", 5, None, "columns, expected 5"),
        ("non-numeric", 3, "acc_y", "'x' is not a number"),
    ],
)
def test_bad_files_name_file_line_and_field(tmp_path, kind, line, field, words):
    n = 4
    f = tmp_path / "S03.csv"
    labels = ["walking"] * n
    t = 0.02 * np.arange(n)
    if kind == "unknown-activity":
        labels[2] = "dancing"
        write_csv(f, t, wrist(n), labels)
    elif kind == "ms-in-seconds-column":
        write_csv(f, 20.0 * np.arange(n), wrist(n), labels)
    elif kind == "extra-column":
        write_csv(f, t, wrist(n), labels, header="timestamp,acc_x,acc_y,acc_z,label,gyro_x")
    elif kind == "missing-column":
        write_csv(f, t, wrist(n), labels, header="timestamp,acc_x,acc_y,label")
    else:
        write_csv(f, t, wrist(n), labels)
        rows = f.read_text().splitlines()
        if kind == "truncated":
            rows[-1] = rows[-1].rsplit(",", 2)[0]
        else:
            cells = rows[2].split(",")
            cells[2] = "x"
            rows[2] = ",".join(cells)
        f.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetFormatError) as err:
        list(load_dataset("jsi-fos", tmp_path))
    assert err.value.file == "S03.csv" and err.value.line == line and err.value.field == field
    assert words in str(err.value)


def test_no_files(tmp_path):
    with pytest.raises(DatasetFormatError, match="no <subject>.csv"):
        list(load_dataset("jsi-fos", tmp_path))
