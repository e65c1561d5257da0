"""tsfresh features of IMU windows, per window and channel, cached and parallel.

For windows ``X (N, L, C)`` every channel of every window is one tsfresh
time series (id = window, kind = channel); the result is a float32 matrix
``(N, C * F_ch)``, channel-major, with names ``<channel>__<tsfresh name>``
(for example ``waist/acc_x__abs_energy`` or
``waist/acc_x__fft_coefficient__attr_"abs"__coeff_3``).  tsfresh works in
samples, not seconds: ``fs`` enters only the cache key.

Feature sets (`tsfresh_settings`):

- ``"minimal"``, ``"efficient"``, ``"comprehensive"``: tsfresh's
  ``MinimalFCParameters`` (10 features per channel),
  ``EfficientFCParameters`` (777 with tsfresh 0.21) and
  ``ComprehensiveFCParameters`` (783: adds approximate / sample entropy).
  tsfresh's ``matrix_profile`` calculator needs the optional
  ``matrixprofile`` package; without it tsfresh leaves it out of every set.
- ``"paper000"``: the set for the random-forest baseline of the
  virtual-IMU transfer paper (000 in the project seeds: "around 2400
  features" from 4 channels, most from tsfresh plus PSD features).  It is
  tsfresh's efficient set without the features that are undefined for the
  window length, i.e. always NaN: ``fft_coefficient`` coefficients above
  L // 2 (a real FFT of L samples has L // 2 + 1 of them) and
  ``query_similarity_count`` (NaN without a query series).  For the paper's
  100-sample windows that is 580 features per channel: 4 channels give
  2320, and with the 4 × 17 PSD features of `virtimu.features.spectral`
  2388 ≈ 2400.  (The efficient set keeps the NaN columns: 4 × 777 = 3108.)
- a dict: tsfresh settings ``{calculator: None | [params, ...]}`` as
  tsfresh's ``default_fc_parameters``; used as given.

Non-finite values: extraction returns tsfresh's raw values (NaN / ±inf where
a feature is undefined, e.g. for a constant channel) so that the cache holds
raw values; `ColumnImputer` then fills them column-wise from the *training*
features, with tsfresh's ``impute`` rule (NaN -> median, +inf -> max,
-inf -> min of the finite training values of the column; 0 for a column
without finite training values), so the same test window always gets the
same features.

Parallel work and progress: windows are cut into chunks of ``chunk_size``
which a process pool of ``workers`` processes extracts (tsfresh with
``n_jobs=0`` inside each process) under a tqdm progress bar; tsfresh's own
``n_jobs`` pool is not used (measured slower on 2 cores, see
benchmarks/bench_features.py).  ``change_quantiles``, about half of the
efficient set's time in tsfresh, is computed vectorised with the same values
(`virtimu.features.fast_calculators`; ``TsfreshConfig.fast``).

Cache (`virtimu.features.cache`): rows are stored per window, keyed by the
window's SHA-256, in a namespace keyed by (settings, fs, channel names,
window shape and dtype, tsfresh / pandas versions); every finished chunk is
published at once, so an interrupted extraction resumes where it stopped.

tsfresh is optional: it is imported only when features are extracted, and a
missing tsfresh raises an ImportError that says ``pip install tsfresh``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from virtimu.features.cache import FeatureCache, namespace_key, open_cache, window_keys
from virtimu.features.fast_calculators import FAST_CALCULATORS, change_quantiles, output_name

logger = logging.getLogger(__name__)

FEATURE_SETS = ("minimal", "efficient", "comprehensive", "paper000")
#: bump when the meaning of cached rows changes
CACHE_FORMAT = 1


def require_tsfresh() -> Any:
    """Import and return the tsfresh module, or raise ImportError naming the fix."""
    try:
        import tsfresh
    except ImportError as e:
        raise ImportError("tsfresh features need the tsfresh package: pip install tsfresh "
                          f"(import failed: {e})") from e
    return tsfresh


def tsfresh_versions() -> dict[str, str]:
    """Versions of tsfresh and pandas (they decide the feature values; part of the cache key)."""
    tsfresh = require_tsfresh()
    import pandas

    return {"tsfresh": tsfresh.__version__, "pandas": pandas.__version__}


# ----------------------------------------------------------------- settings
def tsfresh_settings(feature_set: str | Mapping[str, Any], window_length: int) -> dict[str, Any]:
    """tsfresh settings ``{calculator: None | [params]}`` of a named set (see module docstring) or a dict.

    window_length: L, samples per window (used by "paper000").
    """
    if isinstance(feature_set, Mapping):
        return {str(k): (None if v is None else [dict(p) for p in v]) for k, v in feature_set.items()}
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown tsfresh feature set {feature_set!r}; choose from {list(FEATURE_SETS)} "
                         "or give a settings dict")
    require_tsfresh()
    from tsfresh.feature_extraction import settings as fc

    # tsfresh warns on every settings object that matrix_profile is disabled (its optional
    # `matrixprofile` dependency is not installed); said once in the module docstring instead
    fc_logger = logging.getLogger(fc.__name__)
    level = fc_logger.level
    fc_logger.setLevel(logging.ERROR)
    try:
        if feature_set == "minimal":
            base = fc.MinimalFCParameters()
        elif feature_set == "comprehensive":
            base = fc.ComprehensiveFCParameters()
        else:
            base = fc.EfficientFCParameters()
    finally:
        fc_logger.setLevel(level)
    out = {k: (None if v is None else [dict(p) for p in v]) for k, v in base.items()}
    if feature_set == "paper000":
        out.pop("query_similarity_count", None)
        if out.get("fft_coefficient"):
            out["fft_coefficient"] = [p for p in out["fft_coefficient"] if p["coeff"] <= window_length // 2]
    return out


def _as_tsfresh(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings with list-valued 'widths' turned back into tuples (JSON round trips make lists)."""
    out = {}
    for k, v in settings.items():
        if v is None:
            out[k] = None
        else:
            out[k] = [{pk: (tuple(pv) if isinstance(pv, list) else pv) for pk, pv in p.items()} for p in v]
    return out


