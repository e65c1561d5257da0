"""Torch checkpoints made of plain types and tensors only.

Everything written here loads with ``torch.load(path, weights_only=True)``
(DESIGN.md convention 6): dicts, lists, tuples, str, int, float, bool, None
and tensors.  `to_plain` converts numpy arrays / scalars, paths and
dataclasses on the way in; writes are atomic (temp file + rename).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from virtimu.io.atomic import atomic_path

logger = logging.getLogger(__name__)

#: Layout version of the checkpoint dict written by `TorchLearner`.
CHECKPOINT_FORMAT = 1


def to_plain(obj: Any, where: str = "checkpoint") -> Any:
    """``obj`` with numpy arrays -> tensors, numpy scalars -> Python numbers, paths -> str.

    Raises TypeError naming the offending entry for anything else that
    ``weights_only`` loading would refuse.
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "US":
            return [str(v) for v in obj.tolist()]
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj), where)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = k.item() if isinstance(k, np.generic) else k
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: dict key {k!r} is {type(k).__name__}; only str / int keys are stored")
            out[key] = to_plain(v, f"{where}[{key!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return tuple(items) if isinstance(obj, tuple) else items
    raise TypeError(f"{where}: {type(obj).__name__} cannot be stored in a weights_only checkpoint")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``to_plain(payload)`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = to_plain(payload)
    with atomic_path(path) as tmp:
        torch.save(plain, tmp)
    logger.debug("wrote checkpoint %s", path)
    return path


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` on the CPU.

    Raises FileNotFoundError / ValueError naming the file and any missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"checkpoint {path}: cannot be read with weights_only=True ({exc})") from exc
    if not isinstance(payload, dict):
        raise ValueError(f"checkpoint {path}: expected a dict, got {type(payload).__name__}")
    missing = [k for k in required if k not in payload]
    if missing:
        raise ValueError(f"checkpoint {path}: missing keys {missing}; it has {sorted(payload)}")
    fmt = payload.get("format")
    if fmt is not None and fmt > CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path}: format {fmt} is newer than this virtimu reads ({CHECKPOINT_FORMAT})")
    return payload
