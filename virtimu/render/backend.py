"""Which renderer draws the body: pyrender through EGL or OSMesa, or matplotlib.

PyOpenGL binds its platform (``PYOPENGL_PLATFORM``) once, on first import,
and a failed GL context cannot be retried with another platform in the same
process.  So each GL platform is probed in a short child process (it imports
pyrender and renders one tiny frame); the first that works is used, and
``PYOPENGL_PLATFORM`` is set in this process (and so inherited by render
worker processes) before pyrender is imported here.  When neither works the
pure-matplotlib renderer is used.  The choice is logged once per process.

Override with the environment variable ``VIRTIMU_RENDERER`` (``egl``,
``osmesa``, ``matplotlib`` or ``auto``) or the ``--renderer`` option.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Renderer names, in the order ``auto`` tries them.
GL_PLATFORMS = ("egl", "osmesa")
RENDERERS = ("auto", "egl", "osmesa", "matplotlib")
ENV_VAR = "VIRTIMU_RENDERER"

_PROBE = """
import os, sys
os.environ["PYOPENGL_PLATFORM"] = sys.argv[1]
import numpy as np
import pyrender
r = pyrender.OffscreenRenderer(16, 16)
scene = pyrender.Scene(bg_color=[0.2, 0.4, 0.6, 1.0])
scene.add(pyrender.PerspectiveCamera(yfov=1.0), pose=np.eye(4))
color, _ = r.render(scene)
r.delete()
assert color.shape == (16, 16, 3), color.shape
assert abs(int(color[8, 8, 2]) - 153) <= 2, color[8, 8]
"""


@dataclass(frozen=True)
class RendererChoice:
    """The renderer in use: name 'egl' | 'osmesa' | 'matplotlib', and why."""

    name: str
    reason: str = ""

    @property
    def is_gl(self) -> bool:
        return self.name in GL_PLATFORMS

    def describe(self) -> str:
        if self.is_gl:
            return f"pyrender ({self.name.upper()}, offscreen OpenGL)"
        return "matplotlib (software fallback" + (f": {self.reason})" if self.reason else ")")


_CHOICE: RendererChoice | None = None
_PROBED: dict[str, str] = {}
_LOGGED: set[RendererChoice] = set()


def probe_gl(platform: str, timeout_s: float = 60.0) -> str:
    """'' when pyrender can render offscreen through ``platform`` ('egl' | 'osmesa'),
    else a one-line reason.  Runs in a child process (cached per process)."""
    if platform not in GL_PLATFORMS:
        raise ValueError(f"unknown GL platform {platform!r}; choose from {list(GL_PLATFORMS)}")
    if platform in _PROBED:
        return _PROBED[platform]
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, platform], capture_output=True, text=True,
                              timeout=timeout_s, env=env)
        if proc.returncode == 0:
            reason = ""
        else:
            lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else f"exit code {proc.returncode}"
    except subprocess.TimeoutExpired:
        reason = f"no frame within {timeout_s:g} s"
    except OSError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    _PROBED[platform] = reason
    return reason


def _gl_already_bound() -> str | None:
    """The platform PyOpenGL is bound to in this process, if it is imported already."""
    if "OpenGL" in sys.modules or "pyrender" in sys.modules:
        return os.environ.get("PYOPENGL_PLATFORM") or "default"
    return None


def choose_renderer(requested: str | None = None) -> RendererChoice:
    """Pick and return the renderer (the automatic choice is made once per process).

    requested: 'auto' (default; also from ``$VIRTIMU_RENDERER``), 'egl',
    'osmesa' or 'matplotlib'.  A GL platform asked for explicitly that cannot
    make a context raises RuntimeError with the reason; 'auto' falls back
    (EGL, then OSMesa, then matplotlib).  Sets ``PYOPENGL_PLATFORM`` for GL.
    Each distinct choice is logged once.
    """
    global _CHOICE
    requested = (requested or os.environ.get(ENV_VAR) or "auto").lower()
    if requested not in RENDERERS:
        raise ValueError(f"unknown renderer {requested!r}; choose from {list(RENDERERS)}")
    if requested == "auto" and _CHOICE is not None:
        return _CHOICE
    if requested == "matplotlib":
        choice = RendererChoice("matplotlib", "asked for")
    else:
        bound = _gl_already_bound()
        candidates = GL_PLATFORMS if requested == "auto" else (requested,)
        if bound is not None and bound in GL_PLATFORMS:
            candidates = tuple(c for c in candidates if c == bound)
        reasons = []
        choice = None
        for platform in candidates:
            reason = probe_gl(platform)
            if not reason:
                choice = RendererChoice(platform)
                break
            reasons.append(f"{platform}: {reason}")
        if choice is None:
            if bound is not None and bound not in GL_PLATFORMS:
                reasons.append(f"OpenGL already imported for platform {bound!r}")
            if requested != "auto" and bound is not None and bound != requested:
                reasons.append(f"OpenGL already bound to {bound!r} in this process")
            why = "; ".join(reasons) or "no GL platform available"
            if requested != "auto":
                raise RuntimeError(f"renderer {requested!r} cannot make an offscreen GL context ({why}); "
                                   f"install the system packages (scripts/install_system_deps.sh) "
                                   f"or use --renderer matplotlib")
            choice = RendererChoice("matplotlib", f"no GL context: {why}")
        else:
            os.environ["PYOPENGL_PLATFORM"] = choice.name
    if choice not in _LOGGED:
        _LOGGED.add(choice)
        log.info("renderer: %s", choice.describe())
    if requested == "auto":
        _CHOICE = choice
    return choice


def reset_choice() -> None:
    """Forget the cached choice (tests)."""
    global _CHOICE
    _CHOICE = None
