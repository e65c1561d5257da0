"""The epoch / step loop for torch classifiers.

Inputs are already-normalised float32 windows ``X (N, L, C)`` and class
indices ``y (N,)`` in ``0..K-1``: in memory (`train`, shuffled with
``numpy.random.default_rng([seed, epoch])``) or from any batch source
(`train_batches`, e.g. the window store's chunk-aware loader).  Epoch e sees
the same order whether or not the run was resumed; the learning rate comes from the pure
`lr_at` at the global step.  A model with ``training_loss(x, y, criterion)``
(auxiliary objective) is trained through it, else ``criterion(model(x), y)``.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from virtimu.training.config import TrainConfig, lr_at

logger = logging.getLogger(__name__)

HISTORY_KEYS = ("epoch", "step", "loss", "val_loss", "val_f1", "lr", "seconds")

#: ``batches(epoch)`` -> iterable of (x (B, L, C) float32 normalised, y (B,) int64 class indices) tensors.
Batches = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]
#: ``validate(model)`` -> (mean cross-entropy, macro-F1) on validation data.
Validator = Callable[[nn.Module], tuple[float, float]]


@dataclass
class LoopState:
    """Progress of one run (everything needed to resume it).

    epoch: completed epochs.  step: optimisation steps taken.
    best_score / best_epoch: best monitored value so far and its epoch
    (0-based; -1 = none).  bad_epochs: epochs since the last improvement.
    best_state: CPU copy of the best model state_dict (None = none yet).
    history: per-epoch lists under `HISTORY_KEYS` (val_* NaN without validation).
    stopped_early: early stopping ended the run.
    step_loss: training loss of every optimisation step (of the global batch
    when several processes train together, see `virtimu.training.distributed`).
    """

    epoch: int = 0
    step: int = 0
    best_score: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: dict[str, list] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    stopped_early: bool = False
    step_loss: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "best_score": self.best_score,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs, "best_state": self.best_state,
                "history": {k: list(v) for k, v in self.history.items()}, "stopped_early": self.stopped_early,
                "step_loss": list(self.step_loss)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        hist = {k: list(d.get("history", {}).get(k, [])) for k in HISTORY_KEYS}
        return cls(epoch=int(d["epoch"]), step=int(d["step"]), best_score=d.get("best_score"),
                   best_epoch=int(d.get("best_epoch", -1)), bad_epochs=int(d.get("bad_epochs", 0)),
                   best_state=d.get("best_state"), history=hist, stopped_early=bool(d.get("stopped_early", False)),
                   step_loss=[float(v) for v in d.get("step_loss", [])])


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam / AdamW over ``params`` at ``cfg.lr`` (the loop sets the rate every step)."""
    if not params:
        raise ValueError("no trainable parameters: every parameter is frozen")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def total_steps(n_train: int, cfg: TrainConfig) -> int:
    """``epochs * ceil(n_train / batch_size)``, capped by ``max_steps``."""
    steps = cfg.epochs * math.ceil(n_train / cfg.batch_size)
    return min(steps, cfg.max_steps) if cfg.max_steps is not None else steps


