"""Opportunity (UCI) loader: the right-wrist accelerometer with locomotion + gesture labels.

Dataset: OPPORTUNITY Activity Recognition (Roggen et al., "Collecting complex
activity datasets in highly rich networked sensor environments", INSS 2010;
Chavarriaga et al., Pattern Recognition Letters 34(15), 2013).  UCI Machine
Learning Repository, dataset 226, licence CC BY 4.0.
Download: https://archive.ics.uci.edu/dataset/226 (``OpportunityUCIDataset.zip``).

Published layout (``OpportunityUCIDataset/dataset/``)::

    S1-ADL1.dat ... S1-ADL5.dat, S1-Drill.dat, ... S4-ADL1.dat ... S4-Drill.dat
    column_names.txt     "Column: <n> <name>[; value = ..., unit = ...]" per column (1-based)
    label_legend.txt     "<code>   -   <track>   -   <label name>" per label

Each ``.dat`` file is plain text, one row per sample at 30 Hz, values
separated by single spaces, no header, 250 columns: column 1 ``MILLISEC``
(time stamp in ms), columns 2-243 sensors, columns 244-250 the label tracks
Locomotion, HL_Activity, LL_Left_Arm, LL_Left_Arm_Object, LL_Right_Arm,
LL_Right_Arm_Object, ML_Both_Arms.  Missing sensor values are written ``NaN``.

What this loader reads (paper 000, "a 3D accelerometer worn on the right
wrist", in milli g):

* columns 23-25, ``Accelerometer RWR accX/accY/accZ; value =
  round(original_value), unit = milli g`` (the body-worn Bluetooth
  accelerometer on the right wrist; the InertialMeasurementUnit RLA on the
  right lower arm, columns 56-58, is a different device);
* column 244 ``Locomotion`` (0 null, 1 Stand, 2 Walk, 4 Sit, 5 Lie) and
  column 250 ``ML_Both_Arms`` (0 null, 406516 Open Door 1 ... 405506 Toggle
  Switch), combined into one ``opportunity_raw`` code with
  :func:`virtimu.labels.maps.opportunity_code` (locomotion * 1000000 + gesture).

The column numbers come from ``column_names.txt`` when it is present (the
entries are found by name and the unit of the accelerometer columns is
checked to be milli g); without it the documented fixed numbers above are
used.  Column numbers and label codes were checked against the dataset's
``column_names.txt`` / ``label_legend.txt`` as reproduced in public loaders.

Output, one `Recording` per ``.dat`` file: channels ``right_wrist/acc_x|y|z``
in m/s² (milli g × G / 1000, with G = 9.80665 m/s²), NaN kept where the file
has NaN, subject ``'S1'`` ..., name = file stem (``'S1-ADL1'``).

Labels: the ``opportunity_raw`` labels, but numbered compactly
(`virtimu.labels.compact`): raw codes go up to 5408512 and a store keeps
int16 codes, so each frame holds the index 0..89 of its raw code (null = 0,
then the raw codes in ascending order) and ``label_map`` gives the
``opportunity_raw`` *names* of those indices.  Name-based steps (``virtimu
windows --label-map opportunity14``) work unchanged.  ``provenance['labels']``
records ``label_space: opportunity_raw``, ``codes: compact`` and
``raw_codes`` {index: raw code}; `raw_label_codes` returns the raw codes.

Axes: the RWR device axes are passed through unchanged (``acc_x`` = device
accX ...).  The dataset does not document how the device was oriented on
the wrist, so the mapping to the ``right_wrist`` site's axes is not verified
(the ``opportunity`` placement preset keeps the default mounting).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, G, register, relative_path
from virtimu.labels.maps import (
    OPPORTUNITY_MULTIPLIER,
    get_label_space,
    opportunity_code,
)
from virtimu.labels.compact import compact_codes, raw_codes_from_provenance
from virtimu.types import Recording

log = logging.getLogger(__name__)

NAME = "opportunity"
FS = 30.0
SITE = "right_wrist"
LABEL_SPACE = "opportunity_raw"
#: Columns of a ``.dat`` file (1 time + 242 sensor + 7 label columns).
N_COLUMNS = 250
#: 1-based column numbers used when ``column_names.txt`` is absent (see module docstring).
DEFAULT_COLUMNS: dict[str, int] = {
    "MILLISEC": 1,
    "Accelerometer RWR accX": 23,
    "Accelerometer RWR accY": 24,
    "Accelerometer RWR accZ": 25,
    "Locomotion": 244,
    "ML_Both_Arms": 250,
}
ACC_COLUMNS = ("Accelerometer RWR accX", "Accelerometer RWR accY", "Accelerometer RWR accZ")
FILE_PATTERN = re.compile(r"^(S\d+)-(ADL\d+|Drill)\.dat$")
_COLUMN_LINE = re.compile(r"^\s*Column:\s*(\d+)\s+(.+?)\s*$")

INFO = DatasetInfo(
    name=NAME,
    title="OPPORTUNITY Activity Recognition (UCI), right-wrist accelerometer",
    fs=FS,
    sites=(SITE,),
    label_space=LABEL_SPACE,
    licence="CC BY 4.0",
    url="https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition",
    layout=("OpportunityUCIDataset/dataset/S{1-4}-ADL{1-5}.dat, S{1-4}-Drill.dat: space-separated text, "
            "250 columns (MILLISEC, 242 sensors, 7 label tracks), NaN = missing, 30 Hz; "
            "column_names.txt, label_legend.txt"),
    citation=("D. Roggen et al., Collecting complex activity datasets in highly rich networked sensor "
              "environments, INSS 2010; R. Chavarriaga et al., The Opportunity challenge, Pattern "
              "Recognition Letters 34(15), 2013"),
    download_url=None,
    sha256=None,
    instructions=("Download OpportunityUCIDataset.zip from https://archive.ics.uci.edu/dataset/226, unzip it "
                  "and pass the folder OpportunityUCIDataset (or its dataset/ subfolder)."),
    extra={"sensor": "Accelerometer RWR (columns 23-25, milli g)", "labels": "Locomotion x ML_Both_Arms"},
)


def find_data_dir(root: Path) -> Path:
    """The folder holding the ``S*-*.dat`` files: ``root``, ``root/dataset`` or
    ``root/OpportunityUCIDataset/dataset``; DatasetFormatError if none has them."""
    for cand in (root, root / "dataset", root / "OpportunityUCIDataset" / "dataset"):
        if cand.is_dir() and any(FILE_PATTERN.match(p.name) for p in cand.iterdir()):
            return cand
    raise DatasetFormatError(root, "no Opportunity data files (S1-ADL1.dat ... S4-Drill.dat) found here, in "
                                   "dataset/ or in OpportunityUCIDataset/dataset/")


def parse_column_names(path: Path) -> dict[str, int]:
    """1-based column numbers of the entries this loader needs, from ``column_names.txt``.

    Lines look like ``Column: 23 Accelerometer RWR accX; value = round(original_value), unit = milli g``.
    Returns {name: column} for the keys of `DEFAULT_COLUMNS` plus ``'_n_columns'``
    (the highest column number).  Raises DatasetFormatError naming the file and
    line for a missing entry, a repeated column number or an accelerometer column
    whose unit is not milli g.
    """
    found: dict[str, int] = {}
    units: dict[str, tuple[str, int]] = {}
    seen: dict[int, int] = {}
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for lineno, line in enumerate(text, start=1):
        m = _COLUMN_LINE.match(line)
        if not m:
            continue
        col = int(m.group(1))
        if col in seen:
            raise DatasetFormatError(path, f"column {col} described twice (first on line {seen[col]})", line=lineno)
        seen[col] = lineno
        name, _, rest = m.group(2).partition(";")
        name = name.strip()
        if name in DEFAULT_COLUMNS:
            found[name] = col
            unit = re.search(r"unit\s*=\s*(.+)$", rest)
            units[name] = ((unit.group(1).strip() if unit else ""), lineno)
    missing = [n for n in DEFAULT_COLUMNS if n not in found]
    if missing:
        raise DatasetFormatError(path, f"no column entries for {missing}; expected lines like "
                                       f"'Column: 23 Accelerometer RWR accX; ..., unit = milli g'")
    for name in ACC_COLUMNS:
        unit, lineno = units[name]
        if unit.lower() != "milli g":
            raise DatasetFormatError(path, f"{name}: unit {unit!r}, expected 'milli g'", line=lineno, field=name)
    found["_n_columns"] = max(seen)
    return found


def _locate_bad_row(path: Path, n_columns: int) -> DatasetFormatError:
    """Scan ``path`` line by line for the first row with a wrong column count or a non-number."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != n_columns:
                return DatasetFormatError(path, f"{len(fields)} columns, expected {n_columns} (truncated or "
                                                f"malformed row)", line=lineno)
            for i, value in enumerate(fields, start=1):
                try:
                    float(value)
                except ValueError:
                    return DatasetFormatError(path, f"value {value!r} is not a number", line=lineno,
                                              field=f"column {i}")
    return DatasetFormatError(path, "could not be parsed as a numeric table")


