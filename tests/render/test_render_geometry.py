"""Camera projection, frame geometry and full-mesh skinning against the sparse reference."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from virtimu.body.files import load_body_model
from virtimu.kinematics import forward_kinematics, skin_vertices
from virtimu.render.camera import Camera, CameraStyle
from virtimu.render.geometry import box, floor_parts, frame_parts, vertex_normals
from virtimu.render.posing import skin_full_mesh
from virtimu.rotations import axis_angle_to_matrix


def test_camera_projects_target_to_centre_and_up_is_up():
    cam = Camera.following(np.array([1.0, 2.0, 0.9]), 320, 240, CameraStyle(azimuth_deg=30, elevation_deg=10))
    px, depth = cam.project(np.array([[1.0, 2.0, 0.9], [1.0, 2.0, 1.4], [1.0, 2.0, 0.4]]))
    np.testing.assert_allclose(px[0], [160, 120], atol=1e-6)
    assert depth[0] == pytest.approx(CameraStyle().distance_m)
    assert px[1, 1] < 120 < px[2, 1]  # higher in the world = higher in the image (smaller y)
    assert abs(px[1, 0] - 160) < 1 and abs(px[2, 0] - 160) < 1
    behind = cam.eye + (cam.eye - cam.target)
    assert cam.project(behind)[1] < 0


def test_camera_follows_root_but_not_below_min_height():
    cam = Camera.following(np.array([0.0, 0.0, 0.15]), 64, 48)
    assert cam.target[2] == pytest.approx(CameraStyle().min_target_height_m)
    fixed = Camera.following(np.array([0.0, 0.0, 1.3]), 64, 48, CameraStyle(target_height_m=0.5))
    assert fixed.target[2] == pytest.approx(0.5)


def test_box_and_floor_faces_point_outwards():
    R = axis_angle_to_matrix(np.array([0.3, -0.7, 1.1]))
    v, f, n = box(np.array([0.1, 0.2, 0.3]), R, np.array([0.04, 0.03, 0.01]))
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.all(np.einsum("ij,ij->i", fn, n[f[:, 0]]) > 0)
    assert np.all(np.einsum("ij,ij->i", v - [0.1, 0.2, 0.3], n) > 0)
    for part in floor_parts(np.array([0.3, -0.2]), 0.05):
        pf = np.cross(part.vertices[part.faces[:, 1]] - part.vertices[part.faces[:, 0]],
                      part.vertices[part.faces[:, 2]] - part.vertices[part.faces[:, 0]])
        assert np.all(pf[:, 2] > 0) and np.allclose(part.vertices[:, 2], 0.05)


def test_vertex_normals_of_a_sphere_point_radially():
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions=2)
    n = vertex_normals(sphere.vertices, sphere.faces)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert np.min(np.einsum("ij,ij->i", n, radial)) > 0.98


def test_frame_parts_has_body_markers_axes_and_floor():
    body = load_body_model(None)
    S = 3
    parts = frame_parts(body.v_template, body.faces, np.zeros((S, 3)), np.repeat(np.eye(3)[None], S, 0),
                        np.zeros(3), 0.0)
    kinds = [p.kind for p in parts]
    assert kinds.count("body") == 1 and kinds.count("marker") == S and kinds.count("axis") == 3 * S
    assert kinds.count("floor") == 2
    assert len({p.color for p in parts if p.kind == "marker"}) == S  # one colour per sensor


@pytest.mark.parametrize("with_posedirs", [False, True])
def test_full_mesh_skinning_matches_sparse_reference(with_posedirs):
    body = load_body_model(None)
    rng = np.random.default_rng(0)
    if with_posedirs:
        body = dataclasses.replace(body, posedirs=rng.normal(scale=0.01, size=(body.v_template.shape[0], 3,
                                                                              9 * (body.n_joints - 1))))
    K = 5
    R_local = axis_angle_to_matrix(rng.normal(scale=0.4, size=(K, body.n_joints, 3)))
    trans = rng.normal(size=(K, 3))
    betas = rng.normal(size=body.n_betas)
    state = forward_kinematics(R_local, body.rest_joints(betas), body.parents, trans)
    idx = rng.choice(body.v_template.shape[0], size=200, replace=False)
    ref = skin_vertices(body, betas, R_local, state, idx)
    got = skin_full_mesh(body, betas, R_local, state)
    assert got.shape == (K, body.v_template.shape[0], 3)
    np.testing.assert_allclose(got[:, idx], ref, atol=2e-5)
