"""Label the AMASS-derived recordings of a store: rules, BABEL, own frame labels, review overrides.

For each recording synthesised from an AMASS-format file (provenance
``format == 'amass-npz'``; other recordings, e.g. real datasets, are skipped):

1. the first matching sequence rule (`virtimu.labels.rules`) gives a category
   to every frame, or excludes the recording (all frames null,
   ``provenance['labels']['excluded'] = reason``);
2. frame labels the recording carries itself (the demo clips) are mapped by
   name into the label space (the rule file's ``frame_labels``); frames whose
   own label maps to a category take it;
3. BABEL frame labels (`virtimu.labels.babel`), where the recording has them,
   replace the labels of every frame a BABEL segment covers;
4. when ``label_space`` is not the rules' space, the labels are mapped with
   `virtimu.labels.maps.get_label_map`;
5. review decisions (`virtimu.labels.overrides`) apply in file order.

Steps 2 and 3 do not apply to excluded recordings; step 5 always does (a
reviewer has the last word).  The labels are written with
`RecordingStore.update_labels` (label map = the label space) after all
recordings have been computed and checked, so an error (unknown frame-label
name, override span past the end) leaves the store untouched.

Re-running is reproducible: the recording's own frame labels are kept, run
length encoded, in ``provenance['labels']['original']`` the first time they
are replaced, and later runs start from them rather than from the previous
result.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from virtimu import __version__
from virtimu.labels.babel import BabelCategories, BabelIndex, babel_frame_labels, load_babel, load_babel_categories
from virtimu.labels.maps import LabelSpace, get_label_map, get_label_space, map_by_names
from virtimu.labels.overrides import Decision, OverrideError, Overrides, apply_overrides, load_overrides
from virtimu.labels.rules import RuleDecision, RuleSet, load_rules
from virtimu.store import RecordingStore

log = logging.getLogger(__name__)

__all__ = ["LabelReport", "RecordingLabels", "label_store", "label_recording", "encode_runs", "decode_runs"]

AMASS_FORMAT = "amass-npz"


# --------------------------------------------------------------------------- run-length coding


def encode_runs(labels: np.ndarray) -> list[list[int]]:
    """(T,) codes -> [[code, start, stop), ...] runs of equal codes."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [labels.size]])
    return [[int(labels[s]), int(s), int(e)] for s, e in zip(starts, stops, strict=True)]


def decode_runs(runs: Sequence[Sequence[int]], n_frames: int, fill: int = 0) -> np.ndarray:
    """Inverse of `encode_runs` ((T,) int64; frames no run covers get ``fill``)."""
    out = np.full(n_frames, fill, dtype=np.int64)
    for code, start, stop in runs:
        out[int(start):int(stop)] = int(code)
    return out


# --------------------------------------------------------------------------- one recording


@dataclass
class RecordingLabels:
    """Labels computed for one recording and the facts recorded in its provenance."""

    source: str
    name: str
    labels: np.ndarray
    info: dict[str, Any]

    @property
    def excluded(self) -> str | None:
        return self.info.get("excluded")


def _own_labels(attrs: Mapping[str, Any], read_labels: Callable[[], np.ndarray]) -> Mapping[str, Any] | None:
    """The recording's own frame labels as {'label_map', 'runs'} (from a previous run if there was one)."""
    previous = (attrs.get("provenance") or {}).get("labels")
    if isinstance(previous, Mapping) and "label_space" in previous:
        return previous.get("original")
    if not attrs.get("has_labels"):
        return None
    labels = read_labels()
    label_map = {str(k): v for k, v in (attrs.get("label_map") or {}).items()}
    return {"label_map": label_map, "runs": encode_runs(labels)}


