"""Shared plumbing of the sim-to-real pipelines (``pipelines/*.py``).

A pipeline is a thin ``main(argv=None) -> int`` over the library::

    run = start("amass_to_dip", argv, description=__doc__, datasets=("amass", "dip"),
                default_config=Path(__file__).parent / "configs" / "amass_to_dip.yaml")
    root = data_root(run, "dip", fixture=write_dip_fixture)
    ...                                   # synthesis, labels, windows, training
    record_run(run, log, "dip/cnn-deconv/seed0", ...)   # one evaluated run
    finish(run, results, report_markdown, log)

Command line shared by every pipeline::

    python pipelines/NAME.py [--config FILE] [--quick] [--out DIR]
                             [--data NAME=PATH ...] [key.sub=value ...]

* ``--config``: YAML with the paper's settings (default
  ``pipelines/configs/NAME.yaml``); its ``quick:`` section is merged over
  the rest with ``--quick`` (CI-sized runs); ``key=value`` arguments then
  override single settings (dotted keys, values parsed as YAML).
* ``--data NAME=PATH``: root folder of dataset NAME (also settable in the
  config's ``data:`` section).  Missing real data is an error pointing to
  ``virtimu data list``; with ``--quick`` (or ``PATH = fixture``) small
  format-faithful stand-in files are written instead
  (`virtimu.datasets.fixtures`).

Output folder (``--out``, default ``runs/NAME`` or ``runs/NAME-quick``)::

    config.yaml    resolved settings            results.json   results + provenance
    runs.csv       one row per training run     report.md      generated report
    plots/*.png    figures                      runs/<id>/     metrics.json, confusion.png, per_class.md
    work/          stores, checkpoints, stand-in data (re-creatable)

Provenance in ``results.json``: pipeline, argv, virtimu version, git commit
of the checkout (read from ``.git``, None outside a checkout), Python /
numpy / torch versions, data roots (and whether they are stand-ins), start,
end and duration.  No figure in a report is typed in by hand: reports are
built from the runs, and the papers' figures come from
``virtimu/pipelines/paper_figures.yaml`` (each with its source).
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import logging
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import virtimu
from virtimu.evaluation.metrics import Metrics
from virtimu.evaluation.report import RunResult, aggregate, write_json, write_run
from virtimu.io.atomic import write_text_atomic

__all__ = [
    "FIXTURE",
    "PAPER_FIGURES_FILE",
    "ConfigError",
    "DataError",
    "DataMissingError",
    "PipelineRun",
    "RunLog",
    "apply_overrides",
    "data_root",
    "finish",
    "git_commit",
    "guarded",
    "ingest_dataset",
    "label_mapper",
    "load_config",
    "make_learner",
    "markdown_table",
    "paper_figures",
    "percent",
    "provenance_markdown",
    "record_run",
    "require",
    "start",
    "synthesize_amass",
    "window_set",
    "write_csv",
]

log = logging.getLogger(__name__)

#: Published figures of the seed papers, with sources (read by `paper_figures`).
PAPER_FIGURES_FILE = Path(__file__).resolve().parent / "paper_figures.yaml"
#: ``--data NAME=fixture`` asks for the generated stand-in data even without ``--quick``.
FIXTURE = "fixture"

#: Where to get data sets that ``virtimu data list`` does not cover.
_DATA_HINTS = {
    "amass": "AMASS motions: register at https://amass.is.tue.mpg.de, download the SMPL+H (or SMPL-X) "
             "archives and pass the folder holding the sub-dataset folders (ACCAD/, CMU/, KIT/ ...)",
    "babel": "BABEL labels: https://babel.is.tue.mpg.de, pass the babel_v1.0_release folder",
}


class ConfigError(ValueError):
    """A pipeline setting is missing, unknown or has a wrong value (the message names it)."""


class DataMissingError(FileNotFoundError):
    """A dataset root was not given or does not exist (the message says how to get it)."""


class DataError(ValueError):
    """The data cannot support the experiment (e.g. a single class left after windowing)."""


def guarded(body: Callable[[], int]) -> int:
    """Run a pipeline body; report expected failures as ``error: ...`` on stderr with exit code 2.

    Expected: ConfigError, DataMissingError, DataError and the loaders'
    DatasetFormatError / AmassFormatError (bad input files).  Anything else
    is a bug and keeps its traceback.
    """
    from virtimu.datasets.base import DatasetFormatError

    try:
        from virtimu.io.amass import AmassFormatError
    except ImportError:  # pragma: no cover - the reader is part of virtimu
        AmassFormatError = DatasetFormatError  # type: ignore[misc,assignment]
    try:
        return int(body() or 0)
    except (ConfigError, DataMissingError, DataError, DatasetFormatError, AmassFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --------------------------------------------------------------------------- config


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of mappings: ``update`` wins; nested dicts merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(config: dict[str, Any], pairs: Iterable[str]) -> dict[str, Any]:
    """A copy of ``config`` with ``["train.epochs=5", "seed=3"]`` applied.

    Keys are dotted paths into the config and must exist (ConfigError naming
    the key and listing the valid ones at that level).  Values are parsed by
    `parse_value` (YAML, plus ``1e-4`` as a number).
    """
    out = copy.deepcopy(config)
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"expected key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"empty key in {pair!r}")
        node = out
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                where = ".".join(parts[:i + 1])
                raise ConfigError(f"setting {key!r}: {where!r} is not a section; sections here: "
                                  f"{sorted(k for k, v in node.items() if isinstance(v, dict))}")
            node = node[part]
        leaf = parts[-1]
        if leaf not in node:
            raise ConfigError(f"unknown setting {key!r}; valid keys here: {sorted(node)}")
        node[leaf] = parse_value(raw)
    return out


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def parse_value(raw: str) -> Any:
    """A ``key=value`` value: YAML (``5`` -> int, ``[a, b]`` -> list, ``null`` -> None, empty -> None),
    plus the numbers YAML 1.1 leaves as text (``1e-4`` -> 0.0001)."""
    if not raw.strip():
        return None
    value = yaml.safe_load(raw)
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def load_config(path: str | os.PathLike, quick: bool = False, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Settings from a pipeline YAML: the file, then its ``quick:`` section (if ``quick``), then ``overrides``.

    Returns a plain dict without the ``quick`` section and with
    ``quick: bool`` set.  ConfigError names the file for a malformed file.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    quick_part = data.pop("quick", None) or {}
    if not isinstance(quick_part, dict):
        raise ConfigError(f"{path}: field 'quick' must be a mapping of settings")
    cfg = _merge(data, quick_part) if quick else data
    cfg = apply_overrides(cfg, overrides)
    cfg["quick"] = bool(quick)
    return cfg


def require(config: Mapping[str, Any], dotted: str) -> Any:
    """``config['a']['b']`` for ``'a.b'``; ConfigError naming the missing key."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"setting {dotted!r} is missing from the config")
        node = node[part]
    return node


