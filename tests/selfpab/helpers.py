"""Small SelfPAB configs and data shared by the SelfPAB tests."""
from __future__ import annotations

import numpy as np

from virtimu.selfpab.config import SelfPABConfig, apply_overrides, load_config

TINY = {
    "spectrogram.n_axes": 3,
    "upstream.d_model": 16, "upstream.n_layers": 2, "upstream.n_heads": 2, "upstream.d_ff": 32,
    "upstream.dropout": 0.0,
    "pretrain.window_length": 1000, "pretrain.steps": 40, "pretrain.batch_size": 8,
    "pretrain.checkpoint_every": 10, "pretrain.val_batches": 2, "pretrain.threads": 1, "pretrain.lr": 3e-3,
    "pretrain.final_lr": 1e-4,
    "downstream.window_length": 200, "downstream.hidden": 16, "downstream.steps": 40,
    "downstream.unfreeze_step": 20, "downstream.batch_size": 8, "downstream.threads": 1, "downstream.lr": 3e-3,
}


def tiny_cfg(overrides: dict | None = None) -> SelfPABConfig:
    """A SelfPAB config small enough to train in a second (3 axes, d_model 16), plus ``overrides``."""
    return apply_overrides(load_config("cpu"), {**TINY, **(overrides or {})})


def activity_signals(n: int, length: int, fs: float = 50.0, seed: int = 0,
                     noise: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, length, 3) in g, y (n,)) of two 'activities': a 1.5 Hz and a 6 Hz oscillation on gravity.

    Class 1: 1 g on x plus a 0.3 g 1.5 Hz sine on z; class 2: 1 g on y plus a
    0.3 g 6 Hz sine on x.  Random phases and ``noise`` g white noise.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length) / fs
    X = rng.normal(scale=noise, size=(n, length, 3))
    y = np.where(np.arange(n) % 2 == 0, 1, 2)
    for i in range(n):
        ph = rng.uniform(0, 2 * np.pi)
        if y[i] == 1:
            X[i, :, 0] += 1.0
            X[i, :, 2] += 0.3 * np.sin(2 * np.pi * 1.5 * t + ph)
        else:
            X[i, :, 1] += 1.0
            X[i, :, 0] += 0.3 * np.sin(2 * np.pi * 6.0 * t + ph)
    return X.astype(np.float32), y.astype(np.int64)
