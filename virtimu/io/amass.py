"""AMASS motion files: read into :class:`virtimu.types.Motion`, write in the release layouts.

AMASS ships one ``.npz`` per sequence, laid out as
``<root>/<SubDataset>/<subject>/<sequence>_poses.npz`` (SMPL+H release) or
``..._stageii.npz`` (SMPL-X release), plus per-subject shape files
(``shape.npz`` / ``<gender>_stagei.npz``) that hold betas but no motion.

Keys of the two releases (AMASS, https://amass.is.tue.mpg.de):

* SMPL+H: ``trans (T,3), gender, mocap_framerate, betas (16,), dmpls (T,8), poses (T,156)``
* SMPL-X: ``gender, surface_model_type, mocap_frame_rate, mocap_time_length,
  markers_latent (M,3), latent_labels (M,), markers_latent_vids (object), trans (T,3),
  poses (T,165), betas (16,), num_betas, root_orient (T,3), pose_body (T,63),
  pose_hand (T,90), pose_jaw (T,3), pose_eye (T,6)``

Poses are axis-angle in radians, joint order of
``virtimu.body.joints.JOINT_NAMES[model_type]``; ``trans`` in metres, world z up.
Files are read with ``allow_pickle=False``: only the keys used are loaded, so
object-array extras (``markers_latent_vids``) are never unpickled.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.body.joints import JOINT_NAMES, POSE_DIMS
from virtimu.types import NULL_LABEL, Motion
from virtimu.io.atomic import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "AmassFormatError", "read_amass", "write_amass", "find_amass_files", "is_shape_file",
    "FPS_KEYS", "LABEL_KEY", "FRAME_LABELS_KEY",
]

#: Frame-rate keys: SMPL+H release, SMPL-X release.
FPS_KEYS = ("mocap_framerate", "mocap_frame_rate")
#: Optional extras of virtimu's own demo files: one label name for the clip, and per-frame names.
LABEL_KEY = "virtimu_label"
FRAME_LABELS_KEY = "virtimu_frame_labels"
#: Name of the null label (code ``NULL_LABEL``).
NULL_NAME = "null"

#: Largest field (decoded bytes) read from an AMASS file: 2 GiB, ~1.6 M frames of SMPL-X float64
#: poses (3.7 h at 120 Hz), far beyond any AMASS sequence; guards against forged sizes and zip bombs.
MAX_FIELD_BYTES = 2 * 1024**3

_GENDERS = ("male", "female", "neutral")
_WIDTH_TO_TYPE = {width: kind for kind, width in POSE_DIMS.items()}


class AmassFormatError(ValueError):
    """An AMASS file is unreadable or does not follow the AMASS layout (message names file and field)."""


# --------------------------------------------------------------------------- discovery


def is_shape_file(path: str | PathLike) -> bool:
    """True for AMASS per-subject shape files: ``shape.npz`` (SMPL+H release) and
    ``<gender>_stagei.npz`` (SMPL-X release); they hold betas/gender but no motion."""
    name = Path(path).name.lower()
    return name == "shape.npz" or name.endswith("_stagei.npz")


def find_amass_files(path: str | PathLike) -> list[Path]:
    """AMASS sequence files under ``path``.

    path: one ``.npz`` file, or a directory searched recursively.
    Returns sequence files sorted by their path relative to ``path`` (deterministic);
    shape files (:func:`is_shape_file`) are skipped, every other ``.npz`` is kept
    (a broken one fails loudly when read, never silently).
    Raises FileNotFoundError for a missing path or a directory without sequences,
    AmassFormatError for a file that is not a sequence ``.npz``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"AMASS input {path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise AmassFormatError(f"AMASS input {path}: expected an .npz file")
        if is_shape_file(path):
            raise AmassFormatError(f"AMASS input {path}: a per-subject shape file (betas only), not a motion sequence")
        return [path]
    found = [p for p in path.rglob("*") if p.suffix.lower() == ".npz" and p.is_file()]
    shapes = [p for p in found if is_shape_file(p)]
    sequences = sorted((p for p in found if not is_shape_file(p)), key=lambda p: p.relative_to(path).as_posix())
    if not sequences:
        raise FileNotFoundError(
            f"AMASS input {path}: no motion sequences (*.npz) found recursively"
            + (f" (only {len(shapes)} shape files)" if shapes else "")
        )
    log.debug("found %d AMASS sequences under %s (%d shape files skipped)", len(sequences), path, len(shapes))
    return sequences


