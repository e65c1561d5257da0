"""UCI HAR: "Human Activity Recognition Using Smartphones" (raw inertial-signal windows).

Source: UCI Machine Learning Repository, dataset 240
(https://archive.ics.uci.edu/dataset/240).  Licence: the UCI repository
lists its datasets under CC BY 4.0 (not verified for this dataset; the
dataset README asks to cite the paper below).  Citation: D. Anguita,
A. Ghio, L. Oneto, X. Parra, J. L. Reyes-Ortiz, "A Public Domain Dataset for
Human Activity Recognition Using Smartphones", ESANN 2013.

Layout read here (the archive's README.txt)::

    UCI HAR Dataset/
        activity_labels.txt                  "<id> <NAME>", ids 1..6
        train/  subject_train.txt            one subject id (1..30) per window
                y_train.txt                  one activity id (1..6) per window
                Inertial Signals/
                    total_acc_{x,y,z}_train.txt   128 values per line (one window), g, gravity included
                    body_acc_{x,y,z}_train.txt    total_acc minus its gravity component, g
                    body_gyro_{x,y,z}_train.txt   128 values per line, rad/s
        test/   the same with _test

Values are whitespace separated (the files pad with runs of spaces and write
numbers like ``1.0128170e+000``).  Line i of every file of a split describes
window i.  The README: signals at 50 Hz, "pre-processed by applying noise
filters and then sampled in fixed-width sliding windows of 2.56 sec and 50%
overlap (128 readings/window)"; accelerations in g ("gravity of earth ->
9.80665 m/seg2"), gyroscope in rad/s.  21 subjects are in train, 9 in test.
The loader takes ``UCI HAR Dataset/`` or the folder holding it.

From windows to recordings.  The files hold windows, not recordings.  A
window continues the previous one when both belong to the same split,
subject and activity and the first 64 samples of the window equal the last
64 of the previous one in all six channels read (to 1e-6, the files'
printing precision being 7 significant digits).  Maximal chains of such
windows are joined into one continuous recording (the first window whole,
then the second half of each following one: ``128 + 64 (k - 1)`` frames for
k windows); nothing is interpolated or invented, and every sample comes from
the files.  Chains break where the data is not continuous (the source
windows were cut from separate activity segments) or the label changes, so
a recording carries one activity; its frames all take the window label
(UCI HAR has no null class, so no frame is null).  The windows themselves
are kept too: `load_uci_har_windows` returns them as a `WindowSet`
(recording/start pointing into the reconstructed recordings), which
reproduces the published train/test windows exactly.

Channels: ``waist/acc_x..z`` from ``total_acc`` (specific force, g -> m/s²
with `virtimu.datasets.base.G`) and ``waist/gyro_x..z`` from ``body_gyro``
(rad/s).  ``body_acc`` (a filtered derivative of total_acc) is not part of
the recordings; `load_uci_har_windows(..., body_acc=True)` adds it as
``waist/bodyacc_x..z``.  Axes: the phone's (Samsung Galaxy S II on the
waist, the same device and placement as UCI HAPT), named after the ``waist``
site of the ``hapt`` placement preset (``mounts.hapt_phone`` in
``virtimu/assets/sites/sites.yaml``): x up when standing.

Recordings are named ``<split>_userYY_runNNN`` (run counted per subject and
split, from 1), subject ``str(id)``; provenance holds the split, the
1-based line range of the windows in the split's files and the number of
windows.  Labels are in the ``uci_har6`` space.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, G, register, relative_path
from virtimu.datasets.hapt import read_activity_labels, read_text_table
from virtimu.labels.maps import get_label_space
from virtimu.types import Recording, WindowSet

log = logging.getLogger(__name__)

NAME = "uci-har"
FS = 50.0
LABEL_SPACE = "uci_har6"
SITE = "waist"
SPLITS = ("train", "test")
#: Samples per window and the hop between consecutive windows (50 % overlap).
WINDOW = 128
HOP = 64
#: Largest difference (in file units) for two overlapping halves to count as the same samples.
CONTINUITY_ATOL = 1e-6

_FOLDER = "UCI HAR Dataset"
_XYZ = ("x", "y", "z")
#: (file signal, channel kind, scale to SI, unit)
_SIGNALS = (("total_acc", "acc", G, "m/s^2"), ("body_gyro", "gyro", 1.0, "rad/s"))
_BODY_ACC = ("body_acc", "bodyacc", G, "m/s^2")

AXES = {
    f"{SITE}/acc_x": "phone x, total_acc_x (up when the wearer stands; preset 'hapt', mount hapt_phone)",
    f"{SITE}/acc_y": "phone y, total_acc_y (preset 'hapt', mount hapt_phone)",
    f"{SITE}/acc_z": "phone z, total_acc_z (screen normal; preset 'hapt', mount hapt_phone)",
    f"{SITE}/gyro_x": "phone x, body_gyro_x",
    f"{SITE}/gyro_y": "phone y, body_gyro_y",
    f"{SITE}/gyro_z": "phone z, body_gyro_z",
}

INFO = DatasetInfo(
    name=NAME,
    title="UCI HAR: Human Activity Recognition Using Smartphones (raw inertial signals)",
    fs=FS,
    sites=(SITE,),
    label_space=LABEL_SPACE,
    licence="CC BY 4.0 (as listed by the UCI repository; cite Anguita et al. 2013)",
    url="https://archive.ics.uci.edu/dataset/240",
    layout=("UCI HAR Dataset/activity_labels.txt; {train,test}/subject_{split}.txt, y_{split}.txt, "
            "Inertial Signals/{total_acc,body_acc,body_gyro}_{x,y,z}_{split}.txt (128 whitespace-separated "
            "values per line = one 2.56 s window at 50 Hz, 50 % overlap; acc in g, gyro in rad/s)"),
    citation=("D. Anguita, A. Ghio, L. Oneto, X. Parra, J. L. Reyes-Ortiz. A Public Domain Dataset for Human "
              "Activity Recognition Using Smartphones. ESANN 2013."),
    download_url="https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip",
    sha256=None,
    instructions=("Download 'UCI HAR Dataset.zip' from https://archive.ics.uci.edu/dataset/240 and unpack it; "
                  "pass the 'UCI HAR Dataset' folder (or the folder holding it)."),
    extra={"subjects": 30, "windows": {"train": 7352, "test": 2947}, "window": WINDOW, "hop": HOP,
           "device": "Samsung Galaxy S II on the waist"},
)


# --------------------------------------------------------------------------- reading


def find_root(path: Path) -> Path:
    """The ``UCI HAR Dataset`` folder: ``path`` itself or ``path/UCI HAR Dataset``."""
    path = Path(path)
    for c in (path, path / _FOLDER):
        if (c / "train").is_dir() or (c / "test").is_dir() or (c / "activity_labels.txt").is_file():
            return c
    raise DatasetFormatError(path, f"no UCI HAR folder (looked for train/, test/, activity_labels.txt in "
                             f"{path} and {path / _FOLDER})")


@dataclass
class SplitData:
    """One split read from disk.

    signals: {file signal ('total_acc', ...): (N, 128, 3) float64 in file units}.
    subject, y: (N,) int64.  files: relative paths read.
    """

    split: str
    signals: dict[str, np.ndarray]
    subject: np.ndarray
    y: np.ndarray
    files: list[str]


def read_split(root: Path, split: str, shown_root: Path, activities: dict[int, str],
               signals: tuple[str, ...] = ("total_acc", "body_gyro")) -> SplitData:
    """Read and check one split (all files, equal row counts, known labels and subjects).

    Raises `DatasetFormatError` naming the file (relative to ``shown_root``), the
    line and field for any problem.
    """
    folder = root / split
    y_path, s_path = folder / f"y_{split}.txt", folder / f"subject_{split}.txt"
    y_shown, s_shown = relative_path(y_path, shown_root), relative_path(s_path, shown_root)
    y = read_text_table(y_path, 1, ("activity",), shown=y_shown, integer=True)[:, 0]
    subject = read_text_table(s_path, 1, ("subject",), shown=s_shown, integer=True)[:, 0]
    n = y.shape[0]
    if n == 0:
        raise DatasetFormatError(y_shown, "file has no rows")
    if subject.shape[0] != n:
        raise DatasetFormatError(s_shown, f"has {subject.shape[0]} rows but {y_shown} has {n}")
    unknown = ~np.isin(y, list(activities))
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DatasetFormatError(y_shown, f"unknown activity code {int(y[i])}; activity_labels.txt has "
                                 f"{sorted(activities)}", line=_line_of(y_path, i), field="activity")
    if (subject < 1).any():
        i = int(np.argmax(subject < 1))
        raise DatasetFormatError(s_shown, f"subject id {int(subject[i])} is not positive",
                                 line=_line_of(s_path, i), field="subject")
    files = [y_shown, s_shown]
    out: dict[str, np.ndarray] = {}
    for sig in signals:
        axes = []
        for a in _XYZ:
            p = folder / "Inertial Signals" / f"{sig}_{a}_{split}.txt"
            shown = relative_path(p, shown_root)
            table = read_text_table(p, WINDOW, [f"sample {k + 1}" for k in range(WINDOW)], shown=shown)
            if table.shape[0] != n:
                raise DatasetFormatError(shown, f"has {table.shape[0]} windows but {y_shown} has {n}")
            axes.append(table)
            files.append(shown)
        out[sig] = np.stack(axes, axis=-1)
    return SplitData(split=split, signals=out, subject=subject, y=y, files=files)


def _line_of(path: Path, row: int) -> int:
    """1-based line number of the ``row``-th non-blank line of ``path``."""
    k = -1
    with open(path, encoding="ascii") as fh:
        for i, line in enumerate(fh):
            if line.strip():
                k += 1
                if k == row:
                    return i + 1
    return row + 1  # pragma: no cover


def continuous_runs(windows: np.ndarray, subject: np.ndarray, y: np.ndarray,
                    atol: float = CONTINUITY_ATOL) -> list[tuple[int, int]]:
    """Chains of consecutive windows that continue each other.

    windows: (N, 128, C) in file units.  subject, y: (N,).
    Window i+1 continues window i when subject and label agree and
    ``windows[i+1, :64]`` equals ``windows[i, 64:]`` within ``atol``.
    Returns [(first, last)] window indices (inclusive), covering 0..N-1 in order.
    """
    n = windows.shape[0]
    if n == 0:
        return []
    same = np.abs(windows[1:, :HOP] - windows[:-1, HOP:]).max(axis=(1, 2)) <= atol
    cont = same & (subject[1:] == subject[:-1]) & (y[1:] == y[:-1])
    breaks = np.flatnonzero(~cont) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks - 1, [n - 1]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def join_windows(windows: np.ndarray) -> np.ndarray:
    """(k, 128, C) continuing windows -> (128 + 64 (k - 1), C) signal (first window, then second halves)."""
    return np.concatenate([windows[0], windows[1:, HOP:].reshape(-1, windows.shape[2])], axis=0)


@dataclass
class _Run:
    name: str
    split: str
    first: int
    last: int


def _run_names(data: SplitData) -> list[_Run]:
    stacked = np.concatenate([data.signals[s] for s, _, _, _ in _SIGNALS], axis=2)
    runs = []
    counter: dict[int, int] = {}
    for a, b in continuous_runs(stacked, data.subject, data.y):
        subj = int(data.subject[a])
        counter[subj] = counter.get(subj, 0) + 1
        runs.append(_Run(f"{data.split}_user{subj:02d}_run{counter[subj]:03d}", data.split, a, b))
    return runs


def _read_all(path: Path, body_acc: bool = False) -> tuple[Path, list[SplitData]]:
    root = find_root(Path(path))
    shown_root = Path(path)
    act = root / "activity_labels.txt"
    activities = read_activity_labels(act, LABEL_SPACE, shown=relative_path(act, shown_root))
    names = tuple(s for s, _, _, _ in _SIGNALS) + ((_BODY_ACC[0],) if body_acc else ())
    splits = []
    for split in SPLITS:
        if not (root / split).is_dir():
            raise DatasetFormatError(relative_path(root / split, shown_root), "folder is missing")
        splits.append(read_split(root, split, shown_root, activities, names))
    seen = {}
    for data in splits:
        for s in np.unique(data.subject).tolist():
            if s in seen and seen[s] != data.split:
                log.warning("uci-har: subject %d appears in both %s and %s", s, seen[s], data.split)
            seen.setdefault(s, data.split)
    return root, splits


# --------------------------------------------------------------------------- loaders


def load_uci_har(path: str | Path) -> Iterator[Recording]:
    """Continuous recordings rebuilt from the UCI HAR windows (see the module docstring), at 50 Hz.

    Both splits are read and checked before the first recording is yielded.
    Recordings come train first, then test, in file order.
    """
    _, splits = _read_all(Path(path))
    label_map = get_label_space(LABEL_SPACE).label_map()
    channels = [f"{SITE}/{kind}_{a}" for _, kind, _, _ in _SIGNALS for a in _XYZ]
    units = [u for _, _, _, u in _SIGNALS for _ in _XYZ]
    total = 0
    for data in splits:
        runs = _run_names(data)
        log.info("uci-har %s: %d windows -> %d continuous recordings", data.split, data.y.size, len(runs))
        for run in runs:
            parts = [join_windows(data.signals[s][run.first:run.last + 1]) * scale for s, _, scale, _ in _SIGNALS]
            signals = np.concatenate(parts, axis=1)
            total += 1
            yield Recording(
                signals=signals.astype(np.float32), channels=list(channels), units=list(units), fs=FS,
                source=NAME, name=run.name, subject=str(int(data.subject[run.first])),
                labels=np.full(signals.shape[0], int(data.y[run.first]), dtype=np.int64), label_map=dict(label_map),
                provenance={
                    "dataset": NAME, "split": data.split, "files": list(data.files), "fs": FS,
                    "window_lines": [run.first + 1, run.last + 1], "n_windows": run.last - run.first + 1,
                    "reconstruction": (f"consecutive {WINDOW}-sample windows joined where their {HOP}-sample "
                                       f"halves coincide (same subject and label)"),
                    "file_units": {"total_acc": "g", "body_gyro": "rad/s"}, "g": G,
                    "preprocessing": "noise-filtered by the dataset authors before windowing (dataset README)",
                    "axes": dict(AXES), "placement_preset": "hapt",
                },
                attrs={"kind": "real", "dataset": NAME},
            )


def load_uci_har_windows(path: str | Path, body_acc: bool = False) -> WindowSet:
    """The published UCI HAR windows as a `WindowSet`, train then test.

    X: (N, 128, C) float32, C = 6 (acc m/s², gyro rad/s; + 3 ``bodyacc`` in
    m/s² with ``body_acc``).  y: ``uci_har6`` codes.  recording/start: the
    reconstructed recording (``uci-har/<name>`` as `load_uci_har` names it)
    and the window's first frame in it.  attrs['split']: (N,) 'train'/'test'
    as a list; attrs['n_train'] / ['n_test'].
    """
    _, splits = _read_all(Path(path), body_acc=body_acc)
    sigs = list(_SIGNALS) + ([_BODY_ACC] if body_acc else [])
    channels = [f"{SITE}/{kind}_{a}" for _, kind, _, _ in sigs for a in _XYZ]
    units = [u for _, _, _, u in sigs for _ in _XYZ]
    X, y, subj, rec, start, split_of = [], [], [], [], [], []
    for data in splits:
        X.append(np.concatenate([data.signals[s] * scale for s, _, scale, _ in sigs], axis=2).astype(np.float32))
        y.append(data.y)
        subj.append(data.subject.astype(str))
        names = np.empty(data.y.size, dtype=object)
        offs = np.zeros(data.y.size, dtype=np.int64)
        for run in _run_names(data):
            names[run.first:run.last + 1] = f"{NAME}/{run.name}"
            offs[run.first:run.last + 1] = HOP * np.arange(run.last - run.first + 1)
        rec.append(names)
        start.append(offs)
        split_of += [data.split] * data.y.size
    n = {d.split: int(d.y.size) for d in splits}
    return WindowSet(
        X=np.concatenate(X), y=np.concatenate(y), subject=np.concatenate(subj), recording=np.concatenate(rec),
        start=np.concatenate(start), source=np.full(len(split_of), NAME, dtype=object), channels=channels,
        units=units, fs=FS, label_map=get_label_space(LABEL_SPACE).label_map(),
        attrs={"split": split_of, "n_train": n["train"], "n_test": n["test"], "dataset": NAME,
               "axes": dict(AXES)},
    )


@register(INFO)
def load(path: Path) -> Iterator[Recording]:
    """Registered loader: `load_uci_har` (continuous recordings rebuilt from the windows)."""
    return load_uci_har(path)
