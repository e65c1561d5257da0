"""Contact sheets: N poses across a recording or a window, with the acceleration trace under them.

Layout (pixels)::

    +----------------------------------------------+  TITLE_HEIGHT: recording, span, labels
    | pose 1 | pose 2 | ... | pose n_cols          |  rows of cells, each style.width x style.height,
    | ...                                          |  with time and label in the corner
    +----------------------------------------------+
    | acc trace of the sensor, window shaded,      |  style.trace_height (0: no trace)
    | a cursor at each pose                        |
    +----------------------------------------------+
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from virtimu.io.atomic import atomic_path
from virtimu.render.backend import choose_renderer
from virtimu.render.frames import FrameChunk, RenderStats, ordered_map, render_chunk, timed_frames
from virtimu.render.overlay import font
from virtimu.render.posing import RenderSource
from virtimu.render.recording import RenderOptions, frame_label, make_trace

log = logging.getLogger(__name__)

TITLE_HEIGHT = 18


@dataclass
class SheetLayout:
    """n poses in rows × cols cells of cell_w × cell_h, title and trace heights; size = (width, height)."""

    n: int
    cols: int
    cell_w: int
    cell_h: int
    trace_h: int

    @property
    def rows(self) -> int:
        return math.ceil(self.n / self.cols)

    @property
    def width(self) -> int:
        return self.cols * self.cell_w

    @property
    def height(self) -> int:
        return TITLE_HEIGHT + self.rows * self.cell_h + self.trace_h

    def cell_origin(self, i: int) -> tuple[int, int]:
        """(x, y) pixel of the top-left corner of cell ``i``."""
        return (i % self.cols) * self.cell_w, TITLE_HEIGHT + (i // self.cols) * self.cell_h


@dataclass
class Sheet:
    """A rendered sheet: image (H, W, 3) uint8, the recording frames shown, layout, path (if written)."""

    image: np.ndarray
    frames: np.ndarray
    layout: SheetLayout
    path: Path | None = None


def sheet_frames(span: tuple[int, int], n_poses: int) -> np.ndarray:
    """``n_poses`` recording frames evenly spread over [start, end) (fewer if the span is shorter)."""
    a, b = int(span[0]), int(span[1])
    if b <= a:
        raise ValueError(f"empty span {span}")
    n = max(1, min(int(n_poses), b - a))
    return np.unique(np.round(np.linspace(a, b - 1, n)).astype(np.int64))


def render_sheet(source: RenderSource, opts: RenderOptions, n_poses: int = 8, span: tuple[int, int] | None = None,
                 cols: int | None = None, path: str | Path | None = None, stats: RenderStats | None = None,
                 trace_span: tuple[int, int] | None = None) -> Sheet:
    """Render a contact sheet of ``n_poses`` poses over ``span`` (default ``opts.window``, else the
    whole recording); the trace shows ``trace_span`` (default the whole recording) with
    ``opts.window`` shaded and a cursor at each pose.

    opts.style.width/height are the cell size.  Written as PNG to ``path`` if given (atomically).
    """
    rec = source.recording
    span = span or opts.window or (0, rec.n_frames)
    frames = sheet_frames(span, n_poses)
    st = opts.style
    layout = SheetLayout(n=len(frames), cols=max(1, min(cols or len(frames), len(frames))), cell_w=st.width,
                         cell_h=st.height, trace_h=st.trace_height)
    choice = choose_renderer(opts.renderer)
    stats = stats if stats is not None else RenderStats()
    stats.renderer, stats.workers = choice.describe(), max(1, opts.workers)
    posed = source.pose(frames)  # a sheet has few poses: pose them once
    floor_z = float(np.min(posed.vertices[..., 2]))
    texts = [[f"{f / rec.fs:.2f} s", frame_label(source, f)] for f in frames]
    chunk = max(1, math.ceil(len(frames) / max(1, opts.workers)))
    cell_style = _cell_style(st, opts.style.text_size - 2)

    def chunks():
        for a in range(0, len(frames), chunk):
            sub = posed.subset(slice(a, a + chunk))
            yield FrameChunk(renderer=choice.name, style=cell_style, floor_z=floor_z, vertices=sub.vertices,
                             faces=sub.faces, root=sub.root, sensor_pos=sub.sensor_pos, sensor_rot=sub.sensor_rot,
                             frames=sub.frames, texts=texts[a:a + chunk])

    images = (img for batch in ordered_map(render_chunk, chunks(), workers=opts.workers, renderer=choice.name)
              for img in batch)
    canvas = np.full((layout.height, layout.width, 3), 255, dtype=np.uint8)
    for i, img in enumerate(timed_frames(images, stats, total=len(frames), progress=opts.progress, desc="sheet")):
        x, y = layout.cell_origin(i)
        canvas[y:y + st.height, x:x + st.width] = img
    if layout.trace_h > 0:
        trace = make_trace(source, layout.width, layout.trace_h, opts.sensor, opts.window, span=trace_span)
        canvas[layout.height - layout.trace_h:] = trace.with_cursors(frames, color=(90, 90, 90))
    canvas = _title(canvas, source, span, frames)
    out = Sheet(image=canvas, frames=frames, layout=layout)
    if path is not None:
        out.path = save_png(canvas, path)
    return out


def _cell_style(style, text_size: int):
    from dataclasses import replace

    return replace(style, text_size=max(8, text_size), trace_height=0)


def _title(canvas: np.ndarray, source: RenderSource, span: tuple[int, int], frames: np.ndarray) -> np.ndarray:
    rec = source.recording
    labels = list(dict.fromkeys(frame_label(source, f) for f in frames))
    text = (f"{rec.source}/{rec.name}   frames {span[0]}:{span[1]} ({span[0] / rec.fs:.2f}-{span[1] / rec.fs:.2f} s)"
            f"   {', '.join(labels)}")
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    draw.text((4, 3), text, fill=(0, 0, 0), font=font(11))
    return np.asarray(img)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write ``image`` (H, W, 3) uint8 as PNG atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path
