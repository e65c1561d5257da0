"""The ``virtimu`` command line: thin argument parsing over the library."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("virtimu")

#: Modules that add their own sub-commands: each defines ``register(sub)``
#: taking the ``add_subparsers`` object and calling ``set_defaults(func=...)``
#: on the parsers it adds.
EXTENSIONS: tuple[str, ...] = ("virtimu.render.cli", "virtimu.fidelity.cli", "virtimu.selfpab.cli")


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """['fps=100', 'signals=acc,gyro'] -> {'fps': 100, 'signals': 'acc,gyro'} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"error: expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


_DEVICE_FILE_SUFFIXES = (".yaml", ".yml")


def _device_setting(value: Any) -> Any:
    """The ``device`` synthesis setting with a device-model YAML path read into its field mapping.

    A string ending in .yaml / .yml (case-insensitive) is a device-model file
    as written by ``virtimu calibrate-noise`` (`virtimu.fidelity.calibrate.load_device_yaml`);
    it becomes ``DeviceModel.to_dict()``, so each recording's provenance holds
    the noise parameters themselves.  Any other value (a preset name, a
    mapping) is returned unchanged.  Raises ValueError naming the file when it
    is missing or not a valid device model.
    """
    if not (isinstance(value, str) and value.lower().endswith(_DEVICE_FILE_SUFFIXES)):
        return value
    from virtimu.fidelity.calibrate import load_device_yaml

    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"device {value}: no such device-model file")
    try:
        return load_device_yaml(path).to_dict()
    except ValueError as exc:
        raise ValueError(f"device {exc}") from None


