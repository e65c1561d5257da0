"""Training runs from a window set in the store: split, train (or transfer), evaluate, write.

Used by ``virtimu train`` and ``virtimu eval``.  A run folder holds
``model.pt`` (weights_only-loadable torch checkpoint) or ``model.zip``
(feature learners: XGBoost JSON / skops, no pickle), ``split.json`` (the exact
train/test indices into the window set and how they were drawn),
``metrics.json``, ``confusion.png`` and ``per_class.md``.

`train_run` makes one run (one fold, one seed).  `train_runs` makes many:
every LOSO fold (or the first N, or named subjects), subject-grouped k-fold,
and repeated seeds, each in ``OUT/fold-<f>/seed-<s>/`` (``OUT/seed-<s>/``
without folds); it skips sub-runs whose ``metrics.json`` exists (resume) and
writes ``summary.json``, ``summary.md`` and figures to ``OUT`` (see
`virtimu.evaluation.report.write_summary`).  `eval_run` / `eval_runs`
evaluate a saved run or a folder of runs.

Torch models train in memory, or straight from the store when the training
windows exceed ``TrainConfig.max_in_memory_mb`` (``stream='auto'``, the
default) or ``stream='true'`` (`TorchLearner.fit_store`).  They write
``last.pt`` after every epoch; a run killed part-way continues from it when
started again with the same settings (same step count, optimizer and RNG
state), and it is removed once the run folder is complete.  ``nproc > 1``
trains one run in that many processes (`virtimu.training.distributed`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from virtimu.evaluation.report import (
    RunResult,
    read_run,
    summarise_runs,
    write_json,
    write_run,
    write_summary,
)
from virtimu.evaluation.splits import group_kfold, loso, ratio_split
from virtimu.store.windows import WindowStore
from virtimu.training import distributed
from virtimu.training.checkpoint import load_checkpoint
from virtimu.training.config import TrainConfig, apply_overrides
from virtimu.training.learner import LAST_CHECKPOINT, TorchLearner
from virtimu.types import WindowSet

log = logging.getLogger(__name__)

SPLITS = ("ratio", "loso", "subjects", "kfold")
#: Written into a multi-run folder; a rerun with other settings is refused.
SWEEP_FILE = "sweep.json"


def feature_models() -> tuple[str, ...]:
    """Names of the feature-based learners (scikit-learn / XGBoost) usable beside the torch registry."""
    from virtimu.models.features_learners import FEATURE_LEARNERS

    return tuple(FEATURE_LEARNERS)


def feature_learner(name: str, model_cfg: dict[str, Any], fs: float):
    from virtimu.models.features_learners import FEATURE_LEARNERS, FeatureConfig

    return FEATURE_LEARNERS[name](model_cfg or None, FeatureConfig(fs=fs))


def _load_learner(run_dir: Path):
    """The learner saved in a run folder: ``model.pt`` (torch) or ``model.zip`` (feature learner)."""
    if (run_dir / "model.zip").exists():
        from virtimu.models.features_learners import FeatureLearner

        return FeatureLearner.load(run_dir / "model.zip")
    return TorchLearner.load(run_dir / "model.pt")


@dataclass
class RunSpec:
    """What to train and how to split.

    split: 'ratio' (stratified train fraction ``ratio``, paper 001's 7:3),
    'loso' (test subject ``test_subject`` or the first subject in sorted
    order, ``n_val_subjects`` validation subjects, paper 000: torch models
    validate on them and keep the weights of the best validation macro-F1),
    'subjects' (``test_subjects`` held out) or 'kfold' (fold ``fold`` of
    `group_kfold` over subjects with ``k`` folds, 0-based).  seed: seeds the
    split (ratio, LOSO validation subjects, k-fold assignment).
    train_seed: seeds training (model init, shuffling, dropout; the feature
    learners' ``seed``) and is the run's reported seed; None = the train
    config's ``seed`` and ``seed`` reported, as before.  init: checkpoint to
    transfer from; freeze_conv: freeze its first k conv layers (paper 000);
    freeze_all_but_fc: train only the FC layers (paper 001); n_windows:
    stratified target sample.
    """

    model: str
    store: str
    set_name: str = "default"
    source: str | None = None
    split: str = "ratio"
    ratio: float = 0.7
    test_subject: str | None = None
    test_subjects: tuple[str, ...] = ()
    n_val_subjects: int = 2
    seed: int = 0
    init: str | None = None
    freeze_conv: int | None = None
    freeze_all_but_fc: bool = False
    n_windows: int | None = None
    k: int = 5
    fold: int | None = None
    train_seed: int | None = None


class SetData:
    """One stored window set (optionally one source): labels and subjects at once, windows on demand.

    Positions 0..n-1 are the set's windows of ``source`` (all when None) in
    store order; ``rows`` (n,) are their store rows.  Attributes: y (n,)
    int64, subject (n,) str, label_map, channels, fs, length.  ``X(idx)``
    reads the windows at positions ``idx`` (from memory after `load`).
    """

    def __init__(self, store: str, set_name: str = "default", source: str | None = None) -> None:
        self.store, self.set_name, self.source = str(store), set_name, source
        ws = WindowStore(store, mode="r")
        meta = ws.meta(set_name)
        info = ws.info(set_name)
        rows = np.arange(len(meta), dtype=np.int64)
        if source:
            keep = meta.source == source
            if not keep.any():
                raise ValueError(f"{store} window set {set_name!r} has no windows from source {source!r}; "
                                 f"sources: {sorted(set(meta.source.tolist()))}")
            rows = np.flatnonzero(keep).astype(np.int64)
        self.rows = rows
        self.y = meta.y[rows]
        self.subject = meta.subject[rows]
        self.label_map = ws.label_map(set_name)
        self.channels = list(info["channels"])
        self.fs = float(info["fs"])
        self.length = int(info["window_length"])
        self._X: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.size)

    def nbytes(self, n: int) -> int:
        """Bytes of ``n`` float32 windows of this set."""
        return int(n) * self.length * len(self.channels) * 4

    def load(self) -> SetData:
        """Read every window of the set (this source) into memory once."""
        if self._X is None:
            self._X = self._read(np.arange(len(self), dtype=np.int64))
        return self

    def _read(self, pos: np.ndarray) -> np.ndarray:
        return WindowStore(self.store, mode="r").read(self.set_name, self.rows[pos]).X

    def X(self, idx: np.ndarray) -> np.ndarray:
        """Windows (k, L, C) float32 at positions ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        return self._X[idx] if self._X is not None else self._read(idx)


def load_windows(store: str, set_name: str, source: str | None) -> WindowSet:
    """The whole window set (only ``source``'s windows when given) in memory."""
    ws = WindowStore(store, mode="r").read(set_name)
    if source:
        keep = ws.source == source
        if not keep.any():
            raise ValueError(f"{store} window set {set_name!r} has no windows from source {source!r}; "
                             f"sources: {sorted(set(ws.source.tolist()))}")
        ws = ws.subset(np.flatnonzero(keep))
    return ws


def split_indices(ws: WindowSet | SetData, spec: RunSpec) -> dict[str, Any]:
    """{'train': [...], 'test': [...], 'val': [...] (loso), 'how': {...}} as index lists into ``ws``.

    ``ws`` needs ``y`` and ``subject`` (a `WindowSet` or `SetData`).
    """
    if spec.split == "ratio":
        train, test = ratio_split(ws.y, train=spec.ratio, seed=spec.seed)
        return {"train": train.tolist(), "test": test.tolist(), "how": {"split": "ratio", "ratio": spec.ratio}}
    if spec.split == "loso":
        subjects = sorted(set(ws.subject.tolist()))
        test_subject = spec.test_subject or subjects[0]
        fold = loso(ws.subject, n_val_subjects=spec.n_val_subjects, seed=spec.seed, test_subjects=[test_subject])[0]
        return {"train": fold.train.tolist(), "val": fold.val.tolist(), "test": fold.test.tolist(),
                "how": {"split": "loso", "test_subject": test_subject, "val_subjects": list(fold.val_subjects)}}
    if spec.split == "subjects":
        if not spec.test_subjects:
            raise ValueError("split 'subjects' needs test subjects (--test-subjects a,b,...)")
        test = np.isin(ws.subject, list(spec.test_subjects))
        if not test.any():
            raise ValueError(f"none of the test subjects {list(spec.test_subjects)} is in the window set; "
                             f"subjects: {sorted(set(ws.subject.tolist()))}")
        return {"train": np.flatnonzero(~test).tolist(), "test": np.flatnonzero(test).tolist(),
                "how": {"split": "subjects", "test_subjects": list(spec.test_subjects)}}
    if spec.split == "kfold":
        fold = 0 if spec.fold is None else int(spec.fold)
        if not 0 <= fold < int(spec.k):
            raise ValueError(f"split 'kfold': fold {fold} out of range for k={spec.k} folds (0-based)")
        train, test = group_kfold(ws.subject, k=spec.k, seed=spec.seed)[fold]
        return {"train": train.tolist(), "test": test.tolist(),
                "how": {"split": "kfold", "k": int(spec.k), "fold": fold,
                        "test_subjects": sorted(set(np.asarray(ws.subject)[test].tolist()))}}
    raise ValueError(f"unknown split {spec.split!r}; choose from {list(SPLITS)}")


def _configs(overrides: list[str], config_file: str | None) -> tuple[dict[str, Any], TrainConfig]:
    """Split ``key=value`` overrides into model settings (``model.key=value``) and TrainConfig ones
    (``key=value`` or ``train.key=value``)."""
    import yaml

    model_cfg: dict[str, Any] = {}
    train_values: dict[str, Any] = {}
    if config_file:
        with open(config_file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        model_cfg.update(data.get("model", {}))
        train_values.update(data.get("train", {}))
    train_pairs = []
    for pair in overrides:
        key, _, value = pair.partition("=")
        if not _:
            raise ValueError(f"expected key=value, got {pair!r}")
        if key.startswith("model."):
            model_cfg[key[len("model."):]] = yaml.safe_load(value)
        else:
            train_pairs.append(pair[len("train."):] if key.startswith("train.") else pair)
    cfg = apply_overrides(TrainConfig.from_dict(train_values), train_pairs)
    return model_cfg, cfg


def use_stream(cfg: TrainConfig, nbytes: int, streamable: bool, what: str = "training") -> bool:
    """Whether to train from the store: ``cfg.stream`` 'true' / 'false', or 'auto' = ``nbytes`` above
    ``cfg.max_in_memory_mb`` MiB.  Only torch models trained from scratch stream (``streamable``);
    ``stream='true'`` for anything else raises ValueError, 'auto' logs a warning and loads the windows."""
    if cfg.stream == "false":
        return False
    if cfg.stream == "true":
        if not streamable:
            raise ValueError(f"stream=true: {what} cannot stream from the store (only torch models trained "
                             "from scratch do); use stream=auto or stream=false")
        return True
    big = nbytes > cfg.max_in_memory_mb * 2 ** 20
    if big and not streamable:
        log.warning("%s: %.0f MiB of windows exceed max_in_memory_mb=%g but cannot stream; loading them",
                    what, nbytes / 2 ** 20, cfg.max_in_memory_mb)
    return big and streamable


def head_label_map(y: np.ndarray, label_map: dict[int, str]) -> dict[int, str]:
    """{code: name} of the classes a model trained on labels ``y`` (N,) outputs, in code order.

    The classes are the codes present in ``y`` (the null code only when null
    windows are among them), named by the set's ``label_map`` (a code it does
    not name is named by its number).  A transferred model keeps its head when
    this equals its own classes and names, and gets a new head for exactly
    these classes otherwise.
    """
    return {int(c): str(label_map.get(int(c), str(int(c)))) for c in np.unique(np.asarray(y, dtype=np.int64))}


def _run_key(spec: RunSpec, overrides: Sequence[str], config_file: str | None, parts: dict[str, Any]) -> str:
    """Hash of everything that decides a run's training (spec, settings, split), not the process count."""
    sig = _signature(spec, overrides, config_file)
    sig.update(test_subject=spec.test_subject, fold=spec.fold, train_seed=spec.train_seed,
               train=parts["train"], val=parts.get("val", []))
    return hashlib.sha256(json.dumps(sig, sort_keys=True, default=str).encode()).hexdigest()


def _resumable(last: Path, key: str) -> bool:
    """True when ``last`` is a checkpoint of a run with key ``key`` (anything else is ignored, and overwritten)."""
    if not last.is_file():
        return False
    try:
        found = (load_checkpoint(last).get("provenance") or {}).get("run_key")
    except (ValueError, FileNotFoundError) as exc:
        log.warning("ignoring %s: %s", last, exc)
        return False
    if found != key:
        log.warning("ignoring %s: written by a run with other settings; training afresh", last)
        return False
    log.info("continuing the interrupted run from %s", last)
    return True


def train_run(spec: RunSpec, out: str | Path, overrides: Sequence[str] = (), config_file: str | None = None,
              data: SetData | None = None, nproc: int = 1) -> RunResult | None:
    """Train (or transfer) ``spec.model`` on the train part, evaluate on the test part, write the run folder.

    data: the window set already opened (or loaded) by the caller, e.g.
    `train_runs` sharing one `SetData` over its sub-runs; None = open it here.
    nproc: train a torch model from scratch in this many processes
    (`train_run_distributed`; ValueError for feature learners and transfer).
    Torch models continue from ``out/last.pt`` left by an interrupted run
    with the same settings.  Returns the result (None on the ranks > 0 of a
    process group, which write nothing).
    """
    if int(nproc) < 1:
        raise ValueError(f"--nproc {nproc}: expected >= 1")
    if int(nproc) > 1:
        return train_run_distributed(spec, out, overrides, config_file, int(nproc))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else SetData(spec.store, spec.set_name, spec.source)
    parts = split_indices(data, spec)
    model_cfg, cfg = _configs(list(overrides), config_file)
    is_feature = spec.model in feature_models() and not spec.init
    if spec.train_seed is not None:
        if is_feature:
            model_cfg["seed"] = int(spec.train_seed)
        else:
            cfg = dataclasses.replace(cfg, seed=int(spec.train_seed))
    tr, te = np.array(parts["train"], dtype=np.int64), np.array(parts["test"], dtype=np.int64)
    va = np.array(parts.get("val", []), dtype=np.int64)
    provenance = {"store": str(spec.store), "set": spec.set_name, "source": spec.source,
                  "split": parts["how"], "n_train": len(tr), "n_test": len(te)}
    ctx = distributed.active()
    last, resume = out / LAST_CHECKPOINT, False
    if not is_feature and not spec.init:
        provenance["run_key"] = _run_key(spec, overrides, config_file, parts)
        resume = _resumable(last, provenance["run_key"])
    stream = use_stream(cfg, data.nbytes(tr.size + va.size), streamable=not spec.init and not is_feature,
                        what=f"{spec.model}" + (" transfer" if spec.init else ""))
    t0 = time.perf_counter()
    if spec.init:
        learner = TorchLearner.from_checkpoint(spec.init, train_config=cfg)
        head = head_label_map(data.y[tr], data.label_map)
        if head != {int(c): learner.label_map.get(int(c), str(int(c))) for c in learner.classes_}:
            learner.replace_head(len(head), label_map=head)
        if spec.freeze_conv or spec.freeze_all_but_fc:
            learner.freeze(first_k_conv=spec.freeze_conv, all_but_fc=spec.freeze_all_but_fc)
        learner.fine_tune(data.X(tr), data.y[tr], n_windows=spec.n_windows, seed=spec.seed, groups=data.subject[tr])
    elif is_feature:
        learner = feature_learner(spec.model, model_cfg, data.fs)
        learner.fit(data.X(tr), data.y[tr], channels=data.channels, label_map=data.label_map, provenance=provenance)
    elif stream:
        learner = TorchLearner(spec.model, model_cfg or None, cfg)
        learner.fit_store(spec.store, spec.set_name, data.rows[tr], val_indices=data.rows[va] if va.size else None,
                          label_map=data.label_map, channels=data.channels, provenance=provenance,
                          out_dir=out, resume=resume)
    else:
        learner = TorchLearner(spec.model, model_cfg or None, cfg)
        X_val, y_val = (data.X(va), data.y[va]) if va.size else (None, None)
        learner.fit(data.X(tr), data.y[tr], groups=data.subject[tr], X_val=X_val, y_val=y_val,
                    label_map=data.label_map, channels=data.channels, provenance=provenance,
                    out_dir=out, resume=resume)
    seconds = time.perf_counter() - t0
    if ctx is not None and not ctx.is_main:
        return None  # rank 0 evaluates and writes the run folder
    learner.save(out / ("model.zip" if is_feature else "model.pt"))
    write_json(out / "split.json", parts)
    if stream:
        pred = learner.predict_store(spec.store, spec.set_name, data.rows[te])
    else:
        pred = learner.predict(data.X(te))
    seed = spec.seed if spec.train_seed is None else int(spec.train_seed)
    result = RunResult(model=spec.model, dataset=f"{spec.store}:{spec.set_name}" + (f"/{spec.source}" if spec.source else ""),
                       split=parts["how"]["split"], seed=seed, train_seconds=seconds,
                       config={"model": model_cfg, "train": cfg.to_dict(), "init": spec.init,
                               "freeze_conv": spec.freeze_conv, "freeze_all_but_fc": spec.freeze_all_but_fc,
                               "n_windows": spec.n_windows, "streamed": stream, "split_seed": spec.seed,
                               "nproc": ctx.world_size if ctx is not None else 1},
                       provenance=provenance)
    write_run(out, result, data.y[te], pred, data.label_map)
    last.unlink(missing_ok=True)  # the run is complete: model.pt and metrics.json replace the resume point
    return result


def _train_run_rank(spec: RunSpec, out: str, overrides: list[str], config_file: str | None) -> None:
    """One process's part of `train_run_distributed` (module level: spawned processes import it)."""
    train_run(spec, out, overrides, config_file)


def train_run_distributed(spec: RunSpec, out: str | Path, overrides: Sequence[str] = (),
                          config_file: str | None = None, nproc: int = 2) -> RunResult:
    """`train_run` with a torch model trained in ``nproc`` processes (DistributedDataParallel, gloo, CPU).

    ``batch_size`` stays the global batch: each process takes its share of
    every batch, so the run follows the single-process one up to float
    rounding (dropout aside; see `virtimu.training.distributed`).  Every
    process reads its training windows itself (in memory, or its shares from
    the store when streaming); rank 0 writes the run folder, which is read
    back here.  Raises ValueError for feature learners and transfer runs.
    """
    if spec.model in feature_models():
        raise ValueError(f"--nproc {nproc}: {spec.model!r} is a feature learner (scikit-learn / XGBoost); "
                         "multi-process training is for torch models only (use --nproc 1)")
    if spec.init:
        raise ValueError(f"--nproc {nproc}: transfer runs (--init) train in one process only (use --nproc 1)")
    from virtimu.models.registry import MODELS

    if spec.model not in MODELS:
        raise ValueError(f"unknown model {spec.model!r}; torch models: {sorted(MODELS)}")
    _configs(list(overrides), config_file)  # malformed settings fail here, not in every process
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    distributed.launch(_train_run_rank, int(nproc), spec, str(out), list(overrides), config_file)
    return read_run(out)


def _recorded_source(run_dir: Path, learner: Any) -> dict[str, Any]:
    """{'store', 'set', 'source'} a run was trained on: its metrics.json, else the model's provenance."""
    try:
        prov = read_run(run_dir).provenance
    except (FileNotFoundError, ValueError, KeyError):
        prov = {}
    if not prov.get("store"):
        prov = learner.provenance if isinstance(getattr(learner, "provenance", None), dict) else {}
    return prov


def eval_run(run_dir: str | Path, store: str | None = None, set_name: str | None = None,
             source: str | None = None, out: str | Path | None = None) -> RunResult:
    """Evaluate a saved run on a window set: on its recorded test part when the set is the one it was
    trained on, otherwise on every window.  Writes metrics, confusion matrix and per-class table.

    store None: the store, set and source the run was trained on (its test
    part).  set_name None: that set when the store is the run's, else 'default'.
    Torch models predict from the store in chunks when the windows exceed
    their ``max_in_memory_mb`` (or ``stream='true'``).
    """
    run_dir = Path(run_dir)
    learner = _load_learner(run_dir)
    prov = _recorded_source(run_dir, learner)
    if store is None:
        if not prov.get("store"):
            raise ValueError(f"{run_dir}: no store recorded for this run; pass --store")
        store, source = prov["store"], prov.get("source") if source is None else source
    if set_name is None:
        set_name = (prov.get("set") or "default") if str(store) == prov.get("store") else "default"
    data = SetData(store, set_name, source)
    idx = np.arange(len(data), dtype=np.int64)
    split_file = run_dir / "split.json"
    same = prov.get("store") == str(store) and prov.get("set") == set_name and prov.get("source") == source
    if same and split_file.exists():
        idx = np.array(json.loads(split_file.read_text())["test"], dtype=np.int64)
    if isinstance(learner, TorchLearner) and use_stream(learner.train_config, data.nbytes(idx.size), True, "eval"):
        pred = learner.predict_store(store, set_name, data.rows[idx])
    else:
        pred = learner.predict(data.X(idx))
    result = RunResult(model=str(getattr(learner, "model_name", None) or type(learner).__name__), dataset=f"{store}:{set_name}" + (f"/{source}" if source else ""),
                       split="test part" if same else "all windows", seed=-1,
                       provenance={"run": str(run_dir), "n": len(idx)})
    write_run(Path(out) if out else run_dir / "eval", result, data.y[idx], pred, data.label_map)
    return result


# ------------------------------------------------------------------ many runs
@dataclass(frozen=True)
class SubRun:
    """One run of a multi-run folder: ``fold`` (test subject, k-fold index, or None), training ``seed``,
    the `RunSpec` and its folder ``rel`` relative to the top folder."""

    fold: str | None
    seed: int
    spec: RunSpec
    rel: str


def _select_folds(available: list[str], folds: str | int | Sequence[str] | None, what: str) -> list[str]:
    """'all' / None -> all; an int N (or 'N', digits only) -> the first N; 'a,b' or a list -> those (checked).

    A single fold named by digits is ``'3,'`` (the trailing comma makes it a list).
    """
    if folds is None or (isinstance(folds, str) and folds.strip().lower() == "all"):
        return list(available)
    if isinstance(folds, int) or (isinstance(folds, str) and folds.strip().isdigit()):
        n = int(folds)
        if not 1 <= n <= len(available):
            raise ValueError(f"--folds {n}: choose 1..{len(available)} {what}")
        return list(available[:n])
    names = [s.strip() for s in folds.split(",") if s.strip()] if isinstance(folds, str) else [str(s) for s in folds]
    unknown = [s for s in names if s not in available]
    if unknown:
        raise ValueError(f"--folds: unknown {what} {unknown}; available: {available}")
    return names


def plan_runs(spec: RunSpec, data: SetData | WindowSet, folds: str | int | Sequence[str] | None = None,
              seeds: Sequence[int] = (0,)) -> list[SubRun]:
    """The sub-runs of a multi-run: folds × seeds, fold-major.

    loso: folds are test subjects (sorted; ``folds`` = 'all', N for the
    first N, or names; default all).  kfold: folds 0..k-1 (same forms).
    ratio / subjects: no folds (``folds`` must be None); one run per seed.
    """
    if not seeds:
        raise ValueError("no seeds given")
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"repeated seeds {seeds}")
    if spec.split == "loso":
        if spec.test_subject is not None and folds is not None:
            raise ValueError("give either --test-subject (one fold) or --folds, not both")
        subjects = sorted(set(np.asarray(data.subject).astype(str).tolist()))
        chosen = [spec.test_subject] if spec.test_subject is not None else _select_folds(subjects, folds, "subjects")
        return [SubRun(f, s, dataclasses.replace(spec, test_subject=f, train_seed=s), f"fold-{f}/seed-{s}")
                for f in chosen for s in seeds]
    if spec.split == "kfold":
        if spec.fold is not None and folds is not None:
            raise ValueError("give either a single fold or --folds, not both")
        available = [str(i) for i in range(int(spec.k))]
        chosen = [str(spec.fold)] if spec.fold is not None else _select_folds(available, folds, "folds")
        return [SubRun(f, s, dataclasses.replace(spec, fold=int(f), train_seed=s), f"fold-{f}/seed-{s}")
                for f in chosen for s in seeds]
    if folds is not None:
        raise ValueError(f"--folds needs --split loso or kfold, not {spec.split!r}")
    return [SubRun(None, s, dataclasses.replace(spec, train_seed=s), f"seed-{s}") for s in seeds]


def _signature(spec: RunSpec, overrides: Sequence[str], config_file: str | None) -> dict[str, Any]:
    """Settings every sub-run of a folder must share (folds and seeds may grow between reruns)."""
    sig = {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("test_subject", "fold", "train_seed")}
    sig["test_subjects"] = list(spec.test_subjects)
    sig["overrides"] = list(overrides)
    sig["config_file"] = None
    if config_file:
        sig["config_file"] = hashlib.sha256(Path(config_file).read_bytes()).hexdigest()
    return json.loads(json.dumps(sig, default=str))


def _check_signature(out: Path, sig: dict[str, Any]) -> None:
    path = out / SWEEP_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        diff = sorted(k for k in set(old) | set(sig) if old.get(k) != sig.get(k))
        if diff:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {sig.get(k)!r}" for k in diff)
            raise ValueError(f"{out} holds runs made with other settings ({details}); use another --out "
                             "or remove the folder")


#: ``on_run(i, n, sub_run, result, skipped)`` after each sub-run (i is 0-based).
OnRun = Callable[[int, int, SubRun, RunResult, bool], None]


def train_runs(spec: RunSpec, out: str | Path, folds: str | int | Sequence[str] | None = None,
               seeds: Sequence[int] = (0,), overrides: Sequence[str] = (), config_file: str | None = None,
               progress: bool = True, on_run: OnRun | None = None, nproc: int = 1) -> dict[str, Any]:
    """Every fold × seed of ``spec`` (see `plan_runs`), each in its own folder under ``out``; then the summary.

    Sub-runs whose ``metrics.json`` exists are read, not retrained (resume).
    ``out/sweep.json`` records the shared settings and a rerun with other
    settings raises ValueError.  The window set is opened once and, when it
    fits in memory (``max_in_memory_mb``) or the model cannot stream, loaded
    once for all sub-runs.  Writes ``summary.json``, ``summary.md``,
    ``folds_macro_f1.png`` and ``confusion_sum.png`` (`write_summary`);
    returns the summary dict.  nproc > 1: each sub-run trains in that many
    processes (`train_run_distributed`).  A sub-run killed part-way continues
    from its ``last.pt``.
    """
    out = Path(out)
    data = SetData(spec.store, spec.set_name, spec.source)
    plan = plan_runs(spec, data, folds, seeds)
    sig = _signature(spec, overrides, config_file)
    _check_signature(out, sig)
    write_json(out / SWEEP_FILE, {"settings": sig, "runs": [s.rel for s in plan]})
    _, cfg = _configs(list(overrides), config_file)
    streamable = not spec.init and spec.model not in feature_models()
    pending = [s for s in plan if not (out / s.rel / "metrics.json").is_file()]
    if pending and int(nproc) == 1 and not use_stream(cfg, data.nbytes(len(data)), streamable, spec.model):
        data.load()
    results: list[RunResult] = []
    bar = tqdm(plan, desc=f"{spec.model} runs", unit="run", disable=not progress)
    for i, sub in enumerate(bar):
        folder = out / sub.rel
        skipped = (folder / "metrics.json").is_file()
        result = read_run(folder) if skipped else train_run(sub.spec, folder, overrides, config_file, data=data,
                                                                           nproc=nproc)
        results.append(result)
        log.info("run %d/%d %s: accuracy %.4f macro-F1 %.4f%s", i + 1, len(plan), sub.rel,
                 result.metrics.accuracy, result.metrics.macro_f1, " (done before)" if skipped else "")
        if on_run is not None:
            on_run(i, len(plan), sub, result, skipped)
    bar.close()
    summary = summarise_runs(results, folds=[s.fold for s in plan], dirs=[s.rel for s in plan])
    write_summary(out, summary)
    return summary


def find_runs(folder: str | Path) -> list[tuple[str | None, str]]:
    """(fold, relative folder) of the saved runs in a multi-run folder: ``fold-*/seed-*`` or ``seed-*``."""
    folder = Path(folder)
    found = []
    for model in sorted(folder.glob("fold-*/seed-*/model.*")) + sorted(folder.glob("seed-*/model.*")):
        if model.name not in ("model.pt", "model.zip"):
            continue
        rel = model.parent.relative_to(folder)
        fold = rel.parts[0][len("fold-"):] if len(rel.parts) == 2 else None
        found.append((fold, rel.as_posix()))
    return sorted(set(found), key=lambda fr: _natural(fr[1]))


def _natural(text: str) -> list[Any]:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def is_multi_run(folder: str | Path) -> bool:
    """True for a folder written by `train_runs` (no model file of its own, runs below it)."""
    folder = Path(folder)
    if (folder / "model.pt").exists() or (folder / "model.zip").exists():
        return False
    return (folder / SWEEP_FILE).is_file() or bool(find_runs(folder))


def eval_runs(folder: str | Path, store: str | None = None, set_name: str | None = None,
              source: str | None = None, out: str | Path | None = None, progress: bool = True,
              on_run: OnRun | None = None) -> dict[str, Any]:
    """`eval_run` on every run of a multi-run folder (into ``<run>/eval``, or ``out/<run>``), then the
    same summary as `train_runs` in ``out`` (default ``folder/eval``); returns it."""
    folder = Path(folder)
    runs = find_runs(folder)
    if not runs:
        raise FileNotFoundError(f"{folder}: no runs (fold-*/seed-*/model.* or seed-*/model.*) found")
    results = []
    for i, (fold, rel) in enumerate(tqdm(runs, desc="eval runs", unit="run", disable=not progress)):
        dest = Path(out) / rel if out else folder / rel / "eval"
        result = eval_run(folder / rel, store, set_name, source, out=dest)
        seed_part = rel.rsplit("seed-", 1)[-1]
        result.seed = int(seed_part) if seed_part.lstrip("-").isdigit() else -1
        results.append(result)
        if on_run is not None:
            on_run(i, len(runs), SubRun(fold, result.seed, RunSpec(model=result.model, store=str(store)), rel),
                   result, False)
    summary = summarise_runs(results, folds=[f for f, _ in runs], dirs=[rel for _, rel in runs])
    write_summary(Path(out) if out else folder / "eval", summary)
    return summary
