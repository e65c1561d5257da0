"""DIP-IMU loader: 17 Xsens IMUs per frame, with activity labels from the sequence file names.

Dataset: DIP-IMU (Huang, Kaufmann, Aksan, Black, Hilliges, Pons-Moll, "Deep
Inertial Poser", ACM TOG 37(6), SIGGRAPH Asia 2018).  Registration and
licence acceptance at https://dip.is.tue.mpg.de (non-commercial scientific
research licence); there is no public download URL.

Published layout (``DIP_IMU_and_Others/DIP_IMU/``)::

    s_01/01.pkl  s_01/02.pkl ... s_10/05.pkl      (some motions split: 01_a.pkl, 01_b.pkl ...)

Each ``.pkl`` is a Python 2 pickle of a dict (read here with
`virtimu.io.pickles.restricted_load`, which refuses pickles that carry code):

* ``imu_acc`` (T, 17, 3): accelerations in m/s², 60 Hz,
* ``imu_ori`` (T, 17, 3, 3): sensor orientations as rotation matrices,
* ``gt`` (T, 72): SMPL poses (not used here), optionally ``sop`` / ``sip``;
* NaN marks frames a sensor dropped.

The dataset's ``overview_of_published_data.txt`` says one pickle holds one
motion type, numbered as the categories of Table 6 (appendix F) of the paper,
"e.g. s_01/01.pkl are the upper body movements of subject 1" (quoted in
eth-ait/dip18 issue #40).

Sensor order (17 slots; order of the DIP authors' aitviewer example
``load_DIP_IMU.py``, eth-ait/dip18 issue #16; same as the ``dip-full``
placement preset in sites.yaml): head, sternum, pelvis, lshoulder, rshoulder,
lupperarm, rupperarm, llowerarm, rlowerarm, lupperleg, rupperleg, llowerleg,
rlowerleg, lhand, rhand, lfoot, rfoot -> `DIP_SITES`.  The six sensors DIP
uses for pose estimation are slots [7, 8, 11, 12, 0, 2].

Frames and accelerations (checked against the TransPose preprocessing,
github.com/Xinyu-Yi/TransPose ``preprocess.py``): DIP's data are calibrated
to the SMPL body frame, so ``imu_ori`` is the orientation of the body segment
the sensor rides on (bone-aligned sensor axes, the ``mount: joint`` of the
``dip`` presets) in DIP's world frame, which is y up (TransPose rotates AMASS
by ``[[1,0,0],[0,0,1],[0,-1,0]]`` "to align AMASS global frame with DIP"),
and ``imu_acc`` is the acceleration in that world frame with gravity removed
(TransPose feeds it unchanged next to its synthetic vertex accelerations,
which are plain second differences of world positions).

This loader converts to virtimu's convention (DESIGN.md, AMASS world z up,
gravity (0, 0, -9.81)) with ``v_z = Y_TO_Z @ v_y``, and outputs per site:

* ``<site>/acc_x|y|z``: specific force in the sensor frame, what an
  accelerometer reads and what virtimu synthesises:
  ``f_s = R_wsᵀ (a_w − g_w)``;
* ``<site>/freeacc_x|y|z``: DIP's own "global acceleration without gravity"
  ``a_w`` expressed in the z-up world frame;
* ``<site>/gyro_x|y|z``: rad/s, derived (DIP-IMU publishes no gyro) from
  consecutive orientations with `virtimu.sensors.signals.gyro_from_orientations`;
  a frame next to a NaN orientation gets NaN;
* ``<site>/rot_00 ... rot_22``: ``R_ws`` in the z-up world, row-major.

Labels (``dip5`` space): the five activities paper 001 uses (computer work,
walking, jumping, stretching arms, stretching legs) come from the sequence
number of the file name (``01`` of ``01_b.pkl``).  Only ``01`` = upper body
movements is confirmed by the dataset's overview file, and it maps to
``stretching_arms``; the numbering of the other categories (Table 6 of the
paper) could not be checked here, so the other sequence numbers are
unlabelled (code 0) unless a mapping file is supplied: put
``dip_activities.yaml`` in the folder passed to the loader (or in the
``DIP_IMU`` folder), mapping sequence numbers to ``dip5`` names, e.g.::

    "01": stretching_arms
    "02": stretching_legs
    "03": walking
    "04": jumping
    "05": computer_work

(an example whose entries 02-05 are a guess, not a published fact).  Every
frame of a sequence gets its sequence's label.  Subject = folder name
(``'s_01'``), recording name = ``'s_01_01'`` / ``'s_01_01_a'``.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from virtimu.datasets.base import DatasetFormatError, DatasetInfo, register, relative_path
from virtimu.io.pickles import PickleReadError, restricted_load, to_plain
from virtimu.labels.maps import get_label_space
from virtimu.sensors.signals import (
    SIGNAL_AXES,
    SIGNAL_UNITS,
    gyro_from_orientations,
    orientation_channels,
    specific_force,
)
from virtimu.types import Recording

log = logging.getLogger(__name__)

NAME = "dip"
FS = 60.0
LABEL_SPACE = "dip5"
N_SENSORS = 17
#: DIP-IMU's 17 sensor slots (dataset names) in file order.
DIP_SENSOR_NAMES = ("head", "sternum", "pelvis", "lshoulder", "rshoulder", "lupperarm", "rupperarm",
                    "llowerarm", "rlowerarm", "lupperleg", "rupperleg", "llowerleg", "rlowerleg",
                    "lhand", "rhand", "lfoot", "rfoot")
#: virtimu site of each slot (the ``dip-full`` preset of sites.yaml, same order).
DIP_SITES = ("head", "chest", "pelvis", "left_shoulder", "right_shoulder", "left_upper_arm", "right_upper_arm",
             "left_wrist", "right_wrist", "left_thigh", "right_thigh", "left_knee", "right_knee",
             "left_hand", "right_hand", "left_foot", "right_foot")
#: DIP world (y up) -> virtimu/AMASS world (z up): the inverse of TransPose's AMASS->DIP rotation.
Y_TO_Z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: Signal kinds per site, in channel order.
SIGNALS = ("acc", "freeacc", "gyro", "rot")
#: Sequence number -> dip5 name known for sure (see module docstring).
DEFAULT_ACTIVITIES: dict[str, str] = {"01": "stretching_arms"}
ACTIVITY_FILE = "dip_activities.yaml"
FILE_PATTERN = re.compile(r"^(\d+)(?:_([A-Za-z0-9]+))?\.pkl$")
SUBJECT_PATTERN = re.compile(r"^s_\d+$")
#: Largest deviation of imu_ori from a rotation matrix that is accepted (|RᵀR − I|, max element).
ORTHO_TOL = 1e-2

INFO = DatasetInfo(
    name=NAME,
    title="DIP-IMU (Deep Inertial Poser), 17 Xsens IMUs",
    fs=FS,
    sites=DIP_SITES,
    label_space=LABEL_SPACE,
    licence="DIP-IMU licence (non-commercial scientific research; registration required)",
    url="https://dip.is.tue.mpg.de",
    layout=("DIP_IMU/s_01 ... s_10/<NN>[_<part>].pkl: Python 2 pickles of dict(imu_acc (T,17,3) m/s^2 world "
            "frame without gravity, imu_ori (T,17,3,3), gt (T,72) SMPL poses, [sop, sip]); 60 Hz; NaN = "
            "dropped frames; optional dip_activities.yaml (sequence number -> dip5 activity)"),
    citation=("Y. Huang, M. Kaufmann, E. Aksan, M. J. Black, O. Hilliges, G. Pons-Moll, Deep Inertial Poser: "
              "learning to reconstruct human pose from sparse inertial measurements in real time, "
              "ACM TOG 37(6), 2018"),
    download_url=None,
    sha256=None,
    instructions=("Register at https://dip.is.tue.mpg.de, download DIP_IMU_and_Others.zip, unzip it and pass "
                  "the DIP_IMU folder (or its parent). Optionally add dip_activities.yaml mapping sequence "
                  "numbers ('01' ...) to dip5 activities."),
    extra={"sensors": dict(zip(DIP_SENSOR_NAMES, DIP_SITES)), "world": "converted from DIP y-up to z-up"},
)


# --------------------------------------------------------------------------- files


def find_data_dir(root: Path) -> Path:
    """The folder holding the ``s_NN`` subject folders: ``root``, ``root/DIP_IMU`` or
    ``root/DIP_IMU_and_Others/DIP_IMU``; DatasetFormatError if none has them."""
    for cand in (root, root / "DIP_IMU", root / "DIP_IMU_and_Others" / "DIP_IMU"):
        if cand.is_dir() and any(p.is_dir() and SUBJECT_PATTERN.match(p.name) for p in cand.iterdir()):
            return cand
    raise DatasetFormatError(root, "no DIP-IMU subject folders (s_01 ... s_10) found here, in DIP_IMU/ or in "
                                   "DIP_IMU_and_Others/DIP_IMU/")


def read_activity_map(path: Path) -> dict[str, str]:
    """Sequence number -> dip5 name from a YAML mapping file (see module docstring).

    Keys are sequence numbers (``"01"`` or ``1``; normalised to two digits),
    values ``dip5`` names or null (unlabelled).  DatasetFormatError naming the
    file and key for an unknown activity name or a malformed entry.
    """
    space = get_label_space(LABEL_SPACE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(path, f"not UTF-8 text ({exc})") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: e.g. a date like 2019-13-45
        raise DatasetFormatError(path, f"not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise DatasetFormatError(path, "expected a mapping of sequence numbers to dip5 activity names")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not re.fullmatch(r"\d+", str(key)):
            raise DatasetFormatError(path, "sequence number must be digits, e.g. '01'", field=str(key))
        seq = f"{int(str(key)):02d}"
        if value is None:
            out[seq] = space.null_name
            continue
        if not isinstance(value, str) or value not in space:
            raise DatasetFormatError(path, f"unknown activity {value!r}; valid: {space.names}", field=str(key))
        out[seq] = value
    return out


def activity_map(root: Path, data_dir: Path) -> tuple[dict[str, str], str]:
    """The activity mapping in force and where it came from (a mapping file or the built-in default)."""
    for cand in (root / ACTIVITY_FILE, data_dir / ACTIVITY_FILE):
        if cand.is_file():
            return read_activity_map(cand), relative_path(cand, root)
    return dict(DEFAULT_ACTIVITIES), "built-in default (only 01 = upper body = stretching_arms is published)"


def _array(data: Mapping[str, Any], key: str, path: Path, shape_tail: tuple[int, ...]) -> np.ndarray:
    if key not in data:
        raise DatasetFormatError(path, f"missing key {key!r}; the pickle has {sorted(map(str, data))}", field=key)
    try:
        arr = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetFormatError(path, f"not a numeric array ({type(data[key]).__name__})", field=key) from None
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise DatasetFormatError(path, f"shape {arr.shape}, expected (T, {', '.join(map(str, shape_tail))})",
                                 field=key)
    return arr


def read_sequence(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``imu_acc`` (T, 17, 3) and ``imu_ori`` (T, 17, 3, 3) of one DIP-IMU pickle, validated.

    Raises UnsafePickleError for a pickle that references code; DatasetFormatError
    naming the file (and key) for a truncated or corrupt pickle, a wrong
    structure, shapes that disagree, infinite values or orientations that are
    not rotation matrices (NaN is allowed: dropped frames).
    """
    try:
        data = to_plain(restricted_load(path, what="DIP-IMU sequence"))
    except PickleReadError as exc:
        raise DatasetFormatError(path, f"not a readable pickle ({exc})") from None
    if not isinstance(data, Mapping):
        raise DatasetFormatError(path, f"expected a dict with imu_acc / imu_ori / gt, got {type(data).__name__}")
    data = {str(k): v for k, v in data.items()}
    acc = _array(data, "imu_acc", path, (N_SENSORS, 3))
    ori = _array(data, "imu_ori", path, (N_SENSORS, 3, 3))
    if acc.shape[0] != ori.shape[0]:
        raise DatasetFormatError(path, f"imu_acc has {acc.shape[0]} frames, imu_ori {ori.shape[0]}",
                                 field="imu_ori")
    if "gt" in data:
        gt = _array(data, "gt", path, (72,))
        if gt.shape[0] != acc.shape[0]:
            raise DatasetFormatError(path, f"gt has {gt.shape[0]} frames, imu_acc {acc.shape[0]}", field="gt")
    if acc.shape[0] < 2:
        raise DatasetFormatError(path, f"{acc.shape[0]} frames; need at least 2", field="imu_acc")
    for key, arr in (("imu_acc", acc), ("imu_ori", ori)):
        if np.isinf(arr).any():
            frame = int(np.argwhere(np.isinf(arr))[0][0])
            raise DatasetFormatError(path, f"infinite value at frame {frame}", field=key)
    ok = np.isfinite(ori).all(axis=(-2, -1))  # (T, 17)
    err = np.abs(np.einsum("...ji,...jk->...ik", ori, ori) - np.eye(3)).max(axis=(-2, -1))
    bad = ok & ~(err < ORTHO_TOL)
    if bad.any():
        t, s = (int(v) for v in np.argwhere(bad)[0])
        raise DatasetFormatError(path, f"frame {t}, sensor {s} ({DIP_SENSOR_NAMES[s]}): not a rotation matrix "
                                       f"(|R^T R - I| = {err[t, s]:.3g})", field="imu_ori")
    return acc, ori


