"""Command-line entry points of SelfPAB (listed in ``virtimu.cli.EXTENSIONS``).

::

    virtimu pretrain selfpab --store data/synth.zarr --channels 'back/acc_*,right_thigh/acc_*' \\
                             [--config paper|cpu|FILE] --out runs/selfpab [--steps N] [--resume]
    virtimu selfpab-downstream --upstream runs/selfpab --store data/real.zarr --source harth \\
                               --split loso|ratio|subjects --out runs/harth

Both read accelerometer channels (m/s² in the store, converted to g) either
from a window set (``--set``) or straight from the recordings (windows of
the config's ``window_length`` samples at ``spectrogram.fs``).  Settings
come from a preset or YAML (``--config``) plus ``section.key=value``
overrides (``pretrain.steps=500``, ``downstream.lr=1e-3``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_CONFIG_HELP = "bundled preset (paper, cpu) or a YAML file (default: paper; downstream: the upstream's own)"


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, help="virtimu Zarr store")
    p.add_argument("--set", dest="set_name", help="window set to read (default: cut windows from the recordings)")
    p.add_argument("--source", help="comma-separated sources to use (default: all)")
    p.add_argument("--channels",
                   help="comma-separated accelerometer channel patterns, e.g. 'back/acc_*,right_thigh/acc_*'")
    p.add_argument("--length", type=int, help="window length in samples when cutting recordings (default: config)")
    p.add_argument("--overlap", type=float, help="window overlap when cutting recordings (default: config)")
    p.add_argument("--config", help=_CONFIG_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _sources(spec: str | None) -> list[str] | None:
    return [s.strip() for s in spec.split(",") if s.strip()] if spec else None


def _error(exc: BaseException) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_pretrain_selfpab(args: argparse.Namespace) -> int:
    from virtimu.selfpab.config import apply_overrides, load_config
    from virtimu.selfpab.data import load_acc_data
    from virtimu.selfpab.pretrain import pretrain

    try:
        cfg = apply_overrides(load_config(args.config or "paper"), list(args.overrides or []))
        if args.steps is not None:
            cfg = apply_overrides(cfg, {"pretrain.steps": args.steps})
        pc = cfg.pretrain
        data = load_acc_data(args.store, args.channels, set_name=args.set_name,
                             length=args.length or pc.window_length,
                             overlap=pc.overlap if args.overlap is None else args.overlap,
                             fs=cfg.spectrogram.fs, sources=_sources(args.source), progress=not args.quiet)
        print(f"pretraining on {len(data)} windows x {data.X.shape[1]} samples x {len(data.channels)} axes "
              f"({', '.join(data.channels)}) from {args.store}")
        result = pretrain(data, cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                          progress=not args.quiet, provenance={"store": str(args.store), "set": args.set_name,
                                                               "sources": _sources(args.source)})
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as exc:
        return _error(exc)
    val = "—" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    print(f"step {result.step}/{result.total_steps}: train loss {result.train_loss:.4f}, best validation loss "
          f"{val}, {result.frames_per_s:,.0f} spectrogram frames/s")
    print(f"written to {Path(args.out)} (upstream.pt, checkpoint.pt, pretrain.json)")
    return 0


def cmd_selfpab_downstream(args: argparse.Namespace) -> int:
    from virtimu.evaluation.report import aggregate, write_json
    from virtimu.selfpab.config import apply_overrides, load_config
    from virtimu.selfpab.data import load_acc_data, parse_channels
    from virtimu.selfpab.pretrain import load_upstream
    from virtimu.selfpab.run import run_downstream, split_indices

    try:
        upstream = load_upstream(args.upstream) if args.upstream else None
        if args.config:
            cfg = load_config(args.config)
        elif upstream is not None:
            cfg = upstream.config
        else:
            cfg = load_config("paper")
        cfg = apply_overrides(cfg, list(args.overrides or []))
        channels = parse_channels(args.channels) or (upstream.channels if upstream is not None else None)
        if channels is None:
            raise ValueError("--channels is required without --upstream "
                             "(e.g. --channels 'back/acc_*,right_thigh/acc_*')")
        dc = cfg.downstream
        data = load_acc_data(args.store, channels, set_name=args.set_name, length=args.length or dc.window_length,
                             overlap=dc.overlap if args.overlap is None else args.overlap, fs=cfg.spectrogram.fs,
                             sources=_sources(args.source), purity=dc.purity, progress=not args.quiet)
        tests = [s.strip() for s in args.test_subjects.split(",")] if args.test_subjects else None
        if args.split == "loso" and not args.all_folds:
            subjects = sorted(set(data.subject.tolist()), key=lambda s: (len(s), s))
            tests = tests or [args.test_subject or subjects[0]]
        folds = split_indices(data, args.split, seed=args.seed, ratio=args.ratio, test_subjects=tests)
        out = Path(args.out)
        dataset = ",".join(_sources(args.source) or []) or str(args.store)
        results = []
        for name, tr, te in folds:
            fold_dir = out if len(folds) == 1 else out / name
            r = run_downstream(data, tr, te, cfg, upstream, fold_dir, name=name, dataset=dataset,
                               n_per_class=args.n_per_class, n_windows=args.n_windows, seed=args.seed,
                               progress=not args.quiet, provenance={"store": str(args.store), "set": args.set_name,
                                                                    "upstream": args.upstream})
            m = r.metrics
            print(f"{name}: macro-F1 {100 * m.macro_f1:.2f} %, accuracy {100 * m.accuracy:.2f} % "
                  f"({r.provenance['evaluated_on']}, n = {m.n}; {r.provenance['n_train_windows']} training windows)")
            results.append(r)
        if len(results) > 1:
            for r in results:
                r.split = args.split
            summary = aggregate(results)
            write_json(out / "summary.json", summary)
            print(f"{args.split} over {len(results)} folds: macro-F1 {100 * summary['macro_f1']['mean']:.2f} ± "
                  f"{100 * summary['macro_f1']['std']:.2f} %")
    except (FileNotFoundError, ValueError, KeyError) as exc:
        return _error(exc)
    print(f"written to {out}")
    return 0


def _pretrain_parser(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``pretrain`` command's own sub-parsers (created here or reused if another module made it)."""
    existing = sub.choices.get("pretrain") if hasattr(sub, "choices") else None
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
        raise RuntimeError("a 'pretrain' command without sub-commands exists already")
    p = sub.add_parser("pretrain", help="self-supervised pretraining (selfpab)")
    return p.add_subparsers(dest="pretrain_method", required=True)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pretrain selfpab`` and ``selfpab-downstream`` to the virtimu command line."""
    psub = _pretrain_parser(sub)
    p = psub.add_parser("selfpab", help="masked-spectrogram pretraining of a SelfPAB upstream (paper 002)",
                        description="Pretrain a transformer encoder to reconstruct altered accelerometer "
                                    "spectrograms (paper 002).")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="run folder (upstream.pt, checkpoint.pt, pretrain.json)")
    p.add_argument("--steps", type=int, help="total optimisation steps (default: config)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT/checkpoint.pt exists")
    p.add_argument("overrides", nargs="*", help="section.key=value settings, e.g. pretrain.batch_size=16")
    p.set_defaults(func=cmd_pretrain_selfpab)

    p = sub.add_parser("selfpab-downstream", help="train and evaluate a SelfPAB activity classifier",
                       description="Fine-tune a pretrained SelfPAB upstream (or train the same network from "
                                   "scratch) on labelled windows and evaluate it (paper 002).")
    p.add_argument("--upstream", help="pretraining folder or upstream.pt (omit: no pretraining)")
    _add_data_args(p)
    p.add_argument("--split", choices=["ratio", "loso", "subjects"], default="loso",
                   help="loso (default: one fold, --test-subject or the first subject; --all-folds for all), "
                        "ratio, or fixed --test-subjects")
    p.add_argument("--test-subject", dest="test_subject", help="loso: the held-out subject")
    p.add_argument("--test-subjects", dest="test_subjects", help="comma-separated test subjects (subjects / loso)")
    p.add_argument("--all-folds", dest="all_folds", action="store_true", help="loso: run every subject's fold")
    p.add_argument("--ratio", type=float, default=0.7, help="train fraction for --split ratio")
    p.add_argument("--n-per-class", dest="n_per_class", type=int, help="label budget: windows per class")
    p.add_argument("--n-windows", dest="n_windows", type=int, help="label budget: stratified windows in total")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, batches, budget and split")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("overrides", nargs="*", help="section.key=value settings, e.g. downstream.steps=500")
    p.set_defaults(func=cmd_selfpab_downstream)
