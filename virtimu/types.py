"""Core data types shared by synthetic and real data.

`Motion` is a pose sequence (AMASS layout), `Recording` is one continuous
multi-channel IMU signal with labels and provenance: synthetic and real
datasets produce the same `Recording`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Label code meaning "no label / null class".  Always explicit, never NaN.
NULL_LABEL = 0


@dataclass
class Motion:
    """A pose sequence in the AMASS convention (world z up).

    poses: (T, J, 3) axis-angle, joint order of ``joint_names``
        (root orientation first).
    trans: (T, 3) root translation in metres (world frame).
    betas: (B,) shape coefficients.
    fps: frame rate in Hz.
    joint_names: names of the J joints in ``poses``.
    gender: 'neutral' | 'male' | 'female'.
    model_type: body model the parameters were fitted with
        ('smpl', 'smplh', 'smplx').
    name: sequence name (e.g. 'CMU/01/01_01_poses').
    provenance: free-form facts about the source (file, sub-dataset, subject ...).
    labels: optional (T,) integer label codes per frame.
    label_map: optional {code: name}.
    """

    poses: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    fps: float
    joint_names: list[str]
    gender: str = "neutral"
    model_type: str = "smplh"
    name: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    labels: np.ndarray | None = None
    label_map: dict[int, str] | None = None

    @property
    def n_frames(self) -> int:
        return int(self.poses.shape[0])

    @property
    def duration(self) -> float:
        """Duration in seconds ((T - 1) / fps)."""
        return max(self.n_frames - 1, 0) / float(self.fps)


@dataclass
class Recording:
    """One continuous IMU recording (synthetic or real).

    signals: (T, C) float32 in SI units (see ``units``).
    channels: C explicit names, ``site/signal_axis`` (e.g. 'left_wrist/acc_x').
    units: C unit strings ('m/s^2', 'rad/s', '1', 'uT').
    fs: sampling rate in Hz.
    labels: optional (T,) int codes; ``NULL_LABEL`` marks unlabelled frames.
    label_map: optional {code: name}.
    source: e.g. 'amass', 'demo', 'hapt'.
    name: unique within its source.
    subject: subject id (string) or None.
    provenance: input facts needed to reproduce it (files, sub-dataset ...).
    attrs: further metadata (placement, body, config, version ...).
    """

    signals: np.ndarray
    channels: list[str]
    units: list[str]
    fs: float
    source: str
    name: str
    labels: np.ndarray | None = None
    label_map: dict[int, str] | None = None
    subject: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signals = np.asarray(self.signals, dtype=np.float32)
        if self.signals.ndim != 2:
            raise ValueError(f"Recording {self.name!r}: signals must be (T, C), got {self.signals.shape}")
        if len(self.channels) != self.signals.shape[1]:
            raise ValueError(
                f"Recording {self.name!r}: {len(self.channels)} channel names for "
                f"{self.signals.shape[1]} signal columns"
            )
        if len(self.units) != len(self.channels):
            raise ValueError(f"Recording {self.name!r}: {len(self.units)} units for {len(self.channels)} channels")
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if self.labels.shape != (self.signals.shape[0],):
                raise ValueError(
                    f"Recording {self.name!r}: labels shape {self.labels.shape} != ({self.signals.shape[0]},)"
                )

    @property
    def n_frames(self) -> int:
        return int(self.signals.shape[0])

    def select(self, channels: list[str]) -> np.ndarray:
        """Columns by name, (T, len(channels)); raises KeyError naming missing channels."""
        index = {c: i for i, c in enumerate(self.channels)}
        missing = [c for c in channels if c not in index]
        if missing:
            raise KeyError(f"Recording {self.name!r} has no channels {missing}; it has {self.channels}")
        return self.signals[:, [index[c] for c in channels]]


@dataclass
class WindowSet:
    """Fixed-length windows cut from recordings, ready for models.

    X: (N, L, C) float32 windows, channels last, SI units (see ``units``).
    y: (N,) int64 label codes (``label_map``); ``NULL_LABEL`` = null.
    subject: (N,) str subject ids ('' when unknown).
    recording: (N,) str '<source>/<recording name>' each window came from.
    start: (N,) int64 first frame of each window, at rate ``fs``
        (-1 for synthetic windows made by balancing).
    source: (N,) str source of each window ('amass', 'demo', 'hapt' ...).
    channels / units: C names and units.  fs: sampling rate (Hz).
    label_map: {code: name}.  attrs: config, provenance, version ...
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    start: np.ndarray
    source: np.ndarray
    channels: list[str]
    units: list[str]
    fs: float
    label_map: dict[int, str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float32)
        if self.X.ndim != 3:
            raise ValueError(f"WindowSet: X must be (N, L, C), got {self.X.shape}")
        n = self.X.shape[0]
        self.y = np.asarray(self.y, dtype=np.int64)
        self.start = np.asarray(self.start, dtype=np.int64)
        self.subject = np.asarray(self.subject, dtype=str)
        self.recording = np.asarray(self.recording, dtype=str)
        self.source = np.asarray(self.source, dtype=str)
        for key in ("y", "subject", "recording", "start", "source"):
            if getattr(self, key).shape != (n,):
                raise ValueError(f"WindowSet: {key} has shape {getattr(self, key).shape}, expected ({n},)")
        if len(self.channels) != self.X.shape[2] or len(self.units) != self.X.shape[2]:
            raise ValueError(f"WindowSet: {len(self.channels)} channels / {len(self.units)} units "
                             f"for {self.X.shape[2]} columns")
        unknown = sorted(set(np.unique(self.y).tolist()) - set(self.label_map))
        if unknown:
            raise ValueError(f"WindowSet: label codes {unknown} are not in the label map {self.label_map}")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, idx: np.ndarray) -> "WindowSet":
        """The windows at ``idx`` (indices or boolean mask), same metadata."""
        idx = np.asarray(idx)
        return WindowSet(X=self.X[idx], y=self.y[idx], subject=self.subject[idx], recording=self.recording[idx],
                         start=self.start[idx], source=self.source[idx], channels=list(self.channels),
                         units=list(self.units), fs=self.fs, label_map=dict(self.label_map), attrs=dict(self.attrs))

    def class_counts(self) -> dict[str, int]:
        """Windows per label name."""
        codes, counts = np.unique(self.y, return_counts=True)
        return {self.label_map[int(c)]: int(n) for c, n in zip(codes, counts)}
