"""The ``virtimu`` command line: thin argument parsing over the library."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("virtimu")


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """['fps=100', 'signals=acc,gyro'] -> {'fps': 100, 'signals': 'acc,gyro'} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"error: expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _synth_config(args: argparse.Namespace):
    from virtimu.sensors.synth import SynthConfig

    values: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"error: {args.config}: expected a mapping of SynthConfig fields")
        values.update(loaded)
    for key in ("fps", "strategy", "span", "signals", "acc_mode", "device", "seed"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    values.update(_parse_overrides(args.overrides))
    import dataclasses

    known = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"error: unknown synthesis settings {unknown}; valid: {sorted(known)}")
    try:
        return SynthConfig(**values)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None


def cmd_synth(args: argparse.Namespace) -> int:
    from virtimu.sensors.placement import PlacementError, load_site_table, resolve_sites
    from virtimu.synthesis import DEMO_MOTIONS, SynthJob, run_synthesis

    cfg = _synth_config(args)
    try:
        table = load_site_table(args.sites)
        spec = args.sensors
        if spec is None and args.preset is None:
            spec = "wrist,thigh,head"
        sites = resolve_sites(spec, table, preset=args.preset)
    except PlacementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.amass is None:
        inputs, source = DEMO_MOTIONS, args.source or "demo"
        print(f"no --amass given: using the bundled demo motions in {DEMO_MOTIONS}")
    else:
        inputs, source = Path(args.amass), args.source or "amass"
        if not inputs.exists():
            print(f"error: --amass {inputs}: no such file or directory", file=sys.stderr)
            return 2
    job = SynthJob(
        store=str(args.out), sites=sites, config=cfg, source=source, body_model=args.body_model,
        gender=args.gender, jitter_offset_m=args.jitter_offset, jitter_rotation_deg=args.jitter_rotation,
        jitter_seed=args.seed or 0, overwrite=args.overwrite,
    )
    print(f"sensors: {', '.join(s.name for s in sites)}; {cfg.fps:g} Hz; signals {','.join(cfg.signals)}; "
          f"strategy {cfg.strategy}; body {args.body_model or 'virtimu default body'}")
    try:
        report = run_synthesis(inputs, job, workers=args.workers, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    if report.seconds > 0 and report.frames:
        print(f"throughput: {report.frames / report.seconds:,.0f} output frames/s (end to end, incl. I/O)")
    print(f"store: {args.out}  (inspect with: virtimu info {args.out})")
    return 1 if report.failed and not report.written and not report.skipped else 0


def cmd_info(args: argparse.Namespace) -> int:
    from virtimu.store import RecordingStore
    from virtimu.store.summary import format_summary, summary_as_json

    try:
        store = RecordingStore(args.store, mode="r")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = store.summary()
    if args.json:
        print(summary_as_json(rows))
    else:
        print(format_summary(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="virtimu", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="synthesise virtual IMU recordings from AMASS motions",
                       description="Place virtual sensors on an SMPL-family body driven by AMASS poses and "
                                   "write acc/gyro/orientation recordings to a Zarr store.")
    p.add_argument("--amass", help="AMASS .npz file or folder (searched recursively); default: bundled demo motions")
    p.add_argument("--sensors", help="comma-separated site names or aliases (default: wrist,thigh,head)")
    p.add_argument("--preset", help="placement preset (paper001, dip, transpose, harth, hapt, opportunity, jsi-fos)")
    p.add_argument("--sites", help="YAML file with custom sensor sites")
    p.add_argument("--fps", type=float, help="output rate in Hz (default 60)")
    p.add_argument("--strategy", choices=["resample", "decimate"],
                   help="rate conversion: resample poses then difference (default) or difference then decimate")
    p.add_argument("--span", type=int, help="central-difference smoothing span n (default 1)")
    p.add_argument("--signals", help="signal kinds: acc,gyro,rot,quat,mag (default acc,gyro,rot)")
    p.add_argument("--acc-mode", dest="acc_mode", choices=["specific_force", "global_no_gravity"])
    p.add_argument("--device", help="device model preset: none, smartphone, xsens")
    p.add_argument("--seed", type=int, help="seed of device noise and placement jitter")
    p.add_argument("--jitter-offset", type=float, default=0.0, help="placement offset noise std (m)")
    p.add_argument("--jitter-rotation", type=float, default=0.0, help="mounting rotation noise std (deg)")
    p.add_argument("--body-model", help="SMPL / SMPL+H / SMPL-X model file or folder (default: open virtimu body)")
    p.add_argument("--gender", help="force a body gender (default: from each AMASS file when a folder is given)")
    p.add_argument("--out", default="data/synth.zarr", help="output Zarr store (default data/synth.zarr)")
    p.add_argument("--source", help="source name in the store (default amass, or demo)")
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="re-synthesise recordings already in the store")
    p.add_argument("--config", help="YAML file of synthesis settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="key=value synthesis settings, e.g. span=2")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("info", help="summarise a store: sources, recordings, frames, channels, labels")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
