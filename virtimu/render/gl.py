"""Offscreen OpenGL rendering of frame geometry with pyrender (EGL or OSMesa).

Import this module only after `virtimu.render.backend.choose_renderer` has
set ``PYOPENGL_PLATFORM``; one `GLRenderer` holds one GL context (one per
process).
"""
from __future__ import annotations

import logging

import numpy as np

from virtimu.render.camera import Camera
from virtimu.render.geometry import BACKGROUND, Part


# PyOpenGL logs at INFO on import (no accelerate module) and at interpreter exit.
logging.getLogger("OpenGL").setLevel(logging.WARNING)


def _grouped(parts: list[Part]) -> dict[tuple, list[Part]]:
    """Parts by (colour, lit), in first-seen order (one draw call per group)."""
    groups: dict[tuple, list[Part]] = {}
    for part in parts:
        groups.setdefault((tuple(part.color), part.lit), []).append(part)
    return groups


def _merge(parts: list[Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated (vertices, faces, normals) of ``parts``."""
    if len(parts) == 1:
        return parts[0].vertices, parts[0].faces, parts[0].normals
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    return (np.concatenate([p.vertices for p in parts]),
            np.concatenate([p.faces + o for p, o in zip(parts, offsets)]).astype(np.int32),
            np.concatenate([p.normals for p in parts]))


class GLRenderer:
    """pyrender offscreen renderer of `Part` lists, width × height pixels."""

    name = "pyrender"

    def __init__(self, width: int, height: int) -> None:
        import pyrender  # noqa: PLC0415 - platform must be chosen first

        self._pr = pyrender
        self.width, self.height = int(width), int(height)
        self._renderer = pyrender.OffscreenRenderer(self.width, self.height)
        self._materials: dict[tuple, object] = {}

    def _material(self, color: tuple[float, float, float], lit: bool):
        key = (tuple(round(c, 4) for c in color), lit)
        if key not in self._materials:
            rgb = np.asarray(color, dtype=np.float64)
            if lit:
                mat = self._pr.MetallicRoughnessMaterial(baseColorFactor=[*rgb, 1.0], metallicFactor=0.0,
                                                         roughnessFactor=0.85, doubleSided=True)
            else:  # markers and axes keep their colour whatever the light: emissive, dark base
                mat = self._pr.MetallicRoughnessMaterial(baseColorFactor=[0.0, 0.0, 0.0, 1.0], metallicFactor=0.0,
                                                         roughnessFactor=1.0, emissiveFactor=rgb.tolist())
            self._materials[key] = mat
        return self._materials[key]

    def render(self, parts: list[Part], camera: Camera) -> np.ndarray:
        """RGB image (height, width, 3) uint8 of ``parts`` seen by ``camera``."""
        pr = self._pr
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}")
        scene = pr.Scene(bg_color=[*BACKGROUND, 1.0], ambient_light=[0.35, 0.35, 0.35])
        for (color, lit), group in _grouped(parts).items():
            v, f, n = _merge(group)
            prim = pr.Primitive(positions=v, normals=n, indices=f, material=self._material(color, lit),
                                mode=pr.constants.GLTF.TRIANGLES)
            scene.add(pr.Mesh([prim]))
        cam = pr.PerspectiveCamera(yfov=camera.yfov, aspectRatio=camera.aspect, znear=camera.znear,
                                   zfar=camera.zfar)
        pose = camera.pose
        scene.add(cam, pose=pose)
        # key light from the camera, slightly above; fill light from above
        key = pose.copy()
        tilt = np.array([[1, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]])
        key[:3, :3] = pose[:3, :3] @ tilt
        scene.add(pr.DirectionalLight(color=np.ones(3), intensity=2.6), pose=key)
        top = np.eye(4)
        scene.add(pr.DirectionalLight(color=np.ones(3), intensity=1.2), pose=top)
        color, _ = self._renderer.render(scene)
        return np.ascontiguousarray(color[..., :3], dtype=np.uint8)

    def resize(self, width: int, height: int) -> None:
        """Render at width × height from now on (same GL context)."""
        self.width, self.height = int(width), int(height)
        self._renderer.viewport_width = self.width
        self._renderer.viewport_height = self.height

    def close(self) -> None:
        """Release the GL context (errors at interpreter shutdown are ignored)."""
        renderer, self._renderer = self._renderer, None
        if renderer is not None:
            try:
                renderer.delete()
            except Exception as exc:  # display already gone at exit
                logging.getLogger(__name__).debug("closing the GL renderer: %s", exc)

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass
