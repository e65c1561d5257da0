"""Splits: partitions, class proportions, subject separation and determinism by seed."""
from __future__ import annotations

import numpy as np
import pytest

from virtimu.evaluation.splits import (
    group_kfold,
    loso,
    ratio_split,
    stratified_kfold,
    stratified_sample,
    train_val_split_by_subject,
)

#: Imbalanced labels: 100, 37, 13 and 1 windows, shuffled.
Y = np.random.default_rng(0).permutation(np.repeat([0, 3, 5, 9], [100, 37, 13, 1]))


def _is_partition(parts, n):
    allidx = np.concatenate(parts)
    return allidx.size == n and np.array_equal(np.sort(allidx), np.arange(n))


def test_ratio_split_stratified_proportions():
    tr, te = ratio_split(Y, train=0.7, seed=1)
    assert _is_partition([tr, te], Y.size)
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0) and tr.dtype == np.int64
    assert tr.size == round(0.7 * Y.size)
    for c in np.unique(Y):
        n_c = int(np.sum(Y == c))
        got = int(np.sum(Y[tr] == c))
        assert np.floor(0.7 * n_c) <= got <= np.ceil(0.7 * n_c), (c, got, n_c)
    tr2, _ = ratio_split(Y, train=0.7, seed=1)
    tr3, _ = ratio_split(Y, train=0.7, seed=2)
    assert np.array_equal(tr, tr2) and not np.array_equal(tr, tr3)
    tr_u, te_u = ratio_split(Y, train=0.7, seed=1, stratify=False)
    assert _is_partition([tr_u, te_u], Y.size) and tr_u.size == round(0.7 * Y.size)
    with pytest.raises(ValueError):
        ratio_split(Y, train=1.0)


@pytest.mark.parametrize("k", [2, 5, 7])
def test_stratified_kfold_partitions_and_spreads_classes(k):
    folds = stratified_kfold(Y, k=k, seed=3)
    assert len(folds) == k
    assert _is_partition([te for _, te in folds], Y.size)
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == Y.size
    sizes = [te.size for _, te in folds]
    assert max(sizes) - min(sizes) <= 1
    for c in np.unique(Y):
        per_fold = [int(np.sum(Y[te] == c)) for _, te in folds]
        assert max(per_fold) - min(per_fold) <= 1, (c, per_fold)
    again = stratified_kfold(Y, k=k, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    with pytest.raises(ValueError):
        stratified_kfold(Y, k=1)


def test_group_kfold_keeps_groups_whole():
    groups = np.repeat([f"g{i}" for i in range(9)], [30, 5, 12, 12, 40, 8, 3, 20, 9])
    folds = group_kfold(groups, k=3, seed=0)
    assert _is_partition([te for _, te in folds], groups.size)
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        assert tr.size + te.size == groups.size
    sizes = sorted(te.size for _, te in folds)
    assert sizes[-1] - sizes[0] <= 40  # greedy: gap at most the largest group
    assert sizes[-1] <= 50
    with pytest.raises(ValueError, match="groups"):
        group_kfold(groups, k=10)


def test_loso_never_leaks_and_covers_every_subject_once():
    subjects = np.repeat([f"s{i}" for i in range(6)], [10, 20, 5, 15, 8, 12])
    splits = loso(subjects, n_val_subjects=2, seed=4)
    assert [s.test_subject for s in splits] == [f"s{i}" for i in range(6)]
    for sp in splits:
        parts = {name: set(subjects[getattr(sp, name)]) for name in ("train", "val", "test")}
        assert parts["test"] == {sp.test_subject}
        assert parts["val"] == set(sp.val_subjects) and len(sp.val_subjects) == 2
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
        assert not parts["val"] & parts["test"]
        assert _is_partition([sp.train, sp.val, sp.test], subjects.size)
        assert sp.to_dict()["n_test"] == sp.test.size
    again = loso(subjects, n_val_subjects=2, seed=4)
    assert [s.val_subjects for s in splits] == [s.val_subjects for s in again]
    other = loso(subjects, n_val_subjects=2, seed=5)
    assert [s.val_subjects for s in splits] != [s.val_subjects for s in other]
    only = loso(subjects, n_val_subjects=2, seed=4, test_subjects=["s3"])
    assert len(only) == 1 and only[0].val_subjects == splits[3].val_subjects
    none_val = loso(subjects, n_val_subjects=0)
    assert all(s.val.size == 0 for s in none_val)


def test_loso_errors():
    with pytest.raises(ValueError, match="subjects"):
        loso(np.array(["a", "b", "c"]), n_val_subjects=2)
    with pytest.raises(ValueError, match="no subject"):
        loso(np.array(["a", "b", "", "c", "d"]), n_val_subjects=1)
    with pytest.raises(ValueError, match="zz"):
        loso(np.array(["a", "b", "c", "d"]), n_val_subjects=1, test_subjects=["zz"])


def test_train_val_split_by_subject():
    subjects = np.repeat([f"s{i}" for i in range(10)], 7)
    tr, va = train_val_split_by_subject(subjects, val_fraction=0.2, seed=0)
    assert _is_partition([tr, va], subjects.size)
    assert not set(subjects[tr]) & set(subjects[va]) and len(set(subjects[va])) == 2
    _, va3 = train_val_split_by_subject(subjects, n_val_subjects=3, seed=0)
    assert len(set(subjects[va3])) == 3
    with pytest.raises(ValueError):
        train_val_split_by_subject(subjects, n_val_subjects=10)


@pytest.mark.parametrize("n", [0, 3, 4, 10, 50, 100, 150, 151, 500])
def test_stratified_sample_sizes_and_coverage(n):
    idx = stratified_sample(Y, n, seed=2)
    N = Y.size
    assert idx.size == min(n, N) and np.unique(idx).size == idx.size
    assert np.all(np.diff(idx) > 0) if idx.size > 1 else True
    codes, counts = np.unique(Y, return_counts=True)
    got = np.array([np.sum(Y[idx] == c) for c in codes])
    if n >= N:
        assert np.array_equal(got, counts)
    elif n >= codes.size:
        assert np.all(got >= 1)
        ideal = 1 + (n - codes.size) * (counts - 1) / (N - codes.size)
        assert np.all(np.abs(got - ideal) < 1.0), (got, ideal)
        assert np.all(got <= counts)
    else:
        assert np.sum(got == 1) == n and np.all(got[np.argsort(-counts, kind="stable")[:n]] == 1)
    assert np.array_equal(idx, stratified_sample(Y, n, seed=2))


def test_stratified_sample_is_seeded_and_proportional_at_scale():
    y = np.repeat([1, 2, 3], [6000, 3000, 1000])
    idx = stratified_sample(y, 1000, seed=0)
    got = np.bincount(y[idx])[1:]
    assert np.all(np.abs(got - np.array([600, 300, 100])) <= 1)
    assert not np.array_equal(idx, stratified_sample(y, 1000, seed=1))
