"""Load SMPL-family body-model files (the bundled default body or the user's own).

Supported files:

* SMPL 1.0 / 1.1 pickles (``SMPL_NEUTRAL.pkl``, ``basicmodel_m_lbs_10_207_0_v1.1.0.pkl`` ...):
  Python 2 pickles holding chumpy objects and a sparse ``J_regressor``, read
  with :func:`virtimu.io.pickles.restricted_load`.
* SMPL+H ``model.npz`` (MANO site, ``<gender>/model.npz``) and ``SMPLH_*.pkl|npz``.
* SMPL-X ``SMPLX_*.npz|pkl`` (expression directions beyond 300 are dropped by
  :meth:`BodyModel.from_arrays`).

``.npz`` files are opened with ``allow_pickle=False``; a needed member stored as
an object array is read through the restricted unpickler instead.  A folder is
searched with smplx's file naming (see :func:`find_body_model_file`).  Parsed
models are cached per (file, modification time, size, gender, model type): the
cached :class:`BodyModel` is shared, treat it as read-only.
"""
from __future__ import annotations

import functools
import logging
import re
import zipfile
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.body.joints import JOINT_NAMES, model_type_for_joint_count
from virtimu.body.model import BodyModel
from virtimu.io.pickles import restricted_load, to_plain

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BODY_PATH", "BodyModelFileError", "load_body_model", "find_body_model_file",
    "read_body_arrays", "clear_body_model_cache",
]

#: The bundled open default body (SMPL file layout).
DEFAULT_BODY_PATH = Path(__file__).resolve().parent.parent / "assets" / "body" / "SMPL_NEUTRAL.pkl"

#: Arrays a body-model file must provide (keys as in SMPL / SMPL+H / SMPL-X files).
REQUIRED_KEYS = ("v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f")
#: Optional arrays passed on when present.
OPTIONAL_KEYS = ("posedirs", "virtimu_body_version")

_GENDER_ALIASES = {"neutral": "neutral", "n": "neutral", "male": "male", "m": "male",
                   "female": "female", "f": "female"}
_MODEL_TYPES = ("smpl", "smplh", "smplx")
# SMPL release file names: basicModel_f_lbs_10_207_0_v1.0.0.pkl, basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl
_SMPL_RELEASE = re.compile(r"^basicmodel_(m|f|neutral)_lbs_10_207_0_v1\.\d+\.\d+\.pkl$", re.IGNORECASE)


class BodyModelFileError(ValueError):
    """A body-model file is unreadable or lacks what a body model needs (message names file and field)."""


def _normalise_gender(gender: str) -> str:
    key = str(gender).strip().lower()
    if key not in _GENDER_ALIASES:
        raise ValueError(f"gender must be one of 'neutral', 'male', 'female', got {gender!r}")
    return _GENDER_ALIASES[key]


# --------------------------------------------------------------------------- finding files


def _candidate_names(model_type: str, gender: str) -> list[str]:
    """File names (relative to a model folder) of ``model_type``/``gender`` in smplx's naming."""
    G = gender.upper()
    if model_type == "smpl":
        short = {"male": "m", "female": "f", "neutral": "neutral"}[gender]
        return [f"SMPL_{G}.pkl", f"SMPL_{G}.npz", f"basicmodel_{short}_lbs_10_207_0_v1.*.pkl"]
    if model_type == "smplh":
        return [f"SMPLH_{G}.pkl", f"SMPLH_{G}.npz", f"{gender}/model.npz"]
    return [f"SMPLX_{G}.npz", f"SMPLX_{G}.pkl"]


def _match(folder: Path, pattern: str) -> Path | None:
    """Case-insensitive match of ``pattern`` ('name', 'sub/name' or the SMPL release glob) in ``folder``."""
    *subdirs, name = pattern.split("/")
    for sub in subdirs:
        hits = [p for p in folder.iterdir() if p.is_dir() and p.name.lower() == sub.lower()] if folder.is_dir() else []
        if not hits:
            return None
        folder = hits[0]
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if "*" in name:
        short = name.split("_")[1]
        hits = [p for p in files if (m := _SMPL_RELEASE.match(p.name)) and m.group(1).lower() == short]
        return hits[-1] if hits else None  # newest release version last
    return next((p for p in files if p.name.lower() == name.lower()), None)


