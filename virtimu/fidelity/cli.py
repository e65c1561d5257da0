"""``virtimu fidelity`` and ``virtimu calibrate-noise``: thin wrappers over `virtimu.fidelity`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    out = [t.strip() for t in text.split(",") if t.strip()]
    return out or None


def cmd_fidelity(args: argparse.Namespace) -> int:
    from virtimu.body.files import load_body_model
    from virtimu.datasets.base import DatasetFormatError
    from virtimu.fidelity.fidelity import dip_fidelity
    from virtimu.io.atomic import write_text_atomic
    from virtimu.io.pickles import UnsafePickleError

    root = Path(args.path)
    if not root.exists():
        return _error(f"{root}: no such file or directory")
    if args.max_files is not None and args.max_files < 1:
        return _error(f"--max-files {args.max_files}: need at least 1")
    try:
        body = load_body_model(args.body_model)
    except (OSError, ValueError) as exc:
        return _error(f"--body-model {args.body_model}: {exc}")
    try:
        report = dip_fidelity(root, body, sites=_names(args.sensors), gt_up=args.gt_up, max_files=args.max_files,
                              progress=not args.quiet)
    except (DatasetFormatError, UnsafePickleError, ValueError, FileNotFoundError) as exc:
        return _error(str(exc))
    text = report.to_markdown()
    print(text)
    if args.out:
        out = Path(args.out)
        write_text_atomic(out / "fidelity.json", json.dumps(report.to_dict(), indent=1))
        write_text_atomic(out / "fidelity.md", text + "\n")
        print(f"written: {out / 'fidelity.json'}, {out / 'fidelity.md'}")
    return 0


def _recordings(args: argparse.Namespace):
    """Recordings to calibrate on: a dataset folder (``--dataset``) or a virtimu store (``--store``)."""
    if args.store:
        from virtimu.store import RecordingStore

        store = RecordingStore(args.path, mode="r")
        names = store.list(args.source)
        if not names:
            raise ValueError(f"{args.path}: no recordings" + (f" of source {args.source!r}" if args.source else ""))
        return (store.read(src, name) for src, name in names)
    from virtimu.datasets.base import load_dataset

    return load_dataset(args.dataset, args.path)


def cmd_calibrate_noise(args: argparse.Namespace) -> int:
    from virtimu.datasets.base import DatasetFormatError
    from virtimu.fidelity.calibrate import fit_noise, write_device_yaml
    from virtimu.io.atomic import write_text_atomic
    from virtimu.sensors.noise import PRESETS

    if not Path(args.path).exists():
        return _error(f"{args.path}: no such file or directory")
    if args.base not in PRESETS:
        return _error(f"--base {args.base!r}: unknown device preset; valid: {sorted(PRESETS)}")
    if args.trim < 0 or args.min_seconds <= 0:
        return _error("--trim must be >= 0 and --min-seconds > 0")
    activities = _names(args.activities)
    if not activities:
        return _error("--activities: give at least one label name")
    try:
        fit = fit_noise(_recordings(args), activities=activities, trim_s=args.trim, min_s=args.min_seconds,
                        progress=not args.quiet)
    except (DatasetFormatError, ValueError, KeyError, FileNotFoundError) as exc:
        return _error(str(exc).strip("'\""))
    model = fit.to_device_model(base=args.base, name=args.name)
    print(f"{fit.n_segments} static segments from {fit.n_recordings} recordings at {fit.fs:g} Hz "
          f"({', '.join(activities)}); every term is an upper bound (body sway)")
    for kind, k in fit.kinds.items():
        print(f"{kind} ({k.unit}): white density {k.noise_density:.4g} /sqrt(Hz) "
              f"[{'/'.join(a.white_method for a in k.axes)}; per axis "
              f"{', '.join(f'{a.white_density:.4g}' for a in k.axes)}], bias std {k.bias_std:.4g} "
              f"(spread {k.bias_spread:.4g}), bias instability "
              f"{', '.join(f'{a.bias_instability:.4g}' for a in k.axes)}, random walk <= {k.bias_walk_upper:.4g} "
              f"/sqrt(s), step {f'{k.quantisation_step:.4g}' if k.quantisation_step else 'none'}, "
              f"max |value| {k.observed_max:.4g}{' (clipped)' if k.saturated else ''}")
    if args.out:
        write_device_yaml(args.out, model, fit, base=args.base)
        print(f"device model written: {args.out}")
    if args.json:
        write_text_atomic(args.json, json.dumps(fit.to_dict(), indent=1))
        print(f"fit details written: {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fidelity`` and ``calibrate-noise`` to the ``virtimu`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "fidelity", help="synthetic vs real agreement on DIP-IMU-layout data (per sensor and axis)",
        description="Synthesise DIP-IMU's 17 sensors from each sequence's ground-truth SMPL poses and report, "
                    "per sensor and axis, correlation and RMSE against the real readings (specific force, "
                    "world acceleration without gravity, gyro from orientations) before and after fitting one "
                    "constant rotation per sensor; plus orientation error and the missing root acceleration "
                    "(DIP poses carry no translation).")
    p.add_argument("path", help="DIP-IMU folder (DIP_IMU_and_Others, DIP_IMU or a folder of s_NN subject folders)")
    p.add_argument("--body-model", dest="body_model", help="SMPL model file/folder (default: open virtimu body)")
    p.add_argument("--sensors", help="comma-separated DIP sites to compare (default: all 17)")
    p.add_argument("--gt-up", dest="gt_up", choices=["y", "z"], default="y",
                   help="world up axis of the gt root orientation (default y: DIP's world)")
    p.add_argument("--max-files", dest="max_files", type=int, help="compare at most N sequences")
    p.add_argument("--out", help="folder for fidelity.json and fidelity.md")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fidelity)

    p = sub.add_parser(
        "calibrate-noise", help="fit a device noise model to static segments of real recordings",
        description="Estimate per-axis white-noise density (Allan slope -1/2, else the PSD floor), bias "
                    "instability (Allan minimum), bias spread across recordings, quantisation step and range "
                    "for acc and gyro from labelled static segments, and write a device-model YAML "
                    "(virtimu.sensors.noise format).  Static segments include body sway: the terms are upper "
                    "bounds.")
    p.add_argument("path", help="dataset folder (read with --dataset's loader) or, with --store, a virtimu store")
    p.add_argument("--dataset", default="hapt", help="dataset loader for PATH (default hapt)")
    p.add_argument("--store", action="store_true", help="PATH is a virtimu Zarr store")
    p.add_argument("--source", help="with --store: the source to read (default: all)")
    p.add_argument("--activities", default="SITTING,STANDING,LAYING",
                   help="label names of static postures (default SITTING,STANDING,LAYING)")
    p.add_argument("--trim", type=float, default=1.0, help="seconds dropped at both ends of a segment (default 1)")
    p.add_argument("--min-seconds", dest="min_seconds", type=float, default=5.0,
                   help="shortest segment kept after trimming, s (default 5)")
    p.add_argument("--base", default="smartphone", help="device preset for terms the data cannot give")
    p.add_argument("--name", default="fitted", help="name of the device model (default fitted)")
    p.add_argument("--out", help="device-model YAML to write")
    p.add_argument("--json", help="also write the full fit (Allan curves, per-recording biases) as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_calibrate_noise)
