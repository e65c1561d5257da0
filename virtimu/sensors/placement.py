"""Sensor sites: where virtual IMUs sit on the body and how they are mounted.

A :class:`Site` names the joint whose rotation the sensor follows, the offset
from that joint's centre to the skin point where the sensor sits (metres, in
the joint frame at rest, which equals SMPL model space: y up, the body faces
+z, its left is +x), the mounting rotation ``R_js`` (columns = sensor x, y, z
axes in the joint frame) and, where a published setup gives one, a vertex id
on the 6890-vertex SMPL / SMPL+H mesh.

The built-in sites, aliases (``wrist`` -> ``left_wrist`` ...), presets
(``paper001``, ``dip``, ``transpose``, ``harth``, ``hapt`` ...) and named
channel sets live in ``virtimu/assets/sites/sites.yaml``; a user YAML file of
the same schema adds or overrides sites (:func:`load_site_table`).

:func:`attach_sites` turns sites into :class:`Attachment` s on a concrete body:
a vertex that carries the sensor through (sparse) skinning plus a small rigid
offset carried by the joint.  The synthesiser places the sensor at
``skinned_vertex + R_wj @ offset_local`` with orientation ``R_ws = R_wj @ mount``.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import yaml

from virtimu.body.joints import SMPL_JOINT_NAMES, SMPLH_JOINT_NAMES, SMPLX_JOINT_NAMES
from virtimu.body.model import BodyModel
from virtimu.rotations import axis_angle_to_matrix
from virtimu.sensors.signals import SIGNAL_AXES

log = logging.getLogger(__name__)

#: Number of vertices of the SMPL / SMPL+H mesh that ``Site.smpl_vertex`` refers to.
SMPL_N_VERTICES = 6890

#: Joint names a site may ride on (union of the SMPL-family joint lists).
KNOWN_JOINTS = frozenset(SMPL_JOINT_NAMES) | frozenset(SMPLH_JOINT_NAMES) | frozenset(SMPLX_JOINT_NAMES)

#: Direction words of mount specifications -> unit vectors in the joint frame at rest (= model space).
DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "+x": (1.0, 0.0, 0.0), "x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0),
    "+y": (0.0, 1.0, 0.0), "y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
    "+z": (0.0, 0.0, 1.0), "z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0),
    "left": (1.0, 0.0, 0.0), "right": (-1.0, 0.0, 0.0),
    "up": (0.0, 1.0, 0.0), "down": (0.0, -1.0, 0.0),
    "forward": (0.0, 0.0, 1.0), "backward": (0.0, 0.0, -1.0),
}

_SITE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SITE_KEYS = ("joint", "offset", "mount", "normal", "smpl_vertex", "description")
_OVERRIDE_KEYS = ("site",) + _SITE_KEYS
_TOP_KEYS = ("version", "mounts", "sites", "aliases", "presets", "channel_sets")
# Largest |cos| allowed between two given mount axes (about 89.4 deg apart at least).
_PERPENDICULAR_TOL = 0.01


# ----------------------------------------------------------------------------- errors


class PlacementError(ValueError):
    """Any error about sensor sites (bad names, bad site files)."""


class UnknownSiteError(PlacementError):
    """A site, alias, preset or channel-set name that the site table does not know."""


class SiteTableError(PlacementError):
    """A malformed site file; the message names the file and the field."""

    def __init__(self, source: str, fld: str, message: str) -> None:
        self.source = source
        self.field = fld
        super().__init__(f"{source}: {fld}: {message}")


# ----------------------------------------------------------------------------- data types


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


def _check_rotation(R: np.ndarray, what: str) -> None:
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        raise ValueError(f"{what}: expected a finite (3, 3) rotation matrix, got shape {R.shape}")
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
        raise ValueError(f"{what}: not a proper rotation matrix (orthonormal, det +1)")


@dataclass(frozen=True, eq=False)
class Site:
    """One sensor site.

    name: site name, used in channel names (``name/acc_x``).
    joint: SMPL joint name whose world rotation R_wj the sensor follows.
    offset: (3,) metres, joint frame at rest, from the joint centre to the
        skin point of the sensor (average ~1.70 m body).
    mount: (3, 3) R_js, sensor axes in the joint frame (column k = sensor axis k).
    smpl_vertex: vertex id on the 6890-vertex SMPL / SMPL+H mesh, or None.
    description: free text.
    offset_jitter: (3,) metres, joint frame: displacement from the nominal
        placement added by :func:`jitter_sites` (zero for a nominal site).
    normal: (3,) unit outward skin normal at the site, joint frame at rest;
        defaults to the mount's z axis (sensor z = skin normal by convention).
        It stays with the site when a preset or jitter changes the mount.
    """

    name: str
    joint: str
    offset: np.ndarray
    mount: np.ndarray = field(default_factory=lambda: np.eye(3))
    smpl_vertex: int | None = None
    description: str = ""
    offset_jitter: np.ndarray = field(default_factory=lambda: np.zeros(3))
    normal: np.ndarray | None = None

    def __post_init__(self) -> None:
        offset = _readonly(self.offset)
        jitter = _readonly(self.offset_jitter)
        mount = _readonly(self.mount)
        for key, vec in (("offset", offset), ("offset_jitter", jitter)):
            if vec.shape != (3,) or not np.all(np.isfinite(vec)):
                raise ValueError(f"site {self.name!r}: {key} must be 3 finite numbers, got {vec.tolist()}")
        _check_rotation(mount, f"site {self.name!r}: mount")
        normal = mount[:, 2] if self.normal is None else np.asarray(self.normal, dtype=np.float64)
        norm = float(np.linalg.norm(normal)) if normal.shape == (3,) else 0.0
        if not (math.isfinite(norm) and norm > 1e-9):
            raise ValueError(f"site {self.name!r}: normal must be a non-zero 3-vector, got {self.normal!r}")
        object.__setattr__(self, "normal", _readonly(normal / norm))
        if self.smpl_vertex is not None:
            v = int(self.smpl_vertex)
            if v != self.smpl_vertex or not 0 <= v < SMPL_N_VERTICES:
                raise ValueError(f"site {self.name!r}: smpl_vertex {self.smpl_vertex!r} "
                                 f"is not in [0, {SMPL_N_VERTICES})")
            object.__setattr__(self, "smpl_vertex", v)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "offset_jitter", jitter)
        object.__setattr__(self, "mount", mount)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Site):
            return NotImplemented
        return (self.name == other.name and self.joint == other.joint and self.smpl_vertex == other.smpl_vertex
                and self.description == other.description and np.array_equal(self.offset, other.offset)
                and np.array_equal(self.mount, other.mount) and np.array_equal(self.offset_jitter, other.offset_jitter)
                and np.array_equal(self.normal, other.normal))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable

    def replace(self, **changes: Any) -> "Site":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (for provenance attrs)."""
        return {"name": self.name, "joint": self.joint, "offset": self.offset.tolist(),
                "mount": self.mount.tolist(), "smpl_vertex": self.smpl_vertex,
                "offset_jitter": self.offset_jitter.tolist(), "normal": self.normal.tolist(),
                "description": self.description}


