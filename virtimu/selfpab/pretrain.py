"""Masked-reconstruction pretraining of the SelfPAB upstream (paper 002, section 3.1).

``pretrain(data, cfg, out_dir)``:

1. spectrograms of all windows (`spectrogram`, X in g), per-feature mean/std
   of the training windows (`Normalizer`, stored with the checkpoint);
2. ``val_fraction`` of the windows held out (seeded) for validation;
3. each step: ``batch_size`` random windows (random crops of
   ``pretrain.window_length`` samples when the windows are longer), altered
   (`alter_batch`), reconstructed by `SelfPABPretrainModel`, masked L1 loss
   on the altered entries, AdamW with the warm-up + linear decay schedule;
4. every ``checkpoint_every`` steps and at the end: validation loss and a
   resumable ``checkpoint.pt``; ``upstream.pt`` holds the weights with the
   lowest validation loss (the last ones without validation).

Step k draws its batch and masks from ``default_rng([seed, k])`` and seeds
torch (dropout) from (seed, k), so a resumed run continues exactly as an
uninterrupted one.  Files in ``out_dir``: ``checkpoint.pt`` (model,
optimiser, step, history), ``upstream.pt`` (encoder + head weights,
normaliser, config, channels), ``pretrain.json`` (summary: steps, losses,
throughput in spectrogram frames/s, config, provenance).  All load with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from virtimu import __version__
from virtimu.evaluation.report import write_json
from virtimu.selfpab.config import SelfPABConfig
from virtimu.selfpab.data import AccData
from virtimu.selfpab.masking import alter_batch, masked_l1
from virtimu.selfpab.model import SelfPABEncoder, SelfPABPretrainModel
from virtimu.selfpab.schedule import pretrain_lr
from virtimu.selfpab.spectrogram import Normalizer, spectrogram
from virtimu.training.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

__all__ = ["PretrainResult", "Upstream", "pretrain", "load_upstream", "reconstruction_loss",
           "CHECKPOINT_NAME", "UPSTREAM_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
UPSTREAM_NAME = "upstream.pt"
SUMMARY_NAME = "pretrain.json"
FORMAT = 1
_VAL_SEED = 1_000_000_007


@dataclass
class PretrainResult:
    """Outcome of `pretrain`.

    out_dir: run folder.  step: optimisation steps done so far.  total_steps:
    planned steps.  train_loss: mean masked L1 of the last (up to) 50 steps.
    val_loss / best_val_loss: last and lowest validation loss (None without
    validation).  frames_per_s: spectrogram frames through forward + backward
    per second of training, over all parts of a resumed run.  seconds:
    training time (forward, backward, optimiser and masking; not validation
    or checkpoints) over all parts.
    history: {'step', 'loss', 'lr'} per step and 'val' [{'step', 'loss'}].
    """

    out_dir: Path
    step: int
    total_steps: int
    train_loss: float
    val_loss: float | None
    best_val_loss: float | None
    frames_per_s: float
    seconds: float
    history: dict[str, Any] = field(default_factory=dict)


@dataclass
class Upstream:
    """A pretrained upstream loaded from ``upstream.pt``.

    encoder: `SelfPABEncoder` (eval mode).  head: reconstruction head.
    normalizer: the pretraining data's statistics.  config: `SelfPABConfig`
    it was trained with.  channels: channel names of its input (in order).
    step: pretraining steps.  info: the rest of the checkpoint's metadata.
    """

    encoder: SelfPABEncoder
    head: torch.nn.Linear
    normalizer: Normalizer
    config: SelfPABConfig
    channels: list[str]
    step: int
    info: dict[str, Any] = field(default_factory=dict)


def _crop_frames(cfg: SelfPABConfig, n_frames_data: int) -> int:
    want = cfg.spectrogram.n_frames(cfg.pretrain.window_length)
    if n_frames_data < want:
        log.warning("pretraining windows give %d spectrogram frames, fewer than the %d of "
                    "pretrain.window_length=%d; using whole windows", n_frames_data, want, cfg.pretrain.window_length)
        return n_frames_data
    return want


def _batch(S: np.ndarray, rows: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n_frames, D) random crops of the spectrograms S[rows]."""
    T = S.shape[1]
    offs = rng.integers(0, T - n_frames + 1, size=rows.size) if T > n_frames else np.zeros(rows.size, dtype=np.int64)
    return np.stack([S[r, o:o + n_frames] for r, o in zip(rows, offs)])


def _draw_rows(n: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=batch, replace=n < batch)


