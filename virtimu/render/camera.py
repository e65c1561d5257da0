"""A pinhole camera in the AMASS world frame (z up), shared by both renderers.

Conventions are OpenGL's (as pyrender's ``PerspectiveCamera``): the camera
looks along its local -z axis, local +y is up in the image; ``pose`` is the
camera-to-world transform (4, 4).  `Camera.project` maps world points to
pixel coordinates (x to the right, y down, origin at the top-left corner of
the image), so tests and overlays can find where something is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraStyle:
    """How the camera follows the body.

    azimuth_deg: direction from the target to the camera, about world z from
        +x (the demo motions face +x, their left is +y: 50 looks at the front-left).
    elevation_deg: camera height angle above the horizontal through the target.
    distance_m: eye to target.
    target_height_m: height (world z) of the point looked at, or None to
        follow the root's height too (jumps and lying stay in view); x, y
        always follow the root.
    min_target_height_m: lowest target height when following the root (a
        lying body is seen from above rather than along the floor).
    yfov_deg: vertical field of view.
    """

    azimuth_deg: float = 50.0
    elevation_deg: float = 12.0
    distance_m: float = 3.1
    target_height_m: float | None = None
    min_target_height_m: float = 0.6
    yfov_deg: float = 40.0


@dataclass(frozen=True)
class Camera:
    """eye, target (3,) world metres; width, height pixels; yfov radians."""

    eye: np.ndarray
    target: np.ndarray
    width: int
    height: int
    yfov: float = np.deg2rad(40.0)
    znear: float = 0.05
    zfar: float = 100.0

    @classmethod
    def following(cls, root: np.ndarray, width: int, height: int, style: CameraStyle | None = None) -> "Camera":
        """A camera looking at the root (its height replaced by ``style.target_height_m`` if set)."""
        style = style or CameraStyle()
        z = max(root[2], style.min_target_height_m) if style.target_height_m is None else style.target_height_m
        target = np.array([root[0], root[1], z], dtype=np.float64)
        az, el = np.deg2rad(style.azimuth_deg), np.deg2rad(style.elevation_deg)
        direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        return cls(eye=target + style.distance_m * direction, target=target, width=int(width), height=int(height),
                   yfov=float(np.deg2rad(style.yfov_deg)))

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def pose(self) -> np.ndarray:
        """(4, 4) camera-to-world transform (columns: right, up, back, eye)."""
        back = np.asarray(self.eye, dtype=np.float64) - np.asarray(self.target, dtype=np.float64)
        back /= np.linalg.norm(back)
        up_world = np.array([0.0, 0.0, 1.0])
        if abs(back @ up_world) > 0.999:  # looking straight down/up: any horizontal 'up'
            up_world = np.array([0.0, 1.0, 0.0])
        right = np.cross(up_world, back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        M = np.eye(4)
        M[:3, 0], M[:3, 1], M[:3, 2], M[:3, 3] = right, up, back, self.eye
        return M

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (..., 3) (visible points have z < 0)."""
        M = self.pose
        return (np.asarray(points, dtype=np.float64) - M[:3, 3]) @ M[:3, :3]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> (pixels (..., 2) float [x right, y down], depth (..., ) metres).

        depth is the distance along the viewing axis (> 0 in front of the camera).
        """
        pc = self.to_camera(points)
        depth = -pc[..., 2]
        f = 1.0 / np.tan(self.yfov / 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_ndc = f / self.aspect * pc[..., 0] / depth
            y_ndc = f * pc[..., 1] / depth
        px = np.stack([(x_ndc + 1.0) * 0.5 * self.width, (1.0 - y_ndc) * 0.5 * self.height], axis=-1)
        return px, depth
