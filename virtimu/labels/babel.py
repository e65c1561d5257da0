"""BABEL action labels -> per-frame synthetic12 labels of AMASS recordings.

BABEL (Punnakkal et al., "BABEL: Bodies, Action and Behavior with English
Labels", CVPR 2021; https://babel.is.tue.mpg.de) annotates AMASS sequences.
The release ``babel_v1.0_release/`` holds ``train.json``, ``val.json``,
``test.json`` (dense annotations) and ``extra_train.json``, ``extra_val.json``
(further annotators).  Each file is a dict keyed by the sequence id (a string)::

    {"<sid>": {
        "babel_sid": 7692,
        "url": "https://babel-renders.../007692.mp4",
        "feat_p": "CMU/CMU/141/141_05_poses.npz",   # AMASS path inside BABEL's archive layout
        "dur": 3.83,                                # seconds
        "seq_ann":   {"babel_lid", "anntr_id", "mul_act",
                      "labels": [{"raw_label", "proc_label", "seg_id", "act_cat": [...]}]},
        "frame_ann": null | {"babel_lid", "anntr_id", "mul_act",
                      "labels": [{"raw_label", "proc_label", "seg_id", "act_cat": [...],
                                  "start_t": 1, "end_t": 2}]}}}

The extra files carry lists ``seq_anns`` / ``frame_anns`` (one entry per
annotator) instead of ``seq_ann`` / ``frame_ann``; the first annotator with
frame labels is used.  Fields read: feat_p, dur, babel_sid, url and, per
label, act_cat, proc_label, raw_label, seg_id, start_t, end_t.  A sequence
without frame labels (``frame_ann`` null: BABEL annotated it as one action) is
labelled from its sequence labels, on every frame.

Paths: ``feat_p`` starts with the archive name and repeats the sub-dataset
folder ('CMU/CMU/...', 'BMLrub/BioMotionLab_NTroje/...', 'DFaust67/DFaust_67/...');
recordings are named after the AMASS release the user has ('CMU/141/141_05_poses',
'BMLrub/rub055/...', 'DFaust/50002/...', '..._stageii').  Both sides are reduced
to (canonical sub-dataset, subject folder, file stem without '_poses' /
'_stageii'), with the two releases' folder names treated as aliases
(`virtimu.labels.rules.canonical_sub_dataset`).

Frame labels: a segment [start_t, end_t) in seconds covers the frames k of a
recording at rate fs with start_t <= k / fs < end_t (frame 0 at the first
AMASS frame).  Segments map to synthetic12 through
``virtimu/assets/labels/maps/babel_act_cat.yaml`` (proc_label rules, act_cat
table, priority for overlapping segments, 'veto' for combat / calibration /
quick transitions).
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from virtimu.io.documents import read_document
from virtimu.labels.maps import LabelSpace, UnknownLabelError, get_label_space
from virtimu.labels.rules import canonical_sub_dataset, sequence_stem

log = logging.getLogger(__name__)

__all__ = [
    "BABEL_SPLITS", "DEFAULT_BABEL_CATEGORIES", "VETO", "BabelFormatError", "BabelSegment", "BabelSequence",
    "BabelIndex", "BabelCategories", "load_babel", "load_babel_categories", "babel_key", "babel_frame_labels",
]

#: Files of the BABEL v1.0 release, dense annotations first.
BABEL_SPLITS = ("train", "val", "test", "extra_train", "extra_val")
#: The bundled act_cat -> synthetic12 table.
DEFAULT_BABEL_CATEGORIES = (Path(__file__).resolve().parent.parent / "assets" / "labels" / "maps"
                            / "babel_act_cat.yaml")
#: Category name that forces frames to null.
VETO = "veto"
#: Tolerance (frames) when converting segment times to frame indices.
_EPS = 1e-6


class BabelFormatError(ValueError):
    """A BABEL file does not follow the release layout (message names file, sequence id and field)."""


@dataclass(frozen=True)
class BabelSegment:
    """One BABEL label: [start_t, end_t) seconds (sequence labels span the whole sequence)."""

    start_t: float
    end_t: float
    act_cat: tuple[str, ...]
    proc_label: str = ""
    raw_label: str = ""
    seg_id: str = ""


@dataclass(frozen=True)
class BabelSequence:
    """One annotated AMASS sequence.

    sid: key in the file.  feat_p: BABEL's AMASS path.  dur: seconds.
    split: file it came from.  frame_segments: frame labels, or None when BABEL
    has only sequence labels.  seq_segments: sequence labels (start 0, end inf:
    they describe the whole sequence).
    """

    sid: str
    feat_p: str
    dur: float
    split: str
    babel_sid: int | None = None
    url: str = ""
    frame_segments: tuple[BabelSegment, ...] | None = None
    seq_segments: tuple[BabelSegment, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return babel_key(self.feat_p)

    def segments(self) -> tuple[BabelSegment, ...]:
        """Frame segments when present, else the sequence labels (they span the whole recording)."""
        if self.frame_segments is not None:
            return self.frame_segments
        return self.seq_segments


def babel_key(path: str, sub_dataset: str | None = None, subject: str | None = None) -> tuple[str, str, str]:
    """(canonical sub-dataset, subject folder, lower-case file stem) of an AMASS path.

    Works for BABEL's 'CMU/CMU/02/02_04_poses.npz', release paths
    'CMU/02/02_04_poses(.npz)' / '..._stageii' and recording names; the
    ``sub_dataset`` / ``subject`` arguments (from provenance) override the path's.
    """
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    if not parts:
        raise ValueError(f"empty AMASS path {path!r}")
    stem = sequence_stem(parts[-1]).lower()
    subj = subject if subject is not None else (parts[-2] if len(parts) >= 2 else "")
    ds = sub_dataset if sub_dataset is not None else (parts[-3] if len(parts) >= 3 else "")
    return canonical_sub_dataset(ds), str(subj).lower(), stem


# --------------------------------------------------------------------------- reading the release


def _err(file: str, sid: str, field_name: str, message: str) -> BabelFormatError:
    return BabelFormatError(f"BABEL file {file}: sequence {sid!r}: field '{field_name}': {message}")


def _number(value: Any, file: str, sid: str, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _err(file, sid, field_name, f"expected a finite number, got {value!r}")
    return float(value)


def _segments(ann: Any, file: str, sid: str, where: str, timed: bool) -> tuple[BabelSegment, ...]:
    if not isinstance(ann, Mapping):
        raise _err(file, sid, where, f"expected an object with 'labels', got {type(ann).__name__}")
    labels = ann.get("labels")
    if not isinstance(labels, list):
        raise _err(file, sid, f"{where}.labels", "expected a list")
    out = []
    for i, lab in enumerate(labels):
        here = f"{where}.labels[{i}]"
        if not isinstance(lab, Mapping):
            raise _err(file, sid, here, "expected an object")
        cats = lab.get("act_cat") or []
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise _err(file, sid, f"{here}.act_cat", f"expected a list of strings, got {cats!r}")
        if timed:
            for key in ("start_t", "end_t"):
                if key not in lab:
                    raise _err(file, sid, f"{here}.{key}", "missing")
            start = _number(lab["start_t"], file, sid, f"{here}.start_t")
            end = _number(lab["end_t"], file, sid, f"{here}.end_t")
            if end < start:
                raise _err(file, sid, here, f"end_t {end} < start_t {start}")
        else:
            start, end = 0.0, math.inf
        out.append(BabelSegment(start, end, tuple(cats), str(lab.get("proc_label") or ""),
                                str(lab.get("raw_label") or ""), str(lab.get("seg_id") or "")))
    return tuple(out)


def _first(anns: Any, file: str, sid: str, where: str) -> Any:
    """The first non-null annotation of an extra-file list ('seq_anns' / 'frame_anns')."""
    if anns is None:
        return None
    if not isinstance(anns, list):
        raise _err(file, sid, where, f"expected a list of annotations or null, got {type(anns).__name__}")
    return next((a for a in anns if a is not None), None)


def _parse_sequence(sid: str, entry: Any, file: str, split: str) -> BabelSequence:
    if not isinstance(entry, Mapping):
        raise BabelFormatError(f"BABEL file {file}: sequence {sid!r}: expected an object, got {type(entry).__name__}")
    feat_p = entry.get("feat_p")
    if not isinstance(feat_p, str) or not feat_p:
        raise _err(file, sid, "feat_p", f"expected an AMASS path string, got {feat_p!r}")
    if "dur" not in entry:
        raise _err(file, sid, "dur", "missing")
    dur = _number(entry["dur"], file, sid, "dur")
    if "frame_ann" in entry or "seq_ann" in entry:
        frame_ann, seq_ann = entry.get("frame_ann"), entry.get("seq_ann")
        f_name, s_name = "frame_ann", "seq_ann"
    else:
        frame_ann = _first(entry.get("frame_anns"), file, sid, "frame_anns")
        seq_ann = _first(entry.get("seq_anns"), file, sid, "seq_anns")
        f_name, s_name = "frame_anns[0]", "seq_anns[0]"
    frame_segments = _segments(frame_ann, file, sid, f_name, timed=True) if frame_ann is not None else None
    seq_segments = _segments(seq_ann, file, sid, s_name, timed=False) if seq_ann is not None else ()
    babel_sid = entry.get("babel_sid")
    return BabelSequence(sid=str(sid), feat_p=feat_p, dur=dur, split=split,
                         babel_sid=int(babel_sid) if isinstance(babel_sid, int) else None,
                         url=str(entry.get("url") or ""), frame_segments=frame_segments, seq_segments=seq_segments)


def _read_split(path: Path, split: str) -> list[BabelSequence]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise BabelFormatError(f"BABEL file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise BabelFormatError(f"BABEL file {path}: expected an object keyed by sequence id, "
                               f"got {type(data).__name__}")
    return [_parse_sequence(str(sid), entry, str(path), split) for sid, entry in data.items()]


@dataclass
class BabelIndex:
    """BABEL sequences found by AMASS path (see `babel_key`)."""

    sequences: list[BabelSequence]
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], BabelSequence] = {}
        by_short: dict[tuple[str, str], list[BabelSequence]] = {}
        for seq in self.sequences:
            key = seq.key
            if key in self._by_key:  # earlier files (dense splits) win
                continue
            self._by_key[key] = seq
            by_short.setdefault(key[1:], []).append(seq)
        self._by_short = by_short

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, name: str, provenance: Mapping[str, Any] | None = None) -> BabelSequence | None:
        """The BABEL sequence of a recording (name + provenance), or None.

        Matches (sub-dataset, subject, stem) exactly; when the recording's
        sub-dataset is unknown, (subject, stem) alone if exactly one BABEL
        sequence has it.
        """
        prov = provenance or {}
        key = babel_key(name, prov.get("sub_dataset"), prov.get("subject"))
        if key in self._by_key:
            return self._by_key[key]
        if not key[0]:
            candidates = self._by_short.get(key[1:], [])
            if len(candidates) == 1:
                return candidates[0]
        return None


def load_babel(path: str | os.PathLike | Sequence[str | os.PathLike],
               splits: Iterable[str] = BABEL_SPLITS) -> BabelIndex:
    """Read BABEL release files into an index.

    path: the ``babel_v1.0_release`` folder (the files named in ``splits`` that
        exist are read, in that order), one JSON file, or a list of files.
    Raises FileNotFoundError when nothing is found, BabelFormatError naming the
    file, sequence id and field for malformed content.
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        if path.is_dir():
            files = [(path / f"{s}.json", s) for s in splits if (path / f"{s}.json").is_file()]
            if not files:
                raise FileNotFoundError(f"BABEL folder {path}: none of {[f'{s}.json' for s in splits]} found")
        elif path.is_file():
            files = [(path, path.stem)]
        else:
            raise FileNotFoundError(f"BABEL input {path}: no such file or directory")
    else:
        files = [(Path(p), Path(p).stem) for p in path]
        for f, _ in files:
            if not f.is_file():
                raise FileNotFoundError(f"BABEL file {f}: no such file")
    sequences: list[BabelSequence] = []
    for f, split in files:
        sequences += _read_split(f, split)
    index = BabelIndex(sequences, [str(f) for f, _ in files])
    log.info("BABEL: %d sequences from %d file(s)", len(index), len(files))
    return index