# --------------------------------------------------------------------------- physics


def gyro_with_gaps(R_ws: np.ndarray, dt: float) -> np.ndarray:
    """`gyro_from_orientations` where frames may be NaN: (T, S, 3, 3) -> (T, S, 3) rad/s.

    NaN orientations are replaced by the identity for the computation and every
    frame whose value depends on one (the frame and its two neighbours) is NaN.
    """
    ok = np.isfinite(R_ws).all(axis=(-2, -1))  # (T, S)
    filled = np.where(ok[..., None, None], R_ws, np.eye(3))
    w = gyro_from_orientations(filled, dt)
    bad = ~ok
    near = bad.copy()
    near[1:] |= bad[:-1]
    near[:-1] |= bad[1:]
    w[near] = np.nan
    return w


def dip_signals(acc_y: np.ndarray, ori_y: np.ndarray, fs: float = FS) -> dict[str, np.ndarray]:
    """virtimu signals from DIP's world-frame (y up) data.

    acc_y: (T, S, 3) m/s², world acceleration without gravity, y up.
    ori_y: (T, S, 3, 3) sensor-to-world rotations, y-up world.
    Returns {'acc': specific force in the sensor frame (T, S, 3) m/s²,
    'freeacc': acc_y in the z-up world (T, S, 3) m/s², 'gyro': (T, S, 3) rad/s,
    'rot': R_ws in the z-up world flattened (T, S, 9)}; NaN where the input is NaN.
    """
    acc_z = np.einsum("ij,tsj->tsi", Y_TO_Z, acc_y)
    R_z = np.einsum("ij,tsjk->tsik", Y_TO_Z, ori_y)
    return {
        "acc": specific_force(acc_z, R_z),
        "freeacc": acc_z,
        "gyro": gyro_with_gaps(R_z, 1.0 / fs),
        "rot": orientation_channels(R_z),
    }


