"""JSI-FOS loader (right-wrist accelerometer, 50 Hz, 18 activities).

Dataset
-------
JSI-FOS, as used by paper 000 (DeepConvLSTM weight transfer, Informatica
45 (2021) 289-296, section 2 and Tables 1-2): 10 subjects, activities of
daily living, a 3D accelerometer on the RIGHT wrist ("the selection of data
which comes from a 3D accelerometer, worn on the right wrist"), 50 Hz,
18 activities aggregated to 10, about 20 h.  The dataset is not publicly
downloadable (no public URL or file layout is published): obtain it from
its authors at the Jozef Stefan Institute and convert it to the layout
below.  Licence: not public (terms of the data owners).

Accepted layout (defined by virtimu)
------------------------------------
One comma-separated file per subject, ``<subject>.csv`` directly in the
dataset folder (the file stem is the subject id, e.g. ``S01.csv`` ->
``'S01'``), UTF-8, one header line::

    timestamp,acc_x,acc_y,acc_z,label
    0.00,0.012,-0.981,0.104,standing
    0.02,0.015,-0.979,0.101,standing

* the time column is ``timestamp`` or ``timestamp_s`` (seconds) or
  ``timestamp_ms`` (milliseconds), increasing; its origin is free.  A
  ``timestamp`` column whose steps look like milliseconds (median step
  over 100 samples) is rejected with a message to rename it.
* ``acc_x``, ``acc_y``, ``acc_z``: wrist accelerometer in g (converted with
  ``G`` to m/s²); ``nan`` marks missing values.
* ``label``: activity name of label space ``jsifos18`` (lying_back,
  lying_left_side, lying_right_side, lying_stomach, allfours,
  allfours_still, allfours_moving, standing, standing_leaning_still,
  transition_up, transition_down, cycling, walking); case, spaces and
  hyphens are normalised (``Lying back`` -> ``lying_back``); empty or
  ``null`` = unlabelled (code 0).  jsifos18 lists only the 13 activities
  the paper names; a name outside it (one of the 5 unnamed ones, or a typo)
  is a `DatasetFormatError` naming the file and line: add the dataset's own
  names to the space in ``label_maps.yaml`` when the real files are at hand.

Columns are found by name (any order); other columns are errors.

Site and axes: ``right_wrist`` (``jsi-fos`` preset in sites.yaml: default
mounting, device axes not verified); ``acc_x`` -> ``right_wrist/acc_x``
etc. one to one (``provenance['axes']``).

Time: rows are samples at 50 Hz; gaps are handled as in
`virtimu.datasets.harth.fill_gaps` (<= 2 missing samples joined, up to
60 s NaN-filled with null labels, longer ones split the recording into
``<subject>_segNN``).
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, G, register, relative_path
from virtimu.datasets.harth import (
    MAX_FILL_S,
    MAX_JOIN_MISSING,
    fill_gaps,
    float_column,
    place_on_grid,
    read_rows,
    segment_names,
)
from virtimu.labels.maps import get_label_space
from virtimu.types import Recording

log = logging.getLogger(__name__)

#: Native sampling rate (Hz), paper 000 Table 1.
FS = 50.0
SITE = "right_wrist"
TIME_COLUMNS = {"timestamp": 1.0, "timestamp_s": 1.0, "timestamp_ms": 1e-3}
ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
CHANNELS = [f"{SITE}/acc_{a}" for a in "xyz"]
AXES = {f"{SITE}/acc_{a}": f"acc_{a} (wrist device axis {a}; orientation on the wrist not documented)"
        for a in "xyz"}
_NULL_NAMES = {"", "null", "none"}


def normalise_label(name: str) -> str:
    """Activity name as written in the file -> jsifos18 spelling (lower case, '_' for spaces and hyphens)."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def _columns(header: list[str], shown: str) -> tuple[dict[str, int], str]:
    index: dict[str, int] = {}
    expected = ["timestamp|timestamp_s|timestamp_ms", *ACC_COLUMNS, "label"]
    for i, name in enumerate(header):
        if name in index:
            raise DatasetFormatError(shown, f"column {name!r} appears twice", line=1, field=name)
        if name not in TIME_COLUMNS and name not in ACC_COLUMNS and name != "label":
            raise DatasetFormatError(shown, f"unexpected column {name!r}; expected {','.join(expected)}",
                                     line=1, field=name)
        index[name] = i
    times = [c for c in TIME_COLUMNS if c in index]
    if len(times) != 1:
        raise DatasetFormatError(shown, f"need exactly one time column (timestamp, timestamp_s or timestamp_ms), "
                                 f"found {times}", line=1, field="timestamp")
    missing = [c for c in (*ACC_COLUMNS, "label") if c not in index]
    if missing:
        raise DatasetFormatError(shown, f"header lacks columns {missing}; expected {','.join(expected)}",
                                 line=1, field=missing[0])
    return index, times[0]


