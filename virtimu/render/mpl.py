"""Pure-matplotlib software renderer: the fallback when no GL context can be made.

Triangles are projected with the same `Camera` as the GL renderer, back faces
culled, sorted far to near (painter's algorithm) and drawn as one
``PolyCollection`` on an Agg canvas of exactly width × height pixels, lit by
a headlight (Lambert) plus ambient, as the GL path roughly is.  The floor is
drawn first, then body, markers and axes sorted together.
"""
from __future__ import annotations

import numpy as np

from virtimu.render.camera import Camera
from virtimu.render.geometry import BACKGROUND, Part


class MatplotlibRenderer:
    """Software renderer of `Part` lists (slower than GL, no dependency beyond matplotlib)."""

    name = "matplotlib"

    def __init__(self, width: int, height: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = int(width), int(height)
        self._fig = Figure(figsize=(self.width / 100.0, self.height / 100.0), dpi=100, facecolor=BACKGROUND)
        self._canvas = FigureCanvasAgg(self._fig)

    def _triangles(self, part: Part, camera: Camera, light: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(polygons (F, 3, 2) pixels, depth (F,), rgb (F, 3)) of the visible front faces of ``part``."""
        v = np.asarray(part.vertices, dtype=np.float64)
        f = np.asarray(part.faces)
        px, depth = camera.project(v)
        tri_depth = depth[f]  # (F, 3)
        keep = np.all(tri_depth > camera.znear, axis=1)
        p = px[f]  # (F, 3, 2)
        # screen-space winding: counter-clockwise in world = clockwise with y down; keep front faces
        e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        signed = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        if part.kind != "floor":
            keep &= signed < 0
        p, tri_depth, f = p[keep], tri_depth[keep], f[keep]
        rgb = np.broadcast_to(np.asarray(part.color, dtype=np.float64), (len(f), 3))
        if part.lit and len(f):
            fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
            fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
            lambert = np.abs(fn @ light) if part.kind == "floor" else np.clip(fn @ light, 0.0, 1.0)
            rgb = np.clip(rgb * (0.40 + 0.65 * lambert[:, None]), 0.0, 1.0)
        return p, tri_depth.mean(axis=1), np.asarray(rgb)

    def render(self, parts: list[Part], camera: Camera) -> np.ndarray:
        """RGB image (height, width, 3) uint8 of ``parts`` seen by ``camera``."""
        from matplotlib.collections import PolyCollection

        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}")
        fig = self._fig
        fig.clear()
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, self.width)
        ax.set_ylim(self.height, 0)
        ax.set_axis_off()
        ax.set_facecolor(BACKGROUND)
        light = camera.pose[:3, 2]  # towards the camera
        layers = [[p for p in parts if p.kind == "floor"], [p for p in parts if p.kind != "floor"]]
        for layer in layers:
            polys, depths, colors = [], [], []
            for part in layer:
                p, d, c = self._triangles(part, camera, light)
                polys.append(p)
                depths.append(d)
                colors.append(c)
            if not polys or not sum(len(d) for d in depths):
                continue
            P, D, C = np.concatenate(polys), np.concatenate(depths), np.concatenate(colors)
            order = np.argsort(-D, kind="stable")  # far first
            coll = PolyCollection(P[order], facecolors=C[order], edgecolors=C[order], linewidths=0.4,
                                  antialiased=False)
            ax.add_collection(coll)
        self._canvas.draw()
        img = np.asarray(self._canvas.buffer_rgba())[..., :3]
        return np.ascontiguousarray(img, dtype=np.uint8)

    def close(self) -> None:
        self._fig.clear()
