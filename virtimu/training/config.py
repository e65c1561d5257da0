"""Training configuration and the learning-rate schedule.

`TrainConfig` defaults reproduce paper 000 (DeepConvLSTM: Adam, lr 1e-3,
batch 64, 100 epochs).  It loads from a dict or YAML file and takes
``key=value`` overrides (`apply_overrides`).  `lr_at` is a pure function of
the optimisation step, so a resumed run gets the same rate at the same step.
"""
from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, fields
from typing import Any

import yaml

from virtimu.coerce import coerce_value, parse_settings

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup_linear")
MONITORS = ("val_f1", "val_loss")
STREAM_MODES = ("auto", "true", "false")
#: Default of ``TrainConfig.max_in_memory_mb``: above this many MiB of float32
#: training + validation windows, ``stream='auto'`` trains from the store.
MAX_IN_MEMORY_MB = 1024.0


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (defaults: paper 000).

    epochs: passes over the training windows.  batch_size: windows per step.
    lr: peak learning rate.  optimizer: 'adam' | 'adamw'.  weight_decay: L2 /
    decoupled decay.
    schedule: 'constant' | 'step' | 'cosine' | 'warmup_linear' (see `lr_at`);
    warmup_fraction: fraction of all steps with a linear ramp 0 -> lr (any
    schedule); final_lr: rate reached at the last step (cosine,
    warmup_linear); step_fraction / gamma: the step schedule multiplies the
    rate by ``gamma`` every ``step_fraction`` of the (post-warm-up) steps.
    early_stopping_patience: stop after this many epochs without improvement
    of ``monitor`` ('val_f1' = validation macro-F1, higher is better;
    'val_loss', lower is better) and restore the best weights; None = train
    all epochs (the best weights are still restored when validation exists).
    val_fraction: fraction held out for validation when no validation set is
    given (whole subjects when groups are given, else stratified by class);
    0 = no validation.  val_subjects: number of subjects held out instead
    (needs groups; paper 000 uses 2).
    class_weights: weight the cross-entropy by inverse class frequency
    ``N / (K n_c)`` of the training windows.
    grad_clip: max gradient norm (None = no clipping).
    threads: torch.set_num_threads (None = leave torch's setting).
    seed: seeds model initialisation, shuffling, dropout and the validation split.
    progress: show a tqdm bar over epochs.  max_steps: stop after this many
    optimisation steps in total (None = epochs decide).  device: torch device.
    eval_batch_size: windows per forward pass in predict / validation.
    stream: 'auto' | 'true' | 'false' (YAML booleans accepted): train from the
    window store chunk by chunk (`TorchLearner.fit_store`) instead of loading
    the training windows into memory; 'auto' streams when the float32
    training + validation windows (N * L * C * 4 bytes) exceed
    ``max_in_memory_mb`` MiB (default 1024; the in-memory path holds about 3
    copies of them: the read, the training part and its normalised copy).
    Used by `virtimu.training.run`; `TorchLearner.fit` itself always works in
    memory.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_fraction: float = 0.0
    final_lr: float = 0.0
    step_fraction: float = 0.3
    gamma: float = 0.1
    early_stopping_patience: int | None = None
    monitor: str = "val_f1"
    val_fraction: float = 0.0
    val_subjects: int | None = None
    class_weights: bool = False
    grad_clip: float | None = None
    threads: int | None = None
    seed: int = 0
    progress: bool = False
    max_steps: int | None = None
    device: str = "cpu"
    eval_batch_size: int = 512
    stream: str = "auto"
    max_in_memory_mb: float = MAX_IN_MEMORY_MB

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"TrainConfig.monitor: expected one of {MONITORS}, got {self.monitor!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name}: expected an integer >= 1, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr: expected > 0, got {self.lr!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"TrainConfig.warmup_fraction: expected in [0, 1), got {self.warmup_fraction!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"TrainConfig.val_fraction: expected in [0, 1), got {self.val_fraction!r}")
        if not 0.0 < self.step_fraction <= 1.0:
            raise ValueError(f"TrainConfig.step_fraction: expected in (0, 1], got {self.step_fraction!r}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(f"TrainConfig.early_stopping_patience: expected >= 1 or None, "
                             f"got {self.early_stopping_patience!r}")
        stream = str(self.stream).strip().lower()
        if stream not in STREAM_MODES:
            raise ValueError(f"TrainConfig.stream: expected one of {STREAM_MODES}, got {self.stream!r}")
        object.__setattr__(self, "stream", stream)
        if not self.max_in_memory_mb > 0:
            raise ValueError(f"TrainConfig.max_in_memory_mb: expected > 0, got {self.max_in_memory_mb!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps: expected >= 1 or None, got {self.max_steps!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (YAML / checkpoint safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        """Build from a dict; unknown keys raise ValueError naming them and the valid keys."""
        data = dict(data or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}; valid keys: {valid}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(k, v, hints[k]) for k, v in data.items()})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load from a YAML mapping (a top-level ``train:`` key is also accepted)."""
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a YAML mapping of TrainConfig fields, got {type(data).__name__}")
        if set(data) == {"train"}:
            data = data["train"]
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` to the field type ``hint`` (handles ``X | None``, numeric strings)."""
    return coerce_value(f"TrainConfig.{name}", value, hint)


def apply_overrides(cfg: TrainConfig, overrides: list[str] | dict[str, Any] | None) -> TrainConfig:
    """A copy of ``cfg`` with ``["lr=1e-4", "epochs=5"]`` (or a dict) applied.

    Values are parsed as YAML scalars and converted to the field's type;
    unknown keys and malformed items raise ValueError naming them.
    """
    if not overrides:
        return cfg
    items = parse_settings(overrides, "lr=1e-4")
    merged = cfg.to_dict()
    valid = list(merged)
    unknown = sorted(set(items) - set(valid))
    if unknown:
        raise ValueError(f"TrainConfig: unknown override keys {unknown}; valid keys: {valid}")
    merged.update(items)
    return TrainConfig.from_dict(merged)


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Learning rate for optimisation step ``step`` (0-based) of ``total_steps``.

    With ``W = round(warmup_fraction * total_steps)`` warm-up steps the rate
    ramps linearly ``lr * (step + 1) / W`` for ``step < W``.  After warm-up,
    with progress ``p = (step - W) / (total_steps - W)`` clipped to [0, 1]:

    - constant: ``lr``
    - step: ``lr * gamma ** floor((step - W) / S)``, ``S = max(1, round(step_fraction * (total_steps - W)))``
    - cosine: ``final_lr + (lr - final_lr) * (1 + cos(pi p)) / 2``
    - warmup_linear: ``lr + (final_lr - lr) * p`` (paper 002: 7 % warm-up to
      1e-4, linear decay to 1e-6)

    Pure: depends on its arguments only.
    """
    if total_steps < 1:
        raise ValueError(f"lr_at: total_steps must be >= 1, got {total_steps}")
    if step < 0:
        raise ValueError(f"lr_at: step must be >= 0, got {step}")
    warm = int(math.floor(cfg.warmup_fraction * total_steps + 0.5))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    rest = max(total_steps - warm, 1)
    p = min(max((step - warm) / rest, 0.0), 1.0)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        every = max(1, int(math.floor(cfg.step_fraction * rest + 0.5)))
        return cfg.lr * cfg.gamma ** ((step - warm) // every)
    if cfg.schedule == "cosine":
        return cfg.final_lr + (cfg.lr - cfg.final_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
    if cfg.schedule == "warmup_linear":
        return cfg.lr + (cfg.final_lr - cfg.lr) * p
    raise ValueError(f"lr_at: unknown schedule {cfg.schedule!r}; expected one of {SCHEDULES}")