def _synth_config(args: argparse.Namespace):
    """The SynthConfig of ``virtimu synth``: --config YAML, then options, then key=value settings.

    Raises ValueError naming the file (or setting) for anything invalid,
    including the device model (checked here, before any file is read).
    """
    from virtimu.sensors.synth import SynthConfig

    values: dict[str, Any] = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--config {args.config}: cannot read ({type(exc).__name__}: {exc})") from None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: e.g. a date like 2019-13-45
            raise ValueError(f"--config {args.config}: not valid YAML ({exc})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise ValueError(f"--config {args.config}: expected a mapping of SynthConfig fields, "
                             f"got {type(loaded).__name__}")
        values.update(loaded)
    for key in ("fps", "strategy", "span", "signals", "acc_mode", "device", "seed"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    overrides = _parse_overrides(args.overrides)
    values.update(overrides)
    where = f"--config {args.config}" if args.config else "synthesis settings"
    if "device" in values:
        try:
            values["device"] = _device_setting(values["device"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    known = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown synthesis settings {unknown}; valid: {sorted(known)}")
    try:
        cfg = SynthConfig(**values)
        cfg.device_model()  # a bad device model fails here, not once per file
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return cfg


def cmd_synth(args: argparse.Namespace) -> int:
    """``virtimu synth``: in this process / a process pool, or on a Dask cluster (--scheduler)."""
    from virtimu.sensors.placement import PlacementError, load_site_table, resolve_sites
    from virtimu.synthesis import DEMO_MOTIONS, SynthJob, run_synthesis

    try:
        cfg = _synth_config(args)
    except ValueError as exc:  # exits as before (status 1, message on stderr)
        raise SystemExit(f"error: {exc}") from None
    if args.workers is not None and args.workers < 1:
        print(f"error: --workers {args.workers}: need at least 1", file=sys.stderr)
        return 2
    if args.retries < 0:
        print(f"error: --retries {args.retries}: must be >= 0", file=sys.stderr)
        return 2
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
        if args.scheduler:
            from virtimu.distributed import DaskUnavailableError, run_synthesis_dask

            where = "a local Dask cluster" if args.scheduler == "local" else f"the Dask cluster at {args.scheduler}"
            print(f"running on {where}")
            try:
                report = run_synthesis_dask(inputs, job, scheduler=args.scheduler, workers=args.workers,
                                            retries=args.retries, progress=not args.quiet)
            except DaskUnavailableError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        else:
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
    from virtimu.store.windows import WindowStore
    from virtimu.store.windows import format_summary as format_window_summary

    try:
        store = RecordingStore(args.store, mode="r")
        windows = WindowStore(args.store, mode="r")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = store.summary()
    sets = {name: windows.summary(name) for name in windows.list_sets()}
    if args.json:
        print(json.dumps({"recordings": json.loads(summary_as_json(rows)), "windows": sets}, indent=2, default=str))
        return 0
    print(format_summary(rows))
    for summary in sets.values():
        print()
        print(format_window_summary(summary))
    return 0


def _relabelled(recs, target: str):
    """Recordings with their labels translated into label space ``target``.

    A recording's own space is the one its labels were written in
    (``provenance['labels']['label_space']``, set by ``virtimu label``, or the
    label space of the real dataset it was ingested from); names
    go through the bundled map between the two spaces, or match by name when
    the recording has no recorded space.
    """
    from virtimu.labels.maps import get_label_map, get_label_space, map_by_names

    dst = get_label_space(target)
    for rec in recs:
        if rec.labels is None:
            yield rec
            continue
        src = ((rec.provenance or {}).get("labels") or {}).get("label_space")
        if not src and (rec.attrs or {}).get("dataset"):  # real data: its dataset's own label space
            from virtimu.datasets.base import get_dataset

            src = get_dataset(rec.attrs["dataset"])[0].label_space
        names = None
        if src and src != dst.name:
            lm = get_label_map(src, dst.name)
            names = {lm.src.name_of(a): (None if b == dst.null_code else dst.name_of(b)) for a, b in lm.mapping.items()}
        codes = map_by_names(rec.labels, rec.label_map or {}, dst, names, where=f"{rec.source}/{rec.name}")
        yield dataclasses.replace(rec, labels=codes, label_map=dst.label_map())


def cmd_label(args: argparse.Namespace) -> int:
    from virtimu.labels.apply import label_store

    try:
        report = label_store(args.store, rules=args.rules, babel=args.babel, overrides=args.overrides,
                             label_space=args.label_space, sources=args.sources.split(",") if args.sources else None,
                             dry_run=args.dry_run, progress=not args.quiet)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    if args.report:
        _write_json(args.report, report.to_dict())
    return 0


def _write_json(path: str, data: Any) -> None:
    from virtimu.io.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2, default=str))


def cmd_windows(args: argparse.Namespace) -> int:
    """Cut the store's recordings into a window set.

    Without balancing the run streams: each recording is windowed (and
    filtered) and appended as it goes, through one `WindowAppender`, so
    memory holds one recording's windows, and the whole run becomes visible
    at once when it commits (a killed run leaves the set as it was;
    re-running appends each window once).  min_class_windows takes two
    passes (count, then write).  Balancing needs every window at once and
    runs in memory (`make_windows`).  Both give the same set.
    """
    from virtimu.labels.filtering import FilterRules, filter_windows
    from virtimu.store import RecordingStore
    from virtimu.store.windows import WindowStore
    from virtimu.store.windows import format_summary as format_window_summary
    from virtimu.windows import StreamFilter, WindowConfig, make_windows, stream_windows

    try:
        cfg = WindowConfig(length=args.length, overlap=args.overlap, fs=args.fs,
                           channels=[c.strip() for c in args.channels.split(",")] if args.channels else None,
                           magnitude=args.magnitude, purity=args.purity, drop_null=args.drop_null,
                           min_class_windows=args.min_class_windows, balance=args.balance, seed=args.seed)
        store = RecordingStore(args.store, mode="r")
        keys = [k for k in store.list() if not args.sources or k[0] in args.sources.split(",")]
        if not keys:
            raise ValueError(f"{args.store}: no recordings" + (f" from sources {args.sources}" if args.sources else ""))

        def recordings():
            recs = (store.read(src, name) for src, name in keys)
            return _relabelled(recs, args.label_map) if args.label_map else recs

        rules = None
        if args.filter != "none":
            rules = (FilterRules.default() if args.filter == "default"
                     else FilterRules.from_yaml(args.filter, classes=None))
        storage = {"mantissa_bits": args.mantissa_bits, "shuffle": True if args.compact else None}
        windows = WindowStore(args.store, mode="a")
        freport = None
        if cfg.balance != "none":
            ws, report = make_windows(recordings(), cfg, progress=not args.quiet)
            if rules is not None:
                ws, freport = filter_windows(ws, rules)
            n_appended = len(windows.append(args.name, ws, **storage))
        else:
            stage = StreamFilter(rules) if rules is not None else None
            with windows.appender(args.name, **storage) as app:
                report, attrs = stream_windows(recordings, cfg, app.add, progress=not args.quiet, stage=stage)
                if stage is not None:
                    freport = stage.report()
                    attrs["label_filter"] = stage.attrs()
                n_appended = len(app.commit(attrs))
        print(report.format())
        if freport is not None:
            print(freport.format())
        summary = WindowStore(args.store, mode="r").summary(args.name)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_window_summary(summary))
    print(f"window set {args.name!r} in {args.store}: {n_appended} windows appended")
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from virtimu.datasets.base import datasets

    infos = datasets()
    if args.json:
        print(json.dumps({k: dataclasses.asdict(v) for k, v in infos.items()}, indent=2))
        return 0
    for info in infos.values():
        how = f"virtimu data fetch {info.name}" if info.download_url else (info.instructions or info.url)
        print(f"{info.name:12s} {info.title}")
        print(f"{'':12s} {info.fs:g} Hz; sites {', '.join(info.sites)}; labels {info.label_space}; licence {info.licence}")
        print(f"{'':12s} get it: {how}")
        print(f"{'':12s} layout: {info.layout}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from virtimu.datasets.fetch import fetch

    try:
        folder = fetch(args.name, args.to, url=args.url, progress=not args.quiet)
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if folder is None:
        from virtimu.datasets.base import get_dataset

        info = get_dataset(args.name)[0]
        print(f"{info.name} has no public download URL. {info.instructions}\nSee {info.url}")
        return 1
    print(f"{args.name}: {folder}  (next: virtimu ingest {args.name} {folder} --out data/real.zarr)")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from virtimu.datasets.ingest import ingest

    try:
        report = ingest(args.name, args.path, args.out, fs=args.fs, overwrite=args.overwrite, progress=not args.quiet)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"store: {args.out}  (inspect with: virtimu info {args.out})")
    return 0


