"""The body model: arrays of an SMPL-family model in one plain dataclass.

Holds exactly what linear blend skinning needs; loading from files lives in
``virtimu.body.files``.  Shapes: V vertices, J joints, B betas, P = 9 (J - 1)
pose-blend-shape features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtimu.body.joints import JOINT_NAMES, model_type_for_joint_count


@dataclass
class BodyModel:
    """An SMPL-family body.

    v_template: (V, 3) rest vertices (model space: y up, faces +z, left = +x).
    shapedirs: (V, 3, B) shape blend shapes.
    posedirs: (V, 3, P) pose blend shapes, or None when they are all zero.
    J_regressor: (J, V) rest joints = J_regressor @ v_shaped.
    weights: (V, J) skinning weights, rows sum to 1.
    parents: (J,) parent index per joint, -1 for the root.
    faces: (F, 3) triangle vertex indices.
    joint_names: J names (SMPL family names).
    model_type: 'smpl' | 'smplh' | 'smplx'.
    gender: 'neutral' | 'male' | 'female'.
    name: short description ("virtimu default body", "SMPL_NEUTRAL.pkl" ...).
    topology: mesh family for vertex-id sensor sites: 'smpl' (6890 vertices,
        shared by SMPL and SMPL+H), 'smplx' (10475) or 'virtimu'.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray | None
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    joint_names: list[str]
    model_type: str = "smpl"
    gender: str = "neutral"
    name: str = ""
    topology: str = "virtimu"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        V = self.v_template.shape[0]
        J = len(self.joint_names)
        checks = {
            "v_template": (self.v_template.shape, (V, 3)),
            "shapedirs": (self.shapedirs.shape[:2], (V, 3)),
            "J_regressor": (self.J_regressor.shape, (J, V)),
            "weights": (self.weights.shape, (V, J)),
            "parents": (self.parents.shape, (J,)),
        }
        for key, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"body model {self.name!r}: {key} has shape {tuple(got)}, expected {want}")
        if self.posedirs is not None and self.posedirs.shape != (V, 3, 9 * (J - 1)):
            raise ValueError(
                f"body model {self.name!r}: posedirs has shape {self.posedirs.shape}, expected {(V, 3, 9 * (J - 1))}"
            )
        # Rest joints and their shape directions, precomputed once (J_regressor is linear).
        self._J_template = self.J_regressor @ self.v_template  # (J, 3)
        self._J_shapedirs = np.einsum("jv,vcb->jcb", self.J_regressor, self.shapedirs)  # (J, 3, B)

    @property
    def n_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    def _betas(self, betas: np.ndarray | None) -> np.ndarray:
        """betas (B',) -> (B,), truncated or zero-padded to this model's count."""
        out = np.zeros(self.n_betas)
        if betas is not None:
            b = np.asarray(betas, dtype=np.float64).reshape(-1)[: self.n_betas]
            out[: len(b)] = b
        return out

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """Rest joint positions (J, 3) for shape ``betas`` (B',)."""
        return self._J_template + self._J_shapedirs @ self._betas(betas)

    def shaped_vertices(self, betas: np.ndarray | None = None, idx: np.ndarray | None = None) -> np.ndarray:
        """Rest vertices (V, 3) (or (len(idx), 3) for vertex ids ``idx``) for ``betas``."""
        sl = slice(None) if idx is None else np.asarray(idx)
        return self.v_template[sl] + self.shapedirs[sl] @ self._betas(betas)

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"body model {self.name!r} has no joint {name!r}; joints: {self.joint_names}") from None

    @classmethod
    def from_arrays(cls, data: dict[str, Any], *, name: str = "", gender: str = "neutral",
                    model_type: str | None = None) -> "BodyModel":
        """Build from the arrays of an SMPL-family file (keys as in SMPL/SMPL+H/SMPL-X files:
        v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f).

        SMPL-X's expression directions (shapedirs beyond 300 components) are dropped.
        """
        required = ["v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f"]
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"body model {name!r}: missing fields {missing} (has {sorted(data)})")

        def arr(key: str) -> np.ndarray:
            value = data[key]
            if hasattr(value, "toarray"):  # scipy.sparse
                value = value.toarray()
            return np.asarray(value)

        v_template = arr("v_template").astype(np.float64)
        shapedirs = arr("shapedirs").astype(np.float64)
        if shapedirs.ndim == 2:
            shapedirs = shapedirs[:, :, None]
        if shapedirs.shape[2] > 300:  # SMPL-X: 300 shape + expression components
            shapedirs = shapedirs[:, :, :300]
        J_regressor = arr("J_regressor").astype(np.float64)
        weights = arr("weights").astype(np.float64)
        kintree = arr("kintree_table").astype(np.int64)
        parents = kintree[0].copy()
        parents[0] = -1
        n_joints = J_regressor.shape[0]
        kind = model_type or model_type_for_joint_count(n_joints)
        names = data.get("joint_names")
        joint_names = [str(n) for n in names] if names is not None and len(names) == n_joints else JOINT_NAMES[kind]
        posedirs = None
        if "posedirs" in data and data["posedirs"] is not None:
            pd = arr("posedirs").astype(np.float64)
            if np.any(pd):
                posedirs = pd
        V = v_template.shape[0]
        topology = {6890: "smpl", 10475: "smplx"}.get(V, "virtimu")
        if data.get("virtimu_body_version") is not None:
            topology = "virtimu"
        return cls(
            v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, J_regressor=J_regressor,
            weights=weights, parents=parents, faces=arr("f").astype(np.int64), joint_names=joint_names,
            model_type=kind, gender=gender, name=name, topology=topology,
        )
