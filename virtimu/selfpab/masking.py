"""Spectrogram alteration for masked reconstruction and the masked L1 loss (paper 002, section 3.1.2).

Time alteration (TERA, Liu et al. 2021, as used by paper 002): with T frames,
``T_num = floor(P_T * T / W_T)`` span starts are drawn without replacement
from the ``T - W_T + 1`` valid positions; each span covers ``W_T`` frames
(spans may overlap into longer runs).  The selected frames are zeroed
(probability ``p_zero``, 0.8), replaced by the frames of as many other
random spans of the same input (``p_swap``, 0.1), or left unchanged (the
rest, 0.1).  With ``alter_unit='sample'`` one draw decides for all spans of
an input (TERA's implementation); with ``'span'`` each span draws.

Frequency masking: ``F_num = floor(P_F * F / W_F)`` starts among the
``F - W_F + 1`` bin positions of one axis; the same bins are zeroed on every
axis, over all frames.

The loss mask M (same shape as the spectrogram) is True on every selected
time frame (whatever happened to it: TERA also predicts the unchanged 10 %)
and on every masked bin; `masked_l1` averages ``|y - y_hat|`` over M only.
Alteration works on normalised spectrograms, so "zero" is the data mean.
"""
from __future__ import annotations

import numpy as np
import torch

from virtimu.selfpab.config import MaskConfig

__all__ = ["span_starts", "alter", "alter_batch", "masked_l1", "ZERO", "SWAP", "KEEP"]

#: Codes of what happened to a selected time span (returned by `alter`).
ZERO, SWAP, KEEP = 0, 1, 2


def span_starts(length: int, p: float, width: int, rng: np.random.Generator) -> np.ndarray:
    """``floor(p * length / width)`` distinct starts in ``[0, length - width]`` (sorted, int64).

    Empty when that count is 0 or ``width > length``.
    """
    n = int(np.floor(p * length / width + 1e-9))
    valid = int(length) - int(width) + 1
    n = min(n, max(valid, 0))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(valid, size=n, replace=False)).astype(np.int64)


def _choose(rng: np.random.Generator, cfg: MaskConfig) -> int:
    u = rng.random()
    if u < cfg.p_zero:
        return ZERO
    if u < cfg.p_zero + cfg.p_swap:
        return SWAP
    return KEEP


def alter(spec: np.ndarray, cfg: MaskConfig, n_bins: int, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Alter one spectrogram.

    spec: (T, D) with D = n_axes * n_bins, axis-major (see `spectrogram`).
    Returns (altered (T, D) float32, mask (T, D) bool, info) where info has
    'time_starts' (spans' first frames), 'actions' (ZERO / SWAP / KEEP per
    span), 'swap_sources' (first frame of the span copied into each swapped
    span, -1 for the others; copied from the unaltered input) and
    'freq_starts' (first bins of the frequency masks).
    """
    spec = np.asarray(spec, dtype=np.float32)
    if spec.ndim != 2:
        raise ValueError(f"alter: spec must be (T, D), got shape {spec.shape}")
    T, D = spec.shape
    if D % n_bins:
        raise ValueError(f"alter: {D} features are not a multiple of n_bins={n_bins}")
    out = spec.copy()
    mask = np.zeros((T, D), dtype=bool)
    starts = span_starts(T, cfg.p_t, cfg.w_t, rng)
    if cfg.alter_unit == "sample":
        action = _choose(rng, cfg)
        actions = np.full(starts.size, action, dtype=np.int64)
    else:
        actions = np.array([_choose(rng, cfg) for _ in range(starts.size)], dtype=np.int64)
    sources = np.full(starts.size, -1, dtype=np.int64)
    if np.any(actions == SWAP):
        sources = span_starts(T, cfg.p_t, cfg.w_t, rng)  # as many other random spans (TERA)
        sources = np.where(actions == SWAP, rng.permutation(sources), -1)
    for i, s in enumerate(starts):
        span = slice(int(s), int(s) + cfg.w_t)
        mask[span] = True
        if actions[i] == ZERO:
            out[span] = 0.0
        elif actions[i] == SWAP:
            src = int(sources[i])
            out[span] = spec[src:src + cfg.w_t]
    fstarts = span_starts(n_bins, cfg.p_f, cfg.w_f, rng)
    if fstarts.size:
        bins = np.unique((fstarts[:, None] + np.arange(cfg.w_f)[None, :]).reshape(-1))
        cols = (np.arange(D // n_bins)[:, None] * n_bins + bins[None, :]).reshape(-1)
        out[:, cols] = 0.0
        mask[:, cols] = True
    return out, mask, {"time_starts": starts, "actions": actions, "swap_sources": sources, "freq_starts": fstarts}


def alter_batch(spec: np.ndarray, cfg: MaskConfig, n_bins: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """`alter` each of a batch (B, T, D); returns (altered (B, T, D) float32, mask (B, T, D) bool)."""
    spec = np.asarray(spec, dtype=np.float32)
    if spec.ndim != 3:
        raise ValueError(f"alter_batch: spec must be (B, T, D), got shape {spec.shape}")
    out = np.empty_like(spec)
    mask = np.empty(spec.shape, dtype=bool)
    for b in range(spec.shape[0]):
        out[b], mask[b], _ = alter(spec[b], cfg, n_bins, rng)
    return out, mask


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``|pred - target|`` over the entries where ``mask`` is True (0 when none is).

    pred, target: (B, T, D); mask: (B, T, D) bool.  Entries outside the mask
    carry no gradient.
    """
    if pred.shape != target.shape or pred.shape != mask.shape:
        raise ValueError(f"masked_l1: shapes differ: pred {tuple(pred.shape)}, target {tuple(target.shape)}, "
                         f"mask {tuple(mask.shape)}")
    m = mask.to(pred.dtype)
    return (torch.abs(pred - target) * m).sum() / m.sum().clamp_min(1.0)
