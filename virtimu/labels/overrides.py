"""Review overrides: a reviewer's decisions on top of rule / BABEL labels.

A JSON file (written by the review page, read by `label_store`)::

    {
      "version": 1,
      "label_space": "synthetic12",
      "decisions": [
        {"source": "amass", "recording": "KIT/3/walking_medium01_poses",
         "action": "relabel",            # "accept" | "relabel" | "reject"
         "label": "walking",             # relabel only: a category of label_space
         "start": 120, "end": 600,       # optional frame span at the recording's rate,
                                         # end exclusive; absent = whole recording
         "note": "...", "reviewer": "...", "time": "2024-05-01T12:00:00Z"}
      ]
    }

Decisions apply in file order: ``reject`` sets the span to null, ``relabel``
sets it to ``label``, ``accept`` changes nothing and marks the recording
reviewed.  A later decision overrides an earlier one where their spans
overlap.  Loading validates the file (version, label space, every field of
every decision); errors name the file and the decision index.  Decisions for
recordings the store does not hold are reported, not fatal
(`unknown_recordings`).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.labels.maps import LabelSpace, UnknownLabelError, get_label_space
from virtimu.io.atomic import write_text_atomic
from virtimu.io.documents import read_document

log = logging.getLogger(__name__)

__all__ = [
    "OVERRIDES_VERSION", "ACTIONS", "OverrideError", "Decision", "Overrides", "load_overrides",
    "save_overrides", "apply_overrides", "unknown_recordings",
]

OVERRIDES_VERSION = 1
ACTIONS = ("accept", "relabel", "reject")
_KEYS = {"source", "recording", "action", "label", "start", "end", "note", "reviewer", "time"}


class OverrideError(ValueError):
    """An overrides file or decision is invalid (message names the file and the decision index)."""


@dataclass(frozen=True)
class Decision:
    """One review decision; ``index`` is its position in the file, ``end`` exclusive (None = to the end)."""

    index: int
    source: str
    recording: str
    action: str
    label: str | None = None
    start: int | None = None
    end: int | None = None
    note: str = ""
    reviewer: str = ""
    time: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.recording

    def span(self, n_frames: int, where: str = "") -> slice:
        """Frames the decision covers; OverrideError if the span reaches past ``n_frames``."""
        start = 0 if self.start is None else self.start
        end = n_frames if self.end is None else self.end
        if end > n_frames or start >= n_frames:
            raise OverrideError(f"{where}decisions[{self.index}] ({self.source}/{self.recording}): frame span "
                                f"[{start}, {end}) does not fit the recording's {n_frames} frames")
        return slice(start, end)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "recording": self.recording, "action": self.action}
        for key in ("label", "start", "end"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("note", "reviewer", "time"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class Overrides:
    """Validated decisions over one label space, in file order."""

    label_space: LabelSpace
    decisions: list[Decision] = field(default_factory=list)
    path: str = "<dict>"

    def for_recording(self, source: str, name: str) -> list[Decision]:
        return [d for d in self.decisions if d.key == (source, name)]

    def recordings(self) -> list[tuple[str, str]]:
        """(source, recording) pairs with decisions, in first-seen order."""
        return list(dict.fromkeys(d.key for d in self.decisions))

    def to_dict(self) -> dict[str, Any]:
        return {"version": OVERRIDES_VERSION, "label_space": self.label_space.name,
                "decisions": [d.to_dict() for d in self.decisions]}

    @classmethod
    def from_dict(cls, data: Any, path: str = "<dict>") -> Overrides:
        """Validate a parsed overrides document; OverrideError names ``path`` and the decision index."""
        if not isinstance(data, Mapping):
            raise OverrideError(f"{path}: expected a JSON object with 'version', 'label_space', 'decisions'")
        unknown = sorted(set(data) - {"version", "label_space", "decisions"})
        if unknown:
            raise OverrideError(f"{path}: unknown top-level keys {unknown}")
        if data.get("version") != OVERRIDES_VERSION:
            raise OverrideError(f"{path}: field 'version': expected {OVERRIDES_VERSION}, got {data.get('version')!r}")
        try:
            space = get_label_space(data.get("label_space"))
        except UnknownLabelError as exc:
            raise OverrideError(f"{path}: field 'label_space': {exc}") from None
        raw = data.get("decisions")
        if not isinstance(raw, list):
            raise OverrideError(f"{path}: field 'decisions': expected a list")
        return cls(label_space=space, decisions=[_parse_decision(i, d, space, path) for i, d in enumerate(raw)],
                   path=path)


def _parse_decision(index: int, raw: Any, space: LabelSpace, path: str) -> Decision:
    where = f"{path}: decisions[{index}]"
    if not isinstance(raw, Mapping):
        raise OverrideError(f"{where}: expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise OverrideError(f"{where}: unknown fields {unknown}; valid: {sorted(_KEYS)}")
    for key in ("source", "recording"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise OverrideError(f"{where}: field '{key}': expected a non-empty string, got {raw.get(key)!r}")
    action = raw.get("action")
    if action not in ACTIONS:
        raise OverrideError(f"{where}: field 'action': expected one of {list(ACTIONS)}, got {action!r}")
    label = raw.get("label")
    if action == "relabel":
        if label not in space.names:
            raise OverrideError(f"{where}: field 'label': {label!r} is not a category of {space.name}; "
                                f"valid: {space.names}")
    elif label is not None:
        raise OverrideError(f"{where}: field 'label': only 'relabel' decisions carry a label (action {action!r})")
    bounds = {}
    for key in ("start", "end"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise OverrideError(f"{where}: field '{key}': expected a frame index >= 0, got {value!r}")
        bounds[key] = value
    if bounds["start"] is not None and bounds["end"] is not None and bounds["end"] <= bounds["start"]:
        raise OverrideError(f"{where}: field 'end': {bounds['end']} must be greater than start {bounds['start']}")
    for key in ("note", "reviewer", "time"):
        if key in raw and not isinstance(raw[key], str):
            raise OverrideError(f"{where}: field '{key}': expected a string")
    if raw.get("time"):
        try:
            datetime.fromisoformat(raw["time"])
        except ValueError:
            raise OverrideError(f"{where}: field 'time': not an ISO 8601 time: {raw['time']!r}") from None
    return Decision(index=index, source=raw["source"], recording=raw["recording"], action=action, label=label,
                    start=bounds["start"], end=bounds["end"], note=raw.get("note", ""),
                    reviewer=raw.get("reviewer", ""), time=raw.get("time", ""))


def load_overrides(path: str | os.PathLike) -> Overrides:
    """Read and validate an overrides JSON file."""
    path = Path(path)
    data = read_document(path, OverrideError, "overrides file", fmt="json")
    try:
        return Overrides.from_dict(data, str(path))
    except OverrideError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # a value of an unexpected type deep in the document: still name the file
        raise OverrideError(f"{path}: malformed overrides file ({type(exc).__name__}: {exc})") from None


def save_overrides(path: str | os.PathLike, overrides: Overrides) -> Path:
    """Write ``overrides`` as JSON atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(overrides.to_dict(), indent=2, ensure_ascii=False) + "\n")


def apply_overrides(labels: np.ndarray, decisions: Iterable[Decision], space: LabelSpace,
                    where: str = "") -> tuple[np.ndarray, int, bool]:
    """Apply decisions in order to a copy of ``labels`` ((T,) codes of ``space``).

    Returns (labels (T,) int64, number of decisions applied, reviewed: whether
    any decision concerned the recording).  Raises OverrideError when a span
    does not fit the recording.
    """
    out = np.array(labels, dtype=np.int64, copy=True)
    applied = 0
    reviewed = False
    for decision in decisions:
        reviewed = True
        span = decision.span(out.shape[0], where)
        if decision.action == "reject":
            out[span] = space.null_code
        elif decision.action == "relabel":
            out[span] = space.code(decision.label)
        applied += 1
    return out, applied, reviewed


def unknown_recordings(overrides: Overrides, known: Iterable[tuple[str, str]]) -> list[Decision]:
    """Decisions whose (source, recording) is not in ``known``."""
    known = set(known)
    unknown = [d for d in overrides.decisions if d.key not in known]
    for d in unknown:
        log.warning("%s: decisions[%d]: recording %s/%s is not in the store", overrides.path, d.index,
                    d.source, d.recording)
    return unknown