@dataclasses.dataclass
class TsfreshConfig:
    """Settings of `extract_tsfresh`.

    feature_set: "minimal", "efficient", "comprehensive", "paper000" or a tsfresh settings dict.
    workers: processes for extraction (None: all cores; 1: in this process).
    chunk_size: windows per chunk (one cache part, one task of the pool).
    progress: show a tqdm progress bar.
    fast: compute ``change_quantiles`` vectorised (`virtimu.features.fast_calculators`,
        same values as tsfresh's, ~2x faster extraction of the efficient set).
    """

    feature_set: str | dict = "efficient"
    workers: int | None = None
    chunk_size: int = 64
    progress: bool = True
    fast: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.feature_set, str) and self.feature_set not in FEATURE_SETS:
            raise ValueError(f"TsfreshConfig.feature_set: unknown set {self.feature_set!r}; "
                             f"choose from {list(FEATURE_SETS)} or give a settings dict")
        if self.chunk_size < 1:
            raise ValueError(f"TsfreshConfig.chunk_size must be >= 1, got {self.chunk_size}")


# --------------------------------------------------------------- extraction
def _extract_chunk(X: np.ndarray, settings: dict[str, Any], per_channel: list[str], fast: bool = True) -> np.ndarray:
    """tsfresh features of ``X (n, L, C)``: (n, C * len(per_channel)) float32, raw (NaN/inf kept).

    Runs tsfresh in this process (n_jobs=0); channels are tsfresh kinds c0,
    c1, ...  fast: compute the calculators of
    `virtimu.features.fast_calculators` vectorised instead of with tsfresh
    (windows with non-finite samples always go through tsfresh).
    """
    import pandas as pd

    n, L, C = X.shape
    X64 = np.asarray(X, dtype=np.float64)
    values: dict[str, np.ndarray] = {}                    # "c<k>__<feature>" -> (n,)
    rest = dict(settings)
    if fast and settings.get("change_quantiles") and np.isfinite(X64).all():
        params = rest.pop("change_quantiles")
        S = np.moveaxis(X64, 2, 1).reshape(n * C, L)        # series of window i, channel c at row i*C + c
        cq = change_quantiles(S, params).reshape(n, C, len(params))
        for j, p in enumerate(params):
            name = output_name("change_quantiles", p)
            for c in range(C):
                values[f"c{c}__{name}"] = cq[:, c, j]
    if rest:
        from tsfresh import extract_features

        frame = {"id": np.repeat(np.arange(n), L), "time": np.tile(np.arange(L), n)}
        for c in range(C):
            frame[f"c{c}"] = X64[:, :, c].ravel()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = extract_features(pd.DataFrame(frame), column_id="id", column_sort="time",
                                  default_fc_parameters=_as_tsfresh(rest), n_jobs=0,
                                  disable_progressbar=True, impute_function=None)
        df = df.reindex(index=np.arange(n))
        for col in df.columns:
            values[col] = df[col].to_numpy(dtype=np.float64)
    cols = [f"c{c}__{f}" for c in range(C) for f in per_channel]
    missing = [c for c in cols if c not in values]
    if missing:
        raise RuntimeError(f"tsfresh did not return the expected features, e.g. {missing[:3]}")
    return np.stack([values[c] for c in cols], axis=1).astype(np.float32)


