"""Sensor sites: names, aliases, presets, custom site files, jitter, attachment to bodies,
and the dataset mountings checked against gravity directions measured on real data."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from virtimu.body.joints import PARENTS, SMPL_JOINT_NAMES
from virtimu.body.model import BodyModel
from virtimu.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from virtimu.sensors.placement import (
    Attachment,
    PlacementError,
    Site,
    SiteTableError,
    UnknownSiteError,
    attach_sites,
    channel_set,
    jitter_sites,
    load_site_table,
    resolve_sites,
)

from tests.conftest import random_smpl_arrays

ROOT = Path(__file__).resolve().parents[2]
HAPT_RAW = ROOT.parent / "shared" / "data" / "hapt" / "RawData"
DEFAULT_BODY = ROOT / "virtimu" / "assets" / "body" / "SMPL_NEUTRAL.pkl"
G = 9.81
# World rotation of an upright body (AMASS root orientation): model y (up) -> world z.
R_UPRIGHT = axis_angle_to_matrix(np.array([np.pi / 2, 0.0, 0.0]))
# Lying on the back: model z (front) -> world up, model y (head) -> world +x.
R_SUPINE = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
# Figures measured on the HAPT RawData (see sites.yaml, mounts.hapt_phone).
HAPT_STANDING_G = np.array([1.0013, -0.1664, -0.0208])
HAPT_LAYING_G = np.array([0.0687, 0.6380, 0.5413])


@pytest.fixture(scope="module")
def table():
    return load_site_table()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(_unit(a) @ _unit(b), -1.0, 1.0))))


def _specific_force_at_rest(R_wj: np.ndarray, site: Site) -> np.ndarray:
    """What the sensor reads when still: R_ws^T (0, 0, +g)."""
    return (R_wj @ site.mount).T @ np.array([0.0, 0.0, G])


def _write(tmp_path: Path, text: str, name: str = "my_sites.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- names


def test_aliases_resolve_to_their_sites(table) -> None:
    expect = {"wrist": "left_wrist", "thigh": "right_thigh", "lower_back": "back", "Lower-Back": "back",
              "root": "pelvis", "ROOT": "pelvis", "sternum": "chest", "left_forearm": "left_wrist",
              "right lower leg": "right_knee"}
    for alias, site in expect.items():
        assert table.site(alias).name == site, alias
    assert [s.name for s in resolve_sites("pelvis,root,back,lower_back", table)] == ["pelvis", "back"]
    # every documented alias points at an existing site
    assert set(table.aliases.values()) <= set(table.sites)


def test_wrist_thigh_head_is_the_paper001_preset(table) -> None:
    by_names = resolve_sites("wrist,thigh,head", table)
    by_preset = resolve_sites(None, table, preset="paper001")
    assert [s.name for s in by_names] == ["left_wrist", "right_thigh", "head"]
    assert by_names == by_preset
    assert [s.joint for s in by_names] == ["left_elbow", "right_hip", "head"]
    assert resolve_sites(["wrist", " thigh ", "head"], table) == by_preset


def test_every_requested_preset_exists_with_its_sites(table) -> None:
    expect = {
        "paper001": ["left_wrist", "right_thigh", "head"],
        "dip": ["left_wrist", "right_wrist", "left_knee", "right_knee", "head", "pelvis"],
        "transpose": ["left_wrist", "right_wrist", "left_knee", "right_knee", "head", "pelvis"],
        "harth": ["back", "right_thigh"],
        "hapt": ["waist"],
        "opportunity": ["right_wrist"],
        "jsi-fos": ["right_wrist"],
    }
    for preset, names in expect.items():
        assert [s.name for s in table.preset_sites(preset)] == names, preset
    assert len(table.preset_sites("dip-full")) == 17
    assert table.preset_sites("jsi_fos") == table.preset_sites("JSI-FOS")


def test_dip_and_transpose_carry_their_published_vertices_and_joints(table) -> None:
    transpose = table.preset_sites("transpose")
    dip = table.preset_sites("dip")
    # TransPose preprocess.py / DIP genSynData.py (cited in sites.yaml).
    assert [s.smpl_vertex for s in transpose] == [1961, 5424, 1176, 4662, 411, 3021]
    assert [s.smpl_vertex for s in dip] == [1962, 5431, 1096, 4583, 412, 3021]
    joints = [SMPL_JOINT_NAMES.index(s.joint) for s in dip]
    assert joints == [18, 19, 4, 5, 15, 0]
    assert [SMPL_JOINT_NAMES.index(s.joint) for s in transpose] == joints
    # bone-aligned axes, as their synthesis uses R_wj as the sensor orientation
    for s in dip + transpose:
        np.testing.assert_allclose(s.mount, np.eye(3), atol=1e-12)


def test_preset_and_names_combine_preset_first_without_duplicates(table) -> None:
    sites = resolve_sites("head, thigh, back, left_wrist", table, preset="harth")
    assert [s.name for s in sites] == ["back", "right_thigh", "head", "left_wrist"]
    # the preset's own version (HARTH device axes) wins over the plain site
    np.testing.assert_allclose(sites[1].mount, table.mounts["harth_thigh"])
    assert not np.allclose(sites[1].mount, table.site("right_thigh").mount)
    # preset names may appear inside a spec as well
    assert [s.name for s in resolve_sites("chest,paper001", table)] == ["chest", "left_wrist", "right_thigh", "head"]


def test_unknown_names_raise_listing_the_valid_names(table) -> None:
    with pytest.raises(UnknownSiteError) as err:
        resolve_sites("wrist,elbow_pad", table)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "'elbow_pad'" in msg
    for expected in ("left_wrist", "right_thigh", "waist", "wrist -> left_wrist", "lower_back -> back",
                     "root -> pelvis", "paper001", "harth", "jsi-fos"):
        assert expected in msg, expected
    with pytest.raises(UnknownSiteError, match="unknown placement preset 'nope'.*valid sites"):
        resolve_sites(None, table, preset="nope")
    with pytest.raises(PlacementError, match="no sensor sites selected"):
        resolve_sites(" , ", table)


def test_default_mounts_point_z_out_of_the_skin(table) -> None:
    """Sensor z points away from the bone: along the offset's part normal to sensor x."""
    for name, site in table.sites.items():
        if name.endswith("_foot"):  # top of the foot: the offset runs along the foot, z is up
            continue
        x, z = site.mount[:, 0], site.mount[:, 2]
        normal_part = site.offset - (site.offset @ x) * x
        assert normal_part @ z > 0.7 * np.linalg.norm(normal_part), name
        np.testing.assert_allclose(site.mount.T @ site.mount, np.eye(3), atol=1e-12)
        assert np.linalg.det(site.mount) == pytest.approx(1.0)
    # limb sites: x along the segment towards distal
    np.testing.assert_allclose(table.site("left_wrist").mount[:, 0], [1, 0, 0])
    np.testing.assert_allclose(table.site("right_wrist").mount[:, 0], [-1, 0, 0])
    np.testing.assert_allclose(table.site("right_thigh").mount[:, 0], [0, -1, 0])
    np.testing.assert_allclose(table.site("chest").mount[:, 0], [0, 1, 0])


