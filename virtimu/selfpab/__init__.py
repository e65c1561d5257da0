"""SelfPAB: masked-spectrogram pretraining of a transformer encoder on accelerometer data (paper 002).

Modules, in the order data flows through them:

- `config`: `SelfPABConfig` (spectrogram, masking, upstream, pretrain,
  downstream sections; presets ``paper`` and ``cpu`` in ``configs/``);
- `data`: accelerometer windows from a store, converted to g (`AccData`);
- `spectrogram`: stacked per-axis STFT log-magnitude spectrograms, `Normalizer`;
- `masking`: time alteration / frequency masking and the masked L1 loss;
- `schedule`: warm-up + linear decay (pretraining), exponential decay (downstream);
- `model`: `SelfPABEncoder`, `SelfPABPretrainModel`, `SelfPABClassifier`;
- `pretrain`: resumable pretraining, `load_upstream`;
- `downstream`: `SelfPABDownstream` learner (fit / predict / save / load);
- `run`: splits, label budgets, one evaluated downstream run;
- `cli`: ``virtimu pretrain selfpab`` and ``virtimu selfpab-downstream``.
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public names and the module each lives in (imported on first use, so that
#: ``virtimu --help`` does not pay for torch through ``virtimu.selfpab.cli``).
_EXPORTS = {
    "SelfPABConfig": "config", "apply_overrides": "config", "load_config": "config",
    "AccData": "data", "from_recordings": "data", "from_window_set": "data", "load_acc_data": "data",
    "SelfPABDownstream": "downstream", "Upstream": "pretrain", "load_upstream": "pretrain",
    "Normalizer": "spectrogram",
}
# The functions `pretrain.pretrain` and `spectrogram.spectrogram` share their
# modules' names: import them from the modules.

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"virtimu.selfpab.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'virtimu.selfpab' has no attribute {name!r}")
