"""SelfPAB pretraining throughput: spectrogram frames per second on this machine.

For each config (``cpu`` by default, optionally ``paper``) a few pretraining
steps run on random accelerometer windows of the config's window length
(``spectrogram.n_axes`` axes, in g), exactly as `virtimu.selfpab.pretrain`
does them: alteration of the batch (`alter_batch`), forward, masked L1,
backward, AdamW step.  Reported: seconds per step and spectrogram frames
per second (batch x frames per window / seconds per step; the paper's
unit of input is one 1 s frame with 0.5 s hop), the parameter count, and
the time 1 M frames would take.  The spectrogram itself (computed once
before training) is timed separately in windows/s.

Each config is warmed up for 2 steps, then the median of ``--steps`` timed
steps is reported (other processes on a shared machine slow single steps).

Run: ``.venv/bin/python benchmarks/bench_selfpab.py [--configs cpu paper] [--steps 10] [--threads 1]
[--batch-size N] [--axes 3]``.  The paper config at batch 64 with 5-minute
windows needs ~30 GB of memory for activations on the CPU; pass
``--batch-size 2`` to time it on a small machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from virtimu.selfpab.config import apply_overrides, load_config
from virtimu.selfpab.masking import alter_batch, masked_l1
from virtimu.selfpab.model import SelfPABPretrainModel, count_parameters
from virtimu.selfpab.spectrogram import Normalizer, spectrogram


def bench(name: str, steps: int, batch_size: int | None, axes: int | None) -> dict:
    cfg = load_config(name)
    if axes:
        cfg = cfg.with_n_axes(axes)
    if batch_size:
        cfg = apply_overrides(cfg, {"pretrain.batch_size": batch_size})
    pc, sc = cfg.pretrain, cfg.spectrogram
    rng = np.random.default_rng(0)
    X = (rng.normal(scale=0.2, size=(pc.batch_size, pc.window_length, sc.n_axes)) + 0.5).astype(np.float32)
    t0 = time.perf_counter()
    S = spectrogram(X, sc)
    spec_s = time.perf_counter() - t0
    S = Normalizer.fit(S)(S)
    torch.manual_seed(0)
    model = SelfPABPretrainModel(S.shape[-1], cfg.upstream)
    opt = torch.optim.AdamW(model.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        altered, mask = alter_batch(S, cfg.masking, sc.n_bins, rng)
        loss = masked_l1(model(torch.from_numpy(altered)), torch.from_numpy(S), torch.from_numpy(mask))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    frames = S.shape[0] * S.shape[1]
    return {"config": name, "batch": S.shape[0], "frames_per_window": S.shape[1], "features": S.shape[2],
            "params": count_parameters(model), "step_s": step_s, "frames_per_s": frames / step_s,
            "spectrogram_windows_per_s": S.shape[0] / spec_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["cpu"], help="presets or YAML files (cpu, paper)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per config (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--batch-size", dest="batch_size", type=int, help="override pretrain.batch_size")
    ap.add_argument("--axes", type=int, default=3, help="accelerometer axes (3: one sensor; 6: back + thigh)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("| config | batch x frames x features | parameters | s/step | spectrogram frames/s | "
          "1 M frames | spectrogram windows/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.configs:
        r = bench(name, args.steps, args.batch_size, args.axes)
        print(f"| {r['config']} | {r['batch']} x {r['frames_per_window']} x {r['features']} | {r['params']:,} | "
              f"{r['step_s']:.3f} | {r['frames_per_s']:,.0f} | {1e6 / r['frames_per_s'] / 60:.1f} min | "
              f"{r['spectrogram_windows_per_s']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
