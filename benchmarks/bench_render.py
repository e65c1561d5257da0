"""Render speed: frames/s of the GL renderer (EGL or OSMesa, whichever is chosen) and the matplotlib fallback.

Synthesises the bundled walking clip into a temporary store, then renders
frames of it at 320x240 (+ 90 px acc trace) with each renderer, end to end
(posing, rendering, text and trace), in this process and with worker
processes.  Usage: python benchmarks/bench_render.py [--frames 60] [--workers 2]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.render.store_helpers import build_demo_store  # noqa: E402
from virtimu.render.backend import choose_renderer  # noqa: E402
from virtimu.render.frames import RenderStats, RenderStyle  # noqa: E402
from virtimu.render.posing import open_render_source  # noqa: E402
from virtimu.render.recording import RenderOptions, frame_images  # noqa: E402


def bench(source, frames: np.ndarray, renderer: str, workers: int) -> RenderStats:
    opts = RenderOptions(style=RenderStyle(width=320, height=240, trace_height=90), renderer=renderer,
                         workers=workers, chunk=8, progress=False)
    stats = RenderStats()
    for _ in frame_images(source, frames, opts, stats):
        pass
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=60, help="frames per run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    auto = choose_renderer("auto")
    with tempfile.TemporaryDirectory() as tmp:
        store = build_demo_store(Path(tmp) / "bench.zarr", clips=("walking",), fps=60.0)
        source = open_render_source(store, "walking")
        n = min(args.frames, source.n_frames)
        runs = []
        if auto.is_gl:
            runs += [(auto.name, 1, n), (auto.name, args.workers, n)]
        else:
            print(f"no GL renderer here ({auto.reason}); only the matplotlib fallback is measured")
        runs += [("matplotlib", 1, n), ("matplotlib", args.workers, n)]
        print(f"walking clip, 320x240 view + 90 px trace, frames 0..N-1 at 60 Hz")
        print(f"{'renderer':40s} {'workers':>7s} {'frames':>6s} {'seconds':>8s} {'frames/s':>9s}")
        for name, workers, count in runs:
            bench(source, np.arange(2), name, 1)  # warm up: renderer, caches
            stats = bench(source, np.arange(count), name, workers)
            print(f"{stats.renderer:40s} {stats.workers:7d} {stats.frames:6d} {stats.seconds:8.2f} {stats.fps:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
