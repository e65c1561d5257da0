"""Synthetic -> UCI HAPT sim-to-real study: does pretraining on generated motion help with few real labels?

Library half of ``pipelines/synthetic_to_hapt.py``; every setting comes from
``pipelines/configs/synthetic_to_hapt.yaml`` (`load_config`).

Protocol
--------
1. **Synthetic windows** (`synthetic_windows`): ``n_per_activity`` clips per
   HAPT activity from the parametric motion generator
   (`virtimu.motion.parametric.generate_clip`; the bundled demo generator is a
   fallback covering 7 of the 12 classes), each posed on the open default
   body with the clip's betas and synthesised as a virtual waist smartphone:
   placement preset ``hapt`` (the phone axes measured on HAPT), per-clip
   mounting jitter (offset along the skin, small rotation), accelerometer
   (specific force, m/s²) + gyroscope (rad/s) at 50 Hz, optionally a soft
   mount (`soft_mount`: the phone rocks and jiggles on the belt with the
   motion), device model (noise, bias, ±2 g range, quantisation).  Clip seeds are derived from
   ``synthetic.seed``; a ``holdout_fraction`` of the clips is kept out of
   pretraining to measure synthetic accuracy.
2. **Real windows** (`real_windows`): UCI HAPT raw recordings through the
   project loader (`virtimu.datasets.hapt`; acc converted from g to m/s²,
   gyro in rad/s, the same channel names ``waist/acc_x`` ... as the virtual
   sensor).  Test subjects: the published UCI HAR test subjects 2, 4, 9,
   10, 12, 13, 18, 20, 24; the other 21 subjects are the training pool.
3. **Windows** (both domains, `cut_windows`): ``length`` samples (128 =
   2.56 s, as UCI HAR) every ``step`` samples (64 = 50 % overlap); a window's
   label is its majority label if that covers at least ``purity`` of the
   window (0.6: postural transitions last 2-5 s, so windows that are mostly
   transition count as transition; with purity 1.0 HAPT's train subjects
   keep only 6-72 windows per transition class, with 0.6 66-137), else it
   is dropped, as are windows whose majority is null.
4. **Per seed** (`run_study`): pretrain the model on the synthetic windows;
   score it on the real test subjects without any real label (zero-shot);
   then for each label budget (windows per class; 'all' = every training
   window) draw a nested per-class sample of the real training windows
   (`per_class_sample`) and train (a) the same architecture from scratch and
   (b) the pretrained model, fine-tuned, both with the same target schedule
   (``target.train``, at least ``target.min_steps`` steps), and score macro-F1
   on the test subjects.  The seed drives the sample, the initialisation,
   the shuffling and dropout of both arms alike (paired runs).
5. **Comparison** (`compare_arms`): per budget the paired differences
   pretrained - scratch over seeds; a paired t-test words the result
   "helped" / "did not help" / "inconclusive" (`verdict`).

Variants (``variants`` in the config) repeat the pretrained arm with
changed settings (randomisation, device model, normalisation, freezing ...)
against the same scratch runs where those are unaffected; every row of
``results.json`` names its variant.  Results are saved after every run, and
a rerun into the same folder reuses rows whose settings are unchanged.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import subprocess
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from virtimu.coerce import parse_settings
from virtimu.labels.maps import get_label_space
from virtimu.types import NULL_LABEL
from virtimu.windows import window_labels, window_starts

log = logging.getLogger(__name__)

#: Activity names and codes of the 'hapt12' label space (null excluded), in code order.
HAPT_LABELS: dict[int, str] = {c: n for c, n in get_label_space("hapt12").codes.items() if c != NULL_LABEL}
#: The virtual / real waist channels used, in this order (acc m/s², gyro rad/s).
RAW_CHANNELS: tuple[str, ...] = tuple(f"waist/{k}_{a}" for k in ("acc", "gyro") for a in "xyz")
#: Published UCI HAR test subjects (Anguita et al. 2013; the benchmark's split).
UCI_TEST_SUBJECTS: tuple[int, ...] = (2, 4, 9, 10, 12, 13, 18, 20, 24)
SIGNAL_MODES = ("raw", "uci")
NORMALISATIONS = ("source", "target")
ARMS = ("scratch", "pretrained", "synthetic_only")

# ============================================================================ configuration

#: Every setting with its default; the YAML file may change values, not add keys.
DEFAULTS: dict[str, Any] = {
    "data": {"hapt": "../shared/data/hapt", "test_subjects": list(UCI_TEST_SUBJECTS), "train_subjects": None},
    "windows": {"length": 128, "step": 64, "purity": 0.6},
    "synthetic": {"generator": "auto", "activities": None, "n_per_activity": 200, "duration_s": 8.0,
                  "fps": 50.0, "seed": 1000, "randomization": {}, "device": "smartphone",
                  "jitter_offset_m": 0.01, "jitter_rotation_deg": 5.0, "mount_rock_deg": 0.0, "mount_jiggle_ms2": 0.0,
                  "holdout_fraction": 0.1,
                  "workers": 2},
    "preprocess": {"signals": "raw"},
    "model": {"name": "cnn1d", "config": {}},
    "pretrain": {"epochs": 12, "batch_size": 64, "lr": 1e-3, "class_weights": True},
    "target": {"min_steps": 250, "train": {"epochs": 12, "batch_size": 64, "lr": 1e-3, "class_weights": True}},
    "transfer": {"normalisation": "source", "freeze": "none", "head": "keep"},
    "budgets": [10, 25, 50, 100, 200, "all"],
    "seeds": [0, 1, 2, 3, 4],
    "threads": 1,
    "alpha": 0.05,
    "variants": [],
    "quick": {},
}
#: Mapping-valued settings whose keys are free (model / train / randomisation options).
_FREE_KEYS = {("synthetic", "randomization"), ("model", "config"), ("pretrain",), ("target", "train"), ("quick",)}


class ConfigError(ValueError):
    """A bad study configuration (the message names the file and the key)."""


def _merge(base: dict, update: Mapping, where: str, path: tuple[str, ...] = ()) -> dict:
    """Deep copy of ``base`` updated by ``update``; unknown keys raise ConfigError (except free mappings)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        here = path + (str(key),)
        if key not in out and path not in _FREE_KEYS:
            raise ConfigError(f"{where}: unknown setting {'.'.join(here)!r}; valid here: {sorted(out)}")
        if isinstance(out.get(key), dict) and isinstance(value, Mapping) and here not in _FREE_KEYS:
            out[key] = _merge(out[key], value, where, here)
        elif isinstance(out.get(key), dict) and isinstance(value, Mapping):
            out[key] = {**out[key], **copy.deepcopy(dict(value))}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dotted(items: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """``['a.b=1', ...]`` or ``{'a.b': 1}`` -> nested dict (values of strings parsed as YAML scalars)."""
    nested: dict[str, Any] = {}
    for key, value in parse_settings(items, "synthetic.n_per_activity=50", error=ConfigError).items():
        node = nested
        parts = str(key).split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return nested


def load_config(path: str | os.PathLike | None, overrides: Sequence[str] | None = None,
                quick: bool = False) -> dict[str, Any]:
    """The study settings: `DEFAULTS` <- YAML file <- (its ``quick`` block if ``quick``) <- ``overrides``.

    overrides: ``["synthetic.n_per_activity=50", "seeds=[0,1]"]``.  Relative
    ``data.hapt`` paths are resolved against the repository root (the
    folder above ``virtimu/``).  Unknown keys raise ConfigError naming them.
    """
    cfg = copy.deepcopy(DEFAULTS)
    where = str(path) if path is not None else "<defaults>"
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a YAML mapping of settings, got {type(data).__name__}")
        cfg = _merge(cfg, data, where)
    if quick:
        cfg = _merge(cfg, cfg.get("quick") or {}, f"{where} (quick block)")
    cfg = _merge(cfg, _dotted(overrides), "command-line override")
    cfg["quick_mode"] = bool(quick)
    validate_config(cfg)
    return cfg


def validate_config(cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError for values out of range (budgets, seeds, modes, windows)."""
    w = cfg["windows"]
    if int(w["length"]) < 8 or int(w["step"]) < 1 or not 0 < float(w["purity"]) <= 1:
        raise ConfigError(f"windows: need length >= 8, step >= 1, 0 < purity <= 1, got {w}")
    for b in cfg["budgets"]:
        if not (b == "all" or (isinstance(b, int) and b >= 1)):
            raise ConfigError(f"budgets: each must be an integer >= 1 or 'all', got {b!r}")
    if not cfg["seeds"] or len(set(cfg["seeds"])) != len(cfg["seeds"]):
        raise ConfigError(f"seeds: need distinct integers, got {cfg['seeds']}")
    if cfg["preprocess"]["signals"] not in SIGNAL_MODES:
        raise ConfigError(f"preprocess.signals: expected one of {SIGNAL_MODES}, got {cfg['preprocess']['signals']!r}")
    t = cfg["transfer"]
    if t["normalisation"] not in NORMALISATIONS:
        raise ConfigError(f"transfer.normalisation: expected one of {NORMALISATIONS}, got {t['normalisation']!r}")
    if t["head"] not in ("keep", "replace"):
        raise ConfigError(f"transfer.head: expected 'keep' or 'replace', got {t['head']!r}")
    _parse_freeze(t["freeze"])
    if cfg["synthetic"]["generator"] not in ("auto", "parametric", "demo"):
        raise ConfigError(f"synthetic.generator: expected auto | parametric | demo, got "
                          f"{cfg['synthetic']['generator']!r}")
    names = ["base"]
    for v in cfg["variants"]:
        if not isinstance(v, Mapping) or "name" not in v:
            raise ConfigError(f"variants: each needs a 'name' and a 'set' mapping of dotted keys, got {v!r}")
        names.append(str(v["name"]))
        variant_config(cfg, v)  # raises on unknown keys
    if len(set(names)) != len(names):
        raise ConfigError(f"variants: names must be distinct and not 'base', got {names}")


def _parse_freeze(spec: Any) -> tuple[str, int | None]:
    """'none' | 'all_but_fc' | 'first_k:<k>' -> (kind, k)."""
    s = str(spec)
    if s in ("none", "all_but_fc"):
        return s, None
    if s.startswith("first_k:") and s.split(":", 1)[1].isdigit():
        return "first_k", int(s.split(":", 1)[1])
    raise ConfigError(f"transfer.freeze: expected none | all_but_fc | first_k:<k>, got {spec!r}")


def variant_config(cfg: Mapping[str, Any], variant: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings of one variant: ``cfg`` with the variant's dotted ``set`` overrides applied."""
    base = {k: v for k, v in cfg.items() if k not in ("variants", "quick")}
    if not variant:
        return copy.deepcopy(base)
    changes = _dotted(dict(variant.get("set") or {}))
    bad = sorted(set(changes) & {"budgets", "seeds", "data", "variants", "quick"})
    if bad:
        raise ConfigError(f"variant {variant.get('name')!r}: cannot change {bad} (they define the comparison)")
    return _merge(base, changes, f"variant {variant.get('name')!r}")


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def scratch_key(cfg: Mapping[str, Any]) -> str:
    """Hash of the settings a scratch run depends on (not the synthetic data or the transfer)."""
    return _digest({k: cfg[k] for k in ("data", "windows", "preprocess", "model", "target")})


def pretrained_key(cfg: Mapping[str, Any]) -> str:
    """Hash of the settings a pretrained run depends on."""
    keys = ("data", "windows", "preprocess", "model", "target", "synthetic", "pretrain", "transfer")
    return _digest({k: cfg[k] for k in keys if k != "synthetic"} | {"synthetic": synthetic_key(cfg)})


#: Package files (globs relative to ``virtimu/``) whose content defines the synthetic data: the motion
#: generator, the body, the sensor synthesis.  Their fingerprint is part of `synthetic_key`, so rows computed
#: with another version of that code are never reused.
SYNTHETIC_CODE: tuple[str, ...] = ("motion/*.py", "sensors/*.py", "body/*.py", "kinematics.py", "rotations.py",
                                   "types.py", "assets/body/*", "assets/sites/*")


@functools.lru_cache(maxsize=None)
def code_fingerprint(patterns: tuple[str, ...] = SYNTHETIC_CODE) -> str:
    """sha1 (12 hex digits) over the names and bytes of the package files matching ``patterns``."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha1()
    for path in sorted({p for pat in patterns for p in pkg.glob(pat) if p.is_file()}):
        h.update(path.relative_to(pkg).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


#: Settings added after results were first published: at these values they leave the hashes unchanged.
_NEUTRAL = {"mount_rock_deg": 0.0, "mount_jiggle_ms2": 0.0}


def synthetic_key(cfg: Mapping[str, Any]) -> str:
    """Hash of the settings the synthetic windows depend on (``workers`` excluded) and of the code making them."""
    syn = {k: v for k, v in cfg["synthetic"].items()
           if k != "workers" and not (k in _NEUTRAL and v == _NEUTRAL[k])}
    return _digest({"synthetic": syn, "windows": cfg["windows"], "preprocess": cfg["preprocess"],
                    "code": code_fingerprint()})


def git_commit(repo: str | os.PathLike | None = None) -> str:
    """``git rev-parse HEAD`` of the repository holding this package, or 'unknown'."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def git_dirty(repo: str | os.PathLike | None = None) -> bool | None:
    """True when the working tree has uncommitted changes to tracked files (None: not a git checkout)."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def repo_root() -> Path:
    """The folder above the ``virtimu`` package (the repository root in a checkout)."""
    return Path(__file__).resolve().parents[2]


# ============================================================================ windows


@dataclass
class Windows:
    """Labelled windows of one domain.

    X: (N, L, C) float32 model input; channels: C names.  y: (N,) hapt12 codes.
    group: (N,) subject id (real) or clip id (synthetic).  raw: (N, L, 6) float32
    acc (m/s²) + gyro (rad/s) in `RAW_CHANNELS` order (for the similarity).
    """

    X: np.ndarray
    y: np.ndarray
    group: np.ndarray
    channels: list[str]
    raw: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def subset(self, idx: np.ndarray) -> Windows:
        return Windows(self.X[idx], self.y[idx], self.group[idx], list(self.channels), self.raw[idx], dict(self.info))

    def counts(self) -> dict[str, int]:
        """Windows per class name (every hapt12 class, 0 included)."""
        return {n: int(np.sum(self.y == c)) for c, n in HAPT_LABELS.items()}


def input_signals(raw: np.ndarray, fs: float, mode: str) -> tuple[np.ndarray, list[str]]:
    """Model input channels from a recording's ``raw (T, 6)`` acc (m/s²) + gyro (rad/s).

    'raw': the 6 channels unchanged.  'uci': UCI HAR's 9 channels -- body
    acceleration (total minus a 0.3 Hz 3rd-order Butterworth low-pass, the
    gravity estimate), gyro, total acceleration -- filtered zero-phase.
    """
    if mode == "raw":
        return raw.astype(np.float32), list(RAW_CHANNELS)
    if mode == "uci":
        from scipy.signal import butter, filtfilt

        b, a = butter(3, 0.3 / (fs / 2.0))
        total = raw[:, :3].astype(np.float64)
        pad = min(3 * max(len(a), len(b)), total.shape[0] - 1)
        body = total - filtfilt(b, a, total, axis=0, padlen=pad)
        sig = np.concatenate([body, raw[:, 3:6], total], axis=1).astype(np.float32)
        return sig, ["waist/bodyacc_x", "waist/bodyacc_y", "waist/bodyacc_z", *RAW_CHANNELS]
    raise ValueError(f"input_signals: unknown mode {mode!r}; expected one of {SIGNAL_MODES}")


def cut_windows(signals: np.ndarray, raw: np.ndarray, labels: np.ndarray, length: int, step: int,
                purity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled windows of one recording: (X (N, L, C), raw (N, L, 6), y (N,)); null/impure windows dropped.

    signals (T, C) model input, raw (T, 6), labels (T,) hapt12 codes per frame.
    """
    starts = window_starts(signals.shape[0], length, step)
    y, _ = window_labels(labels, starts, length, purity)
    keep = starts[y != NULL_LABEL]
    idx = keep[:, None] + np.arange(length)[None, :]
    return signals[idx], raw[idx], y[y != NULL_LABEL].astype(np.int64)


def _stack(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], channels: list[str],
           length: int, info: dict) -> Windows:
    C = len(channels)
    if not parts:
        return Windows(np.zeros((0, length, C), np.float32), np.zeros(0, np.int64), np.zeros(0, str), channels,
                       np.zeros((0, length, 6), np.float32), info)
    X, R, y, g = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return Windows(X.astype(np.float32), y, g, channels, R.astype(np.float32), info)


def real_windows(cfg: Mapping[str, Any], subjects: Iterable[int] | None = None) -> Windows:
    """Windows of the real HAPT recordings of ``subjects`` (default: all) with the study's windowing."""
    from virtimu.datasets.base import load_dataset

    path = Path(cfg["data"]["hapt"])
    if not path.is_absolute():
        path = repo_root() / path
    if not path.exists():
        raise FileNotFoundError(f"data.hapt: UCI HAPT folder {path} does not exist "
                                f"(get it with `virtimu data fetch hapt`)")
    want = None if subjects is None else {str(int(s)) for s in subjects}
    w, mode = cfg["windows"], cfg["preprocess"]["signals"]
    parts, channels = [], list(RAW_CHANNELS)
    for rec in load_dataset("hapt", path):
        if want is not None and str(rec.subject) not in want:
            continue
        raw = rec.select(list(RAW_CHANNELS)).astype(np.float32)
        sig, channels = input_signals(raw, rec.fs, mode)
        X, R, y = cut_windows(sig, raw, np.asarray(rec.labels), int(w["length"]), int(w["step"]),
                              float(w["purity"]))
        parts.append((X, R, y, np.full(len(y), str(rec.subject))))
    if want is not None:
        found = {p[3][0] for p in parts if len(p[3])}
        if not found:
            raise ValueError(f"data: no HAPT windows for subjects {sorted(want, key=int)} in {path}")
    return _stack(parts, channels, int(w["length"]), {"source": str(path)})


# ============================================================================ synthetic clips

#: Demo-generator label names -> hapt12 names (fallback generator only).
DEMO_TO_HAPT = {"walking": "WALKING", "standing": "STANDING", "sitting": "SITTING", "sitting_down": "STAND_TO_SIT",
                "standing_up": "SIT_TO_STAND", "lying": "LAYING", "lying_down": "STAND_TO_LIE"}
#: Activities the demo fallback can produce (a clip of each also holds neighbouring labels).
DEMO_ACTIVITIES = ("WALKING", "SITTING", "STANDING", "LAYING", "STAND_TO_SIT", "SIT_TO_STAND", "STAND_TO_LIE")


def parametric_available() -> bool:
    """True when `virtimu.motion.parametric` with ``generate_clip`` can be imported."""
    try:
        from virtimu.motion import parametric  # noqa: F401
    except ImportError:
        return False
    return hasattr(parametric, "generate_clip")


def resolve_generator(kind: str) -> str:
    """'parametric' | 'demo' for a configured ``auto | parametric | demo``."""
    if kind == "auto":
        if parametric_available():
            return "parametric"
        log.warning("virtimu.motion.parametric is not available: using the demo generator (7 of 12 classes)")
        return "demo"
    if kind == "parametric" and not parametric_available():
        raise ImportError("synthetic.generator = parametric, but virtimu.motion.parametric.generate_clip "
                          "cannot be imported")
    return kind


def generator_activities(kind: str, wanted: Sequence[str] | None) -> list[str]:
    """Activities to generate: ``wanted`` (validated) or all the generator offers among the hapt12 names."""
    if kind == "parametric":
        from virtimu.motion.parametric import HAPT_ACTIVITIES
        offered = list(HAPT_ACTIVITIES)
    else:
        offered = list(DEMO_ACTIVITIES)
    if wanted is None:
        return offered
    bad = [a for a in wanted if a not in offered]
    if bad:
        raise ConfigError(f"synthetic.activities: {bad} not offered by the {kind} generator; it offers {offered}")
    return list(wanted)


def demo_clip(activity: str, seed: int, fps: float, duration_s: float):
    """A randomised clip of the demo generator for ``activity`` (fallback before the parametric generator).

    Walking: speed U(1.0, 1.6) m/s, cadence U(1.6, 2.0) steps/s, arm swing
    U(0.15, 0.45) rad; standing: sway U(2, 10) mm; sitting and its
    transitions: one sit-down / stand-up cycle with random timing; lying:
    lying down with random timing.  Labels stay the demo names
    (`DEMO_TO_HAPT` maps them).
    """
    from virtimu.motion import LieParams, SitParams, StandParams, WalkParams, generate
    from virtimu.motion.procedural import default_skeleton

    rng = np.random.default_rng(seed)
    if activity == "WALKING":
        p = WalkParams(seed=seed, fps=fps, duration=duration_s, speed=rng.uniform(1.0, 1.6),
                       step_frequency=rng.uniform(1.6, 2.0), arm_swing=rng.uniform(0.15, 0.45))
    elif activity == "STANDING":
        p = StandParams(seed=seed, fps=fps, duration=duration_s, sway=rng.uniform(0.002, 0.01))
    elif activity in ("SITTING", "STAND_TO_SIT", "SIT_TO_STAND"):
        sit_at, sit, seated, stand = rng.uniform(0.3, 1.5), rng.uniform(1.5, 3.0), rng.uniform(1.0, 3.0), \
            rng.uniform(1.5, 3.0)
        p = SitParams(seed=seed, fps=fps, sit_at=sit_at, sit_time=sit, seated_time=seated, stand_time=stand,
                      duration=sit_at + sit + seated + stand + rng.uniform(0.3, 1.0))
    elif activity in ("LAYING", "STAND_TO_LIE"):
        lie_at = rng.uniform(0.3, 1.5)
        p = LieParams(seed=seed, fps=fps, lie_at=lie_at, squat_time=rng.uniform(1.0, 1.8),
                      recline_time=rng.uniform(2.0, 3.2), duration=lie_at + 5.0 + rng.uniform(1.0, 4.0))
    else:
        raise ValueError(f"demo generator: no clip for {activity!r}; it offers {list(DEMO_ACTIVITIES)}")
    return generate(p, default_skeleton())


def soft_mount(raw: np.ndarray, fs: float, rock_deg: float, jiggle_ms2: float, seed: int,
               band: tuple[float, float] = (1.0, 6.0)) -> np.ndarray:
    """A sensor on a soft mount (a phone on a belt clip) rocks and jiggles with the motion; returns the new (T, 6).

    raw: (T, 6) acc (specific force, m/s²) + gyro (rad/s) in the sensor frame, rate fs (Hz).
    Motion intensity ``e(t) = |a(t) - a_lp(t)| / g`` (a_lp: 0.5 Hz low-pass,
    the gravity estimate) averaged over 0.5 s: a still sensor stays still,
    walking has e ~ 0.2-0.3.  Two seeded Gaussian noises n1, n2 (T, 3),
    band-passed to ``band`` Hz (2nd-order Butterworth, zero-phase) and scaled
    to unit std per axis, drive

    - rocking: ``theta(t) = radians(rock_deg) * e(t) * n1(t)`` (small-angle
      rotation against the nominal mounting, ``R = exp([theta]x)``):
      ``acc' = R^T acc``, ``gyro' = R^T gyro + d(theta)/dt`` (first-order body rate);
    - jiggle: ``acc' += jiggle_ms2 * e(t) * n2(t)`` (the phone's own small
      linear motion against the hip, m/s² per unit intensity).

    Lever-arm accelerations of the rocking are ignored.  Both zero -> a copy.
    """
    from scipy.signal import butter, filtfilt

    from virtimu.rotations import axis_angle_to_matrix

    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != 6:
        raise ValueError(f"soft_mount: raw must be (T, 6) acc + gyro, got {raw.shape}")
    T = raw.shape[0]
    if (rock_deg <= 0 and jiggle_ms2 <= 0) or T < 16:
        return raw.copy()
    acc, gyro = raw[:, :3], raw[:, 3:]
    pad = min(15, T - 1)
    b, a = butter(2, 0.5 / (fs / 2.0))
    dyn = np.linalg.norm(acc - filtfilt(b, a, acc, axis=0, padlen=pad), axis=1) / 9.81
    k = max(1, int(round(0.5 * fs)))
    env = np.convolve(dyn, np.ones(k) / k, mode="same")[:, None]  # (T, 1)
    rng = np.random.default_rng(int(seed))
    bb, ab = butter(2, [band[0] / (fs / 2.0), band[1] / (fs / 2.0)], btype="band")
    n = filtfilt(bb, ab, rng.standard_normal((T, 6)), axis=0, padlen=pad)
    n /= np.maximum(n.std(axis=0, keepdims=True), 1e-12)
    theta = np.radians(max(rock_deg, 0.0)) * env * n[:, :3]  # (T, 3) rad
    R = axis_angle_to_matrix(theta)  # (T, 3, 3) nominal -> rocked sensor frame
    acc2 = np.einsum("tba,tb->ta", R, acc) + max(jiggle_ms2, 0.0) * env * n[:, 3:]  # R^T acc + jiggle
    gyro2 = np.einsum("tba,tb->ta", R, gyro) + np.gradient(theta, 1.0 / fs, axis=0)
    return np.concatenate([acc2, gyro2], axis=1)


@dataclass(frozen=True)
class ClipTask:
    """One synthetic clip to generate, synthesise and window (picklable for worker processes)."""

    generator: str
    activity: str
    seed: int
    clip_id: str
    fps: float
    duration_s: float
    randomization: tuple[tuple[str, Any], ...]
    device: Any
    jitter_offset_m: float
    jitter_rotation_deg: float
    mount_rock_deg: float
    mount_jiggle_ms2: float
    length: int
    step: int
    purity: float
    signals: str


_WORKER_CACHE: dict[str, Any] = {}


def _body_and_sites():
    if "body" not in _WORKER_CACHE:
        from virtimu.body.files import load_body_model
        from virtimu.sensors.placement import resolve_sites

        _WORKER_CACHE["body"] = load_body_model(None)
        _WORKER_CACHE["sites"] = resolve_sites(None, preset="hapt")
    return _WORKER_CACHE["body"], _WORKER_CACHE["sites"]


def make_clip(task: ClipTask):
    """The motion clip of ``task`` from its generator."""
    if task.generator == "parametric":
        from virtimu.motion import parametric

        rand = None
        if task.randomization:
            rand = dataclasses.replace(parametric.Randomization(), **dict(task.randomization))
        return parametric.generate_clip(task.activity, task.seed, fps=task.fps, duration_s=task.duration_s,
                                        randomization=rand)
    return demo_clip(task.activity, task.seed, task.fps, task.duration_s)


def frame_codes(labels: np.ndarray | None, label_map: Mapping[int, str] | None) -> np.ndarray:
    """Per-frame hapt12 codes of a synthetic recording's ``labels`` (T,) with its {code: name} map.

    Names already in hapt12 map directly, demo names through `DEMO_TO_HAPT`;
    anything else becomes null.
    """
    if labels is None:
        raise ValueError("synthetic recording without frame labels")
    by_name = {n: c for c, n in HAPT_LABELS.items()}
    lut = {}
    for code, name in (label_map or {}).items():
        name = str(name)
        lut[int(code)] = by_name.get(name, by_name.get(DEMO_TO_HAPT.get(name, ""), NULL_LABEL))
    labels = np.asarray(labels).astype(np.int64)
    return np.array([lut.get(int(c), NULL_LABEL) for c in labels], dtype=np.int64) if labels.size else labels


def synth_clip(task: ClipTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, str | None]:
    """Generate, synthesise (virtual 'hapt' waist phone) and window one clip.

    Returns (X (n, L, C), raw (n, L, 6), y (n,), clip ids (n,), seconds of
    signal, error).  An activity the generator does not implement
    (NotImplementedError) gives no windows and the error message instead.
    The mounting jitter and the device-model draws are seeded by the clip seed.
    """
    from virtimu.sensors.placement import attach_sites, jitter_sites
    from virtimu.sensors.synth import SynthConfig, synthesize

    body, sites = _body_and_sites()
    try:
        clip = make_clip(task)
    except NotImplementedError as exc:
        C = len(input_signals(np.zeros((16, 6), np.float32), task.fps, task.signals)[1])
        return (np.zeros((0, task.length, C), np.float32), np.zeros((0, task.length, 6), np.float32),
                np.zeros(0, np.int64), np.zeros(0, str), 0.0, f"NotImplementedError: {exc}")
    motion = clip.to_motion()
    motion.name = f"{task.activity.lower()}/{task.clip_id}"
    jseed = (int(task.seed) * 1_000_003 + zlib.crc32(task.clip_id.encode())) % 2**32
    if task.jitter_offset_m > 0 or task.jitter_rotation_deg > 0:
        sites = jitter_sites(sites, task.jitter_offset_m, task.jitter_rotation_deg, seed=jseed)
    att = attach_sites(body, sites, betas=motion.betas)
    cfg = SynthConfig(fps=task.fps, signals=("acc", "gyro"), device=task.device, seed=int(task.seed) % 2**31)
    if task.mount_rock_deg > 0 or task.mount_jiggle_ms2 > 0:  # clean signals -> soft mount -> device model
        from virtimu.sensors.noise import apply_device_model
        from virtimu.sensors.synth import _seed_for

        rec = synthesize(motion, body, att, dataclasses.replace(cfg, device="none"), source="synthetic")
        raw = soft_mount(rec.select(list(RAW_CHANNELS)).astype(np.float64), rec.fs, task.mount_rock_deg,
                         task.mount_jiggle_ms2, jseed)
        device = cfg.device_model()
        if not device.is_identity():
            raw = apply_device_model(raw, list(RAW_CHANNELS), rec.fs, device, seed=_seed_for(cfg.seed, motion.name))
        raw = raw.astype(np.float32)
    else:
        rec = synthesize(motion, body, att, cfg, source="synthetic")
        raw = rec.select(list(RAW_CHANNELS)).astype(np.float32)
    labels = frame_codes(rec.labels, rec.label_map)
    sig, _ = input_signals(raw, rec.fs, task.signals)
    X, R, y = cut_windows(sig, raw, labels, task.length, task.step, task.purity)
    return X, R, y, np.full(len(y), task.clip_id), rec.n_frames / rec.fs, None


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def clip_tasks(cfg: Mapping[str, Any]) -> list[ClipTask]:
    """The clip tasks of a configuration: ``n_per_activity`` per activity, seeds from ``synthetic.seed``."""
    s, w = cfg["synthetic"], cfg["windows"]
    kind = resolve_generator(s["generator"])
    acts = generator_activities(kind, s["activities"])
    rand = tuple(sorted((s.get("randomization") or {}).items()))
    device = s["device"] if not isinstance(s["device"], dict) else dict(s["device"])
    tasks = []
    for a in acts:
        code = next(c for c, n in HAPT_LABELS.items() if n == a)
        for i in range(int(s["n_per_activity"])):
            seed = int(np.random.SeedSequence([int(s["seed"]), code, i]).generate_state(1)[0] % 2**31)
            tasks.append(ClipTask(kind, a, seed, f"{a.lower()}_{i:05d}", float(s["fps"]), float(s["duration_s"]),
                                  rand, device, float(s["jitter_offset_m"]), float(s["jitter_rotation_deg"]),
                                  float(s.get("mount_rock_deg", 0.0)), float(s.get("mount_jiggle_ms2", 0.0)),
                                  int(w["length"]), int(w["step"]), float(w["purity"]),
                                  cfg["preprocess"]["signals"]))
    return tasks


def synthetic_windows(cfg: Mapping[str, Any], progress: bool = True) -> Windows:
    """Windows of all synthetic clips of ``cfg`` (generated in ``synthetic.workers`` processes)."""
    tasks = clip_tasks(cfg)
    workers = max(1, int(cfg["synthetic"]["workers"]))
    t0 = time.perf_counter()
    bar = tqdm(total=len(tasks), desc="synthetic clips", unit="clip", disable=not progress)
    parts, seconds, failed = [], 0.0, []
    length = int(cfg["windows"]["length"])

    def take(task: ClipTask, out) -> None:
        nonlocal seconds
        X, R, y, g, sec, err = out
        if err is not None:
            failed.append((task.activity, err))
        else:
            parts.append((X, R, y, g))
        seconds += sec
        bar.update(1)

    # import the generator and sensor code (and load the body) here, before worker processes start, so
    # that every clip is made by the code whose fingerprint is in `synthetic_key`
    import importlib

    for module in ("virtimu.sensors.placement", "virtimu.sensors.synth", "virtimu.motion.parametric"):
        if module != "virtimu.motion.parametric" or (tasks and tasks[0].generator == "parametric"):
            importlib.import_module(module)
    _body_and_sites()
    if workers == 1:
        for task in tasks:
            take(task, synth_clip(task))
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
            for task, out in zip(tasks, pool.map(synth_clip, tasks, chunksize=max(1, len(tasks) // (workers * 20)))):
                take(task, out)
    bar.close()
    channels = input_signals(np.zeros((16, 6), np.float32), float(cfg["synthetic"]["fps"]),
                             cfg["preprocess"]["signals"])[1]
    ws = _stack(parts, channels, length, {})
    not_made: dict[str, int] = {}
    for act, err in failed:
        not_made[act] = not_made.get(act, 0) + 1
    for act, n in not_made.items():
        log.warning("synthetic: %d clips of %s not generated (%s)", n, act,
                    next(e for a, e in failed if a == act))
    ws.info = {"generator": tasks[0].generator if tasks else None, "n_clips": len(tasks) - len(failed),
               "activities": sorted({t.activity for t in tasks} - set(not_made)), "not_generated": not_made,
               "signal_seconds": seconds, "seconds": time.perf_counter() - t0, "key": synthetic_key(cfg)}
    log.info("synthetic: %d clips -> %d windows in %.1f s", ws.info["n_clips"], len(ws.y), ws.info["seconds"])
    if not len(ws.y):
        raise RuntimeError(f"synthetic: no windows from {len(tasks)} clips (failures: {not_made})")
    return ws


def split_holdout(ws: Windows, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout) of synthetic windows, holding out ``fraction`` of the clips (whole clips)."""
    clips = np.unique(ws.group)
    if fraction <= 0 or clips.size < 2:
        return np.arange(len(ws.y)), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n_hold = max(1, int(round(fraction * clips.size)))
    hold = rng.choice(clips, size=n_hold, replace=False)
    mask = np.isin(ws.group, hold)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


# ============================================================================ sampling and training


def per_class_sample(y: np.ndarray, n_per_class: int | None, seed: int) -> np.ndarray:
    """Indices of ``n_per_class`` windows of every class of ``y`` (all of a class that has fewer; all if None).

    Nested across budgets: each class's windows are put in one random order
    by ``default_rng(seed)`` and the first n are taken, so a larger budget
    contains every window of a smaller one (same seed).  Returns ascending
    indices (int64).
    """
    y = np.asarray(y)
    if n_per_class is None:
        return np.arange(y.size, dtype=np.int64)
    if int(n_per_class) < 1:
        raise ValueError(f"per_class_sample: n_per_class must be >= 1, got {n_per_class}")
    out = []
    for code in np.unique(y):
        idx = np.flatnonzero(y == code)
        rng = np.random.default_rng([int(seed), int(code)])
        out.append(rng.permutation(idx)[: int(n_per_class)])
    return np.sort(np.concatenate(out)).astype(np.int64)


def target_epochs(n_windows: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """Epochs for ``n_windows``: at least ``epochs`` and enough for ``min_steps`` optimisation steps."""
    batches = max(1, math.ceil(n_windows / batch_size))
    return max(int(epochs), math.ceil(int(min_steps) / batches))


def _train_config(d: Mapping[str, Any], seed: int, threads: int, epochs: int | None = None):
    from virtimu.training.config import TrainConfig

    d = {**dict(d), "seed": int(seed), "threads": int(threads), "progress": False}
    if epochs is not None:
        d["epochs"] = int(epochs)
    return TrainConfig.from_dict(d)


def evaluate(learner, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """{'macro_f1', 'accuracy', 'per_class_f1' {name: f1}} over the 12 hapt12 classes (fractions)."""
    from virtimu.evaluation.metrics import accuracy, macro_f1, per_class

    pred = learner.predict(X)
    labels = sorted(HAPT_LABELS)
    pc = per_class(y, pred, labels=labels, names=HAPT_LABELS)
    return {"macro_f1": macro_f1(y, pred, labels=labels), "accuracy": accuracy(y, pred),
            "per_class_f1": {n: v["f1"] for n, v in pc.items()}}


def pretrain(cfg: Mapping[str, Any], syn: Windows, seed: int):
    """A `TorchLearner` trained on the synthetic windows (holdout clips excluded); returns (learner, info)."""
    from virtimu.training.learner import TorchLearner

    tr, ho = split_holdout(syn, float(cfg["synthetic"]["holdout_fraction"]), seed)
    learner = TorchLearner(cfg["model"]["name"], cfg["model"]["config"] or None,
                           _train_config(cfg["pretrain"], seed, cfg["threads"]))
    t0 = time.perf_counter()
    learner.fit(syn.X[tr], syn.y[tr], label_map={c: n for c, n in HAPT_LABELS.items() if c in set(syn.y[tr])},
                channels=syn.channels)
    info = {"seconds": time.perf_counter() - t0, "n_windows": int(tr.size), "n_holdout": int(ho.size),
            "epochs": int(learner.train_config.epochs)}
    if ho.size:
        from virtimu.evaluation.metrics import accuracy, macro_f1

        pred = learner.predict(syn.X[ho])
        present = sorted(set(syn.y[ho].tolist()))
        info.update({"holdout_macro_f1": macro_f1(syn.y[ho], pred, labels=present),
                     "holdout_accuracy": accuracy(syn.y[ho], pred)})
    return learner, info


def train_scratch(cfg: Mapping[str, Any], X: np.ndarray, y: np.ndarray, seed: int):
    """The model trained from random initialisation on real windows with the target schedule; (learner, epochs)."""
    from virtimu.training.learner import TorchLearner

    t = cfg["target"]
    epochs = target_epochs(len(y), int(t["train"].get("batch_size", 64)), int(t["train"].get("epochs", 1)),
                           int(t["min_steps"]))
    learner = TorchLearner(cfg["model"]["name"], cfg["model"]["config"] or None,
                           _train_config(t["train"], seed, cfg["threads"], epochs))
    learner.fit(X, y, label_map={c: n for c, n in HAPT_LABELS.items() if c in set(y.tolist())},
                channels=None)
    return learner, epochs


def fine_tune(cfg: Mapping[str, Any], source, X: np.ndarray, y: np.ndarray, seed: int):
    """A copy of the pretrained ``source`` learner fine-tuned on real windows; (learner, epochs).

    The head is kept when the synthetic classes equal the real ones and
    ``transfer.head == 'keep'``, else replaced (new output layer for the
    real classes).  ``transfer.freeze`` freezes the first k conv layers or
    all but the FC layers; ``transfer.normalisation`` keeps the synthetic
    per-channel statistics ('source') or recomputes them from the real
    sample ('target').
    """
    t, tr = cfg["target"], cfg["transfer"]
    learner = copy.deepcopy(source)
    learner.train_config = _train_config(t["train"], seed, cfg["threads"])
    classes = np.unique(y)
    if tr["head"] == "replace" or not np.array_equal(classes, learner.classes_):
        learner.replace_head(len(classes), {int(c): HAPT_LABELS[int(c)] for c in classes})
    kind, k = _parse_freeze(tr["freeze"])
    if kind == "all_but_fc":
        learner.freeze(all_but_fc=True)
    elif kind == "first_k":
        learner.freeze(first_k_conv=k)
    epochs = target_epochs(len(y), int(t["train"].get("batch_size", 64)), int(t["train"].get("epochs", 1)),
                           int(t["min_steps"]))
    learner.fine_tune(X, y, epochs=epochs, seed=seed, keep_normalisation=tr["normalisation"] == "source")
    return learner, epochs


# ============================================================================ the study


def load_real(cfg: Mapping[str, Any]) -> tuple[Windows, Windows]:
    """(train, test) real windows: test = ``data.test_subjects``, train = ``data.train_subjects`` or the rest."""
    test_s = [int(s) for s in cfg["data"]["test_subjects"]]
    train_s = cfg["data"]["train_subjects"]
    train_s = [s for s in range(1, 31) if s not in test_s] if train_s is None else [int(s) for s in train_s]
    overlap = sorted(set(train_s) & set(test_s))
    if overlap:
        raise ConfigError(f"data: subjects {overlap} are both training and test subjects")
    allw = real_windows(cfg, sorted(set(train_s) | set(test_s)))
    is_test = np.isin(allw.group, [str(s) for s in test_s])
    train, test = allw.subset(np.flatnonzero(~is_test)), allw.subset(np.flatnonzero(is_test))
    train.info = {**allw.info, "subjects": sorted(set(train.group.tolist()), key=int)}
    test.info = {**allw.info, "subjects": sorted(set(test.group.tolist()), key=int)}
    return train, test


def _budget_value(b: Any) -> int | None:
    return None if b == "all" else int(b)


def _row_key(kind_key: str, arm: str, budget: Any, seed: int) -> str:
    return f"{arm}|{kind_key}|{budget}|{seed}"


class ResultStore:
    """Rows of a study, saved to ``results.json`` after every run; rows with a known key are reused."""

    def __init__(self, out_dir: Path, header: dict[str, Any], reuse: bool = True) -> None:
        self.path = Path(out_dir) / "results.json"
        self.header = header
        self.rows: list[dict[str, Any]] = []
        self._old: dict[str, dict[str, Any]] = {}
        self.previous: dict[str, Any] = {}
        self.carried: list[dict[str, Any]] = []
        if reuse and self.path.exists():
            try:
                self.previous = json.loads(self.path.read_text(encoding="utf-8"))
                self._old = {r["key"]: r for r in self.previous.get("runs", []) if "key" in r}
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cannot reuse %s (%s); starting afresh", self.path, exc)
        self.extra: dict[str, Any] = {}

    def cached(self, key: str) -> dict[str, Any] | None:
        return self._old.get(key)

    def add(self, row: dict[str, Any], save: bool = True) -> None:
        self.rows.append(row)
        if save:
            self.save()

    def save(self) -> None:
        from virtimu.evaluation.report import write_json

        write_json(self.path, {**self.header, **self.extra, "runs": self.rows + self.carried})

    def carry(self, valid: Mapping[str, set[str]], budgets: Sequence[Any], seeds: Sequence[int]) -> list[str]:
        """Keep earlier rows of variants not run now: ``valid`` maps a variant name to its current row-key
        hashes (scratch and pretrained); rows with other settings, budgets or seeds are dropped.  Returns the
        names of the variants carried."""
        self.carried = [r for r in self.previous.get("runs", [])
                        if r.get("variant") in valid and r.get("key", "|").split("|")[1] in valid[r["variant"]]
                        and r.get("budget") in list(budgets) + [0] and r.get("seed") in list(seeds)]
        return sorted({r["variant"] for r in self.carried})


def run_study(cfg: Mapping[str, Any], out_dir: str | os.PathLike, progress: bool = True,
              variants: Sequence[str] | None = None, reuse: bool = True,
              argv: Sequence[str] | None = None, cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run the whole study and write results.json/csv, plots, similarity and report.md into ``out_dir``.

    variants: names of the variants to run besides 'base' (default: all in
    the config).  reuse: take rows of an earlier results.json in ``out_dir``
    whose settings are unchanged instead of recomputing them.  cache: a
    folder for synthetic windows (npz) and pretrained models (torch
    checkpoints) keyed by the hash of their settings, reused by later runs
    (keep it out of ``out_dir``: it holds large files).
    Returns the results dict written to results.json.
    """
    import torch

    cache_dir = Path(cache) if cache is not None else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg["threads"]))
    t_start = time.perf_counter()
    selected = [v for v in cfg["variants"] if variants is None or v["name"] in variants]
    unknown = sorted(set(variants or []) - {v["name"] for v in cfg["variants"]} - {"base"})
    if unknown:
        raise ConfigError(f"--variants: unknown {unknown}; the config has {[v['name'] for v in cfg['variants']]}")
    vlist = [("base", variant_config(cfg, None), {})] + [(v["name"], variant_config(cfg, v), dict(v.get("set") or {}))
                                                        for v in selected]
    header = {"study": "synthetic_to_hapt", "config": {k: v for k, v in cfg.items()},
              "seeds": list(cfg["seeds"]), "budgets": list(cfg["budgets"]), "commit": git_commit(),
              "commit_dirty": git_dirty(), "synthetic_code": code_fingerprint(),
              "argv": list(argv) if argv is not None else None,
              "variants": [{"name": n, "set": s, "scratch_key": scratch_key(c), "pretrained_key": pretrained_key(c)}
                           for n, c, s in vlist],
              "classes": HAPT_LABELS, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    store = ResultStore(out, header, reuse=reuse)
    if store.previous.get("started"):
        header["started"] = store.previous["started"]
    running = {n for n, _, _ in vlist}
    others = {v["name"]: variant_config(cfg, v) for v in cfg["variants"] if v["name"] not in running}
    carried = store.carry({n: {scratch_key(c), pretrained_key(c)} for n, c in others.items()},
                          cfg["budgets"], cfg["seeds"])
    if carried:
        log.info("keeping earlier runs of variants %s from %s", carried, store.path)
        header["variants"] += [{"name": n, "set": dict(next(v for v in cfg["variants"] if v["name"] == n)
                                                      .get("set") or {}),
                                "scratch_key": scratch_key(others[n]), "pretrained_key": pretrained_key(others[n])}
                               for n in carried]
        rank = {n: i for i, n in enumerate(["base"] + [v["name"] for v in cfg["variants"]])}
        header["variants"].sort(key=lambda v: rank[v["name"]])
    prev_sim = {n: v for n, v in (store.previous.get("similarity") or {}).items() if n in carried}
    prev_syn = {n: v for n, v in ((store.previous.get("data") or {}).get("synthetic") or {}).items() if n in carried}
    (out / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(dict(cfg), default=str)),
                                                    sort_keys=False), encoding="utf-8")

    reals: dict[str, tuple[Windows, Windows]] = {}
    sources: dict[tuple[str, int], tuple[Any, dict]] = {}
    syns: dict[str, Windows] = {}
    data_info: dict[str, Any] = {}
    similarity: dict[str, Any] = {}
    for vname, vcfg, _ in vlist:
        rkey = _digest({k: vcfg[k] for k in ("data", "windows", "preprocess")})
        if rkey not in reals:
            t0 = time.perf_counter()
            reals[rkey] = load_real(vcfg)
            log.info("real windows in %.1f s", time.perf_counter() - t0)
        train, test = reals[rkey]
        data_info.setdefault("real", {"train": {"n": int(len(train.y)), "per_class": train.counts(),
                                                "subjects": train.info["subjects"]},
                                      "test": {"n": int(len(test.y)), "per_class": test.counts(),
                                               "subjects": test.info["subjects"]},
                                      "source": train.info.get("source")})
        pkey = pretrained_key(vcfg)
        seeds_todo = [s for s in cfg["seeds"]
                      if any(store.cached(_row_key(pkey, "pretrained", b, s)) is None for b in cfg["budgets"])
                      or store.cached(_row_key(pkey, "synthetic_only", 0, s)) is None]
        skey = synthetic_key(vcfg)
        if skey not in syns and (seeds_todo or skey not in similarity):
            syns[skey] = _load_cached_windows(cache_dir, skey)
            if syns[skey] is None:
                syns[skey] = synthetic_windows(vcfg, progress=progress)
                _save_cached_windows(cache_dir, skey, syns[skey])
        if skey in syns and skey not in similarity:
            similarity[skey] = _similarity(syns[skey], train, out, vname if vname != "base" else "")
            syn = syns[skey]
            data_info.setdefault("synthetic", {})[vname] = {
                **syn.info, "n_windows": int(len(syn.y)),
                "per_class": syn.counts()}
        _run_variant(vname, vcfg, cfg, train, test, syns.get(skey), store, progress, sources, cache_dir)
        if prev_syn:
            data_info.setdefault("synthetic", {}).update({n: v for n, v in prev_syn.items()
                                                         if n not in data_info.get("synthetic", {})})
        store.extra.update({"data": data_info, "similarity": {**prev_sim, **{v: similarity.get(synthetic_key(c))
                                                                             for v, c, _ in vlist
                                                                             if synthetic_key(c) in similarity}}})
        store.save()
    earlier = float(store.previous.get("seconds_total") or 0.0) if store.previous.get("runs") else 0.0
    store.extra["seconds_total"] = earlier + time.perf_counter() - t_start  # wall time of all invocations
    order = ["base"] + [v["name"] for v in cfg["variants"] if v["name"] in running or v["name"] in carried]
    store.extra["summary"] = summarise(store.rows + store.carried, order, cfg["budgets"], float(cfg["alpha"]))
    store.extra["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store.save()
    results = json.loads(store.path.read_text(encoding="utf-8"))
    write_outputs(results, out)
    return results


def _similarity(syn: Windows, real_train: Windows, out: Path, suffix: str) -> dict[str, Any]:
    from virtimu.evaluation.similarity import compare_classes, plot_similarity, window_features

    fs = 50.0
    F_syn = window_features(syn.raw, list(RAW_CHANNELS), fs)
    F_real = window_features(real_train.raw, list(RAW_CHANNELS), fs)
    res = compare_classes(F_syn, syn.y, F_real, real_train.y, real_train.group, class_names=HAPT_LABELS)
    name = f"similarity{'_' + suffix if suffix else ''}.png"
    plot_similarity(res, out / name)
    d = res.to_dict()
    d["plot"] = name
    d["markdown"] = res.to_markdown()
    return d


def source_key(cfg: Mapping[str, Any]) -> str:
    """Hash of the settings a pretrained (not yet fine-tuned) model depends on."""
    return _digest({"synthetic": synthetic_key(cfg), "pretrain": cfg["pretrain"], "model": cfg["model"],
                    "threads": cfg["threads"]})


def _load_cached_windows(cache: Path | None, key: str) -> Windows | None:
    path = None if cache is None else cache / f"synthetic_{key}.npz"
    if path is None or not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        info = json.loads(str(z["info"]))
        ws = Windows(z["X"], z["y"], z["group"], [str(c) for c in z["channels"]], z["raw"], info)
    log.info("synthetic windows from cache %s", path)
    return ws


def _save_cached_windows(cache: Path | None, key: str, ws: Windows) -> None:
    if cache is None:
        return
    from virtimu.io.atomic import atomic_path

    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache / f"synthetic_{key}.npz", suffix=".tmp.npz") as tmp:
        np.savez(tmp, X=ws.X, y=ws.y, group=ws.group.astype(str), channels=np.array(ws.channels), raw=ws.raw,
                 info=np.array(json.dumps(ws.info, default=str)))


def cached_pretrain(cfg: Mapping[str, Any], syn: Windows | None, seed: int, cache: Path | None,
                    memory: dict[tuple[str, int], tuple[Any, dict]]):
    """`pretrain`, reusing a model of the same `source_key` and seed from ``memory`` or the ``cache`` folder."""
    from virtimu.training.learner import TorchLearner

    key = (source_key(cfg), int(seed))
    if key in memory:
        return memory[key]
    path = None if cache is None else cache / f"pretrained_{key[0]}_seed{seed}.pt"
    if path is not None and path.exists() and path.with_suffix(".json").exists():
        learner = TorchLearner.load(path)
        info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        log.info("pretrained model from cache %s", path)
    else:
        if syn is None:
            raise RuntimeError("synthetic windows missing for a run that needs them")
        learner, info = pretrain(cfg, syn, seed)
        if path is not None:
            from virtimu.io.atomic import write_text_atomic

            cache.mkdir(parents=True, exist_ok=True)
            learner.save(path)
            write_text_atomic(path.with_suffix(".json"), json.dumps(info))
    memory[key] = (learner, info)
    return memory[key]


def _run_variant(vname: str, vcfg: Mapping[str, Any], cfg: Mapping[str, Any], train: Windows, test: Windows,
                 syn: Windows | None, store: ResultStore, progress: bool,
                 sources: dict[tuple[str, int], tuple[Any, dict]] | None = None, cache: Path | None = None) -> None:
    """All runs of one variant; ``sources`` caches pretrained models by (`source_key`, seed) across variants,
    ``cache`` (a folder, optional) across invocations."""
    skey, pkey = scratch_key(vcfg), pretrained_key(vcfg)
    budgets, seeds = list(cfg["budgets"]), list(cfg["seeds"])
    sources = {} if sources is None else sources
    n_runs = len(seeds) * (2 * len(budgets) + 1)
    bar = tqdm(total=n_runs, desc=f"runs [{vname}]", unit="run", disable=not progress)
    for seed in seeds:

        def get_source():
            return cached_pretrain(vcfg, syn, seed, cache, sources)

        key = _row_key(pkey, "synthetic_only", 0, seed)
        row = store.cached(key)
        if row is None:
            src, info = get_source()
            row = {"key": key, "variant": vname, "arm": "synthetic_only", "budget": 0, "seed": seed,
                   "n_windows": 0, **evaluate(src, test.X, test.y), "train_s": 0.0, "epochs": 0,
                   "pretrain": info}
        store.add({**row, "variant": vname})
        bar.update(1)
        for b in budgets:
            idx = per_class_sample(train.y, _budget_value(b), seed)
            X, y = train.X[idx], train.y[idx]
            for arm in ("scratch", "pretrained"):
                key = _row_key(skey if arm == "scratch" else pkey, arm, b, seed)
                row = store.cached(key)
                if row is None:
                    t0 = time.perf_counter()
                    if arm == "scratch":
                        learner, epochs = train_scratch(vcfg, X, y, seed)
                    else:
                        learner, epochs = fine_tune(vcfg, get_source()[0], X, y, seed)
                    secs = time.perf_counter() - t0
                    row = {"key": key, "arm": arm, "budget": b, "seed": seed, "n_windows": int(len(y)),
                           **evaluate(learner, test.X, test.y), "train_s": secs, "epochs": int(epochs)}
                    if arm == "pretrained":
                        row["pretrain"] = get_source()[1]
                store.add({**row, "variant": vname})
                bar.update(1)
    bar.close()


# ============================================================================ comparison


def verdict(deltas: Sequence[float], alpha: float = 0.05) -> dict[str, Any]:
    """Paired comparison of per-seed differences ``pretrained - scratch`` (macro-F1 fractions).

    Two-sided one-sample t-test of the mean difference against 0 (= paired
    t-test).  'helped': mean > 0 and p < alpha; 'did not help': mean < 0 and
    p < alpha (pretraining was worse); otherwise 'inconclusive'.  With all
    differences equal the test is degenerate: p = 0 unless they are all 0.
    Returns {'verdict', 'mean', 'std', 'p', 'wins', 'n'}.
    """
    d = np.asarray(list(deltas), dtype=np.float64)
    n = int(d.size)
    if n == 0:
        return {"verdict": "inconclusive", "mean": float("nan"), "std": float("nan"), "p": float("nan"),
                "wins": 0, "n": 0}
    mean, std = float(d.mean()), float(d.std(ddof=1)) if n > 1 else 0.0
    if n < 2:
        p = float("nan")
    elif std == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
    else:
        from scipy.stats import t as t_dist

        tstat = mean / (std / math.sqrt(n))
        p = float(2 * t_dist.sf(abs(tstat), df=n - 1))
    word = "inconclusive"
    if np.isfinite(p) and p < alpha:
        word = "helped" if mean > 0 else "did not help"
    return {"verdict": word, "mean": mean, "std": std, "p": p, "wins": int(np.sum(d > 0)), "n": n}


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray(list(values), dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else float("nan"),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def compare_arms(rows: Sequence[Mapping[str, Any]], variant: str, budget: Any, alpha: float = 0.05) -> dict[str, Any]:
    """Scratch vs pretrained at one budget for one variant: mean ± std (over seeds) and the paired verdict."""
    by = {(r["arm"], r["seed"]): r for r in rows if r["variant"] == variant and r["budget"] == budget}
    seeds = sorted({s for (a, s) in by if a == "scratch"} & {s for (a, s) in by if a == "pretrained"})
    sc = [by[("scratch", s)]["macro_f1"] for s in seeds]
    pr = [by[("pretrained", s)]["macro_f1"] for s in seeds]
    nw = [by[("scratch", s)]["n_windows"] for s in seeds]
    return {"budget": budget, "seeds": seeds, "n_windows": _mean_std(nw), "scratch": _mean_std(sc),
            "pretrained": _mean_std(pr), "delta": verdict(np.subtract(pr, sc), alpha),
            "scratch_accuracy": _mean_std([by[("scratch", s)]["accuracy"] for s in seeds]),
            "pretrained_accuracy": _mean_std([by[("pretrained", s)]["accuracy"] for s in seeds])}


def summarise(rows: Sequence[Mapping[str, Any]], variants: Sequence[str], budgets: Sequence[Any],
              alpha: float = 0.05) -> dict[str, Any]:
    """{variant: {'budgets': [compare_arms ...], 'synthetic_only': mean ± std, 'pretrain': ...}}."""
    out: dict[str, Any] = {}
    for v in variants:
        zs = [r for r in rows if r["variant"] == v and r["arm"] == "synthetic_only"]
        pre = [r["pretrain"] for r in zs if r.get("pretrain")]
        out[v] = {"budgets": [compare_arms(rows, v, b, alpha) for b in budgets],
                  "synthetic_only": {"macro_f1": _mean_std([r["macro_f1"] for r in zs]),
                                     "accuracy": _mean_std([r["accuracy"] for r in zs])},
                  "pretrain": {"seconds": _mean_std([p["seconds"] for p in pre]),
                               "holdout_macro_f1": _mean_std([p["holdout_macro_f1"] for p in pre
                                                              if "holdout_macro_f1" in p])}}
    return out


# ============================================================================ outputs



def _pm(ms: Mapping[str, Any] | None, digits: int = 1) -> str:
    if not ms or ms.get("mean") is None or not np.isfinite(ms["mean"]):
        return "–"
    return f"{100 * ms['mean']:.{digits}f} ± {100 * (ms.get('std') or 0.0):.{digits}f}"


def _pval(p: float | None) -> str:
    return "–" if p is None or not np.isfinite(p) else f"{p:.3f}"


def _budget_label(b: Any) -> str:
    return "all" if b == "all" else str(b)


def write_csv(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """One line per run: variant, arm, budget, seed, n_windows, macro_f1, accuracy, times, per-class F1."""
    import csv
    import io

    from virtimu.io.atomic import write_text_atomic

    names = list(HAPT_LABELS.values())
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["variant", "arm", "budget", "seed", "n_windows", "macro_f1", "accuracy", "train_s", "epochs",
                 "pretrain_s", *[f"f1_{n}" for n in names]])
    for r in results["runs"]:
        pre = r.get("pretrain") or {}
        wr.writerow([r["variant"], r["arm"], r["budget"], r["seed"], r["n_windows"], f"{r['macro_f1']:.6f}",
                     f"{r['accuracy']:.6f}", f"{r['train_s']:.3f}", r["epochs"],
                     f"{pre['seconds']:.3f}" if "seconds" in pre else "",
                     *[f"{r['per_class_f1'].get(n, float('nan')):.6f}" for n in names]])
    return write_text_atomic(path, buf.getvalue())


def _budget_x(results: Mapping[str, Any], budgets: Sequence[Any]) -> tuple[list[float], list[str]]:
    """x positions (windows per class) and tick labels; 'all' sits at the mean training windows per class."""
    per_class = results.get("data", {}).get("real", {}).get("train", {}).get("per_class") or {}
    present = [v for v in per_class.values() if v > 0]
    ints = [int(b) for b in budgets if b != "all"]
    x_all = float(np.mean(present)) if present else 2.0 * max(ints or [1])
    if ints and x_all <= max(ints):
        x_all = 2.0 * max(ints)
    xs = [x_all if b == "all" else float(b) for b in budgets]
    labels = [f"all\n(≈{x_all:.0f})" if b == "all" else str(b) for b in budgets]
    return xs, labels


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _save_png(fig, path: Path, dpi: int = 120) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from virtimu.io.atomic import atomic_path

    FigureCanvasAgg(fig)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def plot_f1_vs_labels(results: Mapping[str, Any], path: str | os.PathLike, variant: str = "base") -> Path:
    """Macro-F1 (%) vs labelled real windows per class (log x), scratch vs pretrained (one variant),
    error bars = std over seeds; the synthetic-only (zero-shot) score as a dotted line."""
    budgets = results["budgets"]
    xs, ticks = _budget_x(results, budgets)
    s = results["summary"][variant]
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    rows = s["budgets"]
    ax.errorbar(xs, [100 * c["scratch"]["mean"] for c in rows], yerr=[100 * c["scratch"]["std"] for c in rows],
                marker="o", capsize=3, color="0.3", label="no pretraining (scratch)")
    ax.errorbar(np.asarray(xs) * 1.02, [100 * c["pretrained"]["mean"] for c in rows],
                yerr=[100 * c["pretrained"]["std"] for c in rows], marker="s", capsize=3, color="C0",
                label="pretrained on synthetic, fine-tuned")
    zs = s["synthetic_only"]["macro_f1"]["mean"]
    if zs is not None and np.isfinite(zs):
        ax.axhline(100 * zs, color="C0", linestyle=":", linewidth=1, label="synthetic only (no real labels)")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(ticks)
    ax.minorticks_off()
    ax.set_xlabel("labelled real windows per class (HAPT training subjects)")
    ax.set_ylabel("macro-F1 on held-out subjects (%)")
    extra = "" if variant == "base" else f" [{variant}]"
    ax.set_title(f"Synthetic → HAPT{extra}: mean ± std over {len(results['seeds'])} seeds", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save_png(fig, Path(path))


def plot_delta_vs_labels(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Δ macro-F1 (pretrained − scratch, points) vs labels per class for every variant, ± std over seeds."""
    budgets = results["budgets"]
    xs, ticks = _budget_x(results, budgets)
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.axhline(0.0, color="0.3", linewidth=1)
    for i, (v, s) in enumerate(results["summary"].items()):
        rows = s["budgets"]
        ax.errorbar(np.asarray(xs) * (1 + 0.02 * i), [100 * c["delta"]["mean"] for c in rows],
                    yerr=[100 * c["delta"]["std"] for c in rows], marker="os^vD<>p"[i % 8], capsize=3,
                    color=f"C{i % 10}", linestyle="-" if v == "base" else "--", label=v)
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(ticks)
    ax.minorticks_off()
    ax.set_xlabel("labelled real windows per class (HAPT training subjects)")
    ax.set_ylabel("Δ macro-F1, pretrained − scratch (points)")
    ax.set_title(f"Gain from synthetic pretraining per variant (mean ± std over {len(results['seeds'])} seeds)",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save_png(fig, Path(path))


def plot_per_class(results: Mapping[str, Any], path: str | os.PathLike, variant: str = "base") -> Path:
    """Per-class F1 (%) vs labels per class, scratch vs pretrained (one panel per HAPT class)."""
    budgets = results["budgets"]
    xs, ticks = _budget_x(results, budgets)
    runs = [r for r in results["runs"] if r["variant"] == variant]
    names = list(HAPT_LABELS.values())
    fig = _figure(13.0, 8.0)
    for k, name in enumerate(names):
        ax = fig.add_subplot(3, 4, k + 1)
        for arm, color in (("scratch", "0.3"), ("pretrained", "C0")):
            m, s = [], []
            for b in budgets:
                v = [r["per_class_f1"].get(name, np.nan) for r in runs if r["arm"] == arm and r["budget"] == b]
                m.append(100 * np.mean(v) if v else np.nan)
                s.append(100 * np.std(v, ddof=1) if len(v) > 1 else 0.0)
            ax.errorbar(xs, m, yerr=s, marker="o", markersize=3, capsize=2, color=color, label=arm)
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([t.split("\n")[0] for t in ticks], fontsize=7)
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_title(name, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"per-class F1 (%) vs labelled windows per class [{variant}]", fontsize=10)
    fig.tight_layout()
    return _save_png(fig, Path(path))


def _verdict_words(cmp: Mapping[str, Any]) -> str:
    d = cmp["delta"]
    if d["n"] == 0:
        return "no runs"
    return d["verdict"]


def statement(summary_v: Mapping[str, Any], alpha: float) -> str:
    """One generated sentence per outcome class: at which budgets pretraining helped / did not / unclear."""
    groups: dict[str, list[str]] = {"helped": [], "did not help": [], "inconclusive": []}
    for c in summary_v["budgets"]:
        groups.setdefault(c["delta"]["verdict"], []).append(_budget_label(c["budget"]))
    parts = []
    if groups["helped"]:
        parts.append(f"pretraining **helped** (paired t-test over seeds, p < {alpha:g}) at "
                     f"{', '.join(groups['helped'])} labelled windows per class")
    if groups["did not help"]:
        parts.append(f"it **did not help** (significantly worse than no pretraining) at "
                     f"{', '.join(groups['did not help'])}")
    if groups["inconclusive"]:
        parts.append(f"the difference was **inconclusive** (not significant) at {', '.join(groups['inconclusive'])}")
    text = ("; ".join(parts) + ".") if parts else "no comparisons were run."
    return text[0].upper() + text[1:]


def _main_table(summary_v: Mapping[str, Any]) -> list[str]:
    """Markdown rows: budget, windows, scratch, pretrained, Δ (mean ± std %), wins, p, verdict."""
    L = ["| labels / class | windows | scratch | pretrained | Δ | pretrained better in | p | verdict |",
         "|---|---:|---:|---:|---:|---:|---:|---|"]
    for c in summary_v["budgets"]:
        d = c["delta"]
        L.append(f"| {_budget_label(c['budget'])} | {c['n_windows']['mean']:.0f} | {_pm(c['scratch'])} | "
                 f"{_pm(c['pretrained'])} | {_pm({'mean': d['mean'], 'std': d['std']})} | {d['wins']}/{d['n']} | "
                 f"{_pval(d['p'])} | {_verdict_words(c)} |")
    return L


def _attempts_table(results: Mapping[str, Any]) -> list[str]:
    """Markdown rows: one per variant, Δ macro-F1 (points) and verdict symbol per budget."""
    summary, sim = results["summary"], results.get("similarity") or {}
    bl = [_budget_label(b) for b in results["budgets"]]
    L = ["| variant | changes | synthetic only | " + " | ".join(bl) + " | similarity (median W1/spread) |",
         "|---|---|---:|" + "---:|" * len(bl) + "---:|"]
    sets = {v["name"]: v["set"] for v in results.get("variants", [])}
    sym = {"helped": "+", "did not help": "−", "inconclusive": "~"}
    for v, sv in summary.items():
        cells = [f"{100 * c['delta']['mean']:+.1f} {sym.get(c['delta']['verdict'], '?')}"
                 if c["delta"]["n"] else "–" for c in sv["budgets"]]
        simv = (sim.get(v) or {}).get("overall", {}).get("median_normalised")
        changes = ", ".join(f"`{k}={json.dumps(val)}`" for k, val in (sets.get(v) or {}).items()) or "—"
        L.append(f"| {v} | {changes} | {_pm(sv['synthetic_only']['macro_f1'])} | " + " | ".join(cells)
                 + f" | {'–' if simv is None else f'{simv:.2f}'} |")
    return L


def summary_markdown(results: Mapping[str, Any]) -> str:
    """The compact generated summary for the README: main table, statement, attempts (if any)."""
    cfg = results["config"]
    alpha = float(cfg.get("alpha", 0.05))
    base = results["summary"]["base"]
    L = [f"Macro-F1 (%) on the held-out UCI HAPT subjects, mean ± std over seeds {results['seeds']} "
         f"(commit `{results['commit']}`{' + uncommitted changes' if results.get('commit_dirty') else ''}"
         f"{', --quick' if cfg.get('quick_mode') else ''}):", ""]
    L.extend(_main_table(base))
    L.append("")
    L.append(f"Synthetic only (no real labels): {_pm(base['synthetic_only']['macro_f1'])} %. "
             f"Statement (generated): {statement(base, alpha)}")
    if len(results["summary"]) > 1:
        L.append("")
        L.append("Attempts (Δ macro-F1 in points, pretrained − scratch; + helped, − did not help, ~ inconclusive):")
        L.append("")
        L.extend(_attempts_table(results))
    return "\n".join(L) + "\n"



def report_markdown(results: Mapping[str, Any]) -> str:
    """The study report (Markdown), generated entirely from ``results``."""
    cfg = results["config"]
    alpha = float(cfg.get("alpha", 0.05))
    summary = results["summary"]
    data = results.get("data", {})
    real = data.get("real", {})
    syn_all = data.get("synthetic", {})
    syn = syn_all.get("base", {})
    names = list(HAPT_LABELS.values())
    L = []
    L.append("# Synthetic → UCI HAPT: does pretraining on generated motion help?\n")
    dirty = " + uncommitted changes" if results.get("commit_dirty") else ""
    L.append(f"Generated by `pipelines/synthetic_to_hapt.py` from `results.json`; commit `{results['commit']}`{dirty}"
             f"{' (**--quick** settings: not a real measurement)' if cfg.get('quick_mode') else ''}; "
             f"run {results.get('started')} → {results.get('finished')}"
             f" ({results.get('seconds_total', float('nan')) / 60:.1f} min).")
    if results.get("argv") is not None:
        L.append(f"Command: `python pipelines/synthetic_to_hapt.py {' '.join(results['argv'])}`.\n")
    L.append("## Setup\n")
    s, w, m = cfg["synthetic"], cfg["windows"], cfg["model"]
    L.append(f"- Synthetic: {syn.get('n_clips', '–')} clips ({s['n_per_activity']} per activity, "
             f"{s['duration_s']:g} s, generator `{syn.get('generator', s['generator'])}`) → "
             f"{syn.get('n_windows', '–')} windows; virtual waist phone (preset `hapt`), acc + gyro at "
             f"{s['fps']:g} Hz, device model `{s['device']}`, mounting jitter {s['jitter_offset_m']:g} m / "
             f"{s['jitter_rotation_deg']:g}°; {100 * s['holdout_fraction']:.0f} % of the clips held out of pretraining.")
    L.append(f"- Real: UCI HAPT, {real.get('train', {}).get('n', '–')} training windows "
             f"(subjects {', '.join(real.get('train', {}).get('subjects', []))}), "
             f"{real.get('test', {}).get('n', '–')} test windows (held-out subjects "
             f"{', '.join(real.get('test', {}).get('subjects', []))}).")
    L.append(f"- Windows: {w['length']} samples every {w['step']} (50 Hz), label = majority label covering "
             f"≥ {100 * w['purity']:.0f} % of the window, otherwise dropped; input signals `{cfg['preprocess']['signals']}`.")
    t = cfg["target"]
    L.append(f"- Model `{m['name']}`{' ' + json.dumps(m['config']) if m['config'] else ''}; pretraining "
             f"{cfg['pretrain']}; training on real windows "
             f"(both arms) {t['train']}, at least {t['min_steps']} steps; transfer {cfg['transfer']}.")
    L.append(f"- Seeds {results['seeds']}; budgets {[ _budget_label(b) for b in results['budgets']]} labelled windows "
             f"per class (nested per-class samples; classes with fewer windows give all they have).\n")

    L.append("## Result\n")
    base = summary["base"]
    L.append("Macro-F1 (%) on the held-out subjects, mean ± std over seeds; Δ = pretrained − scratch, paired by seed "
             f"(same sample, same initialisation seed); verdict by a paired t-test at α = {alpha:g}.\n")
    L.extend(_main_table(base))
    zs = base["synthetic_only"]
    L.append(f"\nSynthetic only (no real labels): macro-F1 {_pm(zs['macro_f1'])} %, accuracy {_pm(zs['accuracy'])} %. "
             f"Synthetic held-out clips: macro-F1 {_pm(base['pretrain']['holdout_macro_f1'])} %.\n")
    L.append(f"**Statement (generated):** {statement(base, alpha)}\n")
    L.append("![macro-F1 vs labels per class](f1_vs_labels.png)\n")
    L.append("Per-class F1: ![per-class F1](per_class_f1.png)\n")

    L.append("### Per-class F1 (%), smallest and largest budget\n")
    bsel = [results["budgets"][0], results["budgets"][-1]]
    head = "| class | " + " | ".join(f"scratch @{_budget_label(b)} | pretrained @{_budget_label(b)}" for b in bsel) + " |"
    L.append(head)
    L.append("|---|" + "---:|" * (2 * len(bsel)))
    runs = [r for r in results["runs"] if r["variant"] == "base"]
    for n in names:
        cells = []
        for b in bsel:
            for arm in ("scratch", "pretrained"):
                v = [r["per_class_f1"].get(n, np.nan) for r in runs if r["arm"] == arm and r["budget"] == b]
                cells.append(_pm(_mean_std(v)) if v else "–")
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    L.append("")

    sim = (results.get("similarity") or {})
    if sim.get("base"):
        sb = sim["base"]
        L.append("## How realistic is the synthetic data?\n")
        L.append("Per class and per window statistic: the 1-Wasserstein distance between the synthetic and the real "
                 "(training subjects) distributions, divided by the real between-subject spread (mean "
                 "leave-one-subject-out W1 among real subjects). 1 ≈ as different as one real person from the others; "
                 "KS = two-sample Kolmogorov-Smirnov statistic (0 identical, 1 disjoint). Acc in m/s², gyro in rad/s, "
                 "statistics of raw signals (before any preprocessing).\n")
        L.append(f"Overall median normalised W1: {sb['overall']['median_normalised']:.2f}; mean KS: "
                 f"{sb['overall']['mean_ks']:.2f}.\n")
        L.append("| class | n syn | n real | median W1/spread | max W1/spread | worst statistic | mean KS |")
        L.append("|---|---:|---:|---:|---:|---|---:|")
        for cname, cs in sb["class_summary"].items():
            def f2(x):
                return "–" if x is None or not np.isfinite(x) else f"{x:.2f}"
            L.append(f"| {cname} | {cs['n_synthetic']} | {cs['n_real']} | {f2(cs['median_normalised'])} | "
                     f"{f2(cs['max_normalised'])} | {cs['worst_feature'] or '–'} | {f2(cs['mean_ks'])} |")
        L.append(f"\n![similarity heat map]({sb['plot']})\n")
        L.append("<details><summary>All statistics (W1 / between-subject spread)</summary>\n")
        L.append(sb["markdown"])
        L.append("\n</details>\n")

    if len(summary) > 1:
        L.append("## Attempts to make pretraining help\n")
        L.append("Each variant changes the listed settings of the base run and repeats the pretrained arm "
                 "(and the scratch arm where the change affects it) with the same seeds. Cells: Δ macro-F1 "
                 "(pretrained − scratch, percentage points, mean over seeds) and the verdict (+ helped, − did not "
                 "help, ~ inconclusive).\n")
        L.extend(_attempts_table(results))
        L.append("\n![gain per variant](delta_vs_labels.png)\n")
        for v, sv in summary.items():
            if v == "base":
                continue
            L.append(f"### Variant `{v}`\n")
            L.append("| labels / class | scratch | pretrained | Δ | better in | p | verdict |")
            L.append("|---|---:|---:|---:|---:|---:|---|")
            for c in sv["budgets"]:
                d = c["delta"]
                L.append(f"| {_budget_label(c['budget'])} | {_pm(c['scratch'])} | {_pm(c['pretrained'])} | "
                         f"{_pm({'mean': d['mean'], 'std': d['std']})} | {d['wins']}/{d['n']} | "
                         f"{_pval(d['p'])} | {_verdict_words(c)} |")
            L.append(f"\n{statement(sv, alpha)}\n")

    L.append("## Times\n")
    tr = [r["train_s"] for r in results["runs"] if r["arm"] in ("scratch", "pretrained")]
    L.append(f"- Synthetic data: {syn.get('seconds', float('nan')):.0f} s for {syn.get('n_clips', '–')} clips "
             f"({syn.get('signal_seconds', float('nan')) / 60:.0f} min of signal).")
    L.append(f"- Pretraining: {base['pretrain']['seconds']['mean']:.0f} s per seed; training on real windows: "
             f"{np.sum(tr) / 60:.1f} min over {len(tr)} runs; wall time of all invocations into this folder "
             f"{results.get('seconds_total', float('nan')) / 60:.0f} min (recomputations included).")
    L.append("\nFiles: `results.json` (every run, the config, seeds, commit), `results.csv`, `f1_vs_labels.png`, "
             "`per_class_f1.png`, `delta_vs_labels.png` (with variants), `similarity*.png`, `summary.md`, `config.yaml`.")
    return "\n".join(L) + "\n"


def write_outputs(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """results.csv, f1_vs_labels.png, per_class_f1.png, report.md and summary.md (the README table) from a
    results dict; returns their paths."""
    from virtimu.io.atomic import write_text_atomic

    out = Path(out_dir)
    if "summary" not in results:  # a results.json of a run still going: summarise the rows so far
        names = [v["name"] for v in results.get("variants", [{"name": "base"}])]
        results = {**results, "summary": summarise(results["runs"], names, results["budgets"],
                                                   float(results["config"].get("alpha", 0.05)))}
    paths = {"csv": write_csv(results, out / "results.csv"),
             "f1_vs_labels": plot_f1_vs_labels(results, out / "f1_vs_labels.png"),
             "per_class": plot_per_class(results, out / "per_class_f1.png")}
    if len(results["summary"]) > 1:
        paths["delta"] = plot_delta_vs_labels(results, out / "delta_vs_labels.png")
    paths["report"] = write_text_atomic(out / "report.md", report_markdown(results))
    paths["summary"] = write_text_atomic(out / "summary.md", summary_markdown(results))
    return paths
