"""Multi-process training: `virtimu train --nproc 2` against one process, same settings, same machine.

Builds (once, cached in ``--work``) a window store from the real UCI HAPT
recordings (``virtimu ingest hapt``; 128-sample windows, 50 % overlap, null
dropped), then trains ``--model`` (default cnn1d) with the ratio split for
``--epochs`` epochs, batch ``--batch``, in interleaved rounds:

  (a) one process, 1 torch thread        (``--nproc 1 threads=1``)
  (b) one process, torch's default threads (``--nproc 1``)
  (c) two processes, 1 thread each        (``--nproc 2``)

and prints, per configuration, the median training seconds (``train_seconds``
of the run's metrics.json: the fit itself) and wall seconds of the whole
command (process start-up, data loading and evaluation included), the
ratios (c)/(a) and (c)/(b) (< 1: two processes are faster), and the test
accuracies of (c) and (a) (the same global batches, see
`virtimu.training.distributed`: equal but for float rounding and dropout).  Speed depends on idle cores: the script
prints the load average beside each figure.  Asserts nothing.

Run::

    nice -n 10 .venv/bin/python benchmarks/bench_ddp.py [--epochs 3] [--rounds 3] [--work /tmp/bench_ddp]

(needs ../shared/data/hapt or ``--hapt PATH``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {"1 process, 1 thread": ["--nproc", "1", "threads=1"],
           "1 process, default threads": ["--nproc", "1"],
           "2 processes, 1 thread each": ["--nproc", "2"]}


def virtimu(*args: str) -> float:
    """Run ``virtimu ARGS`` in a fresh interpreter; returns its wall seconds (raises on failure)."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "virtimu.cli", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"virtimu {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return time.perf_counter() - t


def build_store(hapt: Path, work: Path) -> Path:
    """The HAPT window store in ``work`` (built once)."""
    store = work / "hapt.zarr"
    if not (work / ".ready").is_file():
        shutil.rmtree(store, ignore_errors=True)
        virtimu("ingest", "hapt", str(hapt), "--out", str(store))
        virtimu("windows", str(store), "--length", "128", "--overlap", "0.5", "--drop-null", "--quiet")
        (work / ".ready").write_text("ok")
    return store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hapt", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "hapt"))
    ap.add_argument("--work", default="/tmp/bench_ddp", help="folder for the store and the runs")
    ap.add_argument("--model", default="cnn1d")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = build_store(Path(args.hapt), work)
    train: dict[str, list[float]] = {k: [] for k in CONFIGS}
    wall: dict[str, list[float]] = {k: [] for k in CONFIGS}
    acc: dict[str, float] = {}
    loads: list[float] = []
    for r in range(args.rounds):
        for name, extra in CONFIGS.items():
            out = work / "runs" / f"{name.replace(' ', '_').replace(',', '')}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            wall[name].append(virtimu("train", args.model, "--store", str(store), "--out", str(out), "--quiet",
                                      *extra, f"epochs={args.epochs}", f"batch_size={args.batch}"))
            metrics = json.loads((out / "metrics.json").read_text())
            train[name].append(float(metrics["train_seconds"]))
            acc[name] = float(metrics["metrics"]["accuracy"])
            loads.append(os.getloadavg()[0])
            print(f"round {r}: {name:28s} train {train[name][-1]:6.1f} s, wall {wall[name][-1]:6.1f} s, "
                  f"accuracy {100 * acc[name]:.2f} %, load {loads[-1]:.1f}", flush=True)
    med = {k: statistics.median(v) for k, v in train.items()}
    medw = {k: statistics.median(v) for k, v in wall.items()}
    a, b, c = CONFIGS
    print(f"\n{args.model}, {args.epochs} epochs, global batch {args.batch}, {os.cpu_count()} CPUs, "
          f"load average {min(loads):.1f}-{max(loads):.1f}; medians of {args.rounds} rounds")
    for k in CONFIGS:
        print(f"  {k:28s} train {med[k]:6.1f} s   wall {medw[k]:6.1f} s")
    print(f"ratio training time (2 processes / 1 process 1 thread):  {med[c] / med[a]:.2f}")
    print(f"ratio training time (2 processes / 1 process default):   {med[c] / med[b]:.2f}")
    print(f"ratio wall time     (2 processes / 1 process 1 thread):  {medw[c] / medw[a]:.2f}")
    print(f"test accuracy 2 processes vs 1 process (1 thread): {100 * acc[c]:.2f} vs {100 * acc[a]:.2f} % "
          "(equal up to float rounding and per-process dropout masks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
