"""SelfPAB networks (paper 002, sections 3.1.3 and 3.2).

- `SelfPABEncoder` (the upstream): linear projection of each spectrogram
  frame (D -> d_model), plus sinusoidal positional encoding, dropout, then
  ``n_layers`` post-norm transformer encoder layers (multi-head
  self-attention + feed-forward, each with a residual connection and layer
  normalisation).  ``forward`` returns every layer's output.
- `SelfPABPretrainModel`: the encoder plus the prediction head, one linear
  layer d_model -> D that reconstructs the unaltered spectrogram (not used
  downstream).
- `SelfPABClassifier`: the downstream model: a learned weighted sum of the
  encoder layers' outputs (softmax-normalised scalars, one per layer, as in
  TERA / s3prl; the paper writes ``F = sum_l w_l F_l``) feeding an MLP with
  one ReLU hidden layer (1028 units in the paper) applied to every frame.

Shapes: spectrogram input (B, T, D); layer outputs (B, T, d_model);
classifier logits (B, T, K).
"""
from __future__ import annotations

import torch
from torch import nn

from virtimu.selfpab.config import UpstreamConfig

__all__ = ["sinusoidal_encoding", "SelfPABEncoder", "SelfPABPretrainModel", "SelfPABClassifier", "count_parameters"]


def sinusoidal_encoding(n_positions: int, d_model: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_positions, d_model) Vaswani et al. encoding: sin at even, cos at odd dimensions.

    ``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))``.
    """
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, i / d_model)
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


class SelfPABEncoder(nn.Module):
    """Upstream transformer encoder.

    d_input: spectrogram features per frame D (paper 156).  cfg: sizes.
    ``forward(x (B, T, D)) -> [ (B, T, d_model) ] * n_layers``.
    """

    def __init__(self, d_input: int, cfg: UpstreamConfig) -> None:
        super().__init__()
        self.d_input = int(d_input)
        self.cfg = cfg
        self.input_proj = nn.Linear(self.d_input, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=cfg.dropout,
                                       activation=cfg.activation, batch_first=True, norm_first=False)
            for _ in range(cfg.n_layers)
        ])
        self._pe = torch.zeros(0, cfg.d_model)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def positional(self, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(n, d_model) positional encoding (cached, grown on demand)."""
        if self._pe.shape[0] < n:
            self._pe = sinusoidal_encoding(max(n, 2 * self._pe.shape[0]), self.cfg.d_model)
        return self._pe[:n].to(device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 3 or x.shape[-1] != self.d_input:
            raise ValueError(f"SelfPABEncoder: expected (B, T, {self.d_input}), got {tuple(x.shape)}")
        h = self.input_proj(x) + self.positional(x.shape[1], x.device, x.dtype)[None]
        h = self.dropout(h)
        outs = []
        for layer in self.layers:
            h = layer(h)
            outs.append(h)
        return outs


class SelfPABPretrainModel(nn.Module):
    """Encoder + reconstruction head: ``forward(x (B, T, D)) -> (B, T, D)``."""

    def __init__(self, d_input: int, cfg: UpstreamConfig) -> None:
        super().__init__()
        self.encoder = SelfPABEncoder(d_input, cfg)
        self.head = nn.Linear(cfg.d_model, d_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)[-1])


class SelfPABClassifier(nn.Module):
    """Weighted sum of the encoder's layer outputs -> per-frame MLP.

    encoder: a (pretrained or fresh) `SelfPABEncoder`.  n_classes: K.
    hidden: MLP hidden units (0 = a single linear layer).  dropout: before
    the output layer.  ``forward(x (B, T, D)) -> logits (B, T, K)``.
    """

    def __init__(self, encoder: SelfPABEncoder, n_classes: int, hidden: int = 1028, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.layer_logits = nn.Parameter(torch.zeros(encoder.n_layers))
        d = encoder.cfg.d_model
        if hidden > 0:
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        else:
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(d, n_classes))
        self.upstream_trainable = True

    def layer_weights(self) -> torch.Tensor:
        """(n_layers,) softmax weights of the layer outputs."""
        return torch.softmax(self.layer_logits, dim=0)

    def set_upstream_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) the encoder; a frozen encoder also runs without dropout."""
        self.upstream_trainable = bool(trainable)
        self.encoder.requires_grad_(self.upstream_trainable)
        self.encoder.train(self.training and self.upstream_trainable)

    def train(self, mode: bool = True) -> SelfPABClassifier:
        super().train(mode)
        self.encoder.train(mode and self.upstream_trainable)
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) weighted sum of the layer outputs."""
        outs = torch.stack(self.encoder(x), dim=0)  # (L, B, T, d)
        return torch.einsum("l,lbtd->btd", self.layer_weights(), outs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(x))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable and frozen parameters."""
    return int(sum(p.numel() for p in module.parameters()))
