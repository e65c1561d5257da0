"""Label spaces and maps: bundled tables, vectorised mapping, errors, file round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from virtimu.labels.maps import (
    LabelConfigError,
    LabelMap,
    LabelSpace,
    UnknownLabelError,
    available_label_maps,
    available_label_spaces,
    get_label_map,
    get_label_space,
    load_label_config,
    map_by_names,
    map_codes,
    opportunity_code,
    parse_label_config,
    save_label_config,
)

SYNTHETIC12 = ["walking", "running", "jumping", "standing", "sitting", "lying", "stairs", "arm_stretching",
               "leg_stretching", "arm_gestures", "object_interaction", "dancing"]


def test_bundled_spaces_and_maps_are_the_documented_ones():
    assert set(available_label_spaces()) == {"synthetic12", "dip5", "opportunity_raw", "opportunity14", "jsifos18",
                                             "jsifos10", "harth", "har70plus", "uci_har6", "hapt12", "pamap2"}
    required = {("synthetic12", "dip5"), ("synthetic12", "harth"), ("synthetic12", "uci_har6"),
                ("synthetic12", "hapt12"), ("opportunity_raw", "opportunity14"), ("jsifos18", "jsifos10")}
    assert required <= set(available_label_maps())
    s12 = get_label_space("synthetic12")
    assert s12.names == SYNTHETIC12 and s12.null_code == 0 and s12.null_name == "null"
    assert list(s12.codes) == list(range(13))
    assert get_label_space("harth").names[-4:] == ["cycling (sit)", "cycling (stand)", "cycling (sit, inactive)",
                                                   "cycling (stand, inactive)"]
    assert set(get_label_space("harth").codes) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 14, 130, 140}
    assert set(get_label_space("har70plus").codes) == {0, 1, 3, 4, 5, 6, 7, 8}
    hapt = get_label_space("hapt12")
    assert hapt.name_of(7) == "STAND_TO_SIT" and hapt.name_of(12) == "LIE_TO_STAND"
    assert get_label_space("uci_har6").names == ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING",
                                                 "STANDING", "LAYING"]
    assert get_label_space("dip5").names == ["computer_work", "walking", "jumping", "stretching_arms",
                                             "stretching_legs"]


@pytest.mark.parametrize("key", available_label_maps())
def test_every_map_is_total_and_its_targets_exist(key):
    m = get_label_map(*key)
    assert set(m.mapping) == set(m.src.codes)
    assert set(m.mapping.values()) <= set(m.dst.codes)
    assert m.mapping[m.src.null_code] == m.dst.null_code
    assert any(d != m.dst.null_code for d in m.mapping.values())


def test_map_codes_is_vectorised_and_keeps_shape():
    s12 = get_label_space("synthetic12")
    codes = np.array([[s12.code("walking"), s12.code("stairs"), s12.code("lying")],
                      [s12.code("sitting"), 0, s12.code("running")]])
    uci = get_label_space("uci_har6")
    out = map_codes(codes, "synthetic12", get_label_map("synthetic12", "uci_har6"))
    assert out.shape == (2, 3) and out.dtype == np.int64
    assert [uci.name_of(c) for c in out.ravel()] == ["WALKING", "null", "LAYING", "SITTING", "null", "null"]
    dip = get_label_space("dip5")
    out = get_label_map("synthetic12", "dip5").apply(np.array([s12.code("arm_stretching"), s12.code("leg_stretching"),
                                                               s12.code("sitting")]))
    assert [dip.name_of(c) for c in out] == ["stretching_arms", "stretching_legs", "null"]


def test_unknown_codes_raise_listing_them_and_the_valid_codes():
    with pytest.raises(UnknownLabelError) as err:
        map_codes(np.array([1, 99, 3, 57]), "synthetic12", get_label_map("synthetic12", "harth"))
    message = str(err.value)
    assert "57, 99" in message and "synthetic12" in message and "valid codes: 0, 1, 2" in message and "12" in message
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="does not start from"):
        map_codes(np.array([1]), "harth", get_label_map("synthetic12", "harth"))


def test_opportunity_raw_codes_and_paper000_aggregation():
    raw = get_label_space("opportunity_raw")
    agg = get_label_space("opportunity14")
    assert len(raw) == 5 * 18 - 1 + 1  # (4 locomotion + none) x (17 gestures + none), minus (none, none), plus null
    assert raw.name_of(406516) == "Open Door 1" and raw.name_of(405506) == "Toggle Switch"
    assert raw.name_of(2_000_000 + 407521) == "Walk + Drink from Cup"
    loco = np.array([2, 0, 4, 5, 0, 1, 1, 0])
    gest = np.array([406517, 406520, 404505, 0, 406508, 408512, 404519, 0])
    out = get_label_map("opportunity_raw", "opportunity14").apply(opportunity_code(loco, gest))
    assert [agg.name_of(c) for c in out] == ["walk_open_door", "open_compartment", "sit_close_compartment", "lie",
                                             "open_drawer", "stand_clean_table", "stand_close_drawer", "null"]
    # 17 gestures -> 9 aggregated; doors, fridge/dishwasher, drawers merged
    m = get_label_map("opportunity_raw", "opportunity14")
    gestures_only = {agg.name_of(m.mapping[c]) for c in raw.codes if 0 < c < 1_000_000}
    assert len(gestures_only) == 9
    assert max(agg.codes) < 2 ** 15  # storable as int16
    with pytest.raises(ValueError, match="differ in shape"):
        opportunity_code(np.array([1, 2]), np.array([0]))


def test_jsifos_aggregation_follows_paper000_table2():
    src, dst = get_label_space("jsifos18"), get_label_space("jsifos10")
    m = get_label_map("jsifos18", "jsifos10")
    expect = {"lying_back": "lying", "lying_stomach": "lying", "allfours_still": "allfours",
              "standing_leaning_still": "standing", "transition_up": "null", "transition_down": "null",
              "cycling": "cycling", "allfours_moving": "allfours_moving"}
    for name, target in expect.items():
        assert dst.name_of(m.mapping[src.code(name)]) == target
    assert not src.complete  # the paper names only 13 of the 18 activities


def test_map_by_names_maps_a_recordings_own_label_map():
    s12 = get_label_space("synthetic12")
    own_map = {0: "null", 1: "sitting_down", 2: "walking", 3: "waving"}
    labels = np.array([0, 1, 1, 2, 3, 2])
    out = map_by_names(labels, own_map, s12, {"sitting_down": "sitting", "waving": "arm_gestures"})
    assert [s12.name_of(c) for c in out] == ["null", "sitting", "sitting", "walking", "arm_gestures", "walking"]
    out = map_by_names(np.array([1, 2]), own_map, s12, {"sitting_down": None})
    assert out.tolist() == [0, s12.code("walking")]
    with pytest.raises(UnknownLabelError, match="'moonwalk'.*valid targets: 'walking'"):
        map_by_names(np.array([1]), {1: "moonwalk"}, s12, {}, where="demo/x")
    with pytest.raises(UnknownLabelError, match=r"demo/x: codes 7 have no name"):
        map_by_names(np.array([7]), own_map, s12, {}, where="demo/x")


def test_label_space_lookups_and_validation():
    s12 = get_label_space("synthetic12")
    assert s12.code("dancing") == 12 and "dancing" in s12 and "dance" not in s12
    with pytest.raises(UnknownLabelError, match="no label 'dance'.*'walking'"):
        s12.code("dance")
    with pytest.raises(UnknownLabelError, match="no code 13"):
        s12.name_of(13)
    with pytest.raises(LabelConfigError, match="name 'a' used by codes 1 and 2"):
        LabelSpace("x", {0: "null", 1: "a", 2: "a"})
    with pytest.raises(LabelConfigError, match="null code 0 has no name"):
        LabelSpace("x", {1: "a"})
    with pytest.raises(UnknownLabelError, match="no label space 'nope'"):
        get_label_space("nope")
    with pytest.raises(UnknownLabelError, match="no label map dip5 -> harth; known:.*synthetic12 -> dip5"):
        get_label_map("dip5", "harth")
    ident = get_label_map("harth", "harth")
    assert ident.apply(np.array([130, 1])).tolist() == [130, 1]


def test_config_errors_name_the_entry_and_field():
    doc = {"spaces": {"a": {"null_code": 0, "codes": {0: "null", 1: "x"}},
                      "b": {"null_code": 0, "codes": {0: "null", 1: "y"}}},
           "maps": [{"src": "a", "dst": "b", "names": {"x": "zzz"}}]}
    with pytest.raises(LabelConfigError, match=r"f\.yaml: maps\[0\]: field 'names': 'x' -> 'zzz': not a label of b"):
        parse_label_config(doc, "f.yaml")
    doc["maps"] = [{"src": "a", "dst": "c", "names": {}}]
    with pytest.raises(LabelConfigError, match=r"maps\[0\]: field 'dst': unknown label space 'c'"):
        parse_label_config(doc, "f.yaml")
    doc["maps"] = []
    doc["spaces"]["a"]["colour"] = "red"
    with pytest.raises(LabelConfigError, match=r"spaces\['a'\]: unknown keys \['colour'\]"):
        parse_label_config(doc, "f.yaml")
    with pytest.raises(LabelConfigError, match="source codes without a target"):
        LabelMap(get_label_space("dip5"), get_label_space("dip5"), {0: 0})


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_label_config_round_trip(tmp_path, suffix):
    spaces, maps = load_label_config()
    path = save_label_config(tmp_path / f"labels{suffix}", spaces, maps)
    text = path.read_text()
    (json.loads if suffix == ".json" else yaml.safe_load)(text)  # a valid document of that format
    spaces2, maps2 = load_label_config(path)
    assert {n: s.codes for n, s in spaces2.items()} == {n: s.codes for n, s in spaces.items()}
    assert {k: m.mapping for k, m in maps2.items()} == {k: m.mapping for k, m in maps.items()}
    assert spaces2["jsifos18"].complete is False and spaces2["synthetic12"].complete is True
    assert maps2[("synthetic12", "harth")].notes == maps[("synthetic12", "harth")].notes
