"""Poses of a stored recording: the body mesh and sensor poses at chosen frames.

Synthesis stores signals, labels and provenance, not the poses.  The poses
are read back from the AMASS file the provenance names (``provenance['file']``,
checked against ``provenance['sha256']``); when that path does not exist
(another machine, a moved dataset) the file is looked for under
``amass_root`` (the recording's name is its path relative to the synthesis
search root) and, for the bundled demo clips, in ``virtimu/assets/motions``.
The motion is sampled at the recording's frame times ``k / fs`` the way
synthesis resamples it (SLERP of joint rotations, cubic spline of the
translation), posed with forward kinematics and full-mesh linear blend
skinning, and the sensors are placed from the stored placement
(``attrs['placement']``: vertex, joint, mounting rotation, offset), so they
sit exactly where the signals were synthesised.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from virtimu.body.files import load_body_model
from virtimu.body.model import BodyModel
from virtimu.io.amass import read_amass
from virtimu.kinematics import JointState, forward_kinematics, motion_rotations
from virtimu.rotations import slerp_rotations
from virtimu.sensors.placement import Attachment
from virtimu.store import RecordingStore
from virtimu.types import Motion, Recording

log = logging.getLogger(__name__)

#: Bundled demo motions (same folder as ``virtimu.synthesis.DEMO_MOTIONS``).
DEMO_MOTIONS = Path(__file__).resolve().parents[1] / "assets" / "motions"

#: Frames skinned per batch (bounds memory: ~7 MB per frame of 6890 vertices).
_SKIN_BATCH = 32


class RenderSourceError(ValueError):
    """A recording cannot be rendered (unknown name, no motion, body mismatch); the message says why."""


@dataclass
class PosedFrames:
    """The posed body and sensors at K frames.

    frames: (K,) recording frame indices; times: (K,) seconds.
    vertices: (K, V, 3) float32 world metres; faces: (F, 3) int32.
    root: (K, 3) pelvis world position (m).
    sensor_pos: (K, S, 3) sensor world positions (m); sensor_rot: (K, S, 3, 3) R_ws.
    sites: S site names.
    """

    frames: np.ndarray
    times: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    root: np.ndarray
    sensor_pos: np.ndarray
    sensor_rot: np.ndarray
    sites: list[str]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def subset(self, idx: np.ndarray | slice) -> "PosedFrames":
        return PosedFrames(self.frames[idx], self.times[idx], self.vertices[idx], self.faces, self.root[idx],
                           self.sensor_pos[idx], self.sensor_rot[idx], self.sites)


def find_recording(store: RecordingStore, name: str, source: str | None = None) -> tuple[str, str]:
    """(source, name) of the recording called ``name`` (in ``source`` if given).

    Raises RenderSourceError naming the store and listing (some of) its
    recordings when there is none, or the sources when the name is ambiguous.
    """
    keys = store.list(source) if source else store.list()
    hits = [k for k in keys if k[1] == name]
    if not hits:
        listing = ", ".join(f"{s}/{n}" for s, n in keys[:20]) + (" ..." if len(keys) > 20 else "")
        where = f"source {source!r} of " if source else ""
        raise RenderSourceError(f"no recording {name!r} in {where}{store.path}; "
                                f"recordings: {listing or '(none)'}")
    if len(hits) > 1:
        raise RenderSourceError(f"recording {name!r} is in several sources {[s for s, _ in hits]} of "
                                f"{store.path}; choose one with --source")
    return hits[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def motion_file_candidates(rec: Recording, amass_root: str | Path | None = None) -> list[Path]:
    """Where the AMASS file of ``rec`` may be, in the order tried."""
    prov = rec.provenance or {}
    out: list[Path] = []
    if prov.get("file"):
        out.append(Path(prov["file"]))
    if amass_root is not None:
        root = Path(amass_root)
        out.append(root / f"{rec.name}.npz")
        if prov.get("sequence"):
            out.append(root / f"{prov['sequence']}.npz")
    if prov.get("sequence"):
        out.append(DEMO_MOTIONS / f"{prov['sequence']}.npz")
    return list(dict.fromkeys(out))


def locate_motion_file(rec: Recording, amass_root: str | Path | None = None) -> Path:
    """The AMASS file ``rec`` was synthesised from (see the module docstring).

    Raises RenderSourceError for recordings that are not synthesised from an
    AMASS-format file, or when no candidate exists (the paths tried are named).
    A candidate whose sha256 differs from the provenance's is skipped with a
    warning; if only such files exist the first is used (warned again).
    """
    prov = rec.provenance or {}
    if (rec.attrs or {}).get("kind") != "synthetic" or prov.get("format") != "amass-npz":
        raise RenderSourceError(f"recording {rec.source}/{rec.name} was not synthesised from an AMASS motion "
                                f"(attrs kind {(rec.attrs or {}).get('kind')!r}, provenance format "
                                f"{prov.get('format')!r}): there is no body motion to render")
    tried = motion_file_candidates(rec, amass_root)
    existing = [p for p in tried if p.is_file()]
    if not existing:
        raise RenderSourceError(f"recording {rec.source}/{rec.name}: its motion file is not found (tried "
                                f"{', '.join(map(str, tried))}); pass --amass-root FOLDER (the folder "
                                f"synthesis searched)")
    want = prov.get("sha256")
    if not want:
        return existing[0]
    for path in existing:
        if _sha256(path) == want:
            return path
    log.warning("%s/%s: no candidate motion file matches the stored sha256 %s...; using %s (the poses may "
                "not match the signals)", rec.source, rec.name, want[:12], existing[0])
    return existing[0]


def attachments_from_attrs(rec: Recording) -> list[Attachment]:
    """The sensor attachments stored with a synthetic recording (``attrs['placement']``)."""
    placement = (rec.attrs or {}).get("placement")
    if not placement:
        raise RenderSourceError(f"recording {rec.source}/{rec.name}: attrs have no 'placement' (sensor sites)")
    try:
        return [Attachment(name=p["site"], vertex=p["vertex"], joint=p["joint"], mount=np.asarray(p["mount"]),
                           offset_local=np.asarray(p["offset_local"])) for p in placement]
    except (KeyError, TypeError, ValueError) as exc:
        raise RenderSourceError(f"recording {rec.source}/{rec.name}: attrs 'placement' is malformed "
                                f"({type(exc).__name__}: {exc})") from None


def body_for_recording(rec: Recording, body_model: str | Path | None = None) -> BodyModel:
    """The body the recording was synthesised on: ``body_model`` (a file or folder) or the default body.

    Raises RenderSourceError when the body's mesh differs from the stored one
    (vertex count or topology): the stored sensor vertex ids would be wrong.
    """
    info: dict[str, Any] = (rec.attrs or {}).get("body") or {}
    gender = info.get("gender") or "neutral"
    body = load_body_model(body_model, gender=gender) if body_model is not None else load_body_model(None)
    want_v, want_topo = info.get("n_vertices"), info.get("topology")
    got_v = int(body.v_template.shape[0])
    if (want_v is not None and int(want_v) != got_v) or (want_topo and want_topo != body.topology):
        raise RenderSourceError(
            f"recording {rec.source}/{rec.name} was synthesised on body {info.get('name')!r} "
            f"({want_v} vertices, topology {want_topo!r}); {body.name!r} has {got_v} vertices, topology "
            f"{body.topology!r}: pass the same model with --body-model")
    return body


def sample_motion(motion: Motion, body: BodyModel, times: np.ndarray,
                  R_motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Local joint rotations (K, J, 3, 3) and translation (K, 3) at ``times`` (K,) seconds.

    SLERP of rotations and a not-a-knot cubic spline of the translation, as
    `virtimu.sensors.resample.resample_pose_sequence` (synthesis's default strategy).
    R_motion: the motion's local rotations on ``body`` (`motion_rotations`), if already computed.
    """
    R = motion_rotations(motion, body) if R_motion is None else R_motion
    t_src = np.arange(motion.n_frames, dtype=np.float64) / float(motion.fps)
    times = np.clip(np.asarray(times, dtype=np.float64), 0.0, t_src[-1])
    R_out = slerp_rotations(R, t_src, times)
    trans = np.asarray(motion.trans, dtype=np.float64)
    if motion.n_frames >= 2:
        trans_out = CubicSpline(t_src, trans, axis=0, bc_type="not-a-knot")(times)
    else:
        trans_out = np.repeat(trans[:1], len(times), axis=0)
    return R_out, trans_out


