"""DeepConvLSTM (Ordóñez & Roggen, Sensors 16(1):115, 2016), as used in paper 000.

Four convolution layers of 64 feature maps (kernel 5 along time, ReLU,
'valid' padding, the same kernel applied to every input channel as in the
original 2-D formulation), then two LSTM layers of 128 units, each preceded by
dropout 0.5, and a dense softmax layer on the last time step.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DeepConvLSTMConfig:
    """Settings of DeepConvLSTM; defaults reproduce paper 000 / Ordóñez & Roggen 2016.

    n_conv: convolution layers (4).  n_filters: feature maps per layer (64).
    kernel_size: kernel length along time in samples (5, 'valid' padding).
    n_lstm: LSTM layers (2).  lstm_hidden: units per LSTM layer (128).
    dropout: dropout rate before each LSTM layer (0.5).
    """

    n_conv: int = 4
    n_filters: int = 64
    kernel_size: int = 5
    n_lstm: int = 2
    lstm_hidden: int = 128
    dropout: float = 0.5


class DeepConvLSTM(nn.Module):
    """DeepConvLSTM classifier.

    Input x: (B, L, C) float32; output logits (B, n_classes).
    The convolutions run along time only: (B, 1, L, C) -> (B, F, L', C) with
    L' = L - n_conv * (kernel_size - 1); the F x C maps of each time step are
    the LSTM input (F * C features per step).
    """

    def __init__(self, cfg: DeepConvLSTMConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        self.out_length = self.length - cfg.n_conv * (cfg.kernel_size - 1)
        if self.out_length < 1:
            raise ValueError(
                f"DeepConvLSTM: window length {length} is too short for {cfg.n_conv} 'valid' convolutions "
                f"of kernel {cfg.kernel_size}; need length > {cfg.n_conv * (cfg.kernel_size - 1)}")
        blocks = []
        in_maps = 1
        for _ in range(cfg.n_conv):
            blocks.append(nn.Sequential(nn.Conv2d(in_maps, cfg.n_filters, (cfg.kernel_size, 1)), nn.ReLU()))
            in_maps = cfg.n_filters
        self.convs = nn.ModuleList(blocks)
        self.dropouts = nn.ModuleList(nn.Dropout(cfg.dropout) for _ in range(cfg.n_lstm))
        lstm_in = [cfg.n_filters * self.n_channels] + [cfg.lstm_hidden] * (cfg.n_lstm - 1)
        self.lstms = nn.ModuleList(nn.LSTM(n_in, cfg.lstm_hidden, batch_first=True) for n_in in lstm_in)
        self.head: nn.Module = nn.Linear(cfg.lstm_hidden, self.n_classes)

    @property
    def conv_layers(self) -> list[nn.Module]:
        """The convolution blocks (conv + ReLU), input to output."""
        return list(self.convs)

    def replace_head(self, n_classes: int) -> None:
        """New dense output layer for ``n_classes`` classes (fresh weights)."""
        self.n_classes = int(n_classes)
        self.head = nn.Linear(self.cfg.lstm_hidden, self.n_classes)

    def fc_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the final dense layer."""
        return self.head.parameters()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> last LSTM output (B, lstm_hidden)."""
        if x.ndim != 3 or x.shape[2] != self.n_channels:
            raise ValueError(f"DeepConvLSTM expects x of shape (B, L, {self.n_channels}), got {tuple(x.shape)}")
        h = x.unsqueeze(1)  # (B, 1, L, C)
        for block in self.convs:
            h = block(h)  # (B, F, L - k + 1, C)
        b, f, t, c = h.shape
        h = h.permute(0, 2, 1, 3).reshape(b, t, f * c)  # (B, L', F*C)
        for drop, lstm in zip(self.dropouts, self.lstms):
            h, _ = lstm(drop(h))  # (B, L', H)
        return h[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        return self.head(self.features(x))
