"""Generate the bundled demo motion clips (AMASS SMPL+H .npz) into virtimu/assets/motions.

Usage: python scripts/make_demo_motions.py [--out DIR] [--only walking running ...]
                                           [--approximate-skeleton] [--preview DIR]
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from virtimu.motion.procedural import DEMO_CLIPS, DEMO_MOTIONS_DIR, default_skeleton, generate, write_clip
from virtimu.motion.skeleton import approximate_skeleton

log = logging.getLogger("make_demo_motions")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEMO_MOTIONS_DIR, help="output folder")
    ap.add_argument("--only", nargs="+", choices=list(DEMO_CLIPS), help="generate only these clips")
    ap.add_argument("--approximate-skeleton", action="store_true",
                    help="use the approximate SMPL-neutral joints instead of the default body")
    ap.add_argument("--preview", type=Path, help="also write stick-figure PNGs (needs matplotlib) here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    skel = approximate_skeleton() if args.approximate_skeleton else default_skeleton()
    log.info("skeleton: %s", skel.source)
    t0 = time.perf_counter()
    for name in args.only or list(DEMO_CLIPS):
        clip = generate(DEMO_CLIPS[name], skel)
        path = write_clip(clip, args.out / f"{name}.npz")
        log.info("%s: %d frames, %.1f s -> %s (%.0f kB)", name, clip.n_frames, clip.n_frames / clip.fps, path,
                 path.stat().st_size / 1024)
        if args.preview is not None:
            from virtimu.motion.preview import save_stick_figures
            args.preview.mkdir(parents=True, exist_ok=True)
            view = "front" if name in ("waving", "arm_stretching") else "side"
            span = (1.0, 2.0) if name in ("walking", "running") else None  # about one gait cycle
            save_stick_figures(clip, args.preview / f"demo_motions_{name}.png", view=view, span=span)
    log.info("done in %.1f s", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