def test_channel_set_paper001_36(table) -> None:
    names = channel_set("paper001_36", table)
    assert len(names) == 36 and len(set(names)) == 36
    assert names[:4] == ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z", "left_wrist/rot_00"]
    assert names[11] == "left_wrist/rot_22"
    assert names[12] == "right_thigh/acc_x" and names[-1] == "head/rot_22"
    assert [n.split("/")[0] for n in names[::12]] == ["left_wrist", "right_thigh", "head"]
    assert len(channel_set("transpose_72", table)) == 72
    assert channel_set("harth_6", table) == [f"{s}/acc_{a}" for s in ("back", "right_thigh") for a in "xyz"]
    with pytest.raises(UnknownSiteError, match="paper001_36"):
        channel_set("paper002", table)


# ----------------------------------------------------------------------------- custom site files


def test_custom_yaml_adds_sites_aliases_presets_and_overrides_with_warning(tmp_path, caplog) -> None:
    path = _write(tmp_path, """
mounts:
  sideways: {x: down, z: left}
sites:
  left_ankle_strap:
    joint: left_knee
    offset: [0.0, -0.36, 0.04]
    mount: {x: down, z: forward}
    description: strap just above the left ankle
  right_thigh:                       # pocket instead of the built-in front-of-thigh site
    joint: right_hip
    offset: [-0.08, -0.12, 0.0]
    mount: sideways
aliases:
  ankle: left_ankle_strap
presets:
  my_setup:
    sites: [ankle, {site: head, offset: [0.0, 0.1, 0.09]}]
channel_sets:
  ankle_acc:
    sites: [ankle]
    signals: [acc, gyro_z]
""")
    with caplog.at_level(logging.WARNING, logger="virtimu.sensors.placement"):
        table = load_site_table(path)
    assert "right_thigh" in caplog.text and "replaces the built-in site" in caplog.text
    assert str(path) in table.sources
    ankle = table.site("ankle")
    assert ankle.name == "left_ankle_strap" and ankle.joint == "left_knee"
    np.testing.assert_allclose(ankle.offset, [0.0, -0.36, 0.04])
    thigh = table.site("thigh")
    np.testing.assert_allclose(thigh.mount[:, 2], [1, 0, 0], atol=1e-12)  # z = left
    np.testing.assert_allclose(thigh.mount[:, 1], [0, 0, -1], atol=1e-12)  # y = z x x = backward
    # built-ins are still there, and the overridden site flows into presets using it
    assert table.site("wrist").name == "left_wrist"
    np.testing.assert_allclose(table.preset_sites("paper001")[1].offset, [-0.08, -0.12, 0.0])
    my = table.preset_sites("my_setup")
    assert [s.name for s in my] == ["left_ankle_strap", "head"]
    assert my[1].smpl_vertex is None  # moved away from its published vertex
    assert channel_set("ankle_acc", table) == ["left_ankle_strap/acc_x", "left_ankle_strap/acc_y",
                                               "left_ankle_strap/acc_z", "left_ankle_strap/gyro_z"]


