"""BABEL: files written in the release layout -> index, path matching, per-frame labels at 60 Hz."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from virtimu.labels.babel import (
    BabelCategories,
    BabelFormatError,
    BabelSegment,
    BabelSequence,
    babel_frame_labels,
    babel_key,
    load_babel,
    load_babel_categories,
    segment_frames,
)
from virtimu.labels.maps import get_label_space

S12 = get_label_space("synthetic12")
FS = 60.0


def label(raw: str, proc: str, cats: list[str], start: float | None = None, end: float | None = None) -> dict:
    """One BABEL label as in the release (frame labels carry start_t / end_t)."""
    out = {"raw_label": raw, "proc_label": proc, "seg_id": f"seg-{proc}-{start}", "act_cat": cats}
    if start is not None:
        out.update(start_t=start, end_t=end)
    return out


def entry(sid: int, feat_p: str, dur: float, seq_labels: list[dict], frame_labels: list[dict] | None) -> dict:
    """One sequence of train/val/test.json."""
    return {
        "babel_sid": sid, "url": f"https://babel-renders.s3.eu-central-1.amazonaws.com/{sid:06d}.mp4",
        "feat_p": feat_p, "dur": dur,
        "seq_ann": {"babel_lid": f"lid-s{sid}", "anntr_id": "a1", "mul_act": frame_labels is not None,
                    "labels": seq_labels},
        "frame_ann": None if frame_labels is None else {"babel_lid": f"lid-f{sid}", "anntr_id": "a2",
                                                        "mul_act": True, "labels": frame_labels},
    }


@pytest.fixture
def babel_dir(tmp_path: Path) -> Path:
    """A babel_v1.0_release folder: train.json, val.json and extra_train.json."""
    folder = tmp_path / "babel_v1.0_release"
    folder.mkdir()
    train = {
        "7692": entry(7692, "CMU/CMU/02/02_04_poses.npz", 4.0,
                      [label("jump", "jump", ["jump"])],
                      [label("t-pose", "t pose", ["t pose"], 0, 0.5),
                       label("walking", "walk", ["walk"], 0.5, 2.5),
                       label("standing", "stand", ["stand"], 2.5, 4.0),
                       label("waving hello", "wave", ["wave", "greet"], 3, 4.0)]),
        "12": entry(12, "BMLrub/BioMotionLab_NTroje/rub001/0017_jumping1_poses.npz", 3.0,
                    [label("jumping", "jump", ["jump"])], None),
    }
    val = {
        "99": entry(99, "KIT/KIT/3/walking_medium01_poses.npz", 2.0, [label("walk", "walk", ["walk"])],
                    [label("walk upstairs", "walk up stairs", ["walk", "move up/down incline"], 0, 1.0),
                     label("stretch legs", "stretch legs", ["stretch"], 1.0, 1.5),
                     label("turning", "turn", ["turn"], 1.5, 2.0)]),
    }
    extra = {  # extra files: one list entry per annotator
        "500": {"babel_sid": 500, "url": "", "feat_p": "DFaust67/DFaust_67/50002/50002_shake_arms_poses.npz",
                "dur": 2.0,
                "seq_anns": [{"babel_lid": "x", "anntr_id": "b", "mul_act": True,
                              "labels": [label("shake", "shake arms", ["shake"])]}],
                "frame_anns": [None, {"babel_lid": "y", "anntr_id": "c", "mul_act": True,
                                      "labels": [label("clap", "clap", ["clap"], 0, 1.0),
                                                 label("kick", "kick", ["kick"], 1.0, 2.0)]}]},
        "7692": entry(7692, "CMU/CMU/02/02_04_poses.npz", 4.0, [label("run", "run", ["run"])], None),
    }
    for name, data in (("train", train), ("val", val), ("extra_train", extra)):
        (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def test_load_folder_and_match_doubled_paths(babel_dir):
    index = load_babel(babel_dir)
    assert len(index) == 4 and [Path(f).name for f in index.files] == ["train.json", "val.json", "extra_train.json"]
    prov = {"sub_dataset": "CMU", "subject": "02", "sequence": "02_04_poses"}
    seq = index.lookup("CMU/02/02_04_poses", prov)
    assert seq is not None and seq.sid == "7692" and seq.split == "train"  # dense split wins over extra
    assert index.lookup("CMU/02/02_04_stageii").sid == "7692"  # SMPL-X release name
    assert index.lookup("02/02_04_poses", {"sub_dataset": "CMU", "subject": "02"}).sid == "7692"
    assert index.lookup("BMLrub/rub001/0017_jumping1_stageii").sid == "12"  # release alias of BioMotionLab_NTroje
    assert index.lookup("BioMotionLab_NTroje/rub001/0017_jumping1_poses").sid == "12"
    assert index.lookup("DFaust/50002/50002_shake_arms_stageii").sid == "500"
    assert index.lookup("CMU/02/02_05_poses") is None
    assert index.lookup("KIT/02/02_04_poses") is None  # same subject/stem, other sub-dataset
    assert babel_key("CMU/CMU/02/02_04_poses.npz") == babel_key("CMU/02/02_04_poses") == ("cmu", "02", "02_04")


def test_frame_labels_at_60hz_have_exact_boundaries(babel_dir):
    seq = load_babel(babel_dir / "train.json").lookup("CMU/02/02_04_poses")
    codes, covered = babel_frame_labels(seq, n_frames=240, fs=FS)
    names = np.array([S12.name_of(c) for c in codes])
    assert covered.all()
    assert (names[:30] == "null").all()          # t pose (veto) over [0, 0.5 s)
    assert (names[30:150] == "walking").all()    # [0.5, 2.5): frames 30..149
    assert (names[150:180] == "standing").all()  # stand alone over [2.5, 3.0)
    assert (names[180:] == "arm_gestures").all()  # stand + wave: the arm activity outranks the posture
    assert segment_frames(2.5, 4.0, FS, 240) == (150, 240)
    assert segment_frames(1.01, 1.02, FS, 240) == (61, 62)  # frames k with 1.01 <= k/60 < 1.02: only 61
    assert segment_frames(1.0, 1.0, FS, 240) == (60, 60)
    assert segment_frames(3.9, 9.0, FS, 240) == (234, 240)


def test_partial_coverage_sequence_labels_and_rate(babel_dir):
    index = load_babel(babel_dir)
    seq = index.lookup("KIT/3/walking_medium01_poses")
    codes, covered = babel_frame_labels(seq, n_frames=150, fs=FS)  # recording longer than BABEL's 2 s
    names = [S12.name_of(c) for c in codes]
    assert names[0] == names[59] == "stairs"   # proc_label 'walk up stairs' beats act_cat 'walk'
    assert names[60] == names[89] == "leg_stretching"
    assert names[90] == names[119] == "null"   # 'turn' maps to no category
    assert covered[:120].all() and not covered[120:].any()
    jump = index.lookup("BMLrub/rub001/0017_jumping1_poses")
    assert jump.frame_segments is None
    codes, covered = babel_frame_labels(jump, n_frames=100, fs=30.0)
    assert covered.all() and set(codes.tolist()) == {S12.code("jumping")}


def test_extra_files_use_the_first_frame_annotation(babel_dir):
    seq = load_babel(babel_dir / "extra_train.json").lookup("DFaust_67/50002/50002_shake_arms_poses")
    assert seq.split == "extra_train" and len(seq.frame_segments) == 2
    codes, _ = babel_frame_labels(seq, n_frames=120, fs=FS)
    assert set(codes[:60].tolist()) == {S12.code("arm_gestures")} and set(codes[60:].tolist()) == {0}  # kick: veto


def test_overlap_priority_and_veto():
    cats = load_babel_categories()
    seq = BabelSequence("1", "X/X/a/b_poses.npz", 2.0, "train", frame_segments=(
        BabelSegment(0.0, 2.0, ("walk",)), BabelSegment(0.0, 1.0, ("wave",)), BabelSegment(1.0, 2.0, ("sit",)),
        BabelSegment(1.5, 2.0, ("punch",))))
    codes, _ = babel_frame_labels(seq, 120, FS, cats)
    assert codes[0] == codes[59] == S12.code("walking")  # walk outranks wave
    assert codes[60] == codes[89] == S12.code("walking")  # walk outranks sit
    assert (codes[90:] == 0).all()                        # a vetoed frame is null whatever covers it
    assert cats.priority[0] == "veto" and cats.priority.index("walking") < cats.priority.index("standing")


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["7692"].pop("feat_p"), "'feat_p'"),
    (lambda d: d["7692"].update(dur="long"), "'dur'"),
    (lambda d: d["7692"]["frame_ann"]["labels"][1].update(end_t=0.1), "frame_ann.labels[1]"),
    (lambda d: d["7692"]["frame_ann"]["labels"][0].update(act_cat="walk"), "frame_ann.labels[0].act_cat"),
    (lambda d: d["7692"]["frame_ann"]["labels"][2].pop("start_t"), "frame_ann.labels[2].start_t"),
    (lambda d: d["7692"]["seq_ann"].update(labels=None), "seq_ann.labels"),
])
def test_format_errors_name_file_sequence_and_field(babel_dir, mutate, field):
    path = babel_dir / "train.json"
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(BabelFormatError) as err:
        load_babel(path)
    assert str(path) in str(err.value) and "'7692'" in str(err.value) and field in str(err.value)


def test_missing_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="none of"):
        load_babel(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_babel(tmp_path / "train.json")
    (tmp_path / "train.json").write_text("[1, 2]")
    with pytest.raises(BabelFormatError, match="keyed by sequence id"):
        load_babel(tmp_path)


def test_category_table_validation():
    base = {"label_space": "synthetic12", "priority": ["veto", "walking"], "act_cat": {"walk": "walking"}}
    assert BabelCategories.from_dict(base).segment_category(BabelSegment(0, 1, ("walk", "turn"))) == "walking"
    with pytest.raises(ValueError, match=r"act_cat\['run'\]: unknown category 'jogging'"):
        BabelCategories.from_dict({**base, "act_cat": {"run": "jogging"}}, "t.yaml")
    with pytest.raises(ValueError, match=r"categories \['running'\] are used but have no priority"):
        BabelCategories.from_dict({**base, "act_cat": {"run": "running"}}, "t.yaml")
    with pytest.raises(ValueError, match=r"proc_label\[0\]: field 'pattern': bad regular expression"):
        BabelCategories.from_dict({**base, "proc_label": [{"pattern": "(", "category": "walking"}]}, "t.yaml")
    bundled = load_babel_categories()
    for cat in ("walk", "run", "jump", "stand", "sit", "lie", "stretch", "wave", "clap", "dance",
                "take/pick something up", "throw", "catch", "transition", "kick", "punch"):
        assert cat in bundled.act_cat, cat
