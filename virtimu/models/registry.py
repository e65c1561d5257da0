"""Registry of the torch activity-recognition models.

``MODELS`` maps a model name to its (config dataclass, model class); every
model is built as ``Model(cfg, n_channels, length, n_classes)`` and maps
x (B, L, C) float32 to logits (B, n_classes).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from virtimu.models.cnn1d import CNN1D, CNN1DConfig
from virtimu.models.cnn_deconv import CNNDeconv, CNNDeconvConfig
from virtimu.models.deepconvlstm import DeepConvLSTM, DeepConvLSTMConfig
from virtimu.models.recurrent import (
    CNNLSTM,
    CNNLSTMConfig,
    ConvLSTM,
    ConvLSTMConfig,
    LSTMClassifier,
    LSTMConfig,
    StackedLSTM,
    StackedLSTMConfig,
)

MODELS: dict[str, tuple[type, type[nn.Module]]] = {
    "deepconvlstm": (DeepConvLSTMConfig, DeepConvLSTM),
    "cnn-deconv": (CNNDeconvConfig, CNNDeconv),
    "lstm": (LSTMConfig, LSTMClassifier),
    "stacked-lstm": (StackedLSTMConfig, StackedLSTM),
    "cnn1d": (CNN1DConfig, CNN1D),
    "cnn-lstm": (CNNLSTMConfig, CNNLSTM),
    "convlstm": (ConvLSTMConfig, ConvLSTM),
}


def _entry(name: str) -> tuple[type, type[nn.Module]]:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {sorted(MODELS)}") from None


def model_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Config dataclass of model ``name`` with its defaults, updated by ``overrides``.

    Raises KeyError for an unknown model, ValueError naming unknown config keys
    and listing the valid ones.
    """
    cfg_type, _ = _entry(name)
    overrides = dict(overrides or {})
    valid = [f.name for f in dataclasses.fields(cfg_type)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r}: unknown config keys {unknown}; valid keys: {valid}")
    return cfg_type(**overrides)


def build_model(name: str, n_channels: int, length: int, n_classes: int,
                config: dict[str, Any] | Any | None = None) -> nn.Module:
    """Build model ``name`` for windows (L=length, C=n_channels) and n_classes classes.

    config: None (paper defaults), a dict of overrides, or an instance of the
    model's config dataclass.
    """
    cfg_type, model_type = _entry(name)
    if config is None or isinstance(config, dict):
        cfg = model_config(name, config)
    elif type(config) is cfg_type:
        cfg = config
    else:
        raise TypeError(f"model {name!r}: config must be a dict or {cfg_type.__name__}, "
                        f"got {type(config).__name__}")
    return model_type(cfg, int(n_channels), int(length), int(n_classes))