# --------------------------------------------------------------------------- reading


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _decode_str(value: np.ndarray) -> str:
    """A numpy str/bytes scalar or 0-d/1-element array -> str."""
    item = np.asarray(value)
    if item.size != 1:
        raise ValueError(f"expected one string, got an array of shape {item.shape}")
    item = item.reshape(()).item()
    if isinstance(item, bytes):
        item = item.decode("utf-8")
    if not isinstance(item, str):
        raise ValueError(f"expected a string, got {type(item).__name__}")
    return item.strip()


def _decode_str_array(value: np.ndarray) -> list[str]:
    arr = np.asarray(value).reshape(-1)
    if arr.dtype.kind not in "US":
        raise ValueError(f"expected strings, got dtype {arr.dtype}")
    return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.tolist()]


class _Fields:
    """Lazy access to the members of an open npz, each error naming file and field."""

    def __init__(self, npz: Any, path: Path) -> None:
        self.npz = npz
        self.path = path
        self.keys = set(npz.files)

    def error(self, field: str, message: str) -> AmassFormatError:
        return AmassFormatError(f"AMASS file {self.path}: field '{field}': {message}")

    def _check_declared_size(self, key: str) -> None:
        """Refuse a member whose ``.npy`` header declares more data than the member holds, or more
        than `MAX_FIELD_BYTES`, before numpy allocates the declared array."""
        zf = getattr(self.npz, "zip", None)
        if zf is None:
            return
        names = set(zf.namelist())
        member = key if key in names else f"{key}.npy"
        info = zf.getinfo(member)
        with zf.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:  # 2.0 and 3.0 share the layout (3.0 only allows UTF-8 in the header)
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            header_bytes = fh.tell()
        if dtype.hasobject:
            return  # refused when read (allow_pickle=False)
        declared = math.prod(int(n) for n in shape) * dtype.itemsize
        available = info.file_size - header_bytes
        if declared > available:
            raise self.error(key, f"header declares shape {tuple(shape)} of {dtype} ({declared:,} bytes) but the "
                                  f"member holds {max(available, 0):,} bytes: truncated or forged")
        if declared > MAX_FIELD_BYTES:
            raise self.error(key, f"shape {tuple(shape)} of {dtype} is {declared:,} bytes, more than the "
                                  f"{MAX_FIELD_BYTES:,} bytes (MAX_FIELD_BYTES) one field may hold")

    def get(self, key: str) -> np.ndarray:
        if key not in self.keys:
            raise AmassFormatError(
                f"AMASS file {self.path}: missing field '{key}' (fields present: {sorted(self.keys)})"
            )
        try:
            self._check_declared_size(key)
            value = self.npz[key]
        except ValueError as exc:  # object arrays (allow_pickle=False) and malformed members
            if isinstance(exc, AmassFormatError):
                raise
            raise self.error(key, f"cannot be read without unpickling or is malformed ({exc})") from None
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, MemoryError, OverflowError, zlib.error) as exc:
            raise self.error(key, f"cannot be read, file truncated or corrupt ({type(exc).__name__}: {exc})") from None
        except Exception as exc:  # a corrupt .npy header fails deep in numpy's parser (tokenize, SyntaxError ...)
            raise self.error(key, f"cannot be decoded, corrupt member ({type(exc).__name__}: {exc})") from None
        if not isinstance(value, np.ndarray):
            raise self.error(key, f"not a numpy array (a raw {type(value).__name__} member)")
        return value

    def numeric(self, key: str, ndim: int | None = None) -> np.ndarray:
        value = self.get(key)
        if value.dtype.kind not in "fiub":
            raise self.error(key, f"expected numbers, got dtype {value.dtype}")
        value = value.astype(np.float64)
        if ndim is not None and value.ndim != ndim:
            raise self.error(key, f"expected {ndim} dimensions, got shape {value.shape}")
        bad = ~np.isfinite(value)
        if bad.any():
            where = np.argwhere(bad)[0]
            if value.ndim >= 2:
                place = f"first at frame {int(where[0])}"
            else:
                place = f"first at index {tuple(int(i) for i in where)}"
            raise self.error(key, f"{int(bad.sum())} non-finite values (NaN/inf), {place}")
        return value

    def string(self, key: str) -> str:
        try:
            return _decode_str(self.get(key))
        except ValueError as exc:
            if isinstance(exc, AmassFormatError):
                raise
            raise self.error(key, str(exc)) from None