def per_channel_names(settings: Mapping[str, Any], window_length: int) -> list[str]:
    """tsfresh feature names of one channel (without the channel prefix), in tsfresh's order.

    Found by extracting the features of one synthetic series of length L.
    """
    require_tsfresh()
    import pandas as pd
    from tsfresh import extract_features

    t = np.arange(window_length, dtype=np.float64)
    x = np.sin(2 * np.pi * t / 7.0) + 0.01 * t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = extract_features(pd.DataFrame({"id": 0, "time": t, "c0": x}), column_id="id", column_sort="time",
                              default_fc_parameters=_as_tsfresh(settings), n_jobs=0,
                              disable_progressbar=True, impute_function=None)
    return [c[len("c0__"):] for c in df.columns]


def _channel_names(channels: Sequence[str] | None, n_channels: int) -> list[str]:
    names = list(channels) if channels is not None else [f"ch{i}" for i in range(n_channels)]
    if len(names) != n_channels:
        raise ValueError(f"tsfresh features: {len(names)} channel names for {n_channels} channels")
    return names


def cache_meta(X_shape: tuple[int, ...], dtype: Any, fs: float, channels: Sequence[str],
               settings: Mapping[str, Any], fast: bool = True) -> dict[str, Any]:
    """Namespace description of a feature cache (everything but the window bytes)."""
    vectorised = sorted(k for k in FAST_CALCULATORS if fast and settings.get(k))
    return {"extractor": "tsfresh", "format": CACHE_FORMAT, "settings": dict(settings),
            "fs": float(fs), "channels": list(channels), "window_shape": [int(s) for s in X_shape[1:]],
            "dtype": str(np.dtype(dtype)), "versions": tsfresh_versions(), "vectorised": vectorised}


def _resolve_workers(workers: int | None) -> int:
    if workers is None or workers <= 0:
        return max(os.cpu_count() or 1, 1)
    return int(workers)


def extract_tsfresh(X: np.ndarray, fs: float, channels: Sequence[str] | None = None,
                    config: TsfreshConfig | None = None, cache: FeatureCache | None = None, *,
                    cache_dir: str | os.PathLike | None = None, store: str | os.PathLike | None = None,
                    set_name: str | None = None) -> tuple[np.ndarray, list[str]]:
    """tsfresh features of windows ``X (N, L, C)`` sampled at ``fs`` Hz.

    Returns (features (N, C * F_ch) float32 with NaN / ±inf where tsfresh
    gives them, names ``<channel>__<tsfresh name>``).  Channels default to
    ``ch0, ch1 ...``.

    Cache: ``cache`` if given, else one opened from ``store`` + ``set_name``
    (beside that window set in the Zarr store) or ``cache_dir`` (see
    `virtimu.features.cache.open_cache`); without any, nothing is cached.
    Windows already in the cache are not extracted again; identical windows
    are extracted once.
    """
    config = config or TsfreshConfig()
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"tsfresh features: X must be (N, L, C), got shape {X.shape}")
    n, L, C = X.shape
    chans = _channel_names(channels, C)
    settings = tsfresh_settings(config.feature_set, L)
    meta = cache_meta(X.shape, X.dtype, fs, chans, settings, config.fast)
    if cache is None:
        cache = open_cache(meta, cache_dir=cache_dir, store=store, set_name=set_name)
    elif cache.namespace != namespace_key(meta):
        raise ValueError(f"extract_tsfresh: cache {cache.location} was opened for other windows / settings")

    names = cache.names() if cache is not None else None
    if names is None:
        per = per_channel_names(settings, L)
        names = [f"{ch}__{f}" for ch in chans for f in per]
    else:
        per = [nm[len(chans[0]) + 2:] for nm in names[:len(names) // max(C, 1)]]
    if cache is not None:
        cache.meta["names"] = names
    out = np.full((n, len(names)), np.nan, dtype=np.float32)
    if n == 0:
        return out, names

    keys = window_keys(X)
    todo = np.ones(n, dtype=bool)
    if cache is not None:
        found, values = cache.get(keys)
        if values is not None:
            out[found] = values[found]
        todo = ~found
        logger.debug("tsfresh feature cache %s: %d of %d windows cached", cache.location, found.sum(), n)
    if todo.any():
        # extract each distinct window once
        uniq: dict[bytes, int] = {}
        first = []
        for i in np.flatnonzero(todo):
            k = keys[i].tobytes()
            if k not in uniq:
                uniq[k] = len(first)
                first.append(i)
        first = np.array(first, dtype=np.int64)
        feats = _extract_many(X, first, settings, per, config, cache, keys)
        rows = np.array([uniq[keys[i].tobytes()] for i in np.flatnonzero(todo)], dtype=np.int64)
        out[todo] = feats[rows]
    return out, names


def _extract_many(X: np.ndarray, idx: np.ndarray, settings: dict[str, Any], per: list[str],
                  config: TsfreshConfig, cache: FeatureCache | None, keys: np.ndarray) -> np.ndarray:
    """Features of windows ``X[idx]`` in chunks (pool or inline), each chunk cached when done."""
    from tqdm.auto import tqdm

    chunks = [idx[a:a + config.chunk_size] for a in range(0, len(idx), config.chunk_size)]
    out = np.empty((len(idx), X.shape[2] * len(per)), dtype=np.float32)
    offsets = np.cumsum([0] + [len(c) for c in chunks])
    workers = min(_resolve_workers(config.workers), len(chunks))
    bar = tqdm(total=len(idx), desc="tsfresh features", unit="win", disable=not config.progress)

    writable = [cache is not None]

    def done(k: int, feats: np.ndarray) -> None:
        out[offsets[k]:offsets[k + 1]] = feats
        if writable[0]:
            try:
                cache.put(keys[chunks[k]], feats)
            except OSError as e:  # e.g. a read-only store: go on without caching
                logger.warning("feature cache %s not writable (%s); features are not cached", cache.location, e)
                writable[0] = False
        bar.update(len(chunks[k]))

    try:
        if workers <= 1:
            for k, c in enumerate(chunks):
                done(k, _extract_chunk(X[c], settings, per, config.fast))
        else:
            import multiprocessing as mp

            # fork where the platform has it (cheap start, works from scripts without a __main__
            # guard, as torch's DataLoader workers); spawn elsewhere
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method)) as pool:
                futures = [pool.submit(_extract_chunk, np.ascontiguousarray(X[c]), settings, per, config.fast)
                           for c in chunks]
                try:
                    for k, fut in enumerate(futures):
                        done(k, fut.result())
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    return out


