"""Synthetic -> UCI HAPT: pretrain on parametric synthetic motion, fine-tune on few real labels, compare.

Thin script over `virtimu.pipelines.hapt_study` (protocol in its docstring).
Settings: ``pipelines/configs/synthetic_to_hapt.yaml``; ``--quick`` applies
its ``quick:`` block (tiny numbers, for tests and CI); ``--set key=value``
overrides single settings (dotted keys).  Writes into ``--out``:
results.json / results.csv (every run), f1_vs_labels.png, per_class_f1.png,
similarity*.png, report.md, config.yaml.

Full run (about 45-60 min on 2 cores)::

    nice -n 10 .venv/bin/python pipelines/synthetic_to_hapt.py --out docs/results/synthetic_to_hapt

Quick run (< 60 s)::

    .venv/bin/python pipelines/synthetic_to_hapt.py --quick --out /tmp/s2h_quick
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "synthetic_to_hapt.yaml"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="synthetic_to_hapt", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML settings (default: %(default)s)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--quick", action="store_true", help="tiny settings (the config's quick: block)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one setting, e.g. --set synthetic.n_per_activity=50 (repeatable)")
    ap.add_argument("--variants", default=None,
                    help="comma-separated variant names to run besides 'base' (default: all in the config; "
                         "'none' for the base run only)")
    ap.add_argument("--fresh", action="store_true", help="recompute every run even if results.json has it")
    ap.add_argument("--cache", default=None,
                    help="folder for synthetic windows and pretrained models reused by later runs (large files; "
                         "keep it outside --out)")
    ap.add_argument("--report-only", action="store_true",
                    help="regenerate report.md, results.csv and plots from an existing results.json")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from virtimu.pipelines import hapt_study

    out = Path(args.out)
    try:
        if args.report_only:
            import json

            results = json.loads((out / "results.json").read_text(encoding="utf-8"))
            hapt_study.write_outputs(results, out)
            print(f"report regenerated in {out}")
            return 0
        cfg = hapt_study.load_config(args.config, args.overrides, quick=args.quick)
        variants = None
        if args.variants is not None:
            variants = [] if args.variants.strip() == "none" else [v.strip() for v in args.variants.split(",")
                                                                    if v.strip()]
        results = hapt_study.run_study(cfg, out, progress=not args.no_progress, variants=variants,
                                       reuse=not args.fresh, argv=list(sys.argv[1:] if argv is None else argv),
                                       cache=args.cache)
    except (hapt_study.ConfigError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = results["summary"]["base"]
    print(f"wrote {out}/report.md")
    for c in base["budgets"]:
        d = c["delta"]
        print(f"  {str(c['budget']):>5} labels/class: scratch {100 * c['scratch']['mean']:5.1f}  pretrained "
              f"{100 * c['pretrained']['mean']:5.1f}  delta {100 * d['mean']:+5.1f}  -> {d['verdict']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
