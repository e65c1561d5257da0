"""Content-addressed, resumable cache of per-window feature rows.

A cache holds feature rows of single windows, addressed by the SHA-256 of the
window's bytes, inside a *namespace* whose key is the SHA-256 of everything
else that determines the features (extractor settings, sampling rate,
channel names, window shape and dtype, library versions; see
`namespace_key`).  Rows are written in *parts*: each part holds the keys
``(n, 32) uint8`` and the values ``(n, F) float32`` of one chunk of windows
and is published atomically (written under a hidden temporary name, then
renamed), so an interrupted extraction keeps every chunk it finished and a
re-run computes only the missing windows.  Because rows are per window, any
subset of the windows (another train/test split, a LOSO fold) is served
from the same cache.

Two places for the parts:

- `DirFeatureCache`: a plain folder (for bare arrays)::

      <root>/<namespace>/meta.json
      <root>/<namespace>/part-<16 hex>.npz       keys, values (np.savez, no pickle)

- `StoreFeatureCache`: beside a window set inside a virtimu Zarr v3 store::

      <store>.zarr/features/<set key>/<namespace>/    group, attrs = meta
      <store>.zarr/features/<set key>/<namespace>/part-<16 hex>/keys    (n, 32) uint8
      <store>.zarr/features/<set key>/<namespace>/part-<16 hex>/values  (n, F) float32

  (``<set key>`` is the set name through `virtimu.store.recordings.encode_key`).

The namespace metadata holds the feature names, so a hit needs no
extraction at all.  Several processes may fill one namespace: a part whose
name exists already is simply dropped (same keys, same values).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

KEY_BYTES = 32
_TMP = ".tmp-"
#: leftover temporary entries older than this (s) are removed when a namespace is opened
STALE_TMP_S = 3600.0


def window_keys(X: np.ndarray) -> np.ndarray:
    """SHA-256 of every window's bytes: ``X (N, ...)`` -> keys ``(N, 32) uint8``.

    The window is taken C-contiguous in its own dtype (float32 windows and
    their float64 copies get different keys).
    """
    X = np.ascontiguousarray(X)
    keys = np.empty((X.shape[0], KEY_BYTES), dtype=np.uint8)
    for i in range(X.shape[0]):
        keys[i] = np.frombuffer(hashlib.sha256(memoryview(X[i]).cast("B")).digest(), dtype=np.uint8)
    return keys


def namespace_key(meta: dict[str, Any]) -> str:
    """Namespace name: SHA-256 hex of ``meta`` as canonical JSON (sorted keys, tuples as lists)."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True, default=list).encode()).hexdigest()


def _part_name(keys: np.ndarray) -> str:
    return "part-" + hashlib.sha256(np.ascontiguousarray(keys).tobytes()).hexdigest()[:16]