def skin_full_mesh(body: BodyModel, betas: np.ndarray | None, R_local: np.ndarray, state) -> np.ndarray:
    """Linear blend skinning of every vertex, (K, V, 3) float32 world metres.

    The maths of `virtimu.kinematics.skin_vertices` (shape and pose blend
    shapes, LBS) arranged as two matrix products over all frames at once:
    weights (V, J) @ joint transforms (J, K * 12), which is much faster
    than blending per vertex when every vertex is wanted.
    R_local: (K, J, 3, 3); state: the `JointState` of R_local.
    """
    K, J = R_local.shape[:2]
    v = body.shaped_vertices(betas)  # (V, 3)
    rest = body.rest_joints(betas)  # (J, 3)
    G = np.empty((K, J, 3, 4))
    G[..., :3] = state.R
    G[..., 3] = state.p - np.einsum("kjab,jb->kja", state.R, rest)
    A = (body.weights @ G.transpose(1, 0, 2, 3).reshape(J, K * 12)).reshape(-1, K, 3, 4)  # (V, K, 3, 4)
    if body.posedirs is None:
        out = np.einsum("vkab,vb->kva", A[..., :3], v)
    else:
        feat = (R_local[:, 1:] - np.eye(3)).reshape(K, -1)  # (K, P)
        V = v.shape[0]
        posed = v[None] + (body.posedirs.reshape(V * 3, -1) @ feat.T).T.reshape(K, V, 3)
        out = np.einsum("vkab,kvb->kva", A[..., :3], posed)
    out += A[..., 3].transpose(1, 0, 2)
    return out.astype(np.float32)


def pose_frames(body: BodyModel, betas: np.ndarray, R_local: np.ndarray, trans: np.ndarray,
                attachments: list[Attachment]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full mesh, root and sensor poses for K poses.

    R_local: (K, J, 3, 3); trans: (K, 3).  Returns vertices (K, V, 3) float32,
    root (K, 3), sensor positions (K, S, 3) and orientations R_ws (K, S, 3, 3),
    by the same formulas as `virtimu.sensors.synth.sensor_trajectories`.
    """
    state = forward_kinematics(R_local, body.rest_joints(betas), body.parents, trans)
    V = body.v_template.shape[0]
    verts = np.empty((R_local.shape[0], V, 3), dtype=np.float32)
    for a in range(0, R_local.shape[0], _SKIN_BATCH):
        b = slice(a, a + _SKIN_BATCH)
        verts[b] = skin_full_mesh(body, betas, R_local[b], JointState(R=state.R[b], p=state.p[b]))
    joints = np.array([att.joint for att in attachments])
    R_wj = state.R[:, joints]
    offsets = np.stack([att.offset_local for att in attachments])
    mounts = np.stack([att.mount for att in attachments])
    P = verts[:, [att.vertex for att in attachments]].astype(np.float64) + np.einsum("ksab,sb->ksa", R_wj, offsets)
    R_ws = np.einsum("ksab,sbc->ksac", R_wj, mounts)
    return verts, state.p[:, 0].copy(), P, R_ws


@dataclass
class RenderSource:
    """One stored recording with what is needed to pose it.

    recording: the stored Recording (signals, labels, fs ...).
    motion: its AMASS motion (None for recordings without one).
    body, attachments: the body and sensors it was synthesised with.
    motion_file: where the motion was read from.
    """

    recording: Recording
    motion: Motion | None
    body: BodyModel | None
    attachments: list[Attachment]
    motion_file: Path | None = None
    _R_motion: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def n_frames(self) -> int:
        return self.recording.n_frames

    @property
    def fs(self) -> float:
        return float(self.recording.fs)

    @property
    def can_pose(self) -> bool:
        return self.motion is not None and self.body is not None

    def pose(self, frames: np.ndarray) -> PosedFrames:
        """The posed body and sensors at recording frames ``frames`` (K,) (clipped to the recording)."""
        if not self.can_pose:
            raise RenderSourceError(f"recording {self.recording.source}/{self.recording.name}: no motion to pose")
        frames = np.clip(np.asarray(frames, dtype=np.int64), 0, self.n_frames - 1)
        times = frames / self.fs
        if self._R_motion is None:
            self._R_motion = motion_rotations(self.motion, self.body)
        R_local, trans = sample_motion(self.motion, self.body, times, self._R_motion)
        verts, root, P, R_ws = pose_frames(self.body, self.motion.betas, R_local, trans, self.attachments)
        return PosedFrames(frames=frames, times=times, vertices=verts, faces=np.asarray(self.body.faces, np.int32),
                           root=root, sensor_pos=P, sensor_rot=R_ws, sites=[a.name for a in self.attachments])


def open_render_source(store: str | Path | RecordingStore, name: str, source: str | None = None,
                       body_model: str | Path | None = None, amass_root: str | Path | None = None,
                       require_motion: bool = True) -> RenderSource:
    """Read recording ``name`` from ``store`` with its motion, body and sensor placement.

    require_motion: raise RenderSourceError when the motion cannot be found
    (else return a source with ``motion=None``: signals and labels only).
    """
    if not isinstance(store, RecordingStore):
        if not Path(store).exists():
            raise FileNotFoundError(f"store {store}: no such file or directory")
        store = RecordingStore(store, mode="r")
    src, rec_name = find_recording(store, name, source)
    rec = store.read(src, rec_name)
    try:
        path = locate_motion_file(rec, amass_root)
        motion = read_amass(path)
        body = body_for_recording(rec, body_model)
        attachments = attachments_from_attrs(rec)
        if rec.attrs.get("betas") is not None:
            motion.betas = np.asarray(rec.attrs["betas"], dtype=np.float64)
    except RenderSourceError:
        if require_motion:
            raise
        log.warning("%s/%s: no motion to render; signals and labels only", src, rec_name, exc_info=False)
        return RenderSource(recording=rec, motion=None, body=None, attachments=[])
    log.debug("%s/%s: motion from %s (%d frames at %g Hz)", src, rec_name, path, motion.n_frames, motion.fps)
    return RenderSource(recording=rec, motion=motion, body=body, attachments=attachments, motion_file=path)