@pytest.mark.parametrize("text, field", [
    ("sites:\n  s1: {joint: left_hip, offset: [0.1, 0.2]}\n", "sites.s1.offset"),
    ("sites:\n  s1: {joint: left_hip, offset: [0.1, 0.2, abc]}\n", "sites.s1.offset"),
    ("sites:\n  s1: {joint: left_tail, offset: [0, 0, 0]}\n", "sites.s1.joint"),
    ("sites:\n  s1: {offset: [0, 0, 0]}\n", "sites.s1.joint"),
    ("sites:\n  s1: {joint: head, ofset: [0, 0, 0]}\n", "sites.s1"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], mount: {x: up, z: [0, 0.5, 1]}}\n", "sites.s1.mount"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], mount: {x: up, y: left, z: forward}}\n", "sites.s1.mount"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], mount: {x: sideways, z: up}}\n", "sites.s1.mount.x"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], mount: upside_down}\n", "sites.s1.mount"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], smpl_vertex: 7000}\n", "sites.s1.smpl_vertex"),
    ("sites:\n  s/1: {joint: head, offset: [0, 0, 0]}\n", "sites.s/1"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0]}\n  s1: {joint: neck, offset: [0, 0, 0]}\n", "yaml"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0]\n", "yaml"),
    ("- just\n- a list\n", "top level"),
    ("site:\n  s1: {joint: head, offset: [0, 0, 0]}\n", "top level"),
    ("presets:\n  p1: {sites: [left_wrist, elbow_pad]}\n", "presets.p1.sites[1]"),
    ("presets:\n  p1: {sites: []}\n", "presets.p1.sites"),
    ("channel_sets:\n  c1: {sites: [head], signals: [acc, temperature]}\n", "channel_sets.c1.signals"),
    ("aliases:\n  head: chest\n", "aliases.head"),
    ("aliases:\n  ankle: nowhere\n", "aliases.ankle"),
    ("sites:\n  s1: {joint: head, offset: [0, 0, 0], normal: [0, 0, 0]}\n", "sites.s1.normal"),
    ("version: 2\n", "version"),
])
def test_malformed_site_files_name_the_file_and_field(tmp_path, text, field) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SiteTableError) as err:
        load_site_table(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {field}"), msg
    assert err.value.field == field and isinstance(err.value, ValueError)


def test_missing_custom_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SiteTableError, match=r"nope\.yaml: file: no such file"):
        load_site_table(tmp_path / "nope.yaml")


