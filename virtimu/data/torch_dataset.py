"""A streaming torch view of a stored window set.

Random access to single windows of a compressed Zarr array costs a chunk
decompression each (about 1000x a memmap read), so this module reads whole
chunks and shuffles in a way that uses each decoded chunk fully:

- `WindowDataset`: map-style dataset over (a subset of) a set's windows,
  ``dataset[i] -> (x float32 (L, C), y int64 scalar)``; ``dataset[list]``
  and ``__getitems__`` serve a whole batch with one gather.  Decoded chunks
  are kept in a small LRU cache (never the whole set).
- `ChunkShuffleSampler`: a batch sampler.  Each epoch it shuffles the order of
  the chunks, cuts them into groups of ``shuffle_within`` chunks and shuffles
  the windows inside each group, so a chunk is decoded once per epoch while
  batches mix windows of ``shuffle_within`` random chunks.  With
  ``num_workers`` W > 1 the groups are dealt to W streams and batch k comes
  from stream k mod W, matching `DataLoader`'s round-robin dispatch, so each
  worker decodes only its own chunks.
- `WindowLoader` (built by `make_loader`): iterates the batches.  In-process
  (``num_workers=0``) it plans the epoch, decodes the chunks it will need in
  background threads (Blosc releases the GIL) into slots of one reusable
  buffer and gathers every batch with a single copy; with workers it runs a
  torch `DataLoader` over the dataset and the sampler.

Shuffling granularity: a chunk is about 2 MiB of consecutive windows in the
order they were appended (with the store's 'frames' layout and 50 % overlap,
~480 windows of 60 x 36; mostly a few neighbouring recordings).  An epoch
visits every window exactly once; the chunk order is a fresh random
permutation each epoch, and a batch draws its windows uniformly from the
``shuffle_within`` chunks of its group (~1,900 windows with the defaults),
not from the whole set.  Raise ``shuffle_within`` for better mixing (memory:
about ``2 * shuffle_within + prefetch`` decoded chunks of 2 MiB).

Everything is deterministic given the seed (and the epoch).  The zarr store is
opened lazily in each process (also in each loader worker).
"""
from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler

from virtimu.store.windows import WindowStore, windows_from_frames

logger = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], torch.Tensor]

#: Most decoded chunks a `WindowLoader` plan may hold at once before it falls back to the dataset's LRU cache.
MAX_PLANNED_CHUNKS = 64