def _label_codes(cells: tuple[str, ...], shown: str) -> np.ndarray:
    space = get_label_space("jsifos18")
    uniq, inverse = np.unique(np.asarray(cells, dtype=str), return_inverse=True)
    lut = np.empty(len(uniq), dtype=np.int64)
    for j, raw in enumerate(uniq.tolist()):
        name = normalise_label(raw)
        if name in _NULL_NAMES:
            lut[j] = space.null_code
        elif name in space:
            lut[j] = space.code(name)
        else:
            line = int(np.flatnonzero(inverse == j)[0]) + 2
            raise DatasetFormatError(shown, f"unknown activity {raw!r}; label space 'jsifos18' knows "
                                     f"{space.names} (it lacks 5 of the 18 JSI-FOS activities: extend it in "
                                     f"label_maps.yaml)", line=line, field="label")
    return lut[inverse.reshape(-1)]


def read_subject_csv(path: Path, root: Path) -> list[Recording]:
    """Recordings (one per gap-separated segment) of one JSI-FOS ``<subject>.csv`` file (50 Hz, m/s²)."""
    shown = relative_path(path, root)
    header = _header(path, shown)
    index, tcol = _columns(header, shown)
    _, rows = read_rows(path, len(header), shown=shown)
    if not rows:
        raise DatasetFormatError(shown, "no data rows", line=2)
    cols = list(zip(*rows))
    t = float_column(cols[index[tcol]], shown, tcol) * TIME_COLUMNS[tcol]
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise DatasetFormatError(shown, "timestamp is missing", line=i + 2, field=tcol)
    if t.size > 2 and tcol == "timestamp" and np.median(np.diff(t)) * FS > 100:
        raise DatasetFormatError(shown, f"median time step {np.median(np.diff(t)):g} looks like milliseconds; "
                                 "name the column timestamp_ms", line=1, field=tcol)
    values = np.stack([float_column(cols[index[c]], shown, c) for c in ACC_COLUMNS], axis=1) * G
    labels = _label_codes(cols[index["label"]], shown)
    segments, short = fill_gaps(t - t[0], FS, shown)
    space = get_label_space("jsifos18")
    out = []
    for k, (seg, name) in enumerate(zip(segments, segment_names(path.stem, len(segments)))):
        x, y = place_on_grid(values, labels, seg)
        prov: dict[str, Any] = {
            "dataset": "jsi-fos", "files": [shown], "native_fs_hz": FS, "units_in_file": "g",
            "time_column": tcol, "axes": dict(AXES), "site_preset": "jsi-fos",
            "start_time_s": float(t[seg.rows.start]), "rows": [int(seg.rows.start), int(seg.rows.stop)],
            "segment": k, "n_segments": len(segments), "gaps_filled": seg.gaps_filled,
            "frames_filled": seg.frames_filled, "short_steps": short if k == 0 else 0,
            "gap_policy": {"max_join_missing": MAX_JOIN_MISSING, "max_fill_s": MAX_FILL_S},
            "layout": "virtimu JSI-FOS CSV (timestamp,acc_x,acc_y,acc_z,label)",
        }
        out.append(Recording(signals=x, channels=list(CHANNELS), units=["m/s^2"] * 3, fs=FS, source="jsi-fos",
                             name=name, labels=y, label_map=space.label_map(), subject=path.stem, provenance=prov,
                             attrs={"kind": "real", "dataset": "jsi-fos"}))
    return out


def _header(path: Path, shown: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(shown, f"not a readable text table ({exc})", line=1) from None
    if not first.strip():
        raise DatasetFormatError(shown, "empty file (no header)", line=1)
    return [c.strip() for c in next(csv.reader([first]))]


_INFO = DatasetInfo(
    name="jsi-fos",
    title="JSI-FOS activities of daily living (right-wrist accelerometer)",
    fs=FS,
    sites=(SITE,),
    label_space="jsifos18",
    licence="not public (data owners' terms)",
    url="https://www.informatica.si",  # journal of paper 000; the dataset has no public page
    layout=("virtimu-defined: <subject>.csv per subject, header timestamp[_s|_ms],acc_x,acc_y,acc_z,label; "
            "acc in g; label = jsifos18 activity name (empty/null = unlabelled); 50 Hz."),
    citation=("Described in the Informatica 45 (2021) 289-296 paper on DeepConvLSTM weight transfer from "
              "Opportunity to JSI-FOS (virtimu seed paper 000; the dataset's own references are its [17], [18])."),
    download_url=None,
    sha256=None,
    instructions=("JSI-FOS is not publicly downloadable. Ask the Jozef Stefan Institute (Department of "
                  "Intelligent Systems) for it and convert each subject's right-wrist accelerometer to "
                  "<subject>.csv with header 'timestamp,acc_x,acc_y,acc_z,label' (s, g, activity name)."),
)


@register(_INFO)
def load_jsifos(path: Path) -> Iterator[Recording]:
    """JSI-FOS recordings from ``path`` (a folder of ``<subject>.csv`` files), 50 Hz, m/s²."""
    root = Path(path)
    files = sorted(root.glob("*.csv"))
    if not files:
        raise DatasetFormatError(root, "no <subject>.csv files (layout: timestamp,acc_x,acc_y,acc_z,label)")
    for f in files:
        yield from read_subject_csv(f, root)
