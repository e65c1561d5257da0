"""PAMAP2 Physical Activity Monitoring loader (3 Colibri IMUs: hand, chest, ankle).

Dataset
-------
Reiss A, Stricker D. Introducing a New Benchmarked Dataset for Activity
Monitoring. ISWC 2012, 108-109.  9 subjects, 18 activities (a 12-activity
protocol plus optional ones), three wireless IMUs at 100 Hz and a heart
rate monitor (~9 Hz).  UCI Machine Learning Repository dataset 231,
licence CC BY 4.0, https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring .
The UCI zip holds ``readme.pdf`` and ``PAMAP2_Dataset.zip``; the loader reads
the unzipped ``PAMAP2_Dataset/`` folder or, when only the inner zip is there
(as ``virtimu data fetch`` leaves it), the ``.dat`` members of that zip.

Layout (dataset readme, section "Data files")
---------------------------------------------
``PAMAP2_Dataset/Protocol/subject101.dat ... subject109.dat`` and
``PAMAP2_Dataset/Optional/subjectNNN.dat`` (only some subjects): one
space-separated text file per subject and session, no header, one row per
sample, 54 columns, missing values written ``NaN`` (wireless drop-outs;
the heart rate is NaN between its ~9 Hz readings):

====  ==========================================================
1     timestamp (s)
2     activityID
3     heart rate (bpm)
4-20  IMU hand, 21-37 IMU chest, 38-54 IMU ankle, each:
      1 temperature (°C), 2-4 3D acceleration (m/s², ±16 g, 13 bit),
      5-7 3D acceleration (m/s², ±6 g, 13 bit), 8-10 3D gyroscope
      (rad/s), 11-13 3D magnetometer (µT), 14-17 orientation
      (invalid in this data collection)
====  ==========================================================

The readme recommends the ±16 g accelerometer (the ±6 g one saturates
above 6 g, e.g. when running, and is not precisely calibrated with the
first); the loader keeps it, the gyroscope and the magnetometer (already
SI: m/s², rad/s, µT) and drops temperature, heart rate, the ±6 g
accelerometer and the invalid orientation.

Activity IDs (label space ``pamap2``): 0 other (transient activities) ->
virtimu null, 1 lying, 2 sitting, 3 standing, 4 walking, 5 running,
6 cycling, 7 Nordic walking, 9 watching TV, 10 computer work, 11 car
driving, 12 ascending stairs, 13 descending stairs, 16 vacuum cleaning,
17 ironing, 18 folding laundry, 19 house cleaning, 20 playing soccer,
24 rope jumping.  Other IDs are format errors (file, line).

Sites and axes
--------------
IMU positions (readme): "over the wrist on the dominant arm", "on the
chest", "on the dominant side's ankle".  They map to the virtual sites
``right_wrist`` (back of the forearm near the wrist), ``chest`` and
``right_shin`` (the shank; the closest site to a strap just above the
ankle that follows the lower leg).  The per-subject dominant side
(subjectInformation.pdf) is not read: a left-handed subject's sensors sit
on the left side but keep these names.  The Colibri device axes relative
to the body are not documented in the readme; device x/y/z are taken as
the site's x/y/z (recorded in ``provenance['axes']``, not verified).

Time: rows are samples at 100 Hz; gaps in the timestamps are handled as in
`virtimu.datasets.harth.fill_gaps` (<= 2 missing samples joined, longer
gaps up to 60 s NaN-filled with null labels, longer ones split the
recording into ``..._segNN``).  Recording names ``protocol_subject101``,
``optional_subject105``; subject ids ``'101'`` ...
"""
from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, register, relative_path
from virtimu.datasets.harth import (
    MAX_FILL_S,
    MAX_JOIN_MISSING,
    check_codes,
    fill_gaps,
    float_column,
    place_on_grid,
    segment_names,
)
from virtimu.labels.maps import get_label_space
from virtimu.types import Recording

log = logging.getLogger(__name__)

#: Native sampling rate (Hz).
FS = 100.0
N_COLUMNS = 54
#: First 0-based column of each IMU block and the virtual site it maps to.
IMUS = {"hand": (3, "right_wrist"), "chest": (20, "chest"), "ankle": (37, "right_shin")}
#: Offsets inside an IMU block (0-based): ±16 g acc, gyro, magnetometer.
BLOCK = {"acc": (1, "m/s^2", "±16 g accelerometer"), "gyro": (7, "rad/s", "gyroscope"),
         "mag": (10, "uT", "magnetometer")}
