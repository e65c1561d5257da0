"""Zarr v3 store of `Recording`s: one group per recording, written atomically.

Layout (Zarr format 3, local directory)::

    <store>.zarr/
      zarr.json                          root attrs {"virtimu": {"format": 1, "version": ...}}
      recordings/zarr.json
      recordings/<source key>/zarr.json  attrs {"source": <source>}
      recordings/<source key>/<key>/     one group per Recording; attrs: name, source,
                                         subject, fs, channels, units, label_map,
                                         label_counts, provenance, attrs, n_frames, complete
          signals   (T, C) float32, chunks (min(T, 4096), C)
          labels    (T,) int16, only when the recording is labelled

Keys are made from names by `encode_key` ('CMU/01/01_01_poses' ->
'CMU~01~01_01_poses'); the original names are kept in the attrs.

Atomicity: a recording is written in full under a hidden temporary sibling
``.tmp-<key>-<uuid>-<pid>-<host>`` and then moved into place with one
``os.rename`` (atomic on POSIX), so readers see either nothing or the whole
recording.  A crash leaves only a ``.tmp-*`` directory, which readers ignore
and `RecordingStore.cleanup` removes once its writer is gone.  The root and
source groups are created the same way, so several processes may write
different recordings into one (even not yet existing) store at once.
"""
from __future__ import annotations

import dataclasses
import enum
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import string
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from virtimu import __version__
from virtimu.types import Recording

logger = logging.getLogger(__name__)

#: Layout version written to the root attrs; readers refuse newer layouts.
STORE_FORMAT = 1
#: Rows per chunk of the ``signals`` and ``labels`` arrays.
CHUNK_FRAMES = 4096
#: Temporary directories older than this (seconds) are removed by `cleanup`.
DEFAULT_GRACE_S = 3600.0

_RECORDINGS = "recordings"
_META = "zarr.json"
_TMP_PREFIX = ".tmp-"
_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")
_MAX_KEY_BYTES = 180  # leaves room for the temporary-name suffix under NAME_MAX = 255
_HASH_MARK = "%%"  # never produced by percent-encoding, so hashed keys cannot collide with others
_HOST_ID = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]
_INT16 = np.iinfo(np.int16)


class NotAStoreError(ValueError):
    """A path exists but does not hold a virtimu recording store."""


# --------------------------------------------------------------------------- keys


def encode_key(name: str) -> str:
    """A safe, readable Zarr node name for a recording or source name.

    '/' becomes '~'; ASCII letters, digits, '-', '_' and '.' are kept; every
    other character (also '~', '%', spaces and non-ASCII) is percent-encoded
    as UTF-8 bytes ('%7E').  A leading '.' and the '_' of a leading '__' are
    encoded too (hidden names, '.', '..' and the reserved '__' prefix cannot
    occur).  The mapping is injective and `decode_key` reverses it.  Names
    whose key would exceed 180 bytes are cut and suffixed with
    ``%%<sha256 prefix>``: still unique, but no longer reversible.

    Raises ValueError for an empty or non-string name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"cannot make a store key from {name!r}: names must be non-empty strings")
    parts = []
    for i, ch in enumerate(name):
        if ch == "/":
            parts.append("~")
        elif ch in _SAFE_CHARS and not (i == 0 and ch == "."):
            parts.append(ch)
        else:
            parts.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    key = "".join(parts)
    if key.startswith("__"):
        key = "%5F" + key[1:]
    if len(key) > _MAX_KEY_BYTES:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        head = key[: _MAX_KEY_BYTES - len(_HASH_MARK) - len(digest)]
        cut = head.rfind("%", len(head) - 2)  # do not split a %XX escape
        if cut >= 0:
            head = head[:cut]
        key = f"{head}{_HASH_MARK}{digest}"
    return key


def decode_key(key: str) -> str:
    """Inverse of `encode_key`; raises ValueError for hashed (shortened) or malformed keys."""
    if _HASH_MARK in key:
        raise ValueError(f"key {key!r} was shortened with a hash; read the name from its attrs")
    out = bytearray()
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "~":
            out += b"/"
        elif ch == "%":
            try:
                out.append(int(key[i + 1:i + 3], 16))
            except ValueError:
                raise ValueError(f"malformed escape in key {key!r} at position {i}") from None
            i += 2
        else:
            out += ch.encode("utf-8")
        i += 1
    return out.decode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- JSON


def to_jsonable(value: Any, where: str = "value") -> Any:
    """A copy of ``value`` made of JSON types (dict with str keys, list, str, int, float, bool, None).

    numpy scalars become Python scalars, arrays nested lists, tuples lists,
    sets sorted lists, paths strings, dataclasses dicts, enums their value.
    Non-string dict keys become their JSON text (1 -> '1').  Raises TypeError
    naming the field (``where``, e.g. "provenance['files'][2]") for anything
    else (bytes, complex, arbitrary objects).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUS?":
            raise TypeError(f"{where}: numpy array of dtype {value.dtype} is not JSON-serialisable")
        if value.dtype.kind == "S":
            raise TypeError(f"{where}: numpy bytes array is not JSON-serialisable")
        return to_jsonable(value.tolist(), where)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, where)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, str):
                skey = k
            elif isinstance(k, (bool, int, float, np.generic)) and not isinstance(k, (np.str_, np.bytes_)):
                skey = json.dumps(to_jsonable(k, where))
            else:
                raise TypeError(f"{where}: dict key {k!r} of type {type(k).__name__} cannot be a JSON key")
            out[skey] = to_jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v, f"{where}{{}}") for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where)
    raise TypeError(f"{where}: value of type {type(value).__name__} is not JSON-serialisable")


