"""Fit the HAPT smartphone's device model and write virtimu/assets/noise/hapt_fitted.yaml.

Usage (from the project root)::

    .venv/bin/python scripts/fit_hapt_noise.py [--hapt ../shared/data/hapt]
        [--out virtimu/assets/noise/hapt_fitted.yaml] [--json runs/hapt_noise_fit.json]

Reads UCI HAPT's raw signals (`virtimu.datasets.hapt`), takes the trimmed
SITTING / STANDING / LAYING segments and fits white-noise density, bias
instability, bias spread, quantisation step and range for the waist
phone's accelerometer and gyroscope (`virtimu.fidelity.calibrate`); terms
the data cannot give come from the ``smartphone`` preset.  Static segments
include body sway: the fitted terms are upper bounds.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from virtimu.datasets.base import load_dataset
from virtimu.fidelity.calibrate import fit_noise, write_device_yaml
from virtimu.io.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HAPT = ROOT.parent / "shared" / "data" / "hapt"
DEFAULT_OUT = ROOT / "virtimu" / "assets" / "noise" / "hapt_fitted.yaml"
BASE = "smartphone"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hapt", default=str(DEFAULT_HAPT), help="HAPT folder (holding RawData/)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="device-model YAML to write")
    parser.add_argument("--json", help="also write the full fit as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not Path(args.hapt).exists():
        print(f"error: {args.hapt}: no such folder (HAPT raw data)", file=sys.stderr)
        return 2
    fit = fit_noise(load_dataset("hapt", args.hapt))
    model = fit.to_device_model(base=BASE, name="hapt-fitted")
    write_device_yaml(args.out, model, fit, base=BASE, command="scripts/fit_hapt_noise.py")
    print(f"written {args.out}")
    if args.json:
        write_text_atomic(args.json, json.dumps(fit.to_dict(), indent=1))
        print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