# ------------------------------------------------------------- imputation
class ColumnImputer:
    """Column-wise fill of non-finite features from training statistics (tsfresh's ``impute`` rule).

    fit(F (N, F)) stores per column the median, min and max of the finite
    values (0 for columns with none); transform replaces NaN by the median,
    +inf by the max and -inf by the min.
    """

    def __init__(self) -> None:
        self.median_: np.ndarray | None = None
        self.min_: np.ndarray | None = None
        self.max_: np.ndarray | None = None

    def fit(self, F: np.ndarray) -> ColumnImputer:
        F = np.asarray(F, dtype=np.float64)
        finite = np.isfinite(F)
        masked = np.where(finite, F, np.nan)
        has = finite.any(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            med = np.nanmedian(masked, axis=0)
            lo, hi = np.nanmin(masked, axis=0), np.nanmax(masked, axis=0)
        self.median_ = np.where(has, med, 0.0).astype(np.float32)
        self.min_ = np.where(has, lo, 0.0).astype(np.float32)
        self.max_ = np.where(has, hi, 0.0).astype(np.float32)
        return self

    def transform(self, F: np.ndarray) -> np.ndarray:
        if self.median_ is None:
            raise RuntimeError("ColumnImputer: call fit first")
        F = np.array(F, dtype=np.float32, copy=True)
        if F.ndim != 2 or F.shape[1] != self.median_.size:
            raise ValueError(f"ColumnImputer: (N, {self.median_.size}) expected, got {F.shape}")
        nan, pos, neg = np.isnan(F), np.isposinf(F), np.isneginf(F)
        F[nan] = np.broadcast_to(self.median_, F.shape)[nan]
        F[pos] = np.broadcast_to(self.max_, F.shape)[pos]
        F[neg] = np.broadcast_to(self.min_, F.shape)[neg]
        return F

    def fit_transform(self, F: np.ndarray) -> np.ndarray:
        return self.fit(F).transform(F)

    def arrays(self) -> dict[str, np.ndarray]:
        """The statistics as arrays (for pickle-free model files)."""
        return {"median": self.median_, "min": self.min_, "max": self.max_}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ColumnImputer:
        imp = cls()
        imp.median_ = np.asarray(arrays["median"], dtype=np.float32)
        imp.min_ = np.asarray(arrays["min"], dtype=np.float32)
        imp.max_ = np.asarray(arrays["max"], dtype=np.float32)
        return imp
