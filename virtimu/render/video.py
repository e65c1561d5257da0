"""MP4 and GIF animations of a recording (imageio; MP4 through imageio-ffmpeg's bundled ffmpeg).

The animation plays at the recording's rate: with every ``step``-th frame
rendered, frames are shown at ``fs / step`` frames per second, so the
duration equals the recording span's.  GIF frame times are whole
centiseconds (the format's unit): they alternate so that the running time
stays within 5 ms of the span's.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from virtimu.io.atomic import atomic_path
from virtimu.render.frames import RenderStats
from virtimu.render.posing import RenderSource
from virtimu.render.recording import RenderOptions, frame_images

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")


def frame_step(frames: np.ndarray) -> int:
    """The common step between consecutive frames (1 for a single frame); ValueError if uneven."""
    frames = np.asarray(frames)
    if len(frames) < 2:
        return 1
    steps = np.unique(np.diff(frames))
    if len(steps) != 1 or steps[0] <= 0:
        raise ValueError(f"video frames must be evenly spaced and increasing, got steps {steps[:5].tolist()}")
    return int(steps[0])


def gif_durations(n: int, fps: float) -> list[int]:
    """Per-frame GIF durations (ms, multiples of 10) whose running sum tracks ``k / fps`` to the centisecond."""
    ends = np.round(np.arange(1, n + 1) * 100.0 / fps).astype(np.int64)  # centiseconds
    return (np.diff(np.concatenate([[0], ends])) * 10).tolist()


def write_video(source: RenderSource, frames: np.ndarray, path: str | Path, opts: RenderOptions,
                stats: RenderStats | None = None) -> Path:
    """Render ``frames`` (evenly spaced recording frames) into an .mp4 or .gif at ``path`` (atomic).

    Playback rate: fs / step frames per second.  MP4 frames are padded to even
    sizes (H.264 needs them) by the writer.  Returns the path.
    """
    import imageio.v3 as iio  # noqa: PLC0415 - optional at import time

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"video {path}: unknown format {suffix!r}; use one of {list(VIDEO_SUFFIXES)}")
    fps = source.fs / frame_step(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = frame_images(source, frames, opts, stats)
    with atomic_path(path, suffix=suffix) as tmp:  # the suffix tells ffmpeg the container
        if suffix == ".gif":
            stack = np.stack(list(images))
            iio.imwrite(tmp, stack, extension=".gif", duration=gif_durations(len(stack), fps), loop=0)
        else:
            import imageio

            with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=7,
                                    pixelformat="yuv420p", macro_block_size=2, ffmpeg_log_level="error") as writer:
                for img in images:
                    writer.append_data(img)
    log.info("wrote %s (%d frames at %.3g fps)", path, len(frames), fps)
    return path
