"""Opportunity loader on files written in the published layout (OpportunityUCIDataset/dataset/)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from virtimu.datasets.base import DatasetFormatError, G, datasets, load_dataset
from virtimu.datasets.opportunity import raw_label_codes
from virtimu.labels.maps import get_label_space

FS = 30.0
N_COL = 250
RWR = (23, 24, 25)  # 1-based, as in column_names.txt
LOCO, GEST = 244, 250
LABEL_TRACKS = ["Locomotion", "HL_Activity", "LL_Left_Arm", "LL_Left_Arm_Object", "LL_Right_Arm",
                "LL_Right_Arm_Object", "ML_Both_Arms"]
SPACE = get_label_space("opportunity_raw")


def _column_names(rwr: tuple[int, int, int] = RWR, rwr_unit: str = "milli g") -> str:
    """column_names.txt in the dataset's format (sensor names beyond RWR abbreviated)."""
    lines = ["Data columns:", "Column: 1 MILLISEC"]
    rwr_names = {c: f"Accelerometer RWR acc{a}" for c, a in zip(rwr, "XYZ")}
    for col in range(2, 244):
        if col in rwr_names:
            lines.append(f"Column: {col} {rwr_names[col]}; value = round(original_value), unit = {rwr_unit}")
        else:
            lines.append(f"Column: {col} Accelerometer S{col} accX; value = round(original_value), unit = milli g")
    lines += ["", "Label columns: "]
    lines += [f"Column: {244 + i} {name}" for i, name in enumerate(LABEL_TRACKS)]
    return "\n".join(lines) + "\n"


def _table(T: int, acc_mg: np.ndarray | None = None, loco: np.ndarray | None = None,
           gest: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(-1000, 1000, size=(T, N_COL)).astype(np.float64)
    data[:, 0] = np.round(np.arange(T) * 1000.0 / FS) + 33  # MILLISEC
    data[:, [c - 1 for c in RWR]] = acc_mg if acc_mg is not None else [[0.0, 0.0, 1000.0]] * T
    data[:, 243:250] = 0
    data[:, LOCO - 1] = loco if loco is not None else 1
    data[:, GEST - 1] = gest if gest is not None else 0
    data[5, 100] = np.nan  # a gap in some other sensor
    return data


def _write_dat(path: Path, data: np.ndarray) -> None:
    def fmt(v: float) -> str:
        return "NaN" if np.isnan(v) else str(int(v))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" ".join(fmt(v) for v in row) for row in data) + "\n", encoding="utf-8")


def _dataset(tmp_path: Path, names: bool = True) -> Path:
    root = tmp_path / "OpportunityUCIDataset"
    ds = root / "dataset"
    T = 60
    acc = np.zeros((T, 3))
    acc[:, 0], acc[:, 1], acc[:, 2] = 1000.0, -500.0, 250.0
    acc[10, :] = np.nan  # RWR dropout
    loco = np.zeros(T)
    loco[:20], loco[20:40] = 1, 2
    gest = np.zeros(T)
    gest[25:35] = 407521  # Drink from Cup
    gest[40:50] = 406516  # Open Door 1 (locomotion null there)
    _write_dat(ds / "S1-ADL1.dat", _table(T, acc, loco, gest))
    _write_dat(ds / "S2-Drill.dat", _table(30, seed=1))
    if names:
        (ds / "column_names.txt").write_text(_column_names(), encoding="utf-8")
    return root


def test_registered_with_complete_info() -> None:
    info = datasets()["opportunity"]
    assert info.fs == FS and info.sites == ("right_wrist",) and info.label_space == "opportunity_raw"
    assert "archive.ics.uci.edu" in info.url and info.licence


@pytest.mark.parametrize("names", [True, False])
def test_units_labels_subjects(tmp_path: Path, names: bool) -> None:
    recs = list(load_dataset("opportunity", _dataset(tmp_path, names=names)))
    assert [r.name for r in recs] == ["S1-ADL1", "S2-Drill"]
    assert [r.subject for r in recs] == ["S1", "S2"]
    r = recs[0]
    assert r.channels == ["right_wrist/acc_x", "right_wrist/acc_y", "right_wrist/acc_z"]
    assert r.units == ["m/s^2"] * 3 and r.fs == FS and r.source == "opportunity"
    assert r.attrs == {"kind": "real", "dataset": "opportunity"}
    assert r.provenance["files"] == ["dataset/S1-ADL1.dat"] and r.provenance["native_fs"] == FS
    assert set(r.provenance["axes"]) == set(r.channels)
    expected = np.array([1.0, -0.5, 0.25]) * G
    good = np.delete(r.signals, 10, axis=0)
    np.testing.assert_allclose(good, np.tile(expected, (59, 1)), rtol=1e-6)
    assert np.isnan(r.signals[10]).all()  # the gap stays NaN
    # compact codes (virtimu.labels.compact) under the opportunity_raw names; raw codes recoverable
    assert sorted(r.label_map.values()) == sorted(SPACE.label_map().values())
    names_at = [r.label_map[int(c)] for c in r.labels[[0, 20, 30, 45, 55]]]
    assert [SPACE.codes[int(c)] for c in raw_label_codes(r)[[0, 20, 30, 45, 55]]] == names_at
    assert names_at == ["Stand", "Walk", "Walk + Drink from Cup", "Open Door 1", "null"]


