"""Window store benchmark: size on disk and random mini-batch read speed, Zarr window set vs a numpy memmap.

Data: the bundled demo clips are synthesised with ``virtimu synth`` (3 sites,
60 Hz) and tiled into many distinct recordings: each copy gets a random
sensor mounting rotation per site (a few degrees, applied to acc and the
rotation matrix) and the 'xsens' device noise model with its own seed, and
starts at a random frame.  Windows of 60 frames with 50 % overlap over the
36 channels of paper 001 (3 x (acc 3 + rot 9)).  Windows are appended in
recording order, as the windowing code produces them.

Measured in one process, all data in the page cache, in ``--repeats`` rounds
of interleaved passes (so that load from other processes hits every
measurement alike); each loader epoch runs right after a memmap pass and the
ratio of the two is taken per round: the median of these paired ratios is
the headline (robust on a shared machine).  Also printed: the fastest and
median pass of each, and the least CPU time of the process per window (all
threads; a load-independent measure of efficiency):

- memmap, fancy index: ``np.asarray(mm[idx])`` for uniformly random batches of
  64 from the whole (N, L, C) array (the reference);
- memmap through a DataLoader (per-window Dataset, RandomSampler, batch 64),
  the usual training baseline;
- store, ``make_loader`` (`WindowDataset` + `ChunkShuffleSampler`, chunk-aware
  shuffle) over whole epochs: its default (a background decoding thread
  when a core is idle, else none: `auto_decode_threads`), decoding in the
  calling thread only (``decode_threads=0``), one background decoding
  thread, and the default loader over a set of the original 'windows'
  layout and over a set with byte shuffle (smaller, slower to decode);
- store ``read(set, idx)`` for uniformly random batches of 64 (each touched
  chunk is decoded once per batch), and one zarr call per window.

Target (issue): the store loader at >= 0.5x the memmap's random-batch
throughput while the store is >= 2x smaller on disk.  Prints figures and
whether the targets are met; asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_store.py [--windows 50000] [--repeats 7]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file ``path``)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def synth_demo(out: Path) -> list:
    """The demo clips synthesised with the CLI, as Recordings."""
    from virtimu.cli import main as cli_main
    from virtimu.store import RecordingStore

    rc = cli_main(["synth", "--out", str(out), "--quiet"])
    if rc:
        raise SystemExit(f"virtimu synth failed with exit code {rc}")
    store = RecordingStore(out, mode="r")
    return [store.read(source, name) for source, name in store.list()]


def tiled_windows(recordings: list, n_windows: int, length: int, hop: int, seed: int):
    """(X (n, length, 36) float32, y, subject, recording, start, channels, units, label_map) from noisy copies."""
    from scipy.spatial.transform import Rotation

    from virtimu.sensors.noise import DeviceModel, apply_device_model

    rng = np.random.default_rng(seed)
    base = recordings[0]
    sites = sorted({c.split("/")[0] for c in base.channels})
    channels = [f"{s}/acc_{a}" for s in sites for a in "xyz"] + [f"{s}/rot_{i}{j}" for s in sites
                                                                  for i in range(3) for j in range(3)]
    units = [base.units[base.channels.index(c)] for c in channels]
    model = DeviceModel.preset("xsens")
    names = sorted({n for r in recordings for n in (r.label_map or {}).values()})
    label_map = {code: name for code, name in enumerate(names)}
    code_of = {name: code for code, name in label_map.items()}
    parts: dict[str, list] = {k: [] for k in ("X", "y", "subject", "recording", "start")}
    total, copy = 0, 0
    while total < n_windows:
        rec = recordings[copy % len(recordings)]
        x = rec.select(channels).astype(np.float64)
        for site in sites:  # random mounting rotation R_m: acc' = R_m^T acc, R' = R R_m
            R_m = Rotation.from_rotvec(rng.normal(scale=np.deg2rad(5.0), size=3)).as_matrix()
            acc = [channels.index(f"{site}/acc_{a}") for a in "xyz"]
            rot = [channels.index(f"{site}/rot_{i}{j}") for i in range(3) for j in range(3)]
            x[:, acc] = x[:, acc] @ R_m
            x[:, rot] = (x[:, rot].reshape(-1, 3, 3) @ R_m).reshape(-1, 9)
        x = apply_device_model(x, channels, rec.fs, model, seed=int(rng.integers(2**31))).astype(np.float32)
        starts = np.arange(int(rng.integers(hop)), x.shape[0] - length + 1, hop)
        frames = starts[:, None] + np.arange(length)[None, :]
        labels = np.array([code_of[(rec.label_map or {})[int(c)]] for c in rec.labels[starts + length // 2]])
        parts["X"].append(x[frames])
        parts["y"].append(labels)
        parts["subject"].append(np.full(len(starts), f"s{copy % 20:02d}"))
        parts["recording"].append(np.full(len(starts), f"demo/{rec.name}#{copy}"))
        parts["start"].append(starts)
        total += len(starts)
        copy += 1
    out = {k: np.concatenate(v)[:n_windows] for k, v in parts.items()}
    return out, channels, units, label_map, copy


def interleaved(measurements: dict[str, Callable[[], int]], reference: str, paired: list[str],
                repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Every measurement once per round, ``repeats`` rounds; each of ``paired`` right after a pass of
    ``reference``.  Returns ({name: [items/s of each pass]}, {name: [CPU us per item of each pass]} (the
    whole process's CPU, all threads), {paired name: [its rate / the reference pass just before it]})."""
    rates: dict[str, list[float]] = {name: [] for name in measurements}
    cpu: dict[str, list[float]] = {name: [] for name in measurements}
    ratios: dict[str, list[float]] = {name: [] for name in paired}

    def run(name: str) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        items = measurements[name]()
        rate = items / (time.perf_counter() - t0)
        rates[name].append(rate)
        cpu[name].append((time.process_time() - c0) / items * 1e6)
        return rate

    for _ in range(repeats):
        for name in paired:
            ref = run(reference)
            ratios[name].append(run(name) / ref)
        for name in measurements:
            if name != reference and name not in paired:
                run(name)
    return rates, cpu, ratios


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=50_000)
    ap.add_argument("--length", type=int, default=60, help="frames per window (60 Hz)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--read-batches", type=int, default=50, help="uniformly random batches timed for store.read")
    ap.add_argument("--shuffle-within", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=7, help="rounds of interleaved passes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader, Dataset, RandomSampler

    from virtimu.data.torch_dataset import auto_decode_threads, make_loader
    from virtimu.store.windows import WindowStore
    from virtimu.types import WindowSet

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        recordings = synth_demo(work / "demo.zarr")
        data, channels, units, label_map, copies = tiled_windows(recordings, args.windows, args.length,
                                                                 args.length // 2, args.seed)
        n = len(data["y"])
        t_build = time.perf_counter() - t0
        X = data["X"]
        raw = X.nbytes
        print(f"data: {n} windows x {args.length} frames x {len(channels)} channels float32 = {raw / 2**20:.0f} MiB "
              f"from {copies} noisy copies of {len(recordings)} demo clips, 50 % overlap ({t_build:.1f} s to build)")

        # ---- write: memmap (.npy) and Zarr window sets
        npy = work / "X.npy"
        t0 = time.perf_counter()
        mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=X.shape)
        mm[:] = X
        mm.flush()
        del mm
        t_npy = time.perf_counter() - t0
        store_path = work / "windows.zarr"
        store = WindowStore(store_path)
        step = 5000

        def batch(a: int, b: int, columns: dict[str, np.ndarray]) -> WindowSet:
            return WindowSet(X=columns["X"][a:b], y=columns["y"][a:b], subject=columns["subject"][a:b],
                             recording=columns["recording"][a:b], start=columns["start"][a:b],
                             source=np.full(b - a, "demo"), channels=channels, units=units, fs=60.0,
                             label_map=label_map, attrs={"config": {"length": args.length, "overlap": 0.5}})

        t_zarr = {}
        for name, layout, shuffle in (("bench", "frames", None), ("bench_windows", "windows", None),
                                      ("bench_compact", "frames", True)):
            t0 = time.perf_counter()
            # streamed in batches, as `virtimu windows` writes
            with store.appender(name, layout=layout, shuffle=shuffle) as app:
                for a in range(0, n, step):
                    app.add(batch(a, min(n, a + step), data))
                app.commit({"config": {"length": args.length, "overlap": 0.5}})
            t_zarr[name] = time.perf_counter() - t0
        store.append("bench_lossy16", batch(0, n, data), mantissa_bits=16)
        lossy_bytes = dir_bytes(store_path / "windows" / "bench_lossy16")
        store.delete_set("bench_lossy16")
        del X, data
        npy_bytes = dir_bytes(npy)
        zarr_bytes = dir_bytes(store_path / "windows" / "bench")
        zarr_w_bytes = dir_bytes(store_path / "windows" / "bench_windows")
        zarr_c_bytes = dir_bytes(store_path / "windows" / "bench_compact")
        info = store.info("bench")
        comp = info["compression"]
        frames_stored = int(info["n_frames"])
        print(f"codec: {comp['codec']} {comp['cname']}-{comp['clevel']} + {comp['shuffle']}; layout 'frames': "
              f"{info['chunk_frames']} frames ({info['chunk_frames'] * len(channels) * 4 / 2**20:.2f} MiB) per chunk, "
              f"{frames_stored} frames stored for {n * args.length} window frames "
              f"({n * args.length / frames_stored:.2f}x shared, padding included)")
        print(f"write: memmap {raw / t_npy / 2**20:6.0f} MiB/s; zarr 'frames' {raw / t_zarr['bench'] / 2**20:6.0f} "
              f"MiB/s, 'windows' {raw / t_zarr['bench_windows'] / 2**20:6.0f} MiB/s (MiB of windows, streamed in "
              f"{(n + step - 1) // step} batches)")
        print(f"size on disk: memmap              {npy_bytes / 2**20:8.1f} MiB")
        print(f"              zarr 'frames'       {zarr_bytes / 2**20:8.1f} MiB  "
              f"({npy_bytes / zarr_bytes:.2f}x smaller, lossless)")
        print(f"              zarr 'windows'      {zarr_w_bytes / 2**20:8.1f} MiB  ({npy_bytes / zarr_w_bytes:.2f}x "
              "smaller, lossless, format 1)")
        print(f"              zarr 'frames' + shuffle {zarr_c_bytes / 2**20:4.1f} MiB  "
              f"({npy_bytes / zarr_c_bytes:.2f}x smaller, lossless, shuffle=True / virtimu windows --compact)")
        print(f"              zarr, 16 bits       {lossy_bytes / 2**20:8.1f} MiB  "
              f"({npy_bytes / lossy_bytes:.2f}x smaller, mantissa_bits=16 + shuffle, relative error <= 2^-17)")

        rng = np.random.default_rng(args.seed)
        B = args.batch

        # ---- memmap: raw fancy indexing, uniformly random batches
        mm = np.load(npy, mmap_mode="r")
        idx_batches = [rng.integers(0, n, size=B) for _ in range(max(1, n // B))]

        def memmap_pass() -> int:
            for idx in idx_batches:
                torch.from_numpy(np.asarray(mm[idx]))
            return len(idx_batches) * B

        # ---- memmap through a DataLoader (per-window dataset, uniform random order)
        class MemmapDataset(Dataset):
            def __init__(self, path: Path, y: np.ndarray) -> None:
                self.path, self.y, self.mm = path, y, None

            def __len__(self) -> int:
                return len(self.y)

            def __getitem__(self, i: int):
                if self.mm is None:
                    self.mm = np.load(self.path, mmap_mode="r")
                return torch.from_numpy(np.array(self.mm[i])), torch.tensor(int(self.y[i]))

        y_all = store.labels("bench")
        generator = torch.Generator().manual_seed(args.seed)
        mm_loader = DataLoader(MemmapDataset(npy, y_all), batch_size=B,
                               sampler=RandomSampler(y_all, generator=generator))

        # ---- store.read(idx), uniformly random batches
        reader = WindowStore(store_path, mode="r")
        reader.read("bench", idx_batches[0])  # opens arrays, loads metadata

        def read_pass() -> int:
            for idx in idx_batches[1:1 + args.read_batches]:
                reader.read("bench", idx)
            return min(args.read_batches, len(idx_batches) - 1) * B

        # ---- naive: one zarr call per window (a slice of the frames array)
        frames_array = reader._view("bench").array("frames")
        frame_start = reader._view("bench").array("frame_start")[:]
        single = rng.integers(0, n, size=100)

        def single_pass() -> int:
            for i in single:
                np.asarray(frames_array[int(frame_start[i]):int(frame_start[i]) + args.length])
            return len(single)

        # ---- chunk-aware loaders, whole epochs
        def loader(set_name: str, threads: int | None = None):
            return make_loader(store_path, set_name, batch_size=B, shuffle=True, seed=args.seed,
                               shuffle_within=args.shuffle_within, decode_threads=threads)

        loaders = {
            "frames": loader("bench"),
            "frames0": loader("bench", 0),
            "frames1": loader("bench", 1),
            "windows": loader("bench_windows"),
            "compact": loader("bench_compact"),
        }

        def epoch(ld) -> Callable[[], int]:
            return lambda: sum(len(yb) for _, yb in ld)

        for ld in loaders.values():  # warm-up: page cache, buffers
            epoch(ld)()
        memmap_pass()
        rates, cpu, paired = interleaved({
            "memmap": memmap_pass,
            "memmap_loader": lambda: sum(len(yb) for _, yb in mm_loader),
            "loader": epoch(loaders["frames"]),
            "loader0": epoch(loaders["frames0"]),
            "loader1": epoch(loaders["frames1"]),
            "loader_windows": epoch(loaders["windows"]),
            "loader_compact": epoch(loaders["compact"]),
            "read": read_pass,
            "single": single_pass,
        }, "memmap", ["loader", "loader0", "loader1", "loader_windows", "loader_compact"], args.repeats)
        best = {k: max(v) for k, v in rates.items()}
        median = {k: statistics.median(v) for k, v in rates.items()}
        cpu_best = {k: min(v) for k, v in cpu.items()}
        epochs = args.repeats + 1
        loads = loaders["frames"].dataset.chunk_loads / epochs
        n_chunks = reader.layout("bench").n_chunks

        def line(label: str, key: str, extra: str = "") -> None:
            print(f"  {label:<46}: {best[key]:12,.0f} windows/s  (median {median[key]:10,.0f})  "
                  f"{cpu_best[key]:7.3f} us CPU/window{extra}")

        print(f"\nrandom batches of {B}, 1 process (torch threads 1); {args.repeats} rounds of interleaved passes: "
              "fastest pass (median in brackets), least CPU time of the process per window; loaders: whole epochs:")
        line("memmap, fancy index (reference)", "memmap")
        line("memmap, DataLoader (RandomSampler)", "memmap_loader")
        line(f"store, make_loader (default: decode_threads={auto_decode_threads()} now)", "loader",
             f"  ({loads:.0f} chunk decodes per epoch for {n_chunks} chunks)")
        line("store, make_loader, decode_threads=0", "loader0")
        line("store, make_loader, decode_threads=1", "loader1")
        line("store, make_loader, layout 'windows' (format 1)", "loader_windows")
        line("store, make_loader, byte shuffle (compact)", "loader_compact")
        line("store.read(idx), uniformly random batches", "read",
             f"  ({B / best['read'] * 1e3:.1f} ms per batch)")
        line("store, one zarr call per window", "single")
        ratio = statistics.median(paired["loader"])
        disk = npy_bytes / zarr_bytes

        def paired_line(label: str, key: str) -> None:
            values = paired[key]
            print(f"  {label:<43}: {statistics.median(values):6.2f}x   (rounds: "
                  + ", ".join(f"{v:.2f}" for v in values) + ")")

        print("\nratios (target: loader >= 0.5x memmap while >= 2x smaller); each loader epoch against the memmap "
              "pass right before it, median over rounds:")
        paired_line("loader (default) / memmap fancy index", "loader")
        paired_line("loader decode_threads=0 / memmap", "loader0")
        paired_line("loader decode_threads=1 / memmap", "loader1")
        paired_line("loader 'windows' layout / memmap", "loader_windows")
        paired_line("loader byte shuffle (compact) / memmap", "loader_compact")
        print(f"  fastest passes, loader / memmap            : {best['loader'] / best['memmap']:6.2f}x")
        print(f"  loader / memmap DataLoader (fastest)       : {best['loader'] / best['memmap_loader']:6.2f}x")
        print(f"  CPU per window, memmap / loader            : {cpu_best['memmap'] / cpu_best['loader']:6.2f}x   "
              f"(decode_threads=0: {cpu_best['memmap'] / cpu_best['loader0']:.2f}x; load-independent efficiency)")
        print(f"  uniform store.read / memmap                : {best['read'] / best['memmap']:8.4f}x")
        print(f"  disk: memmap / zarr (lossless)             : {disk:6.2f}x   {'MET' if disk >= 2 else 'NOT MET'}")
        print(f"  target: {'MET' if ratio >= 0.5 and disk >= 2 else 'NOT MET'} (paired median {ratio:.2f}x, "
              f"disk {disk:.2f}x)")
        load_after = os.getloadavg()
        print(f"\nload average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f} "
              f"on {os.cpu_count()} cores (other processes slow both sides)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
