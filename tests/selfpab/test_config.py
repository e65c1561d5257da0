"""SelfPAB configs: presets, YAML, overrides and errors."""
from __future__ import annotations

import pytest

from virtimu.selfpab.config import SelfPABConfig, apply_overrides, load_config, preset_names


def test_paper_preset_equals_defaults_and_paper_values():
    cfg = load_config("paper")
    assert cfg == SelfPABConfig()
    assert cfg.spectrogram.n_features == 156
    assert (cfg.upstream.d_model, cfg.upstream.n_layers, cfg.upstream.n_heads, cfg.upstream.d_ff) == (1500, 4, 6, 2048)
    assert (cfg.masking.p_t, cfg.masking.w_t, cfg.masking.p_f, cfg.masking.w_f) == (0.15, 3, 0.2, 3)
    assert (cfg.pretrain.lr, cfg.pretrain.final_lr, cfg.pretrain.warmup_fraction) == (1e-4, 1e-6, 0.07)
    assert (cfg.pretrain.weight_decay, cfg.pretrain.batch_size) == (1e-5, 64)
    assert (cfg.downstream.hidden, cfg.downstream.steps, cfg.downstream.unfreeze_step) == (1028, 2000, 1500)
    assert (cfg.downstream.batch_size, cfg.downstream.lr, cfg.downstream.decay) == (32, 1e-4, 0.1)


def test_cpu_preset_is_smaller():
    assert {"paper", "cpu"} <= set(preset_names())
    cpu = load_config("cpu")
    assert cpu.upstream.d_model < 1500 and cpu.pretrain.window_length < 15000
    assert cpu.masking == SelfPABConfig().masking  # same alteration as the paper


def test_overrides_and_yaml_file(tmp_path):
    cfg = apply_overrides(load_config("cpu"), ["pretrain.steps=7", "upstream.dropout=0", "pretrain.grad_clip=null"])
    assert cfg.pretrain.steps == 7 and cfg.upstream.dropout == 0.0 and cfg.pretrain.grad_clip is None
    path = tmp_path / "c.yaml"
    path.write_text("upstream:\n  d_model: 32\n  n_heads: 2\n")
    got = load_config(path)
    assert got.upstream.d_model == 32 and got.pretrain == SelfPABConfig().pretrain
    assert SelfPABConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad, match", [
    (["steps=3"], "section.key"),
    (["pretrian.steps=3"], "unknown section"),
    (["pretrain.stepz=3"], "unknown key"),
    (["upstream.d_model=100"], "divisible"),
    (["masking.p_zero=0.95"], "p_zero"),
    (["pretrain.steps=2.5"], "cannot read"),
])
def test_bad_overrides_name_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(load_config("paper"), bad)


def test_unknown_preset():
    with pytest.raises(FileNotFoundError, match="preset"):
        load_config("gpu-huge")