def test_mount_given_as_three_rounded_vectors_becomes_a_rotation(tmp_path) -> None:
    path = _write(tmp_path, """
sites:
  tilted:
    joint: spine3
    offset: [0, 0.05, 0.1]
    mount: {x: [0.0, 0.995, 0.1], y: [-1, 0, 0], z: [0.0, -0.1, 0.995]}
""")
    R = load_site_table(path).site("tilted").mount
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert _angle_deg(R[:, 0], np.array([0.0, 0.995, 0.1])) < 0.1


# ----------------------------------------------------------------------------- jitter


def test_jitter_is_seeded_reproducible_and_independent_per_site(table) -> None:
    sites = resolve_sites("wrist,thigh,head,chest", table)
    a = jitter_sites(sites, 0.02, 5.0, seed=7)
    b = jitter_sites(sites, 0.02, 5.0, seed=7)
    c = jitter_sites(sites, 0.02, 5.0, seed=8)
    assert a == b
    assert all(x != y for x, y in zip(a, c))
    # a site's draw does not depend on the other sites in the list
    assert jitter_sites(sites[2:3], 0.02, 5.0, seed=7)[0] == a[2]
    # nominal fields are kept; the displacement is separate
    for s0, s1 in zip(sites, a):
        assert s1.name == s0.name and s1.joint == s0.joint and s1.smpl_vertex == s0.smpl_vertex
        np.testing.assert_array_equal(s1.offset, s0.offset)
        assert 0 < np.linalg.norm(s1.offset_jitter) < 0.15
    # two sites with the same geometry but different names get different draws
    twins = [sites[0], sites[0].replace(name="twin")]
    j = jitter_sites(twins, 0.02, 5.0, seed=7)
    assert not np.allclose(j[0].offset_jitter, j[1].offset_jitter)
    # zero std: unchanged
    assert jitter_sites(sites, 0.0, 0.0, seed=3) == sites
    with pytest.raises(ValueError, match="offset_std_m"):
        jitter_sites(sites, -0.01)
    # sites survive pickling (worker processes receive them)
    assert pickle.loads(pickle.dumps(a)) == a


