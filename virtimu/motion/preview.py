"""Stick-figure previews of generated clips (needs matplotlib, an optional dependency)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from virtimu.motion.clip import Clip
from virtimu.motion.skeleton import foot_points

_LEFT = {1, 4, 7, 10, 13, 16, 18, 20, 22}
_RIGHT = {2, 5, 8, 11, 14, 17, 19, 21, 23}


def save_stick_figures(clip: Clip, path: str | Path, n_frames: int = 8, view: str = "side",
                       span: tuple[float, float] | None = None) -> Path:
    """Draw ``n_frames`` evenly spaced frames of ``clip`` (within ``span`` (start, end) seconds,
    default the whole clip) as stick figures into a PNG.

    view: 'side' (world x-z, relative to the pelvis) or 'front' (world y-z).  Left limbs blue,
    right limbs red, foot contact points green, the floor grey.  Returns the path written.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("stick-figure previews need matplotlib (pip install matplotlib)") from exc
    state = clip.joint_state()
    P, parents = state.p, clip.skeleton.parents
    feet = foot_points(state, clip.skeleton)
    axis = 0 if view == "side" else 1
    a, b = (0.0, (clip.n_frames - 1) / clip.fps) if span is None else span
    frames = np.clip(np.linspace(a * clip.fps, b * clip.fps, n_frames).astype(int), 0, clip.n_frames - 1)
    ncol = min(len(frames), 4)
    nrow = (len(frames) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 4.0 * nrow), sharey=True)
    for ax, f in zip(np.atleast_1d(axes).ravel(), frames):
        c = P[f, 0, axis]
        for j in range(1, len(parents)):
            a, b = P[f, j], P[f, parents[j]]
            col = "b" if j in _LEFT else ("r" if j in _RIGHT else "k")
            ax.plot([a[axis] - c, b[axis] - c], [a[2], b[2]], col, lw=1.5)
        ax.plot(feet[f, :, axis] - c, feet[f, :, 2], "g.", ms=3)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_aspect("equal")
        ax.set_xlim(-1.0, 1.0)
        ax.set_ylim(-0.05, 2.3)
        ax.set_title(f"{f / clip.fps:.2f} s  {clip.frame_labels[f]}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{clip.name} ({view} view)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path