def find_body_model_file(folder: str | PathLike, gender: str = "neutral",
                         model_type: str | None = None) -> tuple[Path, str]:
    """The model file for ``gender`` in ``folder``, following smplx's naming.

    Looks in ``folder`` and its ``smpl/``, ``smplh/``, ``smplx/`` subfolders for
    ``SMPL_{GENDER}.pkl|npz``, ``basicmodel_{m|f|neutral}_lbs_10_207_0_v1.*.pkl``,
    ``SMPLH_{GENDER}.pkl|npz``, ``{gender}/model.npz`` (SMPL+H release) and
    ``SMPLX_{GENDER}.npz|pkl`` -- in that order of model types (SMPL first)
    unless ``model_type`` restricts the search.  Falls back to the neutral
    model, with a logged warning, when ``gender`` has none.
    Returns (path, gender of the file found).
    Raises FileNotFoundError listing every name looked for.
    """
    folder = Path(folder)
    gender = _normalise_gender(gender)
    if model_type is not None and model_type not in _MODEL_TYPES:
        raise ValueError(f"model_type must be one of {_MODEL_TYPES}, got {model_type!r}")
    kinds = [model_type] if model_type else list(_MODEL_TYPES)
    looked: list[str] = []
    for g in [gender] + (["neutral"] if gender != "neutral" else []):
        for kind in kinds:
            for base in (folder, folder / kind):
                for pattern in _candidate_names(kind, g):
                    looked.append(str(base / pattern))
                    hit = _match(base, pattern)
                    if hit is not None:
                        if g != gender:
                            log.warning("no %s body model for gender %r in %s; using the neutral model %s",
                                        model_type or "SMPL-family", gender, folder, hit)
                        return hit, g
    raise FileNotFoundError(
        f"no {model_type or 'SMPL-family'} body model for gender {gender!r} in {folder}; looked for: "
        + ", ".join(looked)
    )


def _gender_from_name(path: Path) -> str | None:
    """Gender implied by a model file's name or folder (SMPL_MALE.pkl, basicmodel_f_..., male/model.npz)."""
    stem = path.stem.lower()
    m = _SMPL_RELEASE.match(path.name)
    if m:
        return _GENDER_ALIASES[m.group(1).lower()]
    for gender in ("female", "male", "neutral"):  # 'female' first: it contains 'male'
        if stem.endswith("_" + gender) or (stem == "model" and path.parent.name.lower() == gender):
            return gender
    return None


# --------------------------------------------------------------------------- reading arrays


def _npz_object_member(path: Path, key: str) -> Any:
    """Read an object-array member ``key`` of an npz through the restricted unpickler."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:  # 2.0 and 3.0 headers differ only in their length field / text encoding
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        if not dtype.hasobject:
            raise BodyModelFileError(f"body model {path}: member '{key}' is not an object array")
        value = restricted_load(fh, what=f"body model {path} member '{key}'")
    value = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    return value.reshape(()).item() if value.shape == () else value


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise BodyModelFileError(f"body model {path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise BodyModelFileError(f"body model {path}: a single .npy array, expected an .npz archive")
    out: dict[str, Any] = {}
    with npz:
        present = set(npz.files)
        for key in keys:
            if key not in present:
                continue
            try:
                out[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" not in str(exc):
                    raise BodyModelFileError(f"body model {path}: field '{key}' is malformed ({exc})") from None
                log.debug("%s: member %r is an object array; reading it with the restricted unpickler", path, key)
                out[key] = _npz_object_member(path, key)
    out["_fields"] = sorted(present)
    return out


def _read_pkl(path: Path) -> dict[str, Any]:
    data = restricted_load(path, what="body model")
    if not isinstance(data, dict):
        raise BodyModelFileError(f"body model {path}: expected a dict of arrays, got {type(data).__name__}")
    out = {str(k): v for k, v in data.items()}
    out["_fields"] = sorted(out)
    return out


def read_body_arrays(path: str | PathLike) -> dict[str, Any]:
    """The arrays of one model file (``.pkl`` or ``.npz``) that a body model needs.

    Returns {key: numpy array or scipy.sparse matrix} for REQUIRED_KEYS and the
    OPTIONAL_KEYS present (chumpy objects converted to arrays).
    Raises BodyModelFileError naming the file and the missing fields.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    wanted = REQUIRED_KEYS + OPTIONAL_KEYS
    if suffix == ".npz":
        raw = _read_npz(path, wanted)
    elif suffix == ".pkl":
        raw = _read_pkl(path)
    else:
        raise BodyModelFileError(f"body model {path}: unsupported file type {suffix!r} (expected .pkl or .npz)")
    fields = raw.pop("_fields")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise BodyModelFileError(f"body model {path}: missing fields {missing} (fields present: {fields})")
    arrays = {k: to_plain(raw[k]) for k in wanted if k in raw and raw[k] is not None}
    for key in REQUIRED_KEYS + ("posedirs",):
        value = arrays.get(key)
        if value is None or hasattr(value, "toarray"):
            continue
        value = np.asarray(value)
        if value.dtype.kind not in "fiu":
            raise BodyModelFileError(f"body model {path}: field '{key}' holds {value.dtype}, expected numbers")
        arrays[key] = value
    return arrays


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=16)
def _load_cached(path_str: str, mtime_ns: int, size: int, gender: str, model_type: str | None) -> BodyModel:
    path = Path(path_str)
    arrays = read_body_arrays(path)
    n_joints = int(arrays["J_regressor"].shape[0])
    try:
        kind_from_joints = model_type_for_joint_count(n_joints)
    except ValueError as exc:
        raise BodyModelFileError(f"body model {path}: field 'J_regressor': {exc}") from None
    kind = model_type or kind_from_joints
    if len(JOINT_NAMES[kind]) != n_joints:
        raise BodyModelFileError(f"body model {path}: model_type {kind!r} has {len(JOINT_NAMES[kind])} joints, "
                                 f"the file's J_regressor has {n_joints}")
    try:
        body = BodyModel.from_arrays(arrays, name=path.name, gender=gender, model_type=kind)
    except ValueError as exc:
        raise BodyModelFileError(f"body model {path}: {exc}") from None
    log.info("loaded body model %s (%s, %s, %d vertices, %d betas)", path, kind, gender,
             body.v_template.shape[0], body.n_betas)
    return body


def load_body_model(path: str | PathLike | None = None, gender: str = "neutral",
                    model_type: str | None = None) -> BodyModel:
    """Load a body model.

    path: None for the bundled default body (``DEFAULT_BODY_PATH``); a model
        file (``.pkl`` / ``.npz``); or a folder searched with
        :func:`find_body_model_file` for ``gender`` (neutral fallback).
    gender: 'neutral' | 'male' | 'female'.  For a single file the gender its
        name implies (``SMPL_MALE.pkl``, ``basicmodel_f_...``, ``male/model.npz``)
        wins; otherwise this value labels the model.
    model_type: 'smpl' | 'smplh' | 'smplx'; None infers it from the joint count (24 / 52 / 55).
    Returns a BodyModel with ``name`` = file name.  Results are cached (shared object).
    Raises FileNotFoundError, BodyModelFileError, UnsafePickleError (pickle
    referencing code) -- all naming the file.
    """
    gender = _normalise_gender(gender)
    if model_type is not None and model_type not in _MODEL_TYPES:
        raise ValueError(f"model_type must be one of {_MODEL_TYPES}, got {model_type!r}")
    if path is None:
        path = DEFAULT_BODY_PATH
        if not path.is_file():
            raise FileNotFoundError(f"the bundled default body {path} is missing; reinstall virtimu or pass a "
                                    f"body-model file/folder")
    path = Path(path)
    if path.is_dir():
        path, gender = find_body_model_file(path, gender, model_type)
    elif not path.is_file():
        raise FileNotFoundError(f"body model {path}: no such file or directory")
    else:
        implied = _gender_from_name(path)
        if implied is not None and implied != gender:
            if gender != "neutral":
                log.warning("body model %s is a %s model; ignoring gender=%r", path, implied, gender)
            gender = implied
    resolved = path.resolve()
    stat = resolved.stat()
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size, gender, model_type)


def clear_body_model_cache() -> None:
    """Forget cached body models (e.g. after editing a model file in place with the same mtime)."""
    _load_cached.cache_clear()