def label_recording(source: str, name: str, provenance: Mapping[str, Any], n_frames: int, fs: float, *,
                    rules: RuleSet, space: LabelSpace, own: Mapping[str, Any] | None = None,
                    babel: BabelIndex | None = None, babel_categories: BabelCategories | None = None,
                    decisions: Sequence[Decision] = ()) -> RecordingLabels:
    """Labels (T,) of one recording in ``space`` (steps 1-5 of the module docstring).

    own: the recording's own frame labels as {'label_map': {code: name}, 'runs': [[code, start, stop]]}.
    Raises UnknownLabelError for own label names with no category, OverrideError
    for decision spans that do not fit ``n_frames``.
    """
    rule_space = rules.label_space
    where = f"{source}/{name}"
    decision: RuleDecision = rules.classify_recording(name, provenance)
    info: dict[str, Any] = {
        "label_space": space.name, "rules": rules.path, "rule": decision.rule, "category": decision.category,
        "excluded": decision.excluded, "frame_labels": None, "babel": None, "overrides": None,
        "original": dict(own) if own is not None else None, "virtimu": __version__,
    }
    labels = np.full(n_frames, rule_space.null_code, dtype=np.int64)
    if decision.category is not None and not decision.excluded:
        labels[:] = rule_space.code(decision.category)
    if not decision.excluded:
        if own is not None:
            own_map = {int(k): v for k, v in own["label_map"].items()}
            own_codes = decode_runs(own["runs"], n_frames)
            mapped = map_by_names(own_codes, own_map, rule_space, rules.frame_labels, where=where)
            hit = mapped != rule_space.null_code
            labels[hit] = mapped[hit]
            info["frame_labels"] = {"frames": int(hit.sum())}
        if babel is not None:
            seq = babel.lookup(name, provenance)
            if seq is not None:
                codes, covered = babel_frame_labels(seq, n_frames, fs, babel_categories)
                labels[covered] = codes[covered]
                info["babel"] = {"sid": seq.sid, "split": seq.split, "feat_p": seq.feat_p,
                                 "frame_labels": seq.frame_segments is not None, "frames": int(covered.sum()),
                                 "dur_s": seq.dur, "recording_s": n_frames / fs}
                if abs(seq.dur - n_frames / fs) > 0.5 + 0.05 * seq.dur:
                    log.warning("%s: BABEL sequence %s lasts %.2f s, the recording %.2f s", where, seq.sid,
                                seq.dur, n_frames / fs)
    if space.name != rule_space.name:
        labels = get_label_map(rule_space.name, space.name).apply(labels)
    if decisions:
        labels, applied, reviewed = apply_overrides(labels, decisions, space)
        info["overrides"] = {"applied": applied, "reviewed": reviewed,
                             "decisions": [d.index for d in decisions]}
    return RecordingLabels(source=source, name=name, labels=labels, info=info)


# --------------------------------------------------------------------------- report