def reconstruction_loss(model: SelfPABPretrainModel, S: np.ndarray, cfg: SelfPABConfig, seed: int,
                        n_batches: int = 4, n_frames: int | None = None) -> float:
    """Mean masked L1 over ``n_batches`` batches of normalised spectrograms S (N, T, D), fixed masks from ``seed``.

    The model runs in eval mode without gradients; the same seed gives the
    same windows, crops and masks, so losses of different weights compare.
    """
    was = model.training
    model.eval()
    n_frames = n_frames or S.shape[1]
    losses = []
    with torch.no_grad():
        for b in range(n_batches):
            rng = np.random.default_rng([seed, b])
            rows = _draw_rows(S.shape[0], min(cfg.pretrain.batch_size, S.shape[0]), rng)
            clean = _batch(S, rows, n_frames, rng)
            altered, mask = alter_batch(clean, cfg.masking, cfg.spectrogram.n_bins, rng)
            pred = model(torch.from_numpy(altered))
            losses.append(float(masked_l1(pred, torch.from_numpy(clean), torch.from_numpy(mask))))
    model.train(was)
    return float(np.mean(losses))


def _upstream_payload(model: SelfPABPretrainModel, norm: Normalizer, cfg: SelfPABConfig, channels: list[str],
                      step: int, val_loss: float | None, provenance: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "kind": "selfpab-upstream", "encoder": model.encoder.state_dict(),
            "head": model.head.state_dict(), "normalizer": norm.to_dict(), "config": cfg.to_dict(),
            "channels": list(channels), "step": int(step), "val_loss": val_loss, "provenance": provenance,
            "virtimu_version": __version__}


