"""Settings of SelfPAB pretraining and downstream training (paper 002).

`SelfPABConfig` groups five frozen dataclasses: `SpectrogramConfig`,
`MaskConfig`, `UpstreamConfig`, `PretrainConfig` and `DownstreamConfig`.
Their defaults are the paper's settings (``configs/paper.yaml`` states them
again); ``configs/cpu.yaml`` is a small model that pretrains meaningfully on
two CPU cores.  A config loads from a YAML mapping with those five sections
(`SelfPABConfig.from_yaml`, or a preset name via `load_config`) and takes
``section.key=value`` overrides (`apply_overrides`).  Every checkpoint stores
``config.to_dict()``.

Paper 002 figures quoted here (Logacjov, Herland, Ustad, Bach, "SelfPAB:
large-scale pre-training on accelerometer data for human activity
recognition", 2024; sections 3-4, Tables 1-2):

- input: back + thigh accelerometers, 50 Hz, in g; five-minute windows
  (15000 samples); STFT frame 50 samples (1 s), hop 25 (0.5 s), Hann window
  -> 26 bins x 599 frames per axis, six axes stacked -> 156 x 599;
  normalised with the upstream data's mean and variance;
- alteration: P_T = 0.15, W_T = 3 (80 % zero, 10 % swap, 10 % unchanged),
  P_F = 0.2, W_F = 3; L1 loss on the altered parts;
- upstream: linear projection 156 -> d_model 1500, sinusoidal positional
  encoding, 4 transformer encoder layers, 6 heads, feed-forward 2048;
  AdamW, weight decay 1e-5, linear warm-up over the first 7 % of the steps
  to 1e-4, linear decay to 1e-6, batch 64, 10 % of the data for validation,
  the checkpoint with the lowest validation loss kept;
- downstream: weighted sum of the transformer layers' outputs, MLP with one
  hidden layer of 1028 units and ReLU; Adam 1e-4, exponential decay with
  factor 0.1, 2000 steps, batch 32, the upstream unfrozen after step 1500.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from virtimu.coerce import coerce_value, parse_settings

#: Folder of the bundled configs (``paper.yaml``, ``cpu.yaml``).
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Standard gravity in m/s² (the unit g used by paper 002's input).
STANDARD_GRAVITY = 9.80665

ALTER_UNITS = ("sample", "span")
AGGREGATIONS = ("mean_logits", "majority")
ACTIVATIONS = ("gelu", "relu")


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {msg}")


@dataclass(frozen=True)
class SpectrogramConfig:
    """Short-time Fourier transform per axis (paper 002, section 4.1.2).

    fs: sampling rate the input must have (Hz; paper 50).  frame: STFT frame
    length in samples (paper 50 = 1 s).  hop: frame shift in samples (paper
    25 = 0.5 s).  window: scipy window name (paper 'hann'; periodic, as
    `scipy.signal.get_window` gives).  log: take ``log(|S| + eps)`` (the
    log-magnitude spectrogram); False keeps ``|S|``.  eps: floor added before
    the log, in g (1e-3 g: about the per-bin noise floor of a phone
    accelerometer; our choice).  n_axes: accelerometer axes stacked (paper 6:
    back + thigh; 3 for a single waist sensor such as HAPT).
    """

    fs: float = 50.0
    frame: int = 50
    hop: int = 25
    window: str = "hann"
    log: bool = True
    eps: float = 1e-3
    n_axes: int = 6

    def __post_init__(self) -> None:
        w = "SpectrogramConfig"
        _check(self.fs > 0, w, f"fs must be > 0 Hz, got {self.fs!r}")
        _check(self.frame >= 2, w, f"frame must be >= 2 samples, got {self.frame!r}")
        _check(1 <= self.hop <= self.frame, w, f"hop must be in [1, frame={self.frame}], got {self.hop!r}")
        _check(self.eps > 0, w, f"eps must be > 0, got {self.eps!r}")
        _check(self.n_axes >= 1, w, f"n_axes must be >= 1, got {self.n_axes!r}")

    @property
    def n_bins(self) -> int:
        """Frequency bins per axis (one-sided): ``frame // 2 + 1`` (paper: 26)."""
        return self.frame // 2 + 1

    @property
    def n_features(self) -> int:
        """Stacked input dimension ``n_axes * n_bins`` (paper: 156)."""
        return self.n_axes * self.n_bins

    def n_frames(self, n_samples: int) -> int:
        """Spectrogram frames of a window of ``n_samples`` (no padding): ``(n - frame) // hop + 1``."""
        if n_samples < self.frame:
            raise ValueError(f"a window of {n_samples} samples is shorter than one STFT frame ({self.frame})")
        return (int(n_samples) - self.frame) // self.hop + 1


