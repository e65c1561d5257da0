"""What a review page shows: one card per recording, or per window of a window set.

A card names the recording (source, name), the frame span it covers at the
recording's rate (``start``/``end``, end exclusive; None = whole recording:
the same span convention as the overrides file), the labels in that span,
and the image file rendered for it.  Only synthetic recordings (made from
AMASS-format motion) are reviewed: their labels are what ``virtimu label``
writes and the overrides file corrects.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.store import RecordingStore
from virtimu.store.windows import WindowStore

log = logging.getLogger(__name__)


@dataclass
class Card:
    """One reviewed item.

    index: position on the page; source, recording: the recording's keys;
    start, end: recording frames (end exclusive) or None for the whole recording;
    fs: recording rate (Hz); n_frames: frames of the recording;
    labels: {label name: frames} inside the span, most frequent first;
    window_label: the window's own label (window cards), else None;
    image: image path relative to the page (set after rendering); note: shown on the card.
    """

    index: int
    source: str
    recording: str
    start: int | None
    end: int | None
    fs: float
    n_frames: int
    labels: dict[str, int] = field(default_factory=dict)
    window_label: str | None = None
    image: str | None = None
    note: str = ""

    @property
    def label(self) -> str:
        """The label shown: the window's label, else the majority label of the span."""
        if self.window_label is not None:
            return self.window_label
        return next(iter(self.labels), "unlabelled")

    @property
    def span(self) -> tuple[int, int]:
        return (0 if self.start is None else self.start, self.n_frames if self.end is None else self.end)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        return d


def _span_labels(labels: np.ndarray | None, label_map: dict[int, str] | None, span: tuple[int, int]) -> dict[str, int]:
    if labels is None:
        return {}
    counts = Counter(np.asarray(labels[span[0]:span[1]]).tolist())
    names = {int(k): v for k, v in (label_map or {}).items()}
    return {names.get(int(c), str(c)): int(n) for c, n in counts.most_common()}


def _is_synthetic(attrs: dict[str, Any]) -> bool:
    return (attrs.get("attrs") or {}).get("kind") == "synthetic"


def recording_cards(store: str | Path | RecordingStore, class_name: str | None = None,
                    sources: list[str] | None = None, limit: int | None = None) -> list[Card]:
    """One card per synthetic recording (whole recording), optionally only those with frames of ``class_name``."""
    store = store if isinstance(store, RecordingStore) else RecordingStore(store, mode="r")
    cards: list[Card] = []
    skipped = 0
    for src, name in store.list():
        if sources and src not in sources:
            continue
        attrs = store.recording_attrs(src, name)
        if not _is_synthetic(attrs):
            skipped += 1
            continue
        counts = {k: int(v) for k, v in (attrs.get("label_counts") or {}).items() if int(v) > 0}
        if class_name is not None and class_name not in counts:
            continue
        cards.append(Card(index=len(cards), source=src, recording=name, start=None, end=None, fs=float(attrs["fs"]),
                          n_frames=int(attrs["n_frames"]),
                          labels=dict(sorted(counts.items(), key=lambda kv: -kv[1]))))
        if limit is not None and len(cards) >= limit:
            break
    if skipped:
        log.info("%d recordings that are not synthetic (real data) are not reviewed", skipped)
    return cards


def window_cards(store: str | Path, set_name: str, class_name: str | None = None, sources: list[str] | None = None,
                 limit: int | None = None) -> list[Card]:
    """One card per window of window set ``set_name`` (optionally only windows labelled ``class_name``).

    Window starts (frames at the set's rate) become recording frames at the
    recording's rate.  Raises KeyError for an unknown set or class.
    """
    wstore = WindowStore(store, mode="r")
    if set_name not in wstore.list_sets():
        raise KeyError(f"{store}: no window set {set_name!r}; sets: {wstore.list_sets()}")
    info = wstore.info(set_name)
    meta = wstore.meta(set_name)
    set_fs, length = float(info["fs"]), int(info["window_length"])
    label_map = {int(k): v for k, v in meta.label_map.items()}
    rows = np.arange(len(meta.y))
    if class_name is not None:
        codes = [c for c, n in label_map.items() if n == class_name]
        if not codes:
            raise KeyError(f"window set {set_name!r} has no class {class_name!r}; classes: {sorted(label_map.values())}")
        rows = rows[meta.y == codes[0]]
    recstore = RecordingStore(store, mode="r")
    recordings = meta.decode("recording", rows)
    srcs = meta.decode("source", rows)
    cards: list[Card] = []
    attrs_cache: dict[tuple[str, str], dict[str, Any]] = {}
    labels_cache: dict[tuple[str, str], Any] = {}
    for row, rec_key, src in zip(rows, recordings, srcs):
        if sources and src not in sources:
            continue
        name = rec_key[len(src) + 1:] if rec_key.startswith(f"{src}/") else rec_key
        key = (src, name)
        if key not in attrs_cache:
            if not recstore.has(src, name):
                log.warning("window %d: recording %s/%s is not in the store; skipped", row, src, name)
                attrs_cache[key] = {}
                continue
            attrs_cache[key] = recstore.recording_attrs(src, name)
        attrs = attrs_cache[key]
        if not attrs or not _is_synthetic(attrs):
            continue
        fs, n = float(attrs["fs"]), int(attrs["n_frames"])
        start = int(round(int(meta.start[row]) * fs / set_fs))
        end = min(n, int(round((int(meta.start[row]) + length) * fs / set_fs)))
        if key not in labels_cache:
            rec = recstore.read(src, name)
            labels_cache[key] = (rec.labels, rec.label_map)
        labels, lmap = labels_cache[key]
        cards.append(Card(index=len(cards), source=src, recording=name, start=start, end=end, fs=fs, n_frames=n,
                          labels=_span_labels(labels, lmap, (start, end)),
                          window_label=label_map.get(int(meta.y[row]), str(int(meta.y[row])))))
        if limit is not None and len(cards) >= limit:
            break
    return cards
