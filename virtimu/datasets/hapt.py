"""UCI HAPT raw signals: "Smartphone-Based Recognition of Human Activities and Postural Transitions".

Source: UCI Machine Learning Repository, dataset 341
(https://archive.ics.uci.edu/dataset/341).  Licence: the UCI repository
lists its datasets under CC BY 4.0 (not verified for this dataset; cite the
authors).  Citation: J.-L. Reyes-Ortiz, L. Oneto, A. Samà, X. Parra,
D. Anguita, "Transition-Aware Human Activity Recognition Using Smartphones",
Neurocomputing 171 (2016) 754-767, doi:10.1016/j.neucom.2015.07.072.

Layout read here (the archive's README.txt, section "RawData")::

    HAPT Data Set/                       (the folder the archive unpacks to)
        activity_labels.txt              "<id> <NAME>" per line, ids 1..12
        RawData/
            acc_expXX_userYY.txt         x y z per line, space separated, 50 Hz, g (gravity included)
            gyro_expXX_userYY.txt        x y z per line, space separated, 50 Hz, rad/s
            labels.txt                   "<exp> <user> <activity> <start> <end>" per line

``XX`` is the two-digit experiment number (01..61), ``YY`` the two-digit
user number (01..30).  ``activity_labels.txt`` is looked up in ``RawData/``
first, then in its parent (where the UCI archive keeps it).  The loader
takes the dataset folder (the one holding ``RawData/``), ``RawData/``
itself, or a folder holding ``HAPT Data Set/``.

Label segments.  The UCI README describes ``start``/``end`` as positions "in
number of signal log samples".  This loader reads them as **0-based,
inclusive row indices**: rows ``start .. end`` (Python ``start:end + 1``)
of the experiment's acc/gyro files carry the activity.  That is how the
copy under ``shared/data/hapt`` was rebuilt (its README: the per-sample
label column of its source reproduces the published numbers under that
reading).  Reading them as 1-based line numbers instead moves every segment
one sample (20 ms) later; ``load_hapt(path, index_base=1)`` does that.
Rows outside every segment are null (code 0).  A segment that runs past the
end of its file, ends before it starts, or overlaps another segment of the
same experiment is a format error.

Units and axes.  Accelerations are converted from g to m/s² with
`virtimu.datasets.base.G` (the README: "gravity of earth -> 9.80665 m/seg2");
the gyroscope is already in rad/s.  The phone (Samsung Galaxy S II) was worn
on the waist; its axes are kept as they are and named after the ``waist``
site of the ``hapt`` placement preset, whose mounting (``mounts.hapt_phone``
in ``virtimu/assets/sites/sites.yaml``) *is* the phone's axes measured from
this data: phone x points up when the wearer stands (static standing reads
about +1 g on x), y and z lie in the horizontal plane with the screen normal
(z) about 50 deg left of forward.  ``provenance['axes']`` records this per
channel.  The data has no gaps (no NaN).

Recordings: one per experiment, named ``expXX_userYY`` (e.g.
``exp01_user01``), subject ``str(user)`` (``'1'``..``'30'``), channels
``waist/acc_x..z`` (m/s²) and ``waist/gyro_x..z`` (rad/s), labels in the
``hapt12`` label space.  Recordings come in experiment order.

`read_text_table` (the whitespace-separated numeric table reader with errors
naming file, line and column) is shared with the UCI HAR loader.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, G, register, relative_path
from virtimu.labels.maps import get_label_space
from virtimu.types import NULL_LABEL, Recording

log = logging.getLogger(__name__)

NAME = "hapt"
FS = 50.0
LABEL_SPACE = "hapt12"
SITE = "waist"
#: Default reading of labels.txt start/end: 0-based inclusive row indices.
LABEL_INDEX_BASE = 0

_RAW = "RawData"
_ARCHIVE_FOLDER = "HAPT Data Set"
_SIGNAL_FILE = re.compile(r"^(acc|gyro)_exp(\d+)_user(\d+)\.txt$")
_XYZ = ("x", "y", "z")
_LABEL_FIELDS = ("experiment", "user", "activity", "start", "end")

CHANNELS = [f"{SITE}/acc_{a}" for a in _XYZ] + [f"{SITE}/gyro_{a}" for a in _XYZ]
UNITS = ["m/s^2"] * 3 + ["rad/s"] * 3
#: How the phone's axes map to the channels (site axes = phone axes, preset 'hapt').
AXES = {
    f"{SITE}/acc_x": "phone x (up when the wearer stands; preset 'hapt', mount hapt_phone)",
    f"{SITE}/acc_y": "phone y (horizontal when standing; preset 'hapt', mount hapt_phone)",
    f"{SITE}/acc_z": "phone z, screen normal (horizontal, ~50 deg left of forward; preset 'hapt')",
    f"{SITE}/gyro_x": "phone x (same axes as acc)",
    f"{SITE}/gyro_y": "phone y (same axes as acc)",
    f"{SITE}/gyro_z": "phone z (same axes as acc)",
}

INFO = DatasetInfo(
    name=NAME,
    title="UCI HAPT: Smartphone-Based Recognition of Human Activities and Postural Transitions (raw signals)",
    fs=FS,
    sites=(SITE,),
    label_space=LABEL_SPACE,
    licence="CC BY 4.0 (as listed by the UCI repository; cite Reyes-Ortiz et al. 2016)",
    url="https://archive.ics.uci.edu/dataset/341",
    layout=("[HAPT Data Set/]activity_labels.txt; RawData/acc_expXX_userYY.txt, RawData/gyro_expXX_userYY.txt "
            "(space-separated x y z, 50 Hz, acc in g, gyro in rad/s), RawData/labels.txt "
            "('exp user activity start end', start/end 0-based inclusive rows)"),
    citation=("J.-L. Reyes-Ortiz, L. Oneto, A. Samà, X. Parra, D. Anguita. Transition-Aware Human Activity "
              "Recognition Using Smartphones. Neurocomputing 171 (2016) 754-767. doi:10.1016/j.neucom.2015.07.072"),
    download_url="https://archive.ics.uci.edu/ml/machine-learning-databases/00341/HAPT%20Data%20Set.zip",
    sha256=None,
    instructions=("Download 'HAPT Data Set.zip' from https://archive.ics.uci.edu/dataset/341 and unpack it; "
                  "pass the folder holding RawData/."),
    extra={"subjects": 30, "experiments": 61, "device": "Samsung Galaxy S II on the waist",
           "label_index_base": LABEL_INDEX_BASE},
)


# --------------------------------------------------------------------------- text tables


def _column_name(fields: Sequence[str] | None, j: int) -> str:
    return fields[j] if fields is not None and j < len(fields) else f"column {j + 1}"


def read_text_table(path: Path, n_cols: int, fields: Sequence[str] | None = None,
                    shown: str | None = None, integer: bool = False) -> np.ndarray:
    """A whitespace-separated numeric table, one row per non-blank line.

    path: the file.  n_cols: the number of values every line must hold.
    fields: optional column names used in error messages.  shown: the file
    name errors print (default ``path``).  integer: values must be integers.
    Returns (rows, n_cols) float64 (int64 when ``integer``); 'nan' values are
    kept as NaN (gaps).  Raises `DatasetFormatError` naming the file, the
    1-based line and the column for a missing file, a wrong number of
    values, a non-numeric, infinite or (``integer``) fractional value.
    """
    shown = str(path) if shown is None else shown
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise DatasetFormatError(shown, "file is missing") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DatasetFormatError(shown, "not a plain-text numeric file (non-ASCII byte)", line=line) from None
    lines = text.splitlines()
    numbers: list[int] = []
    for i, line in enumerate(lines):
        k = len(line.split())
        if k == 0:
            continue
        if k != n_cols:
            raise DatasetFormatError(shown, f"expected {n_cols} whitespace-separated values, found {k}"
                                     + (" (truncated row?)" if k < n_cols else ""), line=i + 1)
        numbers.append(i)
    tokens = text.split()
    try:
        values = np.array(tokens, dtype=np.float64).reshape(len(numbers), n_cols)
    except ValueError:
        values = None
    if values is None or np.isinf(values).any() or (integer and (values != np.round(values)).any()):
        _raise_bad_value(lines, numbers, n_cols, fields, shown, integer)
    if integer:
        if np.isnan(values).any():
            _raise_bad_value(lines, numbers, n_cols, fields, shown, integer)
        return values.astype(np.int64)
    return values


def _raise_bad_value(lines: list[str], numbers: list[int], n_cols: int, fields: Sequence[str] | None,
                     shown: str, integer: bool) -> None:
    """Find the first bad value and raise DatasetFormatError naming its line and column."""
    for i in numbers:
        for j, tok in enumerate(lines[i].split()):
            try:
                v = float(tok)
            except ValueError:
                raise DatasetFormatError(shown, f"value {tok!r} is not a number", line=i + 1,
                                         field=_column_name(fields, j)) from None
            if np.isinf(v):
                raise DatasetFormatError(shown, f"value {tok!r} is infinite", line=i + 1,
                                         field=_column_name(fields, j))
            if integer and not (np.isfinite(v) and v == round(v)):
                raise DatasetFormatError(shown, f"value {tok!r} is not an integer", line=i + 1,
                                         field=_column_name(fields, j))
    raise DatasetFormatError(shown, "could not be read as a numeric table")  # pragma: no cover


def read_activity_labels(path: Path, space_name: str, shown: str | None = None) -> dict[int, str]:
    """``activity_labels.txt`` ("<id> <NAME>" per line) checked against label space ``space_name``.

    Returns {id: NAME}.  Raises `DatasetFormatError` naming file and line for
    a malformed line, an id the space does not know, or a name that differs
    from the space's name for that id.
    """
    shown = str(path) if shown is None else shown
    space = get_label_space(space_name)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise DatasetFormatError(shown, "file is missing") from None
    except UnicodeDecodeError:
        raise DatasetFormatError(shown, "not a plain-text file (non-ASCII byte)") from None
    out: dict[int, str] = {}
    for i, line in enumerate(lines):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetFormatError(shown, f"expected '<id> <NAME>', found {line.strip()!r}", line=i + 1)
        code, name = int(parts[0]), parts[1]
        if code == space.null_code or code not in space.codes:
            raise DatasetFormatError(shown, f"activity id {code} is not in label space {space.name!r} "
                                     f"(valid: {sorted(c for c in space.codes if c != space.null_code)})",
                                     line=i + 1, field="id")
        if space.codes[code] != name:
            raise DatasetFormatError(shown, f"activity {code} is named {name!r}; label space {space.name!r} "
                                     f"expects {space.codes[code]!r}", line=i + 1, field="name")
        out[code] = name
    if not out:
        raise DatasetFormatError(shown, "no activity labels")
    return out


# --------------------------------------------------------------------------- layout


def find_raw_dir(path: Path) -> Path:
    """The ``RawData`` folder under ``path`` (``path`` itself, ``path/RawData`` or ``path/HAPT Data Set/RawData``)."""
    path = Path(path)
    candidates = [path / _RAW, path / _ARCHIVE_FOLDER / _RAW, path]
    for c in candidates:
        if (c / "labels.txt").is_file() or any(c.glob("acc_exp*_user*.txt")):
            return c
    raise DatasetFormatError(path, f"no HAPT RawData folder (looked for labels.txt / acc_expXX_userYY.txt in "
                             f"{', '.join(str(c) for c in candidates)})")


def _find_activity_labels(raw: Path, root: Path) -> Path:
    for c in (raw / "activity_labels.txt", raw.parent / "activity_labels.txt"):
        if c.is_file():
            return c
    raise DatasetFormatError(relative_path(raw / "activity_labels.txt", root), "file is missing (also looked "
                             f"for {relative_path(raw.parent / 'activity_labels.txt', root)})")


@dataclass(frozen=True)
class Segment:
    """One labels.txt row: ``activity`` on rows ``start..end`` (inclusive, 0-based) of an experiment."""

    experiment: int
    user: int
    activity: int
    start: int
    end: int
    line: int


def read_segments(path: Path, activities: dict[int, str], shown: str, index_base: int = LABEL_INDEX_BASE
                  ) -> list[Segment]:
    """``labels.txt`` rows as `Segment`s with 0-based inclusive rows (``index_base`` is the file's base).

    Raises `DatasetFormatError` naming file and line for a malformed row, an
    activity id not in ``activities``, or ``start > end`` / a negative row.
    """
    table = read_text_table(path, 5, _LABEL_FIELDS, shown=shown, integer=True)
    lines = [i + 1 for i, ln in enumerate(path.read_text(encoding="ascii").splitlines()) if ln.split()]
    out = []
    for (exp, user, act, start, end), line in zip(table.tolist(), lines, strict=True):
        if act not in activities:
            raise DatasetFormatError(shown, f"unknown activity code {act}; activity_labels.txt has "
                                     f"{sorted(activities)}", line=line, field="activity")
        start, end = start - index_base, end - index_base
        if start < 0:
            raise DatasetFormatError(shown, f"start {start + index_base} lies before the first row "
                                     f"(index base {index_base})", line=line, field="start")
        if end < start:
            raise DatasetFormatError(shown, f"end {end + index_base} < start {start + index_base}",
                                     line=line, field="end")
        out.append(Segment(exp, user, act, start, end, line))
    return out


def _signal_files(raw: Path) -> dict[tuple[int, int], dict[str, Path]]:
    """{(experiment, user): {'acc': path, 'gyro': path}} from the file names in ``raw``."""
    found: dict[tuple[int, int], dict[str, Path]] = {}
    for p in sorted(raw.iterdir()):
        m = _SIGNAL_FILE.match(p.name)
        if m:
            found.setdefault((int(m.group(2)), int(m.group(3))), {})[m.group(1)] = p
    return found


def _frame_labels(n: int, segments: list[Segment], shown: str) -> np.ndarray:
    """(n,) int64 labels of one experiment from its segments; checks bounds and overlaps."""
    labels = np.full(n, NULL_LABEL, dtype=np.int64)
    for s in sorted(segments, key=lambda s: s.start):
        if s.end >= n:
            raise DatasetFormatError(shown, f"segment rows {s.start}..{s.end} (0-based) run past the end of "
                                     f"experiment {s.experiment:02d}, which has {n} rows", line=s.line, field="end")
        taken = labels[s.start:s.end + 1] != NULL_LABEL
        if taken.any():
            row = s.start + int(np.argmax(taken))
            raise DatasetFormatError(shown, f"segment rows {s.start}..{s.end} (0-based) overlap another segment "
                                     f"of experiment {s.experiment:02d} at row {row}", line=s.line, field="start")
        labels[s.start:s.end + 1] = s.activity
    return labels


# --------------------------------------------------------------------------- loader


def load_hapt(path: str | Path, index_base: int = LABEL_INDEX_BASE) -> Iterator[Recording]:
    """Recordings (one per experiment) of the HAPT RawData under ``path``, at 50 Hz.

    index_base: how labels.txt counts rows: 0 (default, 0-based inclusive
    rows) or 1 (1-based line numbers, as one may read the UCI README).
    Every file is checked before anything is yielded that depends on it:
    labels.txt and activity_labels.txt up front, each experiment's acc and
    gyro files before its recording.  Errors are `DatasetFormatError`
    naming the file (relative to ``path``), line and field.
    """
    if index_base not in (0, 1):
        raise ValueError(f"index_base must be 0 or 1, got {index_base!r}")
    root = Path(path)
    raw = find_raw_dir(root)
    act_path = _find_activity_labels(raw, root)
    activities = read_activity_labels(act_path, LABEL_SPACE, shown=relative_path(act_path, root))
    labels_path = raw / "labels.txt"
    labels_shown = relative_path(labels_path, root)
    segments = read_segments(labels_path, activities, labels_shown, index_base)
    files = _signal_files(raw)
    for (exp, user), pair in files.items():
        for kind in ("acc", "gyro"):
            if kind not in pair:
                missing = raw / f"{kind}_exp{exp:02d}_user{user:02d}.txt"
                raise DatasetFormatError(relative_path(missing, root), "file is missing (its "
                                         f"{'gyro' if kind == 'acc' else 'acc'} partner exists)")
    by_exp: dict[tuple[int, int], list[Segment]] = {}
    for s in segments:
        if (s.experiment, s.user) not in files:
            raise DatasetFormatError(labels_shown, f"experiment {s.experiment:02d} of user {s.user:02d} has no "
                                     f"acc_exp{s.experiment:02d}_user{s.user:02d}.txt in {relative_path(raw, root)}",
                                     line=s.line, field="experiment")
        by_exp.setdefault((s.experiment, s.user), []).append(s)
    users_of_exp: dict[int, int] = {}
    for exp, user in files:
        if exp in users_of_exp:
            raise DatasetFormatError(relative_path(raw, root), f"experiment {exp:02d} appears for users "
                                     f"{users_of_exp[exp]:02d} and {user:02d}")
        users_of_exp[exp] = user
    space = get_label_space(LABEL_SPACE)
    log.info("hapt: %d experiments, %d label segments in %s", len(files), len(segments), raw)
    for (exp, user), pair in sorted(files.items()):
        yield _experiment(root, exp, user, pair, by_exp.get((exp, user), []), labels_shown,
                          space.label_map(), index_base)


def _experiment(root: Path, exp: int, user: int, pair: dict[str, Path], segments: list[Segment],
                labels_shown: str, label_map: dict[int, str], index_base: int) -> Recording:
    acc_shown, gyro_shown = relative_path(pair["acc"], root), relative_path(pair["gyro"], root)
    acc = read_text_table(pair["acc"], 3, _XYZ, shown=acc_shown)
    gyro = read_text_table(pair["gyro"], 3, _XYZ, shown=gyro_shown)
    if acc.shape[0] != gyro.shape[0]:
        raise DatasetFormatError(gyro_shown, f"has {gyro.shape[0]} rows but {acc_shown} has {acc.shape[0]}")
    if acc.shape[0] == 0:
        raise DatasetFormatError(acc_shown, "file has no rows")
    labels = _frame_labels(acc.shape[0], segments, labels_shown)
    if not segments:
        log.warning("hapt: experiment %02d (user %02d) has no rows in labels.txt; all frames null", exp, user)
    signals = np.concatenate([acc * G, gyro], axis=1)
    name = f"exp{exp:02d}_user{user:02d}"
    return Recording(
        signals=signals.astype(np.float32), channels=list(CHANNELS), units=list(UNITS), fs=FS, source=NAME,
        name=name, labels=labels, label_map=dict(label_map), subject=str(user),
        provenance={
            "dataset": NAME, "files": [acc_shown, gyro_shown, labels_shown], "fs": FS,
            "experiment": exp, "user": user, "n_segments": len(segments),
            "label_rows": f"labels.txt start/end read as {index_base}-based inclusive row numbers",
            "file_units": {"acc": "g", "gyro": "rad/s"}, "g": G,
            "axes": dict(AXES), "placement_preset": "hapt",
        },
        attrs={"kind": "real", "dataset": NAME},
    )


@register(INFO)
def load(path: Path) -> Iterator[Recording]:
    """Registered loader: `load_hapt` with the default 0-based inclusive label rows."""
    return load_hapt(path)
