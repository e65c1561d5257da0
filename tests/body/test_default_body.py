"""Tests of the open default body (virtimu/assets/body/SMPL_NEUTRAL.pkl).

The shipped file is checked against the requirements it must meet: SMPL's
joints and tree, SMPL's model space and origin convention, a closed smooth
surface, sane skinning weights, a joint regressor that reproduces the joints
and follows shape, meaningful shape blend shapes, a small and safely readable
pickle, and loading / posing through ``smplx``.
"""
from __future__ import annotations

import io
import pickle
import shutil
import time

import numpy as np
import pytest

from virtimu.body import default_body as db

JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
]
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
J = {name: i for i, name in enumerate(JOINT_NAMES)}

ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy", "zeros"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy array reconstruction and numpy.zeros."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


@pytest.fixture(scope="module")
def raw() -> bytes:
    path = db.default_body_path()
    assert path.is_file(), f"{path} missing: run scripts/make_default_body.py"
    return path.read_bytes()


@pytest.fixture(scope="module")
def body(raw) -> dict:
    return _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()


@pytest.fixture(scope="module")
def arrays(body) -> dict:
    return {
        "v": np.asarray(body["v_template"], np.float64),
        "f": np.asarray(body["f"], np.int64),
        "W": np.asarray(body["weights"], np.float64),
        "R": np.asarray(body["J_regressor"], np.float64),
        "S": np.asarray(body["shapedirs"], np.float64),
    }


@pytest.fixture(scope="module")
def rest(arrays) -> np.ndarray:
    return arrays["R"] @ arrays["v"]


# ----------------------------------------------------------------------------- file


def test_pickle_is_small_plain_and_readable_with_array_only_globals(raw, body):
    assert len(raw) < 3_000_000, f"pkl is {len(raw) / 1e6:.2f} MB"
    referenced = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            referenced.add((module, name))
            return super().find_class(module, name)

    Recorder(io.BytesIO(raw), encoding="latin1").load()
    assert referenced and referenced <= ALLOWED_GLOBALS, referenced
    for key in ("joint_names", "virtimu_body_version", "license", "source"):
        assert key in body
    assert isinstance(body["virtimu_body_version"], str) and body["virtimu_body_version"] == db.BODY_VERSION
    assert body["license"] == "MIT"
    assert isinstance(body["source"], str) and "SMPL" in body["source"]


def test_array_shapes_and_dtypes(body):
    V = body["v_template"].shape[0]
    assert V == 6890 and body["v_template"].shape == (V, 3)
    assert body["f"].shape == (13776, 3) and body["f"].dtype.kind in "iu"
    assert body["shapedirs"].shape == (V, 3, 16) and body["shapedirs"].dtype == np.float32
    assert body["J_regressor"].shape == (24, V) and body["J_regressor"].dtype == np.float32
    assert body["weights"].shape == (V, 24) and body["weights"].dtype.kind == "f"
    pd = body["posedirs"]
    assert isinstance(pd, np.ndarray) and pd.shape == (V, 3, 207) and pd.dtype == np.float32
    assert not pd.any()
    for key in ("v_template", "shapedirs", "J_regressor", "weights"):
        assert np.isfinite(body[key]).all(), key


# ----------------------------------------------------------------------------- joints


def test_joint_names_order_and_tree(body):
    assert body["joint_names"] == JOINT_NAMES
    kt = np.asarray(body["kintree_table"])
    assert kt.shape == (2, 24) and kt.dtype.kind in "iu"
    assert kt[0, 0] in (-1, 4294967295)
    assert kt[0, 1:].tolist() == PARENTS[1:]
    assert kt[1].tolist() == list(range(24))
    assert db.JOINT_NAMES == JOINT_NAMES and db.PARENTS == PARENTS


def test_regressed_rest_joints_are_the_intended_joints(rest):
    err = np.linalg.norm(rest - db.rest_joints(), axis=1)
    assert err.max() < 0.01, dict(zip(JOINT_NAMES, err.round(4)))


