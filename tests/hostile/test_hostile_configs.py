"""Hostile YAML / JSON configs (property-based): label rules, label maps, BABEL categories, sensor
sites, filter rules, DIP activity maps, review overrides and the synthesis config (device noise
model).  Each file is a structure-aware mutation of the bundled valid one (a node deleted, replaced
by a hostile value, a key renamed), random text, or the valid text cut short.  Every case loads or
raises the reader's documented error naming the file; commands given a bad file change no store."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("hypothesis")  # a dev dependency
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.helpers import bounded, fresh_dir, snapshot
from virtimu.cli import main
from virtimu.datasets.base import DatasetFormatError
from virtimu.datasets.dip import read_activity_map
from virtimu.labels.babel import DEFAULT_BABEL_CATEGORIES, BabelFormatError, load_babel_categories
from virtimu.labels.filtering import FilterRules, FilterRulesError
from virtimu.labels.maps import DEFAULT_CONFIG, LabelConfigError, load_label_config
from virtimu.labels.overrides import OverrideError, load_overrides
from virtimu.labels.rules import DEFAULT_RULES, RuleError, load_rules
from virtimu.sensors.placement import PlacementError, load_site_table
from virtimu.synthesis import DEMO_MOTIONS

ASSETS = Path(__file__).resolve().parents[2] / "virtimu" / "assets"

# A valid DIP activity map and a valid review-overrides file, as their readers document them.
DIP_ACTIVITIES = {"01": "stretching_arms", "02": "stretching_legs", "03": "walking", "04": "jumping",
                  "05": "computer_work"}
OVERRIDES = {"version": 1, "label_space": "synthetic12", "decisions": [
    {"source": "demo", "recording": "walking", "action": "accept", "reviewer": "ab", "time": "2024-05-01T10:00:00"},
    {"source": "demo", "recording": "sit_stand", "action": "relabel", "label": "sitting", "start": 10, "end": 50},
    {"source": "demo", "recording": "jumping", "action": "reject", "note": "bad capture"},
]}


#: name -> (valid document, reader(path), documented error types, text format)
READERS: dict[str, tuple[Any, Callable[[Path], Any], tuple[type[BaseException], ...], str]] = {
    "rules": (yaml.safe_load(Path(DEFAULT_RULES).read_text()), load_rules, (RuleError,), "yaml"),
    "label_maps": (yaml.safe_load(Path(DEFAULT_CONFIG).read_text()), load_label_config, (LabelConfigError,), "yaml"),
    "babel_categories": (yaml.safe_load(Path(DEFAULT_BABEL_CATEGORIES).read_text()), load_babel_categories,
                         (BabelFormatError,), "yaml"),
    "sites": (yaml.safe_load((ASSETS / "sites" / "sites.yaml").read_text()), load_site_table,
              (PlacementError,), "yaml"),
    "filters": (yaml.safe_load((ASSETS / "labels" / "filters.yaml").read_text()), FilterRules.from_yaml,
                (FilterRulesError,), "yaml"),
    "dip_activities": (DIP_ACTIVITIES, read_activity_map, (DatasetFormatError,), "yaml"),
    "overrides": (OVERRIDES, load_overrides, (OverrideError,), "json"),
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "null", "exclude", "walking", "*", "../../etc/passwd", "<script>alert(1)</script>",
                     "1e400", "-0", "\u202e\u0000", "left_wrist/acc_x"]),
)
hostile_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)),
    max_leaves=6)


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


@st.composite
def mutated(draw, doc: Any) -> Any:
    """``doc`` with 1-3 random mutations at random depths."""
    doc = json.loads(json.dumps(doc, default=str))  # deep copy, plain types
    for _ in range(draw(st.integers(1, 3))):
        parent, key, node = None, None, doc
        while _children(node) and draw(st.integers(0, 3)) > 0:  # walk down a random path
            parent, key = node, draw(st.sampled_from(_children(node)))
            node = node[key]
        op = draw(st.sampled_from(["replace", "delete", "rename", "replace-root"]))
        if op == "replace-root" or parent is None:
            if op == "replace-root":
                doc = draw(hostile_values)
            continue
        if op == "replace":
            parent[key] = draw(hostile_values)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = parent.pop(key)
    return doc


def _dump(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, allow_nan=True, default=str)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


#: Raw YAML / JSON snippets that no dumper writes: bad dates (PyYAML raises ValueError for them),
#: code-constructing tags (refused by safe loading), anchors, huge exponents, control characters.
RAW_TOKENS = ["2019-13-45", "2019-02-30 25:61:61", "!!python/object/apply:os.system ['touch PWNED']",
              "!!python/name:os.system", "&a [*a]", "*undefined", "1e999999", "0x" + "f" * 400, "\x00",
              "{", "]", "? [a, b]\n: c", "!!binary AAAA", "!!float nan", "NaN", "Infinity", "-Infinity"]


@st.composite
def hostile_text(draw, name: str) -> str:
    valid, _, _, fmt = READERS[name]
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "cut", "random", "raw"]))
    if kind == "mutated":
        return _dump(draw(mutated(valid)), fmt)
    if kind == "cut":
        text = _dump(valid, fmt)
        return text[:draw(st.integers(0, len(text) - 1))]
    if kind == "raw":  # a value of one line replaced by raw text
        lines = _dump(valid, fmt).split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        head = lines[i].split(":", 1)[0] + ": " if ":" in lines[i] else ""
        lines[i] = head + draw(st.sampled_from(RAW_TOKENS))
        return "\n".join(lines)
    return draw(st.text(max_size=200))


def _check_reader(work: Path, name: str, text: str) -> None:
    _, read, errors, fmt = READERS[name]
    path = fresh_dir(work) / f"{name}.{fmt}"
    path.write_text(text, encoding="utf-8")
    try:
        read(path)
    except errors as exc:
        assert str(path) in str(exc) or path.name in str(exc), str(exc)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile_configs")


@pytest.mark.parametrize("name", sorted(READERS))
def test_bundled_documents_are_valid(work, name):
    valid, read, _, fmt = READERS[name]
    path = fresh_dir(work) / f"{name}.{fmt}"
    path.write_text(_dump(valid, fmt), encoding="utf-8")
    read(path)  # the mutation base itself loads


@pytest.mark.parametrize("name", sorted(READERS))
@bounded(40)
@given(data=st.data())
def test_hostile_documents_load_or_fail_clearly(work, name, data):
    _check_reader(work, name, data.draw(hostile_text(name)))


def test_undecodable_bytes_fail_clearly(work):
    for name, (_, read, errors, fmt) in READERS.items():
        path = fresh_dir(work) / f"{name}.{fmt}"
        path.write_bytes(b"\xff\xfe\x00garbage\x80")
        with pytest.raises(errors) as info:
            read(path)
        assert path.name in str(info.value), name


# ---------------------------------------------------------------- the synthesis config (device model)

SYNTH_CONFIG = {"fps": 30, "signals": "acc,gyro", "device": {
    "acc": {"noise_std": 0.02, "bias_std": 0.05, "range": 78.4, "bits": 16},
    "gyro": {"noise_density": 0.001, "bias_walk": 1e-5}}}


@st.composite
def synth_config_text(draw) -> str:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random"]))
    if kind == "random":
        return draw(st.text(max_size=100))
    return yaml.safe_dump(draw(mutated(SYNTH_CONFIG)), allow_unicode=True)


@bounded(30)
@given(text=synth_config_text())
def test_synth_config_file_fails_before_any_work(work, text, capsys):
    folder = fresh_dir(work)
    cfg = folder / "synth.yaml"
    cfg.write_text(text, encoding="utf-8")
    store = folder / "s.zarr"
    clip = DEMO_MOTIONS / "standing.npz"
    try:
        rc = main(["synth", "--amass", str(clip), "--out", str(store), "--config", str(cfg), "--workers", "1",
                   "--quiet"])
    except SystemExit as exc:
        assert str(exc).startswith("error: ") and str(cfg) in str(exc), str(exc)
        assert not store.exists()  # nothing was written
    else:
        assert rc == 0 and store.exists()  # a valid config (the mutation kept it valid)
    capsys.readouterr()


# ---------------------------------------------------------------- commands given bad files leave stores alone


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("hostile_cfg_store") / "s.zarr"
    assert main(["synth", "--amass", str(DEMO_MOTIONS / "walking.npz"), "--out", str(store), "--fps", "30",
                 "--workers", "1", "--quiet"]) == 0
    assert main(["label", str(store), "--quiet"]) == 0
    return store


@bounded(12)
@given(data=st.data())
def test_label_and_windows_with_bad_files_leave_the_store_unchanged(work, labelled_store, data, capsys):
    before = snapshot(labelled_store)
    command = data.draw(st.sampled_from(["label-rules", "label-overrides", "windows-filter", "synth-sites"]))
    name = {"label-rules": "rules", "label-overrides": "overrides", "windows-filter": "filters",
            "synth-sites": "sites"}[command]
    fmt = READERS[name][3]
    path = fresh_dir(work) / f"bad.{fmt}"
    path.write_text(data.draw(hostile_text(name)), encoding="utf-8")
    if command == "label-rules":
        argv = ["label", str(labelled_store), "--rules", str(path), "--quiet"]
    elif command == "label-overrides":
        argv = ["label", str(labelled_store), "--overrides", str(path), "--quiet"]
    elif command == "windows-filter":
        argv = ["windows", str(labelled_store), "--filter", str(path), "--length", "30", "--name", "w", "--quiet"]
    else:
        argv = ["synth", "--amass", str(DEMO_MOTIONS / "walking.npz"), "--out", str(labelled_store), "--sites",
                str(path), "--fps", "30", "--workers", "1", "--quiet"]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse-level and config errors
        rc = exc.code if isinstance(exc.code, int) else 2
    err = capsys.readouterr().err
    if rc != 0:
        assert rc == 2 and "error:" in err and path.name in err, err
        assert snapshot(labelled_store) == before
