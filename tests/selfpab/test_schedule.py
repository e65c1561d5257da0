"""Learning-rate schedules at key steps (paper 002 Tables 1 and 2)."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.selfpab.schedule import downstream_lr, pretrain_lr, warmup_steps


def test_pretrain_warmup_then_linear_decay_key_steps():
    total = 1000
    W = warmup_steps(total, 0.07)
    assert W == 70
    lr = [pretrain_lr(s, total, 1e-4, 1e-6, 0.07) for s in range(total)]
    assert lr[0] == pytest.approx(1e-4 / 70)
    assert lr[34] == pytest.approx(1e-4 * 35 / 70)
    assert lr[69] == pytest.approx(1e-4)  # peak at the end of warm-up
    assert lr[70] == pytest.approx(1e-4)
    mid = 70 + (total - 70) // 2
    assert lr[mid] == pytest.approx(1e-4 + (1e-6 - 1e-4) * (mid - 70) / (total - 70))
    assert lr[-1] == pytest.approx(1e-6 + (1e-4 - 1e-6) / (total - 70))  # one step before the final 1e-6
    assert pretrain_lr(total, total, 1e-4, 1e-6, 0.07) == pytest.approx(1e-6)
    assert np.all(np.diff(lr[:70]) > 0) and np.all(np.diff(lr[70:]) < 0)


def test_pretrain_lr_is_pure():
    assert pretrain_lr(500, 1000) == pretrain_lr(500, 1000)
    assert pretrain_lr(10, 100, warmup_fraction=0.0) == pytest.approx(1e-4 + (1e-6 - 1e-4) * 0.1)


def test_downstream_exponential_decay_key_steps():
    assert downstream_lr(0, 2000) == pytest.approx(1e-4)
    assert downstream_lr(1000, 2000) == pytest.approx(1e-4 * 0.1 ** 0.5)
    assert downstream_lr(1500, 2000) == pytest.approx(1e-4 * 0.1 ** 0.75)  # where the paper unfreezes
    assert downstream_lr(2000, 2000) == pytest.approx(1e-5)
    assert downstream_lr(10, 20, lr=1e-3, decay=0.5) == pytest.approx(1e-3 * 0.5 ** 0.5)
    with pytest.raises(ValueError):
        downstream_lr(-1, 10)
