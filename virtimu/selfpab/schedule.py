"""Learning-rate schedules of SelfPAB as pure functions of the step (paper 002).

- `pretrain_lr`: linear warm-up over the first ``warmup_fraction`` of the
  steps to the peak rate, then linear decay to ``final_lr`` (Table 1: 7 %,
  1e-4, 1e-6).  It is `virtimu.training.config.lr_at` with the
  ``warmup_linear`` schedule: warm-up rate ``peak * (step + 1) / W`` with
  ``W = round(warmup_fraction * total)``, then ``peak + (final - peak) * p``,
  ``p = (step - W) / (total - W)``.
- `downstream_lr`: exponential decay ``lr * decay ** (step / total)``
  (Table 2: Adam 1e-4, decay factor 0.1 over the run, so the last steps run
  at about 1e-5).
"""
from __future__ import annotations

from functools import lru_cache

from virtimu.training.config import TrainConfig, lr_at

__all__ = ["pretrain_lr", "downstream_lr", "warmup_steps"]


@lru_cache(maxsize=32)
def _train_config(peak: float, final: float, warmup_fraction: float) -> TrainConfig:
    return TrainConfig(lr=peak, final_lr=final, warmup_fraction=warmup_fraction, schedule="warmup_linear")


def warmup_steps(total_steps: int, warmup_fraction: float = 0.07) -> int:
    """Number of warm-up steps ``W`` (half-up rounding of ``warmup_fraction * total_steps``)."""
    return int(warmup_fraction * total_steps + 0.5)


def pretrain_lr(step: int, total_steps: int, peak: float = 1e-4, final: float = 1e-6,
                warmup_fraction: float = 0.07) -> float:
    """Rate of pretraining step ``step`` (0-based) of ``total_steps``: warm-up then linear decay."""
    return lr_at(step, total_steps, _train_config(float(peak), float(final), float(warmup_fraction)))


def downstream_lr(step: int, total_steps: int, lr: float = 1e-4, decay: float = 0.1) -> float:
    """Rate of downstream step ``step`` (0-based) of ``total_steps``: ``lr * decay ** (step / total_steps)``."""
    if total_steps < 1:
        raise ValueError(f"downstream_lr: total_steps must be >= 1, got {total_steps}")
    if step < 0:
        raise ValueError(f"downstream_lr: step must be >= 0, got {step}")
    return float(lr) * float(decay) ** (min(step, total_steps) / total_steps)