class WindowDataset(Dataset):
    """Windows of one stored set, read chunk-wise through an LRU cache of decoded chunks.

    store_path: virtimu Zarr store.  set_name: window set in it.
    indices: (n,) store rows served as positions 0..n-1 (any order; None =
        every committed window at construction time).
    transform: optional function applied to each x tensor (L, C).
    cache_chunks: decoded chunks kept per process (each ~2 MiB).

    ``self[i]`` is ``(x, y)``: x float32 tensor (L, C), y int64 0-d tensor.
    Attributes: y ((n,) int64 labels of the served windows), label_map,
    channels, units, fs, window_length, chunk_rows, chunk_frames (rows of a
    decoded chunk buffer), chunk_loads (chunks decoded by this process so far).
    """

    def __init__(self, store_path: str | os.PathLike, set_name: str, indices: Sequence[int] | np.ndarray | None = None,
                 transform: Transform | None = None, cache_chunks: int = 8) -> None:
        if int(cache_chunks) < 1:
            raise ValueError(f"cache_chunks must be >= 1, got {cache_chunks!r}")
        self.store_path = os.fspath(store_path)
        self.set_name = set_name
        self.transform = transform
        self.cache_chunks = int(cache_chunks)
        store = WindowStore(self.store_path, mode="r")
        info = store.info(set_name)
        n_total = store.n_windows(set_name)
        if indices is None:
            rows = np.arange(n_total, dtype=np.int64)
        else:
            rows = np.asarray(indices)
            if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
                raise ValueError(f"WindowDataset({set_name!r}): indices must be a 1-D integer array, "
                                 f"got {rows.dtype} {rows.shape}")
            rows = rows.astype(np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= n_total):
                raise IndexError(f"WindowDataset({set_name!r}): indices must lie in [0, {n_total}), "
                                 f"got [{rows.min()}, {rows.max()}]")
        layout = store.layout(set_name)
        self.indices = rows
        self.y = store.labels(set_name)[rows]
        self.label_map = store.label_map(set_name)
        self.channels = list(info["channels"])
        self.units = list(info["units"])
        self.fs = float(info["fs"])
        self.window_length = int(info["window_length"])
        self.chunk_rows = store.chunk_rows(set_name)
        self.chunk_frames = int(layout.chunk_frames)
        self._chunk_of = layout.chunk[rows]
        self._offset = layout.offset[rows]
        self.chunk_loads = 0
        self._store: WindowStore | None = store
        self._pid = os.getpid()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    # ---------------------------------------------------------------- pickling / per-process state

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_store"] = None
        state["_cache"] = OrderedDict()
        return state

    def _store_here(self) -> WindowStore:
        """The store opened in this process (reopened after a fork or unpickling)."""
        if self._store is None or self._pid != os.getpid():
            self._store = WindowStore(self.store_path, mode="r")
            self._pid = os.getpid()
            self._cache = OrderedDict()
            self.chunk_loads = 0
        return self._store

    def frames_reader(self) -> Callable[..., np.ndarray]:
        """``read(chunk, out=None) -> (chunk_frames, C)`` decoded buffer; callable from several threads."""
        return self._store_here().frames_reader(self.set_name)

    def _chunk(self, chunk: int) -> np.ndarray:
        """Decoded buffer (chunk_frames, C) of chunk ``chunk`` (LRU-cached)."""
        store = self._store_here()
        data = self._cache.get(chunk)
        if data is not None:
            self._cache.move_to_end(chunk)
            return data
        data = store.read_frames(self.set_name, chunk)
        self.chunk_loads += 1
        self._cache[chunk] = data
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return data

    # ---------------------------------------------------------------- dataset protocol

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def chunk_ids(self) -> np.ndarray:
        """(n,) chunk of the store holding each served window."""
        return self._chunk_of

    def offsets(self) -> np.ndarray:
        """(n,) first row of each served window in its decoded chunk buffer."""
        return self._offset

    def _sample(self, x: np.ndarray, y: int) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.from_numpy(x)
        if self.transform is not None:
            xt = self.transform(xt)
        return xt, torch.tensor(y, dtype=torch.int64)

    def __getitem__(self, i: int | Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """One sample (x (L, C), y 0-d) for an int; a whole batch (`batch`) for a sequence of positions."""
        if not isinstance(i, (int, np.integer)):
            return self.batch(i)
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"WindowDataset({self.set_name!r}): index {i} out of range for {n} windows")
        o = int(self._offset[i])
        x = np.array(self._chunk(int(self._chunk_of[i]))[o:o + self.window_length], dtype=np.float32)
        return self._sample(x, int(self.y[i]))

    def _gather(self, positions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(X (k, L, C) float32, y (k,) int64) at dataset positions; each needed chunk fetched once."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if pos.size and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise IndexError(f"WindowDataset({self.set_name!r}): positions out of range for {len(self)} windows")
        chunks = self._chunk_of[pos]
        uniq = np.unique(chunks)
        if uniq.size == 1:  # one copy
            return windows_from_frames(self._chunk(int(uniq[0])), self._offset[pos], self.window_length), self.y[pos]
        X = np.empty((pos.size, self.window_length, len(self.channels)), dtype=np.float32)
        for c in uniq.tolist():
            sel = np.flatnonzero(chunks == c)
            X[sel] = windows_from_frames(self._chunk(c), self._offset[pos[sel]], self.window_length)
        return X, self.y[pos]

    def collate(self, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(X (k, L, C), y (k,)) as tensors, the transform applied per window."""
        xt = torch.from_numpy(X)
        if self.transform is not None:
            xt = torch.stack([self.transform(x) for x in xt]) if len(xt) else xt
        return xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))

    def batch(self, positions: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """A collated batch: (X (k, L, C) float32, y (k,) int64); the transform is applied per window."""
        return self.collate(*self._gather(positions))

    def __getitems__(self, positions: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Samples at ``positions`` (used by a DataLoader with automatic batching)."""
        X, y = self._gather(positions)
        return [self._sample(X[k], int(y[k])) for k in range(len(y))]


class ChunkShuffleSampler(Sampler[list[int]]):
    """Batch sampler that shuffles chunk groups, so each chunk is decompressed ~once per epoch.

    dataset: a `WindowDataset` (uses ``chunk_ids()``).  batch_size: windows
    per batch.  seed: base seed; epoch e uses ``default_rng([seed, e])``.
    shuffle_within: chunks whose windows are mixed together (keep
        ``dataset.cache_chunks >= 2 * shuffle_within`` so a group and its
        neighbour fit in the cache).
    num_workers: the DataLoader's workers (0 or 1: one stream).
    drop_last: drop the final incomplete batch.

    Yields lists of dataset positions; every position appears exactly once
    per epoch.  Inside a batch the positions are ordered by chunk (the
    batch's content is random, its order carries no information).  ``len``
    is ceil(n / batch_size) (floor with drop_last).  The epoch advances
    after each full iteration; `set_epoch` sets it.
    """

    def __init__(self, dataset: WindowDataset, batch_size: int, seed: int = 0, shuffle_within: int = 4,
                 num_workers: int = 0, drop_last: bool = False) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if int(shuffle_within) < 1:
            raise ValueError(f"shuffle_within must be >= 1, got {shuffle_within!r}")
        if int(num_workers) < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle_within = int(shuffle_within)
        self.n_streams = max(1, int(num_workers))
        self.drop_last = bool(drop_last)
        self.epoch = 0
        chunk_ids = np.asarray(dataset.chunk_ids(), dtype=np.int64)
        self._chunk_of = chunk_ids
        self.n = int(chunk_ids.size)
        order = np.argsort(chunk_ids, kind="stable")
        cuts = np.flatnonzero(np.diff(chunk_ids[order])) + 1
        #: positions of the dataset per chunk, in chunk order
        self._by_chunk: list[np.ndarray] = np.split(order, cuts) if self.n else []
        cache = getattr(dataset, "cache_chunks", None)
        if cache is not None and cache < 2 * self.shuffle_within:
            logger.warning("ChunkShuffleSampler: cache_chunks=%d < 2 * shuffle_within=%d; chunks may be "
                           "decompressed more than once per epoch", cache, 2 * self.shuffle_within)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` on the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The batches (arrays of positions) of one epoch, without advancing the epoch."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        B, W = self.batch_size, self.n_streams
        chunk_order = rng.permutation(len(self._by_chunk))
        groups = []
        for g in range(0, len(chunk_order), self.shuffle_within):
            members = np.concatenate([self._by_chunk[c] for c in chunk_order[g:g + self.shuffle_within]])
            groups.append(rng.permutation(members))
        # deal the groups to W streams (fewest windows first), one stream per loader worker
        streams: list[list[np.ndarray]] = [[] for _ in range(W)]
        sizes = [0] * W
        for group in groups:
            w = int(np.argmin(sizes))
            streams[w].append(group)
            sizes[w] += group.size
        full: list[list[np.ndarray]] = []
        leftovers = []
        for parts in streams:
            flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            n_full = flat.size // B
            full.append([flat[k * B:(k + 1) * B] for k in range(n_full)])
            leftovers.append(flat[n_full * B:])
        # batch k from stream k mod W (the DataLoader sends batch k to worker k mod W)
        batches = []
        cursor = [0] * W
        for k in range(sum(len(f) for f in full)):
            w = k % W
            if cursor[w] >= len(full[w]):
                w = int(np.argmax([len(f) - c for f, c in zip(full, cursor)]))
            batches.append(full[w][cursor[w]])
            cursor[w] += 1
        tail = np.concatenate(leftovers) if leftovers else np.zeros(0, dtype=np.int64)
        for a in range(0, tail.size, B):
            if tail.size - a < B and self.drop_last:
                break
            batches.append(tail[a:a + B])
        # order each batch by chunk (its content stays random; stable): the dataset then copies one run per chunk
        if not batches:
            return []
        sizes = np.array([b.size for b in batches])
        flat = np.concatenate(batches)
        flat = flat[np.lexsort((self._chunk_of[flat], np.repeat(np.arange(len(batches)), sizes)))]
        return np.split(flat, np.cumsum(sizes)[:-1])

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        for batch in batches:
            yield batch.tolist()
        self.epoch += 1


class _EpochPlan:
    """The decoding schedule of one epoch: which chunks each batch needs, when each chunk is decoded and into
    which slot of the loader's buffer, and where each window of the epoch then lies in that buffer.

    batches: list of (k,) dataset positions.  chunk_of / offset: (n,) chunk
    and buffer row of each position.  chunk_frames: rows per slot.
    prefetch: extra slots; ahead: decode chunks as soon as a slot is free
    (background decoding) instead of when first needed.  Chunks are decoded
    in the order of their first use and keep their slot until their last
    batch, so each is decoded once.  Attributes: peak (chunks in use at
    once), slots, start (decoding to start before batch b: lists of
    chunks), first (per batch: chunks first needed there), slot_of ({chunk:
    slot}), positions ((total,) buffer rows of the windows, batch after
    batch), bounds ((n_batches + 1,) offsets of each batch in positions),
    flat ((total,) dataset positions, batch after batch).
    """

    def __init__(self, batches: list[np.ndarray], chunk_of: np.ndarray, offset: np.ndarray, chunk_frames: int,
                 prefetch: int, ahead: bool) -> None:
        nb = len(batches)
        sizes = np.array([b.size for b in batches], dtype=np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.flat = np.concatenate(batches).astype(np.int64) if nb else np.zeros(0, dtype=np.int64)
        chunks = chunk_of[self.flat]
        n_ids = int(chunks.max()) + 1 if chunks.size else 1
        pairs = np.unique(np.repeat(np.arange(nb, dtype=np.int64), sizes) * n_ids + chunks)
        pair_batch, pair_chunk = pairs // n_ids, pairs % n_ids
        used = np.unique(pair_chunk)
        first = np.full(n_ids, nb, dtype=np.int64)
        last = np.full(n_ids, -1, dtype=np.int64)
        np.minimum.at(first, pair_chunk, pair_batch)
        np.maximum.at(last, pair_chunk, pair_batch)
        order = used[np.lexsort((used, first[used]))]
        delta = np.zeros(nb + 1, dtype=np.int64)
        np.add.at(delta, first[used], 1)
        np.add.at(delta, last[used] + 1, -1)
        self.peak = int(np.cumsum(delta).max()) if used.size else 0
        self.slots = self.peak + max(1, int(prefetch))
        self.first: list[list[int]] = [[] for _ in range(nb)]
        release: list[list[int]] = [[] for _ in range(nb)]
        for c in order.tolist():
            self.first[int(first[c])].append(c)
            release[int(last[c])].append(c)
        # simulate the slots: which chunk is decoded into which slot, and before which batch it may start
        self.start: list[list[int]] = [[] for _ in range(nb)]
        self.slot_of: dict[int, int] = {}
        free = list(range(self.slots - 1, -1, -1))  # a stack: the slot freed last (still in cache) is reused first
        queue = deque(order.tolist())
        for b in range(nb):
            while queue and free and (ahead or first[queue[0]] == b):
                c = queue.popleft()
                self.slot_of[c] = free.pop()
                self.start[b].append(c)
            for c in release[b]:
                free.append(self.slot_of[c])
        slot_arr = np.zeros(n_ids, dtype=np.int64)
        for c, s in self.slot_of.items():
            slot_arr[c] = s
        self.positions = slot_arr[chunks] * int(chunk_frames) + offset[self.flat]


def auto_decode_threads() -> int:
    """Background decoding threads worth starting now: 1 when a core is idle, else 0.

    A background thread overlaps decoding with the consumer's work only on
    an idle core; when every core is busy (1-minute load average + 1 >
    cores) the hand-over costs more than it saves (measured on 2 cores:
    ~20 % slower than decoding in the calling thread).
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return 1 if cores > 1 else 0
    return 1 if cores > 1 and load + 1.0 <= cores else 0


class WindowLoader:
    """Iterable of batches ``(X (B, L, C) float32 tensor, y (B,) int64 tensor)`` over a stored window set.

    Built by `make_loader`.  dataset: the `WindowDataset`; batch_sampler:
    yields lists of dataset positions (`ChunkShuffleSampler` or a sequential
    `BatchSampler`).  With ``num_workers == 0`` batches are made in this
    process: each epoch is planned from the sampler's batches, the needed
    chunks are decoded ahead, in the order of first use, by
    ``decode_threads`` background threads (0: in the calling thread, when
    needed; None: `auto_decode_threads` at the start of each epoch) into
    the slots of one buffer of ``peak + prefetch`` chunks, and each batch is
    one fancy-index copy out of that buffer.  A chunk is decoded once per
    epoch and its slot reused after its last batch.  The threads change the
    speed, never the batches.  Plans that would hold more than
    `MAX_PLANNED_CHUNKS` chunks at once (e.g. a sequential pass over indices
    in random order) use the dataset's LRU cache instead.  With workers a
    torch `DataLoader` runs the dataset and sampler in W processes.
    """

    def __init__(self, dataset: WindowDataset, batch_sampler: Sampler, *, num_workers: int = 0,
                 decode_threads: int | None = None, prefetch: int = 4, seed: int = 0,
                 persistent_workers: bool = False) -> None:
        if (decode_threads is not None and int(decode_threads) < 0) or int(prefetch) < 0:
            raise ValueError(f"decode_threads and prefetch must be >= 0, got {decode_threads!r}, {prefetch!r}")
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.decode_threads = None if decode_threads is None else int(decode_threads)
        self.prefetch = int(prefetch)
        self._arena: np.ndarray | None = None
        self._busy = False
        self._loader: DataLoader | None = None
        if self.num_workers > 0:
            generator = torch.Generator()
            generator.manual_seed(int(seed))
            # batch_size=None: each sampler item is a list of positions and dataset[list] returns the whole batch
            self._loader = DataLoader(dataset, sampler=batch_sampler, batch_size=None, num_workers=self.num_workers,
                                      generator=generator, persistent_workers=bool(persistent_workers))

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def set_epoch(self, epoch: int) -> None:
        """Use the sampler's order of epoch ``epoch`` on the next iteration (shuffling samplers only)."""
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._loader is not None:
            return iter(self._loader)
        return self._stream()

    def _epoch_batches(self) -> list[np.ndarray]:
        sampler = self.batch_sampler
        if isinstance(sampler, ChunkShuffleSampler):
            batches = sampler.epoch_batches(sampler.epoch)
            sampler.epoch += 1
            return batches
        return [np.asarray(b, dtype=np.int64) for b in sampler]

    def _stream(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        ds = self.dataset
        batches = self._epoch_batches()
        F, L, C = ds.chunk_frames, ds.window_length, len(ds.channels)
        n_threads = auto_decode_threads() if self.decode_threads is None else self.decode_threads
        threaded = n_threads > 0
        plan = _EpochPlan(batches, ds.chunk_ids(), ds.offsets(), F, self.prefetch, ahead=threaded)
        if plan.peak > MAX_PLANNED_CHUNKS:
            logger.info("WindowLoader: the epoch would hold %d chunks at once; using the LRU cache", plan.peak)
            for batch in batches:
                yield ds.batch(batch)
            return
        reuse = not self._busy  # the buffer is kept between epochs, but not shared by two live iterations
        if reuse and (self._arena is None or self._arena.shape[0] < plan.slots * F):
            self._arena = np.empty((plan.slots * F, C), dtype=np.float32)
        arena = self._arena if reuse else np.empty((plan.slots * F, C), dtype=np.float32)
        self._busy = self._busy or reuse
        # windows start at slot * F + offset and never cross a slot: one strided view serves every batch
        step = arena.strides[0]
        view = np.lib.stride_tricks.as_strided(arena, shape=(arena.shape[0] - L + 1, L, C),
                                               strides=(step, step, arena.strides[1]), writeable=False)
        read = ds.frames_reader()
        y = ds.y[plan.flat]
        pool = ThreadPoolExecutor(n_threads, thread_name_prefix="virtimu-decode") if threaded else None
        futures: dict[int, Future] = {}
        try:
            for b in range(len(batches)):
                for c in plan.start[b]:  # slots free since the previous batch was copied out
                    s = plan.slot_of[c]
                    if pool is not None:
                        futures[c] = pool.submit(read, c, arena[s * F:(s + 1) * F])
                    else:
                        read(c, arena[s * F:(s + 1) * F])
                    ds.chunk_loads += 1
                if pool is not None:
                    for c in plan.first[b]:
                        futures.pop(c).result()
                lo, hi = plan.bounds[b], plan.bounds[b + 1]
                yield ds.collate(view[plan.positions[lo:hi]], y[lo:hi])
        finally:
            if pool is not None:
                for fut in futures.values():
                    fut.cancel()
                pool.shutdown(wait=True)
            if reuse:
                self._busy = False


def make_loader(store_path: str | os.PathLike, set_name: str, indices: Sequence[int] | np.ndarray | None = None,
                batch_size: int = 64, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                transform: Transform | None = None, cache_chunks: int = 8, shuffle_within: int = 4,
                drop_last: bool = False, persistent_workers: bool = False, decode_threads: int | None = None,
                prefetch: int | None = None) -> WindowLoader:
    """A `WindowLoader` of (X (B, L, C) float32, y (B,) int64) batches over a stored window set.

    shuffle=True uses `ChunkShuffleSampler` (seeded; each chunk decoded once
    per epoch; see the module docstring for the shuffling granularity);
    shuffle=False reads in index order.  num_workers=0: batches are made in
    this process (`WindowLoader`) with ``decode_threads`` background
    decoding threads (default None: `auto_decode_threads`, i.e. one when a
    core is idle, so that decoding overlaps the consumer's work; 0 decodes
    in the calling thread) decoding up to ``prefetch`` chunks ahead (default
    ``shuffle_within``); num_workers=W: a torch `DataLoader` with W
    processes, each opening the store itself and keeping its own LRU cache
    of ``cache_chunks`` chunks (persistent_workers keeps them between
    epochs; worker seeds derive from ``seed``).  The transform
    is applied per window.
    """
    dataset = WindowDataset(store_path, set_name, indices=indices, transform=transform, cache_chunks=cache_chunks)
    if shuffle:
        batch_sampler: Sampler = ChunkShuffleSampler(dataset, batch_size, seed=seed, shuffle_within=shuffle_within,
                                                     num_workers=num_workers, drop_last=drop_last)
    else:
        batch_sampler = BatchSampler(SequentialSampler(dataset), batch_size, drop_last)
    if prefetch is None:
        prefetch = int(shuffle_within)
    return WindowLoader(dataset, batch_sampler, num_workers=num_workers, decode_threads=decode_threads,
                        prefetch=prefetch, seed=seed, persistent_workers=persistent_workers and int(num_workers) > 0)