def read_dat(path: Path, n_columns: int = N_COLUMNS) -> np.ndarray:
    """The numeric table of one ``.dat`` file, (T, n_columns) float64 (NaN kept).

    Raises DatasetFormatError naming the file, line and column for a row with
    the wrong number of columns or a value that is not a number.
    """
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError:
        raise _locate_bad_row(path, n_columns) from None
    if data.size == 0:
        raise DatasetFormatError(path, "file holds no data rows")
    if data.shape[1] != n_columns:
        raise DatasetFormatError(path, f"{data.shape[1]} columns, expected {n_columns}", line=1)
    return data


def _label_column(path: Path, values: np.ndarray, name: str, valid: set[int]) -> np.ndarray:
    """Integer codes of one label column; DatasetFormatError naming the first bad line."""
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetFormatError(path, f"label {values[i]!r} is not an integer code", line=i + 1, field=name)
    codes = values.astype(np.int64)
    unknown = ~np.isin(codes, sorted(valid))
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise DatasetFormatError(path, f"unknown {name} code {codes[i]}; valid: {sorted(valid)}",
                                 line=i + 1, field=name)
    return codes


def load_file(path: Path, columns: dict[str, int], root: Path) -> Recording:
    """One validated `Recording` from one ``S<k>-<session>.dat`` file (see module docstring)."""
    n_columns = columns.get("_n_columns", N_COLUMNS)
    data = read_dat(path, n_columns)
    col = {k: v - 1 for k, v in columns.items() if not k.startswith("_")}  # 0-based

    t_ms = data[:, col["MILLISEC"]]
    if not np.all(np.isfinite(t_ms)):
        i = int(np.flatnonzero(~np.isfinite(t_ms))[0])
        raise DatasetFormatError(path, "time stamp is missing", line=i + 1, field="MILLISEC")
    if len(t_ms) > 1 and np.any(np.diff(t_ms) <= 0):
        i = int(np.flatnonzero(np.diff(t_ms) <= 0)[0]) + 1
        raise DatasetFormatError(path, "time stamps do not increase", line=i + 1, field="MILLISEC")
    if len(t_ms) > 1:
        dt = float(np.median(np.diff(t_ms))) / 1000.0
        if abs(dt * FS - 1.0) > 0.05:
            log.warning("%s: median sample interval %.4f s does not match %g Hz", path, dt, FS)

    space = get_label_space(LABEL_SPACE)
    majors = {c // OPPORTUNITY_MULTIPLIER for c in space.codes}
    minors = {c % OPPORTUNITY_MULTIPLIER for c in space.codes}
    loco = _label_column(path, data[:, col["Locomotion"]], "Locomotion", majors)
    gest = _label_column(path, data[:, col["ML_Both_Arms"]], "ML_Both_Arms", minors)
    raw = opportunity_code(loco, gest)
    space.check_codes(raw, where=str(path))
    compact = compact_codes(LABEL_SPACE)
    labels = compact.encode(raw, where=str(path))

    acc = data[:, [col[c] for c in ACC_COLUMNS]] * (G / 1000.0)  # milli g -> m/s^2
    subject = FILE_PATTERN.match(path.name).group(1)  # type: ignore[union-attr]
    channels = [f"{SITE}/acc_{a}" for a in "xyz"]
    axes = {f"{SITE}/acc_{a}": f"Opportunity RWR accelerometer acc{a.upper()} (device axis, passed through; "
                               f"mounting on the wrist not documented)" for a in "xyz"}
    return Recording(
        signals=acc.astype(np.float32),
        channels=channels,
        units=["m/s^2"] * 3,
        fs=FS,
        source=NAME,
        name=path.stem,
        labels=labels,
        label_map=compact.space.label_map(),
        subject=subject,
        provenance={
            "dataset": NAME,
            "files": [relative_path(path, root)],
            "native_fs": FS,
            "columns": {k: v for k, v in columns.items() if not k.startswith("_")},
            "units_in_file": "milli g",
            "scale": f"value * {G} / 1000",
            "axes": axes,
            "labels": {**compact.provenance(), "from": "opportunity_code(Locomotion, ML_Both_Arms)"},
            "start_ms": float(t_ms[0]),
        },
        attrs={"kind": "real", "dataset": NAME},
    )


def raw_label_codes(rec: Recording) -> np.ndarray:
    """(T,) int64 ``opportunity_raw`` codes of an Opportunity recording (loaded or read from a store).

    Uses the recording's ``provenance['labels']['raw_codes']``; ValueError when
    the recording has no labels or no such record.
    """
    if rec.labels is None:
        raise ValueError(f"{rec.source}/{rec.name}: recording has no labels")
    return raw_codes_from_provenance(rec.labels, rec.provenance)


@register(INFO)
def load(root: Path) -> Iterator[Recording]:
    """Recordings of every ``S<k>-<session>.dat`` under ``root`` (sorted by name), 30 Hz."""
    root = Path(root)
    data_dir = find_data_dir(root)
    names_file = data_dir / "column_names.txt"
    if names_file.is_file():
        columns = parse_column_names(names_file)
        log.debug("opportunity: columns from %s: %s", names_file, columns)
    else:
        columns = dict(DEFAULT_COLUMNS, _n_columns=N_COLUMNS)
        log.info("opportunity: %s not found; using the documented column numbers %s", names_file, DEFAULT_COLUMNS)
    for path in sorted(p for p in data_dir.iterdir() if FILE_PATTERN.match(p.name)):
        yield load_file(path, columns, root)