# --------------------------------------------------------------------------- categories


@dataclass
class BabelCategories:
    """How BABEL segments become categories (see ``babel_act_cat.yaml``).

    act_cat: {BABEL action category: category | 'veto'}.
    proc_label: [(compiled regex, category | 'veto')], tried first.
    priority: categories and 'veto', strongest first.
    """

    label_space: LabelSpace
    act_cat: dict[str, str]
    proc_label: list[tuple[re.Pattern, str]]
    priority: list[str]
    path: str = "<dict>"

    def __post_init__(self) -> None:
        self.rank = {name: i for i, name in enumerate(self.priority)}

    def segment_category(self, seg: BabelSegment) -> str | None:
        """Category (or 'veto') of one segment; None when none of its labels maps."""
        for pattern, category in self.proc_label:
            if pattern.search(seg.proc_label) or pattern.search(seg.raw_label):
                return category
        mapped = [self.act_cat[c] for c in seg.act_cat if c in self.act_cat]
        return min(mapped, key=self.rank.__getitem__) if mapped else None

    @classmethod
    def from_dict(cls, data: Any, path: str = "<dict>") -> BabelCategories:
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping")
        unknown = sorted(set(data) - {"label_space", "priority", "proc_label", "act_cat"})
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}")
        try:
            space = get_label_space(data.get("label_space", "synthetic12"))
        except UnknownLabelError as exc:
            raise ValueError(f"{path}: field 'label_space': {exc}") from None
        valid = set(space.names) | {VETO}
        priority = list(data.get("priority") or [])
        bad = sorted(set(priority) - valid)
        if bad:
            raise ValueError(f"{path}: field 'priority': unknown categories {bad}; valid: {sorted(valid)}")
        act_cat = dict(data.get("act_cat") or {})
        for cat, target in act_cat.items():
            if target not in valid:
                raise ValueError(f"{path}: act_cat[{cat!r}]: unknown category {target!r}; valid: {sorted(valid)}")
        rules = []
        for i, item in enumerate(data.get("proc_label") or []):
            if not isinstance(item, Mapping) or set(item) != {"pattern", "category"}:
                raise ValueError(f"{path}: proc_label[{i}]: expected {{pattern, category}}")
            if item["category"] not in valid:
                raise ValueError(f"{path}: proc_label[{i}]: field 'category': unknown category {item['category']!r}")
            try:
                rules.append((re.compile(item["pattern"], re.IGNORECASE), item["category"]))
            except re.error as exc:
                raise ValueError(f"{path}: proc_label[{i}]: field 'pattern': bad regular expression ({exc})") from None
        missing = sorted((set(act_cat.values()) | {c for _, c in rules}) - set(priority))
        if missing:
            raise ValueError(f"{path}: field 'priority': categories {missing} are used but have no priority")
        return cls(label_space=space, act_cat=act_cat, proc_label=rules, priority=priority, path=path)