_AXES = {**SIGNAL_AXES, "freeacc": ["freeacc_x", "freeacc_y", "freeacc_z"]}
_UNITS = {**SIGNAL_UNITS, "freeacc": "m/s^2"}


# --------------------------------------------------------------------------- loader


def load_sequence(path: Path, root: Path, subject: str, activity: str, activity_source: str) -> Recording:
    """One validated `Recording` from one DIP-IMU pickle (see module docstring)."""
    acc, ori = read_sequence(path)
    norms = np.linalg.norm(acc, axis=-1)
    median_norm = float(np.nanmedian(norms)) if np.isfinite(norms).any() else float("nan")
    if median_norm > 0.5 * 9.81:
        # gravity-free data has a median |a| far below 1 g; a value near 1 g means gravity is included
        log.warning("%s: median |imu_acc| = %.2f m/s^2, close to 1 g; the file may include gravity, which this "
                    "loader assumes was removed", path, median_norm)
    sig = dip_signals(acc, ori)
    T = acc.shape[0]
    blocks, channels, units = [], [], []
    for s, site in enumerate(DIP_SITES):
        for kind in SIGNALS:
            blocks.append(sig[kind][:, s])
            channels += [f"{site}/{axis}" for axis in _AXES[kind]]
            units += [_UNITS[kind]] * len(_AXES[kind])
    space = get_label_space(LABEL_SPACE)
    labels = np.full(T, space.code(activity), dtype=np.int64)
    axes = {}
    for dip_name, site in zip(DIP_SENSOR_NAMES, DIP_SITES):
        for a in "xyz":
            axes[f"{site}/acc_{a}"] = (f"DIP {dip_name} sensor {a} axis after DIP's calibration to its body "
                                       f"segment (bone-aligned, mount 'joint'); specific force R_ws^T (a_w - g)")
            axes[f"{site}/freeacc_{a}"] = f"world {a} (z up), from DIP imu_acc (y-up world, gravity removed)"
    return Recording(
        signals=np.concatenate(blocks, axis=1).astype(np.float32),
        channels=channels,
        units=units,
        fs=FS,
        source=NAME,
        name=f"{subject}_{path.stem}",
        labels=labels,
        label_map=space.label_map(),
        subject=subject,
        provenance={
            "dataset": NAME,
            "files": [relative_path(path, root)],
            "native_fs": FS,
            "sensors": dict(zip(DIP_SENSOR_NAMES, DIP_SITES)),
            "world": "DIP world (y up) rotated to z up with Y_TO_Z = [[1,0,0],[0,0,-1],[0,1,0]]",
            "acc": "specific force f_s = R_ws^T (a_w - g), g = (0, 0, -9.81), from DIP imu_acc "
                   "(world frame, gravity removed) and imu_ori",
            "freeacc": "DIP imu_acc (global acceleration without gravity) in the z-up world",
            "gyro": "derived from consecutive imu_ori with gyro_from_orientations (DIP-IMU has no gyro)",
            "axes": axes,
            "activity": activity,
            "activity_source": activity_source,
            "median_free_acc_norm": median_norm,
            "nan_frames": int((~np.isfinite(acc).all(axis=(1, 2)) | ~np.isfinite(ori).all(axis=(1, 2, 3))).sum()),
        },
        attrs={"kind": "real", "dataset": NAME},
    )


