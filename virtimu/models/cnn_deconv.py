"""CNN with a deconvolution (denoising autoencoder) penalty (paper 001, section 3.1).

Paper 001 trains a convolutional encoder with fully connected classification
layers jointly with a deconvolutional decoder that reconstructs the input
from a noise-corrupted copy (a denoising autoencoder), minimising
``cross-entropy + lambda * reconstruction penalty``; transfer to real data
fine-tunes only the fully connected layers. The paper does not publish
layer sizes, the noise level or lambda, so the defaults below are our
choices: three stride-2 Conv1d layers (64, 64, 128 filters, kernel 5), a
mirrored ConvTranspose1d decoder, FC layers 128 -> n_classes with dropout 0.5,
Gaussian corruption of std 0.1 (in units of the normalised input) and
lambda = 0.1 on the mean squared reconstruction error.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class CNNDeconvConfig:
    """Settings of the CNN + deconvolution penalty model (paper 001; sizes are our choice).

    filters: output channels of each encoder Conv1d (stride ``stride``, kernel ``kernel_size``).
    fc_hidden: units of the hidden FC layer (0 = a single linear output layer).
    dropout: rate before the FC layers.
    noise_std: std of the Gaussian corruption of the input during training
        (input assumed normalised to unit variance).
    recon_weight: lambda, weight of the MSE reconstruction penalty.
    """

    filters: list[int] = field(default_factory=lambda: [64, 64, 128])
    kernel_size: int = 5
    stride: int = 2
    fc_hidden: int = 128
    dropout: float = 0.5
    noise_std: float = 0.1
    recon_weight: float = 0.1


class CNNDeconv(nn.Module):
    """CNN classifier with a deconvolution decoder: x (B, L, C) -> logits (B, n_classes).

    ``forward`` classifies the clean input. ``training_loss`` corrupts the
    input with Gaussian noise (in training mode), encodes it once, classifies
    the code with the FC layers and reconstructs the clean input from it.
    """

    def __init__(self, cfg: CNNDeconvConfig, n_channels: int, length: int, n_classes: int) -> None:
        super().__init__()
        if not cfg.filters:
            raise ValueError("CNNDeconv: cfg.filters must name at least one convolution layer")
        if cfg.kernel_size % 2 != 1:
            raise ValueError(f"CNNDeconv: kernel_size must be odd, got {cfg.kernel_size}")
        self.cfg = cfg
        self.n_channels, self.length, self.n_classes = int(n_channels), int(length), int(n_classes)
        pad = cfg.kernel_size // 2
        blocks, lengths = [], [self.length]
        in_ch = self.n_channels
        for out_ch in cfg.filters:
            blocks.append(nn.Sequential(nn.Conv1d(in_ch, out_ch, cfg.kernel_size, cfg.stride, pad), nn.ReLU()))
            lengths.append((lengths[-1] + 2 * pad - cfg.kernel_size) // cfg.stride + 1)
            in_ch = out_ch
        self.convs = nn.ModuleList(blocks)
        self._lengths = lengths  # sequence length before each encoder layer, then the code length
        dec_channels = list(cfg.filters[::-1][1:]) + [self.n_channels]
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose1d(c_in, c_out, cfg.kernel_size, cfg.stride, pad)
            for c_in, c_out in zip(cfg.filters[::-1], dec_channels))
        self.dropout = nn.Dropout(cfg.dropout)
        self.n_features = cfg.filters[-1] * lengths[-1]
        self.head: nn.Module = self._build_head(self.n_classes)

    def _build_head(self, n_classes: int) -> nn.Module:
        if self.cfg.fc_hidden > 0:
            return nn.Sequential(nn.Linear(self.n_features, self.cfg.fc_hidden), nn.ReLU(),
                                 nn.Dropout(self.cfg.dropout), nn.Linear(self.cfg.fc_hidden, n_classes))
        return nn.Sequential(nn.Linear(self.n_features, n_classes))

    @property
    def conv_layers(self) -> list[nn.Module]:
        """The encoder convolution blocks (conv + ReLU), input to output."""
        return list(self.convs)

    def replace_head(self, n_classes: int) -> None:
        """New output layer for ``n_classes``; the hidden FC layer (if any) is kept."""
        self.n_classes = int(n_classes)
        in_features = self.cfg.fc_hidden if self.cfg.fc_hidden > 0 else self.n_features
        self.head[-1] = nn.Linear(in_features, self.n_classes)

    def fc_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the fully connected layers (what paper 001 fine-tunes)."""
        return self.head.parameters()

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[1:] != (self.length, self.n_channels):
            raise ValueError(f"CNNDeconv expects x of shape (B, {self.length}, {self.n_channels}), "
                             f"got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> code (B, filters[-1], L_code)."""
        self._check(x)
        h = x.transpose(1, 2)  # (B, C, L)
        for block in self.convs:
            h = block(h)
        return h

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """code (B, filters[-1], L_code) -> reconstruction (B, L, C) (linear output)."""
        h = code
        n = len(self.deconvs)
        for i, deconv in enumerate(self.deconvs):
            target = self._lengths[n - 1 - i]
            h = deconv(h, output_size=[target])
            if i < n - 1:
                h = torch.relu(h)
        return h.transpose(1, 2)

    def classify(self, code: torch.Tensor) -> torch.Tensor:
        """code (B, F, L_code) -> logits (B, n_classes)."""
        return self.head(self.dropout(code.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> logits (B, n_classes)."""
        return self.classify(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Autoencoder output for x (B, L, C) without corruption, (B, L, C)."""
        return self.decode(self.encode(x))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor,
                      criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint objective ``criterion(logits, y) + recon_weight * MSE(recon, x)``.

        In training mode x is corrupted with N(0, noise_std^2) noise (torch's
        global generator: seed it for reproducibility) before encoding; the
        reconstruction target is always the clean x. Returns (loss, logits).
        """
        noisy = x
        if self.training and self.cfg.noise_std > 0:
            noisy = x + self.cfg.noise_std * torch.randn_like(x)
        code = self.encode(noisy)
        logits = self.classify(code)
        loss = criterion(logits, y)
        if self.cfg.recon_weight != 0:
            recon = self.decode(code)
            loss = loss + self.cfg.recon_weight * torch.mean((recon - x) ** 2)
        return loss, logits
