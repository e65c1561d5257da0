"""Anatomical joint angles -> SMPL local joint rotations.

All angles in radians, arrays broadcast over time.  SMPL model axes: x = the
body's left, y = up, z = forward (the direction the body faces); local joint
frames coincide with these axes in the rest (T-) pose.  Conventions (left
side; the right side is the mirror image, see :func:`mirror`):

* flexion of hip and shoulder (limb forward/up): ``Rx(-flex)``;
  knee flexion (shank backwards): ``Rx(+flex)``; ankle dorsiflexion (toes up):
  ``Rx(-dorsi)``; toe extension (toes up): ``Rx(-ext)``;
* hip abduction (leg out to the side): ``Rz(+abd)``; hip internal rotation: ``Ry(-int)``;
* shoulder: ``Rx(-flex) Rz(abd - 90 deg) Rx(-ext_rot)`` with abd = 0 arm
  hanging at the side, 90 deg T-pose, 180 deg overhead; ext_rot turns the
  forearm (elbow bent) outwards / upwards;
* elbow flexion: ``Ry(-flex)``; collar elevation ``Rz(+elev)``, protraction ``Ry(-pro)``;
* trunk (pelvis, spine, neck, head): forward flexion ``Rx(+flex)``, bend to
  the left ``Rz(-bend)``, turn to the left ``Ry(+turn)``;
* the root (pelvis) orientation in the AMASS world (z up) is
  ``Rz(heading + 90 deg) Rx(90 deg) R_pelvis``: heading 0 faces world +x with
  the body's left towards world +y.
"""
from __future__ import annotations

import numpy as np

_MIRROR = np.diag([-1.0, 1.0, 1.0])


def base_root_rotation() -> np.ndarray:
    """(3, 3) root orientation of an upright body facing world +x (heading 0): Rz(90 deg) Rx(90 deg)
    takes SMPL model space (y up, facing +z, left +x) to the AMASS world (z up, facing +x, left +y)."""
    return rot_z(np.pi / 2) @ rot_x(np.pi / 2)


def _rot(angle: np.ndarray | float, axis: int) -> np.ndarray:
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def rot_x(angle: np.ndarray | float) -> np.ndarray:
    """Rotation about x by ``angle`` (...,) rad -> (..., 3, 3)."""
    return _rot(angle, 0)


def rot_y(angle: np.ndarray | float) -> np.ndarray:
    """Rotation about y by ``angle`` (...,) rad -> (..., 3, 3)."""
    return _rot(angle, 1)


def rot_z(angle: np.ndarray | float) -> np.ndarray:
    """Rotation about z by ``angle`` (...,) rad -> (..., 3, 3)."""
    return _rot(angle, 2)


def mirror(R: np.ndarray) -> np.ndarray:
    """Left <-> right mirror image of local rotations (..., 3, 3) (reflection x -> -x)."""
    return _MIRROR @ R @ _MIRROR


def sided(R_left: np.ndarray, side: str) -> np.ndarray:
    """``R_left`` for side 'left', its mirror image for 'right'."""
    if side == "left":
        return R_left
    if side == "right":
        return mirror(R_left)
    raise ValueError(f"side must be 'left' or 'right', got {side!r}")


def trunk(flex=0.0, bend=0.0, turn=0.0) -> np.ndarray:
    """Trunk-type joint (pelvis, spine, neck, head): turn about y, then flex about x, then bend about z."""
    return rot_y(turn) @ rot_x(flex) @ rot_z(-np.asarray(bend))


def hip(side: str, flex=0.0, abd=0.0, internal=0.0) -> np.ndarray:
    """Hip joint: flexion, abduction, internal rotation (rad)."""
    return sided(rot_x(-np.asarray(flex)) @ rot_z(abd) @ rot_y(-np.asarray(internal)), side)


def knee(side: str, flex=0.0) -> np.ndarray:
    """Knee flexion (rad, positive bends the shank backwards)."""
    return sided(rot_x(flex), side)


def ankle(side: str, dorsi=0.0, inversion=0.0) -> np.ndarray:
    """Ankle dorsiflexion (toes up, rad) and inversion (sole inwards, rad)."""
    return sided(rot_x(-np.asarray(dorsi)) @ rot_z(-np.asarray(inversion)), side)


def toes(side: str, ext=0.0) -> np.ndarray:
    """Toe extension (toes up relative to the foot, rad)."""
    return sided(rot_x(-np.asarray(ext)), side)


def collar(side: str, elev=0.0, pro=0.0) -> np.ndarray:
    """Shoulder girdle: elevation (shrug) and protraction (forward), rad."""
    return sided(rot_y(-np.asarray(pro)) @ rot_z(elev), side)


def shoulder(side: str, flex=0.0, abd=0.0, ext_rot=0.0) -> np.ndarray:
    """Gleno-humeral joint: flexion (arm forward/up), abduction from hanging (0) through
    T-pose (pi/2) to overhead (pi), external rotation (rad)."""
    return sided(rot_x(-np.asarray(flex)) @ rot_z(np.asarray(abd) - np.pi / 2) @ rot_x(-np.asarray(ext_rot)), side)


def elbow(side: str, flex=0.0) -> np.ndarray:
    """Elbow flexion (rad)."""
    return sided(rot_y(-np.asarray(flex)), side)


def wrist(side: str, flex=0.0, dev=0.0) -> np.ndarray:
    """Wrist: flexion towards the palm and radial/ulnar deviation (rad)."""
    return sided(rot_z(-np.asarray(flex)) @ rot_y(-np.asarray(dev)), side)