SESSIONS = ("Protocol", "Optional")
_FILE = re.compile(r"subject(\d+)\.dat")


def _channels() -> tuple[list[str], list[str], list[int], dict[str, str]]:
    names, units, cols, axes = [], [], [], {}
    for imu, (base, site) in IMUS.items():
        for kind, (off, unit, what) in BLOCK.items():
            for k, a in enumerate("xyz"):
                ch = f"{site}/{kind}_{a}"
                names.append(ch)
                units.append(unit)
                cols.append(base + off + k)
                axes[ch] = f"{imu} IMU {what} {a} (column {base + off + k + 1}; Colibri axis, not verified)"
    return names, units, cols, axes


CHANNELS, UNITS, COLUMNS, AXES = _channels()


def read_dat(path: Path, session: str, root: Path) -> list[Recording]:
    """Recordings (one per gap-separated segment) of one PAMAP2 ``subjectNNN.dat`` file.

    Returns Recordings with 27 channels (acc ±16 g, gyro, mag at
    ``right_wrist``, ``chest``, ``right_shin``), 100 Hz, labels in space
    ``pamap2``.  Raises `DatasetFormatError` naming file, line and field.
    """
    return parse_dat(path.read_bytes(), relative_path(path, root), session)


def parse_dat(data: bytes, shown: str, session: str) -> list[Recording]:
    """`read_dat` on the bytes of a file; ``shown`` is its name (ending in ``subjectNNN.dat``) for errors."""
    m = _FILE.fullmatch(shown.rsplit("/", 1)[-1])
    if m is None:
        raise DatasetFormatError(shown, "file name is not subjectNNN.dat")
    subject = m.group(1)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(shown, f"not a plain text file ({exc})") from None
    rows = [line.split() for line in text.splitlines()]
    if not rows:
        raise DatasetFormatError(shown, "no data rows", line=1)
    lengths = np.array([len(r) for r in rows])
    bad = np.flatnonzero(lengths != N_COLUMNS)
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(shown, f"{lengths[i]} columns, expected {N_COLUMNS} space-separated values"
                                 + (" (truncated row?)" if lengths[i] < N_COLUMNS else ""), line=i + 1)
    cols = list(zip(*rows))
    t = float_column(cols[0], shown, "timestamp", first_line=1)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise DatasetFormatError(shown, "timestamp is missing", line=i + 1, field="timestamp")
    act = float_column(cols[1], shown, "activityID", first_line=1)
    nonint = np.flatnonzero(~np.isfinite(act) | (act != np.round(act)))
    if nonint.size:
        i = int(nonint[0])
        raise DatasetFormatError(shown, f"activityID {cols[1][i]!r} is not an integer", line=i + 1,
                                 field="activityID")
    labels = act.astype(np.int64)
    space = get_label_space("pamap2")
    check_codes(labels, list(space.codes), shown, field="activityID", first_line=1, space="pamap2")
    values = np.stack([float_column(cols[c], shown, CHANNELS[j], first_line=1) for j, c in enumerate(COLUMNS)],
                      axis=1)
    segments, short = fill_gaps(t, FS, shown, first_line=1)
    names = segment_names(f"{session.lower()}_subject{subject}", len(segments))
    out = []
    for k, (seg, name) in enumerate(zip(segments, names)):
        x, y = place_on_grid(values, labels, seg)
        prov: dict[str, Any] = {
            "dataset": "pamap2", "files": [shown], "native_fs_hz": FS, "session": session.lower(),
            "axes": dict(AXES), "units_in_file": "SI (m/s^2, rad/s, uT)",
            "start_time_s": float(t[seg.rows.start]), "rows": [int(seg.rows.start), int(seg.rows.stop)],
            "segment": k, "n_segments": len(segments), "gaps_filled": seg.gaps_filled,
            "frames_filled": seg.frames_filled, "short_steps": short if k == 0 else 0,
            "dropped_columns": "heart rate, temperature, ±6 g accelerometer, orientation",
            "gap_policy": {"max_join_missing": MAX_JOIN_MISSING, "max_fill_s": MAX_FILL_S},
        }
        out.append(Recording(signals=x, channels=list(CHANNELS), units=list(UNITS), fs=FS, source="pamap2",
                             name=name, labels=y, label_map=space.label_map(), subject=subject, provenance=prov,
                             attrs={"kind": "real", "dataset": "pamap2"}))
    return out


