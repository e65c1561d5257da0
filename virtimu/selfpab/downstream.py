"""SelfPAB downstream activity recognition (paper 002, sections 3.2 and 4.2.2).

`SelfPABDownstream` is a learner over accelerometer windows X (N, L, C) in g:

- features: the stacked spectrogram (T frames per window), normalised with
  the upstream's statistics (paper 002) or, without an upstream, with the
  training windows' statistics;
- model: `SelfPABClassifier` (weighted sum of the encoder's layer outputs ->
  MLP, one prediction per spectrogram frame);
- labels per frame: with per-sample labels ``y_samples`` (N, L) each frame
  takes the majority label of its ``frame`` samples (null frames are
  ignored by the loss); with one label per window (a window set) every frame
  of the window takes the window label;
- training: ``steps`` steps of ``batch_size`` random windows, Adam with
  exponential decay (`downstream_lr`), frame-wise cross-entropy; a
  pretrained upstream is frozen until ``unfreeze_step`` and then fine-tuned
  (paper: 1500 of 2000); without pretraining the whole network trains from
  step 0 (the paper's "Spectrograms + TE" setting);
- predictions: per frame (`predict_frame_proba`), per window
  (``aggregate='mean_logits'``: argmax of the mean frame logits;
  ``'majority'``: most frequent frame prediction) and per sample
  (`predict_samples`: the class probabilities of all frames covering a
  sample are averaged and the argmax taken, paper 002's unfolding of its
  1 s / 0.5 s predictions back to 50 Hz).

``save(path)`` / ``load(path)`` write and read one ``weights_only``
checkpoint with the weights, normaliser, config, label map and channels.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from virtimu import __version__
from virtimu.selfpab.config import SelfPABConfig
from virtimu.selfpab.model import SelfPABClassifier, SelfPABEncoder
from virtimu.selfpab.pretrain import Upstream
from virtimu.selfpab.schedule import downstream_lr
from virtimu.selfpab.spectrogram import Normalizer, spectrogram
from virtimu.training.checkpoint import load_checkpoint, save_checkpoint
from virtimu.types import NULL_LABEL

log = logging.getLogger(__name__)

__all__ = ["SelfPABDownstream", "frame_labels", "samples_from_frames", "IGNORE"]

#: Frame target ignored by the loss (null or unknown frames).
IGNORE = -100
FORMAT = 1


def frame_labels(y_samples: np.ndarray, n_frames: int, frame: int, hop: int) -> np.ndarray:
    """Majority label of each spectrogram frame's samples.

    y_samples: (N, L) int codes.  Returns (N, T) int64; ties go to the lowest code.
    """
    y_samples = np.asarray(y_samples, dtype=np.int64)
    starts = np.arange(n_frames) * hop
    idx = starts[:, None] + np.arange(frame)[None, :]  # (T, frame)
    win = y_samples[:, idx]  # (N, T, frame)
    codes = np.unique(win)
    counts = np.stack([(win == c).sum(axis=2) for c in codes], axis=-1)  # (N, T, K)
    return codes[np.argmax(counts, axis=-1)].astype(np.int64)


def samples_from_frames(frame_proba: np.ndarray, n_samples: int, frame: int, hop: int) -> np.ndarray:
    """Per-sample class probabilities: the mean over all frames covering each sample.

    frame_proba: (N, T, K).  Returns (N, n_samples, K); samples no frame
    covers (a tail shorter than a hop) take the last frame's probabilities.
    """
    frame_proba = np.asarray(frame_proba, dtype=np.float64)
    N, T, K = frame_proba.shape
    acc = np.zeros((N, n_samples + 1, K))
    for t in range(T):  # difference array: add on [start, stop)
        s, e = t * hop, min(t * hop + frame, n_samples)
        acc[:, s] += frame_proba[:, t]
        acc[:, e] -= frame_proba[:, t]
    cover = np.zeros(n_samples + 1)
    for t in range(T):
        s, e = t * hop, min(t * hop + frame, n_samples)
        cover[s] += 1
        cover[e] -= 1
    total = np.cumsum(acc, axis=1)[:, :n_samples]
    n = np.cumsum(cover)[:n_samples]
    out = np.empty((N, n_samples, K))
    ok = n > 0
    out[:, ok] = total[:, ok] / n[ok][None, :, None]
    if not np.all(ok):
        out[:, ~ok] = frame_proba[:, -1][:, None, :]
    return out


class SelfPABDownstream:
    """Per-frame activity classifier on a (pretrained or fresh) SelfPAB upstream.

    cfg: `SelfPABConfig` (its ``downstream`` section drives training; the
    ``upstream`` / ``spectrogram`` sections are taken from ``upstream`` when
    one is given).  upstream: a loaded `Upstream` or None (train from
    scratch).  channels: names of the input columns (checked against the
    upstream's when both are known: same number of axes required, names may
    differ, e.g. a virtual back sensor vs a real one).

    After `fit`: ``classes_`` (K,) label codes, ``label_map``, ``history``
    ({'step', 'loss', 'lr'} and 'unfrozen_at'), ``train_seconds``.
    """

    def __init__(self, cfg: SelfPABConfig | None = None, upstream: Upstream | None = None,
                 channels: list[str] | None = None, label_map: dict[int, str] | None = None) -> None:
        cfg = cfg or SelfPABConfig()
        if upstream is not None:
            cfg = SelfPABConfig(spectrogram=upstream.config.spectrogram, masking=upstream.config.masking,
                                upstream=upstream.config.upstream, pretrain=upstream.config.pretrain,
                                downstream=cfg.downstream)
            if channels is not None and len(channels) != len(upstream.channels):
                raise ValueError(f"downstream input has {len(channels)} channels {channels}; the upstream was "
                                 f"pretrained on {len(upstream.channels)}: {upstream.channels}")
        self.cfg = cfg
        self.upstream = upstream
        self.pretrained = upstream is not None
        self.channels = list(channels) if channels is not None else None
        self.label_map = dict(label_map or {})
        self.classes_: np.ndarray | None = None
        self.model: SelfPABClassifier | None = None
        self.normalizer: Normalizer | None = upstream.normalizer if upstream is not None else None
        self.history: dict[str, Any] = {}
        self.train_seconds = float("nan")
        self.provenance: dict[str, Any] = {}

    # ----------------------------------------------------------------- features

    def _features(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise ValueError(f"SelfPABDownstream: X must be (N, L, C) in g, got shape {X.shape}")
        spec_cfg = self.cfg.spectrogram
        if X.shape[2] != spec_cfg.n_axes:
            if self.pretrained:
                raise ValueError(f"SelfPABDownstream: X has {X.shape[2]} axes, the upstream takes {spec_cfg.n_axes}")
            self.cfg = self.cfg.with_n_axes(X.shape[2])
        return spectrogram(X, self.cfg.spectrogram)

    def _build(self, d_input: int, n_classes: int) -> None:
        dc = self.cfg.downstream
        torch.manual_seed(dc.seed)
        if self.upstream is not None:
            encoder = SelfPABEncoder(d_input, self.cfg.upstream)
            encoder.load_state_dict(self.upstream.encoder.state_dict())
        else:
            encoder = SelfPABEncoder(d_input, self.cfg.upstream)
        self.model = SelfPABClassifier(encoder, n_classes, hidden=dc.hidden, dropout=dc.dropout)

    # ----------------------------------------------------------------- training

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            y_samples: np.ndarray | None = None, progress: bool = False) -> SelfPABDownstream:
        """Train on windows X (N, L, C) in g with window labels y (N,) and optional per-sample labels (N, L).

        Windows whose label is ``NULL_LABEL`` (and null frames) do not count
        in the loss.  groups is accepted for the learner interface and unused.
        """
        dc = self.cfg.downstream
        if dc.threads:
            torch.set_num_threads(int(dc.threads))
        y = np.asarray(y, dtype=np.int64)
        X = np.asarray(X, dtype=np.float32)
        if y.shape != (X.shape[0],):
            raise ValueError(f"SelfPABDownstream.fit: y has shape {y.shape}, expected ({X.shape[0]},)")
        S = self._features(X)  # (N, T, D)
        N, T, D = S.shape
        if y_samples is not None:
            codes = frame_labels(y_samples, T, self.cfg.spectrogram.frame, self.cfg.spectrogram.hop)
        else:
            codes = np.repeat(y[:, None], T, axis=1)
        present = np.unique(codes[codes != NULL_LABEL])
        if present.size < 2:
            raise ValueError(f"SelfPABDownstream.fit: need at least 2 non-null classes, got {present.tolist()}")
        self.classes_ = present.astype(np.int64)
        target = np.full(codes.shape, IGNORE, dtype=np.int64)
        for k, c in enumerate(self.classes_):
            target[codes == c] = k
        usable = np.flatnonzero(np.any(target != IGNORE, axis=1))
        if self.normalizer is None:
            self.normalizer = Normalizer.fit(S[usable])
        S = self.normalizer(S)
        self._build(D, int(self.classes_.size))
        model = self.model
        assert model is not None
        pretrained_frozen = self.pretrained and dc.unfreeze_step > 0
        model.set_upstream_trainable(not pretrained_frozen)
        opt = torch.optim.Adam(model.parameters(), lr=dc.lr)
        loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
        hist: dict[str, Any] = {"step": [], "loss": [], "lr": [], "unfrozen_at": None if pretrained_frozen else 0}
        model.train()
        t0 = time.perf_counter()
        S_t, target_t = torch.from_numpy(S), torch.from_numpy(target)
        for step in tqdm(range(dc.steps), desc="downstream", disable=not progress, leave=False):
            if pretrained_frozen and step == dc.unfreeze_step:
                model.set_upstream_trainable(True)
                hist["unfrozen_at"] = step
            rng = np.random.default_rng([dc.seed, step])
            torch.manual_seed(dc.seed * 1_000_003 + step)
            rows = torch.from_numpy(rng.choice(usable, size=dc.batch_size, replace=usable.size < dc.batch_size))
            lr = downstream_lr(step, dc.steps, dc.lr, dc.decay)
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(S_t[rows])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), target_t[rows].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            hist["step"].append(step + 1)
            hist["loss"].append(float(loss.detach()))
            hist["lr"].append(lr)
        self.train_seconds = time.perf_counter() - t0
        self.history = hist
        model.eval()
        return self

    # ----------------------------------------------------------------- prediction

    def _require_fit(self) -> SelfPABClassifier:
        if self.model is None or self.classes_ is None or self.normalizer is None:
            raise RuntimeError("SelfPABDownstream: call fit (or load) first")
        return self.model

    def frame_logits(self, X: np.ndarray) -> np.ndarray:
        """(N, T, K) logits per spectrogram frame of windows X (N, L, C) in g."""
        model = self._require_fit()
        S = self.normalizer(self._features(X))
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, S.shape[0], self.cfg.downstream.eval_batch_size):
                out.append(model(torch.from_numpy(S[i:i + self.cfg.downstream.eval_batch_size])).numpy())
        return np.concatenate(out) if out else np.zeros((0, 0, int(self.classes_.size)), np.float32)

    def predict_frame_proba(self, X: np.ndarray) -> np.ndarray:
        """(N, T, K) class probabilities per frame."""
        return _softmax(self.frame_logits(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(N, K) window class probabilities (softmax of the mean frame logits, or frame-vote shares)."""
        logits = self.frame_logits(X)
        if self.cfg.downstream.aggregate == "majority":
            votes = np.argmax(logits, axis=-1)
            K = logits.shape[-1]
            return np.stack([(votes == k).mean(axis=1) for k in range(K)], axis=1)
        return _softmax(logits.mean(axis=1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) predicted label codes, one per window."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_samples(self, X: np.ndarray) -> np.ndarray:
        """(N, L) predicted label codes per sample (frame probabilities averaged over overlapping frames)."""
        proba = self.predict_frame_proba(X)
        L = np.asarray(X).shape[1]
        per = samples_from_frames(proba, L, self.cfg.spectrogram.frame, self.cfg.spectrogram.hop)
        return self.classes_[np.argmax(per, axis=-1)]

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained classifier (weights_only checkpoint)."""
        model = self._require_fit()
        return save_checkpoint(path, {
            "format": FORMAT, "kind": "selfpab-downstream", "model": model.state_dict(),
            "classes": self.classes_, "label_map": {int(k): str(v) for k, v in self.label_map.items()},
            "normalizer": self.normalizer.to_dict(), "config": self.cfg.to_dict(), "pretrained": self.pretrained,
            "channels": self.channels, "d_input": int(self.normalizer.dim), "history": self.history,
            "train_seconds": self.train_seconds, "provenance": self.provenance, "virtimu_version": __version__,
        })

    @classmethod
    def load(cls, path: str | os.PathLike) -> SelfPABDownstream:
        """Read a checkpoint written by `save` (``torch.load(weights_only=True)``)."""
        payload = load_checkpoint(path, required=("model", "classes", "normalizer", "config", "d_input"))
        if payload.get("kind") != "selfpab-downstream":
            raise ValueError(f"{path}: not a SelfPAB downstream checkpoint (kind {payload.get('kind')!r})")
        cfg = SelfPABConfig.from_dict(payload["config"], where=str(path))
        self = cls(cfg, None, channels=payload.get("channels"),
                   label_map={int(k): v for k, v in (payload.get("label_map") or {}).items()})
        self.pretrained = bool(payload.get("pretrained"))
        self.classes_ = np.asarray(payload["classes"], dtype=np.int64)
        self.normalizer = Normalizer.from_dict(payload["normalizer"])
        encoder = SelfPABEncoder(int(payload["d_input"]), cfg.upstream)
        self.model = SelfPABClassifier(encoder, int(self.classes_.size), hidden=cfg.downstream.hidden,
                                       dropout=cfg.downstream.dropout)
        self.model.load_state_dict(payload["model"])
        self.model.eval()
        self.history = dict(payload.get("history") or {})
        self.train_seconds = float(payload.get("train_seconds") or float("nan"))
        self.provenance = dict(payload.get("provenance") or {})
        return self


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