def _seeds(args: argparse.Namespace) -> list[int] | None:
    """Training seeds of repeated runs from --seeds 0,1,2 or --repeats R (0..R-1); None = one run."""
    if args.seeds and args.repeats:
        raise ValueError("give --seeds or --repeats, not both")
    if args.seeds:
        try:
            return [int(s) for s in str(args.seeds).split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"--repeats {args.repeats}: need at least 1")
        return list(range(args.repeats))
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from virtimu.training.distributed import WorkerFailed
    from virtimu.training.run import RunSpec, train_run, train_runs

    spec = RunSpec(model=args.model, store=args.store, set_name=args.set, source=args.source, split=args.split,
                   ratio=args.ratio, test_subject=args.test_subject,
                   test_subjects=tuple(args.test_subjects.split(",")) if args.test_subjects else (),
                   n_val_subjects=args.val_subjects, seed=args.seed, init=args.init, freeze_conv=args.freeze_conv,
                   freeze_all_but_fc=args.freeze_all_but_fc, n_windows=args.n_windows, k=args.k)
    try:
        seeds = _seeds(args)
        if args.folds is None and seeds is None and args.split != "kfold":
            result = train_run(spec, args.out, overrides=args.overrides, config_file=args.config, nproc=args.nproc)
        else:
            def line(i: int, n: int, sub, res, skipped: bool) -> None:
                m = res.metrics
                where = (f"fold {sub.fold} " if sub.fold is not None else "") + f"seed {sub.seed}"
                tqdm.write(f"[{i + 1}/{n}] {where}: accuracy {100 * m.accuracy:.2f} %, macro-F1 "
                           f"{100 * m.macro_f1:.2f} % on {m.n} test windows, "
                           + ("done before" if skipped else f"trained in {res.train_seconds:.1f} s"))

            summary = train_runs(spec, args.out, folds=args.folds, seeds=seeds or [0], overrides=args.overrides,
                                 config_file=args.config, progress=not args.quiet, on_run=line, nproc=args.nproc)
            _print_summary(summary, args.out)
            return 0
    except (KeyError, ValueError, FileNotFoundError, TypeError, WorkerFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = result.metrics
    print(f"{args.model}: accuracy {100 * m.accuracy:.2f} %, macro-F1 {100 * m.macro_f1:.2f} % on "
          f"{m.n} test windows ({result.split}); trained in {result.train_seconds:.1f} s")
    print(f"run: {args.out} (model.pt, split.json, metrics.json, confusion.png, per_class.md)")
    return 0


def _print_summary(summary: dict, out: str | Path) -> None:
    agg = summary["aggregate"]

    def pm(key: str) -> str:
        e = agg[key]
        return f"{100 * e['mean']:.2f} ± {100 * e['std']:.2f} %"

    print(f"{summary['model']}: {summary['n_runs']} runs ({summary['split']}): accuracy {pm('accuracy')}, "
          f"macro-F1 {pm('macro_f1')} (mean ± std over runs)")
    print(f"summary: {Path(out) / 'summary.md'} (summary.json, folds_macro_f1.png, confusion_sum.png)")


def cmd_eval(args: argparse.Namespace) -> int:
    from virtimu.training.run import eval_run, eval_runs, is_multi_run

    try:
        if is_multi_run(args.run):
            summary = eval_runs(args.run, args.store, args.set, args.source, out=args.out, progress=not args.quiet)
            _print_summary(summary, args.out or Path(args.run) / "eval")
            return 0
        result = eval_run(args.run, args.store, args.set, args.source, out=args.out)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = result.metrics
    print(f"accuracy {100 * m.accuracy:.2f} %, macro-F1 {100 * m.macro_f1:.2f} % on {m.n} windows ({result.split})")
    print(f"written to {args.out or Path(args.run) / 'eval'}")
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
    p.add_argument("--device", help="device model: a preset (none, smartphone, xsens) or a device-model YAML "
                                    "file, e.g. one written by virtimu calibrate-noise (default none)")
    p.add_argument("--seed", type=int, help="seed of device noise and placement jitter")
    p.add_argument("--jitter-offset", type=float, default=0.0, help="placement offset noise std (m)")
    p.add_argument("--jitter-rotation", type=float, default=0.0, help="mounting rotation noise std (deg)")
    p.add_argument("--body-model", help="SMPL / SMPL+H / SMPL-X model file or folder (default: open virtimu body)")
    p.add_argument("--gender", help="force a body gender (default: from each AMASS file when a folder is given)")
    p.add_argument("--out", default="data/synth.zarr", help="output Zarr store (default data/synth.zarr)")
    p.add_argument("--source", help="source name in the store (default amass, or demo)")
    p.add_argument("--workers", type=int,
                   help="worker processes (default: all cores); with --scheduler local: Dask workers")
    p.add_argument("--scheduler",
                   help="run on Dask: 'local' (a LocalCluster of --workers processes) or the address of a "
                        "running scheduler, tcp://HOST:PORT (inputs and --out on a filesystem shared by all workers)")
    p.add_argument("--retries", type=int, default=2,
                   help="with --scheduler: Dask retries of a task that failed for a reason other than its "
                        "input (default 2)")
    p.add_argument("--overwrite", action="store_true", help="re-synthesise recordings already in the store")
    p.add_argument("--config", help="YAML file of synthesis settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="key=value synthesis settings, e.g. span=2")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("label", help="label recordings: AMASS sequence rules, BABEL frame labels, review overrides")
    p.add_argument("store")
    p.add_argument("--rules", help="sequence rule YAML (default: bundled virtimu/assets/labels/amass_12.yaml)")
    p.add_argument("--babel", help="BABEL release folder (babel_v1.0_release) or JSON file for frame labels")
    p.add_argument("--overrides", help="review decisions JSON (accept / relabel / reject), applied last")
    p.add_argument("--label-space", dest="label_space", default="synthetic12", help="label space written (default synthetic12)")
    p.add_argument("--sources", help="comma-separated sources to label (default: all AMASS-format ones)")
    p.add_argument("--dry-run", dest="dry_run", action="store_true", help="report only, write nothing")
    p.add_argument("--report", help="also write the report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("windows", help="cut labelled recordings into a window set in the same store")
    p.add_argument("store")
    p.add_argument("--length", type=int, default=60, help="window length in frames at --fs (default 60)")
    p.add_argument("--overlap", type=float, default=0.5, help="overlap fraction (default 0.5)")
    p.add_argument("--fs", type=float, help="output rate in Hz (default: keep the recordings' rate)")
    p.add_argument("--channels", help="comma-separated channel patterns, e.g. 'left_wrist/*,right_thigh/acc_*'")
    p.add_argument("--magnitude", action="store_true", help="add <site>/acc_mag (paper 000)")
    p.add_argument("--label-map", dest="label_map", help="label space of the windows (e.g. synthetic12, hapt12, dip5)")
    p.add_argument("--purity", type=float, default=0.8, help="majority label share a window needs (default 0.8)")
    p.add_argument("--drop-null", dest="drop_null", action="store_true", help="drop null windows")
    p.add_argument("--min-class-windows", dest="min_class_windows", type=int, default=0,
                   help="drop classes with fewer windows (paper 000: 100)")
    p.add_argument("--balance", choices=["none", "oversample", "interpolate"], default="none",
                   help="class balancing (paper 001: interpolate); balance training subsets only to avoid leakage")
    p.add_argument("--filter", default="none",
                   help="acceleration-based label filter: none (default), default (bundled rules) or a rules YAML")
    p.add_argument("--sources", help="comma-separated sources to window (default: all)")
    p.add_argument("--name", default="default", help="window set name in the store (default 'default')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compact", action="store_true",
                   help="new set: Blosc byte shuffle, ~1.3x smaller on disk but ~2.5x slower to decode")
    p.add_argument("--mantissa-bits", dest="mantissa_bits", type=int, default=None,
                   help="new set: lossy rounding of the signals to N mantissa bits (1..23; relative error "
                        "<= 2^-(N+1)); default lossless")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_windows)

    p = sub.add_parser("data", help="real datasets: list them, fetch the public ones")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("list", help="datasets, licence, where to get them, expected layout")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_data_list)
    q = dsub.add_parser("fetch", help="download + checksum + unpack a dataset with a public URL")
    q.add_argument("name")
    q.add_argument("--to", default="data/raw", help="download folder (default data/raw)")
    q.add_argument("--url", help="download from this URL instead (mirror or file:// path)")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_data_fetch)

    p = sub.add_parser("ingest", help="read a real dataset in its published layout into a store")
    p.add_argument("name", help="dataset (see virtimu data list)")
    p.add_argument("path", help="the dataset folder")
    p.add_argument("--out", default="data/real.zarr", help="store (default data/real.zarr)")
    p.add_argument("--fs", type=float, help="resample to this rate (anti-aliased)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("train", help="train (or transfer) a model on a window set, evaluate on a held-out part",
                       description="One run, or many: every LOSO fold / k folds (--folds, --split kfold) and "
                                   "repeated seeds (--repeats, --seeds), each in OUT/fold-<f>/seed-<s>/, "
                                   "summarised in OUT/summary.md; a rerun skips finished runs.",
                       epilog="SelfPAB downstream training (paper 002) is 'virtimu train selfpab-downstream "
                              "ARGS...', the same as 'virtimu selfpab-downstream ARGS...' (see "
                              "'virtimu selfpab-downstream --help').")
    p.add_argument("model", help="deepconvlstm, cnn-deconv, lstm, stacked-lstm, cnn1d, cnn-lstm, convlstm, rf, xgb, svm, rf-tsfresh")
    p.add_argument("--store", required=True)
    p.add_argument("--set", default="default", help="window set name (default 'default')")
    p.add_argument("--source", help="only windows of this source")
    p.add_argument("--split", choices=["ratio", "loso", "subjects", "kfold"], default="ratio",
                   help="ratio (paper 001's 7:3), loso (paper 000), fixed test subjects, or subject-grouped k-fold")
    p.add_argument("--ratio", type=float, default=0.7, help="train fraction for --split ratio")
    p.add_argument("--test-subject", dest="test_subject", help="loso: the held-out subject (default: first)")
    p.add_argument("--test-subjects", dest="test_subjects", help="subjects: comma-separated test subjects")
    p.add_argument("--val-subjects", dest="val_subjects", type=int, default=2,
                   help="loso: validation subjects (torch models keep the best validation epoch)")
    p.add_argument("--folds", help="loso / kfold: 'all' folds, the first N, or named ones 'S1,S2' "
                                   "('3,' names fold 3); each fold is a run")
    p.add_argument("--k", type=int, default=5, help="kfold: number of subject-grouped folds (default 5)")
    p.add_argument("--repeats", type=int, help="repeat every run with training seeds 0..R-1")
    p.add_argument("--seeds", help="repeat every run with these training seeds, e.g. 0,1,2,3,4")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (ratio, validation subjects, k folds)")
    p.add_argument("--init", help="checkpoint to transfer from (fine-tune)")
    p.add_argument("--freeze-conv", dest="freeze_conv", type=int, help="freeze the first k conv layers (paper 000)")
    p.add_argument("--freeze-all-but-fc", dest="freeze_all_but_fc", action="store_true",
                   help="train only the FC layers (paper 001)")
    p.add_argument("--n-windows", dest="n_windows", type=int, help="fine-tune on this many stratified target windows")
    p.add_argument("--config", help="YAML with 'model:' and 'train:' sections")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar over runs")
    p.add_argument("--nproc", type=int, default=1,
                   help="train each run in N processes (torch DistributedDataParallel, gloo on the CPU; torch "
                        "models from scratch only); batch_size stays the global batch, split across processes")
    p.add_argument("overrides", nargs="*", help="key=value training settings (epochs=5, lr=1e-4, model.dropout=0.3, "
                                                "stream=auto|true|false, max_in_memory_mb=1024)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a trained run (or a folder of runs) on a window set")
    p.add_argument("run", help="run folder written by virtimu train (one run, or folds / repeats)")
    p.add_argument("--store", help="window store (default: the one the run was trained on, its test part)")
    p.add_argument("--set", help="window set (default: the run's set, or 'default' for another store)")
    p.add_argument("--source")
    p.add_argument("--out", help="output folder (default RUN/eval; for a folder of runs RUN/eval/summary.*)")
    p.add_argument("--quiet", action="store_true", help="no progress bar over runs")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="summarise a store: sources, recordings, frames, channels, labels")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)

    for module in EXTENSIONS:
        importlib.import_module(module).register(sub)
    return parser


#: ``virtimu train ALIAS ...`` runs the top-level command ALIAS (e.g. ``train selfpab-downstream``).
TRAIN_ALIASES: tuple[str, ...] = ("selfpab-downstream",)


def _resolve_aliases(argv: list[str]) -> list[str]:
    """argv with ``train selfpab-downstream REST`` rewritten to ``selfpab-downstream REST``.

    Options before the command (``-v``) are kept; every other argv is
    returned unchanged.
    """
    argv = list(argv)
    i = next((k for k, a in enumerate(argv) if not a.startswith("-")), None)
    if i is not None and argv[i] == "train" and i + 1 < len(argv) and argv[i + 1] in TRAIN_ALIASES:
        del argv[i]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _resolve_aliases(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    # key=value settings may come anywhere after the command (argparse binds them
    # to the positional list only when they follow the last positional)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