def test_model_space_and_origin_convention(arrays, rest):
    v = arrays["v"]
    # SMPL-neutral-like placement (AMASS trans assumes it)
    np.testing.assert_allclose(rest[J["pelvis"]], [0.0, -0.22, 0.03], atol=0.01)
    for side, s in (("left", 1), ("right", -1)):
        assert abs(rest[J[f"{side}_ankle"], 1] - (-1.08)) < 0.03
        assert abs(rest[J[f"{side}_wrist"], 0] - s * 0.67) < 0.03
        assert abs(rest[J[f"{side}_wrist"], 1] - 0.22) < 0.02
        # left side is +x
        for part in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand"):
            assert s * rest[J[f"{side}_{part}"], 0] > 0.04, (side, part)
        # T-pose: arm joints at shoulder height, straight out along x
        arm = rest[[J[f"{side}_{p}"] for p in ("shoulder", "elbow", "wrist", "hand")]]
        assert np.ptp(arm[:, 1]) < 0.01 and np.ptp(arm[:, 2]) < 0.01
        assert np.all(np.diff(s * arm[:, 0]) > 0.05)
        # legs straight and vertical; feet point forward (+z)
        leg = rest[[J[f"{side}_{p}"] for p in ("hip", "knee", "ankle")]]
        assert np.all(np.diff(leg[:, 1]) < -0.3) and np.ptp(leg[:, 0]) < 0.03
        assert rest[J[f"{side}_foot"], 2] > rest[J[f"{side}_ankle"], 2] + 0.08
    assert abs(rest[J["head"], 1] - 0.35) < 0.02
    # soles and stature
    assert -1.19 < v[:, 1].min() < -1.14
    assert 1.65 < np.ptp(v[:, 1]) < 1.75
    # faces +z: the nose is the most anterior point of the head, toes in front of heels
    head = v[v[:, 1] > rest[J["neck"], 1] + 0.05]
    nose = head[np.argmax(head[:, 2])]
    assert abs(nose[0]) < 0.02 and nose[2] > rest[J["head"], 2] + 0.08
    # arm span ~ stature, arms level
    assert 1.6 < np.ptp(v[:, 0]) < 1.8
    # trunk order along y
    ys = rest[[J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")], 1]
    assert np.all(np.diff(ys) > 0)


def test_smplx_landmark_vertex_ids_sit_where_smplx_expects(arrays, rest):
    v = arrays["v"]
    ids = db.SMPLX_LANDMARK_IDS
    head = rest[J["head"]]
    assert v[ids["nose"], 2] > head[2] + 0.08 and abs(v[ids["nose"], 0]) < 0.02
    assert v[ids["leye"], 0] > 0 > v[ids["reye"], 0]
    assert v[ids["lear"], 0] > 0.07 and v[ids["rear"], 0] < -0.07
    for s, side in ((1, "l"), (-1, "r")):
        wrist = rest[J["left_wrist" if s > 0 else "right_wrist"]]
        for finger in ("thumb", "index", "middle", "ring", "pinky"):
            assert s * (v[ids[side + finger], 0] - wrist[0]) > 0.08, side + finger
        assert v[ids[side + "thumb"], 2] > v[ids[side + "pinky"], 2] + 0.04  # thumb to the front
    for s, side in ((1, "L"), (-1, "R")):
        ankle = rest[J["left_ankle" if s > 0 else "right_ankle"]]
        assert v[ids[side + "BigToe"], 2] > ankle[2] + 0.12
        assert v[ids[side + "Heel"], 2] < ankle[2] - 0.04
        assert s * v[ids[side + "SmallToe"], 0] > s * v[ids[side + "BigToe"], 0]


# ----------------------------------------------------------------------------- surface


def test_surface_is_closed_single_oriented_and_smooth(arrays):
    trimesh = pytest.importorskip("trimesh")
    v, f = arrays["v"], arrays["f"]
    assert 3000 <= len(v) <= 7000
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.body_count == 1
    assert mesh.euler_number == 2  # one sphere-like surface, no handles
    assert mesh.volume > 0  # outward-facing triangles
    # every undirected edge in exactly two faces, each direction once
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert len(np.unique(e, axis=0)) == len(e)
    # plausible adult volume (m^3 ~ body mass in tonnes) and skin area (m^2)
    assert 0.055 < mesh.volume < 0.080
    assert 1.5 < mesh.area < 1.95
    # smooth: small angles between neighbouring faces, no degenerate triangles
    ang = np.degrees(mesh.face_adjacency_angles)
    assert np.median(ang) < 8 and np.percentile(ang, 99) < 45
    assert mesh.area_faces.min() > 1e-7


# ----------------------------------------------------------------------------- weights


def test_skinning_weights(arrays, rest):
    v, f, W = arrays["v"], arrays["f"], arrays["W"]
    assert (W >= 0).all()
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-6)
    assert (W > 0).sum(axis=1).max() <= 4
    dominant = np.bincount(W.argmax(axis=1), minlength=24)
    assert (dominant > 20).all(), dict(zip(JOINT_NAMES, dominant))
    for name in ("left_hand", "right_hand", "left_foot", "right_foot"):
        assert (W[:, J[name]] > 0.5).sum() > 50, name
    # locality: a joint only weights vertices near its own body part
    for j in range(24):
        kids = [k for k in range(24) if PARENTS[k] == j]
        ends = [rest[k] for k in kids] or [rest[j]]
        m = W[:, j] > 0.01
        dist = np.min([_segment_distance(v[m], rest[j], e) for e in ends], axis=0)
        assert dist.max() < 0.3, (JOINT_NAMES[j], dist.max())
    # nothing on the left leg (below the crotch) is weighted to the right leg and
    # vice versa; nothing on the arms to the legs
    left_leg = [J[n] for n in ("left_hip", "left_knee", "left_ankle", "left_foot")]
    right_leg = [J[n] for n in ("right_hip", "right_knee", "right_ankle", "right_foot")]
    below_crotch = v[:, 1] < rest[J["left_hip"], 1] - 0.15
    assert W[np.ix_(below_crotch & (v[:, 0] > 0), right_leg)].max() == 0
    assert W[np.ix_(below_crotch & (v[:, 0] < 0), left_leg)].max() == 0
    arms = [J[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist")]
    assert W[np.ix_(W[:, arms].sum(1) > 0, left_leg + right_leg)].max() == 0
    # smooth: no jumps across an edge
    e = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    assert np.abs(W[e[:, 0]] - W[e[:, 1]]).max() < 0.5
    # blending across joints: the knee region mixes thigh and shank
    knee = rest[J["left_knee"]]
    near = np.linalg.norm(v - knee, axis=1) < 0.07
    mix = W[near][:, [J["left_hip"], J["left_knee"]]]
    assert (mix.min(axis=1) > 0.2).sum() > 10


def _segment_distance(p, a, b):
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(p)) if denom == 0 else np.clip(((p - a) @ ab) / denom, 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


# ----------------------------------------------------------------------------- regressor


def test_joint_regressor_rows(arrays, rest):
    R, v = arrays["R"], arrays["v"]
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(axis=1), 1.0, atol=1e-5)
    for j in range(24):
        used = R[j] > 1e-4
        assert used.sum() >= 8, JOINT_NAMES[j]  # a neighbourhood, not a single vertex
        # only vertices around the joint take part
        assert np.linalg.norm(v[used] - rest[j], axis=1).max() < 0.3, JOINT_NAMES[j]


# ----------------------------------------------------------------------------- shape


def _height(v):
    return float(np.ptp(v[:, 1]))


def test_shape_components_have_their_documented_effects(arrays, rest):
    v, S, R = arrays["v"], arrays["S"], arrays["R"]

    def shaped(k, beta):
        vk = v + beta * S[:, :, k]
        return vk, R @ vk

    # 0 stature: +-2 SD ~ +-14 cm, pelvis kept at the origin convention
    for beta, sign in ((2.0, 1), (-2.0, -1)):
        vk, jk = shaped(0, beta)
        dh = _height(vk) - _height(v)
        assert 0.10 < sign * dh < 0.18, dh
        assert np.linalg.norm(jk[J["pelvis"]] - rest[J["pelvis"]]) < 0.01
    # 1 girth: hip circumference and volume grow, height about the same
    trimesh = pytest.importorskip("trimesh")
    vol0 = trimesh.Trimesh(v, arrays["f"], process=False).volume
    vk, _ = shaped(1, 2.0)
    vol1 = trimesh.Trimesh(vk, arrays["f"], process=False).volume
    assert vol1 > 1.2 * vol0
    assert _girth(vk, rest[J["left_hip"], 1]) > 1.1 * _girth(v, rest[J["left_hip"], 1])
    assert abs(_height(vk) - _height(v)) < 0.02
    # 2 leg length vs trunk: ankles lower, head lower too (stature ~ kept)
    _, jk = shaped(2, 2.0)
    assert jk[J["left_ankle"], 1] < rest[J["left_ankle"], 1] - 0.03
    assert jk[J["head"], 1] < rest[J["head"], 1] - 0.03
    # 3 shoulder width, 4 hip width, 5 arm length
    _, jk = shaped(3, 2.0)
    assert jk[J["left_shoulder"], 0] - rest[J["left_shoulder"], 0] > 0.01
    _, jk = shaped(4, 2.0)
    assert jk[J["left_hip"], 0] - rest[J["left_hip"], 0] > 0.005
    assert rest[J["right_hip"], 0] - jk[J["right_hip"], 0] > 0.005
    _, jk = shaped(5, 2.0)
    arm0 = rest[J["left_wrist"], 0] - rest[J["left_shoulder"], 0]
    arm1 = jk[J["left_wrist"], 0] - jk[J["left_shoulder"], 0]
    assert arm1 > 1.06 * arm0
    # 6 belly: the front of the abdomen moves forwards
    vk, _ = shaped(6, 2.0)
    belly = (np.abs(v[:, 1] - rest[J["spine1"], 1]) < 0.03) & (np.abs(v[:, 0]) < 0.03) & (v[:, 2] > 0)
    assert (vk[belly, 2] - v[belly, 2]).mean() > 0.03
    # 7 head size
    vk, _ = shaped(7, 2.0)
    head = v[:, 1] > rest[J["head"], 1] + 0.02
    assert np.ptp(vk[head, 0]) > 1.04 * np.ptp(v[head, 0])
    # 13 foot length
    vk, _ = shaped(13, 2.0)
    foot = v[:, 1] < rest[J["left_ankle"], 1] - 0.02
    assert np.ptp(vk[foot, 2]) > 1.07 * np.ptp(v[foot, 2])
    # every component changes the body, and they are independent
    for k in range(16):
        assert np.abs(S[:, :, k]).max() > 0.003, k
    assert np.linalg.matrix_rank(S.reshape(-1, 16)) == 16


def _girth(v, y, band=0.01):
    """Perimeter of the convex hull of the body's horizontal slice at height y
    (the trunk/pelvis only: |x| < 0.25)."""
    from scipy.spatial import ConvexHull

    pts = v[(np.abs(v[:, 1] - y) < band) & (np.abs(v[:, 0]) < 0.25)][:, [0, 2]]
    hull = pts[ConvexHull(pts).vertices]
    return float(np.linalg.norm(np.diff(np.vstack([hull, hull[:1]]), axis=0), axis=1).sum())


def test_joints_follow_shape_changes(arrays, rest):
    v, S, R = arrays["v"], arrays["S"], arrays["R"]
    field = db.shape_displacements(db.rest_joints(), np.eye(24), db.rest_joints())
    for k in range(16):
        moved = R @ S[:, :, k]  # regressed joint motion per unit beta
        err = np.linalg.norm(moved - field[:, :, k], axis=1)
        assert err.max() < 0.01, (db.SHAPE_COMPONENTS[k][0], JOINT_NAMES[int(err.argmax())], err.max())
        for beta in (-2.0, 2.0):
            jk = R @ (v + beta * S[:, :, k])
            for side in ("left", "right"):
                hip, knee, ankle = (jk[J[f"{side}_{n}"], 1] for n in ("hip", "knee", "ankle"))
                assert hip > knee > ankle
    # stature scales all joint heights about the pelvis
    s = 1.0 + 2.0 * 0.07 / db.STATURE
    jk = R @ (v + 2.0 * S[:, :, 0])
    np.testing.assert_allclose(jk - jk[0], s * (rest - rest[0]), atol=2e-3)


# ----------------------------------------------------------------------------- smplx


def _rodrigues(aa):
    theta = np.linalg.norm(aa)
    if theta < 1e-12:
        return np.eye(3)
    k = aa / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def _forward_kinematics(joints, pose):
    """World transforms (24, 4, 4) of the joints for axis-angle pose (24, 3)."""
    G = np.zeros((24, 4, 4))
    for i in range(24):
        T = np.eye(4)
        T[:3, :3] = _rodrigues(pose[i])
        p = PARENTS[i]
        T[:3, 3] = joints[i] - (joints[p] if p >= 0 else 0)
        G[i] = T if p < 0 else G[p] @ T
    return G


def _skin(v, W, joints, pose):
    G = _forward_kinematics(joints, pose)
    A = G.copy()
    A[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], joints)
    T = np.einsum("vj,jab->vab", W, A)
    return np.einsum("vab,vb->va", T[:, :3, :3], v) + T[:, :3, 3], G[:, :3, 3]


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):
    """smplx.create(DIR, model_type='smpl') reads DIR/smpl/SMPL_NEUTRAL.pkl."""
    root = tmp_path_factory.mktemp("models")
    (root / "smpl").mkdir()
    shutil.copy(db.default_body_path(), root / "smpl" / "SMPL_NEUTRAL.pkl")
    return root


