"""Sequence rules: matching, first match, exclusions, validation, and the bundled AMASS rules."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from virtimu.io.amass import FRAME_LABELS_KEY
from virtimu.labels.maps import get_label_space
from virtimu.labels.rules import RuleError, RuleSet, SequenceInfo, canonical_sub_dataset, load_rules
from virtimu.synthesis import DEMO_MOTIONS


def info(name: str) -> SequenceInfo:
    """SequenceInfo of an AMASS path 'SubDataset/subject/file-stem' (provenance as virtimu.io.amass writes it)."""
    sub_dataset, subject, stem = name.split("/")
    return SequenceInfo.from_recording(name, {"sub_dataset": sub_dataset, "subject": subject, "sequence": stem})


def write_rules(tmp_path: Path, rules: list, **top) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "label_space": "synthetic12", **top, "rules": rules}))
    return path


def test_first_match_wins(tmp_path):
    rules = [{"sub_dataset": "KIT", "name": "walk", "category": "walking"},
             {"sub_dataset": "KIT", "name": "medium", "category": "running"},
             {"sub_dataset": "KIT", "category": "standing"}]
    rs = load_rules(write_rules(tmp_path, rules))
    d = rs.classify(info("KIT/3/walking_medium01_poses"))
    assert (d.category, d.rule, d.excluded) == ("walking", 0, None)
    assert rs.classify(info("KIT/3/upstairs01_poses")).rule == 2  # only the catch-all matches
    rs = load_rules(write_rules(tmp_path, [rules[1], rules[0], rules[2]]))
    assert rs.classify(info("KIT/3/walking_medium01_poses")).category == "running"


def test_exclusion_explicit_null_and_no_match(tmp_path):
    rules = [{"sub_dataset": "Transitions_mocap", "exclude": "frequent_transitions"},
             {"name": "moonwalk", "category": None},
             {"name": "walk", "category": "walking"}]
    rs = load_rules(write_rules(tmp_path, rules))
    d = rs.classify(info("Transitions_mocap/mazen_c3d/dance_walk_poses"))
    assert d.excluded == "frequent_transitions" and d.category is None and d.rule == 0
    d = rs.classify(info("Eyes_Japan_Dataset/kanno/walk-09-moonwalk-kanno_poses"))
    assert d.matched and d.category is None and d.excluded is None and d.rule == 1
    d = rs.classify(info("CMU/01/01_01_poses"))
    assert not d.matched and d.category is None and d.excluded is None and d.rule is None


def test_all_given_matchers_must_match_and_lists_are_alternatives(tmp_path):
    rules = [{"sub_dataset": ["HumanEva", "SFU"], "path": "*/S[12]/*", "name": "^walking", "category": "walking"}]
    rs = load_rules(write_rules(tmp_path, rules))
    assert rs.classify(info("HumanEva/S1/Walking_1_poses")).category == "walking"
    assert rs.classify(info("SFU/S2/walking_poses")).category == "walking"
    assert not rs.classify(info("HumanEva/S3/Walking_1_poses")).matched  # path fails
    assert not rs.classify(info("KIT/S1/walking_poses")).matched  # sub_dataset fails
    assert not rs.classify(info("HumanEva/S1/Jog_1_poses")).matched  # name fails


def test_sub_dataset_aliases_globs_and_case(tmp_path):
    assert canonical_sub_dataset("BioMotionLab_NTroje") == canonical_sub_dataset("BMLrub") == "bmlrub"
    assert canonical_sub_dataset("DFaust_67") == canonical_sub_dataset("DFaust")
    assert canonical_sub_dataset("MPI_HDM05") == canonical_sub_dataset("HDM05")
    rules = [{"sub_dataset": "BMLrub", "name": "normal_walk", "category": "walking"},
             {"sub_dataset": "eyes_japan*", "name": "^jump-", "category": "jumping"},
             {"path": "accad/*martialarts*/*", "exclude": "martial_arts"}]
    rs = load_rules(write_rules(tmp_path, rules))
    assert rs.classify(info("BioMotionLab_NTroje/rub001/0001_normal_walk1_poses")).category == "walking"
    assert rs.classify(info("BMLrub/rub001/0001_normal_walk1_stageii")).category == "walking"
    assert rs.classify(info("Eyes_Japan_Dataset/kudo/jump-01-normal-kudo_poses")).category == "jumping"
    assert rs.classify(info("ACCAD/Male2MartialArtsKicks_c3d/G8 -  roundhouse left_poses")).excluded == "martial_arts"


def test_sequence_info_without_provenance_and_with_relative_names():
    seq = SequenceInfo.from_recording("KIT/3/walking_medium01_poses")
    assert (seq.sub_dataset, seq.subject, seq.sequence) == ("KIT", "3", "walking_medium01")
    # synthesised from the KIT folder itself: the name lacks the sub-dataset, the provenance has it
    seq = SequenceInfo.from_recording("3/walking_medium01_stageii",
                                      {"sub_dataset": "KIT", "subject": "3", "sequence": "walking_medium01_stageii"})
    assert seq.sequence == "walking_medium01" and "KIT/3/walking_medium01_stageii" in seq.paths
    assert load_rules().classify(seq).category == "walking"


@pytest.mark.parametrize("rule, field, message", [
    ({"sub_dataset": "KIT", "category": "walking", "colour": "red"}, "colour", "unknown field"),
    ({"sub_dataset": "KIT", "category": "strolling"}, "category", "unknown category 'strolling'"),
    ({"name": "walk(", "category": "walking"}, "name", "bad regular expression"),
    ({"name": "walk", "category": "walking", "exclude": "x"}, "category", "exactly one of"),
    ({"sub_dataset": "KIT"}, None, "exactly one of"),
    ({"category": "walking"}, None, "needs at least one of"),
    ({"sub_dataset": [], "category": "walking"}, "sub_dataset", "non-empty string or list"),
    ({"path": 3, "category": "walking"}, "path", "non-empty string or list"),
    ({"name": "x", "exclude": ""}, "exclude", "expected a reason"),
    ({"name": "x", "category": "walking", "note": 5}, "note", "field 'note'"),
])
def test_rule_validation_names_file_rule_and_field(tmp_path, rule, field, message):
    path = write_rules(tmp_path, [{"sub_dataset": "KIT", "category": "walking"}, rule])
    with pytest.raises(RuleError) as err:
        load_rules(path)
    text = str(err.value)
    assert str(path) in text and "rules[1]" in text and message in text
    assert err.value.index == 1 and err.value.field == field
    if field is not None:
        assert field in text


def test_file_level_validation(tmp_path):
    with pytest.raises(RuleError, match="field 'label_space'.*no label space 'nope'"):
        load_rules(write_rules(tmp_path, [], label_space="nope"))
    with pytest.raises(RuleError, match=r"unknown top-level keys \['extra'\]"):
        load_rules(write_rules(tmp_path, [], extra=1))
    with pytest.raises(RuleError, match=r"frame_labels\['sit'\]: unknown category 'sitting_still'"):
        load_rules(write_rules(tmp_path, [], frame_labels={"sit": "sitting_still"}))
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RuleError, match="field 'rules': expected a list"):
        RuleSet.from_dict({"label_space": "synthetic12", "rules": {}}, "inline")


# Real AMASS paths (names as in the AMASS releases / BABEL's path list) and what the bundled rules say.
BUNDLED_CASES = [
    ("KIT/3/walking_medium01_poses", "walking", None),
    ("KIT/317/walking_run05_poses", "running", None),
    ("KIT/4/upstairs03_poses", "stairs", None),
    ("KIT/1229/take_book_from_shelf_left_arm_04_poses", "object_interaction", None),
    ("KIT/3/wave_left02_poses", "arm_gestures", None),
    ("KIT/3/kick_high_left03_poses", None, "combat_moves"),
    ("KIT/1226/Trial_67_poses", None, None),
    ("Transitions_mocap/mazen_c3d/dance_walk_poses", None, "frequent_transitions"),
    ("Transitions/mazen_c3d/run_stand_stageii", None, "frequent_transitions"),
    ("ACCAD/Male2MartialArtsKicks_c3d/G8 -  roundhouse left_poses", None, "martial_arts"),
    ("ACCAD/Female1General_c3d/A5 - pick up box_poses", "object_interaction", None),
    ("ACCAD/Female1Walking_c3d/B3 - walk1_poses", "walking", None),
    ("ACCAD/Female1Running_c3d/C3 - Run_poses", "running", None),
    ("ACCAD/Male1General_c3d/General A1 - Stand_poses", "standing", None),
    ("ACCAD/Female1Running_c3d/C5 - walk to run_poses", None, None),
    ("HumanEva/S1/Box_1_poses", None, "martial_arts"),
    ("HumanEva/S1/ThrowCatch_1_poses", "object_interaction", None),
    ("HumanEva/S2/Gestures_3_poses", "arm_gestures", None),
    ("BioMotionLab_NTroje/rub001/0017_jumping1_poses", "jumping", None),
    ("BMLrub/rub055/0020_lifting_heavy2_stageii", "object_interaction", None),
    ("BMLrub/rub001/0005_rom_stageii", None, "range_of_motion"),
    ("DFaust_67/50002/50002_running_on_spot_poses", "running", None),
    ("DFaust/50002/50002_punching_stageii", None, "combat_moves"),
    ("SSM_synced/20161014_50033/clap_sync_poses", "arm_gestures", None),
    ("TotalCapture/s2/walking3_poses", "walking", None),
    ("TotalCapture/s2/rom2_poses", None, "range_of_motion"),
    ("TotalCapture/s2/acting2_poses", None, None),
    ("MPI_Limits/03099/lar4_poses", None, "range_of_motion"),
    ("Eyes_Japan_Dataset/hamada/walk-01-normal-hamada_poses", "walking", None),
    ("Eyes_Japan_Dataset/kanno/walk-10-moonwalk-kanno_poses", None, None),
    ("Eyes_Japan_Dataset/kudo/gesture_etc-21-clapping-kudo_poses", "arm_gestures", None),
    ("Eyes_Japan_Dataset/yokoyama/karate-08-jab-yokoyama_poses", None, "martial_arts"),
    ("SFU/0005/0005_Jogging001_poses", "running", None),
    ("CMU/07/07_01_poses", "walking", None),
    ("CMU/35/35_17_poses", "running", None),
    ("CMU/118/118_10_poses", "jumping", None),
    ("CMU/60/60_03_stageii", "dancing", None),
    ("CMU/14/14_02_poses", None, "martial_arts"),
    ("CMU/01/01_01_poses", None, None),
    ("BMLmovi/Subject_1_F_MoSh/Subject_1_F_1_poses", None, None),
    ("MPI_HDM05/bk/HDM_bk_01-01_01_120_poses", None, None),
    ("DanceDB/20120731_StefanosTheodorou/Stefanos_1os_antrikos_karsilamas_C3D_poses", "dancing", None),
]


@pytest.mark.parametrize("path, category, excluded", BUNDLED_CASES)
def test_bundled_rules_on_real_amass_names(path, category, excluded):
    d = load_rules().classify(info(path))
    assert (d.category, d.excluded) == (category, excluded)


def test_bundled_frame_labels_give_every_demo_frame_a_category():
    rules = load_rules()
    space = get_label_space("synthetic12")
    names = set()
    for path in sorted(Path(DEMO_MOTIONS).glob("*.npz")):
        with np.load(path, allow_pickle=False) as npz:
            names |= set(npz[FRAME_LABELS_KEY].tolist())
    assert {"walking", "sitting_down", "lying_down", "waving"} <= names
    for name in names:
        target = rules.frame_labels.get(name, name)
        assert target in space.names, name
    assert rules.frame_labels["waving"] == "arm_gestures"
    assert rules.frame_labels["sitting_down"] == "sitting" and rules.frame_labels["lying_down"] == "lying"


def test_describe_rules_counts_categories_exclusions_and_unlabelled():
    from virtimu.labels.rules import describe_rules

    seqs = [info(p) for p, _, _ in BUNDLED_CASES]
    summary = describe_rules(load_rules(), seqs)
    n_excluded = sum(1 for _, _, e in BUNDLED_CASES if e)
    n_unlabelled = sum(1 for _, c, e in BUNDLED_CASES if c is None and e is None)
    assert summary["sequences"] == len(BUNDLED_CASES)
    assert sum(summary["excluded"].values()) == n_excluded and summary["unlabelled"] == n_unlabelled
    assert summary["categories"]["walking"] == sum(1 for _, c, _ in BUNDLED_CASES if c == "walking")