def _remove_stale(folder: Path, max_age_s: float = STALE_TMP_S) -> None:
    """Remove ``.tmp-*`` entries in ``folder`` older than ``max_age_s`` (left by killed writers)."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for e in entries:
        if e.name.startswith(_TMP):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime > max_age_s:
                    shutil.rmtree(e.path) if e.is_dir(follow_symlinks=False) else os.unlink(e.path)
            except OSError:
                pass


class FeatureCache:
    """Base class: an index of the namespace's parts plus `get` / `put`.

    Subclasses implement `_init_namespace`, `_read_meta`, `_list_parts`,
    `_read_keys`, `_read_values` and `_write_part`.

    meta: the namespace description (must be JSON-serialisable); its
    ``names`` entry (list of F feature names) is stored with it.
    """

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = dict(meta)
        self.namespace = namespace_key({k: v for k, v in self.meta.items() if k != "names"})
        self._index: dict[bytes, tuple[str, int]] | None = None
        self._cleaned = False

    # ------------------------------------------------------------- backend hooks
    @property
    def location(self) -> str:
        raise NotImplementedError

    def _init_namespace(self) -> None:
        raise NotImplementedError

    def _temp_folders(self) -> list[Path]:
        """Folders where this backend leaves ``.tmp-*`` entries while writing."""
        raise NotImplementedError

    def _read_meta(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def _list_parts(self) -> list[str]:
        raise NotImplementedError

    def _read_keys(self, part: str) -> np.ndarray:
        raise NotImplementedError

    def _read_values(self, part: str) -> np.ndarray:
        raise NotImplementedError

    def _write_part(self, part: str, keys: np.ndarray, values: np.ndarray) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------- public
    def names(self) -> list[str] | None:
        """Feature names stored with the namespace, or None if it does not exist yet."""
        meta = self._read_meta()
        return list(meta["names"]) if meta and "names" in meta else None

    def refresh(self) -> None:
        """Forget the part index (re-read on the next `get`)."""
        self._index = None

    def _load_index(self) -> dict[bytes, tuple[str, int]]:
        if self._index is None:
            index: dict[bytes, tuple[str, int]] = {}
            for part in self._list_parts():
                try:
                    keys = self._read_keys(part)
                except Exception as e:  # a damaged part is skipped, not fatal
                    logger.warning("feature cache %s: skipping unreadable part %s (%s)", self.location, part, e)
                    continue
                for row, k in enumerate(keys):
                    index[k.tobytes()] = (part, row)
            self._index = index
        return self._index

    def __len__(self) -> int:
        return len(self._load_index())

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows for ``keys (N, 32)``: (found (N,) bool, values (N, F) float32 or None if nothing found).

        Rows of windows not found are NaN.
        """
        index = self._load_index()
        where = [index.get(k.tobytes()) for k in keys]
        found = np.array([w is not None for w in where], dtype=bool)
        if not found.any():
            return found, None
        F = len(self.meta["names"])
        out = np.full((len(keys), F), np.nan, dtype=np.float32)
        by_part: dict[str, list[tuple[int, int]]] = {}
        for i, w in enumerate(where):
            if w is not None:
                by_part.setdefault(w[0], []).append((i, w[1]))
        for part, pairs in by_part.items():
            values = self._read_values(part)
            if values.shape[1] != F:
                raise ValueError(f"feature cache {self.location}/{part}: {values.shape[1]} columns, "
                                 f"namespace has {F} feature names")
            dst, src = np.array(pairs).T
            out[dst] = values[src]
        return found, out

    def put(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Publish one part with rows ``values (n, F)`` for ``keys (n, 32)`` (atomic)."""
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        values = np.ascontiguousarray(values, dtype=np.float32)
        if keys.ndim != 2 or keys.shape[1] != KEY_BYTES or values.shape != (len(keys), len(self.meta["names"])):
            raise ValueError(f"feature cache put: keys (n, {KEY_BYTES}) and values (n, "
                             f"{len(self.meta['names'])}) expected, got {keys.shape} and {values.shape}")
        if len(keys) == 0:
            return
        self._init_namespace()
        if not self._cleaned:  # once per object: temporary entries of killed writers
            for folder in self._temp_folders():
                _remove_stale(folder)
            self._cleaned = True
        part = _part_name(keys)
        self._write_part(part, keys, values)
        if self._index is not None:
            for row, k in enumerate(keys):
                self._index[k.tobytes()] = (part, row)


class DirFeatureCache(FeatureCache):
    """Parts as ``.npz`` files under ``<root>/<namespace>/``."""

    def __init__(self, root: str | os.PathLike, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        self.root = Path(root)
        self.dir = self.root / self.namespace

    @property
    def location(self) -> str:
        return str(self.dir)

    def _init_namespace(self) -> None:
        meta_file = self.dir / "meta.json"
        if meta_file.is_file():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(meta_file, json.dumps(self.meta, indent=1, default=list).encode())

    def _temp_folders(self) -> list[Path]:
        return [self.dir]

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / "meta.json").read_text())
        except FileNotFoundError:
            return None

    def _list_parts(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("part-*.npz"))

    def _read_keys(self, part: str) -> np.ndarray:
        with np.load(self.dir / f"{part}.npz", allow_pickle=False) as z:
            return z["keys"]

    def _read_values(self, part: str) -> np.ndarray:
        with np.load(self.dir / f"{part}.npz", allow_pickle=False) as z:
            return z["values"]

    def _write_part(self, part: str, keys: np.ndarray, values: np.ndarray) -> None:
        path = self.dir / f"{part}.npz"
        if path.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=_TMP, suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=keys, values=values)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StoreFeatureCache(FeatureCache):
    """Parts as Zarr v3 groups under ``<store>/features/<set key>/<namespace>/``.

    store: path of a virtimu Zarr store (a local folder); set_name: the window
    set the windows come from (only used to place the cache).
    """

    def __init__(self, store: str | os.PathLike, set_name: str, meta: dict[str, Any]) -> None:
        from virtimu.store.recordings import encode_key

        super().__init__(meta)
        self.store = Path(store)
        self.set_name = set_name
        self.dir = self.store / "features" / encode_key(set_name) / self.namespace

    @property
    def location(self) -> str:
        return str(self.dir)

    @staticmethod
    def _ensure_group(path: Path, attributes: dict[str, Any]) -> None:
        """Create a Zarr group at ``path`` atomically unless one exists (races are harmless)."""
        import zarr

        if (path / "zarr.json").is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP}{path.name}-{uuid.uuid4().hex[:12]}"
        try:
            zarr.open_group(tmp, mode="w-", zarr_format=3, attributes=attributes)
            os.rename(tmp, path)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (path / "zarr.json").is_file():
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _init_namespace(self) -> None:
        if (self.dir / "zarr.json").is_file():
            return
        if not (self.store / "zarr.json").is_file():
            raise FileNotFoundError(f"{self.store}: not a Zarr store (no zarr.json)")
        self._ensure_group(self.store / "features", {})
        self._ensure_group(self.dir.parent, {"set": self.set_name})
        self._ensure_group(self.dir, {"virtimu_feature_cache": self.meta})

    def _temp_folders(self) -> list[Path]:
        return [self.store / "features", self.dir.parent, self.dir]

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            meta = json.loads((self.dir / "zarr.json").read_text())
        except FileNotFoundError:
            return None
        return (meta.get("attributes") or {}).get("virtimu_feature_cache")

    def _list_parts(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.glob("part-*") if (p / "zarr.json").is_file())

    def _read_keys(self, part: str) -> np.ndarray:
        import zarr

        return zarr.open_array(self.dir / part / "keys", mode="r")[...]

    def _read_values(self, part: str) -> np.ndarray:
        import zarr

        return zarr.open_array(self.dir / part / "values", mode="r")[...]

    def _write_part(self, part: str, keys: np.ndarray, values: np.ndarray) -> None:
        import zarr

        final = self.dir / part
        if final.exists():
            return
        tmp = self.dir / f"{_TMP}{part}-{uuid.uuid4().hex[:12]}"
        try:
            g = zarr.open_group(tmp, mode="w-", zarr_format=3, attributes={"rows": int(len(keys))})
            g.create_array("keys", data=keys, chunks=keys.shape)
            g.create_array("values", data=values, chunks=(len(values), values.shape[1]))
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (final / "zarr.json").is_file():
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def open_cache(meta: dict[str, Any], cache_dir: str | os.PathLike | None = None,
               store: str | os.PathLike | None = None, set_name: str | None = None) -> FeatureCache | None:
    """The cache for ``meta``: beside the window set when ``store`` and ``set_name`` are given,
    else under ``cache_dir``; None when neither is given."""
    if store is not None and set_name is not None:
        return StoreFeatureCache(store, set_name, meta)
    if cache_dir is not None:
        return DirFeatureCache(cache_dir, meta)
    return None