@register(INFO)
def load(root: Path) -> Iterator[Recording]:
    """Recordings of every ``s_NN/<seq>.pkl`` under ``root`` (sorted), 60 Hz."""
    root = Path(root)
    data_dir = find_data_dir(root)
    activities, source = activity_map(root, data_dir)
    null_name = get_label_space(LABEL_SPACE).null_name
    subjects = sorted(p for p in data_dir.iterdir() if p.is_dir() and SUBJECT_PATTERN.match(p.name))
    unmapped: set[str] = set()
    for subject_dir in subjects:
        files = sorted(subject_dir.glob("*.pkl"))
        if not files:
            raise DatasetFormatError(subject_dir, "no sequence files (<NN>.pkl) in this subject folder")
        for path in files:
            m = FILE_PATTERN.match(path.name)
            if not m:
                raise DatasetFormatError(path, "file name does not follow the DIP-IMU layout <NN>[_<part>].pkl")
            seq = f"{int(m.group(1)):02d}"
            activity = activities.get(seq, null_name)
            if seq not in activities and seq not in unmapped:
                unmapped.add(seq)
                log.warning("dip: sequence number %s has no activity in %s; its files are labelled null "
                            "(add it to %s)", seq, source, ACTIVITY_FILE)
            yield load_sequence(path, root, subject_dir.name, activity, source)