def test_column_legend_is_read_by_name(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    # a legend that puts accX and accY the other way round must swap the channels
    (root / "dataset" / "column_names.txt").write_text(_column_names(rwr=(24, 23, 25)), encoding="utf-8")
    r = next(iter(load_dataset("opportunity", root)))
    np.testing.assert_allclose(r.signals[0], np.array([-0.5, 1.0, 0.25]) * G, rtol=1e-6)
    assert r.provenance["columns"]["Accelerometer RWR accX"] == 24

    (root / "dataset" / "column_names.txt").write_text(_column_names(rwr_unit="g"), encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"column_names\.txt, line 24, field 'Accelerometer RWR accX'"):
        list(load_dataset("opportunity", root))


def test_resampling_keeps_sine(tmp_path: Path) -> None:
    T, f, A = 900, 1.0, 800.0  # 30 s at 30 Hz, 1 Hz, 800 milli g
    acc = np.zeros((T, 3))
    acc[:, 0] = np.round(A * np.sin(2 * np.pi * f * np.arange(T) / FS))
    _write_dat(tmp_path / "S3-ADL2.dat", _table(T, acc))
    (rec,) = load_dataset("opportunity", tmp_path, fs=25.0)
    assert rec.fs == 25.0 and rec.n_frames == 750 and rec.labels.shape == (750,)
    x = rec.signals[25:-25, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    assert abs(np.fft.rfftfreq(len(x), 1 / 25.0)[np.argmax(spec)] - f) < 0.05
    assert abs(np.max(np.abs(x)) - A * G / 1000) < 0.03 * A * G / 1000


def _corrupt(lines: list[str], case: str) -> None:
    fields = lines[2].split()
    if case == "truncated":
        lines[2] = " ".join(fields[:120])
    elif case == "non_numeric":
        fields[23] = "abc"
        lines[2] = " ".join(fields)
    elif case == "loco_code":
        fields[LOCO - 1] = "3"
        lines[2] = " ".join(fields)
    elif case == "gesture_code":
        fields[GEST - 1] = "999"
        lines[2] = " ".join(fields)
    elif case == "fraction":
        fields[LOCO - 1] = "1.5"
        lines[2] = " ".join(fields)


@pytest.mark.parametrize(
    "case, match",
    [
        ("truncated", r"S1-ADL1\.dat, line 3: 120 columns, expected 250"),
        ("non_numeric", r"S1-ADL1\.dat, line 3, field 'column 24': value 'abc' is not a number"),
        ("loco_code", r"S1-ADL1\.dat, line 3, field 'Locomotion': unknown Locomotion code 3"),
        ("gesture_code", r"S1-ADL1\.dat, line 3, field 'ML_Both_Arms': unknown ML_Both_Arms code 999"),
        ("fraction", r"S1-ADL1\.dat, line 3, field 'Locomotion'.*not an integer"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, case: str, match: str) -> None:
    root = _dataset(tmp_path)
    path = root / "dataset" / "S1-ADL1.dat"
    lines = path.read_text(encoding="utf-8").splitlines()
    _corrupt(lines, case)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=match):
        list(load_dataset("opportunity", root))


def test_missing_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "OpportunityUCIDataset" / "dataset").mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match=r"S1-ADL1\.dat \.\.\. S4-Drill\.dat"):
        list(load_dataset("opportunity", tmp_path))
    ds = tmp_path / "OpportunityUCIDataset" / "dataset"
    _write_dat(ds / "S1-ADL1.dat", _table(10))
    (ds / "column_names.txt").write_text("Data columns:\nColumn: 1 MILLISEC\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"column_names\.txt.*Accelerometer RWR accX"):
        list(load_dataset("opportunity", tmp_path))