def _session_dirs(root: Path) -> list[tuple[str, Path]]:
    for base in (root, root / "PAMAP2_Dataset"):
        found = [(s, base / s) for s in SESSIONS if (base / s).is_dir()]
        if found:
            return found
    if any(root.glob("subject*.dat")):
        return [(root.name, root)]
    return []


def _from_zip(archive: Path, root: Path) -> Iterator[Recording]:
    """Recordings straight from the inner ``PAMAP2_Dataset.zip`` (as ``virtimu data fetch`` leaves it)."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise DatasetFormatError(relative_path(archive, root), f"not a zip archive ({exc})") from None
    with zf:
        members = sorted((SESSIONS.index(parts[-2]), n) for n in zf.namelist()
                         if len(parts := n.split("/")) >= 2 and parts[-2] in SESSIONS and _FILE.fullmatch(parts[-1]))
        if not members:
            raise DatasetFormatError(relative_path(archive, root), "no Protocol/ or Optional/ subjectNNN.dat members")
        for _, name in members:
            session = name.split("/")[-2]
            yield from parse_dat(zf.read(name), f"{relative_path(archive, root)}/{name}", session)


_INFO = DatasetInfo(
    name="pamap2",
    title="PAMAP2 Physical Activity Monitoring (UCI 231)",
    fs=FS,
    sites=("right_wrist", "chest", "right_shin"),
    label_space="pamap2",
    licence="CC BY 4.0",
    url="https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring",
    layout=("PAMAP2_Dataset/{Protocol,Optional}/subjectNNN.dat: space-separated, no header, 54 columns: "
            "timestamp (s), activityID, heart rate, then hand / chest / ankle IMU blocks of 17 (temperature, "
            "acc ±16 g m/s², acc ±6 g m/s², gyro rad/s, mag µT, 4 invalid orientation); NaN = missing; 100 Hz."),
    citation=("Reiss A, Stricker D. Introducing a New Benchmarked Dataset for Activity Monitoring. "
              "16th International Symposium on Wearable Computers (ISWC) 2012, 108-109. doi:10.1109/ISWC.2012.13"),
    download_url="https://archive.ics.uci.edu/static/public/231/pamap2+physical+activity+monitoring.zip",
    # SHA-256 of the UCI zip as pinned (and checked on download) by public code in another project; not
    # re-downloaded here.  The zip contains PAMAP2_Dataset.zip (read directly, or unzipped).
    sha256="76b3580bd5a804121f507717cb498c66a312ef5c774f4a78ac470e6558add352",
    instructions=("Download the UCI zip and unzip it; pass that folder (holding PAMAP2_Dataset.zip, or "
                  "PAMAP2_Dataset/ once that is unzipped too)."),
    extra={"nested_zip": "PAMAP2_Dataset.zip"},
)


@register(_INFO)
def load_pamap2(path: Path) -> Iterator[Recording]:
    """PAMAP2 recordings under ``path`` (Protocol then Optional sessions, subjects in order)."""
    root = Path(path)
    sessions = _session_dirs(root)
    if not sessions:
        inner = next((p for p in (root / "PAMAP2_Dataset.zip", root / "PAMAP2_Dataset" / "PAMAP2_Dataset.zip")
                      if p.is_file()), None)
        if inner is None:
            raise DatasetFormatError(root, "no PAMAP2 files: expected PAMAP2_Dataset/Protocol/subjectNNN.dat "
                                     "(or the UCI archive's PAMAP2_Dataset.zip)")
        yield from _from_zip(inner, root)
        return
    any_file = False
    for session, folder in sessions:
        files = sorted(folder.glob("subject*.dat"))
        if not files:
            log.warning("%s: no subjectNNN.dat files", folder)
        for f in files:
            any_file = True
            yield from read_dat(f, session, root)
    if not any_file:
        raise DatasetFormatError(root, "no subjectNNN.dat files in the PAMAP2 session folders")
