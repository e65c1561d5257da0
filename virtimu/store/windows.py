"""Appendable, crash-safe Zarr v3 store of `WindowSet`s, read chunk by chunk.

Window sets live in the same Zarr root as the recordings (see
`virtimu.store.recordings`)::

    <store>.zarr/
      zarr.json                        root attrs {"virtimu": {"format": 1, ...}}
      recordings/ ...                  RecordingStore
      windows/zarr.json
      windows/.<key>.lock              lock file of one set (fcntl.flock), kept
      windows/<key>/                   one group per window set; attrs below
          frames       (M, C) float32, chunks (F, C): the frames the windows are cut from   (layout 'frames')
          frame_start  (N,) int64 first row of window i in ``frames``                       (layout 'frames')
          X            (N, L, C) float32, chunks (R, L, C)                                   (layout 'windows')
          y          (N,) int64 label codes (attrs 'label_map')
          start      (N,) int64 first frame of each window
          subject    (N,) int32 codes into attrs['tables']['subject']
          recording  (N,) int32 codes into attrs['tables']['recording']
          source     (N,) int32 codes into attrs['tables']['source']

Two layouts of the signals, same API and same windows read back:

- ``'frames'`` (format 2, the default for new sets): window i is
  ``frames[frame_start[i] : frame_start[i] + L]``.  Consecutive windows of one
  recording that overlap (same recording and source, start ``d < L`` frames
  after the previous window, and their shared frames bit-identical, which the
  writer checks) share their frames, so 50 % overlap stores each frame about
  once instead of twice, before any compression.  No window crosses a chunk
  boundary of ``frames`` (the writer pads with at most L - 1 zero rows per
  chunk), so a window is one decoded chunk plus one contiguous copy.
- ``'windows'`` (format 1, the original layout): every window stored whole in X.

Both are read through one view (`ChunkLayout`): a decoded chunk is a
``(frames_per_chunk, C)`` buffer and window i starts at row ``offset[i]`` of
chunk ``chunk[i]`` (for format 1 a chunk of X is R windows back to back).

Set attrs: name, format, layout, channels, units, fs, window_length,
chunk_rows (format 1: windows per chunk of X; format 2: chunk_frames // L, the
windows a chunk holds without overlap), chunk_frames (format 2), label_map
{code: name}, tables (string tables of the coded columns), config,
provenance (one entry per commit: rows, sources, recordings, time, virtimu
version, the committed WindowSet attrs), compression, mantissa_bits,
``n_committed`` and (format 2) ``n_frames``.

Crash safety (against a killed process, not power loss: nothing is fsynced):
a writer (`WindowStore.append`, or a `WindowAppender` streaming many batches)
writes its rows after the committed ones and only then commits with one
atomic write of the set's ``zarr.json`` (new ``n_committed`` / ``n_frames``,
label map, string tables, provenance).  Readers see rows ``[0, n_committed)``
only, so a writer killed before the commit leaves its rows invisible and the
next append overwrites them.  Committed rows (and frames) are never changed,
so a reader's snapshot stays valid while a writer appends.  A new set is
built under a hidden temporary name and renamed into place at its first
commit.

Concurrent appenders to one set are not supported: writers and `delete_set`
take an exclusive ``fcntl.flock`` on ``windows/.<key>.lock`` and raise
`SetLockedError` if another process holds it (after ``lock_timeout_s``).

Compression: Blosc lz4hc level 5, about 2 MiB per chunk, without byte
shuffle by default (`default_shuffle`: with shuffle only for lossy
``mantissa_bits``).  Measured on the benchmark's demo-clip IMU windows with
sensor noise (36 channels, 60 frames, 50 % overlap as in the papers,
benchmarks/bench_store.py): layout 'frames' 2.1x smaller than the raw
(N, L, C) float32 windows (frame sharing alone: 1.9x on those short
recordings), decoding in ~0.3 us of CPU per window; with byte shuffle
(``shuffle=True``) 2.8x, ~0.85 us per window; ``mantissa_bits=16`` (lossy,
relative error <= 2**-17) with shuffle 3.6x.  Windows without overlap
share nothing: 1.13x by default, 1.5x with shuffle, 1.9x with
``mantissa_bits=16``.  Chunks are read with Blosc directly
from the page cache (`direct_chunk_reader`), zarr being the reference
path.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import logging
import mmap
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import blosc
from zarr.codecs import BloscCodec

from virtimu import __version__
from virtimu.store.recordings import (
    DEFAULT_GRACE_S,
    RecordingStore,
    _is_stale,
    _parse_temp,
    _publish_dir,
    _read_meta,
    _remove,
    _temp_name,
    decode_key,
    encode_key,
    to_jsonable,
)
from virtimu.types import WindowSet

try:  # POSIX advisory locks; elsewhere appends are not guarded
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: Layouts of a set's signals and the format number each is written with.
LAYOUT_FORMATS = {"windows": 1, "frames": 2}
#: Layout of new sets.
DEFAULT_LAYOUT = "frames"
#: Newest layout version of a window set; readers refuse newer sets.
WINDOW_SET_FORMAT = max(LAYOUT_FORMATS.values())
#: Target uncompressed bytes per chunk of the signals.
CHUNK_BYTES = 2 * 1024 * 1024
#: Bounds on the windows per chunk of X (layout 'windows').
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 16, 4096
#: Windows a chunk of ``frames`` holds at least (layout 'frames'): bounds the padding to 1/16.
MIN_WINDOWS_PER_FRAME_CHUNK = 16
#: Rows per chunk of the small per-window columns (y, start, codes, frame_start).
META_CHUNK_ROWS = 65536
#: Per-window string columns stored as int32 codes into a table in the attrs.
CODED_FIELDS = ("subject", "recording", "source")
#: Windows compared at once when looking for shared frames (bounds temporary memory).
_SHARE_BLOCK = 4096

_WINDOWS = "windows"
_META_FILE = "zarr.json"


#: Blosc compressors a set can be created with, and their levels.
CODEC_LEVELS = {"lz4hc": 5, "zstd": 3}


def _compressor(cname: str = "lz4hc", shuffle: bool = True) -> BloscCodec:
    """Blosc, with byte shuffle or not; ``cname`` one of `CODEC_LEVELS`."""
    return BloscCodec(cname=cname, clevel=CODEC_LEVELS[cname], shuffle="shuffle" if shuffle else "noshuffle")


def default_shuffle(mantissa_bits: int | None) -> bool:
    """Byte shuffle of new sets when not asked for: only with lossy mantissa rounding.

    Measured on the benchmark's windows (layout 'frames', 50 % overlap, lz4hc-5):
    without shuffle 2.1x smaller than the raw windows and ~0.3 us of decoding
    per window; with byte shuffle 2.8x and ~0.85 us (the unshuffle pass and
    shorter matches).  Rounded mantissas (zeroed low bytes) only pay off
    with the shuffle.
    """
    return mantissa_bits is not None


class SetLockedError(RuntimeError):
    """Another process holds the lock of a window set (concurrent appends are not supported)."""


# --------------------------------------------------------------------------- pure helpers


def chunk_rows_for(window_length: int, n_channels: int, target_bytes: int = CHUNK_BYTES) -> int:
    """Windows per chunk of X: about ``target_bytes`` of float32, within [16, 4096], a multiple of 16."""
    row_bytes = max(1, window_length * n_channels * 4)
    rows = int(target_bytes // row_bytes)
    rows -= rows % 16
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows)))


def chunk_frames_for(window_length: int, n_channels: int, target_bytes: int = CHUNK_BYTES) -> int:
    """Frames per chunk of ``frames``: about ``target_bytes`` of float32, a multiple of 16,
    and at least `MIN_WINDOWS_PER_FRAME_CHUNK` windows' worth (so padding wastes <= 1/16)."""
    rows = int(target_bytes // max(1, n_channels * 4))
    rows -= rows % 16
    return int(max(rows, MIN_WINDOWS_PER_FRAME_CHUNK * int(window_length), 16))


def round_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 values rounded (to nearest, ties to even) to ``bits`` explicit mantissa bits.

    x: float32 array, any shape.  bits: 1..23 (23 returns a copy).  Relative
    error <= 2**-(bits + 1); zeros, infinities and NaN are kept.  Zeroed low
    bits make the data compress better (a lossy option of the store).
    """
    if not 1 <= int(bits) <= 23:
        raise ValueError(f"mantissa bits must be in 1..23, got {bits!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    drop = 23 - int(bits)
    if drop == 0:
        return x.copy()
    b = x.view(np.uint32)
    lowest_kept = (b >> np.uint32(drop)) & np.uint32(1)
    rounded = (b + np.uint32((1 << (drop - 1)) - 1) + lowest_kept) & np.uint32((0xFFFFFFFF << drop) & 0xFFFFFFFF)
    out = rounded.view(np.float32)
    keep = ~np.isfinite(x)
    if keep.any():
        out = out.copy()
        out[keep] = x[keep]
    return out


def merge_label_maps(stored: dict[int, str], new: dict[int, str]) -> tuple[dict[int, str], dict[int, int]]:
    """Merge ``new`` into ``stored`` by label name.

    A name already stored keeps its stored code; a new name keeps its own code
    when that code is free, else gets the smallest code >= 1 that is free
    after the others are placed.  Returns
    (merged map, {new code: stored code}) for every code of ``new``.
    """
    merged = {int(c): str(n) for c, n in stored.items()}
    by_name = {n: c for c, n in sorted(merged.items(), reverse=True)}  # lowest code wins for duplicates
    remap: dict[int, int] = {}
    pending = []
    for code, name in sorted((int(c), str(n)) for c, n in new.items()):
        if name in by_name:
            remap[code] = by_name[name]
        elif code not in merged:
            merged[code] = name
            by_name[name] = code
            remap[code] = code
        else:
            pending.append((code, name))
    for code, name in pending:
        if name in by_name:  # two new codes with one name
            remap[code] = by_name[name]
            continue
        free = next(c for c in range(1, len(merged) + 2) if c not in merged)
        merged[free] = name
        by_name[name] = free
        remap[code] = free
    return dict(sorted(merged.items())), remap


def remap_codes(y: np.ndarray, remap: dict[int, int]) -> np.ndarray:
    """``y`` with every code c replaced by ``remap[c]`` (int64); KeyError for a code not in ``remap``."""
    y = np.asarray(y, dtype=np.int64)
    if all(k == v for k, v in remap.items()):
        return y
    codes, inverse = np.unique(y, return_inverse=True)
    return np.array([remap[int(c)] for c in codes], dtype=np.int64)[inverse].reshape(y.shape)


def gather_by_chunk(rows: np.ndarray, chunk_rows: int, get_chunk: Callable[[int], np.ndarray],
                    out: np.ndarray) -> np.ndarray:
    """Fill ``out[i] = row rows[i]`` of an array chunked by ``chunk_rows`` rows, reading each needed chunk once.

    rows: (k,) int row numbers in any order (repeats allowed); rows already
    grouped by chunk in increasing order take a faster path (one copy per
    chunk).  chunk_rows: rows per chunk R.  get_chunk(c): the rows
    ``[c R, (c + 1) R)`` of chunk c (the last chunk may be shorter).  out:
    (k, ...) array to fill.  Chunks are requested in increasing order.
    Returns ``out``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return out
    chunk_ids = rows // chunk_rows
    grouped = bool(np.all(chunk_ids[1:] >= chunk_ids[:-1]))
    order = None if grouped else np.argsort(chunk_ids, kind="stable")
    sorted_ids = chunk_ids if order is None else chunk_ids[order]
    bounds = [0, *(np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1).tolist(), rows.size]
    for a, b in itertools.pairwise(bounds):
        chunk = int(sorted_ids[a])
        data = get_chunk(chunk)
        offset = chunk * chunk_rows
        if order is None:
            np.take(data, rows[a:b] - offset, axis=0, out=out[a:b], mode="clip")  # rows are in range
        else:
            group = order[a:b]
            out[group] = data[rows[group] - offset]
    return out


def windows_from_frames(frames: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """Copies of the windows ``frames[o : o + length]`` for each o in ``offsets``.

    frames: (F, C) C-contiguous array (a decoded chunk).  offsets: (k,) int
    first rows, each with ``o + length <= F``.  Returns (k, length, C), one
    fancy index over a strided (overlapping) view, so each window is one
    contiguous copy.
    """
    frames = np.ascontiguousarray(frames)
    n_rows, n_cols = frames.shape
    offsets = np.asarray(offsets, dtype=np.intp)
    if n_rows < length:
        if offsets.size:
            raise IndexError(f"windows_from_frames: {n_rows} frames hold no window of {length}")
        return np.empty((0, length, n_cols), dtype=frames.dtype)
    step = frames.strides[0]
    view = np.lib.stride_tricks.as_strided(frames, shape=(n_rows - length + 1, length, n_cols),
                                           strides=(step, step, frames.strides[1]), writeable=False)
    return view[offsets]


@dataclasses.dataclass(frozen=True)
class ChunkLayout:
    """Where each committed window of a set lies in the decoded chunks of its signals.

    chunk: (N,) int64 chunk holding window i (non-decreasing in i).
    offset: (N,) int64 first row of window i in the decoded buffer of its chunk.
    chunk_frames: rows of a decoded chunk buffer ``(chunk_frames, n_channels)``
        (layout 'windows': R * L; layout 'frames': F).
    window_length: L.  n_channels: C.  n_chunks: chunks holding windows.
    """

    chunk: np.ndarray
    offset: np.ndarray
    chunk_frames: int
    window_length: int
    n_channels: int
    n_chunks: int

    def __len__(self) -> int:
        return int(self.chunk.shape[0])


def gather_windows(rows: np.ndarray, layout: ChunkLayout, get_frames: Callable[[int], np.ndarray],
                   out: np.ndarray) -> np.ndarray:
    """Fill ``out[k]`` with window ``rows[k]``, decoding each needed chunk once, in increasing chunk order.

    rows: (k,) set rows in any order (repeats allowed).  layout: the set's
    `ChunkLayout`.  get_frames(c): decoded buffer of chunk c,
    (>= the used rows, C).  out: (k, L, C).  Returns ``out``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return out
    chunks = layout.chunk[rows]
    order = np.argsort(chunks, kind="stable")
    sorted_chunks = chunks[order]
    bounds = [0, *(np.flatnonzero(sorted_chunks[1:] != sorted_chunks[:-1]) + 1).tolist(), rows.size]
    for a, b in itertools.pairwise(bounds):
        sel = order[a:b]
        out[sel] = windows_from_frames(get_frames(int(sorted_chunks[a])), layout.offset[rows[sel]],
                                       layout.window_length)
    return out


def overlap_shifts(X: np.ndarray, recording: np.ndarray, source: np.ndarray, start: np.ndarray,
                   previous: _Tail | None = None) -> np.ndarray:
    """For each window, by how many frames it starts after the window before it when it shares frames with it.

    Window i shares with window i - 1 (``previous`` for i = 0) when both come
    from the same recording and source, ``d = start[i] - start[i - 1]`` is in
    ``[0, L)`` and its first ``L - d`` frames equal the other's last ``L - d``
    bit for bit (so NaN and -0.0 are compared exactly).  X: (m, L, C)
    float32; recording, source: (m,) str; start: (m,) int.  Returns (m,) int64
    ``d``, or -1 where nothing is shared.
    """
    m, L = X.shape[0], X.shape[1]
    shift = np.full(m, -1, dtype=np.int64)
    if m == 0:
        return shift
    start = np.asarray(start, dtype=np.int64)
    d = np.empty(m, dtype=np.int64)
    same = np.empty(m, dtype=bool)
    d[1:] = start[1:] - start[:-1]
    same[1:] = (recording[1:] == recording[:-1]) & (source[1:] == source[:-1])
    if previous is None:
        same[0], d[0] = False, -1
    else:
        same[0] = recording[0] == previous.recording and source[0] == previous.source
        d[0] = int(start[0]) - previous.start
    candidate = same & (d >= 0) & (d < L)
    if not candidate.any():
        return shift
    bits = X.view(np.uint32)
    prev_bits = None if previous is None else previous.bits
    for a in range(0, m, _SHARE_BLOCK):
        block = np.flatnonzero(candidate[a:a + _SHARE_BLOCK]) + a
        for dv in np.unique(d[block]).tolist():
            idx = block[d[block] == dv]
            later = idx[idx > 0]
            if later.size:
                equal = np.all(bits[later, :L - dv] == bits[later - 1, dv:], axis=(1, 2))
                shift[later[equal]] = dv
            if idx[0] == 0 and prev_bits is not None and np.array_equal(bits[0, :L - dv], prev_bits[dv:]):
                shift[0] = dv
    return shift


def place_frames(shift: np.ndarray, length: int, chunk_frames: int, next_frame: int,
                 previous_frame: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Rows of ``frames`` for a run of windows, given the shifts of `overlap_shifts`.

    A window that shares (shift d >= 0) starts d rows after the previous
    window and adds its last d frames, unless that would cross a chunk
    boundary; otherwise its L frames are appended whole, after zero padding
    up to the next chunk boundary when they would cross one.
    next_frame: first free row; previous_frame: row of the window before the
    run (-1: none).  Returns (frame_start (m,), new frames (m,), padding rows
    before them (m,), next free row).
    """
    m = int(shift.shape[0])
    frame_start = np.empty(m, dtype=np.int64)
    n_new = np.empty(m, dtype=np.int64)
    pad = np.zeros(m, dtype=np.int64)
    L, F, pos, prev = int(length), int(chunk_frames), int(next_frame), int(previous_frame)
    for i, d in enumerate(shift.tolist()):
        if d >= 0 and prev >= 0 and prev + d + L <= (prev // F + 1) * F:
            f, n = prev + d, d  # the previous window's frames end at pos == prev + L
        else:
            r = pos % F
            if r + L > F:
                pad[i] = F - r
                pos += F - r
            f, n = pos, L
        frame_start[i], n_new[i] = f, n
        pos, prev = f + L, f
    return frame_start, n_new, pad, pos


def new_frame_rows(X: np.ndarray, n_new: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """The rows `place_frames` appends: for each window, ``pad`` zero rows then its last ``n_new`` frames.

    X: (m, L, C).  Returns (sum(pad + n_new), C) with the dtype of X.
    """
    m, L, C = X.shape
    total = int((pad + n_new).sum())
    out = np.zeros((total, C), dtype=X.dtype)
    k = int(n_new.sum())
    if k == 0:
        return out
    begins = np.cumsum(pad + n_new) - n_new
    window = np.repeat(np.arange(m), n_new)
    local = np.arange(k, dtype=np.int64) - np.repeat(np.cumsum(n_new) - n_new, n_new)
    out[np.repeat(begins, n_new) + local] = X[window, L - n_new[window] + local]
    return out


def _encode_strings(values: np.ndarray, table: list[str]) -> np.ndarray:
    """int32 codes of ``values`` in ``table``; unseen strings are appended to ``table`` (in place)."""
    uniq, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    index = {s: i for i, s in enumerate(table)}
    codes = np.empty(len(uniq), dtype=np.int32)
    for i, s in enumerate(uniq.tolist()):
        if s not in index:
            index[s] = len(table)
            table.append(s)
        codes[i] = index[s]
    return codes[inverse].reshape(-1)


# --------------------------------------------------------------------------- metadata without X


class WindowMeta:
    """Per-window metadata of a set (no signals): cheap to load, used for splits and summaries.

    y: (N,) int64 label codes; start: (N,) int64 first frames; codes: int32
    codes of 'subject' / 'recording' / 'source' into ``tables``.  The string
    columns ``subject``, ``recording`` and ``source`` ((N,) str) are decoded
    on first access.  label_map: {code: name}.
    """

    def __init__(self, y: np.ndarray, start: np.ndarray, codes: dict[str, np.ndarray],
                 tables: dict[str, list[str]], label_map: dict[int, str]) -> None:
        self.y = y
        self.start = start
        self.codes = codes
        self.tables = tables
        self.label_map = label_map

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def decode(self, field: str, idx: np.ndarray | None = None) -> np.ndarray:
        """The string column ``field`` ((N,) or (len(idx),) str), optionally at rows ``idx``."""
        codes = self.codes[field] if idx is None else self.codes[field][idx]
        table = np.asarray(self.tables[field] or [""], dtype=str)
        return table[codes]

    @cached_property
    def subject(self) -> np.ndarray:
        return self.decode("subject")

    @cached_property
    def recording(self) -> np.ndarray:
        return self.decode("recording")

    @cached_property
    def source(self) -> np.ndarray:
        return self.decode("source")


@dataclasses.dataclass
class _Tail:
    """The last window a writer placed: the next window may share its frames."""

    bits: np.ndarray  # (L, C) uint32 copy of the window
    recording: str
    source: str
    start: int
    frame: int  # its row in ``frames``


def direct_chunk_reader(array_dir: Path) -> Callable[..., np.ndarray] | None:
    """A fast reader of whole chunks of a float32 array at ``array_dir`` chunked along axis 0, or None.

    Only for the layout `WindowStore` writes: Zarr v3, 2-D or 3-D, regular
    chunks split along the first axis only, default '/' chunk keys, codecs
    ``[bytes (little endian), blosc]``, fill value 0, little-endian host.
    ``reader(k, out=None)`` returns chunk k as a writable float32 array of the
    chunk shape (decoded into ``out`` when given: C-contiguous, that shape),
    decoded from ``c/<k>/0[/0]`` with Blosc directly (zarr's per-call overhead
    is ~4x the decode time of a 2 MiB chunk); a missing chunk file (never
    written, all fill value) reads as zeros.  The reader holds no state and
    may be called from several threads (Blosc releases the GIL).  Reading
    through zarr is the reference (tested equal).
    """
    try:
        meta = _read_meta(array_dir)
    except (FileNotFoundError, ValueError):
        return None
    grid = meta.get("chunk_grid") or {}
    codecs = meta.get("codecs") or []
    shape = meta.get("shape") or []
    chunk_shape = tuple((grid.get("configuration") or {}).get("chunk_shape") or ())
    supported = (
        sys.byteorder == "little"
        and meta.get("zarr_format") == 3 and meta.get("data_type") == "float32" and meta.get("fill_value") == 0.0
        and not meta.get("storage_transformers")
        and meta.get("chunk_key_encoding") == {"name": "default", "configuration": {"separator": "/"}}
        and grid.get("name") == "regular" and len(chunk_shape) == len(shape) in (2, 3)
        and list(chunk_shape[1:]) == list(shape[1:])
        and [c.get("name") for c in codecs] == ["bytes", "blosc"]
        and (codecs[0].get("configuration") or {}).get("endian", "little") == "little"
    )
    if not supported:
        return None
    prefix = os.path.join(os.fspath(array_dir), "c", "")
    suffix = os.sep + os.sep.join(("0",) * (len(shape) - 1))

    def read(chunk: int, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty(chunk_shape, dtype=np.float32)
        try:
            fd = os.open(f"{prefix}{int(chunk)}{suffix}", os.O_RDONLY)
        except FileNotFoundError:
            out.fill(0.0)
            return out
        try:  # decode straight from the page cache: no copy of the compressed bytes
            mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        try:
            blosc.decompress(mapped, out)
        finally:
            mapped.close()
        return out

    return read


@dataclasses.dataclass
class _SetView:
    """A reader's snapshot of one set: its attrs (with ``n_committed``) and arrays opened after them."""

    path: Path
    attrs: dict[str, Any]
    _arrays: dict[str, zarr.Array] = dataclasses.field(default_factory=dict)
    _meta: WindowMeta | None = None
    _layout: ChunkLayout | None = None
    _direct: Callable[..., np.ndarray] | None | bool = False  # False: not looked up yet

    @property
    def n(self) -> int:
        return int(self.attrs["n_committed"])

    @property
    def layout_name(self) -> str:
        return str(self.attrs.get("layout", "windows"))

    @property
    def chunk_rows(self) -> int:
        return int(self.attrs["chunk_rows"])

    @property
    def window_length(self) -> int:
        return int(self.attrs["window_length"])

    @property
    def n_channels(self) -> int:
        return len(self.attrs["channels"])

    @property
    def label_map(self) -> dict[int, str]:
        return {int(c): n for c, n in self.attrs["label_map"].items()}

    def array(self, name: str) -> zarr.Array:
        if name not in self._arrays:
            try:
                self._arrays[name] = zarr.open_array(self.path / name, mode="r")
            except FileNotFoundError:
                raise ValueError(f"{self.path}: window set array {name!r} is missing") from None
        return self._arrays[name]

    def layout(self) -> ChunkLayout:
        """The `ChunkLayout` of the committed windows (loaded once per snapshot)."""
        if self._layout is None:
            L, C, n = self.window_length, self.n_channels, self.n
            if self.layout_name == "frames":
                F = int(self.attrs["chunk_frames"])
                starts = np.asarray(self.array("frame_start")[:n], dtype=np.int64)
                chunk, offset = starts // F, starts % F
                if n and (np.any(chunk[1:] < chunk[:-1]) or np.any(offset + L > F)):
                    raise ValueError(f"{self.path}: frame_start is not a valid frames layout")
                n_chunks = int(chunk[-1]) + 1 if n else 0
            else:
                R = self.chunk_rows
                rows = np.arange(n, dtype=np.int64)
                chunk, offset, F = rows // R, (rows % R) * L, R * L
                n_chunks = -(-n // R)
            self._layout = ChunkLayout(chunk=chunk, offset=offset, chunk_frames=F, window_length=L,
                                       n_channels=C, n_chunks=n_chunks)
        return self._layout

    def _signal_array(self) -> str:
        return "frames" if self.layout_name == "frames" else "X"

    def read_frames(self, chunk: int, out: np.ndarray | None = None) -> np.ndarray:
        """Decoded chunk ``chunk`` of the signals as a (chunk_frames, C) float32 buffer (into ``out`` if given).

        Layout 'windows': the chunk's R windows back to back.  Rows past the
        committed data are zeros or an uncommitted writer's data: no window
        of the snapshot points there.  Direct Blosc read when possible.
        """
        lay = self.layout()
        shape = (lay.chunk_frames, lay.n_channels)
        if self._direct is False:
            self._direct = direct_chunk_reader(self.path / self._signal_array())
        if self._direct is not None:
            if self.layout_name == "frames":
                return self._direct(int(chunk), out)
            target = None if out is None else out.reshape(self.chunk_rows, lay.window_length, lay.n_channels)
            return self._direct(int(chunk), target).reshape(shape)
        if out is None:
            out = np.zeros(shape, dtype=np.float32)
        a, b = int(chunk) * lay.chunk_frames, (int(chunk) + 1) * lay.chunk_frames
        if self.layout_name == "frames":
            data = np.asarray(self.array("frames")[a:min(b, int(self.attrs["n_frames"]))], dtype=np.float32)
        else:
            R = self.chunk_rows
            data = np.asarray(self.array("X")[chunk * R:min((chunk + 1) * R, self.n)], dtype=np.float32)
            data = data.reshape(-1, lay.n_channels)
        out[:data.shape[0]] = data
        return out

    def read_chunk(self, chunk: int) -> np.ndarray:
        """The committed windows of chunk ``chunk``, (k, L, C) float32, in row order."""
        lay = self.layout()
        rows = np.flatnonzero(lay.chunk == int(chunk))
        return windows_from_frames(self.read_frames(chunk), lay.offset[rows], lay.window_length)

    def read_all(self) -> np.ndarray:
        """Every committed window, (N, L, C) float32, read through zarr (the reference path)."""
        if self.layout_name != "frames":
            return np.asarray(self.array("X")[:self.n], dtype=np.float32)
        frames = np.asarray(self.array("frames")[:int(self.attrs["n_frames"])], dtype=np.float32)
        starts = np.asarray(self.array("frame_start")[:self.n], dtype=np.int64)
        return windows_from_frames(frames.reshape(-1, self.n_channels), starts, self.window_length)


# --------------------------------------------------------------------------- the store


class WindowStore:
    """Window sets in the ``windows/`` group of a virtimu Zarr v3 store.

    path: store directory (shared with `RecordingStore`).
    mode: 'a' (create the store if missing, read and append; removes stale
        temporary directories on open) or 'r' (read only).

    Each set is read as a snapshot taken the first time it is used by this
    object; appends by this object update it, appends by other processes
    become visible after `refresh`.  Raises FileNotFoundError (mode 'r',
    missing path) and `NotAStoreError` (not a virtimu store).
    """

    def __init__(self, path: str | os.PathLike, mode: str = "a") -> None:
        if mode not in ("a", "r"):
            raise ValueError(f"WindowStore mode must be 'a' or 'r', got {mode!r}")
        self._recordings = RecordingStore(path, mode)  # creates / checks the root
        self.path = self._recordings.path
        self.mode = mode
        self._views: dict[str, _SetView] = {}
        if mode == "a":
            self._recordings._ensure_group(self._windows_dir, {})
            self.cleanup()

    def __repr__(self) -> str:
        return f"WindowStore({str(self.path)!r}, mode={self.mode!r})"

    # ---------------------------------------------------------------- paths and housekeeping

    @property
    def _windows_dir(self) -> Path:
        return self.path / _WINDOWS

    def _set_dir(self, set_name: str) -> Path:
        return self._windows_dir / encode_key(set_name)

    def _lock_path(self, set_name: str) -> Path:
        return self._windows_dir / f".{encode_key(set_name)}.lock"

    def _require_writable(self) -> None:
        if self.mode != "a":
            raise io.UnsupportedOperation(f"{self.path}: store opened read-only (mode='r')")

    def cleanup(self, grace_s: float = DEFAULT_GRACE_S) -> list[Path]:
        """Remove temporary set directories left in ``windows/`` by crashed writers; returns them.

        Same rule as `RecordingStore.cleanup`: older than ``grace_s`` seconds,
        or made on this host by a process that no longer exists.
        """
        self._require_writable()
        now = time.time()
        removed = []
        try:
            entries = list(os.scandir(self._windows_dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            path = Path(entry.path)
            if _parse_temp(entry.name) is not None and _is_stale(path, grace_s, now):
                logger.info("removing stale temporary directory %s", path)
                _remove(path)
                removed.append(path)
        return removed

    @contextlib.contextmanager
    def _locked(self, set_name: str, timeout_s: float) -> Iterator[None]:
        """Hold the exclusive lock of one set (advisory ``flock`` on ``windows/.<key>.lock``)."""
        if fcntl is None:  # pragma: no cover - non-POSIX
            logger.warning("no fcntl on this platform: appends to %r are not guarded", set_name)
            yield
            return
        lock_path = self._lock_path(set_name)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + max(0.0, timeout_s)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise SetLockedError(
                            f"{self.path}: window set {set_name!r} is locked by another writer ({lock_path}); "
                            "concurrent appends to one set are not supported") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ---------------------------------------------------------------- snapshots

    def _load_attrs(self, set_name: str) -> tuple[Path, dict[str, Any]]:
        path = self._set_dir(set_name)
        try:
            meta = _read_meta(path)
        except FileNotFoundError:
            raise KeyError(f"{self.path}: no window set {set_name!r}; sets: {self.list_sets()}") from None
        attrs = meta.get("attributes") or {}
        required = ["format", "name", "channels", "units", "fs", "window_length", "chunk_rows", "label_map",
                    "tables", "n_committed"]
        if attrs.get("layout", "windows") == "frames":
            required += ["chunk_frames", "n_frames"]
        for field in required:
            if field not in attrs:
                raise ValueError(f"{path / _META_FILE}: window set attribute {field!r} missing")
        if int(attrs["format"]) > WINDOW_SET_FORMAT:
            raise ValueError(f"{path}: window set format {attrs['format']} is newer than this virtimu "
                             f"reads (<= {WINDOW_SET_FORMAT})")
        layout = attrs.get("layout", "windows")
        if layout not in LAYOUT_FORMATS:
            raise ValueError(f"{path / _META_FILE}: unknown window set layout {layout!r}")
        return path, attrs

    def _view(self, set_name: str) -> _SetView:
        view = self._views.get(set_name)
        if view is None:
            path, attrs = self._load_attrs(set_name)
            view = self._views[set_name] = _SetView(path, attrs)
        return view

    def refresh(self, set_name: str | None = None) -> None:
        """Forget cached snapshots (of one set or all) so that other writers' appends become visible."""
        if set_name is None:
            self._views.clear()
        else:
            self._views.pop(set_name, None)

    # ---------------------------------------------------------------- listing

    def list_sets(self) -> list[str]:
        """Sorted names of the window sets."""
        names = []
        try:
            entries = sorted(os.scandir(self._windows_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                attrs = _read_meta(Path(entry.path)).get("attributes") or {}
            except (FileNotFoundError, ValueError):
                continue
            if "n_committed" in attrs:
                names.append(attrs.get("name", decode_key(entry.name)))
        return sorted(names)

    def has_set(self, set_name: str) -> bool:
        """Whether a window set of that name exists."""
        return (self._set_dir(set_name) / _META_FILE).is_file()

    def n_windows(self, set_name: str) -> int:
        """Committed windows of a set (in this object's snapshot)."""
        return self._view(set_name).n

    def chunk_rows(self, set_name: str) -> int:
        """Windows per chunk: of X (layout 'windows'), or that a chunk of frames holds without overlap."""
        return self._view(set_name).chunk_rows

    def info(self, set_name: str) -> dict[str, Any]:
        """The set's attrs (channels, units, fs, window_length, label_map, tables, provenance, ...)."""
        return dict(self._view(set_name).attrs)

    def label_map(self, set_name: str) -> dict[int, str]:
        """{code: name} of the set."""
        return self._view(set_name).label_map

    # ---------------------------------------------------------------- appending

    def append(self, set_name: str, ws: WindowSet, *, mantissa_bits: int | None = None,
               chunk_rows: int | None = None, cname: str = "lz4hc", shuffle: bool | None = None,
               layout: str = DEFAULT_LAYOUT, lock_timeout_s: float = 0.0) -> range:
        """Append the windows of ``ws`` to set ``set_name`` (created on first use); returns the new rows.

        One `appender` session with one batch, committed with ``ws.attrs``.
        Later appends must match the set's window length, channels (the same
        names; columns are reordered by name), units and fs.  Label maps are
        merged by name (see `merge_label_maps`) and ``ws.y`` remapped.
        mantissa_bits: lossy rounding of the signals (1..23 bits, see
        `round_mantissa`), fixed when the set is created; None = lossless.
        chunk_rows: when the set is created, windows per chunk (layout
        'frames': a chunk holds ``chunk_rows * L`` frames; None: about 2 MiB);
        cname: Blosc compressor when the set is created ('lz4hc': fast
        decoding, default; 'zstd': a little smaller, ~5x slower to decode);
        shuffle: Blosc byte shuffle when the set is created (None:
        `default_shuffle`, i.e. only with mantissa_bits; True: ~1.3x smaller,
        ~2.5x slower to decode); layout: 'frames' (default) or 'windows' when
        the set is created (see the module docstring); all four ignored
        afterwards.
        lock_timeout_s: how long to wait for another writer's lock.  Raises
        ValueError for a mismatch, `SetLockedError` if another process is
        appending.
        """
        if not isinstance(ws, WindowSet):
            raise TypeError(f"append({set_name!r}): expected a WindowSet, got {type(ws).__name__}")
        batch_attrs = to_jsonable(ws.attrs, f"WindowSet attrs for set {set_name!r}")
        with self.appender(set_name, mantissa_bits=mantissa_bits, chunk_rows=chunk_rows, cname=cname,
                           shuffle=shuffle, layout=layout, lock_timeout_s=lock_timeout_s) as app:
            app.add(ws)
            return app.commit(batch_attrs)

    @contextlib.contextmanager
    def appender(self, set_name: str, *, mantissa_bits: int | None = None, chunk_rows: int | None = None,
                 cname: str = "lz4hc", shuffle: bool | None = None, layout: str = DEFAULT_LAYOUT,
                 lock_timeout_s: float = 0.0) -> Iterator[WindowAppender]:
        """A `WindowAppender` that streams batches into ``set_name`` and commits them as one append.

        ``with store.appender("train") as app: app.add(ws1); app.add(ws2); app.commit(attrs)``.
        The set's lock is held for the whole block.  Nothing is visible to
        readers before `WindowAppender.commit`; leaving the block without
        committing (or by an exception) discards what was added (a new set
        is not created).  Arguments as in `append`.
        """
        self._require_writable()
        if not isinstance(set_name, str) or not set_name:
            raise ValueError(f"window set name must be a non-empty string, got {set_name!r}")
        if mantissa_bits is not None and not (isinstance(mantissa_bits, (int, np.integer))
                                              and 1 <= mantissa_bits <= 23):
            raise ValueError(f"mantissa_bits must be an integer in 1..23 or None, got {mantissa_bits!r}")
        if chunk_rows is not None and not (isinstance(chunk_rows, (int, np.integer)) and chunk_rows >= 1):
            raise ValueError(f"chunk_rows must be a positive integer or None, got {chunk_rows!r}")
        if cname not in CODEC_LEVELS:
            raise ValueError(f"cname must be one of {sorted(CODEC_LEVELS)}, got {cname!r}")
        if layout not in LAYOUT_FORMATS:
            raise ValueError(f"layout must be one of {sorted(LAYOUT_FORMATS)}, got {layout!r}")
        with self._locked(set_name, lock_timeout_s):
            if shuffle is None:
                shuffle = default_shuffle(mantissa_bits)
            app = WindowAppender(self, set_name, mantissa_bits=mantissa_bits, chunk_rows=chunk_rows, cname=cname,
                                 shuffle=bool(shuffle), layout=layout)
            try:
                yield app
            finally:
                app._close()
        self._views.pop(set_name, None)

    @staticmethod
    def _create_set(path: Path, set_name: str, ws: WindowSet, mantissa_bits: int | None, chunk_rows: int | None,
                    cname: str, shuffle: bool, layout: str) -> None:
        """An empty set group at ``path`` (n_committed 0) with the layout of ``ws``."""
        _, L, C = ws.X.shape
        fs = float(ws.fs)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"window set {set_name!r}: fs must be a positive number of Hz, got {ws.fs!r}")
        attrs: dict[str, Any] = {
            "format": LAYOUT_FORMATS[layout],
            "layout": layout,
            "name": set_name,
            "channels": [str(c) for c in ws.channels],
            "units": [str(u) for u in ws.units],
            "fs": fs,
            "window_length": int(L),
        }
        if layout == "frames":
            frames = chunk_frames_for(L, C) if chunk_rows is None else max(int(chunk_rows), 1) * int(L)
            attrs.update(chunk_rows=frames // int(L), chunk_frames=frames, n_frames=0)
        else:
            rows = chunk_rows_for(L, C) if chunk_rows is None else int(chunk_rows)
            attrs["chunk_rows"] = rows
        attrs.update({
            "compression": {"codec": "blosc", "cname": cname, "clevel": CODEC_LEVELS[cname],
                            "shuffle": "shuffle" if shuffle else "noshuffle"},
            "mantissa_bits": None if mantissa_bits is None else int(mantissa_bits),
            "label_map": {},
            "tables": {f: [] for f in CODED_FIELDS},
            "config": None,
            "provenance": [],
            "created_by": {"virtimu": __version__},
            "n_committed": 0,
        })
        group = zarr.open_group(path, mode="w-", zarr_format=3, attributes=attrs)
        if layout == "frames":
            group.create_array("frames", shape=(0, max(C, 1)), dtype="float32",
                               chunks=(attrs["chunk_frames"], max(C, 1)),
                               compressors=[_compressor(cname, shuffle)], fill_value=0.0)
        else:
            group.create_array("X", shape=(0, L, C), dtype="float32", chunks=(attrs["chunk_rows"], L, max(C, 1)),
                               compressors=[_compressor(cname, shuffle)], fill_value=0.0)
        columns = [("y", "int64"), ("start", "int64"), *((f, "int32") for f in CODED_FIELDS)]
        if layout == "frames":
            columns.append(("frame_start", "int64"))
        for name, dtype in columns:
            group.create_array(name, shape=(0,), dtype=dtype, chunks=(META_CHUNK_ROWS,),
                               compressors=[_compressor()], fill_value=0)

    @staticmethod
    def _commit(group: zarr.Group, new_attrs: dict[str, Any]) -> None:
        """The commit point: one atomic rewrite of the set's zarr.json (temp file + rename by zarr)."""
        group.attrs.update(new_attrs)

    @staticmethod
    def _matching_X(ws: WindowSet, attrs: dict[str, Any], where: str) -> np.ndarray:
        """``ws.X`` with columns in the set's channel order; ValueError naming the mismatch."""
        L = int(attrs["window_length"])
        if ws.X.shape[1] != L:
            raise ValueError(f"{where}: window length {ws.X.shape[1]} does not match the set's {L}")
        fs = float(attrs["fs"])
        if not np.isclose(float(ws.fs), fs, rtol=1e-9, atol=0.0):
            raise ValueError(f"{where}: fs {ws.fs} Hz does not match the set's {fs} Hz")
        stored = list(attrs["channels"])
        channels = [str(c) for c in ws.channels]
        if channels != stored:
            missing = [c for c in stored if c not in channels]
            extra = [c for c in channels if c not in stored]
            if missing or extra or len(set(channels)) != len(channels):
                raise ValueError(f"{where}: channels do not match; missing {missing}, unexpected {extra} "
                                 f"(set channels: {stored})")
        order = [channels.index(c) for c in stored]
        units = [str(ws.units[i]) for i in order]
        if units != list(attrs["units"]):
            bad = [f"{c}: {u!r} != {s!r}" for c, u, s in zip(stored, units, attrs["units"], strict=True) if u != s]
            raise ValueError(f"{where}: units do not match the set's ({', '.join(bad)})")
        X = ws.X if order == list(range(len(order))) else ws.X[:, :, order]
        return np.ascontiguousarray(X, dtype=np.float32)

    def delete_set(self, set_name: str, lock_timeout_s: float = 0.0) -> None:
        """Remove a window set (renamed aside first, so it disappears at once); KeyError if absent."""
        self._require_writable()
        with self._locked(set_name, lock_timeout_s):
            final = self._set_dir(set_name)
            aside = final.parent / _temp_name(final.name)
            try:
                os.rename(final, aside)
            except FileNotFoundError:
                raise KeyError(f"{self.path}: no window set {set_name!r}") from None
            _remove(aside)
        self._views.pop(set_name, None)
        logger.info("deleted window set %r from %s", set_name, self.path)

    # ---------------------------------------------------------------- reading

    def layout(self, set_name: str) -> ChunkLayout:
        """Where each committed window lies in the decoded chunks (`ChunkLayout`), for chunk-wise readers."""
        return self._view(set_name).layout()

    def frames_reader(self, set_name: str) -> Callable[..., np.ndarray]:
        """``read(chunk, out=None)``: the decoded (chunk_frames, C) buffer of a chunk (see `read_frames`).

        Safe to call from several threads at once on the direct Blosc path.
        """
        view = self._view(set_name)
        view.layout()
        return view.read_frames

    def read_frames(self, set_name: str, chunk: int, out: np.ndarray | None = None) -> np.ndarray:
        """The decoded buffer (chunk_frames, C) float32 of chunk ``chunk``; window i of that chunk is
        ``buffer[layout.offset[i] : layout.offset[i] + L]``.  Decoded into ``out`` when given."""
        view = self._view(set_name)
        lay = view.layout()
        if not 0 <= chunk < lay.n_chunks:
            raise IndexError(f"{self.path}: window set {set_name!r} has no chunk {chunk} ({lay.n_chunks} chunks)")
        return view.read_frames(int(chunk), out)

    def read_chunk(self, set_name: str, chunk: int) -> np.ndarray:
        """The committed windows of chunk ``chunk`` in row order, float32 (k, L, C)."""
        view = self._view(set_name)
        if not 0 <= chunk < view.layout().n_chunks:
            raise IndexError(f"{self.path}: window set {set_name!r} has no chunk {chunk} "
                             f"({view.n} windows in {view.layout().n_chunks} chunks)")
        return view.read_chunk(int(chunk))

    def _rows(self, view: _SetView, idx: np.ndarray | None, set_name: str) -> np.ndarray:
        if idx is None:
            return np.arange(view.n, dtype=np.int64)
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (view.n,):
                raise IndexError(f"window set {set_name!r}: boolean mask of shape {idx.shape}, expected ({view.n},)")
            return np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise IndexError(f"window set {set_name!r}: idx must be a 1-D integer array, got {idx.dtype} {idx.shape}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= view.n):
            raise IndexError(f"window set {set_name!r}: indices must lie in [0, {view.n}), "
                             f"got [{idx.min()}, {idx.max()}]")
        return idx

    @staticmethod
    def _read_X(view: _SetView, rows: np.ndarray) -> np.ndarray:
        """X at ``rows`` (k, L, C): each needed chunk is decoded once, then the windows are gathered."""
        out = np.empty((rows.size, view.window_length, view.n_channels), dtype=np.float32)
        lay = view.layout()
        scratch = np.empty((lay.chunk_frames, lay.n_channels), dtype=np.float32)  # reused: one chunk at a time
        return gather_windows(rows, lay, lambda c: view.read_frames(c, scratch), out)

    def meta(self, set_name: str) -> WindowMeta:
        """Per-window metadata (y, start, subject, recording, source) without X; cached per snapshot."""
        view = self._view(set_name)
        if view._meta is None:
            n = view.n
            codes = {f: np.asarray(view.array(f)[:n], dtype=np.int32) for f in CODED_FIELDS}
            view._meta = WindowMeta(
                y=np.asarray(view.array("y")[:n], dtype=np.int64),
                start=np.asarray(view.array("start")[:n], dtype=np.int64),
                codes=codes,
                tables={f: list(view.attrs["tables"][f]) for f in CODED_FIELDS},
                label_map=view.label_map,
            )
        return view._meta

    def labels(self, set_name: str) -> np.ndarray:
        """(N,) int64 label codes of the set."""
        return self.meta(set_name).y

    def read(self, set_name: str, idx: np.ndarray | None = None) -> WindowSet:
        """The windows at ``idx`` (int indices in any order, or a boolean mask; None = all) as a WindowSet.

        X is read chunk-wise: each chunk holding a requested window is
        decompressed once.  attrs of the result: set, store, config, provenance.
        """
        view = self._view(set_name)
        rows = self._rows(view, idx, set_name)
        meta = self.meta(set_name)
        X = view.read_all() if idx is None else self._read_X(view, rows)
        attrs = view.attrs
        return WindowSet(
            X=X, y=meta.y[rows], subject=meta.decode("subject", rows), recording=meta.decode("recording", rows),
            start=meta.start[rows], source=meta.decode("source", rows), channels=list(attrs["channels"]),
            units=list(attrs["units"]), fs=float(attrs["fs"]), label_map=view.label_map,
            attrs={"set": attrs["name"], "store": str(self.path), "config": attrs.get("config"),
                   "provenance": attrs.get("provenance", [])},
        )

    def to_numpy(self, set_name: str) -> tuple[np.ndarray, np.ndarray]:
        """(X (N, L, C) float32, y (N,) int64) of the whole set."""
        return self._view(set_name).read_all(), self.labels(set_name)

    # ---------------------------------------------------------------- summary

    def summary(self, set_name: str) -> dict[str, Any]:
        """Counts of one set (no X is read).

        Keys: name, n_windows, window_length, n_channels, channels, units, fs,
        label_map, sources (sorted), classes ({class name: {source: windows}},
        classes in code order, every class of the label map listed),
        subjects ({subject: {class name: windows}}, '' for unknown), appends.
        """
        view = self._view(set_name)
        meta = self.meta(set_name)
        attrs = view.attrs
        label_map = view.label_map
        names = [label_map[c] for c in sorted(label_map)]
        sources = list(meta.tables["source"])
        subjects = list(meta.tables["subject"])
        by_source = _pair_counts(meta.y, meta.codes["source"])
        by_subject = _pair_counts(meta.y, meta.codes["subject"])
        present_sources = sorted({sources[s] for (_, s) in by_source})
        classes = {name: {} for name in names}
        for (code, s), count in by_source.items():
            row = classes.setdefault(label_map.get(code, str(code)), {})
            row[sources[s]] = row.get(sources[s], 0) + count
        per_subject: dict[str, dict[str, int]] = {}
        for (code, s), count in sorted(by_subject.items(), key=lambda kv: (subjects[kv[0][1]], kv[0][0])):
            row = per_subject.setdefault(subjects[s], {})
            name = label_map.get(code, str(code))
            row[name] = row.get(name, 0) + count
        return {
            "name": attrs["name"],
            "n_windows": len(meta),
            "window_length": int(attrs["window_length"]),
            "n_channels": len(attrs["channels"]),
            "channels": list(attrs["channels"]),
            "units": list(attrs["units"]),
            "fs": float(attrs["fs"]),
            "label_map": label_map,
            "sources": present_sources,
            "classes": classes,
            "subjects": dict(sorted(per_subject.items())),
            "appends": len(attrs.get("provenance", [])),
        }


# --------------------------------------------------------------------------- streaming writer


class _RowWriter:
    """Appends rows to a zarr array from row ``start`` on, writing whole chunks where it can.

    At most one chunk of rows plus the last batch is held in memory.  The
    array is resized as rows are written (which also drops an uncommitted
    tail left by a killed writer).
    """

    def __init__(self, array: zarr.Array, start: int) -> None:
        self.array = array
        self.chunk = int(array.chunks[0])
        self.written = int(start)
        self._pending: list[np.ndarray] = []
        self._n_pending = 0

    @property
    def end(self) -> int:
        """Row after the last row written or pending."""
        return self.written + self._n_pending

    def write(self, rows: np.ndarray) -> None:
        """Queue ``rows`` (k, ...); every complete chunk is written at once."""
        if not len(rows):
            return
        self._pending.append(rows)
        self._n_pending += len(rows)
        aligned = (self.end // self.chunk) * self.chunk
        if aligned > self.written:
            self._flush(aligned - self.written)

    def close(self) -> None:
        """Write what is pending; the array then has exactly ``end`` rows."""
        self._flush(self._n_pending)
        if self.array.shape[0] != self.written:
            self.array.resize((self.written, *self.array.shape[1:]))

    def _flush(self, k: int) -> None:
        if k <= 0:
            return
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        new_end = self.written + k
        if self.array.shape[0] != new_end:
            self.array.resize((new_end, *self.array.shape[1:]))
        self.array[self.written:new_end] = data[:k]
        self.written = new_end
        rest = data[k:]
        self._pending = [rest] if len(rest) else []
        self._n_pending = len(rest)


class WindowAppender:
    """Streams `WindowSet` batches into one window set; `commit` makes all of them visible at once.

    Made by `WindowStore.appender`, which holds the set's lock.  `add` writes
    a batch's signals after the committed rows right away (chunk by chunk:
    memory stays about one chunk plus one batch); the per-window columns (y,
    start, subject / recording / source codes and, layout 'frames',
    frame_start: 28 to 36 bytes a window) stay in memory until `commit`.
    ``commit(attrs)`` writes them, merges label map and string tables and
    commits with one provenance entry, exactly as one `WindowStore.append`
    of the concatenated batches would: streaming a run batch by batch gives
    the same set.  Batches may use different label maps (merged by name,
    `merge_label_maps`).  Without a commit (killed process, exception,
    leaving the ``with`` block) nothing becomes visible.
    """

    def __init__(self, store: WindowStore, set_name: str, *, mantissa_bits: int | None, chunk_rows: int | None,
                 cname: str, shuffle: bool, layout: str) -> None:
        self._store = store
        self.set_name = set_name
        self._where = f"{store.path}: window set {set_name!r}"
        self._options = {"mantissa_bits": mantissa_bits, "chunk_rows": chunk_rows, "cname": cname,
                         "shuffle": shuffle, "layout": layout}
        final = store._set_dir(set_name)
        self._final = final
        self._new = not (final / _META_FILE).is_file()
        self._path = final.parent / _temp_name(final.name) if self._new else final
        self._attrs: dict[str, Any] | None = None
        self._group: zarr.Group | None = None
        self._writer: _RowWriter | None = None
        if not self._new:
            _, attrs = store._load_attrs(set_name)
            stored_bits = attrs.get("mantissa_bits")
            if mantissa_bits is not None and mantissa_bits != stored_bits:
                raise ValueError(f"{self._where} was created with mantissa_bits={stored_bits}, got {mantissa_bits}")
            self._open(attrs)
        self._label_map: dict[int, str] = {}
        self._tables: dict[str, list[str]] = {f: [] for f in CODED_FIELDS}
        self._columns: dict[str, list[np.ndarray]] = {k: [] for k in ("y", "start", *CODED_FIELDS, "frame_start")}
        self._tail: _Tail | None = None
        self._next_frame = 0 if self._attrs is None else int(self._attrs.get("n_frames", 0))
        self.n_added = 0
        self.committed = False
        self._closed = False

    def _open(self, attrs: dict[str, Any]) -> None:
        self._attrs = attrs
        self._group = zarr.open_group(self._path, mode="r+")
        self.layout = str(attrs.get("layout", "windows"))
        if self.layout == "frames":
            self._writer = _RowWriter(self._group["frames"], int(attrs["n_frames"]))
        else:
            self._writer = _RowWriter(self._group["X"], int(attrs["n_committed"]))

    def add(self, ws: WindowSet) -> None:
        """Write the windows of ``ws`` (not visible before `commit`).

        Raises ValueError when ``ws`` does not match the set (window length,
        channels by name, units, fs), as `WindowStore.append` does.
        """
        if self._closed or self.committed:
            raise RuntimeError(f"{self._where}: this appender is closed")
        if not isinstance(ws, WindowSet):
            raise TypeError(f"{self._where}: expected a WindowSet, got {type(ws).__name__}")
        if self._attrs is None:
            opts = self._options
            self._store._create_set(self._path, self.set_name, ws, opts["mantissa_bits"], opts["chunk_rows"],
                                    opts["cname"], opts["shuffle"], opts["layout"])
            self._open(_read_meta(self._path).get("attributes") or {})
        attrs = self._attrs
        X = WindowStore._matching_X(ws, attrs, self._where)
        if attrs.get("mantissa_bits") is not None:
            X = round_mantissa(X, int(attrs["mantissa_bits"]))
        self._label_map, remap = merge_label_maps(self._label_map, ws.label_map)
        self._columns["y"].append(remap_codes(ws.y, remap))
        self._columns["start"].append(ws.start.astype(np.int64))
        for f in CODED_FIELDS:
            self._columns[f].append(_encode_strings(getattr(ws, f), self._tables[f]))
        m = len(ws)
        if self.layout == "frames":
            L = int(attrs["window_length"])
            shift = overlap_shifts(X, ws.recording, ws.source, ws.start, self._tail)
            starts, n_new, pad, self._next_frame = place_frames(
                shift, L, int(attrs["chunk_frames"]), self._next_frame, -1 if self._tail is None else self._tail.frame)
            self._writer.write(new_frame_rows(X, n_new, pad))
            self._columns["frame_start"].append(starts)
            if m:
                self._tail = _Tail(bits=X[-1].view(np.uint32).copy(), recording=str(ws.recording[-1]),
                                   source=str(ws.source[-1]), start=int(ws.start[-1]), frame=int(starts[-1]))
        else:
            self._writer.write(X)
        self.n_added += m

    def commit(self, attrs: dict[str, Any] | None = None) -> range:
        """Write the per-window columns and commit everything added; returns the new rows.

        attrs: attributes of the committed windows (JSON-able), recorded in
        the provenance entry; its 'config' becomes the set's config when the
        set is created (a different config later is kept in the entry, with a
        warning).  A new set is moved into place here.
        """
        if self._closed or self.committed:
            raise RuntimeError(f"{self._where}: this appender is closed")
        if self._attrs is None:
            raise ValueError(f"{self._where}: nothing to commit (no batch was added)")
        batch_attrs = to_jsonable(dict(attrs or {}), f"attrs for set {self.set_name!r}")
        set_attrs = self._attrs
        self._writer.close()

        stored_map = {int(c): n for c, n in set_attrs["label_map"].items()}
        label_map, remap = merge_label_maps(stored_map, self._label_map)
        cols = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in self._columns.items()}
        cols["y"] = remap_codes(cols["y"], remap)
        tables = {}
        for f in CODED_FIELDS:
            stored = list(set_attrs["tables"][f])
            known = set(stored)
            final = stored + sorted(s for s in self._tables[f] if s not in known)
            index = {s: i for i, s in enumerate(final)}
            translate = np.array([index[s] for s in self._tables[f]], dtype=np.int32)
            cols[f] = translate[cols[f]] if cols[f].size else cols[f].astype(np.int32)
            tables[f] = final
        if self.layout != "frames":
            del cols["frame_start"]

        n0 = int(set_attrs["n_committed"])
        n1 = n0 + self.n_added
        for name, data in cols.items():
            array = self._group[name]
            if array.shape[0] != n1:  # also drops an uncommitted tail left by a killed writer
                array.resize((n1,))
            if self.n_added:
                array[n0:n1] = data
        entry = {
            "rows": [n0, n1],
            "n_windows": self.n_added,
            "sources": sorted(self._tables["source"]),
            "recordings": sorted(self._tables["recording"]),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "virtimu": __version__,
            "attrs": {k: v for k, v in batch_attrs.items() if k != "config"},
        }
        if any(k != v for k, v in remap.items()):
            entry["label_remap"] = {str(k): v for k, v in remap.items() if k != v}
        new_attrs: dict[str, Any] = {
            "label_map": {str(c): n for c, n in label_map.items()},
            "tables": tables,
            "provenance": [*set_attrs.get("provenance", []), entry],
            "n_committed": n1,
        }
        if self._new:
            new_attrs["config"] = batch_attrs.get("config")
        elif "config" in batch_attrs and batch_attrs["config"] != set_attrs.get("config"):
            entry["config"] = batch_attrs["config"]
            if set_attrs.get("provenance"):
                logger.warning("%s: appended windows were made with a different config (kept in provenance)",
                               self._where)
        if self.layout == "frames":
            new_attrs["n_frames"] = int(self._writer.end)
        WindowStore._commit(self._group, new_attrs)
        if self._new:
            if not _publish_dir(self._path, self._final):
                raise RuntimeError(f"{self._final}: window set appeared while its lock was held")
            logger.info("created window set %r in %s", self.set_name, self._store.path)
        self.committed = True
        logger.debug("committed %d windows to %r (rows %d..%d)", self.n_added, self.set_name, n0, n1)
        return range(n0, n1)

    def _close(self) -> None:
        """End the session: a new set that was not committed is removed."""
        if self._closed:
            return
        self._closed = True
        if self._new and not self.committed:
            _remove(self._path)


def _pair_counts(y: np.ndarray, codes: np.ndarray) -> dict[tuple[int, int], int]:
    """{(label code, string code): windows}."""
    if y.size == 0:
        return {}
    pairs, counts = np.unique(np.stack([y.astype(np.int64), codes.astype(np.int64)], axis=1), axis=0,
                              return_counts=True)
    return {(int(a), int(b)): int(n) for (a, b), n in zip(pairs, counts)}


# --------------------------------------------------------------------------- text view


def _count_table(corner: str, rows: dict[str, dict[str, int]], columns: list[str]) -> str:
    """A right-aligned count table: one line per row key, one column per name, plus 'total'."""
    header = [corner, *columns, "total"]
    body = []
    for key, counts in rows.items():
        cells = [counts.get(c, 0) for c in columns]
        body.append([key or "(unknown)", *(str(v) if v else "." for v in cells), str(sum(cells))])
    totals = [sum(counts.get(c, 0) for counts in rows.values()) for c in columns]
    footer = ["total", *(str(v) for v in totals), str(sum(totals))]
    table = [header, *body, footer]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def render(line: list[str]) -> str:
        return "  ".join([line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:], widths[1:]))]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in body), rule, render(footer)])


def format_summary(summary: dict[str, Any]) -> str:
    """Plain text of `WindowStore.summary`: a header line, a class x source table, a subject x class table."""
    head = (f"window set {summary['name']!r}: {summary['n_windows']} windows x {summary['window_length']} frames x "
            f"{summary['n_channels']} channels at {summary['fs']:g} Hz ({summary['appends']} appends)")
    if not summary["n_windows"]:
        return head
    class_names = list(summary["classes"])
    classes = _count_table("class", summary["classes"], list(summary["sources"]))
    used = [c for c in class_names if any(c in row for row in summary["subjects"].values())]
    subjects = _count_table("subject", summary["subjects"], used)
    return f"{head}\n\n{classes}\n\n{subjects}"