@dataclass
class Attachment:
    """A site attached to a concrete body.

    name: site name.
    vertex: index of the body vertex that carries the sensor (by skinning).
    joint: index of the body joint whose rotation R_wj the sensor follows.
    mount: (3, 3) R_js; sensor orientation is R_ws = R_wj @ mount.
    offset_local: (3,) metres in the joint frame; the sensor sits at
        ``skinned vertex + R_wj @ offset_local``.
    method: how the vertex was chosen: 'smpl_vertex' (published id),
        'nearest' (surface vertex nearest to joint + offset) or 'manual'.
    """

    name: str
    vertex: int
    joint: int
    mount: np.ndarray
    offset_local: np.ndarray
    method: str = "manual"

    def __post_init__(self) -> None:
        self.vertex = int(self.vertex)
        self.joint = int(self.joint)
        self.mount = np.asarray(self.mount, dtype=np.float64)
        self.offset_local = np.asarray(self.offset_local, dtype=np.float64)
        if self.offset_local.shape != (3,):
            raise ValueError(f"attachment {self.name!r}: offset_local must be (3,), got {self.offset_local.shape}")
        _check_rotation(self.mount, f"attachment {self.name!r}: mount")


@dataclass(frozen=True)
class PresetEntry:
    """One site of a preset: the site name plus parsed field overrides
    (keys among joint, offset, mount, normal, smpl_vertex, description)."""

    site: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class Preset:
    name: str
    entries: tuple[PresetEntry, ...]
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class ChannelSet:
    """Named channel list: ``site/suffix`` for each site, then each suffix."""

    name: str
    sites: tuple[str, ...]
    suffixes: tuple[str, ...]
    source: str = ""


