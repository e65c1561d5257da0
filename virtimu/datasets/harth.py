"""HARTH and HAR70+ loaders (two Axivity AX3 accelerometers: lower back, right thigh).

Datasets
--------
* ``harth`` -- HARTH, the Human Activity Recognition Trondheim dataset
  (Logacjov et al., Sensors 21(23):7853, 2021): 22 adults in free living,
  about 1.5-2 h each, professionally annotated from video.  UCI Machine
  Learning Repository dataset 779 (the author README calls this copy v1.2),
  licence CC BY 4.0, https://archive.ics.uci.edu/dataset/779/harth ,
  zip https://archive.ics.uci.edu/static/public/779/harth.zip .
* ``har70plus`` -- HAR70+ (Ustad et al., Sensors 23(5):2368, 2023): 18
  adults aged 70-95, same sensors and protocol.  UCI dataset 780, licence
  CC BY 4.0, https://archive.ics.uci.edu/dataset/780/har70 ,
  zip https://archive.ics.uci.edu/static/public/780/har70.zip .

Layout (both datasets)
----------------------
``harth/S006.csv ... harth/S029.csv`` (22 files) and
``har70plus/501.csv ... har70plus/518.csv`` (18 files): one comma-separated
file per subject, one header line, then one row per sample::

    timestamp,back_x,back_y,back_z,thigh_x,thigh_y,thigh_z,label
    2019-01-12 00:00:00.000,-0.760242,0.299570,0.468570,-5.092732,-0.298644,0.709439,6

``timestamp`` is a date-time string (fractional seconds of 3 digits, one
file with 9), the six accelerations are in g, ``label`` is the integer
activity code.  Nominal rate 50 Hz.  Three HARTH files carry an extra
column (header manifest of the UCI archive published in the public
repository larai-w/abstain-har, contracts/harth-v1.2-source.json; the
row counts of a public notebook over the same archive agree): ``S015.csv``
and ``S021.csv`` have ``timestamp,index,back_x,...`` and ``S023.csv`` has an
unnamed leading column (header ``,timestamp,back_x,...``).  The loader
finds columns by name and ignores only these known extras (``index``,
empty, ``Unnamed: 0``); any other column is a format error.

The loader accepts the folder holding the CSV files or its parent (the
unzipped archive, which holds ``harth/`` or ``har70plus/``).

Labels (``label`` column; virtimu label spaces ``harth`` / ``har70plus``)
--------------------------------------------------------------------------
HARTH: 1 walking, 2 running, 3 shuffling, 4 stairs (ascending), 5 stairs
(descending), 6 standing, 7 sitting, 8 lying, 13 cycling (sit), 14 cycling
(stand), 130 cycling (sit, inactive), 140 cycling (stand, inactive).
HAR70+: 1, 3-8 with the same names.  Neither dataset has a null code; 0 is
virtimu's null and marks only frames the loader adds for gaps.  Any other
code is a `DatasetFormatError` naming the file and line.

Axes
----
Sites ``back`` and ``right_thigh`` with the ``harth`` preset of
``virtimu/assets/sites/sites.yaml`` (mounts ``harth_back`` / ``harth_thigh``),
whose sensor axes are the device axes as recorded, so ``back_x`` ->
``back/acc_x`` ... ``thigh_z`` -> ``right_thigh/acc_z`` one to one, times
``G`` (g -> m/s²).  ``provenance['axes']`` records the mapping.

Time base and gaps
------------------
Rows are taken as consecutive samples at 50 Hz.  From the timestamps the
loader computes each step in samples, ``k = round(dt * fs)``:

* ``dt <= 0`` (repeated or backward time) is a format error (file, line);
* ``k - 1 <= MAX_JOIN_MISSING`` (2) missing samples: rows stay adjacent
  (jitter, single dropped samples: nothing is filled in);
* more missing samples and ``dt <= MAX_FILL_S`` (60 s): the missing frames
  are inserted as NaN with label 0 (null), so time stays true;
* ``dt > MAX_FILL_S``: the recording is split; the parts are named
  ``<stem>_seg00``, ``<stem>_seg01`` ... (a file without split keeps its
  stem as name).

Steps shorter than 3/4 of a period (some HARTH rows are 10 ms apart) are
counted in ``provenance['short_steps']`` and kept as consecutive samples.
``fill_gaps`` and the CSV column helpers are shared with the PAMAP2 and
JSI-FOS loaders.
"""
from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, G, register, relative_path
from virtimu.labels.maps import get_label_space
from virtimu.types import NULL_LABEL, Recording

