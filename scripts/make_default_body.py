"""Generate virtimu's open default body (SMPL-compatible ``SMPL_NEUTRAL.pkl``).

Usage::

    python scripts/make_default_body.py [--out-dir DIR]

Writes ``SMPL_NEUTRAL.pkl`` and ``README.md`` to ``virtimu/assets/body`` (or
DIR).  Deterministic; the logic lives in ``virtimu.body.default_body``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from virtimu.body import default_body  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="output folder (default: the package's virtimu/assets/body)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = default_body.write_default_body(args.out_dir)
    dt = time.perf_counter() - t0
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.parent / 'README.md'} in {dt:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
