"""2-D overlays drawn with Pillow: label text on a view, and the acceleration trace strip.

The trace strip shows one sensor's accelerometer (x / y / z in red / green /
blue, |a| in black, m/s²) over a span of recording frames, a band of
per-frame label colours along its top, the review window shaded, and
cursors at the frames shown.  It is drawn once (`AccTrace.background`) and
cursors are added per frame, so per-frame cost stays small.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from virtimu.types import NULL_LABEL

_FONTS: dict[int, ImageFont.ImageFont] = {}


def font(size: int = 12) -> ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (cached)."""
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except TypeError:  # pragma: no cover - Pillow < 10.1
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


def label_color(code: int) -> tuple[int, int, int]:
    """A distinct RGB colour per label code (null: light grey)."""
    if int(code) == NULL_LABEL:
        return (215, 215, 215)
    hue = (int(code) * 0.381966) % 1.0  # golden-ratio steps
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.92)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_text_box(img: np.ndarray, lines: list[str], size: int = 12, corner: str = "top-left") -> np.ndarray:
    """``img`` (H, W, 3) uint8 with ``lines`` of text on a translucent white box in a corner."""
    pil = Image.fromarray(img).convert("RGBA")
    over = Image.new("RGBA", pil.size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(over)
    fnt = font(size)
    pad, gap = 3, 2
    boxes = [draw.textbbox((0, 0), line, font=fnt) for line in lines]
    w = max((b[2] for b in boxes), default=0) + 2 * pad
    h = sum(size + gap for _ in lines) + 2 * pad - gap
    x0 = 2 if corner.endswith("left") else pil.size[0] - w - 2
    y0 = 2 if corner.startswith("top") else pil.size[1] - h - 2
    draw.rectangle((x0, y0, x0 + w, y0 + h), fill=(255, 255, 255, 190))
    y = y0 + pad
    for line in lines:
        draw.text((x0 + pad, y), line, fill=(0, 0, 0, 255), font=fnt)
        y += size + gap
    return np.asarray(Image.alpha_composite(pil, over).convert("RGB"))


@dataclass
class AccTrace:
    """The acceleration strip of one sensor.

    acc: (T, 3) m/s² of the whole recording; fs Hz; labels (T,) codes or None;
    label_map {code: name}; span (a, b): recording frames shown (b exclusive);
    window (a, b) or None: highlighted frames; width × height pixels; title.
    """

    acc: np.ndarray
    fs: float
    labels: np.ndarray | None
    label_map: dict[int, str] | None
    span: tuple[int, int]
    window: tuple[int, int] | None
    width: int
    height: int
    title: str = ""

    LEFT = 34
    RIGHT = 6
    TOP = 14
    BOTTOM = 13
    BAND = 5

    MIN_HEIGHT = TOP + BAND + BOTTOM + 12

    def __post_init__(self) -> None:
        if self.height < self.MIN_HEIGHT or self.width < self.LEFT + self.RIGHT + 10:
            raise ValueError(f"trace strip {self.width}x{self.height} px is too small "
                             f"(at least {self.LEFT + self.RIGHT + 10}x{self.MIN_HEIGHT})")
        a, b = int(self.span[0]), int(self.span[1])
        if not 0 <= a < b:
            raise ValueError(f"trace span {self.span} is empty")
        self.span = (a, b)
        self._bg = self._draw()

    @property
    def plot_box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixels of the plotting area (excluding the label band)."""
        return (self.LEFT, self.TOP + self.BAND + 2, self.width - self.RIGHT, self.height - self.BOTTOM)

    def x_of(self, frame: float | np.ndarray) -> np.ndarray:
        """Pixel x of recording frame(s)."""
        x0, _, x1, _ = self.plot_box
        a, b = self.span
        return x0 + (np.asarray(frame, dtype=np.float64) - a) / max(b - 1 - a, 1) * (x1 - x0)

    def _draw(self) -> np.ndarray:
        W, H = int(self.width), int(self.height)
        img = Image.new("RGB", (W, H), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        fnt = font(10)
        x0, y0, x1, y1 = self.plot_box
        a, b = self.span
        acc = np.asarray(self.acc[a:b], dtype=np.float64)
        mag = np.linalg.norm(acc, axis=1)
        finite = np.isfinite(acc)
        lo = float(np.min(acc[finite])) if finite.any() else -1.0
        hi = float(max(np.max(acc[finite]) if finite.any() else 1.0, np.nanmax(mag) if len(mag) else 1.0))
        lo, hi = min(lo, 0.0), max(hi, 1.0)
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        if self.window is not None:
            wa, wb = max(self.window[0], a), min(self.window[1], b)
            if wb > wa:
                draw.rectangle((float(self.x_of(wa)), self.TOP, float(self.x_of(wb - 1)), y1), fill=(255, 240, 170))
        if self.labels is not None:
            lab = np.asarray(self.labels[a:b])
            edges = np.flatnonzero(np.diff(lab)) + 1
            starts = np.concatenate([[0], edges])
            stops = np.concatenate([edges, [len(lab)]])
            for s, e in zip(starts, stops):
                draw.rectangle((float(self.x_of(a + s)), self.TOP, float(self.x_of(a + e - 1)) + 1,
                                self.TOP + self.BAND), fill=label_color(int(lab[s])))
        draw.rectangle((x0, y0, x1, y1), outline=(150, 150, 150))

        def y_of(v: np.ndarray) -> np.ndarray:
            return y1 - (v - lo) / (hi - lo) * (y1 - y0)

        for val in _ticks(lo, hi):
            yy = float(y_of(val))
            draw.line((x0, yy, x1, yy), fill=(232, 232, 232))
            draw.text((2, yy - 6), f"{val:g}", fill=(90, 90, 90), font=fnt)
        xs = self.x_of(np.arange(a, b))
        for series, col in ((acc[:, 0], (215, 40, 40)), (acc[:, 1], (30, 150, 30)), (acc[:, 2], (40, 70, 220)),
                            (mag, (0, 0, 0))):
            ok = np.isfinite(series)
            pts = list(zip(xs[ok].tolist(), y_of(series[ok]).tolist()))
            if len(pts) >= 2:
                draw.line(pts, fill=col, width=1)
        draw.text((x0, 1), self.title + "  x y z |a| (m/s^2)", fill=(40, 40, 40), font=fnt)
        t0, t1 = a / self.fs, (b - 1) / self.fs
        draw.text((x0, y1 + 1), f"{t0:.1f} s", fill=(90, 90, 90), font=fnt)
        end = f"{t1:.1f} s"
        draw.text((x1 - draw.textlength(end, font=fnt), y1 + 1), end, fill=(90, 90, 90), font=fnt)
        return np.asarray(img)

    @property
    def background(self) -> np.ndarray:
        """(height, width, 3) uint8 without cursors."""
        return self._bg

    def with_cursors(self, frames: list[int] | np.ndarray, color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
        """The strip with a vertical cursor at each frame of ``frames``."""
        img = self._bg.copy()
        _, y0, _, y1 = self.plot_box
        for f in np.atleast_1d(frames):
            if self.span[0] <= f < self.span[1]:
                x = int(round(float(self.x_of(f))))
                img[self.TOP:y1 + 1, max(x - 1, 0):x + 1] = color
        return img


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """A few round tick values inside [lo, hi]."""
    span = hi - lo
    if not np.isfinite(span) or span <= 0:
        return []
    raw = span / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = np.ceil(lo / step) * step
    return [float(round(v, 6)) for v in np.arange(start, hi, step)]


def acc_channels(channels: list[str], site: str | None = None) -> tuple[str, list[int]]:
    """(site, indices of its acc_x/y/z) among ``channels``; the first site with all three if ``site`` is None.

    Raises ValueError naming the sites that have accelerometer channels.
    """
    index = {c: i for i, c in enumerate(channels)}
    sites = list(dict.fromkeys(c.split("/", 1)[0] for c in channels if "/" in c))
    with_acc = [s for s in sites if all(f"{s}/acc_{ax}" in index for ax in "xyz")]
    if site is None:
        if not with_acc:
            raise ValueError(f"no accelerometer channels (site/acc_x, acc_y, acc_z) among {channels[:12]}")
        site = with_acc[0]
    if site not in with_acc:
        raise ValueError(f"sensor {site!r} has no acc_x/acc_y/acc_z channels; sensors with them: {with_acc}")
    return site, [index[f"{site}/acc_{ax}"] for ax in "xyz"]