log = logging.getLogger(__name__)

#: Native sampling rate of HARTH and HAR70+ (Hz).
FS = 50.0
#: Up to this many missing samples between two rows, the rows stay adjacent.
MAX_JOIN_MISSING = 2
#: Gaps up to this long (s) are filled with NaN frames; longer ones split the recording.
MAX_FILL_S = 60.0

SENSOR_COLUMNS = ("back_x", "back_y", "back_z", "thigh_x", "thigh_y", "thigh_z")
REQUIRED_COLUMNS = ("timestamp", *SENSOR_COLUMNS, "label")
#: Extra columns present in published HARTH files (S015/S021: 'index'; S023: unnamed first column).
IGNORED_COLUMNS = frozenset({"index", "", "Unnamed: 0"})

CHANNELS = [f"{site}/acc_{a}" for site in ("back", "right_thigh") for a in "xyz"]
AXES = {
    "back/acc_x": "back_x (AX3 x; up the spine when upright, sites.yaml mounts.harth_back)",
    "back/acc_y": "back_y (AX3 y; body left)",
    "back/acc_z": "back_z (AX3 z; out of the back)",
    "right_thigh/acc_x": "thigh_x (AX3 x; up the thigh when standing, sites.yaml mounts.harth_thigh)",
    "right_thigh/acc_y": "thigh_y (AX3 y; body right)",
    "right_thigh/acc_z": "thigh_z (AX3 z; out of the front of the thigh)",
}


# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class Segment:
    """One continuous piece of a recording after gap handling.

    rows: slice of the file's data rows it covers.
    frames: (n_rows,) int64 output frame of each row (NaN frames fill the holes).
    n_frames: length of the output segment.
    gaps_filled / frames_filled: NaN-filled gaps and frames in it.
    """

    rows: slice
    frames: np.ndarray
    n_frames: int
    gaps_filled: int
    frames_filled: int


def fill_gaps(t: np.ndarray, fs: float, file: str | Path, first_line: int = 2,
              max_join_missing: int = MAX_JOIN_MISSING, max_fill_s: float = MAX_FILL_S
              ) -> tuple[list[Segment], int]:
    """Place rows with timestamps ``t`` (n,) seconds on a regular ``fs`` grid.

    Returns the segments (see `Segment`; split at gaps longer than
    ``max_fill_s``) and the number of steps shorter than 3/4 of a period.
    Raises `DatasetFormatError` naming ``file`` and the line (data row i is
    line ``first_line + i``) when time does not increase.
    """
    t = np.asarray(t, dtype=np.float64)
    if t.size == 0:
        return [], 0
    dt = np.diff(t)
    bad = np.flatnonzero(~(dt > 0))
    if bad.size:
        i = int(bad[0]) + 1
        raise DatasetFormatError(file, f"timestamp does not increase ({t[i - 1]!r} then {t[i]!r} s from start)",
                                 line=first_line + i, field="timestamp")
    steps = np.maximum(np.rint(dt * fs).astype(np.int64), 1)
    short = int(np.count_nonzero(dt < 0.75 / fs))
    fill = (steps - 1 > max_join_missing) & (dt <= max_fill_s)
    split = dt > max_fill_s
    advance = np.where(fill, steps, 1)
    segments: list[Segment] = []
    bounds = [0, *(np.flatnonzero(split) + 1).tolist(), t.size]
    for a, b in pairwise(bounds):
        adv = advance[a:b - 1]
        frames = np.concatenate([[0], np.cumsum(adv)]).astype(np.int64)
        gap_mask = fill[a:b - 1]
        segments.append(Segment(rows=slice(a, b), frames=frames, n_frames=int(frames[-1]) + 1,
                                gaps_filled=int(gap_mask.sum()), frames_filled=int((adv[gap_mask] - 1).sum())))
    return segments, short


def place_on_grid(values: np.ndarray, labels: np.ndarray, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` (n, C) / ``labels`` (n,) in ``seg`` on its frame grid: (T, C) NaN-filled, (T,) null-filled."""
    x = np.full((seg.n_frames, values.shape[1]), np.nan, dtype=np.float32)
    y = np.full(seg.n_frames, NULL_LABEL, dtype=np.int64)
    x[seg.frames] = values[seg.rows]
    y[seg.frames] = labels[seg.rows]
    return x, y


def float_column(cells: Sequence[str], file: str | Path, field: str, first_line: int = 2) -> np.ndarray:
    """(n,) float64 from text cells ('nan' allowed); DatasetFormatError naming file, line, field if one is not a number."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        for i, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                raise DatasetFormatError(file, f"{cell!r} is not a number", line=first_line + i, field=field) from None
        raise


def int_column(cells: Sequence[str], file: str | Path, field: str, first_line: int = 2) -> np.ndarray:
    """(n,) int64 from text cells; DatasetFormatError naming file, line, field if one is not an integer."""
    try:
        return np.array(cells, dtype=np.int64)
    except (ValueError, OverflowError):
        for i, cell in enumerate(cells):
            try:
                value = int(cell)
            except ValueError:
                raise DatasetFormatError(file, f"{cell!r} is not an integer label code", line=first_line + i,
                                         field=field) from None
            if not -(2**63) <= value < 2**63:
                raise DatasetFormatError(file, f"label code {cell.strip()[:40]!r} is out of range", line=first_line + i,
                                         field=field)
        raise


def check_codes(codes: np.ndarray, valid: Sequence[int], file: str | Path, field: str = "label",
                first_line: int = 2, space: str = "") -> None:
    """DatasetFormatError naming the first row whose code is not in ``valid``."""
    bad = np.flatnonzero(~np.isin(codes, np.asarray(list(valid))))
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(file, f"unknown label code {int(codes[i])}"
                                 + (f" (label space {space!r}; valid: {sorted(valid)})" if space else ""),
                                 line=first_line + i, field=field)


def read_rows(path: Path, n_columns: int, delimiter: str = ",", skip_header: bool = True,
              shown: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header cells and data rows of a delimited text file, every row checked to have ``n_columns`` cells.

    ``shown`` is the file name used in errors (default: ``path``).  Blank
    lines are errors too (a truncated file is reported at its last line).
    """
    shown = shown or str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh, delimiter=delimiter))
    except FileNotFoundError:
        raise DatasetFormatError(shown, "file is missing") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetFormatError(shown, f"not a readable text table ({exc})") from None
    header: list[str] = []
    if skip_header:
        if not rows:
            raise DatasetFormatError(shown, "empty file (no header)", line=1)
        header = [c.strip() for c in rows.pop(0)]
    first = 2 if skip_header else 1
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(lengths != n_columns)
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(shown, f"{lengths[i]} columns, expected {n_columns}"
                                 + (" (truncated row?)" if lengths[i] < n_columns else ""), line=first + i)
    return header, rows


def parse_datetimes(cells: Sequence[str], file: str | Path, field: str = "timestamp",
                    first_line: int = 2) -> tuple[np.ndarray, str]:
    """Seconds since the first row (n,) float64 and the first timestamp (ISO), from date-time strings."""
    try:
        stamps = np.array([c.strip() for c in cells], dtype="datetime64[ns]")
    except ValueError:
        for i, cell in enumerate(cells):
            try:
                np.datetime64(cell.strip(), "ns")
            except ValueError:
                raise DatasetFormatError(file, f"{cell!r} is not a date-time", line=first_line + i,
                                         field=field) from None
        raise
    if stamps.size and np.isnat(stamps).any():
        i = int(np.flatnonzero(np.isnat(stamps))[0])
        raise DatasetFormatError(file, f"{cells[i]!r} is not a date-time", line=first_line + i, field=field)
    if not stamps.size:
        return np.zeros(0), ""
    t = (stamps - stamps[0]).astype(np.int64) / 1e9
    return t, str(stamps[0])


def segment_names(stem: str, n: int) -> list[str]:
    """Recording names for ``n`` segments of one file: the stem alone, or ``<stem>_segNN``."""
    return [stem] if n == 1 else [f"{stem}_seg{k:02d}" for k in range(n)]


# --------------------------------------------------------------------------- HARTH / HAR70+


_LAYOUT = (
    "One CSV per subject ({files}), header "
    "'timestamp,back_x,back_y,back_z,thigh_x,thigh_y,thigh_z,label'{extras}; timestamp = date-time string, "
    "acc in g, label = integer code; 50 Hz."
)


def _find_dir(root: Path, sub: str) -> Path:
    if (root / sub).is_dir():
        return root / sub
    return root


def _column_index(header: list[str], shown: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in REQUIRED_COLUMNS:
            if name in index:
                raise DatasetFormatError(shown, f"column {name!r} appears twice", line=1, field=name)
            index[name] = i
        elif name not in IGNORED_COLUMNS:
            raise DatasetFormatError(shown, f"unexpected column {name!r}; expected "
                                     f"{','.join(REQUIRED_COLUMNS)}", line=1, field=name)
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise DatasetFormatError(shown, f"header lacks columns {missing}; expected {','.join(REQUIRED_COLUMNS)}",
                                 line=1, field=missing[0])
    return index


def read_subject_csv(path: Path, dataset: str, root: Path | None = None) -> list[Recording]:
    """All recordings (one per gap-separated segment) of one HARTH / HAR70+ subject file.

    dataset: 'harth' or 'har70plus' (selects the label space).
    Returns Recordings with channels ``back/acc_*``, ``right_thigh/acc_*`` in
    m/s² at 50 Hz; raises `DatasetFormatError` naming file, line and field.
    """
    root = root or path.parent
    shown = relative_path(path, root)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(shown, f"not a readable text table ({exc})", line=1) from None
    header = [c.strip() for c in next(csv.reader([first]))] if first else []
    if not header:
        raise DatasetFormatError(shown, "empty file (no header)", line=1)
    index = _column_index(header, shown)
    _, rows = read_rows(path, len(header), shown=shown)
    if not rows:
        raise DatasetFormatError(shown, "no data rows", line=2)
    cols = list(zip(*rows))
    t, start = parse_datetimes(cols[index["timestamp"]], shown)
    values = np.stack([float_column(cols[index[c]], shown, c) for c in SENSOR_COLUMNS], axis=1) * G
    space = get_label_space(dataset)
    labels = int_column(cols[index["label"]], shown, "label")
    check_codes(labels, [c for c in space.codes if c != space.null_code], shown, space=dataset)
    segments, short = fill_gaps(t, FS, shown)
    names = segment_names(path.stem, len(segments))
    extras = [h for h in header if h not in REQUIRED_COLUMNS]
    out = []
    for k, (seg, name) in enumerate(zip(segments, names)):
        x, y = place_on_grid(values, labels, seg)
        prov: dict[str, Any] = {
            "dataset": dataset, "files": [shown], "native_fs_hz": FS, "units_in_file": "g",
            "axes": dict(AXES), "site_preset": "harth", "start_time": start,
            "rows": [int(seg.rows.start), int(seg.rows.stop)], "segment": k, "n_segments": len(segments),
            "gaps_filled": seg.gaps_filled, "frames_filled": seg.frames_filled,
            "short_steps": short if k == 0 else 0, "ignored_columns": extras,
            "gap_policy": {"max_join_missing": MAX_JOIN_MISSING, "max_fill_s": MAX_FILL_S},
        }
        out.append(Recording(signals=x, channels=list(CHANNELS), units=["m/s^2"] * 6, fs=FS, source=dataset,
                             name=name, labels=y, label_map=space.label_map(), subject=path.stem,
                             provenance=prov, attrs={"kind": "real", "dataset": dataset}))
    if short:
        log.info("%s: %d time steps shorter than 3/4 of a period kept as consecutive samples", shown, short)
    return out


def _load(root: Path, dataset: str, sub: str, pattern: str) -> Iterator[Recording]:
    folder = _find_dir(root, sub)
    files = sorted(p for p in folder.glob("*.csv") if re.fullmatch(pattern, p.name))
    others = sorted(p.name for p in folder.glob("*.csv") if not re.fullmatch(pattern, p.name))
    if others:
        log.warning("%s: skipping CSV files not named like the dataset's (%s): %s", folder, pattern, others)
    if not files:
        raise DatasetFormatError(folder, f"no {dataset} subject files matching {pattern!r} (expected the unzipped "
                                 f"archive or its '{sub}/' folder)")
    for path in files:
        yield from read_subject_csv(path, dataset, root)


_HARTH_INFO = DatasetInfo(
    name="harth",
    title="HARTH: Human Activity Recognition Trondheim (v1.2, UCI 779)",
    fs=FS,
    sites=("back", "right_thigh"),
    label_space="harth",
    licence="CC BY 4.0",
    url="https://archive.ics.uci.edu/dataset/779/harth",
    layout=_LAYOUT.format(files="harth/S006.csv ... S029.csv, 22 subjects",
                          extras=" (S015/S021 add 'index' after timestamp, S023 an unnamed first column)"),
    citation=("Logacjov A, Bach K, Kongsvold A, Bårdstu HB, Mork PJ. HARTH: A Human Activity Recognition "
              "Dataset for Machine Learning. Sensors 2021, 21(23):7853. doi:10.3390/s21237853"),
    download_url="https://archive.ics.uci.edu/static/public/779/harth.zip",
    # Size 310795012 bytes and this SHA-256 as recorded for the UCI archive by the public manifest
    # larai-w/abstain-har contracts/harth-v1.2-source.json (not re-downloaded here).
    sha256="2ab54d6b11467ddbe998dfb60355f9f1ae181b0af7a89e7c78bb7af2cf16b64a",
    instructions="Download harth.zip from the UCI page and unzip it; pass the folder holding harth/.",
    extra={"archive_bytes": 310795012},
)

_HAR70_INFO = DatasetInfo(
    name="har70plus",
    title="HAR70+: activity recognition in older adults (UCI 780)",
    fs=FS,
    sites=("back", "right_thigh"),
    label_space="har70plus",
    licence="CC BY 4.0",
    url="https://archive.ics.uci.edu/dataset/780/har70",
    layout=_LAYOUT.format(files="har70plus/501.csv ... 518.csv, 18 subjects", extras=""),
    citation=("Ustad A, Logacjov A, Trollebø SØ, Thingstad P, Vereijken B, Bach K, Maroni NS. Validation of an "
              "Activity Type Recognition Model Classifying Daily Physical Behavior in Older Adults: The HAR70+ "
              "Model. Sensors 2023, 23(5):2368. doi:10.3390/s23052368"),
    download_url="https://archive.ics.uci.edu/static/public/780/har70.zip",
    sha256=None,
    instructions="Download har70.zip from the UCI page and unzip it; pass the folder holding har70plus/.",
)


@register(_HARTH_INFO)
def load_harth(path: Path) -> Iterator[Recording]:
    """HARTH recordings under ``path`` (the unzipped archive or its ``harth/`` folder), 50 Hz, m/s²."""
    yield from _load(Path(path), "harth", "harth", r"S\d{3}\.csv")


@register(_HAR70_INFO)
def load_har70plus(path: Path) -> Iterator[Recording]:
    """HAR70+ recordings under ``path`` (the unzipped archive or its ``har70plus/`` folder), 50 Hz, m/s²."""
    yield from _load(Path(path), "har70plus", "har70plus", r"\d{3}\.csv")
