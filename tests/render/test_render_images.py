"""Rendered images of a known pose, for the GL renderer (EGL/OSMesa) and the matplotlib fallback."""
from __future__ import annotations

import numpy as np
import pytest

from tests.render.store_helpers import demo_store  # noqa: F401 - fixture
from virtimu.render.backend import choose_renderer
from virtimu.render.camera import Camera, CameraStyle
from virtimu.render.frames import RenderStyle, get_renderer, render_view
from virtimu.render.geometry import BACKGROUND, MARKER_HALF, sensor_color
from virtimu.render.posing import open_render_source

W, H = 160, 120


def _renderer_name(kind: str) -> str:
    if kind == "matplotlib":
        return "matplotlib"
    choice = choose_renderer("auto")
    if not choice.is_gl:
        pytest.skip(f"no offscreen GL context here ({choice.reason}); run scripts/install_system_deps.sh")
    return choice.name


@pytest.fixture(scope="module")
def standing(demo_store):
    """Frame 30 of sit_stand (standing still, before sitting down), posed."""
    source = open_render_source(demo_store, "sit_stand")
    posed = source.pose(np.array([30]))
    return posed.subset(0)


def _body_mask(img: np.ndarray) -> np.ndarray:
    """Pixels of the (bluish grey) body: blue clearly above red; floor and background are neutral grey."""
    rgb = img.astype(int)
    return (rgb[..., 2] - rgb[..., 0] > 10) & (rgb[..., 2] > 60)


@pytest.mark.parametrize("kind", ["gl", "matplotlib"])
def test_body_silhouette_is_where_the_camera_sees_it(kind, standing):
    renderer = get_renderer(_renderer_name(kind), W, H)
    style = RenderStyle(width=W, height=H, camera=CameraStyle(azimuth_deg=0.0, elevation_deg=5.0, distance_m=3.0))
    floor = float(standing.vertices[..., 2].min())
    img = render_view(renderer, standing.vertices, standing.faces, standing.sensor_pos, standing.sensor_rot,
                      standing.root, floor, style)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    background = np.all(img == np.round(np.array(BACKGROUND) * 255).astype(np.uint8), axis=-1)
    assert 0.05 < background.mean() < 0.95  # neither blank nor all background
    cam = Camera.following(standing.root, W, H, style.camera)
    px, _ = cam.project(standing.vertices)
    x0, y0 = np.floor(px.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(px.max(axis=0)).astype(int) + 2
    mask = _body_mask(img)
    inside = np.zeros_like(mask)
    inside[max(y0, 0):y1, max(x0, 0):x1] = True
    assert mask.sum() > 300
    assert mask[inside].sum() / mask.sum() > 0.97  # body pixels lie in the projected body's box
    box_area = (min(y1, H) - max(y0, 0)) * (min(x1, W) - max(x0, 0))
    assert mask[inside].sum() / box_area > 0.2  # and fill a good part of it (a silhouette, not specks)
    # left and right halves of the box both hold body (a front view of a standing body)
    xm = (x0 + x1) // 2
    assert mask[:, max(x0, 0):xm].sum() > 50 and mask[:, xm:x1].sum() > 50


@pytest.mark.parametrize("kind", ["gl", "matplotlib"])
def test_sensor_marker_colours_at_their_projected_positions(kind, standing):
    renderer = get_renderer(_renderer_name(kind), W, H)
    style = RenderStyle(width=W, height=H)
    floor = float(standing.vertices[..., 2].min())
    for s, site in enumerate(standing.sites):
        R = standing.sensor_rot[s]
        centre = standing.sensor_pos[s] + R[:, 2] * MARKER_HALF[2]
        # look at the marker from in front of its face (sensor z points out of the skin)
        cam = Camera(eye=centre + 0.9 * R[:, 2] + 0.05 * R[:, 0], target=centre, width=W, height=H)
        img = render_view(renderer, standing.vertices, standing.faces, standing.sensor_pos, standing.sensor_rot,
                          standing.root, floor, style, camera=cam)
        (u, v), _ = cam.project(centre)
        u, v = int(round(u)), int(round(v))
        patch = img[max(v - 6, 0):v + 7, max(u - 6, 0):u + 7].astype(int)
        want = np.round(np.array(sensor_color(s)) * 255).astype(int)
        close = np.abs(patch - want).max(axis=-1) < 40
        assert close.sum() >= 10, f"{site}: marker colour {want} not found around pixel {(u, v)}"
        # and that colour is rare elsewhere (not a coincidence of the palette)
        whole = np.abs(img.astype(int) - want).max(axis=-1) < 40
        assert whole.sum() < 0.5 * img.shape[0] * img.shape[1]


def test_matplotlib_and_gl_silhouettes_agree(standing):
    name = _renderer_name("gl")
    style = RenderStyle(width=W, height=H, floor=False)
    floor = float(standing.vertices[..., 2].min())
    bg = np.round(np.array(BACKGROUND) * 255).astype(np.uint8)
    masks = []
    for r in (name, "matplotlib"):
        img = render_view(get_renderer(r, W, H), standing.vertices, standing.faces, standing.sensor_pos,
                          standing.sensor_rot, standing.root, floor, style)
        masks.append(np.any(img != bg, axis=-1))
    iou = (masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum()
    assert iou > 0.85