def pretrain(data: AccData | np.ndarray, cfg: SelfPABConfig, out_dir: str | os.PathLike, *,
             channels: list[str] | None = None, resume: bool = False, overwrite: bool = False,
             stop_at: int | None = None, progress: bool = True,
             provenance: dict[str, Any] | None = None) -> PretrainResult:
    """Pretrain (or resume pretraining) an upstream on unlabelled accelerometer windows.

    data: `AccData` or X (N, L, C) in g at ``cfg.spectrogram.fs`` (C =
    ``cfg.spectrogram.n_axes``).  channels: names of the C columns (taken
    from AccData).  resume: continue from ``out_dir/checkpoint.pt`` (same
    architecture, masking and spectrogram; ``pretrain.steps`` may change).
    overwrite: start afresh even if a checkpoint exists.  stop_at: return
    after this step (a checkpoint is written), e.g. to split a long run.
    Raises FileExistsError when a checkpoint exists and neither resume nor
    overwrite is set.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    if isinstance(data, AccData):
        X = data.X
        channels = list(data.channels)
        provenance = {**(data.provenance or {}), **(provenance or {})}
    else:
        X = np.asarray(data, dtype=np.float32)
        provenance = dict(provenance or {})
    if X.ndim != 3 or X.shape[0] < 1:
        raise ValueError(f"pretrain: X must be (N, L, C) with N >= 1, got {X.shape}")
    channels = list(channels) if channels is not None else [f"acc_{i}" for i in range(X.shape[2])]
    if X.shape[2] != cfg.spectrogram.n_axes:
        cfg = cfg.with_n_axes(X.shape[2])
    pc = cfg.pretrain
    if pc.threads:
        torch.set_num_threads(int(pc.threads))
    if ckpt_path.exists() and not (resume or overwrite):
        raise FileExistsError(f"{ckpt_path} exists: resume it (--resume) or choose another output folder")

    S = spectrogram(X, cfg.spectrogram)  # (N, T, D)
    N, T, D = S.shape
    n_frames = _crop_frames(cfg, T)
    rng0 = np.random.default_rng([pc.seed, 17])
    n_val = int(math.floor(pc.val_fraction * N)) if N >= 10 else 0
    perm = rng0.permutation(N)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    state = load_checkpoint(ckpt_path, required=("model", "optimizer", "step", "config")) \
        if (resume and ckpt_path.exists()) else None
    if state is not None:
        stored = SelfPABConfig.from_dict(state["config"], where=str(ckpt_path))
        for part in ("spectrogram", "masking", "upstream"):
            if getattr(stored, part) != getattr(cfg, part):
                raise ValueError(f"{ckpt_path}: its {part} settings {getattr(stored, part)} differ from the "
                                 f"requested {getattr(cfg, part)}; resume with the same config")
        norm = Normalizer.from_dict(state["normalizer"])
    else:
        norm = Normalizer.fit(S[train_idx])
    S = norm(S)
    S_train, S_val = S[train_idx], S[val_idx]

    torch.manual_seed(pc.seed)
    model = SelfPABPretrainModel(D, cfg.upstream)
    opt = torch.optim.AdamW(model.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
    history: dict[str, Any] = {"step": [], "loss": [], "lr": [], "val": []}
    step, best_val = 0, None
    timing = {"train_seconds": 0.0, "frames": 0}
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        history = {k: list(v) for k, v in dict(state.get("history") or history).items()}
        best_val = state.get("best_val")
        timing = {"train_seconds": float((state.get("timing") or timing)["train_seconds"]),
                  "frames": int((state.get("timing") or timing)["frames"])}
        log.info("resuming %s at step %d of %d", ckpt_path, step, pc.steps)
    total = pc.steps
    end = total if stop_at is None else min(total, int(stop_at))

    def save(val_loss: float | None) -> None:
        nonlocal best_val
        if val_loss is None or best_val is None or val_loss < best_val:
            best_val = val_loss if val_loss is not None else best_val
            save_checkpoint(out / UPSTREAM_NAME, _upstream_payload(model, norm, cfg, channels, step, val_loss,
                                                                   provenance))
        save_checkpoint(ckpt_path, {"format": FORMAT, "kind": "selfpab-pretrain-state", "model": model.state_dict(),
                                    "optimizer": opt.state_dict(), "step": step, "history": history,
                                    "best_val": best_val, "normalizer": norm.to_dict(), "config": cfg.to_dict(),
                                    "channels": channels, "timing": timing, "virtimu_version": __version__})

    def validate() -> float | None:
        if S_val.shape[0] == 0:
            return None
        return reconstruction_loss(model, S_val, cfg, _VAL_SEED + pc.seed, pc.val_batches, n_frames)

    model.train()
    val_loss = history["val"][-1]["loss"] if history["val"] else None
    bar = tqdm(total=end - step, desc="pretrain", disable=not progress, leave=False)
    while step < end:
        t0 = time.perf_counter()
        rng = np.random.default_rng([pc.seed, step])
        torch.manual_seed(pc.seed * 1_000_003 + step)
        rows = _draw_rows(S_train.shape[0], pc.batch_size, rng)
        clean = _batch(S_train, rows, n_frames, rng)
        altered, mask = alter_batch(clean, cfg.masking, cfg.spectrogram.n_bins, rng)
        lr = pretrain_lr(step, total, pc.lr, pc.final_lr, pc.warmup_fraction)
        for g in opt.param_groups:
            g["lr"] = lr
        pred = model(torch.from_numpy(altered))
        loss = masked_l1(pred, torch.from_numpy(clean), torch.from_numpy(mask))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if pc.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), pc.grad_clip)
        opt.step()
        timing["train_seconds"] += time.perf_counter() - t0
        timing["frames"] += clean.shape[0] * clean.shape[1]
        step += 1
        history["step"].append(step)
        history["loss"].append(float(loss.detach()))
        history["lr"].append(lr)
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
        if step % pc.checkpoint_every == 0 or step == end:
            val_loss = validate()
            if val_loss is not None:
                history["val"].append({"step": step, "loss": val_loss})
            save(val_loss)
    bar.close()
    if not ckpt_path.exists():  # nothing left to train (resumed a finished run)
        save(val_loss)
    recent = history["loss"][-50:]
    train_s = timing["train_seconds"]
    result = PretrainResult(out_dir=out, step=step, total_steps=total,
                            train_loss=float(np.mean(recent)) if recent else float("nan"), val_loss=val_loss,
                            best_val_loss=best_val,
                            frames_per_s=timing["frames"] / train_s if train_s > 0 else float("nan"),
                            seconds=train_s, history=history)
    write_json(out / SUMMARY_NAME, {
        "step": step, "total_steps": total, "train_loss": result.train_loss, "val_loss": val_loss,
        "best_val_loss": best_val, "frames_per_s": result.frames_per_s, "train_seconds": train_s,
        "windows": {"train": int(train_idx.size), "val": int(val_idx.size), "samples": int(X.shape[1]),
                    "spectrogram_frames": int(T), "frames_per_batch_item": int(n_frames), "features": int(D)},
        "channels": channels, "config": cfg.to_dict(), "provenance": provenance, "virtimu_version": __version__,
        "torch_threads": torch.get_num_threads(),
    })
    return result


def load_upstream(path: str | os.PathLike) -> Upstream:
    """Read ``upstream.pt`` (or a pretraining folder holding it) with ``weights_only=True``."""
    path = Path(path)
    if path.is_dir():
        path = path / UPSTREAM_NAME
    payload = load_checkpoint(path, required=("encoder", "head", "normalizer", "config", "channels"))
    if payload.get("kind") != "selfpab-upstream":
        raise ValueError(f"{path}: not a SelfPAB upstream checkpoint (kind {payload.get('kind')!r})")
    cfg = SelfPABConfig.from_dict(payload["config"], where=str(path))
    norm = Normalizer.from_dict(payload["normalizer"])
    encoder = SelfPABEncoder(norm.dim, cfg.upstream)
    encoder.load_state_dict(payload["encoder"])
    encoder.eval()
    head = torch.nn.Linear(cfg.upstream.d_model, norm.dim)
    head.load_state_dict(payload["head"])
    info = {k: v for k, v in payload.items() if k not in ("encoder", "head", "normalizer", "config", "channels")}
    return Upstream(encoder=encoder, head=head, normalizer=norm, config=cfg, channels=list(payload["channels"]),
                    step=int(payload.get("step", 0)), info=info)