def _frame_rate(fields: _Fields) -> float:
    key = next((k for k in FPS_KEYS if k in fields.keys), None)
    if key is None:
        raise AmassFormatError(
            f"AMASS file {fields.path}: missing field '{FPS_KEYS[0]}' or '{FPS_KEYS[1]}' (frame rate; "
            f"fields present: {sorted(fields.keys)})"
        )
    value = fields.numeric(key)
    if value.size != 1:
        raise fields.error(key, f"expected one number, got shape {value.shape}")
    fps = float(value.reshape(()))
    if not fps > 0:
        raise fields.error(key, f"frame rate must be positive, got {fps}")
    return fps


def _model_type(fields: _Fields, width: int) -> str:
    if width not in _WIDTH_TO_TYPE:
        raise fields.error("poses", f"expected (T, 72) SMPL, (T, 156) SMPL+H or (T, 165) SMPL-X poses, "
                                    f"got width {width}")
    from_width = _WIDTH_TO_TYPE[width]
    if "surface_model_type" not in fields.keys:
        return from_width
    declared = fields.string("surface_model_type").lower()
    if declared not in POSE_DIMS:
        raise fields.error("surface_model_type", f"expected one of {sorted(POSE_DIMS)}, got {declared!r}")
    if declared != from_width:
        raise fields.error("poses", f"width {width} does not match surface_model_type {declared!r} "
                                    f"(expected width {POSE_DIMS[declared]})")
    return declared


def _provenance_names(path: Path, root: Path | None) -> tuple[str, str | None, str | None]:
    """(name, sub_dataset, subject) from the AMASS layout ``<root>/<SubDataset>/<subject>/<file>``.

    name is the path relative to ``root`` without suffix; with ``root=None`` the
    file is assumed to sit in that layout (name = 'SubDataset/subject/sequence').
    Parts the relative path does not reach are taken from the file's folders.
    """
    path = path.resolve()
    if root is None:
        root = path.parents[min(2, len(path.parents) - 1)]
    root = root.resolve()
    if root.is_file():
        root = root.parent
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise AmassFormatError(f"AMASS file {path}: not inside the search root {root}") from None
    parts = rel.with_suffix("").parts
    name = "/".join(parts)
    ancestors = [p.name for p in path.parents]  # parent, grandparent, ...
    if len(parts) >= 3:
        sub_dataset, subject = parts[0], parts[-2]
    elif len(parts) == 2:
        sub_dataset, subject = root.name or None, parts[0]
    else:
        subject = ancestors[0] or None
        sub_dataset = ancestors[1] if len(ancestors) > 1 and ancestors[1] else None
    return name, sub_dataset, subject


def _labels(fields: _Fields, n_frames: int) -> tuple[str | None, np.ndarray | None, dict[int, str] | None]:
    """(clip label, per-frame codes (T,), label map) from virtimu's optional label keys."""
    clip = fields.string(LABEL_KEY) if LABEL_KEY in fields.keys else None
    if FRAME_LABELS_KEY in fields.keys:
        try:
            names = _decode_str_array(fields.get(FRAME_LABELS_KEY))
        except ValueError as exc:
            if isinstance(exc, AmassFormatError):
                raise
            raise fields.error(FRAME_LABELS_KEY, str(exc)) from None
        if len(names) != n_frames:
            raise fields.error(FRAME_LABELS_KEY, f"{len(names)} labels for {n_frames} frames")
    elif clip:
        names = [clip] * n_frames
    else:
        return clip or None, None, None
    names = [n.strip() for n in names]
    unique = sorted({n for n in names if n and n != NULL_NAME})
    label_map = {NULL_LABEL: NULL_NAME, **{i + 1: n for i, n in enumerate(unique)}}
    code = {n: c for c, n in label_map.items()}
    codes = np.array([code.get(n, NULL_LABEL) if n else NULL_LABEL for n in names], dtype=np.int64)
    return clip or None, codes, label_map


