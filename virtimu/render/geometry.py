"""Triangle geometry of one rendered frame, shared by the GL and matplotlib renderers.

A frame is a list of `Part`s (vertices, faces, per-vertex normals, an RGB
colour and whether it is lit or shown in its flat colour): the body mesh, a
box per sensor (its own colour, from `SENSOR_COLORS`) with three short bars
along the sensor's x / y / z axes (red / green / blue), and a chequered floor
around the root.  Units: metres, AMASS world frame (z up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Marker colours (RGB in [0, 1]) by sensor index; axes use red / green / blue.
SENSOR_COLORS: tuple[tuple[float, float, float], ...] = (
    (1.00, 0.55, 0.00),  # orange
    (0.85, 0.00, 0.85),  # magenta
    (0.00, 0.80, 0.85),  # cyan
    (1.00, 0.90, 0.00),  # yellow
    (0.55, 0.25, 0.95),  # violet
    (0.60, 0.40, 0.20),  # brown
    (1.00, 0.45, 0.65),  # pink
    (0.45, 0.85, 0.20),  # lime
)
AXIS_COLORS = ((0.90, 0.10, 0.10), (0.10, 0.75, 0.10), (0.15, 0.30, 0.95))
BODY_COLOR = (0.72, 0.76, 0.84)
FLOOR_COLORS = ((0.80, 0.80, 0.78), (0.62, 0.62, 0.60))
BACKGROUND = (1.0, 1.0, 1.0)

#: Marker box half extents (m): along sensor x, y, z (z out of the skin).
MARKER_HALF = np.array([0.04, 0.03, 0.015])
#: Axis bars: length and half thickness (m).
AXIS_LENGTH = 0.15
AXIS_HALF = 0.007


@dataclass
class Part:
    """One coloured triangle mesh.

    vertices (N, 3) float32 m; faces (F, 3) int32; normals (N, 3) float32 unit;
    color RGB in [0, 1]; lit: shaded by the light (False: flat colour);
    kind: 'body' | 'marker' | 'axis' | 'floor'.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    color: tuple[float, float, float]
    lit: bool = True
    kind: str = "body"


def sensor_color(i: int) -> tuple[float, float, float]:
    return SENSOR_COLORS[i % len(SENSOR_COLORS)]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3) float32 of a triangle mesh."""
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.asarray(_incidence(f, len(v)) @ fn, dtype=np.float32)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-12)


_INCIDENCE: dict[tuple[int, int, bytes], object] = {}


def _incidence(faces: np.ndarray, n_vertices: int):
    """Sparse (V, F) vertex-face incidence matrix (cached per face array)."""
    from scipy.sparse import csr_matrix

    key = (n_vertices, faces.shape[0], np.ascontiguousarray(faces).tobytes())
    if key not in _INCIDENCE:
        rows = faces.reshape(-1)
        cols = np.repeat(np.arange(faces.shape[0]), 3)
        _INCIDENCE.clear()
        _INCIDENCE[key] = csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                                     shape=(n_vertices, faces.shape[0]))
    return _INCIDENCE[key]


_BOX_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
# per face: 4 corner indices (counter-clockwise seen from outside) and its normal
_BOX_FACES = (
    ((0, 1, 3, 2), (-1, 0, 0)), ((4, 6, 7, 5), (1, 0, 0)),
    ((0, 4, 5, 1), (0, -1, 0)), ((2, 3, 7, 6), (0, 1, 0)),
    ((0, 2, 6, 4), (0, 0, -1)), ((1, 5, 7, 3), (0, 0, 1)),
)


def box(center: np.ndarray, R: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An oriented box: (vertices (24, 3), faces (12, 3), normals (24, 3)), flat-shaded.

    center (3,) m; R (3, 3) box-to-world rotation; half (3,) half extents (m) along the box axes.
    """
    R = np.asarray(R, dtype=np.float64)
    corners = (_BOX_CORNERS * np.asarray(half, dtype=np.float64)) @ R.T + np.asarray(center, dtype=np.float64)
    verts, normals, faces = [], [], []
    for i, (quad, normal) in enumerate(_BOX_FACES):
        verts.append(corners[list(quad)])
        normals.append(np.repeat((R @ np.asarray(normal, dtype=np.float64))[None], 4, axis=0))
        b = 4 * i
        faces += [(b, b + 1, b + 2), (b, b + 2, b + 3)]
    return (np.concatenate(verts).astype(np.float32), np.asarray(faces, dtype=np.int32),
            np.concatenate(normals).astype(np.float32))


def sensor_parts(pos: np.ndarray, rot: np.ndarray) -> list[Part]:
    """Marker boxes and axis bars of S sensors: pos (S, 3) m, rot (S, 3, 3) R_ws."""
    parts: list[Part] = []
    for s in range(pos.shape[0]):
        R = np.asarray(rot[s], dtype=np.float64)
        centre = pos[s] + R[:, 2] * MARKER_HALF[2]  # the box sits on the skin, z out of it
        v, f, n = box(centre, R, MARKER_HALF)
        parts.append(Part(v, f, n, sensor_color(s), lit=False, kind="marker"))
        for a in range(3):
            half = np.full(3, AXIS_HALF)
            half[a] = AXIS_LENGTH / 2
            v, f, n = box(centre + R[:, a] * (AXIS_LENGTH / 2), R, half)
            parts.append(Part(v, f, n, AXIS_COLORS[a], lit=False, kind="axis"))
    return parts


def floor_parts(center_xy: np.ndarray, z: float, half_size: float = 5.0, tile: float = 0.5) -> list[Part]:
    """A chequered floor of ``tile``-metre squares fixed in the world, covering ``center_xy`` ± ``half_size``."""
    lo = np.floor((np.asarray(center_xy, dtype=np.float64) - half_size) / tile).astype(int)
    n = int(np.ceil(2 * half_size / tile)) + 1
    ii, jj = np.meshgrid(np.arange(n) + lo[0], np.arange(n) + lo[1], indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    parts = []
    for parity, color in enumerate(FLOOR_COLORS):
        sel = (ii + jj) % 2 == parity
        if not sel.any():
            continue
        xy = (np.stack([ii[sel], jj[sel]], axis=1)[:, None, :] + corners[None]) * tile  # (Q, 4, 2)
        v = np.concatenate([xy, np.full(xy.shape[:2] + (1,), z)], axis=2).reshape(-1, 3).astype(np.float32)
        base = 4 * np.arange(int(sel.sum()))[:, None]
        f = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]).astype(np.int32)
        nrm = np.tile(np.array([[0.0, 0.0, 1.0]], dtype=np.float32), (len(v), 1))
        parts.append(Part(v, f, nrm, color, lit=True, kind="floor"))
    return parts


def frame_parts(vertices: np.ndarray, faces: np.ndarray, sensor_pos: np.ndarray, sensor_rot: np.ndarray,
                root: np.ndarray, floor_z: float, show_floor: bool = True) -> list[Part]:
    """Everything drawn in one frame: floor, body (V, 3), sensors (S, 3) / (S, 3, 3)."""
    parts = floor_parts(root[:2], floor_z) if show_floor else []
    parts.append(Part(np.asarray(vertices, np.float32), np.asarray(faces, np.int32),
                      vertex_normals(vertices, faces), BODY_COLOR, lit=True, kind="body"))
    parts += sensor_parts(sensor_pos, sensor_rot)
    return parts