@dataclass(frozen=True)
class MaskConfig:
    """Alteration of the input spectrogram (paper 002, section 3.1.2; TERA).

    p_t: time alteration percentage P_T; ``floor(p_t * T / w_t)`` span starts
    are drawn without replacement among ``T - w_t + 1`` positions (spans may
    overlap).  w_t: span width W_T in frames.  p_zero / p_swap: probability
    that the selected frames are zeroed / replaced by other frames of the
    same input (the rest, ``1 - p_zero - p_swap``, leaves them unchanged).
    alter_unit: 'sample' draws that choice once per input for all its spans
    (TERA's implementation); 'span' draws it per span.  p_f / w_f: frequency
    masking percentage P_F and width W_F: ``floor(p_f * n_bins / w_f)``
    starts, the same bins zeroed on every axis.  The loss covers every
    selected time frame (zeroed, swapped or kept, as in TERA) and every
    masked frequency bin.
    """

    p_t: float = 0.15
    w_t: int = 3
    p_zero: float = 0.8
    p_swap: float = 0.1
    alter_unit: str = "sample"
    p_f: float = 0.2
    w_f: int = 3

    def __post_init__(self) -> None:
        w = "MaskConfig"
        _check(0.0 <= self.p_t <= 1.0, w, f"p_t must be in [0, 1], got {self.p_t!r}")
        _check(0.0 <= self.p_f <= 1.0, w, f"p_f must be in [0, 1], got {self.p_f!r}")
        _check(self.w_t >= 1 and self.w_f >= 1, w, f"w_t and w_f must be >= 1, got {self.w_t!r}, {self.w_f!r}")
        _check(self.p_zero >= 0 and self.p_swap >= 0 and self.p_zero + self.p_swap <= 1.0 + 1e-12, w,
               f"p_zero + p_swap must be <= 1 (both >= 0), got {self.p_zero!r} + {self.p_swap!r}")
        _check(self.alter_unit in ALTER_UNITS, w, f"alter_unit must be one of {ALTER_UNITS}, got {self.alter_unit!r}")