# --------------------------------------------------------------------------- temporary directories


def _temp_name(key: str) -> str:
    """Hidden sibling name for a directory being written: ``.tmp-<key>-<uuid>-<pid>-<host>``."""
    return f"{_TMP_PREFIX}{key}-{uuid.uuid4().hex[:12]}-{os.getpid()}-{_HOST_ID}"


def _parse_temp(name: str) -> tuple[str, int, str] | None:
    """(key, pid, host id) of a temporary name, or None if ``name`` is not one of ours."""
    if not name.startswith(_TMP_PREFIX):
        return None
    parts = name[len(_TMP_PREFIX):].rsplit("-", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return parts[0], int(parts[2]), parts[3]


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (POSIX; elsewhere assumed alive).

    A zombie (exited, not yet reaped by its parent: orphans of a killed run stay so in
    containers whose init reaps late) is not alive: it can no longer write.
    """
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS ...) or the process just went
        return True
    return state != b"Z"


def _is_stale(path: Path, grace_s: float, now: float) -> bool:
    """A temporary directory is stale when older than ``grace_s`` or its writer (same host) is gone."""
    parsed = _parse_temp(path.name)
    if parsed is None:
        return False
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > grace_s:
        return True
    _, pid, host = parsed
    return host == _HOST_ID and not _pid_alive(pid)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _rename_exists_error(err: OSError) -> bool:
    """True when a rename failed because the target directory already exists (and is not empty)."""
    return err.errno in (errno.EEXIST, errno.ENOTEMPTY)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two existing directories in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False (nothing changed) where the call or the filesystem does not
    support it; raises OSError for other failures.
    """
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a file (no data copied); copy it where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _merge_provenance(old: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` updated by ``update``; a dict value updates a dict value key by key (one level)."""
    out = dict(old)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _publish_dir(tmp: Path, final: Path) -> bool:
    """Move a freshly written directory into place; False (and ``tmp`` removed) if ``final`` exists."""
    try:
        os.rename(tmp, final)
        return True
    except OSError as err:
        _remove(tmp)
        if _rename_exists_error(err):
            return False
        raise


# --------------------------------------------------------------------------- metadata


def _read_meta(path: Path) -> dict:
    """Parsed ``zarr.json`` of a node directory; FileNotFoundError if absent, ValueError if broken."""
    meta_path = path / _META
    with open(meta_path, encoding="utf-8") as fh:
        try:
            meta = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def _label_counts(labels: np.ndarray, label_map: dict[int, str] | None) -> dict[str, int]:
    """Frames per label name ({name: frames}); codes missing from the map are named by their number."""
    codes, counts = np.unique(labels, return_counts=True)
    out: dict[str, int] = {}
    for code, count in zip(codes.tolist(), counts.tolist()):
        label = (label_map or {}).get(int(code), str(code))
        out[label] = out.get(label, 0) + int(count)
    return out


def _recording_attrs(rec: Recording) -> dict[str, Any]:
    """JSON attrs of one recording group (without 'complete'); TypeError/ValueError name the field."""
    where = f"Recording {rec.name!r} (source {rec.source!r})"
    label_map = None
    if rec.label_map is not None:
        label_map = {}
        for code, label in rec.label_map.items():
            if isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
                raise TypeError(f"{where}: label_map key {code!r} is not an integer code")
            label_map[str(int(code))] = str(label)
    fs = float(rec.fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"{where}: fs must be a positive number of Hz, got {rec.fs!r}")
    return {
        "format": STORE_FORMAT,
        "name": rec.name,
        "source": rec.source,
        "subject": to_jsonable(rec.subject, f"{where}: subject"),
        "fs": fs,
        "channels": [str(c) for c in rec.channels],
        "units": [str(u) for u in rec.units],
        "n_frames": rec.n_frames,
        "has_labels": rec.labels is not None,
        "label_map": label_map,
        "label_counts": None if rec.labels is None else _label_counts(rec.labels, rec.label_map),
        "provenance": to_jsonable(rec.provenance, f"{where}: provenance"),
        "attrs": to_jsonable(rec.attrs, f"{where}: attrs"),
        "written_by": {"virtimu": __version__},
    }


def _labels_int16(rec: Recording) -> np.ndarray | None:
    """Labels as int16, or None; ValueError if they are not integers or do not fit."""
    if rec.labels is None:
        return None
    return _as_int16_labels(rec.labels, f"Recording {rec.name!r} (source {rec.source!r})")


def _as_int16_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Integer label codes as int16; ValueError naming ``where`` if they are not integers or do not fit."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise ValueError(f"{where}: labels must be integer codes, got dtype {labels.dtype}")
    if labels.size and (labels.min() < _INT16.min or labels.max() > _INT16.max):
        raise ValueError(
            f"{where}: label codes must fit int16 [{_INT16.min}, {_INT16.max}], "
            f"got [{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int16)


def _chunk_rows(n_frames: int) -> int:
    return max(1, min(n_frames, CHUNK_FRAMES))


# --------------------------------------------------------------------------- the store


class RecordingStore:
    """Recordings in a Zarr v3 directory store, grouped by source.

    path: store directory (conventionally ``*.zarr``).
    mode: 'a' (create if missing, read and write; removes stale temporary
        directories on open) or 'r' (read only; the store must exist).

    Raises FileNotFoundError (mode 'r', missing path) and NotAStoreError (the
    path exists but is not a virtimu store), both naming the path.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "a") -> None:
        if mode not in ("a", "r"):
            raise ValueError(f"RecordingStore mode must be 'a' or 'r', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        if mode == "r":
            if not self.path.exists():
                raise FileNotFoundError(f"no virtimu store at {self.path}")
        elif not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir())):
            self._create_root()
        self._attrs = self._check_root()
        if mode == "a":
            self._ensure_group(self._recordings_dir, {})
            self.cleanup()

    def __repr__(self) -> str:
        return f"RecordingStore({str(self.path)!r}, mode={self.mode!r})"

    # ---------------------------------------------------------------- root

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (a copy), e.g. {'virtimu': {'format': 1, 'version': '0.1.0'}}."""
        return json.loads(json.dumps(self._attrs))

    @property
    def _recordings_dir(self) -> Path:
        return self.path / _RECORDINGS

    def _create_root(self) -> None:
        """Create the root group under a temporary sibling and rename it into place (race-safe)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.parent / _temp_name(self.path.name)
        try:
            root = zarr.open_group(tmp, mode="w-", zarr_format=3,
                                   attributes={"virtimu": {"format": STORE_FORMAT, "version": __version__}})
            root.create_group(_RECORDINGS)
        except BaseException:
            _remove(tmp)
            raise
        if _publish_dir(tmp, self.path):
            logger.info("created recording store %s", self.path)
        else:
            logger.debug("store %s was created concurrently", self.path)

    def _check_root(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise NotAStoreError(f"{self.path} is not a virtimu store: not a directory")
        try:
            meta = _read_meta(self.path)
        except FileNotFoundError:
            raise NotAStoreError(f"{self.path} is not a virtimu store: no {_META}") from None
        except ValueError as err:
            raise NotAStoreError(f"{self.path} is not a virtimu store: {err}") from None
        if meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
            raise NotAStoreError(
                f"{self.path} is not a virtimu store: expected a Zarr format 3 group, got "
                f"zarr_format={meta.get('zarr_format')!r}, node_type={meta.get('node_type')!r}"
            )
        attrs = meta.get("attributes") or {}
        info = attrs.get("virtimu")
        if not isinstance(info, dict) or "format" not in info:
            raise NotAStoreError(f"{self.path} is a Zarr group but not a virtimu store (no root attribute 'virtimu')")
        if int(info["format"]) > STORE_FORMAT:
            raise NotAStoreError(
                f"{self.path}: store format {info['format']} was written by a newer virtimu "
                f"({info.get('version')}); this version reads format <= {STORE_FORMAT}"
            )
        return attrs

    def _ensure_group(self, path: Path, attributes: dict[str, Any]) -> None:
        """Create an empty child group atomically unless it exists (several processes may race)."""
        if (path / _META).is_file():
            return
        if path.exists() and any(path.iterdir()):
            raise NotAStoreError(f"{path} exists but is not a Zarr group (no {_META})")
        tmp = path.parent / _temp_name(path.name)
        try:
            zarr.open_group(tmp, mode="w-", zarr_format=3, attributes=attributes)
        except BaseException:
            _remove(tmp)
            raise
        _publish_dir(tmp, path)

    def _require_writable(self) -> None:
        if self.mode != "a":
            raise io.UnsupportedOperation(f"{self.path}: store opened read-only (mode='r')")

    # ---------------------------------------------------------------- housekeeping

    def cleanup(self, grace_s: float = DEFAULT_GRACE_S) -> list[Path]:
        """Remove temporary directories left by crashed writers; returns the removed paths.

        A ``.tmp-*`` directory is removed when it is older than ``grace_s``
        seconds or was made on this host by a process that no longer exists,
        so live writers in other processes are left alone.  ``grace_s=0``
        removes every temporary directory: only for a store with no other
        writer.  Looks beside the store (root creation), in ``recordings/``
        (source groups) and in each source group (recordings).
        """
        self._require_writable()
        now = time.time()
        candidates: list[Path] = []
        root_key = self.path.name
        candidates += [p for p in self._temp_entries(self.path.parent) if _parse_temp(p.name)[0] == root_key]
        candidates += self._temp_entries(self._recordings_dir)
        for src_dir in self._source_dirs():
            candidates += self._temp_entries(src_dir)
        removed = []
        for path in candidates:
            if _is_stale(path, grace_s, now):
                logger.info("removing stale temporary directory %s", path)
                _remove(path)
                removed.append(path)
        return removed

    @staticmethod
    def _temp_entries(folder: Path) -> list[Path]:
        try:
            with os.scandir(folder) as it:
                return [Path(e.path) for e in it if _parse_temp(e.name) is not None]
        except FileNotFoundError:
            return []

    # ---------------------------------------------------------------- locating recordings

    @staticmethod
    def _child_groups(folder: Path) -> list[Path]:
        """Sorted child directories of ``folder`` that are Zarr nodes (not hidden, with zarr.json)."""
        try:
            with os.scandir(folder) as it:
                return sorted(Path(e.path) for e in it if not e.name.startswith(".") and e.is_dir()
                              and os.path.isfile(os.path.join(e.path, _META)))
        except FileNotFoundError:
            return []

    def _source_dirs(self) -> list[Path]:
        return self._child_groups(self._recordings_dir)

    def _recording_dir(self, source: str, name: str) -> Path:
        return self._recordings_dir / encode_key(source) / encode_key(name)

    def _complete_attrs(self, path: Path) -> dict[str, Any] | None:
        """Attrs of a complete recording group at ``path``, else None."""
        try:
            meta = _read_meta(path)
        except FileNotFoundError:
            return None
        attrs = meta.get("attributes") or {}
        return attrs if attrs.get("complete") is True else None

    def _attrs_of(self, source: str, name: str) -> tuple[Path, dict[str, Any]]:
        path = self._recording_dir(source, name)
        attrs = self._complete_attrs(path)
        if attrs is None:
            raise KeyError(f"{self.path}: no recording {name!r} in source {source!r}")
        for field in ("name", "source", "fs", "channels", "units", "n_frames"):
            if field not in attrs:
                raise ValueError(f"{path / _META}: attribute {field!r} missing")
        return path, attrs

    # ---------------------------------------------------------------- public API

    def has(self, source: str, name: str) -> bool:
        """Whether a complete recording ``name`` of ``source`` is stored."""
        return self._complete_attrs(self._recording_dir(source, name)) is not None

    def write(self, rec: Recording, overwrite: bool = False) -> str:
        """Store ``rec`` atomically; returns its key (the group name under its source).

        Raises FileExistsError if the recording exists and ``overwrite`` is
        False.  With ``overwrite=True`` the old group is renamed aside and
        deleted after the new one is in place, so readers never see a
        half-written recording.
        """
        self._require_writable()
        attrs = _recording_attrs(rec)  # validate everything before touching the disk
        labels = _labels_int16(rec)
        key = encode_key(rec.name)
        src_dir = self._recordings_dir / encode_key(rec.source)
        final = src_dir / key
        if not overwrite and final.exists():
            raise FileExistsError(f"{self.path}: recording {rec.name!r} of source {rec.source!r} exists ({final})")
        self._ensure_group(src_dir, {"source": rec.source})
        tmp = src_dir / _temp_name(key)
        try:
            self._write_group(tmp, rec, attrs, labels)
            self._move_into_place(tmp, final, overwrite, rec)
        except BaseException:
            _remove(tmp)
            raise
        logger.debug("wrote %s/%s (%d frames x %d channels) to %s",
                     rec.source, rec.name, rec.n_frames, len(rec.channels), self.path)
        return key

    @staticmethod
    def _write_group(tmp: Path, rec: Recording, attrs: dict[str, Any], labels: np.ndarray | None) -> None:
        """Write the whole recording group at ``tmp``; 'complete' is set last."""
        group = zarr.open_group(tmp, mode="w-", zarr_format=3, attributes={**attrs, "complete": False})
        n_frames, n_channels = rec.signals.shape
        group.create_array("signals", data=np.ascontiguousarray(rec.signals, dtype=np.float32),
                           chunks=(_chunk_rows(n_frames), max(1, n_channels)))
        if labels is not None:
            group.create_array("labels", data=labels, chunks=(_chunk_rows(n_frames),))
        group.attrs["complete"] = True

    def _move_into_place(self, tmp: Path, final: Path, overwrite: bool, rec: Recording) -> None:
        """Rename ``tmp`` to ``final``; with overwrite, rename an existing ``final`` aside first."""
        asides: list[Path] = []
        try:
            for _ in range(20):
                try:
                    os.rename(tmp, final)
                    return
                except OSError as err:
                    if not _rename_exists_error(err):
                        raise
                    if not overwrite:
                        raise FileExistsError(
                            f"{self.path}: recording {rec.name!r} of source {rec.source!r} exists ({final})"
                        ) from None
                aside = final.parent / _temp_name(final.name)
                try:
                    os.rename(final, aside)
                    asides.append(aside)
                except FileNotFoundError:
                    pass  # another writer moved it meanwhile: try again
            raise RuntimeError(f"{final}: could not replace the recording (concurrent writers?)")
        finally:
            for aside in asides:
                _remove(aside)

    def read(self, source: str, name: str) -> Recording:
        """The stored recording: signals float32 (T, C), labels int64 (T,) or None, int label codes."""
        path, attrs = self._attrs_of(source, name)
        group = zarr.open_group(path, mode="r")
        signals = np.asarray(group["signals"][...], dtype=np.float32)
        labels = None
        if attrs.get("has_labels"):
            if "labels" not in group:
                raise ValueError(f"{path}: attrs say the recording is labelled but array 'labels' is missing")
            labels = np.asarray(group["labels"][...]).astype(np.int64)
        label_map = attrs.get("label_map")
        if label_map is not None:
            label_map = {int(code): label for code, label in label_map.items()}
        return Recording(
            signals=signals,
            channels=list(attrs["channels"]),
            units=list(attrs["units"]),
            fs=float(attrs["fs"]),
            source=attrs["source"],
            name=attrs["name"],
            labels=labels,
            label_map=label_map,
            subject=attrs.get("subject"),
            provenance=attrs.get("provenance") or {},
            attrs=attrs.get("attrs") or {},
        )

    def read_signals(self, source: str, name: str, channels: list[str] | None = None,
                     start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` of the named channels (in the order asked), (stop - start, k) float32.

        Reads only the chunks covering the frame range.  Raises KeyError
        naming the channels the recording does not have.
        """
        path, attrs = self._attrs_of(source, name)
        array = zarr.open_group(path, mode="r")["signals"]
        rows = slice(*slice(start, stop).indices(array.shape[0]))
        if channels is None:
            return np.asarray(array[rows], dtype=np.float32)
        index = {c: i for i, c in enumerate(attrs["channels"])}
        missing = [c for c in channels if c not in index]
        if missing:
            raise KeyError(f"{self.path}: recording {name!r} of source {source!r} has no channels {missing}; "
                           f"it has {attrs['channels']}")
        if not channels:
            return np.zeros((len(range(rows.start, rows.stop)), 0), dtype=np.float32)
        return np.asarray(array.oindex[rows, [index[c] for c in channels]], dtype=np.float32)

    def list(self, source: str | None = None) -> list[tuple[str, str]]:
        """Sorted (source, name) pairs of complete recordings, of one source or all."""
        if source is None:
            src_dirs = self._source_dirs()
        else:
            src_dirs = [self._recordings_dir / encode_key(source)]
        out = []
        for src_dir in src_dirs:
            for rec_dir in self._child_groups(src_dir):
                attrs = self._complete_attrs(rec_dir)
                if attrs is not None:
                    out.append((attrs["source"], attrs["name"]))
        return sorted(out)

    def sources(self) -> list[str]:
        """Sorted names of the sources holding at least one recording."""
        out = []
        for src_dir in self._source_dirs():
            if self._child_groups(src_dir):
                attrs = _read_meta(src_dir).get("attributes") or {}
                out.append(attrs.get("source", decode_key(src_dir.name)))
        return sorted(out)

    def delete(self, source: str, name: str) -> None:
        """Remove a recording (renamed aside first, so it disappears at once); KeyError if absent."""
        self._require_writable()
        final = self._recording_dir(source, name)
        aside = final.parent / _temp_name(final.name)
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            raise KeyError(f"{self.path}: no recording {name!r} in source {source!r}") from None
        _remove(aside)
        logger.debug("deleted %s/%s from %s", source, name, self.path)

    def update_labels(self, source: str, name: str, labels: np.ndarray, label_map: Mapping[int, str],
                      provenance_update: dict[str, Any] | None = None) -> None:
        """Replace the labels (and label map) of a stored recording atomically.

        labels: (T,) integer codes, T = the recording's n_frames, each code a key
            of ``label_map``; stored as int16.
        label_map: {code: name} stored beside them.
        provenance_update: merged into the provenance (a dict value, such as
            ``{'labels': {...}}``, updates the stored dict key by key).
        Updates the attrs label_map, has_labels, label_counts and provenance;
        signals and every other attr stay as they are.

        The new group is built under a hidden temporary sibling (the signal
        chunks hard-linked, not copied, the new labels array and attrs written
        there) and swapped with the old group in one atomic
        ``renameat2(RENAME_EXCHANGE)`` on Linux: the recording's directory is
        at every instant either the complete old or the complete new group
        (labels with their own label map), it is never missing, and a crash
        leaves only a ``.tmp-*`` directory that `cleanup` removes.  (`read`
        opens the group path more than once, so a read that overlaps the swap
        can still pair the old attrs with the new labels.)  Where the exchange
        is not available the old group is renamed aside first, as in `write`
        with overwrite.  Raises KeyError for an unknown recording, ValueError for
        labels of the wrong shape, non-integer codes, codes missing from
        ``label_map`` or not fitting int16.  Not safe against a second process
        updating the same recording at the same time (the last one wins).
        """
        self._require_writable()
        final, attrs = self._attrs_of(source, name)
        where = f"{self.path}: recording {name!r} of source {source!r}"
        n_frames = int(attrs["n_frames"])
        labels = np.asarray(labels)
        if labels.shape != (n_frames,):
            raise ValueError(f"{where}: labels shape {labels.shape} != ({n_frames},)")
        stored_map: dict[str, str] = {}
        for code, label in (label_map or {}).items():
            if isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
                raise TypeError(f"{where}: label_map key {code!r} is not an integer code")
            stored_map[str(int(code))] = str(label)
        int_map = {int(k): v for k, v in stored_map.items()}
        labels16 = _as_int16_labels(labels, where)
        unknown = sorted(set(np.unique(labels16).tolist()) - set(int_map))
        if unknown:
            raise ValueError(f"{where}: label codes {unknown} are not in the label map {int_map}")
        new_attrs = {k: v for k, v in attrs.items() if k != "complete"}
        new_attrs.update({
            "has_labels": True,
            "label_map": stored_map,
            "label_counts": _label_counts(labels16, int_map),
            "provenance": to_jsonable(_merge_provenance(attrs.get("provenance") or {}, provenance_update or {}),
                                      f"{where}: provenance"),
        })
        tmp = final.parent / _temp_name(final.name)
        try:
            group = zarr.open_group(tmp, mode="w-", zarr_format=3, attributes={**new_attrs, "complete": False})
            with os.scandir(final) as it:
                children = [e for e in it if e.is_dir() and not e.name.startswith(".") and e.name != "labels"]
            for entry in children:
                shutil.copytree(entry.path, tmp / entry.name, copy_function=_link_or_copy)
            group.create_array("labels", data=labels16, chunks=(_chunk_rows(n_frames),))
            group.attrs["complete"] = True
            if _rename_exchange(tmp, final):
                _remove(tmp)  # now the old group
            else:
                aside = final.parent / _temp_name(final.name)
                try:
                    os.rename(final, aside)
                except FileNotFoundError:
                    raise KeyError(f"{self.path}: recording {name!r} of source {source!r} vanished "
                                   f"during the label update") from None
                try:
                    os.rename(tmp, final)
                except BaseException:
                    os.rename(aside, final)  # put the old group back
                    raise
                _remove(aside)
        except BaseException:
            _remove(tmp)
            raise
        logger.debug("updated labels of %s/%s in %s (%s)", source, name, self.path, new_attrs["label_counts"])

    def recording_attrs(self, source: str, name: str) -> dict[str, Any]:
        """Stored attrs of one recording (no array is read)."""
        return self._attrs_of(source, name)[1]

    def summary(self) -> list[dict[str, Any]]:
        """One row per source, sorted by source.

        Keys: source, recordings, frames, duration_s (sum of frames / fs),
        n_channels, channels (union, first-seen order), fs (sorted distinct
        rates, Hz), units (sorted distinct), labels ({label name: frames},
        over the labelled recordings).
        """
        rows: dict[str, dict[str, Any]] = {}
        for src_dir in self._source_dirs():
            for rec_dir in self._child_groups(src_dir):
                attrs = self._complete_attrs(rec_dir)
                if attrs is None:
                    continue
                row = rows.setdefault(attrs["source"], {
                    "source": attrs["source"], "recordings": 0, "frames": 0, "duration_s": 0.0,
                    "n_channels": 0, "channels": [], "fs": [], "units": [], "labels": {},
                })
                n_frames, fs = int(attrs["n_frames"]), float(attrs["fs"])
                row["recordings"] += 1
                row["frames"] += n_frames
                row["duration_s"] += n_frames / fs
                row["channels"] += [c for c in attrs["channels"] if c not in row["channels"]]
                row["fs"] = sorted(set(row["fs"]) | {fs})
                row["units"] = sorted(set(row["units"]) | set(attrs["units"]))
                counts = attrs.get("label_counts")
                if counts is None and attrs.get("has_labels"):
                    labels = np.asarray(zarr.open_group(rec_dir, mode="r")["labels"][...])
                    label_map = {int(k): v for k, v in (attrs.get("label_map") or {}).items()}
                    counts = _label_counts(labels, label_map)
                for label, count in (counts or {}).items():
                    row["labels"][label] = row["labels"].get(label, 0) + int(count)
        for row in rows.values():
            row["n_channels"] = len(row["channels"])
            row["labels"] = dict(sorted(row["labels"].items()))
        return [rows[s] for s in sorted(rows)]
