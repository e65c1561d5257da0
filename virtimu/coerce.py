"""Typed values from configuration text: ``key=value`` settings and YAML fields.

Settings arrive as strings on the command line and as loosely typed YAML
values; configuration dataclasses convert them to their field types here,
with one error format naming the setting.
"""
from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def coerce_value(where: str, value: Any, hint: Any) -> Any:
    """``value`` as the field type ``hint``: bool, int, float, str, or ``X | None`` of those.

    Strings are parsed ("3", "1e-3", "yes", "none"); an int field refuses
    booleans and non-integral floats.  Other hints return ``value``
    unchanged.  Raises ValueError("<where>: cannot read <value> as <type>").
    """
    args = typing.get_args(hint)
    if type(None) in args and typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: cannot read {value!r} as {getattr(hint, '__name__', hint)}") from None
    return value


def parse_settings(items: Iterable[str] | Mapping[str, Any] | None, example: str, form: str = "key=value",
                   error: type[Exception] = ValueError) -> dict[str, Any]:
    """``["lr=1e-4", "epochs=5"]`` (or a mapping, copied) -> ``{"lr": 0.0001, "epochs": 5}``.

    Values are parsed as YAML scalars ("key=" gives None); an item without
    ``=`` raises ``error``: "override '<item>': expected <form> (e.g. <example>)".
    """
    if not items:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise error(f"override {item!r}: expected {form} (e.g. {example})")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
    return out
