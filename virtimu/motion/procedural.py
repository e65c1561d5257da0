"""Procedural motion generator: one entry point for every parametric activity.

``generate(params, skeleton)`` dispatches on the parameter dataclass;
:data:`DEMO_CLIPS` lists the bundled demo clips (``virtimu/assets/motions``)
with their parameters, and :func:`write_clip` stores a clip in the AMASS
SMPL+H layout with its clip label and per-frame labels.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from virtimu.motion.gestures import (
    StandParams, StretchParams, WaveParams, generate_arm_stretching, generate_standing, generate_waving,
)
from virtimu.motion.jumping import JumpParams, generate_jumping
from virtimu.motion.lying import LieParams, generate_lying_down
from virtimu.motion.sitting import SitParams, generate_sit_stand
from virtimu.motion.clip import N_BETAS, N_DMPLS, Clip
from virtimu.motion.gait import RunParams, WalkParams, generate_gait
from virtimu.motion.skeleton import Skeleton, approximate_skeleton
from virtimu.motion.stairs import StairParams, generate_stairs
from virtimu.motion.transitions import PostureParams, generate_posture

log = logging.getLogger(__name__)

#: Folder of the bundled demo clips.
DEMO_MOTIONS_DIR = Path(__file__).resolve().parent.parent / "assets" / "motions"

_GENERATORS: dict[type, Callable[[Any, Skeleton], Clip]] = {
    StairParams: generate_stairs,  # WalkParams subclasses first
    RunParams: generate_gait,
    WalkParams: generate_gait,
    StandParams: generate_standing,
    WaveParams: generate_waving,
    StretchParams: generate_arm_stretching,
    SitParams: generate_sit_stand,
    JumpParams: generate_jumping,
    LieParams: generate_lying_down,
    PostureParams: generate_posture,
}

#: The bundled demo clips: file stem -> parameters (defaults at 120 Hz, one seed per clip).
DEMO_CLIPS: dict[str, Any] = {
    "walking": WalkParams(seed=1),
    "running": RunParams(seed=2),
    "sit_stand": SitParams(seed=3),
    "jumping": JumpParams(seed=4),
    "waving": WaveParams(seed=5),
    "arm_stretching": StretchParams(seed=6),
    "lying_down": LieParams(seed=7),
    "standing": StandParams(seed=8),
}


def generate(params: Any, skeleton: Skeleton | None = None) -> Clip:
    """Generate the clip described by ``params`` (one of the parameter dataclasses) on ``skeleton``
    (default: the approximate SMPL-neutral skeleton).  Deterministic given params (incl. seed)."""
    skel = skeleton if skeleton is not None else approximate_skeleton()
    for kind, fn in _GENERATORS.items():
        if type(params) is kind:
            return fn(params, skel)
    raise TypeError(f"no generator for {type(params).__name__}; known: {[k.__name__ for k in _GENERATORS]}")


def amass_arrays(clip: Clip) -> dict[str, np.ndarray]:
    """The clip as the arrays of an AMASS SMPL+H file plus ``virtimu_label`` / ``virtimu_frame_labels``.

    poses (T, 156) float64 (rounded to float32 precision, which keeps the files small), trans (T, 3)
    float64, betas (16,) (the clip's shape, zeros by default), dmpls (T, 8) zeros, mocap_framerate,
    gender 'neutral'.
    """
    T = clip.n_frames
    return {
        "trans": clip.trans.astype(np.float64),
        "gender": np.array("neutral"),
        "mocap_framerate": np.array(float(clip.fps)),
        "betas": clip.betas_array(N_BETAS),
        "dmpls": np.zeros((T, N_DMPLS)),
        "poses": clip.smplh_poses().astype(np.float32).astype(np.float64),
        "virtimu_label": np.array(clip.label),
        "virtimu_frame_labels": np.asarray(clip.frame_labels, dtype=str),
    }


def write_clip(clip: Clip, path: str | Path) -> Path:
    """Write ``clip`` as an AMASS SMPL+H ``.npz`` (compressed, atomic when the AMASS writer is available)."""
    arrays = amass_arrays(clip)
    path = Path(path)
    try:
        from virtimu.io.amass import write_amass
    except ImportError:  # the reader/writer module is optional for the generator
        write_amass = None
    if write_amass is not None:
        return write_amass(path, arrays["poses"], arrays["trans"], arrays["betas"], clip.fps, gender="neutral",
                           model_type="smplh", label=clip.label, frame_labels=list(clip.frame_labels),
                           compress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    tmp.replace(path)
    return path


def generate_demo_clips(skeleton: Skeleton | None = None, names: list[str] | None = None) -> dict[str, Clip]:
    """All (or the named) demo clips of :data:`DEMO_CLIPS` on ``skeleton``."""
    out = {}
    for name in names or list(DEMO_CLIPS):
        if name not in DEMO_CLIPS:
            raise KeyError(f"unknown demo clip {name!r}; known: {list(DEMO_CLIPS)}")
        out[name] = generate(DEMO_CLIPS[name], skeleton)
        log.info("generated %s: %d frames at %g Hz", name, out[name].n_frames, out[name].fps)
    return out


def default_skeleton() -> Skeleton:
    """Skeleton of the bundled default body (betas 0) if it is installed, else the approximate
    SMPL-neutral table (with a logged warning)."""
    try:
        from virtimu.body.files import load_body_model
        body = load_body_model()
    except (ImportError, FileNotFoundError) as exc:
        log.warning("default body unavailable (%s); using the approximate SMPL-neutral skeleton", exc)
        return approximate_skeleton()
    return Skeleton.from_body(body, np.zeros(N_BETAS))