def _key(name: str) -> str:
    """Lookup key of a name: lower case, '-' and blanks read as '_'."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


@dataclass
class SiteTable:
    """Sites, aliases, named mounts, presets and channel sets (see sites.yaml).

    Keys are normalised names (:func:`_key`); ``Preset.name`` keeps the
    spelling of the file (``jsi-fos``).
    """

    sites: dict[str, Site] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, np.ndarray] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    channel_sets: dict[str, ChannelSet] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    alias_sources: dict[str, str] = field(default_factory=dict)

    # -- lookups
    def site(self, name: str) -> Site:
        """The site called ``name`` or reached by alias ``name``; UnknownSiteError otherwise."""
        key = _key(name)
        key = self.aliases.get(key, key)
        if key not in self.sites:
            raise UnknownSiteError(self._unknown(name, "sensor site"))
        return self.sites[key]

    def preset_sites(self, name: str) -> list[Site]:
        """Sites of preset ``name`` with the preset's overrides applied."""
        key = _key(name)
        if key not in self.presets:
            raise UnknownSiteError(self._unknown(name, "placement preset"))
        return [_apply_overrides(self.site(e.site), e.overrides) for e in self.presets[key].entries]

    def describe(self) -> str:
        """Human-readable list of the valid names (for errors and ``--help`` texts)."""
        aliases = ", ".join(f"{a} -> {t}" for a, t in sorted(self.aliases.items()))
        presets = ", ".join(f"{p.name} ({', '.join(e.site for e in p.entries)})" for p in self.presets.values())
        return (f"valid sites: {', '.join(sorted(self.sites))}; aliases: {aliases or 'none'}; "
                f"presets: {presets or 'none'}")

    def _unknown(self, name: str, what: str) -> str:
        return f"unknown {what} {name!r}. {self.describe()}"


def _apply_overrides(site: Site, overrides: Mapping[str, Any]) -> Site:
    changes = dict(overrides)
    # A moved site (new offset or joint) no longer sits on its published vertex,
    # unless the override names one.
    if ("offset" in changes or "joint" in changes) and "smpl_vertex" not in changes:
        changes["smpl_vertex"] = None
    return site.replace(**changes) if changes else site


# ----------------------------------------------------------------------------- YAML parsing


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate mapping keys (a silent override otherwise)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                    f"found duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteTableError(source, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteTableError(source, "file", f"cannot read ({exc})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: e.g. a date like 2019-13-45
        raise SiteTableError(source, "yaml", f"not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SiteTableError(source, "top level", f"expected a mapping with keys {list(_TOP_KEYS)}, "
                                                  f"got {type(data).__name__}")
    return data


def _vector(value: Any, source: str, fld: str) -> np.ndarray:
    """3 finite numbers -> (3,) float array."""
    ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    vec = np.asarray(value, dtype=np.float64) if ok else None
    if vec is None or not np.all(np.isfinite(vec)):
        raise SiteTableError(source, fld, f"expected 3 numbers [x, y, z], got {value!r}")
    return vec


