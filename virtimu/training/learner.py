"""`TorchLearner`: the fit / predict / save / load interface over a torch model.

One learner wraps one ``nn.Module`` following the models contract
(``forward(x (B, L, C)) -> logits (B, K)``, ``conv_layers``, ``head``,
``replace_head(n)``, ``fc_parameters()``, optional ``training_loss``).  It
owns what a model needs around it: per-channel normalisation statistics
(from training windows only), the label codes of the outputs, the
validation split, class weights, checkpoints and transfer options:

- ``replace_head(n_classes, label_map)`` for a new label space,
- ``freeze(first_k_conv=k)`` (paper 000) or ``freeze(all_but_fc=True)``
  (paper 001),
- ``fine_tune(X, y, n_windows=...)`` on a seeded stratified sample of
  target windows.  By default the source normalisation statistics are kept
  (the frozen layers were trained on inputs scaled that way);
  ``keep_normalisation=False`` recomputes them from the target windows.

Windows come from memory (``fit(X, y)``) or straight from a window store
(``fit_store(store, set, indices)``: normalisation statistics by a streaming
pass over the chunks, `store_channel_stats`, and mini-batches from the
chunk-aware `virtimu.data.make_loader`, so the set is never loaded whole;
``predict_store`` likewise).

Labels are integer codes; output column k of ``predict_proba`` is code
``classes_[k]``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import virtimu
from virtimu.evaluation.splits import (
    ratio_split,
    stratified_sample,
    train_val_split_by_subject,
)
from virtimu.training.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    save_checkpoint,
)
from virtimu.training import distributed
from virtimu.training.config import TrainConfig, apply_overrides
from virtimu.training.loop import (
    Batches,
    LoopState,
    Validator,
    array_batches,
    evaluate,
    evaluate_batches,
    logits_of_batches,
    predict_logits,
    total_steps,
    train_batches,
)

logger = logging.getLogger(__name__)

#: ``factory(n_channels, length, n_classes, model_config) -> nn.Module``
ModelFactory = Callable[[int, int, int, dict | None], nn.Module]

LAST_CHECKPOINT = "last.pt"
_REQUIRED = ("state_dict", "model_name", "model_config", "classes", "n_channels", "length", "mean", "std")


def _resume_point(last: Path | None, resume: bool) -> dict[str, Any] | None:
    """The checkpoint payload of ``last`` (a run folder's last.pt) to continue from, or None to train afresh."""
    if not resume or last is None:
        return None
    if not last.is_file():
        logger.info("resume requested but no %s; starting afresh", last)
        return None
    return load_checkpoint(last, _REQUIRED)


def _registry_factory(name: str) -> ModelFactory:
    from virtimu.models.registry import (
        build_model,  # imported late: optional until models exist
    )

    def factory(n_channels: int, length: int, n_classes: int, config: dict | None) -> nn.Module:
        return build_model(name, n_channels, length, n_classes, config)

    return factory


def _as_train_config(cfg: TrainConfig | dict | None) -> TrainConfig:
    if cfg is None:
        return TrainConfig()
    if isinstance(cfg, TrainConfig):
        return cfg
    if isinstance(cfg, dict):
        return TrainConfig.from_dict(cfg)
    raise TypeError(f"train_config: expected TrainConfig, dict or None, got {type(cfg).__name__}")


def _check_xy(X: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 3:
        raise ValueError(f"{what}: X must be (N, L, C), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{what}: y must be ({X.shape[0]},) to match X, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}: y must hold integer label codes, got dtype {y.dtype}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what}: X has {int(np.sum(~np.isfinite(X)))} non-finite values")
    return X, y.astype(np.int64)


def channel_stats(X: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (C,) float32 over windows and time of ``X (N, L, C)``; std < eps -> 1."""
    flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < eps] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _check_rows(indices: np.ndarray | None, n_total: int, what: str) -> np.ndarray:
    """(n,) int64 store rows from ``indices`` (None = all ``n_total``); errors name ``what``."""
    if indices is None:
        return np.arange(n_total, dtype=np.int64)
    rows = np.asarray(indices)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(f"{what}: indices must be a 1-D integer array, got {rows.dtype} {rows.shape}")
    rows = rows.astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_total):
        raise IndexError(f"{what}: indices must lie in [0, {n_total}), got [{rows.min()}, {rows.max()}]")
    return rows


def store_channel_stats(store_path: str | os.PathLike, set_name: str, indices: np.ndarray | None = None,
                        eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """`channel_stats` of the stored windows at ``indices`` (store rows; None = all), one chunk at a time.

    Each chunk holding a requested row is decompressed once; its rows give a
    float64 count, mean and sum of squared deviations per channel, merged
    into the running ones with the pairwise update of Chan, Golub & LeVeque
    (1979), so the result equals the in-memory computation up to float64
    rounding.  Memory: one chunk.  Returns (mean (C,), std (C,)) float32,
    std < eps -> 1.
    """
    from virtimu.store.windows import WindowStore

    store = WindowStore(store_path, mode="r")
    rows = np.sort(_check_rows(indices, store.n_windows(set_name), "store_channel_stats"))
    if rows.size == 0:
        raise ValueError(f"store_channel_stats: no windows of set {set_name!r} selected")
    per_chunk = store.chunk_rows(set_name)
    chunk_ids = rows // per_chunk
    bounds = np.flatnonzero(np.diff(chunk_ids)) + 1
    count, mean, m2 = 0, None, None
    for part in np.split(rows, bounds):
        chunk = int(part[0] // per_chunk)
        block = store.read_chunk(set_name, chunk)[part - chunk * per_chunk]
        flat = block.reshape(-1, block.shape[-1]).astype(np.float64)
        n_b = flat.shape[0]
        mean_b = flat.mean(axis=0)
        m2_b = ((flat - mean_b) ** 2).sum(axis=0)
        if mean is None:
            count, mean, m2 = n_b, mean_b, m2_b
            continue
        delta = mean_b - mean
        total = count + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta ** 2 * (count * n_b / total)
        count = total
    std = np.sqrt(m2 / count)
    std[std < eps] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


class TorchLearner:
    """Fit / predict / save / load for a torch classifier on windows ``X (N, L, C)``.

    model: a registry name (`virtimu.models.registry.build_model`) or a
        factory ``factory(n_channels, length, n_classes, model_config)``.
    model_config: overrides of the model's config dataclass (dict), or None.
    train_config: `TrainConfig`, dict or None (paper 000 defaults).

    Fitted attributes: model_ (nn.Module), classes_ ((K,) int64 codes of the
    output columns), label_map, channels, mean_ / std_ ((C,) float32
    normalisation), n_channels, length, class_weights_ ((K,) or None),
    history (per-epoch lists: loss, val_loss, val_f1, lr, step ...),
    train_indices_ / val_indices_ (split of the windows passed to fit),
    fine_tune_indices_ (windows used by `fine_tune`), provenance.  After
    `fit_store`, train_indices_ / val_indices_ are rows of the stored set.
    """

    def __init__(self, model: str | ModelFactory, model_config: dict | None = None,
                 train_config: TrainConfig | dict | None = None) -> None:
        if isinstance(model, str):
            self.model_name: str | None = model
            self._factory: ModelFactory | None = None
        elif callable(model):
            self.model_name = None
            self._factory = model
        else:
            raise TypeError(f"TorchLearner: model must be a registry name or a factory, got {type(model).__name__}")
        self.model_config = dict(model_config or {})
        self.train_config = _as_train_config(train_config)
        self.model_: nn.Module | None = None
        self.classes_: np.ndarray | None = None
        self.label_map: dict[int, str] = {}
        self.channels: list[str] | None = None
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.n_channels: int | None = None
        self.length: int | None = None
        self.class_weights_: np.ndarray | None = None
        self.history: dict[str, list] = {}
        self.provenance: dict[str, Any] = {}
        self.train_indices_: np.ndarray | None = None
        self.val_indices_: np.ndarray | None = None
        self.fine_tune_indices_: np.ndarray | None = None
        self.state_: LoopState | None = None

    # ------------------------------------------------------------------ model
    def _build_model(self, n_channels: int, length: int, n_classes: int) -> nn.Module:
        factory = self._factory or _registry_factory(self.model_name)
        torch.manual_seed(self.train_config.seed)
        model = factory(n_channels, length, n_classes, self.model_config or None)
        for attr in ("conv_layers", "head", "replace_head", "fc_parameters"):
            if not hasattr(model, attr):
                raise TypeError(f"model {self.model_name or factory!r} lacks {attr!r} required by TorchLearner")
        return model

    def _resolved_model_config(self) -> dict:
        cfg = getattr(self.model_, "cfg", None)
        if cfg is not None and dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return dataclasses.asdict(cfg)
        return dict(self.model_config)

    def _require_fitted(self) -> nn.Module:
        if self.model_ is None:
            raise RuntimeError("TorchLearner is not fitted: call fit() or load() first")
        return self.model_

    def _normalise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.std_).astype(np.float32)

    def _to_index(self, y: np.ndarray, what: str) -> np.ndarray:
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, len(self.classes_) - 1)
        bad = self.classes_[pos] != y
        if np.any(bad):
            raise ValueError(f"{what}: label codes {sorted(set(y[bad].tolist()))} are not among the model's "
                             f"classes {self.classes_.tolist()} (use replace_head for a new label space)")
        return pos.astype(np.int64)

    # ------------------------------------------------------------ validation
    def _split(self, y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.train_config
        n = y.shape[0]
        if groups is not None:
            groups = np.asarray(groups).astype(str)
            if groups.shape != (n,):
                raise ValueError(f"fit: groups must be ({n},), got {groups.shape}")
            if cfg.val_subjects:
                return train_val_split_by_subject(groups, n_val_subjects=cfg.val_subjects, seed=cfg.seed)
            if cfg.val_fraction > 0:
                return train_val_split_by_subject(groups, val_fraction=cfg.val_fraction, seed=cfg.seed)
        elif cfg.val_subjects:
            raise ValueError("fit: train_config.val_subjects needs groups (subject ids)")
        elif cfg.val_fraction > 0:
            return ratio_split(y, train=1.0 - cfg.val_fraction, seed=cfg.seed, stratify=True)
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)

    def _class_weights(self, y_idx: np.ndarray) -> np.ndarray | None:
        if not self.train_config.class_weights:
            return None
        k = len(self.classes_)
        counts = np.bincount(y_idx, minlength=k).astype(np.float64)
        w = np.zeros(k)
        w[counts > 0] = y_idx.size / (k * counts[counts > 0])
        return w.astype(np.float32)

    # ------------------------------------------------------------------- fit
    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            label_map: dict[int, str] | None = None, channels: list[str] | None = None,
            provenance: dict[str, Any] | None = None, out_dir: str | os.PathLike | None = None,
            resume: bool = False) -> TorchLearner:
        """Build a fresh model and train it on ``X (N, L, C)``, ``y (N,)`` int codes.

        groups: (N,) subject ids: validation holds out whole subjects
        (``val_subjects`` or ``val_fraction``); without groups a stratified
        ``val_fraction`` is held out; X_val / y_val override both.
        Normalisation statistics come from the training part only.
        out_dir: write ``out_dir/last.pt`` after every epoch; with
        ``resume=True`` an existing one is continued (same step count,
        optimizer and RNG state).
        """
        X, y = _check_xy(X, y, "fit")
        cfg = self.train_config
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        tr, va = self._split(y, groups)
        self.train_indices_, self.val_indices_ = tr, va
        if X_val is not None or y_val is not None:
            X_val, y_val = _check_xy(X_val, y_val, "fit (validation)")
        elif va.size:
            X_val, y_val = X[va], y[va]
        X_tr, y_tr = X[tr], y[tr]
        last = Path(out_dir) / LAST_CHECKPOINT if out_dir is not None else None
        resume_payload = _resume_point(last, resume)
        if resume_payload is not None:
            self._restore(resume_payload)
            self._check_shape(X, "fit (resume)")
        else:
            self.classes_ = np.unique(y)
            self.label_map = {int(k): str(v) for k, v in (label_map or {}).items()}
            self.channels = list(channels) if channels is not None else None
            self.n_channels, self.length = int(X.shape[2]), int(X.shape[1])
            self.mean_, self.std_ = distributed.on_main(lambda: channel_stats(X_tr))
            self.model_ = self._build_model(self.n_channels, self.length, len(self.classes_))
            self.provenance = dict(provenance or {})
            self.history = {}
        if self.channels is not None and len(self.channels) != X.shape[2]:
            raise ValueError(f"fit: {len(self.channels)} channel names for {X.shape[2]} channels")
        self._run(X_tr, y_tr, X_val, y_val, last, resume_payload)
        return self

    def _check_shape(self, X: np.ndarray, what: str) -> None:
        if X.shape[1:] != (self.length, self.n_channels):
            raise ValueError(f"{what}: windows of shape (L, C) = {X.shape[1:]}, the model expects "
                             f"({self.length}, {self.n_channels})")

    def _run(self, X_tr: np.ndarray, y_tr: np.ndarray, X_val: np.ndarray | None, y_val: np.ndarray | None,
             last: Path | None, resume_payload: dict | None) -> None:
        """Train the current model on in-memory windows (raw units; normalised here)."""
        cfg = self.train_config
        y_idx = self._to_index(y_tr, "fit")
        validate = None
        if y_val is not None and len(y_val) > 0:
            Xv = self._normalise(X_val)
            yv_idx = self._to_index(y_val, "fit (validation)")
            validate = lambda m: evaluate(m, Xv, yv_idx, cfg)
        batches = distributed.shard_batches(array_batches(self._normalise(X_tr), y_idx, cfg))
        self._loop(batches, y_idx, validate,
                   0 if X_val is None else X_val.shape[0], last, resume_payload)

    def _loop(self, batches: Batches, y_idx: np.ndarray, validate: Validator | None, n_val: int,
              last: Path | None, resume_payload: dict | None) -> None:
        """The training loop over ``batches`` (class weights from ``y_idx`` (N,) class indices)."""
        cfg = self.train_config
        self.class_weights_ = self._class_weights(y_idx)
        state, opt_state = None, None
        if resume_payload is not None and resume_payload.get("train_state") is not None:
            ts = resume_payload["train_state"]
            state = LoopState.from_dict(ts["loop"])
            opt_state = ts["optimizer"]
            torch.set_rng_state(ts["torch_rng"])
            logger.info("resuming from %s at epoch %d, step %d", last, state.epoch, state.step)
        else:
            torch.manual_seed(cfg.seed)

        def write_last(s: LoopState, optimizer: torch.optim.Optimizer) -> None:
            self.state_ = s
            self.history = s.history
            payload = self._payload()
            payload["train_state"] = {"loop": s.to_dict(), "optimizer": optimizer.state_dict(),
                                      "torch_rng": torch.get_rng_state()}
            save_checkpoint(last, payload)

        logger.info("training %s on %d windows (%d validation), %d steps", self.model_name or "model",
                    y_idx.size, n_val, total_steps(y_idx.size, cfg))
        self.state_ = train_batches(self.model_, batches, int(y_idx.size), cfg, validate=validate,
                                    class_weights=self.class_weights_, state=state, optimizer_state=opt_state,
                                    on_epoch_end=write_last if last is not None and distributed.is_main() else None)
        self.history = self.state_.history
        self.model_.eval()

    # ------------------------------------------------------------ streaming
    def _store_batches(self, loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Batches:
        """Epoch -> the loader's batches, normalised, labels as class indices (the sampler set to the epoch)."""
        mean = torch.from_numpy(self.mean_.copy())
        std = torch.from_numpy(self.std_.copy())
        classes = self.classes_

        def batches(epoch: int):
            # make_loader's loader has set_epoch; a plain DataLoader has it on its (batch) sampler
            set_epoch = getattr(loader, "set_epoch", None) or getattr(getattr(loader, "sampler", None),
                                                                      "set_epoch", None)
            if set_epoch is not None:
                set_epoch(epoch)
            for xb, yb in loader:
                idx = np.searchsorted(classes, yb.numpy())
                yield (xb - mean) / std, torch.from_numpy(idx.astype(np.int64))

        return batches

    def fit_store(self, store_path: str | os.PathLike, set_name: str, indices: np.ndarray | None = None, *,
                  val_indices: np.ndarray | None = None, use_groups: bool = True,
                  label_map: dict[int, str] | None = None, channels: list[str] | None = None,
                  provenance: dict[str, Any] | None = None, out_dir: str | os.PathLike | None = None,
                  resume: bool = False, cache_chunks: int = 8, shuffle_within: int = 4,
                  num_workers: int = 0) -> TorchLearner:
        """Build a fresh model and train it on stored windows, without loading the set whole.

        store_path / set_name: a virtimu store and window set.  indices: (n,)
        rows of the set to train on (None = all).  val_indices: rows for
        validation; None = the config's split of ``indices`` (whole subjects,
        from the store's subject ids, when ``use_groups``; as `fit` with
        groups).  Normalisation statistics come from the training rows by a
        streaming pass (`store_channel_stats`); training batches from
        `virtimu.data.make_loader` (chunk-aware shuffle seeded by
        ``train_config.seed`` and the epoch, so a resumed run repeats the
        order); validation through a sequential loader.  Memory: about
        ``cache_chunks`` decompressed chunks (~2 MiB each) and one batch.
        label_map / channels default to the set's.  out_dir / resume as in
        `fit`.  ``train_indices_`` / ``val_indices_`` are store rows.
        """
        from virtimu.data.torch_dataset import make_loader
        from virtimu.store.windows import WindowStore

        cfg = self.train_config
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        where = f"fit_store({os.fspath(store_path)}, {set_name!r})"
        store = WindowStore(store_path, mode="r")
        info = store.info(set_name)
        n_total = store.n_windows(set_name)
        rows = _check_rows(indices, n_total, where)
        y_all = store.labels(set_name)
        if val_indices is None:
            groups = store.meta(set_name).subject[rows] if use_groups else None
            tr, va = self._split(y_all[rows], groups)
            train_rows, val_rows = rows[tr], rows[va]
        else:
            train_rows, val_rows = rows, _check_rows(val_indices, n_total, f"{where} (validation)")
        if train_rows.size == 0:
            raise ValueError(f"{where}: no training windows")
        self.train_indices_, self.val_indices_ = train_rows, val_rows
        length, n_channels = int(info["window_length"]), len(info["channels"])
        last = Path(out_dir) / LAST_CHECKPOINT if out_dir is not None else None
        resume_payload = _resume_point(last, resume)
        if resume_payload is not None:
            self._restore(resume_payload)
            if (self.length, self.n_channels) != (length, n_channels):
                raise ValueError(f"{where} (resume): windows of shape (L, C) = ({length}, {n_channels}), the "
                                 f"checkpoint expects ({self.length}, {self.n_channels})")
        else:
            self.classes_ = np.unique(y_all[train_rows])
            lm = label_map if label_map is not None else store.label_map(set_name)
            self.label_map = {int(k): str(v) for k, v in lm.items()}
            self.channels = list(channels) if channels is not None else list(info["channels"])
            self.n_channels, self.length = n_channels, length
            self.mean_, self.std_ = distributed.on_main(lambda: store_channel_stats(store_path, set_name, train_rows))
            self.model_ = self._build_model(self.n_channels, self.length, len(self.classes_))
            self.provenance = dict(provenance or {})
            self.history = {}
        if self.channels is not None and len(self.channels) != n_channels:
            raise ValueError(f"{where}: {len(self.channels)} channel names for {n_channels} channels")
        y_idx = self._to_index(y_all[train_rows], where)
        validate = None
        if val_rows.size:
            self._to_index(y_all[val_rows], f"{where} (validation)")  # every validation label is known
            val_loader = make_loader(store_path, set_name, indices=val_rows, batch_size=cfg.eval_batch_size,
                                     shuffle=False, cache_chunks=cache_chunks)
            val_batches = self._store_batches(val_loader)
            validate = lambda m: evaluate_batches(m, val_batches(0), cfg)
        loader = make_loader(store_path, set_name, indices=train_rows, batch_size=cfg.batch_size, shuffle=True,
                             seed=cfg.seed, num_workers=num_workers, cache_chunks=cache_chunks,
                             shuffle_within=shuffle_within)
        loader = distributed.shard_loader(loader)  # this process's share of every batch (alone: unchanged)
        logger.info("streaming %d training windows from %s (%d per chunk)", train_rows.size, where,
                    store.chunk_rows(set_name))
        self._loop(self._store_batches(loader), y_idx, validate, int(val_rows.size), last, resume_payload)
        return self

    def predict_proba_store(self, store_path: str | os.PathLike, set_name: str, indices: np.ndarray | None = None,
                            batch_size: int | None = None, cache_chunks: int = 8) -> np.ndarray:
        """`predict_proba` of stored windows at ``indices`` (rows, in that order; None = all), streamed.

        Returns (n, K) float32; memory: a few chunks and one batch.
        """
        from virtimu.data.torch_dataset import make_loader
        from virtimu.store.windows import WindowStore

        model = self._require_fitted()
        store = WindowStore(store_path, mode="r")
        info = store.info(set_name)
        rows = _check_rows(indices, store.n_windows(set_name), f"predict_store({set_name!r})")
        shape = (int(info["window_length"]), len(info["channels"]))
        if shape != (self.length, self.n_channels):
            raise ValueError(f"predict_store: windows of shape (L, C) = {shape}, the model expects "
                             f"({self.length}, {self.n_channels})")
        if rows.size == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        loader = make_loader(store_path, set_name, indices=rows, batch_size=batch_size or self.train_config.eval_batch_size,
                             shuffle=False, cache_chunks=cache_chunks)
        mean, std = torch.from_numpy(self.mean_.copy()), torch.from_numpy(self.std_.copy())
        logits, _ = logits_of_batches(model, (((xb - mean) / std, yb) for xb, yb in loader), self.train_config.device)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy().reshape(rows.size, len(self.classes_))

    def predict_store(self, store_path: str | os.PathLike, set_name: str, indices: np.ndarray | None = None,
                      batch_size: int | None = None, cache_chunks: int = 8) -> np.ndarray:
        """Predicted label codes (n,) int64 of stored windows at ``indices``, streamed."""
        proba = self.predict_proba_store(store_path, set_name, indices, batch_size, cache_chunks)
        return self.classes_[proba.argmax(axis=1)].astype(np.int64)

    # --------------------------------------------------------------- predict
    def predict_proba(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N, K) float32; column k is label code ``classes_[k]``."""
        model = self._require_fitted()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise ValueError(f"predict: X must be (N, L, C), got shape {X.shape}")
        self._check_shape(X, "predict")
        logits = predict_logits(model, self._normalise(X), batch_size or self.train_config.eval_batch_size,
                                self.train_config.device)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy().reshape(X.shape[0], len(self.classes_))

    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Predicted label codes (N,) int64."""
        return self.classes_[self.predict_proba(X, batch_size).argmax(axis=1)].astype(np.int64)

    # -------------------------------------------------------------- transfer
    def replace_head(self, n_classes: int, label_map: dict[int, str] | None = None) -> TorchLearner:
        """New classifier head for ``n_classes`` outputs; codes are ``sorted(label_map)`` or 0..n-1."""
        model = self._require_fitted()
        if label_map is not None and len(label_map) != n_classes:
            raise ValueError(f"replace_head: label_map has {len(label_map)} codes for {n_classes} classes")
        torch.manual_seed(self.train_config.seed)
        model.replace_head(int(n_classes))
        model.to(self.train_config.device)
        self.classes_ = (np.array(sorted(int(k) for k in label_map), dtype=np.int64) if label_map is not None
                         else np.arange(n_classes, dtype=np.int64))
        self.label_map = {int(k): str(v) for k, v in (label_map or {}).items()}
        return self

    def freeze(self, first_k_conv: int | None = None, all_but_fc: bool = False) -> TorchLearner:
        """Stop gradients: the first k of ``model.conv_layers`` (paper 000) or all but ``fc_parameters()`` (001)."""
        model = self._require_fitted()
        if all_but_fc:
            for p in model.parameters():
                p.requires_grad_(False)
            for p in model.fc_parameters():
                p.requires_grad_(True)
        if first_k_conv is not None:
            n_conv = len(model.conv_layers)
            if not 0 <= int(first_k_conv) <= n_conv:
                raise ValueError(f"freeze: first_k_conv={first_k_conv}, the model has {n_conv} conv layers")
            for layer in model.conv_layers[:int(first_k_conv)]:
                for p in layer.parameters():
                    p.requires_grad_(False)
        return self

    def unfreeze(self) -> TorchLearner:
        """Make every parameter trainable again."""
        for p in self._require_fitted().parameters():
            p.requires_grad_(True)
        return self

    def fine_tune(self, X: np.ndarray, y: np.ndarray, n_windows: int | None = None, seed: int = 0,
                  epochs: int | None = None, keep_normalisation: bool = True,
                  X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                  groups: np.ndarray | None = None, out_dir: str | os.PathLike | None = None,
                  overrides: list[str] | dict | None = None) -> TorchLearner:
        """Continue training the current model on target windows (transfer).

        n_windows: train on ``stratified_sample(y, n_windows, seed)`` (exact
        count, class proportions kept; paper 000's adaptation sets) instead
        of all windows; the chosen indices are in ``fine_tune_indices_``.
        epochs / overrides: change the train config for this phase (paper
        000 trains 70 target epochs).  keep_normalisation: keep the source
        statistics (default: the frozen layers expect them) or, False,
        recompute them from the sampled target training windows.
        Validation: X_val / y_val, or the config's split of the sample.
        """
        self._require_fitted()
        X, y = _check_xy(X, y, "fine_tune")
        self._check_shape(X, "fine_tune")
        cfg = apply_overrides(self.train_config, overrides)
        if epochs is not None:
            cfg = dataclasses.replace(cfg, epochs=int(epochs))
        self.train_config = cfg
        idx = stratified_sample(y, n_windows, seed=seed) if n_windows is not None else np.arange(y.size)
        self.fine_tune_indices_ = idx
        Xs, ys = X[idx], y[idx]
        gs = None if groups is None else np.asarray(groups).astype(str)[idx]
        tr, va = self._split(ys, gs) if X_val is None else (np.arange(ys.size), np.zeros(0, dtype=np.int64))
        if X_val is not None:
            X_val, y_val = _check_xy(X_val, y_val, "fine_tune (validation)")
        elif va.size:
            X_val, y_val = Xs[va], ys[va]
        if not keep_normalisation:
            self.mean_, self.std_ = channel_stats(Xs[tr])
        self.provenance = {**self.provenance, "fine_tune": {"n_windows": int(idx.size), "seed": int(seed),
                                                            "keep_normalisation": bool(keep_normalisation)}}
        last = Path(out_dir) / LAST_CHECKPOINT if out_dir is not None else None
        self._run(Xs[tr], ys[tr], X_val, y_val, last, None)
        return self

    # ------------------------------------------------------------ save / load
    def _payload(self) -> dict[str, Any]:
        model = self._require_fitted()
        return {
            "format": CHECKPOINT_FORMAT,
            "virtimu_version": virtimu.__version__,
            "model_name": self.model_name,
            "model_config": self._resolved_model_config(),
            "model_overrides": dict(self.model_config),
            "train_config": self.train_config.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "frozen": [n for n, p in model.named_parameters() if not p.requires_grad],
            "classes": self.classes_.tolist(),
            "label_map": dict(self.label_map),
            "channels": list(self.channels) if self.channels is not None else None,
            "mean": torch.from_numpy(self.mean_.copy()),
            "std": torch.from_numpy(self.std_.copy()),
            "n_channels": self.n_channels,
            "length": self.length,
            "history": {k: list(v) for k, v in self.history.items()},
            "step_loss": list(self.state_.step_loss) if self.state_ is not None else [],
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint that ``torch.load(path, weights_only=True)`` reads (atomic)."""
        return save_checkpoint(path, self._payload())

    def _restore(self, payload: dict[str, Any]) -> None:
        self.classes_ = np.asarray(payload["classes"], dtype=np.int64)
        self.label_map = {int(k): str(v) for k, v in (payload.get("label_map") or {}).items()}
        self.channels = list(payload["channels"]) if payload.get("channels") is not None else None
        self.n_channels, self.length = int(payload["n_channels"]), int(payload["length"])
        self.mean_ = payload["mean"].numpy().astype(np.float32)
        self.std_ = payload["std"].numpy().astype(np.float32)
        self.history = {k: list(v) for k, v in (payload.get("history") or {}).items()}
        self.provenance = dict(payload.get("provenance") or {})
        model = self._build_model(self.n_channels, self.length, len(self.classes_))
        model.load_state_dict(payload["state_dict"])
        frozen = set(payload.get("frozen") or [])
        for name, p in model.named_parameters():
            p.requires_grad_(name not in frozen)
        model.to(self.train_config.device)
        model.eval()
        self.model_ = model

    @classmethod
    def load(cls, path: str | os.PathLike, model_factory: ModelFactory | None = None,
             train_config: TrainConfig | dict | None = None) -> TorchLearner:
        """Restore a learner written by `save` (weights_only loading).

        model_factory: needed when the learner was built from a factory
        rather than a registry name.  train_config: replaces the stored one.
        """
        payload = load_checkpoint(path, _REQUIRED)
        name = payload["model_name"]
        if name is None and model_factory is None:
            raise ValueError(f"checkpoint {path}: the model was built by a factory; pass model_factory=")
        cfg = train_config if train_config is not None else payload.get("train_config")
        learner = cls(model_factory if model_factory is not None else name,
                      payload.get("model_overrides") or None, cfg)
        learner.model_name = name
        learner._restore(payload)
        return learner

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, model_factory: ModelFactory | None = None,
                        train_config: TrainConfig | dict | None = None) -> TorchLearner:
        """A source model to transfer from: `load` with the history cleared and the source recorded."""
        learner = cls.load(path, model_factory, train_config)
        learner.provenance = {"source_checkpoint": str(path), "source": learner.provenance}
        learner.history = {}
        return learner