def read_amass(path: str | PathLike, root: str | PathLike | None = None) -> Motion:
    """Read one AMASS sequence (SMPL, SMPL+H or SMPL-X ``.npz``) into a Motion.

    path: the ``.npz`` file.
    root: the folder the search started from; the sequence name, sub-dataset
        and subject come from the path relative to it (see ``_provenance_names``).
    Returns Motion(poses (T, J, 3) axis-angle rad, trans (T, 3) m, betas (B,), fps Hz,
    joint_names, gender, model_type, name, provenance, labels, label_map).
    Any length >= 1 and any positive frame rate are accepted.
    Raises AmassFormatError naming the file and field for every malformed input.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AMASS file {path}: no such file")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # BadZipFile, EOFError, OSError, ValueError, a corrupt .npy header ...
        raise AmassFormatError(
            f"AMASS file {path}: not a readable .npz archive, truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise AmassFormatError(f"AMASS file {path}: a single .npy array, expected an .npz archive of fields")
    with npz:
        fields = _Fields(npz, path)
        poses = fields.numeric("poses")
        if poses.ndim != 2:
            raise fields.error("poses", f"expected (T, 72|156|165), got shape {poses.shape}")
        n_frames, width = poses.shape
        if n_frames == 0:
            raise fields.error("poses", "zero-length sequence (0 frames)")
        model_type = _model_type(fields, width)
        trans = fields.numeric("trans")
        if trans.ndim != 2 or trans.shape[1] != 3:
            raise fields.error("trans", f"expected (T, 3), got shape {trans.shape}")
        if trans.shape[0] != n_frames:
            raise fields.error("trans", f"{trans.shape[0]} frames but 'poses' has {n_frames}")
        betas = fields.numeric("betas")
        if betas.ndim == 2 and betas.shape[0] == 1:
            betas = betas[0]
        if betas.ndim != 1:
            raise fields.error("betas", f"expected (B,), got shape {betas.shape}")
        fps = _frame_rate(fields)
        gender = fields.string("gender").lower()
        if gender not in _GENDERS:
            raise fields.error("gender", f"expected one of {list(_GENDERS)}, got {gender!r}")
        clip_label, labels, label_map = _labels(fields, n_frames)
        keys = sorted(fields.keys)

    name, sub_dataset, subject = _provenance_names(path, Path(root) if root is not None else None)
    provenance: dict[str, Any] = {
        "format": "amass-npz",
        "file": str(path.resolve()),
        "sha256": _sha256(path),
        "sub_dataset": sub_dataset,
        "subject": subject,
        "sequence": path.stem,
        "original_fps": fps,
        "model_type": model_type,
        "gender": gender,
        "n_frames": int(n_frames),
        "fields": keys,
    }
    if clip_label is not None:
        provenance["label"] = clip_label
    joint_names = list(JOINT_NAMES[model_type])
    log.debug("read %s: %d frames at %g Hz, %s, %s", path, n_frames, fps, model_type, gender)
    return Motion(
        poses=poses.reshape(n_frames, len(joint_names), 3), trans=trans, betas=betas, fps=fps,
        joint_names=joint_names, gender=gender, model_type=model_type, name=name, provenance=provenance,
        labels=labels, label_map=label_map,
    )


# --------------------------------------------------------------------------- writing


def _smplh_layout(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, fps: float, gender: str,
                  model_type: str) -> dict[str, np.ndarray]:
    T = poses.shape[0]
    out = {
        "trans": trans,
        "gender": np.array(gender),
        "mocap_framerate": np.array(fps, dtype=np.float64),
        "betas": betas,
        "dmpls": np.zeros((T, 8)),
        "poses": poses,
    }
    if model_type == "smpl":  # no AMASS release uses plain SMPL: mark it explicitly
        out["surface_model_type"] = np.array("smpl")
    return out


def _smplx_layout(poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, fps: float,
                  gender: str) -> dict[str, np.ndarray]:
    T = poses.shape[0]
    # SMPL-X pose layout: root 3 | body 63 | jaw 3 | eyes 6 | hands 90.
    return {
        "gender": np.array(gender),
        "surface_model_type": np.array("smplx"),
        "mocap_frame_rate": np.array(fps, dtype=np.float64),
        "mocap_time_length": np.array(T / fps, dtype=np.float64),
        "markers_latent": np.zeros((0, 3)),
        "latent_labels": np.zeros((0,), dtype="<U1"),
        "trans": trans,
        "poses": poses,
        "betas": betas,
        "num_betas": np.array(betas.shape[0], dtype=np.int64),
        "root_orient": poses[:, 0:3].copy(),
        "pose_body": poses[:, 3:66].copy(),
        "pose_hand": poses[:, 75:165].copy(),
        "pose_jaw": poses[:, 66:69].copy(),
        "pose_eye": poses[:, 69:75].copy(),
    }


def write_amass(path: str | PathLike, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, fps: float,
                gender: str = "neutral", model_type: str | None = None, extra: dict[str, Any] | None = None,
                *, label: str | None = None, frame_labels: Sequence[str] | None = None,
                compress: bool = False) -> Path:
    """Write one sequence in the AMASS release layout, atomically (temp file + rename).

    poses: (T, 72 | 156 | 165) or (T, J, 3) axis-angle in radians.
    trans: (T, 3) metres.  betas: (B,) (the releases use 16).  fps: Hz.
    gender: 'male' | 'female' | 'neutral'.
    model_type: 'smpl' | 'smplh' | 'smplx'; None infers it from the pose width.
        SMPL+H (and SMPL) files get the SMPL+H release keys, SMPL-X files the
        SMPL-X release keys (marker fields empty).
    extra: further arrays to store (e.g. ``dmpls``, ``markers_latent_vids``);
        they may replace layout defaults but not poses/trans/betas.
    label / frame_labels: optional clip label and (T,) per-frame label names
        (keys ``virtimu_label`` / ``virtimu_frame_labels``).
    Returns the path written.
    """
    path = Path(path)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 3:
        poses = poses.reshape(poses.shape[0], -1)
    if poses.ndim != 2 or poses.shape[1] not in _WIDTH_TO_TYPE:
        raise ValueError(f"write_amass {path}: poses must be (T, 72|156|165) or (T, J, 3), got {poses.shape}")
    kind = _WIDTH_TO_TYPE[poses.shape[1]]
    if model_type is not None and model_type != kind:
        raise ValueError(f"write_amass {path}: model_type {model_type!r} needs pose width "
                         f"{POSE_DIMS.get(model_type)}, got {poses.shape[1]}")
    T = poses.shape[0]
    trans = np.asarray(trans, dtype=np.float64)
    if trans.shape != (T, 3):
        raise ValueError(f"write_amass {path}: trans must be ({T}, 3), got {trans.shape}")
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"write_amass {path}: fps must be positive, got {fps}")
    if gender not in _GENDERS:
        raise ValueError(f"write_amass {path}: gender must be one of {list(_GENDERS)}, got {gender!r}")

    if kind == "smplx":
        arrays = _smplx_layout(poses, trans, betas, float(fps), gender)
    else:
        arrays = _smplh_layout(poses, trans, betas, float(fps), gender, kind)
    if label is not None:
        arrays[LABEL_KEY] = np.array(str(label))
    if frame_labels is not None:
        names = np.array([str(n) for n in frame_labels])
        if names.shape != (T,):
            raise ValueError(f"write_amass {path}: frame_labels must have {T} entries, got {names.shape}")
        arrays[FRAME_LABELS_KEY] = names
    for key, value in (extra or {}).items():
        if key in ("poses", "trans", "betas"):
            raise ValueError(f"write_amass {path}: extra may not replace '{key}'")
        arrays[key] = value

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    log.debug("wrote %s (%s, %d frames at %g Hz)", path, kind, T, fps)
    return path
