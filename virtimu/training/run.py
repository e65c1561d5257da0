"""One training run from a window set in the store: split, train (or transfer), evaluate, write.

Used by ``virtimu train`` and ``virtimu eval``.  A run folder holds
``model.pt`` (weights_only-loadable torch checkpoint) or ``model.zip``
(feature learners: XGBoost JSON / skops, no pickle), ``split.json`` (the exact
train/test indices into the window set and how they were drawn),
``metrics.json``, ``confusion.png`` and ``per_class.md``.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.evaluation.report import RunResult, write_json, write_run
from virtimu.evaluation.splits import loso, ratio_split
from virtimu.store.windows import WindowStore
from virtimu.training.config import TrainConfig, apply_overrides
from virtimu.training.learner import TorchLearner
from virtimu.types import WindowSet

log = logging.getLogger(__name__)

SPLITS = ("ratio", "loso", "subjects")
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
    order, ``n_val_subjects`` validation subjects, paper 000), or 'subjects'
    (``test_subjects`` held out).  init: checkpoint to transfer from;
    freeze_conv: freeze its first k conv layers (paper 000); freeze_all_but_fc:
    train only the FC layers (paper 001); n_windows: stratified target sample.
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


def load_windows(store: str, set_name: str, source: str | None) -> WindowSet:
    ws = WindowStore(store, mode="r").read(set_name)
    if source:
        keep = ws.source == source
        if not keep.any():
            raise ValueError(f"{store} window set {set_name!r} has no windows from source {source!r}; "
                             f"sources: {sorted(set(ws.source.tolist()))}")
        ws = ws.subset(np.flatnonzero(keep))
    return ws


def split_indices(ws: WindowSet, spec: RunSpec) -> dict[str, Any]:
    """{'train': [...], 'test': [...], 'val': [...] (loso), 'how': {...}} as index lists into ``ws``."""
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
    raise ValueError(f"unknown split {spec.split!r}; choose from {list(SPLITS)}")


def _configs(overrides: list[str], config_file: str | None) -> tuple[dict[str, Any], TrainConfig]:
    """Split ``key=value`` overrides into model settings (``model.key=value``) and TrainConfig ones."""
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
            train_pairs.append(pair)
    cfg = apply_overrides(TrainConfig.from_dict(train_values), train_pairs)
    return model_cfg, cfg


def train_run(spec: RunSpec, out: str | Path, overrides: list[str] = (), config_file: str | None = None) -> RunResult:
    """Train (or transfer) ``spec.model`` on the train part, evaluate on the test part, write the run folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = load_windows(spec.store, spec.set_name, spec.source)
    parts = split_indices(ws, spec)
    model_cfg, cfg = _configs(list(overrides), config_file)
    tr, te = np.array(parts["train"], dtype=np.int64), np.array(parts["test"], dtype=np.int64)
    provenance = {"store": str(spec.store), "set": spec.set_name, "source": spec.source,
                  "split": parts["how"], "n_train": len(tr), "n_test": len(te)}
    t0 = time.perf_counter()
    if spec.init:
        learner = TorchLearner.from_checkpoint(spec.init, train_config=cfg)
        target = sorted(set(ws.y[tr].tolist()))
        if target != sorted(int(c) for c in learner.classes_) or learner.label_map != ws.label_map:
            learner.replace_head(len(target), label_map=ws.label_map)
        if spec.freeze_conv or spec.freeze_all_but_fc:
            learner.freeze(first_k_conv=spec.freeze_conv, all_but_fc=spec.freeze_all_but_fc)
        learner.fine_tune(ws.X[tr], ws.y[tr], n_windows=spec.n_windows, seed=spec.seed, groups=ws.subject[tr])
    elif spec.model in feature_models():
        learner = feature_learner(spec.model, model_cfg, ws.fs)
        learner.fit(ws.X[tr], ws.y[tr], channels=ws.channels, label_map=ws.label_map, provenance=provenance)
    else:
        learner = TorchLearner(spec.model, model_cfg or None, cfg)
        learner.fit(ws.X[tr], ws.y[tr], groups=ws.subject[tr], label_map=ws.label_map, channels=ws.channels,
                    provenance=provenance)
    seconds = time.perf_counter() - t0
    learner.save(out / ("model.zip" if spec.model in feature_models() and not spec.init else "model.pt"))
    write_json(out / "split.json", parts)
    pred = learner.predict(ws.X[te])
    result = RunResult(model=spec.model, dataset=f"{spec.store}:{spec.set_name}" + (f"/{spec.source}" if spec.source else ""),
                       split=parts["how"]["split"], seed=spec.seed, train_seconds=seconds,
                       config={"model": model_cfg, "train": cfg.to_dict(), "init": spec.init,
                               "freeze_conv": spec.freeze_conv, "freeze_all_but_fc": spec.freeze_all_but_fc,
                               "n_windows": spec.n_windows}, provenance=provenance)
    write_run(out, result, ws.y[te], pred, ws.label_map)
    return result


def eval_run(run_dir: str | Path, store: str, set_name: str = "default", source: str | None = None,
             out: str | Path | None = None) -> RunResult:
    """Evaluate a saved run on a window set: on its recorded test part when the set is the one it was
    trained on, otherwise on every window.  Writes metrics, confusion matrix and per-class table."""
    run_dir = Path(run_dir)
    learner = _load_learner(run_dir)
    ws = load_windows(store, set_name, source)
    idx = np.arange(len(ws))
    split_file = run_dir / "split.json"
    prov = learner.provenance if isinstance(learner.provenance, dict) else {}
    same = prov.get("store") == str(store) and prov.get("set") == set_name and prov.get("source") == source
    if same and split_file.exists():
        idx = np.array(json.loads(split_file.read_text())["test"], dtype=np.int64)
    pred = learner.predict(ws.X[idx])
    result = RunResult(model=str(getattr(learner, "model_name", None) or type(learner).__name__), dataset=f"{store}:{set_name}" + (f"/{source}" if source else ""),
                       split="test part" if same else "all windows", seed=-1,
                       provenance={"run": str(run_dir), "n": len(idx)})
    write_run(Path(out) if out else run_dir / "eval", result, ws.y[idx], pred, ws.label_map)
    return result
