"""Feature-based learners: Random Forest (hand-crafted or tsfresh features), XGBoost and SVM.

Each learner follows the project's learner interface over windows
``X (N, L, C)``: ``fit(X, y, groups=None)``, ``predict``, ``predict_proba``,
``save(path)`` and ``load(path)``.  Windows are first mapped to the
hand-crafted + spectral features of `virtimu.features.handcrafted`
(sampled at ``config.fs`` Hz; ``rf-tsfresh``: tsfresh + spectral); labels may be any integer codes (column k of
``predict_proba`` is code ``classes_[k]``).

- `FeatureRF`: scikit-learn ``RandomForestClassifier`` on the hand-crafted
  + spectral set.
- `FeatureRFTsfresh` (``rf-tsfresh``): the same forest on tsfresh features
  plus the spectral (PSD) block, as the random-forest baseline of the
  virtual-IMU transfer paper (000: ~2400 tsfresh + binned-PSD features);
  see `virtimu.features.tsfresh_features` (needs ``pip install tsfresh``;
  cached per window, beside the window set in the store or in a folder).
- `FeatureXGB`: ``xgboost.XGBClassifier``; defaults from the SelfPAB paper
  (002) baseline on HAR70+: learning rate 0.3, 512 estimators, max depth 5,
  multi-class error rate as the evaluation metric.
- `FeatureSVM`: ``StandardScaler`` + RBF SVM with C = 10 and
  gamma = 1 / (F · var(X)) (scikit-learn's ``gamma="scale"``), no class
  weights (paper 002).  Probabilities come from Platt scaling:
  ``CalibratedClassifierCV(SVC(...), method="sigmoid", ensemble=False)``,
  the replacement scikit-learn 1.9 recommends for ``SVC(probability=True)``.

Model files are zip archives holding ``meta.json`` (format, learner kind,
configs, classes, channels, feature names, provenance) and the model in a
format that loads without pickle: XGBoost's own JSON (``save_model``) or a
``skops`` file for scikit-learn models.  `load` refuses skops files that
contain types outside a small allow-list of scikit-learn internals unless
``trusted=True`` is given (only do that for files you trust).  Files are
written atomically (temp file + rename).

Feature cache: with ``config.cache_dir`` set, features are stored as
``<cache_dir>/<key>.npy`` where key = SHA-256 of X's shape, dtype and bytes,
fs, the feature config and the channel names; a repeated call on the same
windows loads the file instead of extracting again.  ``rf-tsfresh`` keeps
its own per-window cache (`virtimu.features.cache`), see `RFTsfreshConfig`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import virtimu
from virtimu.features.handcrafted import HandcraftedConfig, window_features
from virtimu.features.spectral import SpectralConfig

logger = logging.getLogger(__name__)

FORMAT = "virtimu-feature-learner/1"
#: scikit-learn internals that skops does not trust by default but our models need.
SKOPS_ALLOWED = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})


# ------------------------------------------------------------------ configs
@dataclasses.dataclass
class FeatureConfig:
    """Feature extraction for the feature learners.

    fs: sampling rate of the windows (Hz); 50 Hz as HARTH / HAR70+.
    features: hand-crafted + spectral feature settings.
    cache_dir: directory for the feature cache (None: no cache).
    """

    fs: float = 50.0
    features: HandcraftedConfig = dataclasses.field(default_factory=HandcraftedConfig)
    cache_dir: str | None = None


@dataclasses.dataclass
class RFConfig:
    """Random forest settings (our choices; paper 000 does not list them)."""

    n_estimators: int = 200
    max_depth: int | None = None
    min_samples_leaf: int = 1
    class_weight: str | None = None
    n_jobs: int | None = None
    seed: int = 0


@dataclasses.dataclass
class RFTsfreshConfig(RFConfig):
    """Random forest on tsfresh + PSD features (`FeatureRFTsfresh`).

    Forest settings as `RFConfig`.  Features:
    feature_set: tsfresh set, "minimal" / "efficient" / "comprehensive" /
        "paper000" or a tsfresh settings dict (see
        `virtimu.features.tsfresh_features`).  Default "efficient".
    include_psd: append the `virtimu.features.spectral` block (binned PSD,
        spectral entropy, energy, moments, dominant frequency) per channel.
    add_magnitude: add the magnitude of every triaxial channel group as a
        channel first (paper 000 feeds x, y, z and magnitude).
    workers: extraction processes (None: all cores); chunk_size: windows per
        task / cache part; progress: tqdm bar.
    cache_dir: feature cache folder for windows that do not come from a
        store (None: the environment variable ``VIRTIMU_FEATURE_CACHE`` if
        set, else the feature config's ``cache_dir``, else no cache).
    store_cache: when the windows come from a window set of a virtimu store
        (``provenance`` of `fit` names ``store`` and ``set``, or
        `FeatureRFTsfresh.use_store_cache`), cache the features beside that
        set in the store (``features/<set>/<namespace>``).
    """

    feature_set: str | dict = "efficient"
    include_psd: bool = True
    add_magnitude: bool = False
    workers: int | None = None
    chunk_size: int = 64
    progress: bool = True
    cache_dir: str | None = None
    store_cache: bool = True


@dataclasses.dataclass
class XGBConfig:
    """XGBoost settings; defaults from paper 002 (HAR70+ hyper-parameter search)."""

    n_estimators: int = 512
    learning_rate: float = 0.3
    max_depth: int = 5
    n_jobs: int | None = None
    seed: int = 0


@dataclasses.dataclass
class SVMConfig:
    """RBF SVM settings; C = 10, gamma "scale" and no class weights from paper 002."""

    C: float = 10.0
    gamma: str | float = "scale"
    class_weight: str | None = None
    calibration_cv: int = 3
    seed: int = 0


def _config_from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Rebuild a (possibly nested) config dataclass from `dataclasses.asdict` output."""
    if cls is FeatureConfig:
        feats = dict(d.get("features") or {})
        spec = SpectralConfig(**(feats.pop("spectral", None) or {}))
        return FeatureConfig(fs=d["fs"], features=HandcraftedConfig(spectral=spec, **feats),
                             cache_dir=d.get("cache_dir"))
    return cls(**d)


# ------------------------------------------------------------ feature cache
def feature_key(X: np.ndarray, fs: float, features: HandcraftedConfig, channels: Sequence[str] | None) -> str:
    """Cache key: SHA-256 over X's shape, dtype and bytes, fs, feature config and channel names."""
    X = np.ascontiguousarray(X)
    h = hashlib.sha256()
    meta = {"shape": list(X.shape), "dtype": str(X.dtype), "fs": float(fs),
            "features": dataclasses.asdict(features), "channels": list(channels) if channels else None,
            "version": 1}
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def extract_features(X: np.ndarray, config: FeatureConfig,
                     channels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Features (N, F) float32 and names of windows ``X (N, L, C)``, through the cache if set."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"features: X must be (N, L, C), got shape {X.shape}")
    path = None
    if config.cache_dir is not None:
        path = Path(config.cache_dir) / f"{feature_key(X, config.fs, config.features, channels)}.npy"
        if path.is_file():
            feats = np.load(path, allow_pickle=False)
            # names are a pure function of the config: recompute them on a single window
            _, names = window_features(X[:1], config.fs, config.features, channels)
            if feats.shape == (X.shape[0], len(names)):
                logger.debug("feature cache hit %s", path)
                return feats, names
            logger.warning("feature cache %s has shape %s, expected %s; recomputing",
                           path, feats.shape, (X.shape[0], len(names)))
    feats, names = window_features(X, config.fs, config.features, channels)
    if path is not None:
        _atomic_save_npy(path, feats)
    return feats, names


# ----------------------------------------------------------------- learners
class FeatureLearner:
    """Base class: feature extraction, label coding, save / load.

    Subclasses set ``kind``, ``config_type`` and implement ``_make_estimator``,
    ``_fit_estimator``, ``_proba``, ``_model_bytes`` and ``_model_from_bytes``;
    they may replace the feature extraction (``_extract``), add fitted feature
    post-processing (``_fit_transform`` / ``_transform``) and store its state
    in further zip members (``extra_files``, ``_extra_files``,
    ``_read_extra_files``).
    """

    kind: ClassVar[str] = ""
    config_type: ClassVar[type] = object
    model_file: ClassVar[str] = "model.bin"
    #: names of further (non-pickle) files in the model zip, see `_extra_files`
    extra_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any | dict | None = None, feature_config: FeatureConfig | dict | None = None):
        if config is None:
            config = self.config_type()
        elif isinstance(config, dict):
            config = self.config_type(**config)
        if feature_config is None:
            feature_config = FeatureConfig()
        elif isinstance(feature_config, dict):
            feature_config = _config_from_dict(FeatureConfig, feature_config)
        self.config = config
        self.feature_config = feature_config
        self.classes_: np.ndarray | None = None
        self.channels: list[str] | None = None
        self.feature_names_: list[str] = []
        self.window_shape_: tuple[int, int] | None = None
        self.label_map: dict[int, str] = {}
        self.provenance: dict[str, Any] = {}
        self.model_: Any = None

    # ---------------------------------------------------------- features
    def features(self, X: np.ndarray) -> np.ndarray:
        """Feature matrix (N, F) float32 of windows X (N, L, C), as the model sees it."""
        feats, _ = self._extract(X)
        return self._transform(feats)

    def _extract(self, X: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Raw features (N, F) float32 and their names."""
        return extract_features(X, self.feature_config, self.channels)

    def _fit_transform(self, feats: np.ndarray) -> np.ndarray:
        """Fit any feature post-processing on the training features and apply it."""
        return feats

    def _transform(self, feats: np.ndarray) -> np.ndarray:
        """Apply the post-processing fitted by `_fit_transform`."""
        return feats

    # --------------------------------------------------------------- fit
    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            channels: Sequence[str] | None = None, label_map: dict[int, str] | None = None,
            provenance: dict[str, Any] | None = None) -> FeatureLearner:
        """Fit on windows ``X (N, L, C)`` with integer label codes ``y (N,)``.

        groups: subject ids; accepted for the common interface (these models
        need no validation split) and not used.
        """
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 3:
            raise ValueError(f"fit: X must be (N, L, C), got shape {X.shape}")
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"fit: y must be ({X.shape[0]},) integer codes, got shape {y.shape} {y.dtype}")
        if channels is not None and len(channels) != X.shape[2]:
            raise ValueError(f"fit: {len(channels)} channel names for {X.shape[2]} channels")
        self.channels = list(channels) if channels is not None else None
        self.classes_ = np.unique(y).astype(np.int64)
        if self.classes_.size < 2:
            raise ValueError(f"fit: need at least two classes, got {self.classes_.tolist()}")
        self.window_shape_ = (int(X.shape[1]), int(X.shape[2]))
        self.label_map = {int(k): str(v) for k, v in (label_map or {}).items()}
        self.provenance = dict(provenance or {})
        feats, self.feature_names_ = self._extract(X)
        feats = self._fit_transform(feats)
        y_idx = np.searchsorted(self.classes_, y)
        logger.info("fitting %s on %d windows, %d features, %d classes", self.kind, feats.shape[0],
                    feats.shape[1], self.classes_.size)
        self.model_ = self._make_estimator()
        self._fit_estimator(feats, y_idx)
        return self

    # ----------------------------------------------------------- predict
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K) float32; column k is label code ``classes_[k]``."""
        if self.model_ is None or self.classes_ is None:
            raise RuntimeError(f"{type(self).__name__}: call fit or load first")
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1:] != self.window_shape_:
            raise ValueError(f"predict: windows of shape (N, L, C) with (L, C) = {self.window_shape_} "
                             f"expected, got {X.shape}")
        return self._proba(self.features(X)).astype(np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted label codes (N,) int64."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)].astype(np.int64)

    # ------------------------------------------------------- save / load
    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "virtimu_version": getattr(virtimu, "__version__", None),
                "config": dataclasses.asdict(self.config),
                "feature_config": dataclasses.asdict(self.feature_config),
                "classes": self.classes_.tolist(), "channels": self.channels,
                "feature_names": self.feature_names_, "window_shape": list(self.window_shape_),
                "label_map": {str(k): v for k, v in self.label_map.items()},
                "provenance": self.provenance}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the learner as a zip of meta.json and the model file (atomic)."""
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__}: nothing to save, call fit first")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("meta.json", json.dumps(self._meta(), indent=1))
                z.writestr(self.model_file, self._model_bytes())
                for name, data in self._extra_files().items():
                    z.writestr(name, data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, trusted: bool = False) -> FeatureLearner:
        """Read a learner written by `save`.

        Called on `FeatureLearner` it returns the stored kind; on a subclass
        it checks the kind.  trusted: allow types outside ``SKOPS_ALLOWED``
        in scikit-learn model files (only for files you trust).
        """
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as z:
                meta = json.loads(z.read("meta.json"))
                kind = meta.get("kind")
                klass = FEATURE_LEARNERS.get(kind)
                if meta.get("format") != FORMAT or klass is None:
                    raise ValueError(f"{path}: meta.json format/kind {meta.get('format')!r}/{kind!r}; "
                                     f"expected {FORMAT!r} and one of {sorted(FEATURE_LEARNERS)}")
                if cls is not FeatureLearner and klass is not cls:
                    raise ValueError(f"{path}: holds a {kind!r} learner, not {cls.kind!r}")
                blob = z.read(klass.model_file)
                extra = {name: z.read(name) for name in klass.extra_files if name in z.namelist()}
        except (zipfile.BadZipFile, KeyError) as e:
            raise ValueError(f"{path}: not a feature-learner file ({e})") from None
        learner = klass(_config_from_dict(klass.config_type, meta["config"]),
                        _config_from_dict(FeatureConfig, meta["feature_config"]))
        learner.classes_ = np.asarray(meta["classes"], dtype=np.int64)
        learner.channels = meta["channels"]
        learner.feature_names_ = list(meta["feature_names"])
        learner.window_shape_ = tuple(meta["window_shape"])
        learner.label_map = {int(k): v for k, v in meta["label_map"].items()}
        learner.provenance = meta.get("provenance") or {}
        learner.model_ = learner._model_from_bytes(blob, trusted, path)
        learner._read_extra_files(extra, path)
        return learner

    # ------------------------------------------------------ subclass API
    def _make_estimator(self) -> Any:
        raise NotImplementedError

    def _extra_files(self) -> dict[str, bytes]:
        """Further files to store in the model zip, ``{name: bytes}`` (names in ``extra_files``)."""
        return {}

    def _read_extra_files(self, files: dict[str, bytes], path: Path) -> None:
        """Restore state from the files `_extra_files` wrote."""

    def _fit_estimator(self, F: np.ndarray, y_idx: np.ndarray) -> None:
        self.model_.fit(F, y_idx)

    def _proba(self, F: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(F)

    def _model_bytes(self) -> bytes:
        import skops.io as sio
        return sio.dumps(self.model_)

    def _model_from_bytes(self, blob: bytes, trusted: bool, path: Path) -> Any:
        import skops.io as sio
        unknown = sio.get_untrusted_types(data=blob)
        extra = sorted(set(unknown) - SKOPS_ALLOWED)
        if extra and not trusted:
            raise ValueError(f"{path}: model file contains types that are not trusted: {extra}; "
                             "pass trusted=True only if you trust this file")
        return sio.loads(blob, trusted=list(unknown))


class FeatureRF(FeatureLearner):
    """Random forest on hand-crafted + spectral window features."""

    kind = "rf"
    config_type = RFConfig
    model_file = "model.skops"

    def _make_estimator(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier
        c = self.config
        return RandomForestClassifier(n_estimators=c.n_estimators, max_depth=c.max_depth,
                                      min_samples_leaf=c.min_samples_leaf, class_weight=c.class_weight,
                                      n_jobs=c.n_jobs, random_state=c.seed)


class FeatureSVM(FeatureLearner):
    """Standardised features + RBF SVM with Platt-scaled probabilities."""

    kind = "svm"
    config_type = SVMConfig
    model_file = "model.skops"

    def _make_estimator(self) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC
        c = self.config
        svc = SVC(C=c.C, gamma=c.gamma, kernel="rbf", class_weight=c.class_weight, random_state=c.seed)
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, method="sigmoid",
                                                                      cv=c.calibration_cv, ensemble=False))


class FeatureXGB(FeatureLearner):
    """Gradient-boosted trees (XGBoost) on window features; stored as XGBoost JSON."""

    kind = "xgb"
    config_type = XGBConfig
    model_file = "model.json"

    def _make_estimator(self) -> Any:
        from xgboost import XGBClassifier
        c = self.config
        return XGBClassifier(n_estimators=c.n_estimators, learning_rate=c.learning_rate,
                             max_depth=c.max_depth, n_jobs=c.n_jobs, random_state=c.seed,
                             eval_metric="merror" if self.classes_.size > 2 else "error")

    def _model_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "model.json"
            self.model_.save_model(p)
            return p.read_bytes()

    def _model_from_bytes(self, blob: bytes, trusted: bool, path: Path) -> Any:
        from xgboost import XGBClassifier
        model = XGBClassifier()
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "model.json"
            p.write_bytes(blob)
            model.load_model(p)
        return model


class FeatureRFTsfresh(FeatureRF):
    """Random forest on tsfresh features plus the spectral (PSD) block, as paper 000's baseline.

    Features: `virtimu.features.tsfresh_features.extract_tsfresh` (cached,
    parallel) of every channel (and, with ``add_magnitude``, every triaxial
    magnitude), then `virtimu.features.spectral.spectral_features` with the
    feature config's spectral settings.  Non-finite tsfresh values are filled
    column-wise from the training features (`ColumnImputer`); the fill
    values are stored in the model file as ``impute.npz`` (no pickle).
    """

    kind = "rf-tsfresh"
    config_type = RFTsfreshConfig
    model_file = "model.skops"
    extra_files = ("impute.npz",)

    def __init__(self, config: Any | dict | None = None, feature_config: FeatureConfig | dict | None = None):
        super().__init__(config, feature_config)
        self.imputer_: Any = None
        self._store: tuple[str, str] | None = None

    def use_store_cache(self, store: str | os.PathLike, set_name: str) -> None:
        """Cache features beside window set ``set_name`` of the virtimu store ``store``."""
        self._store = (str(store), str(set_name))

    def _cache_args(self) -> dict[str, Any]:
        """Where the tsfresh cache lives: beside the window set, a folder, or nowhere."""
        c = self.config
        if c.store_cache:
            store = self._store
            prov = self.provenance if isinstance(self.provenance, dict) else {}
            if store is None and prov.get("store") and prov.get("set"):
                store = (str(prov["store"]), str(prov["set"]))
            if store is not None and (Path(store[0]) / "zarr.json").is_file():
                return {"store": store[0], "set_name": store[1]}
        cache_dir = c.cache_dir or os.environ.get("VIRTIMU_FEATURE_CACHE") or self.feature_config.cache_dir
        return {"cache_dir": cache_dir} if cache_dir else {}

    def _extract(self, X: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from virtimu.features.handcrafted import triaxial_groups
        from virtimu.features.spectral import spectral_features
        from virtimu.features.tsfresh_features import TsfreshConfig, extract_tsfresh

        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(f"features: X must be (N, L, C), got shape {X.shape}")
        c = self.config
        chans = list(self.channels) if self.channels is not None else [f"ch{i}" for i in range(X.shape[2])]
        if c.add_magnitude:
            groups = triaxial_groups(self.channels, X.shape[2])
            if groups:
                mags = np.stack([np.linalg.norm(X[:, :, list(idx)].astype(np.float64), axis=-1)
                                 for _, idx in groups], axis=-1).astype(X.dtype)
                X = np.concatenate([X, mags], axis=-1)
                chans += [f"{g}_mag" for g, _ in groups]
        ts_config = TsfreshConfig(feature_set=c.feature_set, workers=c.workers, chunk_size=c.chunk_size,
                                  progress=c.progress)
        feats, names = extract_tsfresh(X, self.feature_config.fs, chans, ts_config, **self._cache_args())
        if c.include_psd:
            spec, spec_names = spectral_features(X, self.feature_config.fs, self.feature_config.features.spectral,
                                                 chans)
            feats, names = np.concatenate([feats, spec], axis=1), names + spec_names
        return feats, names

    def _fit_transform(self, feats: np.ndarray) -> np.ndarray:
        from virtimu.features.tsfresh_features import ColumnImputer

        self.imputer_ = ColumnImputer().fit(feats)
        return self.imputer_.transform(feats)

    def _transform(self, feats: np.ndarray) -> np.ndarray:
        if self.imputer_ is None:
            raise RuntimeError(f"{type(self).__name__}: call fit or load first")
        return self.imputer_.transform(feats)

    def _extra_files(self) -> dict[str, bytes]:
        buf = io.BytesIO()
        np.savez(buf, **self.imputer_.arrays())
        return {"impute.npz": buf.getvalue()}

    def _read_extra_files(self, files: dict[str, bytes], path: Path) -> None:
        from virtimu.features.tsfresh_features import ColumnImputer

        if "impute.npz" not in files:
            raise ValueError(f"{path}: rf-tsfresh model file lacks impute.npz")
        with np.load(io.BytesIO(files["impute.npz"]), allow_pickle=False) as z:
            self.imputer_ = ColumnImputer.from_arrays({k: z[k] for k in z.files})


#: Feature learners by name (`virtimu train NAME`).
FEATURE_LEARNERS: dict[str, type[FeatureLearner]] = {"rf": FeatureRF, "xgb": FeatureXGB, "svm": FeatureSVM,
                                                     "rf-tsfresh": FeatureRFTsfresh}