def test_smplx_loads_and_poses_like_independent_forward_kinematics(arrays, smplx_dir):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    model = smplx.create(str(smplx_dir), model_type="smpl", gender="neutral", num_betas=10)
    also = smplx.create(str(db.default_body_path()), num_betas=10)  # the file path form works too
    assert also.get_num_verts() == model.get_num_verts() == 6890
    rng = np.random.default_rng(7)
    betas = rng.normal(size=(1, 10))
    pose = rng.normal(scale=0.4, size=(24, 3))
    transl = rng.normal(scale=0.5, size=(1, 3))
    with torch.no_grad():
        out = model(betas=torch.tensor(betas, dtype=torch.float32),
                    global_orient=torch.tensor(pose[None, 0], dtype=torch.float32),
                    body_pose=torch.tensor(pose[1:].reshape(1, -1), dtype=torch.float32),
                    transl=torch.tensor(transl, dtype=torch.float32))
        rest_out = model(betas=torch.zeros(1, 10), global_orient=torch.zeros(1, 3),
                         body_pose=torch.zeros(1, 69), transl=torch.zeros(1, 3))
    verts = out.vertices[0].numpy().astype(np.float64)
    assert verts.shape == (6890, 3) and np.isfinite(verts).all()
    v_shaped = arrays["v"] + arrays["S"][:, :, :10] @ betas[0]
    joints = arrays["R"] @ v_shaped
    v_ref, j_ref = _skin(v_shaped, arrays["W"], joints, pose)
    np.testing.assert_allclose(out.joints[0, :24].numpy(), j_ref + transl, atol=1e-5)
    np.testing.assert_allclose(verts, v_ref + transl, atol=1e-4)
    np.testing.assert_allclose(rest_out.joints[0, :24].numpy(), arrays["R"] @ arrays["v"], atol=1e-5)
    np.testing.assert_allclose(rest_out.vertices[0].numpy(), arrays["v"], atol=1e-5)