def test_jitter_stays_on_the_skin_when_a_preset_changes_the_mount(table) -> None:
    """DIP's bone-aligned mount has z forward, but the forearm sensor's skin normal is up."""
    wrist = table.preset_sites("dip")[0]
    np.testing.assert_allclose(wrist.mount, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(wrist.normal, [0.0, 1.0, 0.0], atol=1e-12)
    moved = [jitter_sites([wrist], 0.02, 0.0, seed=s)[0].offset_jitter for s in range(50)]
    np.testing.assert_allclose(np.stack(moved) @ wrist.normal, 0.0, atol=1e-12)
    assert np.mean(np.linalg.norm(moved, axis=1)) > 0.01


def test_jitter_has_the_requested_magnitude() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    mounts = axis_angle_to_matrix(rng.normal(size=(n, 3)))
    sites = [Site(name=f"s{i}", joint="head", offset=np.zeros(3), mount=mounts[i]) for i in range(n)]
    std_m, std_deg = 0.015, 4.0
    out = jitter_sites(sites, std_m, std_deg, seed=11)
    d = np.stack([s.offset_jitter for s in out])  # (n, 3) joint frame
    d_sensor = np.einsum("nji,nj->ni", mounts, d)  # in each sensor's own axes
    np.testing.assert_allclose(d_sensor[:, 2], 0.0, atol=1e-12)  # tangent plane: no normal part
    assert np.std(d_sensor[:, 0]) == pytest.approx(std_m, rel=0.06)
    assert np.std(d_sensor[:, 1]) == pytest.approx(std_m, rel=0.06)
    rel = np.einsum("nji,njk->nik", mounts, np.stack([s.mount for s in out]))  # mount^T mount'
    angles = np.degrees(np.linalg.norm(matrix_to_axis_angle(rel), axis=1))
    assert np.sqrt(np.mean(angles**2)) == pytest.approx(std_deg, rel=0.06)
    # the same draws scale with the std; 3-D mode has a normal component too
    double = jitter_sites(sites[:5], 2 * std_m, 0.0, seed=11)
    np.testing.assert_allclose(np.stack([s.offset_jitter for s in double]), 2 * d[:5], rtol=1e-12)
    d3 = np.stack([s.offset_jitter for s in jitter_sites(sites, std_m, 0.0, seed=11, tangent=False)])
    assert np.std(d3, axis=0) == pytest.approx([std_m] * 3, rel=0.06)


# ----------------------------------------------------------------------------- attachment


@pytest.fixture(scope="module")
def smpl_arrays() -> dict:
    return random_smpl_arrays(seed=5)


def _nearest_by_brute_force(body: BodyModel, site: Site, betas=None) -> tuple[int, np.ndarray]:
    j = body.joint_index(site.joint)
    point = body.rest_joints(betas)[j] + site.offset
    verts = body.shaped_vertices(betas)
    dom = body.weights.argmax(axis=1)
    near = {j, int(body.parents[j])} | {c for c in range(body.n_joints) if body.parents[c] == j}
    best = min((v for v in range(len(verts)) if dom[v] in near), key=lambda v: np.linalg.norm(verts[v] - point))
    return best, point - verts[best]


def test_attach_uses_the_published_vertex_on_smpl_topology(table, smpl_arrays) -> None:
    body = BodyModel.from_arrays(smpl_arrays, name="random smpl")
    assert body.topology == "smpl"
    sites = table.preset_sites("transpose")
    att = attach_sites(body, sites, betas=np.ones(10))
    assert [a.vertex for a in att] == [1961, 5424, 1176, 4662, 411, 3021]
    assert [a.joint for a in att] == [18, 19, 4, 5, 15, 0]
    assert all(a.method == "smpl_vertex" for a in att)
    for a in att:
        np.testing.assert_array_equal(a.offset_local, 0.0)
    jittered = jitter_sites(sites, 0.01, 3.0, seed=1)
    for a, s in zip(attach_sites(body, jittered), jittered):
        np.testing.assert_allclose(a.offset_local, s.offset_jitter)
        np.testing.assert_allclose(a.mount, s.mount)
    # a site without a published vertex falls back to the nearest vertex
    chest = attach_sites(body, [table.site("chest")])[0]
    assert chest.method == "nearest" and chest.vertex == _nearest_by_brute_force(body, table.site("chest"))[0]


def test_attach_picks_the_nearest_vertex_on_other_topologies(table, smpl_arrays) -> None:
    body = BodyModel.from_arrays(dict(smpl_arrays, virtimu_body_version=1), name="random virtimu")
    assert body.topology == "virtimu"
    betas = np.linspace(-1.0, 1.0, 10)
    sites = resolve_sites("wrist,thigh,head,back,waist", table)
    for a, s in zip(attach_sites(body, sites, betas=betas), sites):
        vertex, residual = _nearest_by_brute_force(body, s, betas)
        assert a.method == "nearest" and a.vertex == vertex
        np.testing.assert_allclose(a.offset_local, residual, atol=1e-12)
        assert a.joint == body.joint_index(s.joint)


def _hand_built_body(site_offset: np.ndarray, weight_all_to_pelvis: bool = False) -> BodyModel:
    """24 joint vertices at a T-pose-like layout, plus three skin vertices near the point
    left_elbow + site_offset."""
    J = 24
    rng = np.random.default_rng(2)
    joints = rng.normal(scale=0.3, size=(J, 3))
    joints[18] = [0.42, 0.21, -0.03]  # left_elbow
    joints[20] = [0.67, 0.22, -0.04]  # left_wrist
    point = joints[18] + site_offset
    skin = np.stack([point + [0.0, 0.001, 0.0],   # 24: closest, but skinned to the head
                     point + [0.0, 0.02, 0.0],    # 25: skinned to the forearm -> chosen
                     point + [0.03, 0.0, 0.0]])   # 26: skinned to the hand (child)
    V = J + 3
    weights = np.zeros((V, J))
    weights[np.arange(J), np.arange(J)] = 1.0
    weights[24, 15] = 1.0
    weights[25, [18, 20]] = [0.7, 0.3]
    weights[26, 20] = 1.0
    if weight_all_to_pelvis:
        weights[:] = 0.0
        weights[:, 0] = 1.0
    J_regressor = np.zeros((J, V))
    J_regressor[np.arange(J), np.arange(J)] = 1.0
    arrays = {"v_template": np.concatenate([joints, skin]), "shapedirs": np.zeros((V, 3, 2)),
              "J_regressor": J_regressor, "weights": weights,
              "kintree_table": np.stack([np.array(PARENTS["smpl"]) % 2**32, np.arange(J)]),
              "f": np.array([[24, 25, 26]])}
    return BodyModel.from_arrays(arrays, name="hand-built")


def test_attach_on_a_hand_built_body_rides_the_limb_and_lands_on_the_site(table) -> None:
    from virtimu.sensors.synth import sensor_trajectories

    site = table.site("left_wrist")
    body = _hand_built_body(site.offset)
    point = body.rest_joints()[18] + site.offset
    (a,) = attach_sites(body, [site])
    assert a.vertex == 25 and a.joint == 18 and a.method == "nearest"
    np.testing.assert_allclose(a.offset_local, [0.0, -0.02, 0.0], atol=1e-12)
    # at rest the synthesiser puts the sensor exactly on the site point (plus jitter)
    jittered = jitter_sites([site], 0.01, 0.0, seed=4)[0]
    atts = attach_sites(body, [site, jittered])
    P, R_ws = sensor_trajectories(body, np.zeros(2), np.broadcast_to(np.eye(3), (1, 24, 3, 3)).copy(),
                                  np.zeros((1, 3)), atts)
    np.testing.assert_allclose(P[0, 0], point, atol=1e-12)
    np.testing.assert_allclose(P[0, 1], point + jittered.offset_jitter, atol=1e-12)
    np.testing.assert_allclose(R_ws[0, 0], site.mount, atol=1e-12)
    # no vertex mostly skinned near the joint: search all vertices
    (b,) = attach_sites(_hand_built_body(site.offset, weight_all_to_pelvis=True), [site])
    assert b.vertex == 24
    with pytest.raises(PlacementError, match="'left_wrist'.*no joint 'left_elbow'"):
        attach_sites(BodyModel.from_arrays({**random_smpl_arrays(n_vertices=50), "joint_names":
                                            [f"j{i}" for i in range(24)]}, name="odd"), [site])


def test_attachment_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="offset_local"):
        Attachment(name="x", vertex=0, joint=0, mount=np.eye(3), offset_local=np.zeros(2))
    with pytest.raises(ValueError, match="rotation"):
        Attachment(name="x", vertex=0, joint=0, mount=2 * np.eye(3), offset_local=np.zeros(3))