def _direction(value: Any, source: str, fld: str) -> np.ndarray:
    """A direction word or a 3-vector -> unit (3,) vector."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in DIRECTIONS:
            raise SiteTableError(source, fld, f"unknown direction {value!r}; use one of {sorted(DIRECTIONS)} "
                                              f"or a 3-vector")
        return np.array(DIRECTIONS[word])
    vec = _vector(value, source, fld)
    norm = float(np.linalg.norm(vec))
    if norm < 1e-9:
        raise SiteTableError(source, fld, "zero vector is not a direction")
    return vec / norm


def _mount(value: Any, mounts: Mapping[str, np.ndarray], source: str, fld: str) -> np.ndarray:
    """A mount specification (named mount, or mapping of 2-3 axes) -> (3, 3) R_js."""
    if isinstance(value, str):
        key = _key(value)
        if key not in mounts:
            raise SiteTableError(source, fld, f"unknown mount {value!r}; named mounts: {sorted(mounts)} "
                                              f"(or give axes, e.g. {{x: down, z: forward}})")
        return np.array(mounts[key])
    if not isinstance(value, dict):
        raise SiteTableError(source, fld, f"expected a mount name or a mapping of axes {{x: ..., z: ...}}, "
                                          f"got {value!r}")
    bad = sorted(set(map(str, value)) - {"x", "y", "z"})
    if bad or len(value) < 2:
        raise SiteTableError(source, fld, f"give two or three of the sensor axes x, y, z (got keys {list(value)})")
    axes = {k: _direction(v, source, f"{fld}.{k}") for k, v in value.items()}
    names = sorted(axes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            c = float(axes[a] @ axes[b])
            if abs(c) > _PERPENDICULAR_TOL:
                angle = math.degrees(math.acos(max(-1.0, min(1.0, c))))
                raise SiteTableError(source, fld, f"sensor axes {a} and {b} are not perpendicular "
                                                  f"({angle:.1f} deg apart)")
    if "x" not in axes:
        axes["x"] = np.cross(axes["y"], axes["z"])
    if "y" not in axes:
        axes["y"] = np.cross(axes["z"], axes["x"])
    if "z" not in axes:
        axes["z"] = np.cross(axes["x"], axes["y"])
    M = np.stack([axes["x"], axes["y"], axes["z"]], axis=1)
    if np.linalg.det(M) <= 0:
        raise SiteTableError(source, fld, "sensor axes x, y, z form a left-handed frame (need z = x cross y)")
    U, _, Vt = np.linalg.svd(M)  # nearest rotation (absorbs rounding of the given vectors)
    return U @ Vt


def _mapping(value: Any, source: str, fld: str) -> dict:
    if not isinstance(value, dict):
        raise SiteTableError(source, fld, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _check_keys(data: Mapping, allowed: Iterable[str], source: str, fld: str) -> None:
    unknown = [str(k) for k in data if str(k) not in allowed]
    if unknown:
        raise SiteTableError(source, fld, f"unknown field(s) {unknown}; allowed: {list(allowed)}")


def _site_fields(data: Mapping, mounts: Mapping[str, np.ndarray], source: str, fld: str) -> dict[str, Any]:
    """Parse the site fields present in ``data`` (joint, offset, mount, normal, smpl_vertex, description)."""
    out: dict[str, Any] = {}
    if "joint" in data:
        joint = data["joint"]
        if not isinstance(joint, str) or joint not in KNOWN_JOINTS:
            raise SiteTableError(source, f"{fld}.joint", f"unknown joint {joint!r}; SMPL joints: {SMPL_JOINT_NAMES}")
        out["joint"] = joint
    if "offset" in data:
        out["offset"] = _vector(data["offset"], source, f"{fld}.offset")
    if "mount" in data:
        out["mount"] = _mount(data["mount"], mounts, source, f"{fld}.mount")
    if "normal" in data:
        out["normal"] = _direction(data["normal"], source, f"{fld}.normal")
    if "smpl_vertex" in data:
        v = data["smpl_vertex"]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < SMPL_N_VERTICES):
            raise SiteTableError(source, f"{fld}.smpl_vertex",
                                 f"expected a vertex id in [0, {SMPL_N_VERTICES}) or null, got {v!r}")
        out["smpl_vertex"] = v
    if "description" in data:
        desc = data["description"]
        if not isinstance(desc, str):
            raise SiteTableError(source, f"{fld}.description", f"expected text, got {desc!r}")
        out["description"] = desc.strip()
    return out


def _site_name(name: Any, source: str, fld: str) -> str:
    key = _key(name) if isinstance(name, str) else ""
    if not _SITE_NAME.match(key):
        raise SiteTableError(source, fld, f"invalid site name {name!r}: use letters, digits and '_' "
                                          f"(it becomes the channel prefix, e.g. left_wrist/acc_x)")
    return key


def _parse_site(name: str, data: Any, mounts: Mapping[str, np.ndarray], source: str) -> Site:
    fld = f"sites.{name}"
    data = _mapping(data, source, fld)
    _check_keys(data, _SITE_KEYS, source, fld)
    for required in ("joint", "offset"):
        if required not in data:
            raise SiteTableError(source, f"{fld}.{required}", "missing (required for every site)")
    fields = _site_fields(data, mounts, source, fld)
    return Site(name=name, **fields)


def _parse_preset(name: str, data: Any, table: SiteTable, source: str) -> Preset:
    fld = f"presets.{name}"
    data = _mapping(data, source, fld)
    _check_keys(data, ("description", "mount", "sites"), source, fld)
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise SiteTableError(source, f"{fld}.sites", f"expected a non-empty list of site names, got {raw_sites!r}")
    common_mount = _mount(data["mount"], table.mounts, source, f"{fld}.mount") if "mount" in data else None
    entries = []
    for i, item in enumerate(raw_sites):
        efld = f"{fld}.sites[{i}]"
        if isinstance(item, str):
            site, overrides = _key(item), {}
        else:
            item = _mapping(item, source, efld)
            _check_keys(item, _OVERRIDE_KEYS, source, efld)
            if not isinstance(item.get("site"), str):
                raise SiteTableError(source, f"{efld}.site", f"missing site name (got {item.get('site')!r})")
            site, overrides = _key(item["site"]), _site_fields(item, table.mounts, source, efld)
        if common_mount is not None and "mount" not in overrides:
            overrides["mount"] = common_mount
        entries.append(PresetEntry(site=site, overrides=overrides))
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise SiteTableError(source, f"{fld}.description", f"expected text, got {desc!r}")
    return Preset(name=name, entries=tuple(entries), description=" ".join(desc.split()), source=source)


def _signal_suffixes(signals: Any, source: str, fld: str) -> tuple[str, ...]:
    if not isinstance(signals, list) or not signals:
        raise SiteTableError(source, fld, f"expected a non-empty list of signal kinds or channel suffixes, "
                                          f"got {signals!r}")
    out: list[str] = []
    for s in signals:
        s = str(s).strip()
        if s in SIGNAL_AXES:
            out += SIGNAL_AXES[s]
        elif any(s in axes for axes in SIGNAL_AXES.values()):
            out.append(s)
        else:
            raise SiteTableError(source, fld, f"unknown signal {s!r}; kinds: {sorted(SIGNAL_AXES)} "
                                              f"or their axes (acc_x, rot_01, ...)")
    return tuple(out)


def _parse_channel_set(name: str, data: Any, source: str) -> ChannelSet:
    fld = f"channel_sets.{name}"
    data = _mapping(data, source, fld)
    _check_keys(data, ("sites", "signals"), source, fld)
    sites = data.get("sites")
    if not isinstance(sites, list) or not sites or not all(isinstance(s, str) for s in sites):
        raise SiteTableError(source, f"{fld}.sites", f"expected a non-empty list of site names, got {sites!r}")
    suffixes = _signal_suffixes(data.get("signals"), source, f"{fld}.signals")
    return ChannelSet(name=name, sites=tuple(_key(s) for s in sites), suffixes=suffixes, source=source)


def _merge(table: SiteTable, data: Mapping[str, Any], source: str, builtin: bool) -> None:
    """Add the sections of one parsed file to ``table`` (later files override earlier ones)."""
    _check_keys(data, _TOP_KEYS, source, "top level")
    version = data.get("version", 1)
    if version != 1:
        raise SiteTableError(source, "version", f"unsupported version {version!r} (this virtimu reads version 1)")

    for name, spec in _mapping(data.get("mounts") or {}, source, "mounts").items():
        key = _site_name(name, source, f"mounts.{name}")
        table.mounts[key] = _mount(spec, table.mounts, source, f"mounts.{name}")

    for name, spec in _mapping(data.get("sites") or {}, source, "sites").items():
        key = _site_name(name, source, f"sites.{name}")
        site = _parse_site(key, spec, table.mounts, source)
        if key in table.sites and not builtin:
            log.warning("%s: site %r replaces the built-in site of that name", source, key)
        if key in table.aliases:
            log.warning("%s: site %r hides the alias %s -> %s", source, key, key, table.aliases[key])
            del table.aliases[key]
        table.sites[key] = site

    for alias, target in _mapping(data.get("aliases") or {}, source, "aliases").items():
        key = _site_name(alias, source, f"aliases.{alias}")
        if not isinstance(target, str):
            raise SiteTableError(source, f"aliases.{alias}", f"expected a site name, got {target!r}")
        if key in table.sites:
            raise SiteTableError(source, f"aliases.{alias}", f"{alias!r} is already a site name")
        table.aliases[key] = _key(target)
        table.alias_sources[key] = source

    for name, spec in _mapping(data.get("presets") or {}, source, "presets").items():
        key = _key(name)
        if key in table.presets and not builtin:
            log.warning("%s: preset %r replaces the built-in preset of that name", source, name)
        table.presets[key] = _parse_preset(str(name), spec, table, source)

    for name, spec in _mapping(data.get("channel_sets") or {}, source, "channel_sets").items():
        table.channel_sets[_key(name)] = _parse_channel_set(str(name), spec, source)
    table.sources.append(source)


def _validate(table: SiteTable) -> None:
    """Cross-references: alias targets, preset and channel-set sites, name clashes."""
    for alias, target in table.aliases.items():
        if target not in table.sites:
            raise SiteTableError(table.alias_sources.get(alias, "site table"), f"aliases.{alias}",
                                 f"points to unknown site {target!r}; sites: {sorted(table.sites)}")
    for key, preset in table.presets.items():
        if key in table.sites or key in table.aliases:
            raise SiteTableError(preset.source, f"presets.{preset.name}", "name clashes with a site or alias name")
        for i, entry in enumerate(preset.entries):
            if entry.site not in table.sites and entry.site not in table.aliases:
                raise SiteTableError(preset.source, f"presets.{preset.name}.sites[{i}]",
                                     f"unknown site {entry.site!r}; sites: {sorted(table.sites)}")
    for cs in table.channel_sets.values():
        for i, s in enumerate(cs.sites):
            if s not in table.sites and s not in table.aliases:
                raise SiteTableError(cs.source, f"channel_sets.{cs.name}.sites[{i}]",
                                     f"unknown site {s!r}; sites: {sorted(table.sites)}")


def builtin_sites_path() -> Path:
    """Path of the built-in site table (``virtimu/assets/sites/sites.yaml``)."""
    return Path(str(resources.files("virtimu").joinpath("assets", "sites", "sites.yaml")))


def load_site_table(extra: str | Path | None = None) -> SiteTable:
    """Built-in sites, aliases, presets and channel sets, plus those of a user YAML file.

    extra: YAML file of the same schema (all sections optional); its sites may
        reuse a built-in name (replacing it, with a warning).
    Raises SiteTableError (a ValueError) naming the file and field on bad input.
    """
    table = SiteTable()
    path = builtin_sites_path()
    _merge(table, _read_yaml(path, str(path)), str(path), builtin=True)
    if extra is not None:
        extra_path = Path(extra)
        try:
            _merge(table, _read_yaml(extra_path, str(extra_path)), str(extra_path), builtin=False)
            _validate(table)
        except PlacementError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            # a value of an unexpected type deep in the file: still name the file
            raise SiteTableError(str(extra_path), "file", f"malformed ({type(exc).__name__}: {exc})") from None
    else:
        _validate(table)
    return table


# ----------------------------------------------------------------------------- resolution


def _tokens(spec: str | Iterable[str] | None) -> list[str]:
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"site names must be strings, got {item!r}")
        out += [t.strip() for t in item.split(",") if t.strip()]
    return out


def resolve_sites(spec: str | list[str] | None, table: SiteTable | None = None,
                  preset: str | None = None) -> list[Site]:
    """Sites selected by a preset and/or a list of names.

    spec: 'wrist,thigh,head' or ['left_wrist', 'head']; each name is a site,
        an alias or a preset (expanded to its sites).
    preset: optional preset whose sites come first (with its mounting
        overrides); names in ``spec`` add further sites.
    Duplicates (same site name) are dropped keeping the first occurrence, so a
    preset's version of a site wins over the plain one.
    Raises UnknownSiteError listing the valid names, PlacementError when
    nothing is selected.
    """
    table = table if table is not None else load_site_table()
    chosen: list[Site] = []
    if preset is not None:
        chosen += table.preset_sites(preset)
    for tok in _tokens(spec):
        key = _key(tok)
        if key in table.sites or key in table.aliases:
            chosen.append(table.site(key))
        elif key in table.presets:
            chosen += table.preset_sites(key)
        else:
            raise UnknownSiteError(table._unknown(tok, "sensor site"))
    out: list[Site] = []
    seen: set[str] = set()
    for site in chosen:
        if site.name not in seen:
            seen.add(site.name)
            out.append(site)
    if not out:
        raise PlacementError(f"no sensor sites selected (give site names or a preset). {table.describe()}")
    return out


def channel_set(name: str, table: SiteTable | None = None) -> list[str]:
    """Channel names of a named channel set, site-major.

    ``channel_set('paper001_36')`` -> ['left_wrist/acc_x', 'left_wrist/acc_y',
    'left_wrist/acc_z', 'left_wrist/rot_00', ..., 'head/rot_22'] (36 names).
    """
    table = table if table is not None else load_site_table()
    key = _key(name)
    if key not in table.channel_sets:
        raise UnknownSiteError(f"unknown channel set {name!r}; channel sets: {sorted(table.channel_sets)}")
    cs = table.channel_sets[key]
    return [f"{table.site(s).name}/{suffix}" for s in cs.sites for suffix in cs.suffixes]


# ----------------------------------------------------------------------------- jitter


def _tangent_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (3,) spanning the plane normal to ``normal`` (3,), unit."""
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    t1 = np.cross(normal, helper)
    t1 /= np.linalg.norm(t1)
    return t1, np.cross(normal, t1)


