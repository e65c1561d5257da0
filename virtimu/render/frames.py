"""Rendering posed frames into images, in parallel worker processes.

A frame image is the 3-D view (body, sensors, floor, camera following the
root) with a text box (recording, label, time) and, under it, the
acceleration strip with a cursor at the frame.  Work is cut into chunks of
frames; each worker process makes its own renderer (its own GL context) once
and renders its chunks; results come back in order, at most a few chunks in
flight, so memory stays bounded for long recordings.
"""
from __future__ import annotations

import atexit
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from virtimu.render.backend import choose_renderer
from virtimu.render.camera import Camera, CameraStyle
from virtimu.render.geometry import frame_parts
from virtimu.render.overlay import draw_text_box

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderStyle:
    """Sizes and look of a rendered view.

    width, height: 3-D view in pixels; trace_height: acceleration strip under
    it (0: none); camera: how the camera follows the root; floor: draw the
    chequered floor; text_size: label text pixels.
    """

    width: int = 320
    height: int = 240
    trace_height: int = 90
    camera: CameraStyle = field(default_factory=CameraStyle)
    floor: bool = True
    text_size: int = 12


_RENDERERS: dict[tuple[str, int, int], Any] = {}


def get_renderer(name: str, width: int, height: int):
    """This process's renderer ``name`` ('egl' | 'osmesa' | 'matplotlib') at width × height (cached)."""
    key = (name, int(width), int(height))
    if key not in _RENDERERS:
        if name == "matplotlib":
            from virtimu.render.mpl import MatplotlibRenderer

            _RENDERERS[key] = MatplotlibRenderer(width, height)
        else:
            # one GL context per process, resized as needed: pyrender's EGL contexts share one
            # display, and deleting one context would terminate it for the others
            gl = [k for k in _RENDERERS if k[0] == name]
            if gl:
                renderer = _RENDERERS.pop(gl[0])
                renderer.resize(width, height)
            else:
                if os.environ.get("PYOPENGL_PLATFORM") != name:
                    choose_renderer(name)
                from virtimu.render.gl import GLRenderer

                renderer = GLRenderer(width, height)
            _RENDERERS[key] = renderer
    return _RENDERERS[key]


def close_renderers() -> None:
    """Release this process's renderers (GL contexts)."""
    while _RENDERERS:
        _, r = _RENDERERS.popitem()
        r.close()


atexit.register(close_renderers)


def render_view(renderer, vertices: np.ndarray, faces: np.ndarray, sensor_pos: np.ndarray, sensor_rot: np.ndarray,
                root: np.ndarray, floor_z: float, style: RenderStyle, camera: Camera | None = None) -> np.ndarray:
    """One 3-D view (style.height, style.width, 3) uint8; the camera follows ``root`` unless given."""
    camera = camera or Camera.following(root, style.width, style.height, style.camera)
    parts = frame_parts(vertices, faces, sensor_pos, sensor_rot, root, floor_z, show_floor=style.floor)
    return renderer.render(parts, camera)


@dataclass
class FrameChunk:
    """A picklable piece of work: K posed frames and what goes around them.

    vertices (K, V, 3) float32, faces (F, 3), root (K, 3), sensor_pos (K, S, 3),
    sensor_rot (K, S, 3, 3); frames (K,) recording frame indices; texts: K lists
    of text lines; strip: the trace background (h, W, 3) uint8 or None, with
    cursor_x (K,) pixel columns of the cursors.
    """

    renderer: str
    style: RenderStyle
    floor_z: float
    vertices: np.ndarray
    faces: np.ndarray
    root: np.ndarray
    sensor_pos: np.ndarray
    sensor_rot: np.ndarray
    frames: np.ndarray
    texts: list[list[str]]
    strip: np.ndarray | None = None
    cursor_x: np.ndarray | None = None


def _cursor(strip: np.ndarray, x: float, top: int = 14) -> np.ndarray:
    out = strip.copy()
    xi = int(round(float(x)))
    out[top:, max(xi - 1, 0):xi + 1] = 0
    return out


def render_chunk(chunk: FrameChunk) -> list[np.ndarray]:
    """Render every frame of ``chunk``: list of (H [+ trace], W, 3) uint8 images."""
    st = chunk.style
    renderer = get_renderer(chunk.renderer, st.width, st.height)
    out = []
    for k in range(len(chunk.frames)):
        view = render_view(renderer, chunk.vertices[k], chunk.faces, chunk.sensor_pos[k], chunk.sensor_rot[k],
                           chunk.root[k], chunk.floor_z, st)
        if chunk.texts and chunk.texts[k]:
            view = draw_text_box(view, chunk.texts[k], size=st.text_size)
        if chunk.strip is not None:
            view = np.concatenate([view, _cursor(chunk.strip, chunk.cursor_x[k])], axis=0)
        out.append(view)
    return out


def _worker_init(platform: str | None) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if platform:
        os.environ["PYOPENGL_PLATFORM"] = platform


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 1, renderer: str = "matplotlib",
                in_flight: int | None = None) -> Iterator[Any]:
    """``fn(item)`` for each item, in order; in ``workers`` spawned processes when > 1.

    At most ``in_flight`` (default 2 × workers) items are submitted ahead, so
    a long iterable of large items never sits in memory at once.  Each worker
    binds PyOpenGL to ``renderer``'s platform before importing it.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    import multiprocessing as mp

    platform = renderer if renderer != "matplotlib" else None
    ctx = mp.get_context("spawn")
    limit = in_flight or 2 * workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(platform,)) as pool:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            while len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass
class RenderStats:
    """frames rendered, seconds (wall, rendering incl. posing and composing), renderer name."""

    frames: int = 0
    seconds: float = 0.0
    renderer: str = ""
    workers: int = 1

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    def line(self) -> str:
        return (f"rendered {self.frames} frames in {self.seconds:.2f} s: {self.fps:.1f} frames/s "
                f"({self.renderer}, {self.workers} worker{'s' if self.workers != 1 else ''})")


def timed_frames(images: Iterator[np.ndarray], stats: RenderStats, total: int, progress: bool = True,
                 desc: str = "render") -> Iterator[np.ndarray]:
    """Pass ``images`` through, counting frames and wall time into ``stats`` with a progress bar."""
    start = time.perf_counter()
    with tqdm(total=total, desc=desc, unit="frame", disable=not progress) as bar:
        for img in images:
            stats.frames += 1
            bar.update(1)
            stats.seconds = time.perf_counter() - start
            yield img
    stats.seconds = time.perf_counter() - start
