"""Tests of the streaming torch view of a window set: items, chunk cache, chunk-shuffle sampler, loaders."""
from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from virtimu.data.torch_dataset import ChunkShuffleSampler, WindowDataset, make_loader
from virtimu.store.windows import WindowStore
from virtimu.types import WindowSet

N, L, C, CHUNK = 1000, 8, 3, 64  # 16 chunks, the last one partial (40 windows)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, WindowSet]:
    """A store with set 'train': N seeded windows whose first value encodes the row number."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, L, C)).astype(np.float32)
    X[:, 0, 0] = np.arange(N)  # row id, to identify samples
    ws = WindowSet(X=X, y=rng.integers(0, 4, size=N), subject=np.array([f"s{i % 5}" for i in range(N)]),
                   recording=np.array([f"demo/r{i // 50}" for i in range(N)]), start=np.zeros(N),
                   source=np.array(["demo"] * N), channels=["w/acc_x", "w/acc_y", "w/acc_z"], units=["m/s^2"] * 3,
                   fs=50.0, label_map={0: "null", 1: "walk", 2: "sit", 3: "run"})
    path = tmp_path_factory.mktemp("torchdata") / "store.zarr"
    WindowStore(path).append("train", ws, chunk_rows=CHUNK)
    return path, ws


def sample_ids(batches) -> list[int]:
    """Row ids (X[:, 0, 0]) of every sample of an iterable of (X, y) batches."""
    return [int(v) for X, _ in batches for v in X[:, 0, 0].tolist()]


def test_dataset_returns_the_right_windows(stored):
    path, ws = stored
    indices = np.array([999, 3, 500, 64, 63, 3])
    ds = WindowDataset(path, "train", indices=indices)
    assert len(ds) == 6 and ds.channels == ws.channels and ds.label_map == ws.label_map
    for i, row in enumerate(indices):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (L, C) and y.dtype == torch.int64 and y.ndim == 0
        np.testing.assert_array_equal(x.numpy(), ws.X[row])
        assert int(y) == ws.y[row]
    np.testing.assert_array_equal(ds[-1][0].numpy(), ws.X[3])
    batch = ds.__getitems__([5, 0, 2])
    np.testing.assert_array_equal(torch.stack([x for x, _ in batch]).numpy(), ws.X[[3, 999, 500]])
    assert [int(y) for _, y in batch] == ws.y[[3, 999, 500]].tolist()
    np.testing.assert_array_equal(ds.y, ws.y[indices])
    X, y = ds[[5, 0, 2]]  # a whole batch at once
    assert X.shape == (3, L, C) and X.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(X.numpy(), ws.X[[3, 999, 500]])
    np.testing.assert_array_equal(y.numpy(), ws.y[[3, 999, 500]])
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(IndexError, match=r"\[0, 1000\)"):
        WindowDataset(path, "train", indices=[1000])


def test_dataset_transform_and_bounded_cache(stored):
    path, ws = stored
    ds = WindowDataset(path, "train", transform=lambda x: 2 * x, cache_chunks=3)
    rng = np.random.default_rng(1)
    for i in rng.integers(0, N, size=200):
        np.testing.assert_allclose(ds[int(i)][0].numpy(), 2 * ws.X[i])
        assert len(ds._cache) <= 3
    np.testing.assert_allclose(ds[np.array([7, 900])][0].numpy(), 2 * ws.X[[7, 900]])
    assert ds.chunk_loads > 16  # random single access thrashes a small cache: what the sampler avoids


def test_dataset_pickles_without_open_store(stored):
    path, ws = stored
    ds = WindowDataset(path, "train", indices=np.arange(100, 200))
    ds[0]
    state = pickle.dumps(ds)
    assert len(state) < 20_000  # no decompressed chunk travels to the workers
    copy = pickle.loads(state)
    np.testing.assert_array_equal(copy[5][0].numpy(), ws.X[105])


def test_sampler_yields_every_index_once_and_is_seeded(stored):
    path, _ = stored
    ds = WindowDataset(path, "train", indices=np.arange(7, 1000, 2))  # 497 windows over 16 chunks
    sampler = ChunkShuffleSampler(ds, batch_size=32, seed=3, shuffle_within=4)
    first = list(sampler)
    flat = [i for batch in first for i in batch]
    assert sorted(flat) == list(range(len(ds)))
    assert len(first) == len(sampler) == 16 and all(len(b) == 32 for b in first[:-1]) and len(first[-1]) == 17
    second = list(sampler)  # next epoch: another order
    assert sorted(i for b in second for i in b) == list(range(len(ds))) and second != first
    again = ChunkShuffleSampler(ds, batch_size=32, seed=3, shuffle_within=4)
    assert list(again) == first and list(again) == second
    assert list(ChunkShuffleSampler(ds, batch_size=32, seed=4, shuffle_within=4)) != first
    dropped = ChunkShuffleSampler(ds, batch_size=32, seed=3, drop_last=True)
    assert len(dropped) == 15 and all(len(b) == 32 for b in dropped)
    # a batch mixes windows of several chunks (not one chunk after another)
    chunks = ds.chunk_ids()
    assert np.mean([len(set(chunks[b].tolist())) for b in first]) >= 2.5


def test_each_chunk_is_decompressed_once_per_epoch(stored):
    path, _ = stored
    ds = WindowDataset(path, "train", cache_chunks=8)
    sampler = ChunkShuffleSampler(ds, batch_size=64, seed=0, shuffle_within=4)
    loads = []
    for epoch in range(3):
        before, seen = ds.chunk_loads, []
        for batch in sampler:
            samples = ds.__getitems__(batch)
            seen += [int(x[0, 0]) for x, _ in samples]
        assert sorted(seen) == list(range(N))
        loads.append(ds.chunk_loads - before)
    assert loads[0] == 16 and all(n <= 16 for n in loads)  # at most once per chunk (some stay cached across epochs)
    # uniform random batches through the same cache decompress far more often
    ds_random = WindowDataset(path, "train", cache_chunks=8)
    for batch in np.random.default_rng(0).permutation(N).reshape(-1, 50):
        ds_random.__getitems__(batch)
    assert ds_random.chunk_loads > 100


def test_sampler_gives_each_worker_its_own_chunks(stored):
    path, _ = stored
    ds = WindowDataset(path, "train")
    sampler = ChunkShuffleSampler(ds, batch_size=32, seed=5, shuffle_within=2, num_workers=2)
    batches = sampler.epoch_batches(0)
    assert sorted(int(i) for b in batches for i in b) == list(range(N)) and len(batches) == len(sampler)
    chunks = ds.chunk_ids()
    per_worker = [set(), set()]
    for k, batch in enumerate(batches[:-2]):  # the last two batches pool the streams' leftovers
        per_worker[k % 2] |= set(chunks[batch].tolist())
    assert per_worker[0] and per_worker[1] and not per_worker[0] & per_worker[1]


def test_loader_with_two_workers_yields_the_same_samples(stored):
    path, ws = stored
    indices = np.arange(0, N, 3)
    serial = list(make_loader(path, "train", indices, batch_size=40, seed=1, num_workers=0))
    parallel = list(make_loader(path, "train", indices, batch_size=40, seed=1, num_workers=2))
    X, y = serial[0]
    assert X.shape == (40, L, C) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert sorted(sample_ids(serial)) == indices.tolist()
    assert Counter(sample_ids(parallel)) == Counter(sample_ids(serial))
    # the order depends on the number of workers (one chunk stream each) but not on chance
    again = list(make_loader(path, "train", indices, batch_size=40, seed=1, num_workers=2))
    assert sample_ids(again) == sample_ids(parallel) != sample_ids(serial)
    for X, y in parallel:
        rows = X[:, 0, 0].long().numpy()
        np.testing.assert_array_equal(X.numpy(), ws.X[rows])
        np.testing.assert_array_equal(y.numpy(), ws.y[rows])
    ordered = list(make_loader(path, "train", indices[:100], batch_size=30, shuffle=False))
    assert sample_ids(ordered) == indices[:100].tolist() and len(ordered) == 4


# --------------------------------------------------------------------------- the in-process loader


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory) -> tuple[Path, WindowSet]:
    """Set 'frames' (layout 'frames', shared frames) and 'windows' (format 1): 50 % overlapping windows of
    30 recordings; channel 0 holds the frame's global index, so a window is identified by X[:, 0, 0]."""
    rng = np.random.default_rng(3)
    parts = {k: [] for k in ("X", "recording", "start")}
    base = 0
    for r in range(30):
        T = int(rng.integers(20, 120))
        x = rng.normal(size=(T, C)).astype(np.float32)
        x[:, 0] = base + np.arange(T)
        base += T
        starts = np.arange(0, T - L + 1, L // 2)
        parts["X"].append(np.stack([x[s:s + L] for s in starts]))
        parts["recording"] += [f"demo/r{r}"] * starts.size
        parts["start"].append(starts)
    X = np.concatenate(parts["X"])
    n = X.shape[0]
    ws = WindowSet(X=X, y=rng.integers(0, 3, size=n), subject=np.array(["s"] * n),
                   recording=np.array(parts["recording"]), start=np.concatenate(parts["start"]),
                   source=np.array(["demo"] * n), channels=["w/acc_x", "w/acc_y", "w/acc_z"], units=["m/s^2"] * 3,
                   fs=50.0, label_map={0: "null", 1: "walk", 2: "sit"})
    path = tmp_path_factory.mktemp("overlap") / "store.zarr"
    store = WindowStore(path)
    store.append("frames", ws, chunk_rows=16)  # 128 frames a chunk: several dozen chunks
    store.append("windows", ws, chunk_rows=16, layout="windows")
    return path, ws


def window_keys(batches) -> list[float]:
    return [float(v) for X, _ in batches for v in X[:, 0, 0].tolist()]


@pytest.mark.parametrize("set_name", ["frames", "windows"])
def test_loader_epochs_serve_every_window_once_with_any_decode_threads(overlapping, set_name):
    path, ws = overlapping
    key_of = {float(k): i for i, k in enumerate(ws.X[:, 0, 0])}
    runs = {}
    for threads in (0, 1, 2):
        loader = make_loader(path, set_name, batch_size=24, seed=5, decode_threads=threads, prefetch=3)
        epochs = [list(loader) for _ in range(2)]
        runs[threads] = [window_keys(e) for e in epochs]
        n_chunks = WindowStore(path, mode="r").layout(set_name).n_chunks
        assert loader.dataset.chunk_loads == 2 * n_chunks  # each chunk decoded once per epoch
        for epoch in epochs:
            rows = [key_of[k] for k in window_keys(epoch)]
            assert sorted(rows) == list(range(len(ws)))
            X = torch.cat([b[0] for b in epoch]).numpy()
            y = torch.cat([b[1] for b in epoch]).numpy()
            np.testing.assert_array_equal(X, ws.X[rows])
            np.testing.assert_array_equal(y, ws.y[rows])
        assert runs[threads][0] != runs[threads][1]  # a new order each epoch
    assert runs[0] == runs[1] == runs[2]  # threads change the speed, not the batches
    # the batches are the sampler's, as a DataLoader over the same dataset would serve them
    loader = make_loader(path, set_name, batch_size=24, seed=5)
    epoch0 = loader.batch_sampler.epoch_batches(0)
    expected = [[float(ws.X[loader.dataset.indices[p], 0, 0]) for p in b] for b in epoch0]
    assert window_keys(loader) == [k for b in expected for k in b]


def test_loader_stops_early_and_falls_back_to_the_cache_for_scattered_plans(overlapping, monkeypatch):
    import virtimu.data.torch_dataset as td

    path, ws = overlapping
    loader = make_loader(path, "frames", batch_size=16, decode_threads=2)
    for k, _ in enumerate(loader):
        if k == 2:
            break  # the decoding threads are shut down with the generator
    assert sorted(window_keys(loader)) == sorted(ws.X[:, 0, 0].tolist())  # the next epoch is whole
    order = np.random.default_rng(0).permutation(len(ws))
    monkeypatch.setattr(td, "MAX_PLANNED_CHUNKS", 2)  # a scattered sequential pass would pin too many chunks
    ordered = make_loader(path, "frames", indices=order, batch_size=50, shuffle=False)
    X = torch.cat([b[0] for b in ordered]).numpy()
    np.testing.assert_array_equal(X, ws.X[order])
    assert len(ordered) == -(-len(ws) // 50)


def test_loader_applies_the_transform_and_set_epoch(overlapping):
    path, ws = overlapping
    loader = make_loader(path, "frames", batch_size=32, seed=1, transform=lambda x: x * 0 - 1)
    X, y = next(iter(loader))
    assert torch.all(X == -1) and y.dtype == torch.int64
    plain = make_loader(path, "frames", batch_size=32, seed=1)
    first = window_keys(plain)
    plain.set_epoch(0)
    assert window_keys(plain) == first


def test_auto_decode_threads_uses_an_idle_core_only(monkeypatch):
    import virtimu.data.torch_dataset as td

    monkeypatch.setattr(td.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(td.os, "getloadavg", lambda: (0.9, 0.0, 0.0))
    assert td.auto_decode_threads() == 1
    monkeypatch.setattr(td.os, "getloadavg", lambda: (1.5, 0.0, 0.0))
    assert td.auto_decode_threads() == 0
    monkeypatch.setattr(td.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(td.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert td.auto_decode_threads() == 0