# --------------------------------------------------------------------------- run


@dataclass
class PipelineRun:
    """One invocation of a pipeline: its settings, output folder and provenance.

    config: resolved settings (`load_config`).  out: output folder.
    data: dataset name -> root given on the command line / in the config
    (None = not given).  provenance: what results.json records about the run.
    """

    name: str
    config: dict[str, Any]
    out: Path
    quick: bool
    data: dict[str, str | None]
    config_file: Path
    argv: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def work(self) -> Path:
        return self.out / "work"

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    @property
    def plots_dir(self) -> Path:
        return self.out / "plots"


def _parser(name: str, description: str | None, datasets: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"pipelines/{name}.py", description=(description or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help=f"settings YAML (default pipelines/configs/{name}.yaml)")
    p.add_argument("--quick", action="store_true",
                   help="CI-sized run: the config's quick: section, stand-in data where none is given")
    p.add_argument("--out", help=f"output folder (default runs/{name}, runs/{name}-quick with --quick)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help=f"dataset root folder, NAME one of {', '.join(datasets)} (PATH 'fixture': stand-in data)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="single settings, e.g. train.epochs=5")
    return p


def _data_args(items: Sequence[str], datasets: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not path.strip():
            raise ConfigError(f"--data expects NAME=PATH, got {item!r}")
        if name not in datasets:
            raise ConfigError(f"--data {name}: this pipeline reads {', '.join(datasets)}")
        out[name] = path.strip()
    return out


def git_commit(start: str | os.PathLike | None = None) -> str | None:
    """Commit hash of the git checkout holding ``start`` (default: this package), read from ``.git``.

    Follows ``.git`` files of worktrees, symbolic refs and ``packed-refs``;
    returns None outside a checkout or when the ref cannot be resolved.
    """
    here = Path(start or __file__).resolve()
    for folder in [here, *here.parents]:
        dot = folder / ".git"
        if dot.is_file():
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text.split(":", 1)[1].strip()).resolve()
        elif dot.is_dir():
            git_dir = dot
        else:
            continue
        return _resolve_head(git_dir)
    return None


def _resolve_head(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    common = git_dir
    if (git_dir / "commondir").is_file():  # linked worktree: refs live in the main .git
        common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        if (base / ref).is_file():
            return (base / ref).read_text(encoding="utf-8").strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def _versions() -> dict[str, str]:
    """Versions of Python and the main libraries (from package metadata: nothing is imported)."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "torch", "scikit-learn", "xgboost", "xgboost-cpu", "zarr", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def start(name: str, argv: Sequence[str] | None, description: str | None, datasets: Sequence[str],
          default_config: str | os.PathLike, optional: Sequence[str] = ()) -> PipelineRun:
    """Parse the command line, load the settings, create the output folder, write ``config.yaml``.

    datasets: the ``--data`` names the pipeline reads; those not in
    ``optional`` must be given (unless ``--quick``, where stand-ins are
    written) and every given folder must exist: checked here, before any
    work, with the messages of `data_root`.  Raises ConfigError for bad
    arguments or settings, DataMissingError for missing data (``main`` turns
    both into ``error: ...`` and exit code 2); argparse exits itself on ``--help``.
    """
    args = _parser(name, description, datasets).parse_args(list(argv) if argv is not None else None)
    config_file = Path(args.config) if args.config else Path(default_config)
    config = load_config(config_file, quick=args.quick, overrides=args.overrides)
    configured = config.get("data") or {}
    if not isinstance(configured, dict):
        raise ConfigError(f"{config_file}: field 'data' must map dataset names to folders")
    data: dict[str, str | None] = {n: (None if configured.get(n) in (None, "") else str(configured[n]))
                                   for n in datasets}
    data.update(_data_args(args.data, datasets))
    out = Path(args.out) if args.out else Path("runs") / (f"{name}-quick" if args.quick else name)
    out.mkdir(parents=True, exist_ok=True)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run = PipelineRun(name=name, config=config, out=out, quick=bool(args.quick), data=data,
                      config_file=config_file, argv=list(argv if argv is not None else sys.argv[1:]))
    run.provenance = {
        "pipeline": name, "argv": run.argv, "config_file": str(config_file), "quick": run.quick,
        "virtimu_version": virtimu.__version__, "git_commit": git_commit(),
        "versions": _versions(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {},
    }
    for dataset in datasets:
        value = data[dataset]
        if value is None and (dataset in optional or run.quick):
            continue
        if value != FIXTURE:
            _check_root(dataset, value)
    write_text_atomic(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    log.info("%s: output in %s (%s settings from %s)", name, out, "quick" if run.quick else "full", config_file)
    return run


def data_root(run: PipelineRun, name: str, fixture: Callable[..., Path] | None = None,
              **fixture_kwargs: Any) -> Path:
    """The root folder of dataset ``name`` for this run.

    The folder given with ``--data name=PATH`` (or ``data.name`` in the
    config) when it exists.  Stand-in data written by ``fixture(folder,
    **fixture_kwargs)`` into ``work/fixtures/name`` when no folder is given
    and the run is ``--quick``, or when PATH is ``fixture``; written once
    and reused (a ``.complete`` marker guards against a half-written folder).
    DataMissingError otherwise, saying where to get the data.
    """
    value = run.data.get(name)
    if value == FIXTURE or (value is None and run.quick and fixture is not None):
        if fixture is None:
            raise DataMissingError(f"{name}: there is no stand-in data for this dataset; pass --data {name}=PATH")
        folder = run.work / "fixtures" / name
        marker = folder / ".complete"
        if marker.is_file():
            root = Path(marker.read_text(encoding="utf-8").strip())
        else:
            log.info("%s: writing stand-in data (format-faithful fixture) to %s", name, folder)
            root = Path(fixture(folder, **fixture_kwargs))
            write_text_atomic(marker, str(root))
        run.provenance["data"][name] = {"path": str(root), "fixture": True,
                                        "fixture_writer": f"{fixture.__module__}.{fixture.__qualname__}",
                                        "fixture_args": {k: repr(v) for k, v in fixture_kwargs.items()}}
        return root
    root = _check_root(name, value)
    run.provenance["data"][name] = {"path": str(root.resolve()), "fixture": False}
    return root


def _check_root(name: str, value: str | None) -> Path:
    """``value`` as an existing folder; DataMissingError saying how to get dataset ``name`` otherwise."""
    hint = _DATA_HINTS.get(name, f"run `virtimu data list` to see where to get {name} and the layout it must have")
    if value is None:
        raise DataMissingError(f"{name}: no data folder given; pass --data {name}=PATH or set data.{name} in the "
                               f"config ({hint}). For a small run on generated stand-in data use --quick.")
    root = Path(value).expanduser()
    if not root.exists():
        raise DataMissingError(f"{name}: {root} does not exist ({hint}).")
    return root


# --------------------------------------------------------------------------- runs


class RunLog:
    """The evaluated runs of a pipeline: `RunResult` plus extra columns (fold, k, adaptation size ...)."""

    def __init__(self) -> None:
        self.entries: list[tuple[RunResult, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, result: RunResult, **fields: Any) -> None:
        if result.metrics is None:
            raise ValueError(f"run {result.model}/{result.dataset} seed {result.seed} has no metrics")
        self.entries.append((result, dict(fields)))

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per run (the CSV rows): extra fields, then model, dataset, split, seed and metrics."""
        out = []
        for r, extra in self.entries:
            m = r.metrics
            out.append({**extra, "model": r.model, "dataset": r.dataset, "split": r.split, "seed": r.seed,
                        "accuracy": m.accuracy, "macro_f1": m.macro_f1, "weighted_f1": m.weighted_f1,
                        "n_test": m.n, "train_seconds": r.train_seconds})
        return out

    def aggregate(self, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        """`virtimu.evaluation.report.aggregate` per group of (model, dataset, split) + ``by`` fields.

        Each returned dict also carries the ``by`` fields; groups in order of first appearance.
        """
        groups: dict[tuple, list[RunResult]] = {}
        keys: dict[tuple, dict[str, Any]] = {}
        for r, extra in self.entries:
            k = (r.model, r.dataset, r.split, *[extra.get(b) for b in by])
            groups.setdefault(k, []).append(r)
            keys[k] = {b: extra.get(b) for b in by}
        return [{**aggregate(g), **keys[k]} for k, g in groups.items()]


def record_run(run: PipelineRun, runlog: RunLog, run_id: str, *, model: str, dataset: str, split: str, seed: int,
               y_true: np.ndarray, y_pred: np.ndarray, label_map: Mapping[int, str], train_seconds: float,
               config: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
               files: bool = True, **fields: Any) -> RunResult:
    """Score one run and add it to ``runlog`` (with ``run_id`` and ``fields`` as CSV columns).

    files: write ``runs/<run_id>/`` (metrics.json, confusion.png, per_class.md)
    with `write_run`; False only computes the metrics (large grids).
    """
    result = RunResult(model=model, dataset=dataset, split=split, seed=int(seed), train_seconds=float(train_seconds),
                       config=dict(config or {}), provenance=dict(provenance or {}))
    if files:
        write_run(run.runs_dir / run_id, result, y_true, y_pred, label_map)
    else:
        result.metrics = Metrics.compute(y_true, y_pred, label_map)
    runlog.add(result, run_id=run_id, **fields)
    log.info("%s: accuracy %.2f %%, macro-F1 %.2f %% (n = %d)", run_id, 100 * result.metrics.accuracy,
             100 * result.metrics.macro_f1, result.metrics.n)
    return result


# --------------------------------------------------------------------------- outputs


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> Path:
    """Rows of dicts as CSV (header = ``columns`` or the union of keys in order), written atomically.

    Floats are written with repr precision; None as an empty cell.
    """
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return write_text_atomic(path, buf.getvalue())


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """A Markdown table; ``align`` per column: 'l' or 'r' (default: first column left, others right)."""
    header = [str(h) for h in header]
    align = list(align) if align is not None else ["l"] + ["r"] * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"{len(align)} alignments for {len(header)} columns")

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"row {row} has {len(row)} cells for {len(header)} columns")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def percent(entry: Mapping[str, Any] | float | None, digits: int = 2) -> str:
    """'mean ± std' in percent from an `aggregate` metric entry (std left out for one run), or a fraction."""
    if entry is None:
        return "—"
    if isinstance(entry, Mapping):
        if entry.get("mean") is None:
            return "—"
        text = f"{100 * entry['mean']:.{digits}f}"
        if entry.get("n", 1) >= 2 and entry.get("std") is not None:
            text += f" ± {100 * entry['std']:.{digits}f}"
        return text
    return f"{100 * float(entry):.{digits}f}"


def finish(run: PipelineRun, results: dict[str, Any], report: str, runlog: RunLog | None = None) -> dict[str, Path]:
    """Write ``results.json`` (results + provenance + config), ``runs.csv`` and ``report.md``.

    Returns {'results': path, 'report': path, 'runs': path (when a RunLog is given)}.
    """
    run.provenance["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run.provenance["seconds"] = round(time.perf_counter() - run.started, 3)
    paths: dict[str, Path] = {}
    if runlog is not None:
        paths["runs"] = write_csv(run.out / "runs.csv", runlog.rows())
    paths["report"] = write_text_atomic(run.out / "report.md", report)
    payload = {"pipeline": run.name, "quick": run.quick, **results, "config": run.config,
               "provenance": run.provenance}
    paths["results"] = write_json(run.out / "results.json", payload)  # last: marks a complete output folder
    log.info("%s finished in %.1f s: %s", run.name, run.provenance["seconds"], run.out / "report.md")
    return paths


def provenance_markdown(run: PipelineRun) -> str:
    """A short Markdown section on how the results were produced (for the end of a report)."""
    p = run.provenance
    lines = ["## Provenance", "",
             f"- command: `python pipelines/{run.name}.py {' '.join(run.argv)}`".rstrip(),
             f"- settings: `{run.config_file}` ({'quick' if run.quick else 'full'}), resolved in `config.yaml`",
             f"- virtimu {p.get('virtimu_version')}, git commit `{p.get('git_commit') or 'unknown'}`",
             f"- started {p.get('started')}, {p.get('seconds', round(time.perf_counter() - run.started, 1))} s"]
    for name, d in (p.get("data") or {}).items():
        kind = "generated stand-in data (format-faithful fixture, NOT the real dataset)" if d.get("fixture") else "real data"
        lines.append(f"- {name}: `{d.get('path')}` — {kind}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- papers and labels


def paper_figures(paper: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Entry ``paper`` ('000', '001', '002') of the papers' figures YAML.

    Returns the entry with 'citation', optional 'note' / 'findings' and
    'table': {(model, dataset): {metric: percent, 'source': text}} in the form
    `virtimu.evaluation.report.results_table_markdown` takes.
    """
    path = Path(path) if path else PAPER_FIGURES_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    papers = data.get("papers") or {}
    if paper not in papers:
        raise KeyError(f"{path}: no paper {paper!r}; papers: {sorted(papers)}")
    entry = dict(papers[paper])
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for i, fig in enumerate(entry.pop("figures", None) or []):
        if "model" not in fig or "dataset" not in fig:
            raise ConfigError(f"{path}: papers.{paper}.figures[{i}] needs 'model' and 'dataset'")
        values = {k: v for k, v in fig.items() if k not in ("model", "dataset")}
        values.setdefault("source", f"{paper} {entry.get('table', '')}".strip())
        table[(str(fig["model"]), str(fig["dataset"]))] = values
    entry["table"] = table
    return entry


def label_mapper(src: str, dst: str):
    """A `virtimu.windows.LabelMapper` sending a recording's ``src``-space labels to space ``dst``.

    Names go through the bundled map ``src -> dst`` (`virtimu.labels.maps.get_label_map`);
    the identity when ``src == dst``.  KeyError when no map exists.
    """
    from virtimu.labels.maps import get_label_map, get_label_space, map_by_names

    dst_space = get_label_space(dst)
    names: dict[str, str | None] | None = None
    if src != dst:
        lm = get_label_map(src, dst)
        names = {lm.src.name_of(a): (None if b == dst_space.null_code else dst_space.name_of(b))
                 for a, b in lm.mapping.items()}

    def mapper(labels: np.ndarray, label_map: dict[int, str]) -> tuple[np.ndarray, dict[int, str]]:
        codes = map_by_names(labels, label_map, dst_space, names, where=f"labels {src} -> {dst}")
        return codes, dst_space.label_map()

    return mapper


# --------------------------------------------------------------------------- library steps


def synthesize_amass(run: PipelineRun, inputs: str | os.PathLike, section: Mapping[str, Any], store: str | os.PathLike,
                     source: str = "amass") -> dict[str, Any]:
    """`virtimu.synthesis.run_synthesis` of the AMASS files under ``inputs`` into ``store`` (source ``source``).

    section: the config's ``synthesis:`` mapping: ``preset`` (placement
    preset), optional ``mount`` ('joint' = bone-aligned sensor axes for every
    site), ``body_model``, ``workers``, ``jitter_offset`` (m),
    ``jitter_rotation`` (deg) and `virtimu.sensors.synth.SynthConfig` fields
    (fps, signals, strategy, span, acc_mode, device, seed).  Returns the
    synthesis report as a dict; DataError when no file was synthesised.
    """
    import dataclasses as _dc

    from virtimu.sensors.placement import PlacementError, resolve_sites
    from virtimu.sensors.synth import SynthConfig
    from virtimu.synthesis import SynthJob, run_synthesis

    sec = dict(section)
    job_keys = ("preset", "mount", "body_model", "workers", "jitter_offset", "jitter_rotation")
    job = {k: sec.pop(k, None) for k in job_keys}
    valid = {f.name for f in _dc.fields(SynthConfig)}
    unknown = sorted(set(sec) - valid)
    if unknown:
        raise ConfigError(f"synthesis: unknown settings {unknown}; valid: {sorted(valid | set(job_keys))}")
    try:
        cfg = SynthConfig(**sec)
        sites = resolve_sites(None, preset=job["preset"] or "paper001")
    except (TypeError, ValueError, PlacementError) as exc:
        raise ConfigError(f"synthesis: {exc}") from None
    if job["mount"] == "joint":
        sites = [s.replace(mount=np.eye(3), normal=s.normal) for s in sites]
    elif job["mount"] not in (None, "preset"):
        raise ConfigError(f"synthesis.mount: expected null (the preset's mounting) or 'joint', got {job['mount']!r}")
    synth_job = SynthJob(store=str(store), sites=sites, config=cfg, source=source, body_model=job["body_model"],
                         jitter_offset_m=float(job["jitter_offset"] or 0.0),
                         jitter_rotation_deg=float(job["jitter_rotation"] or 0.0), jitter_seed=run.seed)
    report = run_synthesis(Path(inputs), synth_job, workers=job["workers"], progress=False)
    log.info("synthesis: %s", report.summary())
    if not report.written and not report.skipped:
        raise DataError(f"synthesis of {inputs} produced no recording: {report.summary()}")
    return {"written": len(report.written), "skipped": len(report.skipped), "failed": report.failed,
            "frames": report.frames, "seconds": report.seconds, "sites": [s.to_dict() for s in sites],
            "config": cfg.to_dict()}


def window_set(run: PipelineRun, store: str | os.PathLike, sources: Sequence[str], section: Mapping[str, Any],
               set_name: str, mapper=None, label_filter: str | None = None):
    """Windows of the recordings of ``sources`` in ``store``, written to window set ``set_name`` and read back.

    section: `virtimu.windows.WindowConfig` fields (``drop_null`` defaults to
    True here).  mapper: a `label_mapper` into the experiment's label space.
    label_filter: None / 'none', 'default' (bundled acceleration rules) or a
    rules YAML (`virtimu.labels.filtering`).  An existing set of that name is
    replaced.  Returns (WindowSet, info dict with the window and filter reports).
    """
    from virtimu.labels.filtering import FilterRules, filter_windows
    from virtimu.store import RecordingStore
    from virtimu.store.windows import WindowStore
    from virtimu.windows import WindowConfig, make_windows

    try:
        cfg = WindowConfig.from_dict({"drop_null": True, **dict(section)})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"windows ({set_name}): {exc}") from None
    recs_store = RecordingStore(store, mode="r")
    keys = [k for k in recs_store.list() if k[0] in sources]
    if not keys:
        raise DataError(f"{store}: no recordings of {list(sources)}")
    ws, report = make_windows((recs_store.read(s, n) for s, n in keys), cfg, label_mapper=mapper)
    info: dict[str, Any] = {"windows": report.to_dict()}
    if label_filter not in (None, "none"):
        rules = FilterRules.default() if label_filter == "default" else FilterRules.from_yaml(label_filter)
        ws, freport = filter_windows(ws, rules)
        info["filter"] = freport.to_dict()
    wstore = WindowStore(store, mode="a")
    if wstore.has_set(set_name):
        wstore.delete_set(set_name)
    if len(ws) == 0:
        raise DataError(f"window set {set_name!r}: no labelled windows left ({report.format()})")
    wstore.append(set_name, ws)
    ws = WindowStore(store, mode="r").read(set_name)
    info["class_counts"] = ws.class_counts()
    log.info("window set %s: %d windows, %d channels at %g Hz; classes %s", set_name, len(ws), len(ws.channels),
             ws.fs, ws.class_counts())
    return ws, info


def make_learner(name: str, model_config: Mapping[str, Any] | None, train_config: Mapping[str, Any] | None,
                 fs: float, seed: int):
    """A fresh learner: a feature learner ('rf', 'xgb', 'svm'; `virtimu.models.features_learners`)
    or a `virtimu.training.learner.TorchLearner` of registry model ``name``, seeded with ``seed``."""
    from virtimu.training.config import TrainConfig
    from virtimu.training.learner import TorchLearner
    from virtimu.training.run import feature_learner, feature_models

    model_config = dict(model_config or {})
    if name in feature_models():
        model_config.setdefault("seed", seed)
        return feature_learner(name, model_config, fs)
    try:
        tc = TrainConfig.from_dict({**dict(train_config or {}), "seed": seed})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train settings for {name}: {exc}") from None
    return TorchLearner(name, model_config or None, tc)


def ingest_dataset(name: str, root: str | os.PathLike, store: str | os.PathLike, label_space: str | None = None,
                   fs: float | None = None) -> dict[str, Any]:
    """Real dataset ``name`` into ``store``, its labels first mapped into ``label_space`` (optional).

    Without ``label_space`` this is `virtimu.datasets.ingest.ingest`.  With
    it every recording's labels go through `label_mapper` (the dataset's own
    space -> ``label_space``) before the recording is written, so the store
    holds the experiment's classes (e.g. Opportunity's 14 aggregated ones).
    Recordings already in the store are skipped.  Returns a summary dict.
    """
    import dataclasses as _dc

    from virtimu.datasets.base import get_dataset, load_dataset
    from virtimu.datasets.ingest import ingest
    from virtimu.store import RecordingStore

    if label_space is None:
        rep = ingest(name, root, store, fs=fs, progress=False)
        return {"written": len(rep.written), "skipped": len(rep.skipped), "frames": rep.frames,
                "subjects": sorted(rep.subjects), "label_space": get_dataset(name)[0].label_space}
    info = get_dataset(name)[0]
    mapper = label_mapper(info.label_space, label_space)
    rstore = RecordingStore(store, mode="a")
    out: dict[str, Any] = {"written": 0, "skipped": 0, "frames": 0, "subjects": set(), "label_space": label_space,
                           "mapped_from": info.label_space}
    for rec in load_dataset(name, root, fs=fs):
        if rstore.has(rec.source, rec.name):
            out["skipped"] += 1
            continue
        if rec.labels is not None:
            codes, lmap = mapper(np.asarray(rec.labels), dict(rec.label_map or {}))
            prov = {**rec.provenance, "labels_mapped": {"from": info.label_space, "to": label_space}}
            rec = _dc.replace(rec, labels=codes, label_map=lmap, provenance=prov)
        rstore.write(rec)
        out["written"] += 1
        out["frames"] += rec.n_frames
        if rec.subject:
            out["subjects"].add(rec.subject)
    out["subjects"] = sorted(out["subjects"])
    log.info("%s: %d recordings written, %d already present (labels in %s)", name, out["written"], out["skipped"],
             label_space)
    return out
