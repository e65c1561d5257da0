"""Joint names and kinematic trees of the SMPL family.

Names and order follow the SMPL, SMPL+H and SMPL-X model files (and the
AMASS ``poses`` layout): SMPL has 24 joints, SMPL+H 52 (22 body + 2 x 15
finger joints), SMPL-X 55 (22 body + jaw + 2 eyes + 2 x 15 finger joints).
"""
from __future__ import annotations

SMPL_BODY_22 = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
]
_BODY_22_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]

SMPL_JOINT_NAMES = SMPL_BODY_22 + ["left_hand", "right_hand"]
SMPL_PARENTS = _BODY_22_PARENTS + [20, 21]

_FINGERS = ["index", "middle", "pinky", "ring", "thumb"]


def _hand(side: str) -> list[str]:
    return [f"{side}_{f}{i}" for f in _FINGERS for i in (1, 2, 3)]


def _hand_parents(first: int, wrist: int) -> list[int]:
    parents = []
    for f in range(5):
        base = first + 3 * f
        parents += [wrist, base, base + 1]
    return parents


SMPLH_JOINT_NAMES = SMPL_BODY_22 + _hand("left") + _hand("right")
SMPLH_PARENTS = _BODY_22_PARENTS + _hand_parents(22, 20) + _hand_parents(37, 21)

SMPLX_JOINT_NAMES = SMPL_BODY_22 + ["jaw", "left_eye_smplhf", "right_eye_smplhf"] + _hand("left") + _hand("right")
SMPLX_PARENTS = _BODY_22_PARENTS + [15, 15, 15] + _hand_parents(25, 20) + _hand_parents(40, 21)

JOINT_NAMES = {"smpl": SMPL_JOINT_NAMES, "smplh": SMPLH_JOINT_NAMES, "smplx": SMPLX_JOINT_NAMES}
PARENTS = {"smpl": SMPL_PARENTS, "smplh": SMPLH_PARENTS, "smplx": SMPLX_PARENTS}

#: Number of pose values per frame in AMASS files of each model type.
POSE_DIMS = {"smpl": 72, "smplh": 156, "smplx": 165}


def model_type_for_joint_count(n: int) -> str:
    """'smpl' | 'smplh' | 'smplx' for 24 | 52 | 55 joints; ValueError otherwise."""
    for kind, names in JOINT_NAMES.items():
        if len(names) == n:
            return kind
    raise ValueError(f"no SMPL-family model has {n} joints (expected 24, 52 or 55)")
