"""Alteration statistics (P_T, W_T, P_F, W_F, 80/10/10) and the masked L1 loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from virtimu.selfpab.config import MaskConfig
from virtimu.selfpab.masking import KEEP, SWAP, ZERO, alter, alter_batch, masked_l1, span_starts

T, N_BINS, N_AXES = 599, 26, 6  # the paper's 156 x 599 input


def _spec(seed: int = 0) -> np.ndarray:
    # strictly positive and distinct values: a zero or a copied frame is recognisable
    rng = np.random.default_rng(seed)
    return (1.0 + rng.random((T, N_AXES * N_BINS))).astype(np.float32)


def test_span_starts_count_and_range():
    rng = np.random.default_rng(0)
    starts = span_starts(T, 0.15, 3, rng)
    assert starts.size == 29  # floor(0.15 * 599 / 3)
    assert np.unique(starts).size == 29 and starts.min() >= 0 and starts.max() <= T - 3
    assert span_starts(19, 0.15, 3, rng).size == 0  # floor(0.95) = 0: too short to alter
    assert span_starts(2, 1.0, 3, rng).size == 0  # width exceeds the length


def test_time_alteration_statistics_over_many_draws():
    cfg = MaskConfig(p_f=0.0)
    spec = _spec()
    rng = np.random.default_rng(1)
    draws = 3000
    actions, coverage, start_hist = [], [], np.zeros(T - 2)
    for _ in range(draws):
        out, mask, info = alter(spec, cfg, N_BINS, rng)
        frames = mask.any(axis=1)
        assert np.array_equal(mask, np.repeat(frames[:, None], spec.shape[1], axis=1))  # whole frames
        expected = np.zeros(T, dtype=bool)
        for s in info["time_starts"]:
            expected[s:s + 3] = True  # spans of width W_T = 3
        assert np.array_equal(frames, expected)
        assert info["time_starts"].size == 29
        assert np.unique(info["actions"]).size == 1  # alter_unit='sample': one choice per input
        actions.append(info["actions"][0])
        coverage.append(frames.mean())
        start_hist[info["time_starts"]] += 1
    actions = np.asarray(actions)
    tol = 4 * np.sqrt(0.8 * 0.2 / draws)
    assert abs(np.mean(actions == ZERO) - 0.8) < tol
    assert abs(np.mean(actions == SWAP) - 0.1) < 4 * np.sqrt(0.1 * 0.9 / draws)
    assert abs(np.mean(actions == KEEP) - 0.1) < 4 * np.sqrt(0.1 * 0.9 / draws)
    # at most P_T of the frames, a little less on average because spans overlap
    assert max(coverage) <= 87 / T + 1e-12 and 0.13 < np.mean(coverage) < 0.145
    # starts uniform over the 597 valid positions
    expected_per_pos = draws * 29 / (T - 2)
    chi2 = np.sum((start_hist - expected_per_pos) ** 2 / expected_per_pos)
    assert chi2 < (T - 3) + 6 * np.sqrt(2 * (T - 3))


def test_zero_swap_keep_do_what_they_say():
    spec = _spec(2)
    rng = np.random.default_rng(3)
    seen = {ZERO: 0, SWAP: 0, KEEP: 0}
    for _ in range(200):
        out, mask, info = alter(spec, MaskConfig(p_f=0.0, alter_unit="span"), N_BINS, rng)
        sel = mask.any(axis=1)
        assert np.array_equal(out[~sel], spec[~sel])  # untouched outside the selection
        starts = info["time_starts"]
        for s, a, src in zip(starts, info["actions"], info["swap_sources"]):
            if np.sum(np.abs(starts - s) < 3) > 1:
                continue  # overlapping spans: a later span may overwrite this one
            seen[int(a)] += 1
            block = out[s:s + 3]
            if a == ZERO:
                assert np.all(block == 0.0)
            elif a == KEEP:
                assert np.array_equal(block, spec[s:s + 3])
            else:
                assert 0 <= src <= T - 3 and np.array_equal(block, spec[src:src + 3])
    assert all(n > 0 for n in seen.values())  # 'span' draws per span: all three occur


def test_swapped_frames_come_from_the_same_input():
    spec = _spec(4)
    rng = np.random.default_rng(5)
    cfg = MaskConfig(p_zero=0.0, p_swap=1.0, p_f=0.0)
    out, mask, info = alter(spec, cfg, N_BINS, rng)
    rows = {tuple(r) for r in spec}
    sel = np.flatnonzero(mask.any(axis=1))
    assert all(tuple(out[t]) in rows for t in sel)
    assert np.mean([not np.array_equal(out[t], spec[t]) for t in sel]) > 0.9  # really replaced


def test_keep_leaves_values_but_counts_in_the_loss():
    spec = _spec(6)
    out, mask, _ = alter(spec, MaskConfig(p_zero=0.0, p_swap=0.0, p_f=0.0), N_BINS, np.random.default_rng(7))
    assert np.array_equal(out, spec) and mask.any()


def test_frequency_masking_same_bins_on_every_axis():
    spec = _spec(8)
    rng = np.random.default_rng(9)
    first_bins = []
    for _ in range(2000):
        out, mask, info = alter(spec, MaskConfig(p_t=0.0), N_BINS, rng)
        assert info["freq_starts"].size == 1  # floor(0.2 * 26 / 3)
        cols = np.flatnonzero(mask.all(axis=0))
        assert cols.size == 3 * N_AXES and np.array_equal(cols, np.flatnonzero(mask.any(axis=0)))
        per_axis = cols.reshape(N_AXES, 3) - (np.arange(N_AXES) * N_BINS)[:, None]
        assert np.all(per_axis == per_axis[0]) and np.all(np.diff(per_axis[0]) == 1)  # W_F = 3 consecutive bins
        assert np.all(out[:, cols] == 0.0)
        first_bins.append(per_axis[0, 0])
    counts = np.bincount(first_bins, minlength=N_BINS - 2)
    assert counts.size == N_BINS - 2 and counts.min() > 0  # every start 0..23 occurs
    assert abs(np.mean(first_bins) - (N_BINS - 3) / 2) < 0.5


def test_alter_batch_shapes():
    spec = np.stack([_spec(i)[:59] for i in range(4)])
    out, mask = alter_batch(spec, MaskConfig(), N_BINS, np.random.default_rng(0))
    assert out.shape == mask.shape == spec.shape and mask.dtype == bool


def test_masked_l1_counts_only_altered_entries():
    torch.manual_seed(0)
    target = torch.randn(2, 5, 4)
    mask = torch.zeros(2, 5, 4, dtype=torch.bool)
    mask[0, 1] = True
    mask[1, 3, :2] = True
    pred = target.clone()
    pred[~mask] += 100.0  # errors outside the mask do not count
    assert float(masked_l1(pred, target, mask)) == 0.0
    pred = (target + 0.5).requires_grad_(True)
    loss = masked_l1(pred, target, mask)
    assert float(loss.detach()) == pytest.approx(0.5)
    loss.backward()
    assert torch.all(pred.grad[~mask] == 0) and torch.all(pred.grad[mask] > 0)
    assert float(masked_l1(pred.detach(), target, torch.zeros_like(mask))) == 0.0