@pytest.mark.skipif(not DEFAULT_BODY.exists(), reason=f"default body not generated yet ({DEFAULT_BODY})")
def test_every_site_attaches_to_the_default_body(table) -> None:
    with open(DEFAULT_BODY, "rb") as fh:
        body = BodyModel.from_arrays(pickle.load(fh), name="virtimu default body")
    rest = body.rest_joints()
    verts = body.shaped_vertices()
    dominant = body.weights.argmax(axis=1)
    sites = list(table.sites.values()) + [s for p in table.presets for s in table.preset_sites(p)]
    for s, a in zip(sites, attach_sites(body, sites)):
        j = body.joint_index(s.joint)
        point = rest[j] + s.offset
        dist = np.linalg.norm(verts[a.vertex] - point)
        assert dist < 0.06, f"{s.name}: vertex {a.vertex} is {dist * 100:.1f} cm from the site point"
        near = {j, int(body.parents[j])} | set(np.flatnonzero(body.parents == j).tolist())
        assert dominant[a.vertex] in near, f"{s.name}: vertex skinned mostly to {body.joint_names[dominant[a.vertex]]}"


# ----------------------------------------------------------------------------- dataset axis conventions


def _hapt_mean_acc(activity: int) -> np.ndarray:
    """Mean acc (g) over all samples of one HAPT activity (labels.txt rows: exp user act start end)."""
    labels = np.loadtxt(HAPT_RAW / "labels.txt", dtype=np.int64)
    total, count = np.zeros(3), 0
    for exp, user in {(e, u) for e, u, act, _, _ in labels if act == activity}:
        acc = np.loadtxt(HAPT_RAW / f"acc_exp{exp:02d}_user{user:02d}.txt")
        for e, u, act, start, end in labels:
            if (e, u, act) == (exp, user, activity):
                seg = acc[start:end + 1]
                total += seg.sum(axis=0)
                count += len(seg)
    return total / count


