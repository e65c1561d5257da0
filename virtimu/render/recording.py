"""Render a stored recording: PNG frames, and the frame images behind videos and sheets.

`RenderOptions` gathers what the ``virtimu render`` command sets; 
`frame_images` yields the composed frame images of a recording in order
(rendered in parallel); `write_png_frames` writes them as PNG files.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from virtimu.render.backend import RendererChoice, choose_renderer
from virtimu.render.frames import FrameChunk, RenderStats, RenderStyle, ordered_map, render_chunk, timed_frames
from virtimu.render.overlay import AccTrace, acc_channels
from virtimu.render.posing import RenderSource
from virtimu.store.recordings import encode_key

log = logging.getLogger(__name__)

#: Fewest frames per extra worker process (starting one takes seconds).
MIN_FRAMES_PER_WORKER = 24


@dataclass
class RenderOptions:
    """Settings of one render.

    sensor: site whose accelerometer is traced (default: the first with acc channels).
    window: (start, end) recording frames to highlight (end exclusive), or None.
    renderer: 'auto' | 'egl' | 'osmesa' | 'matplotlib'.
    workers: render processes (1: in this process).
    chunk: frames per work item.
    progress: show progress bars.
    """

    style: RenderStyle = field(default_factory=RenderStyle)
    sensor: str | None = None
    window: tuple[int, int] | None = None
    renderer: str = "auto"
    workers: int = 1
    chunk: int = 8
    progress: bool = True


def parse_span(spec: str | None, n_frames: int, what: str = "--frames") -> np.ndarray:
    """Recording frame indices from 'start:stop:step' (Python slice rules, any part optional) or one index.

    Raises ValueError for malformed specs or spans holding no frame of the recording.
    """
    if spec is None or spec.strip() == "":
        return np.arange(n_frames)
    parts = spec.split(":")
    try:
        if len(parts) == 1:
            idx = int(parts[0])
            frames = np.arange(n_frames)[idx:idx + 1] if idx >= 0 else np.arange(n_frames)[idx:][:1]
        elif len(parts) <= 3:
            vals = [int(p) if p.strip() else None for p in parts]
            if len(vals) == 3 and vals[2] is not None and vals[2] <= 0:
                raise ValueError("step must be positive")
            frames = np.arange(n_frames)[slice(*vals)]
        else:
            raise ValueError("too many ':'")
    except ValueError as exc:
        raise ValueError(f"{what} {spec!r}: expected start:stop[:step] frame indices ({exc})") from None
    if frames.size == 0:
        raise ValueError(f"{what} {spec!r} selects no frame of the recording's {n_frames} frames")
    return frames


def parse_window(spec: str | None, n_frames: int) -> tuple[int, int] | None:
    """'start:end' recording frames -> (start, end) clipped to the recording, or None."""
    if spec is None:
        return None
    frames = parse_span(spec, n_frames, what="--window")
    return int(frames[0]), int(frames[-1]) + 1


def frame_label(source: RenderSource, frame: int) -> str:
    """Label name of one recording frame ('unlabelled' when the recording has none)."""
    rec = source.recording
    if rec.labels is None:
        return "unlabelled"
    code = int(rec.labels[int(frame)])
    return (rec.label_map or {}).get(code, str(code))


def frame_texts(source: RenderSource, frames: np.ndarray) -> list[list[str]]:
    """Text lines of each frame: recording, then label, frame and time."""
    rec = source.recording
    head = f"{rec.source}/{rec.name}"
    return [[head, f"{frame_label(source, f)}   frame {int(f)}   {int(f) / rec.fs:.2f} s"] for f in frames]


def make_trace(source: RenderSource, width: int, height: int, sensor: str | None = None,
               window: tuple[int, int] | None = None, span: tuple[int, int] | None = None) -> AccTrace:
    """The acceleration strip of ``sensor`` over ``span`` (default: the whole recording)."""
    rec = source.recording
    site, idx = acc_channels(rec.channels, sensor)
    return AccTrace(acc=np.asarray(rec.signals[:, idx], dtype=np.float64), fs=rec.fs, labels=rec.labels,
                    label_map=rec.label_map, span=span or (0, rec.n_frames), window=window, width=width,
                    height=height, title=site)


def estimate_floor(source: RenderSource, frames: np.ndarray, samples: int = 24) -> float:
    """Floor height (m): the lowest body vertex over up to ``samples`` frames spread over ``frames``."""
    pick = np.unique(np.asarray(frames)[np.linspace(0, len(frames) - 1, min(samples, len(frames))).astype(int)])
    posed = source.pose(pick)
    return float(np.min(posed.vertices[..., 2]))


def _chunks(source: RenderSource, frames: np.ndarray, opts: RenderOptions, choice: RendererChoice,
            floor_z: float, trace: AccTrace | None) -> Iterator[FrameChunk]:
    for a in range(0, len(frames), max(1, opts.chunk)):
        sel = frames[a:a + opts.chunk]
        posed = source.pose(sel)
        yield FrameChunk(
            renderer=choice.name, style=opts.style, floor_z=floor_z, vertices=posed.vertices, faces=posed.faces,
            root=posed.root, sensor_pos=posed.sensor_pos, sensor_rot=posed.sensor_rot, frames=sel,
            texts=frame_texts(source, sel), strip=None if trace is None else trace.background,
            cursor_x=None if trace is None else trace.x_of(sel))


def frame_images(source: RenderSource, frames: np.ndarray, opts: RenderOptions,
                 stats: RenderStats | None = None) -> Iterator[np.ndarray]:
    """Composed frame images ((height + trace_height), width, 3) uint8 of ``frames``, in order.

    Rendering runs in ``opts.workers`` processes; ``stats`` (if given) collects
    frames, seconds and the renderer used.
    """
    choice = choose_renderer(opts.renderer)
    frames = np.asarray(frames, dtype=np.int64)
    # a worker process costs seconds to start: only use as many as have >= MIN_FRAMES_PER_WORKER frames
    workers = max(1, min(opts.workers, len(frames) // MIN_FRAMES_PER_WORKER))
    stats = stats if stats is not None else RenderStats()
    stats.renderer, stats.workers = choice.describe(), workers
    floor_z = estimate_floor(source, frames)
    trace = None
    if opts.style.trace_height > 0:
        trace = make_trace(source, opts.style.width, opts.style.trace_height, opts.sensor, opts.window)
    chunks = _chunks(source, frames, opts, choice, floor_z, trace)
    images = (img for batch in ordered_map(render_chunk, chunks, workers=workers, renderer=choice.name)
              for img in batch)
    yield from timed_frames(images, stats, total=len(frames), progress=opts.progress)


def frame_filename(source: RenderSource, frame: int) -> str:
    """File name of one PNG frame: '<safe recording name>_f<frame:06d>.png'."""
    return f"{encode_key(source.recording.name)}_f{int(frame):06d}.png"


def write_png_frames(source: RenderSource, frames: np.ndarray, out_dir: str | Path, opts: RenderOptions,
                     stats: RenderStats | None = None) -> list[Path]:
    """Render ``frames`` to PNG files in ``out_dir`` (created); returns the paths in frame order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for f, img in zip(frames, frame_images(source, frames, opts, stats)):
        path = out / frame_filename(source, f)
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths
