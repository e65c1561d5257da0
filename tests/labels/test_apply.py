"""label_store end to end: a small AMASS-like store (rules + BABEL + overrides) and the demo clips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from virtimu.cli import main as cli_main
from virtimu.labels.apply import decode_runs, encode_runs, label_store
from virtimu.labels.maps import UnknownLabelError, get_label_space
from virtimu.labels.overrides import OverrideError
from virtimu.store import RecordingStore
from virtimu.types import Recording

S12 = get_label_space("synthetic12")
FS = 60.0
CHANNELS = ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z"]


def amass_recording(name: str, n_frames: int, seed: int = 0, labels=None, label_map=None,
                    source: str = "amass") -> Recording:
    """A recording with the provenance virtimu.io.amass + synthesis write for 'SubDataset/subject/file'."""
    sub_dataset, subject, stem = name.split("/")
    rng = np.random.default_rng(seed)
    return Recording(signals=rng.normal(size=(n_frames, 3)).astype(np.float32), channels=list(CHANNELS),
                     units=["m/s^2"] * 3, fs=FS, source=source, name=name, labels=labels, label_map=label_map,
                     subject=subject,
                     provenance={"format": "amass-npz", "file": f"/data/amass/{name}.npz", "sub_dataset": sub_dataset,
                                 "subject": subject, "sequence": stem, "original_fps": 120.0})


REC_KIT = "KIT/3/walking_medium01_poses"          # rule: walking; BABEL covers its first second with 'stand'
REC_TRANS = "Transitions_mocap/mazen_c3d/dance_walk_poses"  # rule: excluded
REC_CMU = "CMU/02/02_04_poses"                    # no rule; BABEL frame labels
REC_MOVI = "BMLmovi/Subject_1_F_MoSh/Subject_1_F_1_poses"  # no rule, no BABEL: unlabelled
REC_OWN = "KIT/3/jump_up01_poses"                 # own frame labels + rule (jumping)


@pytest.fixture
def amass_store(tmp_path: Path) -> Path:
    path = tmp_path / "amass.zarr"
    store = RecordingStore(path)
    store.write(amass_recording(REC_KIT, 120, 0))
    store.write(amass_recording(REC_TRANS, 90, 1))
    store.write(amass_recording(REC_CMU, 240, 2))
    store.write(amass_recording(REC_MOVI, 60, 3))
    own = np.array([1] * 30 + [2] * 30 + [0] * 30)  # standing_up, waving, null
    store.write(amass_recording(REC_OWN, 90, 4, labels=own, label_map={0: "null", 1: "standing_up", 2: "waving"}))
    real = Recording(signals=np.zeros((50, 3), np.float32), channels=list(CHANNELS), units=["m/s^2"] * 3, fs=50.0,
                     source="hapt", name="exp01_user01", labels=np.ones(50, int), label_map={0: "null", 1: "WALKING"},
                     provenance={"format": "uci-hapt-raw"})
    store.write(real)
    return path


@pytest.fixture
def babel_file(tmp_path: Path) -> Path:
    def lab(proc, cats, start, end):
        return {"raw_label": proc, "proc_label": proc, "seg_id": proc, "act_cat": cats, "start_t": start, "end_t": end}

    data = {
        "1": {"babel_sid": 1, "url": "", "feat_p": "KIT/KIT/3/walking_medium01_poses.npz", "dur": 2.0,
              "seq_ann": {"babel_lid": "a", "anntr_id": "b", "mul_act": True,
                          "labels": [{"raw_label": "walk", "proc_label": "walk", "seg_id": "s", "act_cat": ["walk"]}]},
              "frame_ann": {"babel_lid": "c", "anntr_id": "d", "mul_act": True,
                            "labels": [lab("stand", ["stand"], 0.0, 1.0)]}},
        "2": {"babel_sid": 2, "url": "", "feat_p": "CMU/CMU/02/02_04_poses.npz", "dur": 4.0,
              "seq_ann": None,
              "frame_ann": {"babel_lid": "e", "anntr_id": "f", "mul_act": True,
                            "labels": [lab("walk", ["walk"], 0.0, 2.0), lab("jump", ["jump"], 2.0, 3.0),
                                       lab("kick", ["kick"], 3.0, 4.0)]}},
        "3": {"babel_sid": 3, "url": "", "feat_p": "Transitions_mocap/Transitions_mocap/mazen_c3d/dance_walk_poses.npz",
              "dur": 1.5, "seq_ann": None,
              "frame_ann": {"babel_lid": "g", "anntr_id": "h", "mul_act": True,
                            "labels": [lab("dance", ["dance"], 0.0, 1.5)]}},
    }
    path = tmp_path / "babel_v1.0_release" / "train.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def overrides_file(tmp_path: Path) -> Path:
    doc = {"version": 1, "label_space": "synthetic12", "decisions": [
        {"source": "amass", "recording": REC_CMU, "action": "relabel", "label": "sitting", "start": 100, "end": 140},
        {"source": "amass", "recording": REC_CMU, "action": "reject", "start": 130, "end": 150},
        {"source": "amass", "recording": REC_KIT, "action": "accept", "reviewer": "r1"},
        {"source": "amass", "recording": "KIT/9/not_there_poses", "action": "reject"},
    ]}
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(doc))
    return path


def names(store: RecordingStore, name: str) -> list[str]:
    rec = store.read("amass", name)
    assert rec.label_map == S12.label_map()
    return [S12.name_of(c) for c in rec.labels]


def test_label_store_rules_babel_and_overrides(amass_store, babel_file, overrides_file):
    report = label_store(amass_store, babel=babel_file.parent, overrides=overrides_file)
    store = RecordingStore(amass_store, mode="r")
    kit = names(store, REC_KIT)
    assert kit[:60] == ["standing"] * 60 and kit[60:] == ["walking"] * 60  # BABEL beats the rule where it covers
    assert names(store, REC_TRANS) == ["null"] * 90                           # excluded: BABEL not applied
    cmu = names(store, REC_CMU)
    assert cmu[:100] == ["walking"] * 100 and cmu[100:130] == ["sitting"] * 30   # relabel ...
    assert cmu[130:150] == ["null"] * 20 and cmu[150:180] == ["jumping"] * 30    # ... then reject over the overlap
    assert cmu[180:] == ["null"] * 60                                            # BABEL 'kick' vetoed
    assert names(store, REC_MOVI) == ["null"] * 60
    own = names(store, REC_OWN)
    assert own == ["standing"] * 30 + ["arm_gestures"] * 30 + ["jumping"] * 30  # own labels, rule elsewhere
    hapt = store.read("hapt", "exp01_user01")
    assert hapt.label_map == {0: "null", 1: "WALKING"} and set(hapt.labels.tolist()) == {1}  # untouched

    prov = store.recording_attrs("amass", REC_TRANS)["provenance"]["labels"]
    assert prov["excluded"] == "frequent_transitions" and prov["label_space"] == "synthetic12"
    prov = store.recording_attrs("amass", REC_CMU)["provenance"]["labels"]
    assert prov["babel"]["sid"] == "2" and prov["babel"]["frames"] == 240 and prov["rule"] is None
    assert prov["overrides"]["applied"] == 2 and prov["overrides"]["decisions"] == [0, 1]
    prov = store.recording_attrs("amass", REC_KIT)["provenance"]["labels"]
    assert prov["category"] == "walking" and prov["overrides"] == {"applied": 1, "reviewed": True, "decisions": [2],
                                                                   "file": str(overrides_file)}

    d = report.to_dict()
    assert d["recordings"] == 5 and d["frames"] == 120 + 90 + 240 + 60 + 90 and d["written"] == 5
    assert d["excluded"] == {"frequent_transitions": [f"amass/{REC_TRANS}"]}
    assert d["unlabelled"] == [f"amass/{REC_MOVI}"]
    assert d["unlabelled_frames"] == 20 + 60 + 60  # CMU rejected + vetoed, MOVI
    assert d["categories"]["walking"] == {"frames": 60 + 100, "recordings": 2}
    assert d["categories"]["sitting"] == {"frames": 30, "recordings": 1}
    assert list(d["categories"]) == list(S12.codes.values())
    assert d["by"] == {"rules": 2, "frame_labels": 1, "babel": 2}
    assert d["overrides_applied"] == 3 and d["reviewed"] == 2
    assert d["unknown_recordings"] == ["amass/KIT/9/not_there_poses (decision 3)"]
    assert len(d["skipped"]) == 1 and d["skipped"][0].startswith("hapt/exp01_user01: not synthesised")
    text = report.format()
    assert "walking" in text and "frequent_transitions 1" in text and "not_there_poses" in text
    # the store summary follows the new counts
    row = next(r for r in store.summary() if r["source"] == "amass")
    assert row["labels"]["walking"] == 160 and row["labels"]["null"] == 90 + 20 + 60 + 60 + 0


def test_rerun_is_reproducible_and_dry_run_writes_nothing(amass_store, babel_file, overrides_file):
    label_store(amass_store, babel=babel_file, overrides=overrides_file)
    store = RecordingStore(amass_store, mode="r")
    first = {n: store.read(s, n).labels for s, n in store.list("amass")}
    # without overrides the labels go back to rules + BABEL (the own labels kept in provenance are reused)
    report = label_store(amass_store, babel=babel_file)
    cmu = names(store, REC_CMU)
    assert cmu[100:120] == ["walking"] * 20 and cmu[120:180] == ["jumping"] * 60
    assert names(store, REC_OWN)[:60] == ["standing"] * 30 + ["arm_gestures"] * 30
    label_store(amass_store, babel=babel_file, overrides=overrides_file)
    again = {n: store.read(s, n).labels for s, n in store.list("amass")}
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert report.overrides_applied == 0
    # dry run: the report is computed, nothing is written
    before = {n: store.recording_attrs(s, n)["provenance"]["labels"] for s, n in store.list("amass")}
    dry = label_store(amass_store, babel=babel_file, dry_run=True)
    assert dry.dry_run and dry.written == 0 and dry.recordings == 5
    assert {n: store.recording_attrs(s, n)["provenance"]["labels"] for s, n in store.list("amass")} == before


def test_errors_leave_the_store_untouched(amass_store, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "label_space": "synthetic12", "decisions": [
        {"source": "amass", "recording": REC_KIT, "action": "reject"},
        {"source": "amass", "recording": REC_MOVI, "action": "reject", "start": 10, "end": 61}]}))
    with pytest.raises(OverrideError, match=r"bad\.json: decisions\[1\].*does not fit the recording's 60 frames"):
        label_store(amass_store, overrides=bad)
    store = RecordingStore(amass_store, mode="r")
    assert all(store.read(s, n).labels is None for s, n in store.list("amass") if n != REC_OWN)
    # an own frame-label name the rules cannot place
    store = RecordingStore(amass_store)
    store.write(amass_recording("KIT/3/zz_odd_poses", 30, 9, labels=np.ones(30, int),
                                label_map={0: "null", 1: "moonwalking"}))
    with pytest.raises(UnknownLabelError, match="amass/KIT/3/zz_odd_poses: label names 'moonwalking'"):
        label_store(amass_store)
    assert "labels" not in store.recording_attrs("amass", REC_KIT)["provenance"]
    # overrides in another label space than the one written
    other = tmp_path / "uci.json"
    other.write_text(json.dumps({"version": 1, "label_space": "uci_har6", "decisions": []}))
    with pytest.raises(OverrideError, match="decisions are in label space 'uci_har6'"):
        label_store(amass_store, overrides=other, sources=["amass"])


def test_other_label_space_and_source_selection(amass_store):
    report = label_store(amass_store, label_space="uci_har6", sources=["amass"])
    uci = get_label_space("uci_har6")
    store = RecordingStore(amass_store, mode="r")
    rec = store.read("amass", REC_KIT)
    assert rec.label_map == uci.label_map() and set(rec.labels.tolist()) == {uci.code("WALKING")}
    own = store.read("amass", REC_OWN)
    assert [uci.name_of(c) for c in own.labels[::30]] == ["STANDING", "null", "null"]  # waving / jumping: no UCI class
    assert report.label_space == "uci_har6" and report.skipped == []
    with pytest.raises(UnknownLabelError, match="no label map synthetic12 -> jsifos10"):
        label_store(amass_store, label_space="jsifos10")


def test_run_length_coding_round_trip():
    labels = np.array([3, 3, 0, 0, 0, 5, 3])
    runs = encode_runs(labels)
    assert runs == [[3, 0, 2], [0, 2, 5], [5, 5, 6], [3, 6, 7]]
    assert decode_runs(runs, 7).tolist() == labels.tolist()
    assert encode_runs(np.array([], dtype=int)) == []


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.zarr"
    assert cli_main(["synth", "--out", str(path), "--workers", "1", "--quiet"]) == 0
    return path


def test_demo_clips_get_a_category_on_every_frame(demo_store):
    store = RecordingStore(demo_store, mode="r")
    original = {}
    for source, name in store.list():
        rec = store.read(source, name)
        for code, count in zip(*np.unique(rec.labels, return_counts=True), strict=True):
            original[rec.label_map[int(code)]] = original.get(rec.label_map[int(code)], 0) + int(count)
    report = label_store(demo_store)
    assert report.recordings == 8 and report.skipped == [] and report.unlabelled_frames == 0
    assert report.categories["null"]["frames"] == 0
    for source, name in store.list():
        rec = store.read(source, name)
        assert rec.label_map == S12.label_map() and (rec.labels != S12.null_code).all(), name
    cats = {k: v["frames"] for k, v in report.categories.items() if v["frames"]}
    assert cats == {
        "walking": original["walking"], "running": original["running"], "jumping": original["jumping"],
        "standing": original["standing"] + original["standing_up"],
        "sitting": original["sitting"] + original["sitting_down"],
        "lying": original["lying"] + original["lying_down"],
        "arm_stretching": original["arm_stretching"], "arm_gestures": original["waving"],
    }
    assert sum(cats.values()) == sum(original.values())