def jitter_sites(sites: list[Site], offset_std_m: float = 0.0, rotation_std_deg: float = 0.0,
                 seed: int = 0, *, tangent: bool = True) -> list[Site]:
    """Randomly displaced and re-mounted copies of ``sites`` (domain randomisation).

    Offset: with ``tangent`` (default) a displacement in the skin's tangent
    plane (normal to ``Site.normal``): ``d = s * (n1 * t1 + n2 * t2)``,
    n1, n2 ~ N(0, 1), t1, t2 an orthonormal tangent basis, so every in-plane
    direction has standard deviation ``offset_std_m``; with
    ``tangent=False`` a 3-D displacement with that std per joint-frame axis.
    It accumulates in ``Site.offset_jitter`` (the attached vertex stays the
    nominal one; the sensor moves rigidly with the joint).
    Rotation: ``mount @ R(axis, angle)`` with a uniformly random axis and
    angle ~ N(0, rotation_std_deg) -- a small tilt about the sensor's own axes.

    Each site draws from its own generator seeded by (seed, site name): the
    same seed gives identical sites whatever else is in the list, different
    sites get independent draws.  The draws do not depend on the stds, so a
    larger std scales the same perturbation.
    seed: a non-negative integer.
    """
    for key, value in (("offset_std_m", offset_std_m), ("rotation_std_deg", rotation_std_deg)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} must be a finite number >= 0, got {value}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out = []
    for site in sites:
        rng = np.random.default_rng([int(seed), zlib.crc32(site.name.encode("utf-8"))])
        n_offset = rng.standard_normal(3)
        axis = rng.standard_normal(3)
        n_angle = rng.standard_normal()
        if tangent:
            t1, t2 = _tangent_basis(site.normal)
            delta = offset_std_m * (n_offset[0] * t1 + n_offset[1] * t2)
        else:
            delta = offset_std_m * n_offset
        angle = math.radians(rotation_std_deg) * n_angle
        R_delta = axis_angle_to_matrix(axis / np.linalg.norm(axis) * angle)
        mount = site.mount @ R_delta
        U, _, Vt = np.linalg.svd(mount)  # keep it exactly orthonormal
        out.append(site.replace(offset_jitter=site.offset_jitter + delta, mount=U @ Vt))
    return out