@dataclass(frozen=True)
class UpstreamConfig:
    """Transformer encoder (paper 002, section 3.1.3 and Table 1).

    d_model: embedding size (paper 1500).  n_layers: encoder layers (4).
    n_heads: attention heads (6).  d_ff: feed-forward size (2048).
    dropout: dropout in the encoder (not given by the paper; 0.1 as in
    Vaswani et al. and TERA).  activation: feed-forward activation ('gelu'
    as in TERA; the paper does not say).
    """

    d_model: int = 1500
    n_layers: int = 4
    n_heads: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    activation: str = "gelu"

    def __post_init__(self) -> None:
        w = "UpstreamConfig"
        _check(self.d_model >= 1 and self.n_layers >= 1 and self.n_heads >= 1 and self.d_ff >= 1, w,
               "d_model, n_layers, n_heads and d_ff must be >= 1")
        _check(self.d_model % self.n_heads == 0, w,
               f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        _check(0.0 <= self.dropout < 1.0, w, f"dropout must be in [0, 1), got {self.dropout!r}")
        _check(self.activation in ACTIVATIONS, w, f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")


@dataclass(frozen=True)
class PretrainConfig:
    """Masked-reconstruction pretraining (paper 002, Table 1).

    window_length: samples per pretraining window (paper 15000 = 5 min at
    50 Hz).  overlap: overlap of windows cut from recordings (our choice).
    steps: optimisation steps (the paper trains every model for the same
    number of steps: 100k hours = 1.2 M windows, 90 % for training, 50
    epochs of batch 64 -> about 843,750 steps).  batch_size: 64.  lr: peak
    rate 1e-4.  final_lr: 1e-6.  warmup_fraction: 0.07.  weight_decay: AdamW
    decoupled weight decay 1e-5.  grad_clip: max gradient norm (None = off;
    not given by the paper).  val_fraction: windows held out to select the
    checkpoint with the lowest validation loss (paper 0.1; 0 = keep the last
    weights).  val_batches: validation batches per evaluation.
    checkpoint_every: steps between resumable checkpoints and validation.
    seed: seeds initialisation, batches and masks (256, the paper's
    data-selection seed).  threads: torch threads
    (None = torch's default).
    """

    window_length: int = 15000
    overlap: float = 0.5
    steps: int = 843_750
    batch_size: int = 64
    lr: float = 1e-4
    final_lr: float = 1e-6
    warmup_fraction: float = 0.07
    weight_decay: float = 1e-5
    grad_clip: float | None = None
    val_fraction: float = 0.1
    val_batches: int = 4
    checkpoint_every: int = 1000
    seed: int = 256
    threads: int | None = None

    def __post_init__(self) -> None:
        w = "PretrainConfig"
        _check(self.window_length >= 1, w, f"window_length must be >= 1, got {self.window_length!r}")
        _check(0.0 <= self.overlap < 1.0, w, f"overlap must be in [0, 1), got {self.overlap!r}")
        _check(self.steps >= 1 and self.batch_size >= 1, w, "steps and batch_size must be >= 1")
        _check(self.lr > 0 and self.final_lr >= 0, w, "lr must be > 0 and final_lr >= 0")
        _check(0.0 <= self.warmup_fraction < 1.0, w, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        _check(0.0 <= self.val_fraction < 1.0, w, f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        _check(self.val_batches >= 1 and self.checkpoint_every >= 1, w,
               "val_batches and checkpoint_every must be >= 1")


@dataclass(frozen=True)
class DownstreamConfig:
    """Downstream activity recognition (paper 002, section 3.2 and Table 2).

    window_length / overlap: windows cut from recordings when no window set
    is given (paper: random five-minute crops, 15000 samples; overlap is our
    choice).  hidden: MLP hidden units (1028).  dropout: dropout before the
    MLP output layer (not given; 0).  lr: Adam learning rate 1e-4.  decay:
    exponential decay factor over the whole run, ``lr * decay ** (step /
    steps)`` (0.1).  steps: 2000.  batch_size: 32.  unfreeze_step: the
    pretrained upstream is frozen for steps < unfreeze_step and trained from
    then on (1500; 0 = never frozen; >= steps = frozen throughout, the
    paper's "linear evaluation" when hidden is 0).  A model without
    pretraining is trained end to end from step 0.  aggregate: how frame
    predictions become one window label ('mean_logits': argmax of the mean
    frame logits; 'majority': most frequent frame prediction).  purity:
    majority share for a window label when windows are cut from recordings.
    seed: initialisation and batches.  threads: torch threads.
    eval_batch_size: windows per forward pass when predicting.
    """

    window_length: int = 15000
    overlap: float = 0.5
    hidden: int = 1028
    dropout: float = 0.0
    lr: float = 1e-4
    decay: float = 0.1
    steps: int = 2000
    batch_size: int = 32
    unfreeze_step: int = 1500
    aggregate: str = "mean_logits"
    purity: float = 0.8
    seed: int = 0
    threads: int | None = None
    eval_batch_size: int = 32

    def __post_init__(self) -> None:
        w = "DownstreamConfig"
        _check(self.window_length >= 1, w, f"window_length must be >= 1, got {self.window_length!r}")
        _check(0.0 <= self.overlap < 1.0, w, f"overlap must be in [0, 1), got {self.overlap!r}")
        _check(self.hidden >= 0, w, f"hidden must be >= 0 (0 = linear head), got {self.hidden!r}")
        _check(0.0 <= self.dropout < 1.0, w, f"dropout must be in [0, 1), got {self.dropout!r}")
        _check(self.lr > 0 and 0 < self.decay <= 1.0, w, "lr must be > 0 and decay in (0, 1]")
        _check(self.steps >= 1 and self.batch_size >= 1 and self.eval_batch_size >= 1, w,
               "steps, batch_size and eval_batch_size must be >= 1")
        _check(self.unfreeze_step >= 0, w, f"unfreeze_step must be >= 0, got {self.unfreeze_step!r}")
        _check(self.aggregate in AGGREGATIONS, w, f"aggregate must be one of {AGGREGATIONS}, got {self.aggregate!r}")
        _check(0.0 <= self.purity <= 1.0, w, f"purity must be in [0, 1], got {self.purity!r}")


_SECTIONS: dict[str, type] = {
    "spectrogram": SpectrogramConfig,
    "masking": MaskConfig,
    "upstream": UpstreamConfig,
    "pretrain": PretrainConfig,
    "downstream": DownstreamConfig,
}


@dataclass(frozen=True)
class SelfPABConfig:
    """All SelfPAB settings; defaults = paper 002 (see the module docstring)."""

    spectrogram: SpectrogramConfig = dataclasses.field(default_factory=SpectrogramConfig)
    masking: MaskConfig = dataclasses.field(default_factory=MaskConfig)
    upstream: UpstreamConfig = dataclasses.field(default_factory=UpstreamConfig)
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)
    downstream: DownstreamConfig = dataclasses.field(default_factory=DownstreamConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """{section: {key: value}} of plain values (YAML / JSON / checkpoint safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "SelfPABConfig") -> SelfPABConfig:
        """Build from ``{section: {key: value}}``; missing keys keep the defaults.

        Unknown sections or keys raise ValueError naming them and the valid ones.
        """
        data = dict(data or {})
        unknown = sorted(set(data) - set(_SECTIONS))
        if unknown:
            raise ValueError(f"{where}: unknown sections {unknown}; valid sections: {list(_SECTIONS)}")
        parts = {}
        for name, kind in _SECTIONS.items():
            values = data.get(name) or {}
            if not isinstance(values, dict):
                raise ValueError(f"{where}: section {name!r} must be a mapping, got {type(values).__name__}")
            valid = [f.name for f in fields(kind)]
            bad = sorted(set(values) - set(valid))
            if bad:
                raise ValueError(f"{where}: unknown keys {bad} in section {name!r}; valid keys: {valid}")
            hints = typing.get_type_hints(kind)
            parts[name] = kind(**{k: _coerce(f"{where}: {name}.{k}", v, hints[k]) for k, v in values.items()})
        return cls(**parts)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> SelfPABConfig:
        """Load a YAML mapping of sections (see ``configs/paper.yaml``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SelfPAB config {path} does not exist")
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a YAML mapping of sections, got {type(data).__name__}")
        return cls.from_dict(data, where=str(path))

    def with_n_axes(self, n_axes: int) -> SelfPABConfig:
        """A copy whose spectrogram stacks ``n_axes`` accelerometer axes."""
        return dataclasses.replace(self, spectrogram=dataclasses.replace(self.spectrogram, n_axes=int(n_axes)))


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """``value`` as the field type ``hint`` (handles ``X | None`` and numeric strings)."""
    return coerce_value(where, value, hint)


def preset_names() -> list[str]:
    """Names of the bundled configs (``paper``, ``cpu``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(spec: str | os.PathLike | None = "paper") -> SelfPABConfig:
    """A bundled preset by name ('paper', 'cpu') or a YAML file path; None = the paper defaults."""
    if spec is None:
        return SelfPABConfig()
    text = os.fspath(spec)
    bundled = CONFIG_DIR / f"{text}.yaml"
    if bundled.is_file() and os.sep not in text and not text.endswith((".yaml", ".yml")):
        return SelfPABConfig.from_yaml(bundled)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"SelfPAB config {text!r}: neither a bundled preset {preset_names()} "
                                f"nor an existing YAML file")
    return SelfPABConfig.from_yaml(path)


def apply_overrides(cfg: SelfPABConfig, overrides: list[str] | dict[str, Any] | None) -> SelfPABConfig:
    """A copy of ``cfg`` with ``["pretrain.steps=100", "upstream.d_model=64"]`` (or a dict) applied.

    Values are parsed as YAML scalars; a key without a section or with an
    unknown section/key raises ValueError naming it.
    """
    if not overrides:
        return cfg
    items = parse_settings(overrides, "pretrain.steps=100", form="section.key=value")
    merged = cfg.to_dict()
    for key, value in items.items():
        if "." not in key:
            raise ValueError(f"override {key!r}: expected section.key with a section of {list(_SECTIONS)}")
        section, name = key.split(".", 1)
        if section not in merged:
            raise ValueError(f"override {key!r}: unknown section {section!r}; valid sections: {list(_SECTIONS)}")
        if name not in merged[section]:
            raise ValueError(f"override {key!r}: unknown key {name!r}; valid keys of {section!r}: "
                             f"{list(merged[section])}")
        merged[section][name] = value
    return SelfPABConfig.from_dict(merged, where="overrides")
