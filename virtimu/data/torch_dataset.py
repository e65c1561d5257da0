"""A streaming torch view of a stored window set.

Random access to single windows of a compressed Zarr array costs a chunk
decompression each (about 1000x a memmap read), so this module reads whole
chunks and keeps a few decompressed in an LRU cache, and shuffles in a way
that uses each decompressed chunk fully:

- `WindowDataset`: map-style dataset over (a subset of) a set's windows,
  ``dataset[i] -> (x float32 (L, C), y int64 scalar)``; ``dataset[list]``
  and ``__getitems__`` serve a whole batch with one gather.
- `ChunkShuffleSampler`: a batch sampler.  Each epoch it shuffles the order of
  the chunks, cuts them into groups of ``shuffle_within`` chunks and shuffles
  the windows inside each group, so a chunk is decompressed once per epoch
  while batches mix windows of ``shuffle_within`` random chunks.  With
  ``num_workers`` W > 1 the groups are dealt to W streams and batch k comes
  from stream k mod W, matching `DataLoader`'s round-robin dispatch, so each
  worker decompresses only its own chunks.
- `make_loader`: the `DataLoader` built from both.

Everything is deterministic given the seed (and the epoch).  The zarr store is
opened lazily in each process (also in each loader worker).
"""
from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler

from virtimu.store.windows import WindowStore, gather_by_chunk

logger = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], torch.Tensor]


class WindowDataset(Dataset):
    """Windows of one stored set, read chunk-wise through an LRU cache of decompressed chunks.

    store_path: virtimu Zarr store.  set_name: window set in it.
    indices: (n,) store rows served as positions 0..n-1 (any order; None =
        every committed window at construction time).
    transform: optional function applied to each x tensor (L, C).
    cache_chunks: decompressed chunks kept per process (each ~2 MiB).

    ``self[i]`` is ``(x, y)``: x float32 tensor (L, C), y int64 0-d tensor.
    Attributes: y ((n,) int64 labels of the served windows), label_map,
    channels, units, fs, window_length, chunk_rows, chunk_loads (chunks
    decompressed by this process so far).
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
        self.indices = rows
        self.y = store.labels(set_name)[rows]
        self.label_map = store.label_map(set_name)
        self.channels = list(info["channels"])
        self.units = list(info["units"])
        self.fs = float(info["fs"])
        self.window_length = int(info["window_length"])
        self.chunk_rows = store.chunk_rows(set_name)
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

    def _chunk(self, chunk: int) -> np.ndarray:
        """Decompressed chunk ``chunk`` of X (LRU-cached)."""
        store = self._store_here()
        data = self._cache.get(chunk)
        if data is not None:
            self._cache.move_to_end(chunk)
            return data
        data = store.read_chunk(self.set_name, chunk)
        self.chunk_loads += 1
        self._cache[chunk] = data
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return data

    # ---------------------------------------------------------------- dataset protocol

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def chunk_ids(self) -> np.ndarray:
        """(n,) chunk of X holding each served window."""
        return self.indices // self.chunk_rows

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
        row = int(self.indices[i])
        chunk = row // self.chunk_rows
        x = np.array(self._chunk(chunk)[row - chunk * self.chunk_rows], dtype=np.float32)
        return self._sample(x, int(self.y[i]))

    def _gather(self, positions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(X (k, L, C) float32, y (k,) int64) at dataset positions; each needed chunk fetched once."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if pos.size and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise IndexError(f"WindowDataset({self.set_name!r}): positions out of range for {len(self)} windows")
        X = np.empty((pos.size, self.window_length, len(self.channels)), dtype=np.float32)
        gather_by_chunk(self.indices[pos], self.chunk_rows, self._chunk, X)
        return X, self.y[pos]

    def batch(self, positions: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """A collated batch: (X (k, L, C) float32, y (k,) int64); the transform is applied per window."""
        X, y = self._gather(positions)
        xt = torch.from_numpy(X)
        if self.transform is not None:
            xt = torch.stack([self.transform(x) for x in xt]) if len(xt) else xt
        return xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))

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
        # order each batch by chunk (its content stays random): the dataset then copies one run per chunk
        return [batch[np.argsort(self._chunk_of[batch], kind="stable")] for batch in batches]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        for batch in batches:
            yield batch.tolist()
        self.epoch += 1


def make_loader(store_path: str | os.PathLike, set_name: str, indices: Sequence[int] | np.ndarray | None = None,
                batch_size: int = 64, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                transform: Transform | None = None, cache_chunks: int = 8, shuffle_within: int = 4,
                drop_last: bool = False, persistent_workers: bool = False) -> DataLoader:
    """A DataLoader of (X (B, L, C) float32, y (B,) int64) batches over a stored window set.

    shuffle=True uses `ChunkShuffleSampler` (seeded; each chunk decompressed
    about once per epoch); shuffle=False reads in index order.  Batches are
    assembled by `WindowDataset.batch` (one gather per batch, no per-window
    collation).  Worker seeds (for random transforms) derive from ``seed``.
    Each worker opens the store itself and keeps its own cache of
    ``cache_chunks`` chunks; persistent_workers keeps them (and their caches)
    between epochs.
    """
    dataset = WindowDataset(store_path, set_name, indices=indices, transform=transform, cache_chunks=cache_chunks)
    if shuffle:
        batch_sampler: Sampler = ChunkShuffleSampler(dataset, batch_size, seed=seed, shuffle_within=shuffle_within,
                                                     num_workers=num_workers, drop_last=drop_last)
    else:
        batch_sampler = BatchSampler(SequentialSampler(dataset), batch_size, drop_last)
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    # batch_size=None: each sampler item is a list of positions and dataset[list] returns the whole batch
    return DataLoader(dataset, sampler=batch_sampler, batch_size=None, num_workers=int(num_workers),
                      generator=generator, persistent_workers=bool(persistent_workers) and int(num_workers) > 0)
