"""Data splits as integer index arrays, deterministic given a seed.

Every function takes per-window arrays (labels ``y`` (N,) or subject /
group ids (N,)) and returns ascending int64 indices into them, to be applied
with ``WindowSet.subset``:

- `ratio_split`: one train/test split by a ratio, stratified by class
  (paper 001: 7:3).
- `stratified_kfold`: k folds with every class spread evenly over the folds.
- `group_kfold`: k folds that never split a group (e.g. a subject or a recording).
- `loso`: leave-one-subject-out; per test subject, ``n_val_subjects`` other
  subjects are held out for validation / early stopping and the rest train
  (paper 000).
- `train_val_split_by_subject`: whole subjects held out for validation.
- `stratified_sample`: exactly n windows with the class proportions of y
  (paper 000's adaptation sets of 100 ... 12000 target windows).

Randomness comes from ``numpy.random.default_rng(seed)`` only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One train / validation / test partition (ascending int64 indices).

    test_subject: the subject left out for testing (LOSO), else None.
    val_subjects: subjects held out for validation.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_subject: str | None = None
    val_subjects: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Sizes and subjects (JSON-safe, without the index arrays)."""
        return {"n_train": int(self.train.size), "n_val": int(self.val.size), "n_test": int(self.test.size),
                "test_subject": self.test_subject, "val_subjects": list(self.val_subjects)}


def _as_1d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one entry per window), got shape {a.shape}")
    return a


def _check_k(k: int, n: int, what: str) -> int:
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} folds need at least {k} {what}, got {n}")
    return int(k)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Integers with sum ``total``: floor(quotas) plus one for the largest fractional parts.

    quotas: (K,) non-negative with ``sum(floor(quotas)) <= total <= sum(ceil(quotas))``.
    Ties go to the lower index.  Each result is floor or ceil of its quota.
    """
    base = np.floor(quotas).astype(np.int64)
    rest = int(total - base.sum())
    if rest > 0:
        frac = quotas - base
        order = np.argsort(-frac, kind="stable")
        base[order[:rest]] += 1
    return base


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts).astype(np.int64))


def ratio_split(y: np.ndarray, train: float = 0.7, seed: int = 0,
                stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test split with ``round(train * N)`` training windows.

    y: (N,) labels.  With ``stratify`` each class c puts floor or ceil of
    ``train * n_c`` windows in train (largest-remainder rounding, so the
    total is exact).  Returns (train_idx, test_idx), ascending, disjoint,
    covering 0..N-1.
    """
    y = _as_1d(y, "y")
    if not 0.0 < train < 1.0:
        raise ValueError(f"ratio_split: train must be a fraction in (0, 1), got {train!r}")
    n = y.size
    rng = np.random.default_rng(seed)
    n_train = _round_half_up(train * n)
    if not stratify:
        perm = rng.permutation(n)
        return np.sort(perm[:n_train]).astype(np.int64), np.sort(perm[n_train:]).astype(np.int64)
    codes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quotas = _largest_remainder(train * counts.astype(np.float64), n_train)
    tr, te = [], []
    for c in range(codes.size):
        idx = rng.permutation(np.flatnonzero(inverse == c))
        tr.append(idx[:quotas[c]])
        te.append(idx[quotas[c]:])
    return _sorted(tr), _sorted(te)


def stratified_kfold(y: np.ndarray, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds; each class is spread over the folds with counts differing by at most one.

    The windows of each class (classes in ascending order) are shuffled and
    dealt to the folds round-robin, the dealer continuing across classes, so
    the fold sizes also differ by at most one.  Returns k (train_idx,
    test_idx) pairs; the test parts partition 0..N-1.
    """
    y = _as_1d(y, "y")
    k = _check_k(k, y.size, "windows")
    rng = np.random.default_rng(seed)
    codes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if np.any(counts < k):
        logger.warning("stratified_kfold: classes %s have fewer than k=%d windows; some test folds miss them",
                       codes[counts < k].tolist(), k)
    order = np.concatenate([rng.permutation(np.flatnonzero(inverse == c)) for c in range(codes.size)])
    fold = np.empty(y.size, dtype=np.int64)
    fold[order] = np.arange(y.size) % k
    return [(np.flatnonzero(fold != f).astype(np.int64), np.flatnonzero(fold == f).astype(np.int64))
            for f in range(k)]


def group_kfold(groups: np.ndarray, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds that keep every group whole, with window counts as even as possible.

    Groups are taken largest first (equal sizes in a seeded random order) and
    each goes to the fold with the fewest windows so far (lowest fold on ties).
    Returns k (train_idx, test_idx) pairs; no group is in both parts of a pair.
    """
    groups = _as_1d(groups, "groups")
    uniq, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    k = _check_k(k, uniq.size, "groups")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(uniq.size)
    order = perm[np.argsort(-counts[perm], kind="stable")]
    load = np.zeros(k, dtype=np.int64)
    fold_of_group = np.empty(uniq.size, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += counts[g]
    fold = fold_of_group[inverse]
    return [(np.flatnonzero(fold != f).astype(np.int64), np.flatnonzero(fold == f).astype(np.int64))
            for f in range(k)]


def _subject_ids(subjects: np.ndarray, fn: str) -> tuple[np.ndarray, np.ndarray]:
    subjects = _as_1d(subjects, "subjects").astype(str)
    uniq = np.unique(subjects)
    if "" in uniq:
        raise ValueError(f"{fn}: {int(np.sum(subjects == ''))} windows have no subject (''); "
                         f"subject-wise splits need a subject for every window")
    return subjects, uniq


def loso(subjects: np.ndarray, n_val_subjects: int = 2, seed: int = 0,
         test_subjects: list[str] | None = None) -> list[Split]:
    """Leave-one-subject-out splits (paper 000).

    For each test subject (all subjects in sorted order, or ``test_subjects``)
    ``n_val_subjects`` of the other subjects are drawn for validation, from
    ``default_rng([seed, i])`` with i the subject's position among all sorted
    subjects (so a fold does not depend on which other folds are asked for);
    the remaining subjects train.  Raises ValueError when fewer than
    ``n_val_subjects + 2`` subjects exist or a window has no subject.
    """
    subjects, uniq = _subject_ids(subjects, "loso")
    if int(n_val_subjects) != n_val_subjects or n_val_subjects < 0:
        raise ValueError(f"loso: n_val_subjects must be an integer >= 0, got {n_val_subjects!r}")
    n_val_subjects = int(n_val_subjects)
    if uniq.size < n_val_subjects + 2:
        raise ValueError(f"loso: {uniq.size} subjects {uniq.tolist()} cannot give 1 test, "
                         f"{n_val_subjects} validation and >= 1 training subject")
    if test_subjects is None:
        tests = uniq.tolist()
    else:
        tests = [str(s) for s in test_subjects]
        unknown = sorted(set(tests) - set(uniq.tolist()))
        if unknown:
            raise ValueError(f"loso: test subjects {unknown} not found; subjects: {uniq.tolist()}")
    position = {s: i for i, s in enumerate(uniq.tolist())}
    out = []
    for s in tests:
        others = uniq[uniq != s]
        rng = np.random.default_rng([int(seed), position[s]])
        val = np.sort(rng.choice(others, size=n_val_subjects, replace=False)) if n_val_subjects else others[:0]
        is_test = subjects == s
        is_val = np.isin(subjects, val)
        out.append(Split(train=np.flatnonzero(~is_test & ~is_val).astype(np.int64),
                         val=np.flatnonzero(is_val).astype(np.int64),
                         test=np.flatnonzero(is_test).astype(np.int64),
                         test_subject=s, val_subjects=tuple(val.tolist())))
    return out


def train_val_split_by_subject(subjects: np.ndarray, n_val_subjects: int | None = None, val_fraction: float = 0.2,
                               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole subjects for validation.

    The number of validation subjects is ``n_val_subjects`` or else
    ``max(1, round(val_fraction * n_subjects))``; they are drawn from
    ``default_rng(seed)``.  At least one subject stays in training.
    Returns (train_idx, val_idx); ``np.unique(subjects[val_idx])`` names the
    validation subjects.
    """
    subjects, uniq = _subject_ids(subjects, "train_val_split_by_subject")
    if n_val_subjects is None:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"train_val_split_by_subject: val_fraction must be in (0, 1), got {val_fraction!r}")
        n_val_subjects = max(1, _round_half_up(val_fraction * uniq.size))
    if int(n_val_subjects) != n_val_subjects or not 0 <= n_val_subjects < uniq.size:
        raise ValueError(f"train_val_split_by_subject: cannot hold out {n_val_subjects} of {uniq.size} subjects "
                         f"and keep one for training")
    rng = np.random.default_rng(seed)
    val = rng.choice(uniq, size=int(n_val_subjects), replace=False)
    is_val = np.isin(subjects, val)
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def stratified_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Exactly ``n`` windows (all of them if ``n >= N``) in the class proportions of ``y``.

    With K classes and ``n >= K`` every class gets one window and the other
    ``n - K`` are apportioned by largest remainder proportionally to each
    class's remaining windows ``n_c - 1`` (so no class is asked for more than
    it has, and large classes get ~``n * n_c / N``).  With ``n < K`` the n
    largest classes (lower code on ties) give one window each.  Windows are
    drawn without replacement from ``default_rng(seed)``.  Returns (n,)
    ascending indices.
    """
    y = _as_1d(y, "y")
    if int(n) != n or n < 0:
        raise ValueError(f"stratified_sample: n must be an integer >= 0, got {n!r}")
    n = int(n)
    if n >= y.size:
        if n > y.size:
            logger.info("stratified_sample: asked for %d windows, only %d exist; taking all", n, y.size)
        return np.arange(y.size, dtype=np.int64)
    rng = np.random.default_rng(seed)
    codes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    K = codes.size
    if n < K:
        alloc = np.zeros(K, dtype=np.int64)
        alloc[np.argsort(-counts, kind="stable")[:n]] = 1
    else:
        spare = counts - 1
        quotas = (n - K) * spare / max(int(spare.sum()), 1)
        alloc = 1 + _largest_remainder(quotas, n - K)
    parts = [rng.choice(np.flatnonzero(inverse == c), size=int(alloc[c]), replace=False) for c in range(K)]
    return _sorted(parts)