# ----------------------------------------------------------------------------- attachment


def _neighbour_joints(parents: np.ndarray, j: int) -> list[int]:
    """Joint j, its parent and its children."""
    near = [j] + [int(c) for c in np.flatnonzero(parents == j)]
    if parents[j] >= 0:
        near.append(int(parents[j]))
    return near


def attach_sites(body: BodyModel, sites: list[Site], betas: np.ndarray | None = None) -> list[Attachment]:
    """Attach sites to ``body`` (with shape ``betas`` (B,), default mean shape).

    On the SMPL topology (``body.topology == 'smpl'``) a site with a published
    ``smpl_vertex`` rides exactly on that vertex (``offset_local`` = jitter
    only).  Otherwise the sensor rides the rest-pose surface vertex nearest to
    ``rest_joint + offset`` among the vertices whose largest skinning weight
    belongs to the site's joint, its parent or a child (all vertices if none
    does), and ``offset_local`` = (rest point - vertex) + jitter, a joint-frame
    vector (the joint frame is aligned with model space at rest).
    Raises PlacementError for a joint the body lacks or a vertex id out of range.
    """
    rest_joints = body.rest_joints(betas)  # (J, 3)
    V = body.v_template.shape[0]
    vertices: np.ndarray | None = None
    dominant: np.ndarray | None = None
    out = []
    for site in sites:
        try:
            j = body.joint_index(site.joint)
        except KeyError as exc:
            raise PlacementError(f"site {site.name!r}: {exc.args[0]}") from None
        if body.topology == "smpl" and site.smpl_vertex is not None:
            if not 0 <= site.smpl_vertex < V:
                raise PlacementError(f"site {site.name!r}: smpl_vertex {site.smpl_vertex} is out of range for "
                                     f"body {body.name!r} with {V} vertices")
            vertex, residual, method = site.smpl_vertex, np.zeros(3), "smpl_vertex"
        else:
            if vertices is None:
                vertices = body.shaped_vertices(betas)  # (V, 3)
                dominant = np.argmax(body.weights, axis=1)  # (V,)
            point = rest_joints[j] + site.offset
            candidates = np.flatnonzero(np.isin(dominant, _neighbour_joints(body.parents, j)))
            if candidates.size == 0:
                log.debug("site %s: no vertex is mostly skinned to joint %s or its neighbours; searching all",
                          site.name, site.joint)
                candidates = np.arange(V)
            dist = np.linalg.norm(vertices[candidates] - point, axis=1)
            vertex = int(candidates[np.argmin(dist)])
            residual = point - vertices[vertex]
            method = "nearest"
        out.append(Attachment(name=site.name, vertex=vertex, joint=j, mount=np.array(site.mount),
                              offset_local=residual + site.offset_jitter, method=method))
    return out
