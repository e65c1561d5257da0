"""Hand-crafted window features: time-domain statistics plus spectral features.

In the spirit of the 161 features of 5 s frames that the SelfPAB paper
(002 in the project seeds, section on baselines) computes for its SVM and
XGBoost baselines after Logacjov et al. (HARTH, Sensors 2021).  The seed
text names only the count (F = 161) and the frame length, not the list,
so the set below is our own, documented here exactly.

Channels and triaxial groups
    ``channels`` are names such as ``left_wrist/acc_x``; channels whose
    names differ only in a trailing ``_x``/``_y``/``_z`` form a triaxial
    group (``left_wrist/acc``).  Without names, channels are called
    ``ch0 ...`` and, when ``HandcraftedConfig.triplets_without_names`` is
    set and C is a multiple of 3, consecutive triplets form the groups
    ``g0, g1 ...``.  Each group adds a magnitude channel ``<group>_mag``
    (Euclidean norm of its three axes).

Per channel and per magnitude channel (``TIME_FEATURES``, 16):
    mean, std (population), min, max, median, p10, p25, p75, p90,
    iqr (p75 − p25), skewness, kurtosis (not excess), zero_crossings and
    mean_crossings (fraction of the L−1 sample pairs whose sign of x, resp.
    x − mean, changes), energy (mean of x²), rms (sqrt of energy).
    Constant signals give skewness 0 and kurtosis 0.

Per triaxial group (3): Pearson correlations ``corr_xy``, ``corr_xz``,
    ``corr_yz`` (0 where an axis is constant).

Spectral (``include_spectral``): the `virtimu.features.spectral` features
    (n_bins + 7 = 17 by default) of every channel and magnitude channel.

Count: with C channels and G triaxial groups,
``F = (C + G) * (16 + S) + 3 G`` where S = n_bins + 7 with spectral
features and 0 without.  Examples (defaults, S = 17): one triaxial
accelerometer (C=3, G=1): 4·33 + 3 = 135; two accelerometers as in HARTH
(C=6, G=2): 8·33 + 6 = 270; without spectral features 8·16 + 6 = 134.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from virtimu.features.spectral import SpectralConfig, spectral_features

TIME_FEATURES = ("mean", "std", "min", "max", "median", "p10", "p25", "p75", "p90", "iqr",
                 "skewness", "kurtosis", "zero_crossings", "mean_crossings", "energy", "rms")
CORR_FEATURES = ("corr_xy", "corr_xz", "corr_yz")
_AXIS = re.compile(r"^(.*)_([xyz])$")


@dataclasses.dataclass(frozen=True)
class HandcraftedConfig:
    """Settings of `window_features`.

    include_spectral: append the spectral features of every (magnitude) channel.
    include_magnitude: add a magnitude channel per triaxial group.
    include_correlation: add the three axis correlations per triaxial group.
    triplets_without_names: group consecutive channel triplets when no names are given.
    spectral: settings of the spectral features.
    """

    include_spectral: bool = True
    include_magnitude: bool = True
    include_correlation: bool = True
    triplets_without_names: bool = True
    spectral: SpectralConfig = dataclasses.field(default_factory=SpectralConfig)


def triaxial_groups(channels: Sequence[str] | None, n_channels: int,
                    triplets_without_names: bool = True) -> list[tuple[str, tuple[int, int, int]]]:
    """Triaxial groups as (group name, (ix, iy, iz)) in order of first appearance."""
    if channels is None:
        if triplets_without_names and n_channels % 3 == 0:
            return [(f"g{k}", (3 * k, 3 * k + 1, 3 * k + 2)) for k in range(n_channels // 3)]
        return []
    axes: dict[str, dict[str, int]] = {}
    for i, name in enumerate(channels):
        m = _AXIS.match(name)
        if m:
            axes.setdefault(m.group(1), {})[m.group(2)] = i
    return [(g, (a["x"], a["y"], a["z"])) for g, a in axes.items() if set(a) == {"x", "y", "z"}]


def time_features(X: np.ndarray) -> np.ndarray:
    """Time-domain statistics of ``X (N, L, C)``: (N, C, len(TIME_FEATURES)) float64."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=1)
    std = X.std(axis=1)
    q = np.percentile(X, [10, 25, 50, 75, 90], axis=1)       # (5, N, C)
    dev = X - mean[:, None, :]
    safe = np.where(std > 0, std, 1.0)
    skew = np.where(std > 0, (dev**3).mean(axis=1) / safe**3, 0.0)
    kurt = np.where(std > 0, (dev**4).mean(axis=1) / safe**4, 0.0)
    pairs = max(X.shape[1] - 1, 1)
    zc = (np.signbit(X[:, 1:]) != np.signbit(X[:, :-1])).sum(axis=1) / pairs
    mc = (np.signbit(dev[:, 1:]) != np.signbit(dev[:, :-1])).sum(axis=1) / pairs
    energy = (X**2).mean(axis=1)
    cols = [mean, std, X.min(axis=1), X.max(axis=1), q[2], q[0], q[1], q[3], q[4], q[3] - q[1],
            skew, kurt, zc, mc, energy, np.sqrt(energy)]
    return np.stack(cols, axis=-1)


def axis_correlations(X: np.ndarray, idx: tuple[int, int, int]) -> np.ndarray:
    """Pearson correlations xy, xz, yz of the three channels ``idx`` of X (N, L, C): (N, 3)."""
    A = np.asarray(X, dtype=np.float64)[:, :, list(idx)]
    A = A - A.mean(axis=1, keepdims=True)
    sd = np.sqrt((A**2).sum(axis=1))                          # (N, 3)
    out = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        den = sd[:, a] * sd[:, b]
        num = (A[:, :, a] * A[:, :, b]).sum(axis=1)
        out.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    return np.stack(out, axis=-1)


def window_features(X: np.ndarray, fs: float, config: HandcraftedConfig = HandcraftedConfig(),
                    channels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Hand-crafted features of windows ``X (N, L, C)`` sampled at ``fs`` Hz.

    Returns features (N, F) float32 (F as in the module docstring) and the F
    names ``<channel>/<feature>``; non-finite values are replaced by 0.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"window_features: X must be (N, L, C), got shape {X.shape}")
    n, _, c = X.shape
    if channels is not None and len(channels) != c:
        raise ValueError(f"window_features: {len(channels)} channel names for {c} channels")
    groups = triaxial_groups(channels, c, config.triplets_without_names)
    names_ch = list(channels) if channels is not None else [f"ch{i}" for i in range(c)]
    Xf = np.asarray(X, dtype=np.float64)
    if config.include_magnitude and groups:
        mags = np.stack([np.linalg.norm(Xf[:, :, list(idx)], axis=-1) for _, idx in groups], axis=-1)
        Xall = np.concatenate([Xf, mags], axis=-1)
        names_all = names_ch + [f"{g}_mag" for g, _ in groups]
    else:
        Xall, names_all = Xf, names_ch
    blocks = [time_features(Xall).reshape(n, -1)]
    names = [f"{ch}/{f}" for ch in names_all for f in TIME_FEATURES]
    if config.include_correlation:
        for g, idx in groups:
            blocks.append(axis_correlations(Xf, idx))
            names += [f"{g}/{f}" for f in CORR_FEATURES]
    if config.include_spectral:
        spec, spec_names = spectral_features(Xall, fs, config.spectral, names_all)
        blocks.append(spec)
        names += spec_names
    feats = np.nan_to_num(np.concatenate(blocks, axis=1), nan=0.0, posinf=0.0, neginf=0.0)
    return feats.astype(np.float32), names


def n_window_features(n_channels: int, n_groups: int, config: HandcraftedConfig = HandcraftedConfig()) -> int:
    """Feature count F of `window_features` for C channels and G triaxial groups."""
    m = n_channels + (n_groups if config.include_magnitude else 0)
    per = len(TIME_FEATURES) + (config.spectral.n_bins + 7 if config.include_spectral else 0)
    return m * per + (3 * n_groups if config.include_correlation else 0)
