"""Write randomised clips of the 12 HAPT activities as AMASS SMPL+H .npz files.

Each clip goes to OUT/<ACTIVITY>/<name>.npz with its body shape (betas of the default body), the
clip label and per-frame hapt12 label names (``virtimu_label`` / ``virtimu_frame_labels``), so
``virtimu synth --amass OUT`` turns them into virtual IMU recordings.

Usage: python scripts/make_hapt_motions.py --out DIR [--activities WALKING SIT_TO_LIE ...] [--n 10]
                                           [--seed 0] [--fps 50] [--duration 8] [--workers 2]
                                           [--n-subjects 0] [--quiet]
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from virtimu.motion.parametric import HAPT_ACTIVITIES, Randomization, generate_clips
from virtimu.motion.procedural import write_clip

log = logging.getLogger("make_hapt_motions")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--activities", nargs="+", choices=list(HAPT_ACTIVITIES), default=list(HAPT_ACTIVITIES),
                    help="activities to generate (default: all 12)")
    ap.add_argument("--n", type=int, default=10, help="clips per activity")
    ap.add_argument("--seed", type=int, default=0, help="run seed (clip i of activity a: clip_seed(seed, a, i))")
    ap.add_argument("--fps", type=float, default=50.0, help="frame rate (Hz)")
    ap.add_argument("--duration", type=float, default=8.0, help="clip duration (s)")
    ap.add_argument("--workers", type=int, default=1, help="generator processes")
    ap.add_argument("--n-subjects", type=int, default=0,
                    help="draw bodies from this many virtual subjects (0: every clip its own body)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.n < 1:
        print("error: --n must be >= 1")
        return 2
    r = Randomization(n_subjects=args.n_subjects)
    t0 = time.perf_counter()
    count = 0
    for clip in generate_clips(args.activities, args.n, args.seed, fps=args.fps, duration_s=args.duration,
                               randomization=r, workers=args.workers, progress=not args.quiet):
        path = write_clip(clip, args.out / clip.label / f"{clip.name}.npz")
        log.debug("%s -> %s", clip.name, path)
        count += 1
    dt = time.perf_counter() - t0
    log.info("%d clips in %.1f s (%.2f clips/s) -> %s", count, dt, count / max(dt, 1e-9), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
