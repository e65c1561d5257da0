"""Reading user YAML / JSON documents with one kind of error per reader.

Every configuration file virtimu reads (label maps, BABEL categories, review
overrides, ...) is user data: a missing file, bytes that are not UTF-8 or
text that does not parse must end in an error that names the file, of the
reader's own error type, never in a bare parser traceback.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml


def read_document(path: str | os.PathLike, error: type[Exception], what: str, fmt: str | None = None) -> Any:
    """The parsed content of the YAML or JSON file ``path``.

    fmt: "yaml" or "json"; None chooses by the suffix (``.json`` is JSON,
    anything else YAML, read with the safe loader).  A missing file raises
    FileNotFoundError("<what> <path>: no such file"); undecodable bytes and
    unparsable text raise ``error`` naming the file.
    """
    path = Path(path)
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc})") from None
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.safe_load(text)
    # ValueError: e.g. a YAML date like 2019-13-45; RecursionError: deeply nested input
    except (json.JSONDecodeError, yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise error(f"{path}: not valid {fmt.upper()} ({exc})") from None