def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               criterion: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(scalar loss, logits (B, K)) through ``model.training_loss`` when it exists."""
    if hasattr(model, "training_loss"):
        return model.training_loss(x, y, criterion)
    logits = model(x)
    return criterion(logits, y), logits


@torch.no_grad()
def predict_logits(model: nn.Module, X: np.ndarray, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Logits (N, K) float32 in eval mode, ``batch_size`` windows per forward pass."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, X.shape[0], batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32)).to(device)
            out.append(model(xb).float().cpu().numpy())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out, axis=0)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``."""
    classes = np.union1d(y_true, y_pred)
    scores = []
    for c in classes:
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def _fix_frozen_norm_stats(model: nn.Module) -> None:
    """Keep batch-norm layers whose parameters are all frozen in eval mode (running stats fixed)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> tuple[float, float]:
    """(mean unweighted cross-entropy, macro-F1) on ``X (N, L, C)``, ``y (N,)`` class indices."""
    logits = predict_logits(model, X, cfg.eval_batch_size, cfg.device)
    loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y.astype(np.int64)))
    return float(loss), macro_f1(y, logits.argmax(axis=1))


@torch.no_grad()
def logits_of_batches(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K) float32, y (N,) int64) over batches of (x (B, L, C), y (B,)), in eval mode."""
    was_training = model.training
    model.eval()
    logits, ys = [], []
    try:
        for xb, yb in batches:
            logits.append(model(xb.to(device)).float().cpu().numpy())
            ys.append(np.asarray(yb, dtype=np.int64).reshape(-1))
    finally:
        model.train(was_training)
    if not logits:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(logits, axis=0), np.concatenate(ys)


def evaluate_batches(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                     cfg: TrainConfig) -> tuple[float, float]:
    """(mean unweighted cross-entropy, macro-F1) over batches of (x normalised, y class indices)."""
    logits, y = logits_of_batches(model, batches, cfg.device)
    loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))
    return float(loss), macro_f1(y, logits.argmax(axis=1))


