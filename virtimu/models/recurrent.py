"""Recurrent activity-recognition models of papers 003 and 004.

- ``LSTMClassifier``: one LSTM layer of 100 units, dropout 0.5, dense 100
  ReLU, output layer (paper 004 tutorial: about 89.7 % on UCI HAR; paper 003:
  single-layer LSTM 90.91 %).
- ``StackedLSTM``: the same with two LSTM layers (paper 003 "multi-layer
  LSTM", 92.05 %; the paper does not give the depth, two is our choice).
- ``CNNLSTM``: the window is split into sub-sequences (4 x 32 for 128
  samples); the same CNN (2 x Conv1d 64 filters kernel 3, dropout 0.5,
  max-pool 2, flatten) reads each sub-sequence, an LSTM of 100 units reads
  the sequence of CNN features (paper 004, about 90.6 %; paper 003 92.37 %).
- ``ConvLSTM``: a convolutional LSTM (Shi et al. 2015) whose steps are the
  sub-sequences and whose convolutions (64 filters, kernel 3, ReLU
  activation) run along the time axis inside each sub-sequence; this is the
  1-D equivalent of the tutorial's ConvLSTM2D over (4 steps, 1 row, 32
  columns) (paper 004, about 90 %).

Sub-sequences: when ``n_subsequences`` does not divide the window length L,
the first ``L mod n_subsequences`` samples are dropped (the most recent
samples are kept), see ``split_subsequences``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from virtimu.models.cnn1d import conv_stack

logger = logging.getLogger(__name__)


def split_subsequences(x: torch.Tensor, n_subsequences: int) -> torch.Tensor:
    """Split windows into equal sub-sequences.

    x: (B, L, C) -> (B, n, L // n, C); the first ``L mod n`` samples are dropped.
    """
    b, length, c = x.shape
    sub = length // n_subsequences
    if sub < 1:
        raise ValueError(f"cannot split windows of {length} samples into {n_subsequences} sub-sequences")
    x = x[:, length - sub * n_subsequences:]
    return x.reshape(b, n_subsequences, sub, c)


def _dense_head(n_in: int, dense: int, n_classes: int) -> nn.Sequential:
    """Hidden dense layer (ReLU) + output layer: (B, n_in) -> (B, n_classes)."""
    return nn.Sequential(nn.Linear(n_in, dense), nn.ReLU(), nn.Linear(dense, n_classes))


class _DenseHeadMixin:
    """replace_head / fc_parameters for models whose head is ``_dense_head``."""

    head: nn.Sequential
    n_classes: int

    def replace_head(self, n_classes: int) -> None:
        """New output layer for ``n_classes``; the hidden dense layer is kept."""
        self.n_classes = int(n_classes)
        self.head[-1] = nn.Linear(self.head[-1].in_features, self.n_classes)

    def fc_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the dense layers (hidden + output)."""
        return self.head.parameters()


def _check_input(name: str, x: torch.Tensor, n_channels: int, length: int | None = None) -> None:
    if x.ndim != 3 or x.shape[2] != n_channels or (length is not None and x.shape[1] != length):
        want = f"(B, {length if length is not None else 'L'}, {n_channels})"
        raise ValueError(f"{name} expects x of shape {want}, got {tuple(x.shape)}")


@dataclass
class LSTMConfig:
    """Settings of the LSTM classifier; defaults follow paper 004.

    hidden: LSTM units (100).  n_layers: LSTM layers (1).
    dropout: rate after the LSTM and between stacked layers (0.5).
    dense: units of the hidden dense layer (100).
    """

    hidden: int = 100
    n_layers: int = 1
    dropout: float = 0.5
    dense: int = 100


@dataclass
class StackedLSTMConfig(LSTMConfig):
    """Stacked LSTM (paper 003 "multi-layer LSTM"); two layers is our choice."""

    n_layers: int = 2


class LSTMClassifier(_DenseHeadMixin, nn.Module):
    """LSTM over the raw window, classified from the last time step.

    x (B, L, C) -> logits (B, n_classes); any L works. No convolution layers.
    """

    def __init__(self, cfg: LSTMConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        self.lstm = nn.LSTM(self.n_channels, cfg.hidden, num_layers=cfg.n_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.n_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head: nn.Sequential = _dense_head(cfg.hidden, cfg.dense, self.n_classes)

    @property
    def conv_layers(self) -> list[nn.Module]:
        """No convolution layers: an empty list."""
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        _check_input(type(self).__name__, x, self.n_channels)
        h, _ = self.lstm(x)  # (B, L, H)
        return self.head(self.dropout(h[:, -1]))


class StackedLSTM(LSTMClassifier):
    """LSTMClassifier with ``cfg.n_layers`` (default 2) stacked LSTM layers."""

    def __init__(self, cfg: StackedLSTMConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__(cfg, n_channels, length, n_classes)


@dataclass
class CNNLSTMConfig:
    """Settings of the CNN-LSTM; defaults follow paper 004.

    n_subsequences: sub-sequences per window (4; 4 x 32 for 128 samples).
    n_conv / n_filters / kernel_size: per-sub-sequence CNN (2 x 64 filters, kernel 3, 'valid').
    conv_dropout: dropout after the convolutions (0.5).  pool: max-pool size (2).
    hidden: LSTM units (100).  dropout: after the LSTM (0.5).  dense: hidden dense units (100).
    """

    n_subsequences: int = 4
    n_conv: int = 2
    n_filters: int = 64
    kernel_size: int = 3
    conv_dropout: float = 0.5
    pool: int = 2
    hidden: int = 100
    dropout: float = 0.5
    dense: int = 100


class CNNLSTM(_DenseHeadMixin, nn.Module):
    """Time-distributed CNN over sub-sequences, then an LSTM: x (B, L, C) -> logits (B, K)."""

    def __init__(self, cfg: CNNLSTMConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        self.sub_length = self.length // cfg.n_subsequences
        if self.length % cfg.n_subsequences:
            logger.info("CNNLSTM: window length %d is not a multiple of %d sub-sequences; the first %d samples "
                        "of each window are dropped", self.length, cfg.n_subsequences,
                        self.length % cfg.n_subsequences)
        pooled = (self.sub_length - cfg.n_conv * (cfg.kernel_size - 1)) // cfg.pool
        if pooled < 1:
            raise ValueError(f"CNNLSTM: sub-sequences of {self.sub_length} samples (length {length} / "
                             f"{cfg.n_subsequences}) are too short for {cfg.n_conv} convolutions of kernel "
                             f"{cfg.kernel_size} and pooling {cfg.pool}")
        self.convs = conv_stack(self.n_channels, cfg.n_conv, cfg.n_filters, cfg.kernel_size)
        self.conv_dropout = nn.Dropout(cfg.conv_dropout)
        self.pool = nn.MaxPool1d(cfg.pool)
        self.lstm = nn.LSTM(cfg.n_filters * pooled, cfg.hidden, batch_first=True)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head: nn.Sequential = _dense_head(cfg.hidden, cfg.dense, self.n_classes)

    @property
    def conv_layers(self) -> list[nn.Module]:
        """The per-sub-sequence convolution blocks (conv + ReLU), input to output."""
        return list(self.convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        _check_input("CNNLSTM", x, self.n_channels, self.length)
        sub = split_subsequences(x, self.cfg.n_subsequences)  # (B, n, S, C)
        b, n, s, c = sub.shape
        h = sub.reshape(b * n, s, c).transpose(1, 2)  # (B*n, C, S)
        for block in self.convs:
            h = block(h)
        h = self.pool(self.conv_dropout(h))  # (B*n, F, S')
        h = h.reshape(b, n, -1)  # (B, n, F*S')
        h, _ = self.lstm(h)  # (B, n, H)
        return self.head(self.dropout(h[:, -1]))


class ConvLSTMCell1d(nn.Module):
    """Convolutional LSTM cell over 1-D feature maps (Shi et al. 2015).

    Input x_t (B, C_in, S); state (h, c) each (B, F, S - k + 1). The input
    convolution is 'valid', the recurrent one 'same' (as Keras ConvLSTM2D with
    padding='valid'); gates use the sigmoid, the cell input and output use
    ``activation`` (ReLU in paper 004, tanh in the original cell).
    """

    def __init__(self, in_channels: int, n_filters: int, kernel_size: int, activation: str = "relu") -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvLSTMCell1d: kernel_size must be odd, got {kernel_size}")
        acts = {"relu": torch.relu, "tanh": torch.tanh}
        if activation not in acts:
            raise ValueError(f"ConvLSTMCell1d: activation must be one of {sorted(acts)}, got {activation!r}")
        self.n_filters, self.kernel_size = n_filters, kernel_size
        self.act = acts[activation]
        self.input_conv = nn.Conv1d(in_channels, 4 * n_filters, kernel_size)
        self.recurrent_conv = nn.Conv1d(n_filters, 4 * n_filters, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, C_in, S), state (h, c) or None (zeros) -> new (h, c)."""
        zx = self.input_conv(x)  # (B, 4F, S')
        if state is None:
            h = zx.new_zeros(zx.shape[0], self.n_filters, zx.shape[2])
            c = torch.zeros_like(h)
        else:
            h, c = state
        z = zx + self.recurrent_conv(h)
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.act(g)
        h = torch.sigmoid(o) * self.act(c)
        return h, c


@dataclass
class ConvLSTMConfig:
    """Settings of the ConvLSTM; defaults follow paper 004.

    n_subsequences: recurrent steps per window (4).  n_filters: ConvLSTM filters (64).
    kernel_size: kernel along time inside a sub-sequence (3).  activation: 'relu' | 'tanh'.
    dropout: after the ConvLSTM (0.5).  dense: hidden dense units (100).
    """

    n_subsequences: int = 4
    n_filters: int = 64
    kernel_size: int = 3
    activation: str = "relu"
    dropout: float = 0.5
    dense: int = 100


class ConvLSTM(_DenseHeadMixin, nn.Module):
    """ConvLSTM over sub-sequences, final hidden map flattened: x (B, L, C) -> logits (B, K)."""

    def __init__(self, cfg: ConvLSTMConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        self.sub_length = self.length // cfg.n_subsequences
        if self.length % cfg.n_subsequences:
            logger.info("ConvLSTM: window length %d is not a multiple of %d sub-sequences; the first %d samples "
                        "of each window are dropped", self.length, cfg.n_subsequences,
                        self.length % cfg.n_subsequences)
        out_len = self.sub_length - cfg.kernel_size + 1
        if out_len < 1:
            raise ValueError(f"ConvLSTM: sub-sequences of {self.sub_length} samples (length {length} / "
                             f"{cfg.n_subsequences}) are shorter than the kernel {cfg.kernel_size}")
        self.cell = ConvLSTMCell1d(self.n_channels, cfg.n_filters, cfg.kernel_size, cfg.activation)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head: nn.Sequential = _dense_head(cfg.n_filters * out_len, cfg.dense, self.n_classes)

    @property
    def conv_layers(self) -> list[nn.Module]:
        """The ConvLSTM cell (its input and recurrent convolutions) as the one convolution block."""
        return [self.cell]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        _check_input("ConvLSTM", x, self.n_channels, self.length)
        sub = split_subsequences(x, self.cfg.n_subsequences).transpose(2, 3)  # (B, n, C, S)
        state = None
        for t in range(sub.shape[1]):
            state = self.cell(sub[:, t], state)
        h = state[0]  # (B, F, S - k + 1)
        return self.head(self.dropout(h.flatten(1)))
