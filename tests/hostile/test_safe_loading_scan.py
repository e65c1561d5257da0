"""Source scan: every load of untrusted data goes through a safe path.

* ``torch.load`` only with ``weights_only=True``;
* no ``pickle.load`` / ``pickle.loads`` / ``pickle.Unpickler(...)`` outside the restricted
  unpickler (``virtimu/io/pickles.py``), no ``joblib`` / ``dill`` / ``marshal`` / ``shelve`` loads;
* ``np.load`` never with ``allow_pickle=True``;
* ``yaml.load`` only with a safe loader (``SafeLoader`` or a class of the same module derived from it),
  never ``yaml.unsafe_load`` / ``yaml.full_load``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("virtimu", "pipelines", "scripts", "benchmarks")
RESTRICTED_UNPICKLER = Path("virtimu/io/pickles.py")
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
UNSAFE_MODULE_LOADS = {("joblib", "load"), ("dill", "load"), ("dill", "loads"), ("marshal", "load"),
                       ("marshal", "loads"), ("shelve", "open"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
                       ("yaml", "unsafe_load_all"), ("yaml", "full_load_all"), ("cPickle", "load"),
                       ("cPickle", "loads")}


def _dotted(node: ast.AST) -> str:
    """'torch.load' for Attribute(Name('torch'), 'load'); '' for anything not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _safe_loader_classes(tree: ast.Module) -> set[str]:
    """Classes of the module derived (directly or through each other) from a safe PyYAML loader."""
    safe = set(SAFE_YAML_LOADERS)
    changed = True
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    while changed:
        changed = False
        for cls in classes:
            if cls.name not in safe and any(_dotted(b).rsplit(".", 1)[-1] in safe for b in cls.bases):
                safe.add(cls.name)
                changed = True
    return safe


def unsafe_loads(source: str, path: Path) -> list[str]:
    """'path:line: problem' for each unsafe load call in ``source``."""
    tree = ast.parse(source, filename=str(path))
    safe_loaders = _safe_loader_classes(tree)
    # names bound by 'from torch import load' / 'from pickle import loads' ...
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        name = imported.get(name, name) if "." not in name else name
        head, _, last = name.rpartition(".")
        where = f"{path}:{node.lineno}"
        if head.split(".")[0] == "torch" and last == "load":
            if not _is_const(_keyword(node, "weights_only"), True):
                problems.append(f"{where}: {name}(...) without weights_only=True")
        elif head in ("pickle", "_pickle") and last in ("load", "loads", "Unpickler"):
            if path != RESTRICTED_UNPICKLER:
                problems.append(f"{where}: {name}(...) outside the restricted unpickler")
        elif (head.split(".")[-1], last) in UNSAFE_MODULE_LOADS:
            problems.append(f"{where}: {name}(...) can run code")
        elif head in ("np", "numpy") and last == "load":
            allow = _keyword(node, "allow_pickle")
            if allow is not None and not _is_const(allow, False):
                problems.append(f"{where}: {name}(..., allow_pickle=...) may unpickle")
        elif head == "yaml" and last in ("load", "load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or _dotted(loader).rsplit(".", 1)[-1] not in safe_loaders:
                problems.append(f"{where}: {name}(...) without a safe Loader")
    return problems


def _files() -> list[Path]:
    return sorted(p.relative_to(REPO) for d in SCANNED if (REPO / d).is_dir() for p in (REPO / d).rglob("*.py"))


def test_the_code_base_loads_untrusted_data_only_safely():
    files = _files()
    assert RESTRICTED_UNPICKLER in files and len(files) > 50
    problems = [p for f in files for p in unsafe_loads((REPO / f).read_text(encoding="utf-8"), f)]
    assert problems == []


@pytest.mark.parametrize("snippet, found", [
    ("import torch\nx = torch.load('m.pt')", "without weights_only=True"),
    ("import torch\nx = torch.load('m.pt', weights_only=False)", "without weights_only=True"),
    ("from torch import load\nx = load('m.pt')", "without weights_only=True"),
    ("import pickle\nx = pickle.loads(b'')", "outside the restricted unpickler"),
    ("import numpy as np\nx = np.load('a.npy', allow_pickle=True)", "may unpickle"),
    ("import yaml\nx = yaml.load(text)", "without a safe Loader"),
    ("import yaml\nx = yaml.load(text, Loader=yaml.Loader)", "without a safe Loader"),
    ("import yaml\nx = yaml.unsafe_load(text)", "can run code"),
    ("import joblib\nm = joblib.load('m.joblib')", "can run code"),
])
def test_the_scan_finds_unsafe_loads(snippet, found):
    [problem] = unsafe_loads(snippet, Path("x.py"))
    assert found in problem


@pytest.mark.parametrize("snippet", [
    "import torch\nx = torch.load('m.pt', map_location='cpu', weights_only=True)",
    "import numpy as np\nx = np.load('a.npz', allow_pickle=False)",
    "import yaml\nx = yaml.load(text, Loader=yaml.SafeLoader)",
    "import yaml\nclass L(yaml.SafeLoader): pass\nclass M(L): pass\nx = yaml.load(text, Loader=M)",
    "import pickle\nb = pickle.dumps({})",
])
def test_the_scan_accepts_safe_loads(snippet):
    assert unsafe_loads(snippet, Path("x.py")) == []