def array_batches(X: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> Batches:
    """Epoch -> shuffled mini-batches of in-memory windows.

    X: (N, L, C) float32 normalised windows; y: (N,) class indices.  Epoch e
    uses ``default_rng([cfg.seed, e]).permutation(N)`` cut into batches of
    ``cfg.batch_size``: (x (B, L, C) float32 tensor, y (B,) int64 tensor).
    """
    n = X.shape[0]
    y_t = torch.from_numpy(np.asarray(y, dtype=np.int64))

    def batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        for i in range(0, n, cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            yield torch.from_numpy(np.ascontiguousarray(X[idx], dtype=np.float32)), y_t[idx]

    return batches


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, cfg: TrainConfig, *,
          X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
          class_weights: np.ndarray | None = None, state: LoopState | None = None,
          optimizer_state: dict | None = None,
          on_epoch_end: Callable[[LoopState, torch.optim.Optimizer], None] | None = None) -> LoopState:
    """Train ``model`` in place on in-memory windows; returns the final `LoopState`.

    X: (N, L, C) float32 normalised windows; y: (N,) int class indices.
    X_val / y_val: optional validation windows for the history and early
    stopping (monitor ``cfg.monitor``).  class_weights: (K,) cross-entropy
    weights or None.  state / optimizer_state: resume from these (the step
    count and schedule continue).  on_epoch_end: called after every epoch
    (e.g. to write a checkpoint).  With validation the best weights are
    loaded back at the end.  See `train_batches` for other batch sources.
    """
    if X.shape[0] == 0:
        raise ValueError("train: no training windows")
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    validate = (lambda m: evaluate(m, X_val, np.asarray(y_val), cfg)) if has_val else None
    return train_batches(model, array_batches(X, y, cfg), X.shape[0], cfg, validate=validate,
                         class_weights=class_weights, state=state, optimizer_state=optimizer_state,
                         on_epoch_end=on_epoch_end)


def train_batches(model: nn.Module, batches: Batches, n: int, cfg: TrainConfig, *,
                  validate: Validator | None = None, class_weights: np.ndarray | None = None,
                  state: LoopState | None = None, optimizer_state: dict | None = None,
                  on_epoch_end: Callable[[LoopState, torch.optim.Optimizer], None] | None = None) -> LoopState:
    """Train ``model`` in place on the mini-batches of any source; returns the final `LoopState`.

    batches: ``batches(epoch)`` yields (x (B, L, C) float32 normalised, y (B,)
    int64 class indices) tensors, every training window once per epoch, the
    same batches for the same epoch (so a resumed run repeats the order);
    n: training windows per epoch (sets the step count, see `total_steps`).
    validate: ``validate(model) -> (val_loss, val_macro_f1)`` after every
    epoch (history, early stopping, best weights restored at the end), or
    None.  Other arguments as in `train`.

    Inside a process group (`virtimu.training.distributed.active`) ``batches``
    yields this process's share of each global batch; the step runs under
    DistributedDataParallel with the loss scaled to the global batch, the
    logged losses are those of the global batch, and validation runs on
    rank 0 with the result broadcast.
    """
    if n <= 0:
        raise ValueError("train: no training windows")
    state = state or LoopState()
    device = torch.device(cfg.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weight)
    from virtimu.training import distributed  # late: it imports this module

    ctx = distributed.active()
    ddp = distributed.DDPStep(model, weight, ctx) if ctx is not None else None
    has_val = validate is not None
    if cfg.early_stopping_patience is not None and not has_val:
        logger.warning("early stopping needs validation data (val_fraction, val_subjects or X_val); training "
                       "all %d epochs", cfg.epochs)
    total = total_steps(n, cfg)
    higher_better = cfg.monitor == "val_f1"
    bar = tqdm(range(state.epoch, cfg.epochs), disable=not cfg.progress or not distributed.is_main(), desc="epochs",
               initial=state.epoch,
               total=cfg.epochs)
    for epoch in bar:
        if state.step >= total or state.stopped_early:
            break
        t0 = time.perf_counter()
        if ctx is not None:  # per-rank dropout / noise streams, reproducible when resumed at an epoch boundary
            torch.manual_seed(distributed.epoch_seed(cfg.seed, epoch, ctx.rank))
        model.train()
        _fix_frozen_norm_stats(model)
        loss_sum, seen, lr = 0.0, 0, cfg.lr
        for xb, yb in batches(epoch):
            if state.step >= total:
                break
            xb, yb = xb.to(device), yb.to(device)
            lr = lr_at(state.step, total, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            if ddp is not None:
                loss, step_loss, n_step = ddp.forward(xb, yb)
            else:
                loss, _ = batch_loss(model, xb, yb, criterion)
                step_loss, n_step = float(loss.detach()), len(yb)
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"train: non-finite loss {step_loss} at step {state.step} "
                                         f"(epoch {epoch}); lower lr or check the inputs")
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            state.step += 1
            state.step_loss.append(step_loss)
            loss_sum += step_loss * n_step
            seen += n_step
        val_loss, val_f1 = distributed.on_main(lambda: validate(model)) if has_val else (float("nan"), float("nan"))
        h = state.history
        for key, value in zip(HISTORY_KEYS, (epoch, state.step, loss_sum / max(seen, 1), val_loss, val_f1, lr,
                                             time.perf_counter() - t0)):
            h[key].append(value)
        state.epoch = epoch + 1
        if has_val:
            score = val_f1 if higher_better else val_loss
            improved = state.best_score is None or (score > state.best_score if higher_better
                                                    else score < state.best_score)
            if improved:
                state.best_score, state.best_epoch, state.bad_epochs = float(score), epoch, 0
                state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                state.bad_epochs += 1
                if cfg.early_stopping_patience is not None and state.bad_epochs >= cfg.early_stopping_patience:
                    state.stopped_early = True
                    logger.info("early stopping after epoch %d (best epoch %d, %s %.4f)", epoch,
                                state.best_epoch, cfg.monitor, state.best_score)
        bar.set_postfix(loss=f"{h['loss'][-1]:.4f}", val_f1=f"{val_f1:.3f}")
        logger.debug("epoch %d step %d loss %.4f val_loss %.4f val_f1 %.4f lr %.2e", epoch, state.step,
                     h["loss"][-1], val_loss, val_f1, lr)
        if on_epoch_end is not None:
            on_epoch_end(state, optimizer)
        if state.stopped_early:
            break
    bar.close()
    if has_val and state.best_state is not None:
        model.load_state_dict(copy.deepcopy(state.best_state))
    return state
