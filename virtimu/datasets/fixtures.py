"""Small, format-faithful stand-ins for datasets that are not at hand (tests, ``--quick`` pipelines).

Each ``write_<name>_fixture(folder, ...)`` writes files in the published
layout that the matching loader reads (`virtimu.datasets.<name>`, AMASS:
`virtimu.io.amass`) and returns the folder to pass to the loader
(``load_dataset(name, path)`` / ``run_synthesis(path, ...)``).  The signals
are not noise: every recording is synthesised from virtimu's procedural
motions (`virtimu.motion`: walking, running, standing, sitting down,
lying down, jumping, waving, arm stretching) on the open default body,
with the dataset's sensor placement, a seeded Xsens-like device model
(`virtimu.sensors.noise`) and per-subject placement jitter, so gravity,
posture and movement rhythm depend on the activity as in real data, and a
quick training run learns something.

THESE ARE NOT THE DATASETS.  Activities the generator cannot make are
played by stand-ins (below); subjects differ only by seed, gait speed /
cadence, heading and sensor placement jitter; sessions are a handful of
clips one after the other (the signal jumps where two clips meet).  Any
figure computed on them says that the code runs, nothing about the papers.

What each writer produces (stand-ins marked *):

* ``amass``: ``<SubDataset>/<subject>/<name>_poses.npz`` AMASS SMPL+H files
  (120 Hz by default) named so that the bundled rules
  (``virtimu/assets/labels/amass_12.yaml``) give walking, running, jumping,
  standing, sitting, lying, arm_stretching and arm_gestures (waving), plus
  one ``Transitions_mocap`` file the rules exclude; per-frame labels stored
  as in the demo clips.
* ``dip``: ``DIP_IMU_and_Others/DIP_IMU/s_NN/0K.pkl`` Python-2 pickles
  (imu_acc in a y-up world without gravity, imu_ori, gt with its root in
  the same y-up world), 60 Hz, 17
  sensors, and a ``dip_activities.yaml``: 01 stretching_arms, 02
  stretching_legs* (lying down), 03 walking, 04 jumping, 05 computer_work*
  (sitting).
* ``opportunity``: ``OpportunityUCIDataset/dataset/S<k>-ADL1.dat`` (250
  columns, RWR accelerometer in milli g, 30 Hz), ``column_names.txt``,
  ``label_legend.txt``: Stand, Walk, Sit, Lie, Stand + Drink from Cup*
  (waving), Stand + Open Door 1* (arm stretching).
* ``jsi-fos``: ``S0k.csv`` (timestamp,acc_x,acc_y,acc_z,label; g; 50 Hz):
  standing, walking, lying_back, cycling* (running), transition_down.
* ``harth`` / ``har70plus``: ``harth/S0NN.csv`` / ``har70plus/5NN.csv``
  (date-time, back_x..thigh_z in g, integer label; 50 Hz): walking, running
  (HARTH only), shuffling* (slow stooped steps), standing, sitting, lying.

Everything is deterministic given ``seed``.  Writing takes about a second
per minute of data on one core.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from virtimu.datasets.base import G
from virtimu.motion import (
    JumpParams,
    LieParams,
    RunParams,
    SitParams,
    StandParams,
    StretchParams,
    WalkParams,
    WaveParams,
    generate,
    write_clip,
)
from virtimu.motion.clip import Clip
from virtimu.sensors.placement import Site, attach_sites, jitter_sites, resolve_sites
from virtimu.sensors.synth import SynthConfig, synthesize
from virtimu.types import Recording

log = logging.getLogger(__name__)

#: Activities the procedural generator makes (`activity_clip`).
ACTIVITIES = ("standing", "walking", "running", "shuffling", "jumping", "sitting", "lying", "waving",
              "arm_stretching")
#: Device model of every stand-in recording (``virtimu.sensors.noise`` preset).
DEVICE = "xsens"
#: Placement jitter per subject: offset std (m), rotation std (deg).
JITTER = (0.01, 5.0)


# --------------------------------------------------------------------------- motion


def activity_clip(kind: str, seed: int, fps: float = 120.0, seconds: float | None = None) -> Clip:
    """A procedural clip of activity ``kind`` (one of `ACTIVITIES`), varied by ``seed``.

    seconds: length of the activity's main phase (walking, standing ...: the
    whole clip; sitting: the seated phase; lying: the time lying still;
    waving: the waving; jumping: as many jumps as fit; arm stretching: at
    least one full stretch); None keeps the generator's default.  The seed also draws speed / cadence
    (±12 %), heading and gesture rates, so two seeds give two "subjects".
    """
    if kind not in ACTIVITIES:
        raise KeyError(f"unknown activity {kind!r}; the generator makes {list(ACTIVITIES)}")
    rng = np.random.default_rng([int(seed), ACTIVITIES.index(kind)])
    s = float(rng.uniform(0.88, 1.12))
    common: dict[str, Any] = {"fps": float(fps), "seed": int(seed), "heading": float(rng.uniform(-np.pi, np.pi))}
    sec = None if seconds is None else max(float(seconds), 2.0)
    if kind in ("walking", "shuffling", "running", "standing"):
        if kind == "walking":
            p: Any = WalkParams(speed=1.35 * s, step_frequency=1.8 * s ** 0.5, **common)
        elif kind == "shuffling":
            # slow, stooped steps (the generator's feet need a stride >= ~0.9 m at this cadence)
            p = WalkParams(speed=0.8, step_frequency=1.6, arm_swing=0.1, trunk_lean=0.15, name="shuffling",
                           label="shuffling", **common)
        elif kind == "running":
            p = RunParams(speed=3.0 * s, step_frequency=2.8 * s ** 0.5, **common)
        else:
            p = StandParams(sway=0.005 * s, **common)
        if sec is not None:
            p = replace(p, duration=sec)
    elif kind == "jumping":
        p = JumpParams(jump_height=0.25 * s, **common)
        if sec is not None:  # as many jumps as fit, the last one followed by 1.5 s of standing
            n = max(1, int((sec - p.first_at - 1.5) // p.interval) + 1)
            p = replace(p, n_jumps=n, duration=max(sec, p.first_at + (n - 1) * p.interval + 2.5))
    elif kind == "sitting":
        p = SitParams(seat_height=0.45 * s, seated_time=3.0 if sec is None else sec, **common)
        p = replace(p, duration=p.sit_at + p.sit_time + p.seated_time + p.stand_time + 1.0)
    elif kind == "lying":
        p = LieParams(breathing_rate=0.25 * s, **common)
        if sec is not None:
            p = replace(p, duration=p.lie_at + p.squat_time + p.sit_time + p.recline_time + sec)
    elif kind == "waving":
        p = WaveParams(frequency=2.0 * s, **common)
        if sec is not None:
            p = replace(p, wave_time=max(1.0, sec - p.raise_at - p.raise_time - p.lower_time - 0.5))
            p = replace(p, duration=p.raise_at + p.raise_time + p.wave_time + p.lower_time + 0.5)
    else:  # arm_stretching: speed scales the time between its key poses (7.8 s at speed 1)
        p = StretchParams(speed=s, **common)
        p = replace(p, duration=max(p.duration if sec is None else sec, p.begin + 7.8 * s + 1.0))
    return generate(p)


@functools.lru_cache(maxsize=1)
def _body():
    from virtimu.body.files import load_body_model

    return load_body_model(None)


def synthesize_clip(clip: Clip, sites: Sequence[Site], fps: float, signals: Sequence[str] = ("acc",),
                    acc_mode: str = "specific_force", device: str = DEVICE, seed: int = 0) -> Recording:
    """Virtual IMU recording of ``clip`` on the default body (labels = the clip's frame-label names)."""
    body = _body()
    motion = clip.to_motion()
    attachments = attach_sites(body, list(sites), betas=motion.betas)
    cfg = SynthConfig(fps=float(fps), signals=tuple(signals), acc_mode=acc_mode, device=device, seed=int(seed))
    return synthesize(motion, body, attachments, cfg, source="fixture")


def _frame_names(rec: Recording) -> np.ndarray:
    """(T,) label names of a synthesised clip recording."""
    return np.array([rec.label_map[int(c)] for c in rec.labels], dtype=object)


def session(plan: Sequence[tuple[str, float | None]], sites: Sequence[Site], fps: float, seed: int,
            signals: Sequence[str] = ("acc",), acc_mode: str = "specific_force",
            device: str = DEVICE) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Clips of ``plan`` [(activity, seconds), ...] synthesised one after the other.

    Returns signals (T, C) float64 in SI units, channel names and (T,) frame-label names.
    """
    blocks, names, channels = [], [], None
    for i, (kind, seconds) in enumerate(plan):
        clip = activity_clip(kind, seed * 1000 + i, fps=fps, seconds=seconds)  # generated at the output rate
        rec = synthesize_clip(clip, sites, fps, signals, acc_mode, device, seed=seed * 1000 + i)
        blocks.append(rec.signals.astype(np.float64))
        names.append(_frame_names(rec))
        channels = rec.channels
    return np.concatenate(blocks), list(channels or []), np.concatenate(names)


def _subject_sites(preset: str, seed: int) -> list[Site]:
    return jitter_sites(resolve_sites(None, preset=preset), JITTER[0], JITTER[1], seed=seed)


def _plan(rng: np.random.Generator, kinds: Sequence[str], seconds: float) -> list[tuple[str, float | None]]:
    """Activities in a random order (first one kept first), each about ``seconds`` long."""
    order = [kinds[0], *[kinds[i] for i in rng.permutation(np.arange(1, len(kinds)))]]
    return [(k, float(seconds * rng.uniform(0.8, 1.2))) for k in order]


# --------------------------------------------------------------------------- AMASS

#: Activity -> AMASS path template; every name is mapped to its category by the bundled rules.
AMASS_NAMES: dict[str, str] = {
    "walking": "KIT/{k}/walking_medium{i:02d}_poses.npz",
    "running": "KIT/{k}/run{i:02d}_poses.npz",
    "jumping": "KIT/{k}/jump_up{i:02d}_poses.npz",
    "waving": "KIT/{k}/wave_right{i:02d}_poses.npz",
    "sitting": "BMLrub/rub{k:03d}/{k:04d}_sitting{i}_poses.npz",
    "standing": "ACCAD/Male{k}General_c3d/General A{i} - Stand_poses.npz",
    "lying": "ACCAD/Male{k}General_c3d/General A{i} - Lie_poses.npz",
    "arm_stretching": "Eyes_Japan_Dataset/subject{k}/gesture_etc-{i:02d}-stretch-subject{k}_poses.npz",
}
#: A file the rules exclude (paper 001 drops quick-transition motions): its frames become null.
AMASS_EXCLUDED = ("walking", "Transitions_mocap/mazen_c3d/walk_run_poses.npz")
#: synthetic12 category the rules give each activity (checked in tests).
AMASS_CATEGORIES = {"walking": "walking", "running": "running", "jumping": "jumping", "waving": "arm_gestures",
                    "sitting": "sitting", "standing": "standing", "lying": "lying",
                    "arm_stretching": "arm_stretching"}


def write_amass_fixture(root: str | Path, subjects: int = 2, clips_per_activity: int = 1, fps: float = 120.0,
                        seconds: float | None = None, seed: int = 0, frame_labels: bool = True,
                        activities: Sequence[str] | None = None) -> Path:
    """AMASS-layout folder of procedural SMPL+H clips (``<root>/<SubDataset>/<subject>/<name>_poses.npz``).

    subjects x clips_per_activity clips of each activity in ``activities``
    (default: all of `AMASS_NAMES`), named so that the bundled rules label them
    (`AMASS_CATEGORIES`), plus one excluded Transitions_mocap file.
    frame_labels: also store the clips' per-frame labels (``virtimu_frame_labels``,
    as the bundled demo motions do), which refine the rule label of sit-down /
    lie-down clips.  Returns ``root``.
    """
    root = Path(root)
    kinds = list(activities or AMASS_NAMES)
    for k in range(1, subjects + 1):
        for kind in kinds:
            for i in range(1, clips_per_activity + 1):
                clip = activity_clip(kind, seed=seed * 10_000 + k * 100 + i, fps=fps, seconds=seconds)
                _write_amass_clip(clip, root / AMASS_NAMES[kind].format(k=k, i=i), frame_labels)
    kind, rel = AMASS_EXCLUDED
    _write_amass_clip(activity_clip(kind, seed=seed * 10_000 + 99, fps=fps), root / rel, frame_labels)
    return root


def _write_amass_clip(clip: Clip, path: Path, frame_labels: bool) -> None:
    if frame_labels:
        write_clip(clip, path)
        return
    from virtimu.io.amass import write_amass

    write_amass(path, clip.smplh_poses(), clip.trans, np.zeros(16), clip.fps, gender="neutral",
                model_type="smplh", compress=True)


# --------------------------------------------------------------------------- DIP-IMU

#: Fixture sequence number -> (dip5 activity, generator activity playing it).
DIP_SEQUENCES = {"01": ("stretching_arms", "arm_stretching"), "02": ("stretching_legs", "lying"),
                 "03": ("walking", "walking"), "04": ("jumping", "jumping"), "05": ("computer_work", "sitting")}


def _py2_pickle(obj: dict, path: Path) -> None:
    """Protocol-2 pickle with numpy 1.x module names, as DIP-IMU's Python 2 files carry."""
    raw = pickle.dumps(obj, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def dip_gt_poses(poses_z: np.ndarray) -> np.ndarray:
    """SMPL axis-angle poses (T, J, 3) of the z-up AMASS world as DIP-IMU's ``gt`` holds them.

    DIP's world is y up (`virtimu.datasets.dip`), so the root orientation
    (joint 0) is turned into it: ``R_root_y = Y_TO_Zᵀ R_root_z``; the other
    joints are relative to their parents and stay as they are.  Undone by
    `virtimu.fidelity.fidelity.dip_motion` (``gt_up='y'``).
    """
    from virtimu.datasets.dip import Y_TO_Z
    from virtimu.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    out = np.array(poses_z, dtype=np.float64, copy=True)
    out[:, 0] = matrix_to_axis_angle(np.einsum("ij,tjk->tik", Y_TO_Z.T, axis_angle_to_matrix(out[:, 0])))
    return out


def write_dip_fixture(root: str | Path, subjects: int = 3, seconds: float = 12.0, seed: int = 0) -> Path:
    """DIP-IMU layout: ``root/DIP_IMU_and_Others/DIP_IMU/s_01 .. s_NN/01.pkl .. 05.pkl``.

    Each pickle holds ``imu_acc`` (T, 17, 3) float32 m/s² (world frame, y up,
    gravity removed), ``imu_ori`` (T, 17, 3, 3) float32 sensor-to-world
    rotations (y-up world, bone-aligned axes), ``gt`` (T, 72) SMPL poses
    (root orientation in the y-up world too, `dip_gt_poses`; no
    translation), at 60 Hz, from the ``dip-full`` placement; in ``s_01/01.pkl`` two frames of
    the left-foot sensor are NaN (dropped frames, as in the real files).  A
    ``dip_activities.yaml`` maps the sequence numbers to the dip5 activities
    of `DIP_SEQUENCES` (a fixture choice, not DIP's published numbering).
    Returns ``root``.
    """
    from virtimu.datasets.dip import ACTIVITY_FILE, Y_TO_Z

    root = Path(root)
    data_dir = root / "DIP_IMU_and_Others" / "DIP_IMU"
    z_to_y = Y_TO_Z.T
    for s in range(1, subjects + 1):
        sites = _subject_sites("dip-full", seed * 100 + s)
        for seq, (_, kind) in DIP_SEQUENCES.items():
            clip_seed = seed * 10_000 + s * 100 + int(seq)
            clip = activity_clip(kind, clip_seed, fps=60.0, seconds=seconds)
            rec = synthesize_clip(clip, sites, 60.0, signals=("acc", "rot"), acc_mode="global_no_gravity",
                                  device="none", seed=clip_seed)
            T, S = rec.n_frames, len(sites)
            x = rec.signals.astype(np.float64).reshape(T, S, 12)
            rng = np.random.default_rng(clip_seed)
            acc_z = x[:, :, :3] + rng.normal(scale=0.15, size=(T, S, 3))  # sensor noise, m/s^2
            R_z = x[:, :, 3:].reshape(T, S, 3, 3)
            acc = np.einsum("ij,tsj->tsi", z_to_y, acc_z)
            ori = np.einsum("ij,tsjk->tsik", z_to_y, R_z)
            if s == 1 and seq == "01":  # dropped frames (NaN), as real files have: lfoot, two frames
                drop = rng.choice(np.arange(2, T - 2), size=2, replace=False)
                acc[drop, 15] = np.nan
                ori[drop, 15] = np.nan
            gt = np.zeros((T, 72))
            gt[:, :66] = dip_gt_poses(clip.body_poses()[:T]).reshape(T, 66)
            _py2_pickle({"imu_acc": acc.astype(np.float32), "imu_ori": ori.astype(np.float32), "gt": gt},
                        data_dir / f"s_{s:02d}" / f"{seq}.pkl")
    mapping = {seq: act for seq, (act, _) in DIP_SEQUENCES.items()}
    (data_dir / ACTIVITY_FILE).write_text(
        "# virtimu fixture: sequence number -> dip5 activity (stand-ins, see virtimu.datasets.fixtures)\n"
        + yaml.safe_dump(mapping, sort_keys=True), encoding="utf-8")
    return root


# --------------------------------------------------------------------------- Opportunity

#: Frame label of the generated session -> (Locomotion, ML_Both_Arms) codes.
OPPORTUNITY_CODES = {"standing": (1, 0), "walking": (2, 0), "sitting": (4, 0), "lying": (5, 0),
                     "waving": (1, 407521), "arm_stretching": (1, 406516)}
_OPP_LABEL_TRACKS = ("Locomotion", "HL_Activity", "LL_Left_Arm", "LL_Left_Arm_Object", "LL_Right_Arm",
                     "LL_Right_Arm_Object", "ML_Both_Arms")


def _opportunity_column_names() -> str:
    """column_names.txt in the dataset's format (sensor names other than RWR are generic)."""
    rwr = {23: "X", 24: "Y", 25: "Z"}
    lines = ["Data columns:", "Column: 1 MILLISEC; unit = ms"]
    for col in range(2, 244):
        name = f"Accelerometer RWR acc{rwr[col]}" if col in rwr else f"Sensor S{col:03d} value"
        lines.append(f"Column: {col} {name}; value = round(original_value), unit = milli g")
    lines += ["", "Label columns: "]
    lines += [f"Column: {244 + i} {name}" for i, name in enumerate(_OPP_LABEL_TRACKS)]
    return "\n".join(lines) + "\n"


def _opportunity_legend() -> str:
    from virtimu.labels.maps import get_label_space

    spec = get_label_space("opportunity_raw")
    loco = sorted({c // 1_000_000 for c in spec.codes if c // 1_000_000})
    gest = sorted({c % 1_000_000 for c in spec.codes if c % 1_000_000})
    lines = ["Unique index   -   Track name   -   Label name"]
    names = {1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
    lines += [f"{c}   -   Locomotion   -   {names[c]}" for c in loco]
    for g in gest:
        name = spec.name_of(1_000_000 + g).split(" + ", 1)[1]
        lines.append(f"{g}   -   ML_Both_Arms   -   {name}")
    return "\n".join(lines) + "\n"


def write_opportunity_fixture(root: str | Path, subjects: int = 4, seconds: float = 15.0, seed: int = 0) -> Path:
    """Opportunity layout: ``root/OpportunityUCIDataset/dataset/S<k>-ADL1.dat`` + column_names.txt, label_legend.txt.

    Each ``.dat`` row: MILLISEC (30 Hz), 242 sensor columns (zeros except the
    right-wrist RWR accelerometer, columns 23-25, in milli g, rounded), the
    7 label tracks (Locomotion and ML_Both_Arms filled from
    `OPPORTUNITY_CODES`, transitions null).  One session of about
    ``seconds`` per activity.  Returns ``root/OpportunityUCIDataset``.
    """
    base = Path(root) / "OpportunityUCIDataset"
    ds = base / "dataset"
    ds.mkdir(parents=True, exist_ok=True)
    kinds = ["standing", "walking", "sitting", "lying", "waving", "arm_stretching"]
    for k in range(1, subjects + 1):
        rng = np.random.default_rng([seed, k, 30])
        x, channels, names = session(_plan(rng, kinds, seconds), _subject_sites("opportunity", seed * 100 + k),
                                     30.0, seed * 100 + k)
        T = x.shape[0]
        table = np.zeros((T, 250))
        table[:, 0] = np.round(np.arange(T) * 1000.0 / 30.0)
        acc = x[:, [channels.index(f"right_wrist/acc_{a}") for a in "xyz"]]
        table[:, 22:25] = np.round(acc / G * 1000.0)
        codes = np.array([OPPORTUNITY_CODES.get(str(n), (0, 0)) for n in names])
        table[:, 243] = codes[:, 0]
        table[:, 249] = codes[:, 1]
        rows = [" ".join(str(int(v)) for v in row) for row in table]
        (ds / f"S{k}-ADL1.dat").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (ds / "column_names.txt").write_text(_opportunity_column_names(), encoding="utf-8")
    (ds / "label_legend.txt").write_text(_opportunity_legend(), encoding="utf-8")
    return base


# --------------------------------------------------------------------------- JSI-FOS

#: Frame label of the generated session -> jsifos18 name (empty = unlabelled).
JSIFOS_NAMES = {"standing": "standing", "walking": "walking", "lying": "lying_back", "lying_down": "transition_down",
                "running": "cycling", "sitting_down": "transition_down", "standing_up": "transition_up"}


def write_jsifos_fixture(root: str | Path, subjects: int = 5, seconds: float = 15.0, seed: int = 0) -> Path:
    """JSI-FOS layout (as defined by virtimu): ``root/S01.csv ...``, header ``timestamp,acc_x,acc_y,acc_z,label``.

    50 Hz, seconds from 0, right-wrist acceleration in g (6 decimals),
    jsifos18 activity names (`JSIFOS_NAMES`; 'cycling' is played by running).
    Returns ``root``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    kinds = ["standing", "walking", "lying", "running"]
    for k in range(1, subjects + 1):
        rng = np.random.default_rng([seed, k, 50])
        x, channels, names = session(_plan(rng, kinds, seconds), _subject_sites("jsi-fos", seed * 100 + k),
                                     50.0, seed * 100 + k)
        acc = x[:, [channels.index(f"right_wrist/acc_{a}") for a in "xyz"]] / G
        lines = ["timestamp,acc_x,acc_y,acc_z,label"]
        lines += [f"{i / 50.0:.2f},{a[0]:.6f},{a[1]:.6f},{a[2]:.6f},{JSIFOS_NAMES.get(str(n), '')}"
                  for i, (a, n) in enumerate(zip(acc, names))]
        (root / f"S{k:02d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


# --------------------------------------------------------------------------- HARTH / HAR70+

#: Frame label of the generated session -> HARTH / HAR70+ label code.
HARTH_CODES = {"walking": 1, "running": 2, "shuffling": 3, "standing": 6, "standing_up": 6, "sitting": 7,
               "sitting_down": 7, "lying": 8, "lying_down": 8}
_HARTH_START = dt.datetime(2019, 1, 12, 9, 0, 0)


def write_harth_fixture(root: str | Path, subjects: int = 4, seconds: float = 12.0, seed: int = 0,
                        dataset: str = "harth") -> Path:
    """HARTH / HAR70+ layout: ``root/harth/S006.csv ...`` or ``root/har70plus/501.csv ...``.

    Header ``timestamp,back_x,back_y,back_z,thigh_x,thigh_y,thigh_z,label``,
    date-time stamps every 20 ms (50 Hz), accelerations in g (6 decimals)
    from the ``harth`` placement (x up the segment), integer labels
    (`HARTH_CODES`; HAR70+ has no running).  Returns ``root``.
    """
    if dataset not in ("harth", "har70plus"):
        raise ValueError(f"dataset must be 'harth' or 'har70plus', got {dataset!r}")
    root = Path(root)
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["standing", "walking", "sitting", "lying", "shuffling"] + (["running"] if dataset == "harth" else [])
    order = ["back/acc_x", "back/acc_y", "back/acc_z", "right_thigh/acc_x", "right_thigh/acc_y", "right_thigh/acc_z"]
    for k in range(1, subjects + 1):
        stem = f"S{5 + k:03d}" if dataset == "harth" else f"{500 + k}"
        rng = np.random.default_rng([seed, k, 70 if dataset == "har70plus" else 22])
        x, channels, names = session(_plan(rng, kinds, seconds), _subject_sites("harth", seed * 100 + k + 50),
                                     50.0, seed * 100 + k + 50)
        acc = x[:, [channels.index(c) for c in order]] / G
        codes = [HARTH_CODES[str(n)] for n in names]
        t0 = _HARTH_START + dt.timedelta(days=k)
        lines = ["timestamp," + ",".join(c for c in ("back_x", "back_y", "back_z", "thigh_x", "thigh_y", "thigh_z"))
                 + ",label"]
        for i, (a, c) in enumerate(zip(acc, codes)):
            stamp = (t0 + dt.timedelta(milliseconds=20 * i)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            lines.append(f"{stamp}," + ",".join(f"{v:.6f}" for v in a) + f",{c}")
        (folder / f"{stem}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_har70plus_fixture(root: str | Path, subjects: int = 4, seconds: float = 12.0, seed: int = 0) -> Path:
    """`write_harth_fixture` for HAR70+ (``root/har70plus/501.csv ...``, no running)."""
    return write_harth_fixture(root, subjects=subjects, seconds=seconds, seed=seed, dataset="har70plus")


#: Fixture writer per dataset name (names as in ``virtimu data list``, plus 'amass').
FIXTURES: dict[str, Callable[..., Path]] = {
    "amass": write_amass_fixture,
    "dip": write_dip_fixture,
    "opportunity": write_opportunity_fixture,
    "jsi-fos": write_jsifos_fixture,
    "harth": write_harth_fixture,
    "har70plus": write_har70plus_fixture,
}


def write_fixture(name: str, root: str | Path, **kwargs: Any) -> Path:
    """``FIXTURES[name](root, **kwargs)``; KeyError listing the known names."""
    if name not in FIXTURES:
        raise KeyError(f"no fixture writer for {name!r}; known: {sorted(FIXTURES)}")
    return FIXTURES[name](root, **kwargs)