def load_babel_categories(path: str | os.PathLike | None = None) -> BabelCategories:
    """The act_cat -> category table (default: the bundled ``babel_act_cat.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_BABEL_CATEGORIES
    data = read_document(path, BabelFormatError, "BABEL category file", fmt="yaml")
    try:
        return BabelCategories.from_dict(data, str(path))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        message = str(exc) if isinstance(exc, ValueError) and str(path) in str(exc) else (
            f"{path}: malformed category file ({type(exc).__name__}: {exc})")
        raise BabelFormatError(message) from None


# --------------------------------------------------------------------------- frame labels


def segment_frames(start_t: float, end_t: float, fs: float, n_frames: int) -> tuple[int, int]:
    """Frame range [k0, k1) of the frames k with start_t <= k / fs < end_t, clipped to [0, n_frames)."""
    k0 = max(0, math.ceil(start_t * fs - _EPS))
    k1 = n_frames if math.isinf(end_t) else min(n_frames, max(0, math.ceil(end_t * fs - _EPS)))
    return k0, max(k0, k1)


def babel_frame_labels(seq: BabelSequence, n_frames: int, fs: float,
                       categories: BabelCategories | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame codes of ``categories.label_space`` from BABEL labels.

    n_frames: T frames of the recording.  fs: its rate in Hz (frame k at k / fs s).
    Returns (codes (T,) int64, covered (T,) bool): ``covered`` marks frames some
    segment spans; codes there are the highest-priority category of the
    covering segments (null when vetoed or when no covering label maps); codes
    elsewhere are null.
    """
    categories = categories or load_babel_categories()
    space = categories.label_space
    none_rank = len(categories.priority)
    best = np.full(n_frames, none_rank, dtype=np.int64)
    covered = np.zeros(n_frames, dtype=bool)
    for seg in seq.segments():
        k0, k1 = segment_frames(seg.start_t, seg.end_t, fs, n_frames)
        if k1 <= k0:
            continue
        covered[k0:k1] = True
        category = categories.segment_category(seg)
        if category is not None:
            np.minimum(best[k0:k1], categories.rank[category], out=best[k0:k1])
    lut = np.full(none_rank + 1, space.null_code, dtype=np.int64)
    for name, rank in categories.rank.items():
        if name != VETO:
            lut[rank] = space.code(name)
    return lut[best], covered