@dataclass
class LabelReport:
    """What `label_store` did.

    categories: {name: {'frames': n, 'recordings': n}} over every category of the space.
    excluded: {reason: [recording, ...]}.  unlabelled: recordings with only
    null frames that are not excluded; unlabelled_frames: null frames of
    non-excluded recordings.  by: how many recordings got labels from the
    'rules', 'frame_labels', 'babel'.  overrides_applied: decisions applied;
    reviewed: recordings with decisions; unknown_recordings: decisions for
    recordings not in the store ('source/name (decision i)').  skipped:
    '<source>/<name>: reason' for recordings not labelled.
    """

    label_space: str
    store: str
    recordings: int = 0
    frames: int = 0
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    excluded: dict[str, list[str]] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)
    unlabelled_frames: int = 0
    by: dict[str, int] = field(default_factory=lambda: {"rules": 0, "frame_labels": 0, "babel": 0})
    overrides_applied: int = 0
    reviewed: int = 0
    unknown_recordings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    written: int = 0
    dry_run: bool = False

    def add(self, result: RecordingLabels, space: LabelSpace) -> None:
        self.recordings += 1
        self.frames += int(result.labels.size)
        codes, counts = np.unique(result.labels, return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            entry = self.categories.setdefault(space.name_of(code), {"frames": 0, "recordings": 0})
            entry["frames"] += int(count)
            entry["recordings"] += 1
        info = result.info
        if info["excluded"]:
            self.excluded.setdefault(info["excluded"], []).append(f"{result.source}/{result.name}")
        else:
            nulls = int((result.labels == space.null_code).sum())
            self.unlabelled_frames += nulls
            if nulls == result.labels.size:
                self.unlabelled.append(f"{result.source}/{result.name}")
        if info["category"] and not info["excluded"]:
            self.by["rules"] += 1
        if info["frame_labels"] and info["frame_labels"]["frames"]:
            self.by["frame_labels"] += 1
        if info["babel"]:
            self.by["babel"] += 1
        if info["overrides"]:
            self.overrides_applied += info["overrides"]["applied"]
            self.reviewed += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_space": self.label_space, "store": self.store, "recordings": self.recordings,
            "frames": self.frames, "categories": self.categories, "excluded": self.excluded,
            "unlabelled": self.unlabelled, "unlabelled_frames": self.unlabelled_frames, "by": dict(self.by),
            "overrides_applied": self.overrides_applied, "reviewed": self.reviewed,
            "unknown_recordings": self.unknown_recordings, "skipped": self.skipped, "written": self.written,
            "dry_run": self.dry_run,
        }

    def format(self) -> str:
        """A plain-text summary with one table row per category."""
        lines = [f"labels ({self.label_space}) for {self.recordings} recordings, {self.frames} frames in {self.store}"
                 + (" [dry run: nothing written]" if self.dry_run else f"; {self.written} written")]
        width = max([len("category")] + [len(c) for c in self.categories])
        lines.append(f"{'category':<{width}}  {'frames':>9}  {'share':>6}  {'recordings':>10}")
        lines.append(f"{'-' * width}  {'-' * 9}  {'-' * 6}  {'-' * 10}")
        for name, entry in self.categories.items():
            share = entry["frames"] / self.frames if self.frames else 0.0
            lines.append(f"{name:<{width}}  {entry['frames']:>9}  {share:>6.1%}  {entry['recordings']:>10}")
        n_excl = sum(len(v) for v in self.excluded.values())
        reasons = ", ".join(f"{r} {len(v)}" for r, v in sorted(self.excluded.items())) or "-"
        lines.append(f"excluded: {n_excl} recordings ({reasons})")
        lines.append(f"unlabelled: {len(self.unlabelled)} recordings with no category at all; "
                     f"{self.unlabelled_frames} null frames in recordings not excluded")
        lines.append(f"labels from: rules {self.by['rules']}, own frame labels {self.by['frame_labels']}, "
                     f"BABEL {self.by['babel']} recordings")
        lines.append(f"overrides: {self.overrides_applied} decisions applied to {self.reviewed} recordings; "
                     f"{len(self.unknown_recordings)} for recordings not in the store")
        for item in self.unknown_recordings:
            lines.append(f"  unknown: {item}")
        if self.skipped:
            lines.append(f"skipped: {len(self.skipped)} recordings")
            for item in self.skipped[:20]:
                lines.append(f"  {item}")
            if len(self.skipped) > 20:
                lines.append(f"  ... {len(self.skipped) - 20} more")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the store


def _file_digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _resolve(rules, babel, overrides, babel_categories):
    if rules is None or isinstance(rules, (str, os.PathLike)):
        rules = load_rules(rules)
    if isinstance(babel, (str, os.PathLike)) or (isinstance(babel, Sequence) and not isinstance(babel, BabelIndex)):
        babel = load_babel(babel)
    if babel is not None:
        if babel_categories is None or isinstance(babel_categories, (str, os.PathLike)):
            babel_categories = load_babel_categories(babel_categories)
        if babel_categories.label_space.name != rules.label_space.name:
            raise ValueError(f"BABEL categories ({babel_categories.path}) are in label space "
                             f"{babel_categories.label_space.name!r}, the rules ({rules.path}) in "
                             f"{rules.label_space.name!r}")
    if isinstance(overrides, (str, os.PathLike)):
        overrides = load_overrides(overrides)
    return rules, babel, overrides, babel_categories


