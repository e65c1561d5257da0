"""Sequence rules: one activity category (or an exclusion) per AMASS sequence.

Paper 001 (section 2.3, "posture-based labeling") first classifies whole AMASS
motions into 12 categories from the descriptions of the motions in the
sub-datasets, and removes two kinds of motion: those with little relevance to
daily life (boxing and other martial arts) and those with frequent quick
transitions.  The paper does not list its 12 categories; virtimu's list
(label space ``synthetic12``) is our reconstruction from the activities the
paper names (walking, running, jumping, arm stretching, waving, clapping and
DIP-IMU's computer work / walking / jumping / stretching arms / stretching
legs) and the usual real HAR targets::

    walking, running, jumping, standing, sitting, lying, stairs,
    arm_stretching, leg_stretching, arm_gestures (waving, clapping, gesturing),
    object_interaction (picking up, carrying, throwing / catching, placing),
    dancing            + null (code 0)

A rule file (``virtimu/assets/labels/amass_12.yaml`` by default) holds an
ordered list of rules.  Each rule matches on any of

    sub_dataset  AMASS sub-dataset name or glob (or a list); names of the two
                 AMASS releases are aliases (BMLrub = BioMotionLab_NTroje,
                 DFaust = DFaust_67, HDM05 = MPI_HDM05, ...), case-insensitive
    path         glob (or list) on the relative path 'SubDataset/subject/file-stem'
                 (e.g. 'KIT/3/walking_medium01_poses'), case-insensitive
    name         regular expression searched (case-insensitive) in the sequence
                 name, the file stem without '_poses' / '_stageii'
                 ('walking_medium01'), and in a provenance 'description' if any

(all given matchers must match) and assigns ``category: <name>``,
``category: null`` (deliberately unlabelled) or ``exclude: <reason>``.  The
first matching rule wins; a sequence no rule matches stays unlabelled (null).
The file may also hold ``frame_labels``: {label name found in a recording's
own per-frame labels (the demo clips): category or null}.

Files are validated on load: unknown keys, unknown categories, bad regular
expressions and malformed values raise `RuleError` naming the file, the rule
index and the field.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from virtimu.labels.maps import LabelSpace, UnknownLabelError, get_label_space

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RULES", "RuleError", "Rule", "RuleDecision", "RuleSet", "SequenceInfo", "load_rules",
    "canonical_sub_dataset", "sequence_stem", "describe_rules", "SUB_DATASET_ALIASES",
]

#: The bundled AMASS rule file.
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "assets" / "labels" / "amass_12.yaml"

_TOP_KEYS = {"version", "label_space", "description", "frame_labels", "rules"}
_RULE_KEYS = {"sub_dataset", "path", "name", "category", "exclude", "note"}
_MATCHERS = ("sub_dataset", "path", "name")
_GLOB_CHARS = set("*?[")
_SUFFIXES = ("_poses", "_stageii")

#: Sub-dataset folder names of the SMPL+H and SMPL-X AMASS releases (and BABEL's
#: archive names) that denote the same data, normalised (lower case, letters and
#: digits only) -> one canonical name.
SUB_DATASET_ALIASES = {
    "biomotionlabntroje": "bmlrub",
    "dfaust67": "dfaust",
    "mpihdm05": "hdm05",
    "mpimosh": "mosh",
    "mpilimits": "poseprior",
    "ssmsynced": "ssm",
    "tcdhandmocap": "tcdhands",
    "transitionsmocap": "transitions",
}


class RuleError(ValueError):
    """A rule file is malformed; the message names the file, the rule index and the field."""

    def __init__(self, message: str, path: str = "", index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path, self.index, self.field = path, index, field


def _normalise(name: str, keep: str = "") -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch in keep)


def canonical_sub_dataset(name: str | None) -> str:
    """'BioMotionLab_NTroje' -> 'bmlrub', 'Eyes_Japan_Dataset' -> 'eyesjapandataset' ('' for None)."""
    if not name:
        return ""
    norm = _normalise(name)
    return SUB_DATASET_ALIASES.get(norm, norm)


def sequence_stem(file_name: str) -> str:
    """'walking_medium01_poses.npz' -> 'walking_medium01' (strips '.npz', '_poses', '_stageii')."""
    stem = file_name[:-4] if file_name.lower().endswith(".npz") else file_name
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


@dataclass(frozen=True)
class SequenceInfo:
    """What rules match on, taken from a recording's name and provenance.

    sub_dataset / subject: AMASS folders (None when unknown).
    sequence: file stem without '_poses' / '_stageii' ('walking_medium01').
    paths: relative paths 'SubDataset/subject/file-stem' to match globs against
        (from the provenance, and the recording name when it differs).
    description: free text from provenance['description'], if any.
    """

    sub_dataset: str | None
    subject: str | None
    sequence: str
    paths: tuple[str, ...]
    description: str | None = None

    @classmethod
    def from_recording(cls, name: str, provenance: Mapping[str, Any] | None = None) -> SequenceInfo:
        """From a recording name ('KIT/3/walking_medium01_poses') and its provenance (see virtimu.io.amass)."""
        prov = provenance or {}
        parts = name.split("/")
        sub_dataset = prov.get("sub_dataset") or (parts[0] if len(parts) >= 3 else None)
        subject = prov.get("subject") or (parts[-2] if len(parts) >= 2 else None)
        file_stem = prov.get("sequence") or parts[-1]
        paths = [name]
        if sub_dataset and subject:
            paths.insert(0, f"{sub_dataset}/{subject}/{file_stem}")
        description = prov.get("description")
        return cls(sub_dataset=sub_dataset, subject=subject, sequence=sequence_stem(str(file_stem)),
                   paths=tuple(dict.fromkeys(paths)), description=str(description) if description else None)


@dataclass(frozen=True)
class Rule:
    """One rule (see the module docstring); ``index`` is its position in the file."""

    index: int
    sub_dataset: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    name: re.Pattern | None = None
    category: str | None = None
    exclude: str | None = None
    note: str = ""

    def matches(self, seq: SequenceInfo) -> bool:
        if self.sub_dataset and not any(_match_sub_dataset(p, seq.sub_dataset) for p in self.sub_dataset):
            return False
        if self.path and not any(fnmatch.fnmatchcase(candidate.lower(), p.lower())
                                 for p in self.path for candidate in seq.paths):
            return False
        if self.name is not None:
            texts = [seq.sequence] + ([seq.description] if seq.description else [])
            if not any(self.name.search(t) for t in texts):
                return False
        return True


def _match_sub_dataset(pattern: str, name: str | None) -> bool:
    if not name:
        return False
    if _GLOB_CHARS & set(pattern):
        return fnmatch.fnmatchcase(_normalise(name), _normalise(pattern, keep="*?[]!")) or \
            fnmatch.fnmatchcase(canonical_sub_dataset(name), _normalise(pattern, keep="*?[]!"))
    return canonical_sub_dataset(name) == canonical_sub_dataset(pattern)


@dataclass(frozen=True)
class RuleDecision:
    """The outcome of the rules for one sequence.

    category: category name, or None (unlabelled or excluded).
    excluded: exclusion reason, or None.
    rule: index of the matching rule, or None when no rule matched.
    """

    category: str | None
    excluded: str | None
    rule: int | None
    note: str = ""

    @property
    def matched(self) -> bool:
        return self.rule is not None


@dataclass
class RuleSet:
    """An ordered rule list over one label space (first match wins)."""

    label_space: LabelSpace
    rules: list[Rule]
    frame_labels: dict[str, str | None] = field(default_factory=dict)
    description: str = ""
    path: str = "<dict>"

    def match(self, seq: SequenceInfo) -> Rule | None:
        """The first rule matching ``seq``, or None."""
        return next((rule for rule in self.rules if rule.matches(seq)), None)

    def classify(self, seq: SequenceInfo) -> RuleDecision:
        rule = self.match(seq)
        if rule is None:
            return RuleDecision(category=None, excluded=None, rule=None)
        return RuleDecision(category=rule.category, excluded=rule.exclude, rule=rule.index, note=rule.note)

    def classify_recording(self, name: str, provenance: Mapping[str, Any] | None = None) -> RuleDecision:
        return self.classify(SequenceInfo.from_recording(name, provenance))

    @classmethod
    def from_dict(cls, data: Any, path: str = "<dict>") -> RuleSet:
        """Validate and build a rule set from the parsed file (see the module docstring)."""
        if not isinstance(data, Mapping):
            raise RuleError(f"{path}: expected a mapping with 'label_space' and 'rules'", path)
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise RuleError(f"{path}: unknown top-level keys {unknown}; valid: {sorted(_TOP_KEYS)}", path)
        space_name = data.get("label_space", "synthetic12")
        try:
            space = get_label_space(space_name)
        except UnknownLabelError as exc:
            raise RuleError(f"{path}: field 'label_space': {exc}", path, field="label_space") from None
        raw_rules = data.get("rules")
        if not isinstance(raw_rules, list):
            raise RuleError(f"{path}: field 'rules': expected a list of rules", path, field="rules")
        rules = [_parse_rule(i, raw, space, path) for i, raw in enumerate(raw_rules)]
        frame_labels = _parse_frame_labels(data.get("frame_labels") or {}, space, path)
        return cls(label_space=space, rules=rules, frame_labels=frame_labels,
                   description=str(data.get("description", "")), path=path)


def _patterns(value: Any, where: str, path: str, index: int, field_name: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise RuleError(f"{where}: field '{field_name}': expected a non-empty string or list of strings, "
                        f"got {value!r}", path, index, field_name)
    return tuple(items)


def _parse_rule(index: int, raw: Any, space: LabelSpace, path: str) -> Rule:
    where = f"{path}: rules[{index}]"
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: expected a mapping, got {type(raw).__name__}", path, index)
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {unknown}; valid: {sorted(_RULE_KEYS)}", path, index,
                        unknown[0])
    if not any(k in raw for k in _MATCHERS):
        raise RuleError(f"{where}: needs at least one of {list(_MATCHERS)}", path, index)
    if ("category" in raw) == ("exclude" in raw):
        raise RuleError(f"{where}: give exactly one of 'category' or 'exclude'", path, index,
                        "category" if "category" in raw else None)
    kwargs: dict[str, Any] = {"index": index}
    for key in ("sub_dataset", "path"):
        if key in raw:
            kwargs[key] = _patterns(raw[key], where, path, index, key)
    if "name" in raw:
        if not isinstance(raw["name"], str) or not raw["name"]:
            raise RuleError(f"{where}: field 'name': expected a regular expression string, got {raw['name']!r}",
                            path, index, "name")
        try:
            kwargs["name"] = re.compile(raw["name"], re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"{where}: field 'name': bad regular expression {raw['name']!r} ({exc})",
                            path, index, "name") from None
    if "category" in raw:
        category = raw["category"]
        if category is not None and (not isinstance(category, str) or category not in space.names):
            raise RuleError(f"{where}: field 'category': unknown category {category!r}; valid: "
                            f"{space.names} or null", path, index, "category")
        kwargs["category"] = category
    else:
        reason = raw["exclude"]
        if not isinstance(reason, str) or not reason.strip():
            raise RuleError(f"{where}: field 'exclude': expected a reason (non-empty string), got {reason!r}",
                            path, index, "exclude")
        kwargs["exclude"] = reason.strip()
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise RuleError(f"{where}: field 'note': expected a string", path, index, "note")
    kwargs["note"] = note
    return Rule(**kwargs)


def _parse_frame_labels(raw: Any, space: LabelSpace, path: str) -> dict[str, str | None]:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{path}: field 'frame_labels': expected a mapping {{label name: category or null}}",
                        path, field="frame_labels")
    out: dict[str, str | None] = {}
    for name, category in raw.items():
        if category is not None and category not in space.names:
            raise RuleError(f"{path}: frame_labels[{name!r}]: unknown category {category!r}; valid: "
                            f"{space.names} or null", path, field="frame_labels")
        out[str(name)] = category
    return out


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """Read and validate a rule file (default: the bundled ``amass_12.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"rule file {path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text ({exc})", str(path)) from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: e.g. a date like 2019-13-45
        raise RuleError(f"{path}: not valid YAML ({exc})", str(path)) from None
    try:
        rules = RuleSet.from_dict(data, str(path))
    except RuleError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # a value of an unexpected type deep in the document: still name the file
        raise RuleError(f"{path}: malformed rule file ({type(exc).__name__}: {exc})", str(path)) from None
    log.debug("loaded %d rules (%s) from %s", len(rules.rules), rules.label_space.name, path)
    return rules


def describe_rules(rules: RuleSet, sequences: Sequence[SequenceInfo]) -> dict[str, Any]:
    """Coverage of ``rules`` over ``sequences``: counts per category, per exclusion reason, unlabelled."""
    per_category: dict[str, int] = {}
    per_reason: dict[str, int] = {}
    unlabelled = 0
    for seq in sequences:
        decision = rules.classify(seq)
        if decision.excluded:
            per_reason[decision.excluded] = per_reason.get(decision.excluded, 0) + 1
        elif decision.category:
            per_category[decision.category] = per_category.get(decision.category, 0) + 1
        else:
            unlabelled += 1
    return {"sequences": len(sequences), "categories": per_category, "excluded": per_reason,
            "unlabelled": unlabelled}