def test_hapt_mount_reproduces_the_measured_standing_gravity(table) -> None:
    waist = table.preset_sites("hapt")[0]
    f_up = _specific_force_at_rest(R_UPRIGHT, waist)  # pelvis upright, no motion
    assert np.linalg.norm(f_up) == pytest.approx(G)
    assert _angle_deg(f_up, HAPT_STANDING_G) < 0.5
    assert f_up[0] > 0.95 * G  # phone x points up
    assert _angle_deg(_specific_force_at_rest(R_SUPINE, waist), HAPT_LAYING_G) < 4.0
    # the plain waist site (x up, z forward) would also read +g on x, but not the phone's tilt
    assert _angle_deg(_specific_force_at_rest(R_UPRIGHT, table.site("waist")), HAPT_STANDING_G) > 5.0


@pytest.mark.skipif(not (HAPT_RAW / "labels.txt").exists(), reason=f"HAPT raw data not present at {HAPT_RAW}")
def test_hapt_mount_matches_the_real_recordings() -> None:
    standing, laying = _hapt_mean_acc(5), _hapt_mean_acc(6)
    np.testing.assert_allclose(standing, HAPT_STANDING_G, atol=2e-4)
    np.testing.assert_allclose(laying, HAPT_LAYING_G, atol=2e-4)


def test_harth_mounts_read_plus_g_on_x_when_upright(table) -> None:
    """HARTH standing rows read about +1 g on back_x and thigh_x (see sites.yaml)."""
    back, thigh = table.preset_sites("harth")
    for site in (back, thigh):
        f = _specific_force_at_rest(R_UPRIGHT, site) / G
        np.testing.assert_allclose(f, [1.0, 0.0, 0.0], atol=1e-12)
    # seated: thigh horizontal (hip flexed 90 deg): the front-of-thigh z axis faces up
    R_thigh = R_UPRIGHT @ axis_angle_to_matrix(np.array([-np.pi / 2, 0.0, 0.0]))
    np.testing.assert_allclose(_specific_force_at_rest(R_thigh, thigh) / G, [0.0, 0.0, 1.0], atol=1e-12)
