"""tsfresh feature extraction throughput: feature sets, worker processes, tsfresh's own n_jobs, cache hits.

Windows shaped as in paper 000 by default (100 samples at 25 Hz, 4 channels:
x, y, z and magnitude of a wrist accelerometer), filled with a noisy gait-like
signal.  For each feature set it measures windows/s of

- our chunked process pool with 1 and with ``--workers`` processes
  (`virtimu.features.tsfresh_features.extract_tsfresh`, no cache, vectorised
  ``change_quantiles``),
- the same pool with tsfresh's own ``change_quantiles`` (``fast=False``) and,
  for the same work, tsfresh's own parallelism (one
  ``tsfresh.extract_features`` call over all windows, ``n_jobs=--workers``),
- a cold extraction into a fresh cache folder and the cache hit that follows
  (time to read every window's features back).

Prints a table; asserts nothing.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_features.py [--quick] [--sets minimal,efficient]
[--n 64] [--workers 2] [--out results.json]``
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def gait_windows(n: int, length: int, fs: float, seed: int = 0) -> np.ndarray:
    """(n, length, 4) float32: 3 noisy accelerometer axes (m/s^2) around 1-2.5 Hz steps and their magnitude."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / fs
    f = rng.uniform(1.0, 2.5, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 3))
    amp = rng.uniform(0.5, 3.0, (n, 1, 3))
    acc = amp * np.sin(2 * np.pi * f * t[None, :, None] + phase) + 0.3 * rng.standard_normal((n, length, 3))
    acc[:, :, 2] += 9.81
    mag = np.linalg.norm(acc, axis=-1, keepdims=True)
    return np.concatenate([acc, mag], axis=-1).astype(np.float32)


CPU_S: list[float] = []  # CPU seconds (this process + reaped worker processes) of each `timed` call


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """Wall-clock seconds and result of ``fn``; its CPU seconds are appended to ``CPU_S``."""
    c, t = cpu_seconds(), time.perf_counter()
    out = fn(*args, **kwargs)
    CPU_S.append(cpu_seconds() - c)
    return time.perf_counter() - t, out


def tsfresh_own(X: np.ndarray, feature_set: str, n_jobs: int) -> None:
    """One tsfresh.extract_features call over all windows with tsfresh's own process pool."""
    import pandas as pd
    from tsfresh import extract_features

    from virtimu.features.tsfresh_features import _as_tsfresh, tsfresh_settings

    n, L, C = X.shape
    frame = {"id": np.repeat(np.arange(n), L), "time": np.tile(np.arange(L), n)}
    for c in range(C):
        frame[f"c{c}"] = X[:, :, c].astype(np.float64).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extract_features(pd.DataFrame(frame), column_id="id", column_sort="time",
                         default_fc_parameters=_as_tsfresh(tsfresh_settings(feature_set, L)), n_jobs=n_jobs,
                         disable_progressbar=True, impute_function=None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="minimal,efficient")
    ap.add_argument("--n", type=int, default=None, help="windows per measurement (default: 400 minimal, 64 others)")
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--fs", type=float, default=25.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="32 windows per measurement")
    ap.add_argument("--out", default=None, help="write results JSON here")
    args = ap.parse_args(argv)

    from virtimu.features.tsfresh_features import TsfreshConfig, extract_tsfresh, tsfresh_versions

    channels = ["wrist/acc_x", "wrist/acc_y", "wrist/acc_z", "wrist/acc_mag"]
    extract_tsfresh(gait_windows(2, args.length, args.fs), args.fs, channels,
                    TsfreshConfig("minimal", workers=1, progress=False))  # imports, warm-up
    print(f"tsfresh {tsfresh_versions()['tsfresh']}; windows of {args.length} samples x 4 channels; "
          f"chunks of {args.chunk_size}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(wall-clock figures and worker ratios mean little on a loaded machine; win per CPU-s does)")
    results = {}
    for feature_set in args.sets.split(","):
        n = 32 if args.quick else (args.n or (400 if feature_set == "minimal" else 64))
        X = gait_windows(n, args.length, args.fs, seed=1)

        def ours(workers: int, cache_dir=None, fast: bool = True):
            cfg = TsfreshConfig(feature_set, workers=workers, chunk_size=args.chunk_size, progress=False, fast=fast)
            return extract_tsfresh(X, args.fs, channels, cfg, cache_dir=cache_dir)

        t1, (F, names) = timed(ours, 1)
        c1 = CPU_S[-1]
        tw, _ = timed(ours, args.workers)
        ts, _ = timed(ours, args.workers, None, False)
        to, _ = timed(tsfresh_own, X, feature_set, args.workers)
        with tempfile.TemporaryDirectory() as d:
            tc, _ = timed(ours, args.workers, d)
            th, (Fh, _) = timed(ours, args.workers, d)
        assert np.array_equal(np.nan_to_num(Fh), np.nan_to_num(F))
        w = args.workers
        r = {"windows": n, "features": len(names), "win_s_1": n / t1, f"win_s_{w}": n / tw,
             "speedup": t1 / tw, f"win_s_{w}_tsfresh_change_quantiles": n / ts,
             f"win_s_tsfresh_njobs_{w}": n / to, "cold_cache_s": tc, "cache_hit_s": th, "hit_speedup": tc / th,
             "win_per_cpu_s": n / c1, "load_avg_1min": os.getloadavg()[0]}
        results[feature_set] = r
        print(f"{feature_set:13s} {len(names):5d} features, {n} windows\n"
              f"  our pool:  1 worker {n / t1:8.2f} win/s ({n / c1:.2f} win per CPU-s)   "
              f"{w} workers {n / tw:8.2f} win/s (x{t1 / tw:.2f})\n"
              f"  tsfresh's change_quantiles: our pool, {w} workers {n / ts:8.2f} win/s   "
              f"tsfresh n_jobs={w} {n / to:8.2f} win/s\n"
              f"  cache: cold {tc:6.2f} s, hit {th * 1000:7.1f} ms (x{tc / th:.0f})")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