def test_bending_knee_or_elbow_90_degrees_is_well_behaved(arrays, rest):
    trimesh = pytest.importorskip("trimesh")
    v, f, W = arrays["v"], arrays["f"], arrays["W"]
    vol0 = trimesh.Trimesh(v, f, process=False).volume
    cases = (("left_knee", [np.pi / 2, 0, 0], ("left_knee", "left_ankle", "left_foot")),
             ("right_knee", [np.pi / 2, 0, 0], ("right_knee", "right_ankle", "right_foot")),
             ("left_elbow", [0, -np.pi / 2, 0], ("left_elbow", "left_wrist", "left_hand")),
             ("right_elbow", [0, np.pi / 2, 0], ("right_elbow", "right_wrist", "right_hand")))
    for joint, aa, subtree in cases:
        pose = np.zeros((24, 3))
        pose[J[joint]] = aa
        posed, _ = _skin(v, W, rest, pose)
        disp = np.linalg.norm(posed - v, axis=1)
        # LBS of one 90-degree rotation: no vertex moves more than its rigid
        # rotation about the joint (2 r sin 45 deg), and only the limb moves
        bound = np.sqrt(2.0) * np.linalg.norm(v - rest[J[joint]], axis=1)
        assert np.all(disp <= bound + 1e-6), joint
        moving = W[:, [J[n] for n in subtree]].sum(axis=1) > 0
        assert disp[~moving].max() < 1e-6 and disp.max() < 0.75
        # the limb keeps its volume and no triangle collapses or flips badly
        mesh = trimesh.Trimesh(posed, f, process=False)
        assert abs(mesh.volume / vol0 - 1) < 0.02, (joint, mesh.volume / vol0)
        n0 = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        n1 = np.cross(posed[f[:, 1]] - posed[f[:, 0]], posed[f[:, 2]] - posed[f[:, 0]])
        shrink = np.linalg.norm(n1, axis=1) / np.linalg.norm(n0, axis=1)
        assert (shrink < 0.1).sum() <= 0.001 * len(f), (joint, np.sort(shrink)[:20])


# ----------------------------------------------------------------------------- generator


@pytest.mark.slow
def test_generator_is_fast_deterministic_and_matches_shipped_file(tmp_path, body):
    t0 = time.perf_counter()
    path = db.write_default_body(tmp_path)
    assert time.perf_counter() - t0 < 60
    assert (tmp_path / "README.md").is_file()
    new = _ArraysOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    np.testing.assert_array_equal(new["f"], body["f"])
    for key in ("v_template", "shapedirs", "J_regressor", "weights"):
        np.testing.assert_allclose(new[key], body[key], atol=1e-5, err_msg=key)