def label_store(store_path: str | os.PathLike, *, rules: RuleSet | str | os.PathLike | None = None,
                babel: BabelIndex | str | os.PathLike | Sequence[str] | None = None,
                overrides: Overrides | str | os.PathLike | None = None, label_space: str = "synthetic12",
                sources: Iterable[str] | None = None,
                babel_categories: BabelCategories | str | os.PathLike | None = None,
                dry_run: bool = False, progress: bool = False) -> LabelReport:
    """Label every AMASS-derived recording of a store (see the module docstring).

    store_path: a virtimu recording store.
    rules: RuleSet or rule file (default: bundled ``amass_12.yaml``).
    babel: BabelIndex, BABEL release folder or JSON file(s), or None.
    overrides: Overrides or overrides JSON file, or None.
    label_space: space of the written labels (the rules' space, or one a
        bundled map leads to from it); overrides must be in this space.
    sources: sources to label (default: all).
    dry_run: compute and report, write nothing.
    Returns a LabelReport.  Raises UnknownLabelError / OverrideError before
    anything is written when a recording's labels cannot be computed.
    """
    rules, babel, overrides, babel_categories = _resolve(rules, babel, overrides, babel_categories)
    space = get_label_space(label_space)
    if space.name != rules.label_space.name:
        get_label_map(rules.label_space.name, space.name)  # raises if there is no map
    if overrides is not None and overrides.label_space.name != space.name:
        raise OverrideError(f"{overrides.path}: decisions are in label space {overrides.label_space.name!r}, "
                            f"the labels are written in {space.name!r}")
    store = RecordingStore(store_path, mode="r" if dry_run else "a")
    report = LabelReport(label_space=space.name, store=str(store_path), dry_run=dry_run)
    pairs = [p for s in (sorted(sources) if sources is not None else store.sources()) for p in store.list(s)]
    known = set(store.list())
    if overrides is not None:
        report.unknown_recordings = [f"{d.source}/{d.recording} (decision {d.index})"
                                     for d in overrides.decisions if d.key not in known]
        for item in report.unknown_recordings:
            log.warning("%s: no such recording in %s: %s", overrides.path, store_path, item)

    rules_digest = _file_digest(rules.path)
    results: list[RecordingLabels] = []
    for source, name in tqdm(pairs, desc="labels", unit="rec", disable=not progress):
        attrs = store.recording_attrs(source, name)
        provenance = attrs.get("provenance") or {}
        if provenance.get("format") != AMASS_FORMAT:
            report.skipped.append(f"{source}/{name}: not synthesised from an AMASS-format file "
                                  f"(provenance format {provenance.get('format')!r})")
            continue
        n_frames, fs = int(attrs["n_frames"]), float(attrs["fs"])
        own = _own_labels(attrs, lambda s=source, n=name: store.read(s, n).labels)
        decisions = overrides.for_recording(source, name) if overrides is not None else []
        try:
            result = label_recording(source, name, provenance, n_frames, fs, rules=rules, space=space, own=own,
                                     babel=babel, babel_categories=babel_categories, decisions=decisions)
        except OverrideError as exc:
            raise OverrideError(f"{overrides.path}: {exc}") from None
        result.info["rules_sha256"] = rules_digest
        if overrides is not None and decisions:
            result.info["overrides"]["file"] = overrides.path
        results.append(result)
        report.add(result, space)
    # every category appears in the report, in code order
    report.categories = {n: report.categories.get(n, {"frames": 0, "recordings": 0})
                         for n in space.codes.values()}
    if not dry_run:
        for result in tqdm(results, desc="write labels", unit="rec", disable=not progress):
            store.update_labels(result.source, result.name, result.labels, space.label_map(),
                                provenance_update={"labels": result.info})
            report.written += 1
    log.info("labelled %d recordings (%d frames) in %s", report.recordings, report.frames, store_path)
    return report
