"""Build a review folder: ``index.html`` plus one contact-sheet PNG per card in ``img/``.

Cards are rendered in parallel worker processes (one renderer, one GL
context, per process), each worker opening the store itself.  A card whose
motion cannot be found (moved AMASS files, real data) still gets its
acceleration trace and a note saying why there are no poses.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from virtimu.io.atomic import write_text_atomic
from virtimu.labels.maps import get_label_space
from virtimu.labels.overrides import Overrides, load_overrides
from virtimu.render.backend import choose_renderer
from virtimu.render.frames import RenderStats, RenderStyle, ordered_map
from virtimu.render.posing import RenderSourceError, open_render_source
from virtimu.render.recording import RenderOptions, make_trace
from virtimu.render.sheet import render_sheet, save_png
from virtimu.review.cards import Card, recording_cards, window_cards
from virtimu.review.page import review_html

log = logging.getLogger(__name__)

#: Cell size of the review contact sheets (pixels) and trace height.
CARD_STYLE = RenderStyle(width=150, height=190, trace_height=90, text_size=11)


@dataclass
class CardTask:
    """What a worker needs to render one card (picklable)."""

    store: str
    card: Card
    image_path: str
    opts: RenderOptions
    n_poses: int
    body_model: str | None
    amass_root: str | None


@dataclass
class ReviewReport:
    """page: the HTML file; cards; frames rendered; seconds; renderer; failures (card index, reason)."""

    page: Path
    cards: list[Card]
    frames: int = 0
    seconds: float = 0.0
    renderer: str = ""
    failures: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        fps = self.frames / self.seconds if self.seconds > 0 else float("nan")
        text = (f"{len(self.cards)} cards, {self.frames} poses rendered in {self.seconds:.1f} s "
                f"({fps:.1f} frames/s, {self.renderer})")
        for i, why in self.failures:
            text += f"\n  card {i}: {why}"
        return text


def _context_span(card: Card) -> tuple[int, int]:
    """Trace span of a card: a window with one window length of context each side; a whole recording."""
    a, b = card.span
    if card.start is None:
        return a, b
    pad = b - a
    return max(0, a - pad), min(card.n_frames, b + pad)


def render_card(task: CardTask) -> tuple[int, str, int]:
    """Render one card's image; returns (frames rendered, note, card index)."""
    card = task.card
    window = None if card.start is None else card.span
    try:
        source = open_render_source(task.store, card.recording, source=card.source, body_model=task.body_model,
                                    amass_root=task.amass_root, require_motion=True)
    except RenderSourceError as exc:
        source = open_render_source(task.store, card.recording, source=card.source, require_motion=False)
        st = task.opts.style
        trace = make_trace(source, st.width * task.n_poses, st.trace_height or 90, task.opts.sensor, window,
                           span=_context_span(card))
        save_png(trace.background, task.image_path)
        return 0, f"no poses: {exc}", card.index
    opts = replace(task.opts, window=window, workers=1, progress=False)
    sheet = render_sheet(source, opts, n_poses=task.n_poses, span=card.span, path=task.image_path,
                         trace_span=_context_span(card))
    return len(sheet.frames), "", card.index


def build_review(store: str | Path, out_dir: str | Path, class_name: str | None = None,
                 window_set: str | None = None, sources: list[str] | None = None, limit: int | None = None,
                 label_space: str = "synthetic12", overrides: str | Path | None = None, n_poses: int = 6,
                 style: RenderStyle = CARD_STYLE, sensor: str | None = None, renderer: str = "auto",
                 workers: int = 1, body_model: str | None = None, amass_root: str | None = None,
                 progress: bool = True) -> ReviewReport:
    """Write ``out_dir/index.html`` and ``out_dir/img/card_NNNN.png`` for the selected items.

    class_name: only recordings (or windows) with this label; window_set: one
    card per window of this set instead of per recording; overrides: earlier
    decisions shown on the page (validated first).  Raises FileNotFoundError
    for a missing store, KeyError for an unknown set/class, ValueError for a
    bad overrides file or label space.
    """
    if not Path(store).exists():
        raise FileNotFoundError(f"store {store}: no such file or directory")
    space = get_label_space(label_space)
    if class_name is not None and window_set is None and class_name not in space.names:
        log.warning("class %r is not a category of %s", class_name, space.name)
    preloaded: Overrides | None = load_overrides(overrides) if overrides else None
    if preloaded is not None and preloaded.label_space.name != space.name:
        raise ValueError(f"{overrides}: label space {preloaded.label_space.name!r} differs from "
                         f"--label-space {space.name!r}")
    if window_set:
        cards = window_cards(store, window_set, class_name, sources, limit)
    else:
        cards = recording_cards(store, class_name, sources, limit)
    out = Path(out_dir)
    (out / "img").mkdir(parents=True, exist_ok=True)
    choice = choose_renderer(renderer)
    opts = RenderOptions(style=style, sensor=sensor, renderer=choice.name, workers=1, progress=False)
    tasks = []
    for card in cards:
        card.image = f"img/card_{card.index:04d}.png"
        tasks.append(CardTask(store=str(store), card=card, image_path=str(out / card.image), opts=opts,
                              n_poses=n_poses, body_model=body_model, amass_root=amass_root))
    report = ReviewReport(page=out / "index.html", cards=cards, renderer=choice.describe())
    start = time.perf_counter()
    from tqdm import tqdm

    with tqdm(total=len(tasks), desc="review", unit="card", disable=not progress) as bar:
        for frames, note, index in ordered_map(render_card, tasks, workers=workers, renderer=choice.name):
            report.frames += frames
            if note:
                cards[index].note = note
                report.failures.append((index, note))
            bar.update(1)
    report.seconds = time.perf_counter() - start
    title = f"virtimu label review: {Path(store).name}" + (f", class {class_name}" if class_name else "") + (
        f", windows of {window_set}" if window_set else "")
    write_text_atomic(report.page, review_html(cards, space, title=title, preloaded=preloaded))
    return report
