"""One-dimensional CNN for raw inertial windows (papers 003 and 004).

Two Conv1d layers of 64 filters (kernel 3, ReLU, 'valid' padding), dropout
0.5, max-pooling by 2, flatten, a dense layer of 100 ReLU units and the
output layer (settings of the paper-004 tutorial; paper 003 reports 91.52 %
accuracy for its 1D-CNN on UCI HAR).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


def conv_stack(in_channels: int, n_conv: int, n_filters: int, kernel_size: int) -> nn.ModuleList:
    """``n_conv`` blocks of (Conv1d without padding, ReLU), the first taking ``in_channels``."""
    blocks = []
    for _ in range(n_conv):
        blocks.append(nn.Sequential(nn.Conv1d(in_channels, n_filters, kernel_size), nn.ReLU()))
        in_channels = n_filters
    return nn.ModuleList(blocks)


@dataclass
class CNN1DConfig:
    """Settings of the 1D-CNN; defaults follow paper 004.

    n_conv: convolution layers (2).  n_filters: filters per layer (64).
    kernel_size: kernel length in samples (3, 'valid' padding).
    dropout: rate after the convolutions (0.5).  pool: max-pool size (2).
    dense: units of the hidden dense layer (100).
    """

    n_conv: int = 2
    n_filters: int = 64
    kernel_size: int = 3
    dropout: float = 0.5
    pool: int = 2
    dense: int = 100


class CNN1D(nn.Module):
    """1D-CNN classifier: x (B, L, C) -> logits (B, n_classes).

    The flattened feature size depends on L, so the model is built for one
    window length. ``head`` is the dense block (hidden dense + output).
    """

    def __init__(self, cfg: CNN1DConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        conv_len = self.length - cfg.n_conv * (cfg.kernel_size - 1)
        self.out_length = conv_len // cfg.pool
        if self.out_length < 1:
            raise ValueError(f"CNN1D: window length {length} too short for {cfg.n_conv} convolutions of kernel "
                             f"{cfg.kernel_size} and pooling {cfg.pool}")
        self.convs = conv_stack(self.n_channels, cfg.n_conv, cfg.n_filters, cfg.kernel_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.pool = nn.MaxPool1d(cfg.pool)
        self.n_features = cfg.n_filters * self.out_length
        self.head: nn.Module = nn.Sequential(nn.Linear(self.n_features, cfg.dense), nn.ReLU(),
                                             nn.Linear(cfg.dense, self.n_classes))

    @property
    def conv_layers(self) -> list[nn.Module]:
        """The convolution blocks (conv + ReLU), input to output."""
        return list(self.convs)

    def replace_head(self, n_classes: int) -> None:
        """New output layer for ``n_classes``; the hidden dense layer is kept."""
        self.n_classes = int(n_classes)
        self.head[-1] = nn.Linear(self.cfg.dense, self.n_classes)

    def fc_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the dense layers (hidden + output)."""
        return self.head.parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        if x.ndim != 3 or x.shape[1:] != (self.length, self.n_channels):
            raise ValueError(f"CNN1D expects x of shape (B, {self.length}, {self.n_channels}), got {tuple(x.shape)}")
        h = x.transpose(1, 2)  # (B, C, L)
        for block in self.convs:
            h = block(h)  # (B, F, L - k + 1)
        h = self.pool(self.dropout(h))  # (B, F, L'')
        return self.head(h.flatten(1))
