"""Pose-label review renders: the body posed from a recording's motion, its sensors and label.

Offscreen pyrender (EGL or OSMesa, chosen automatically) with a pure-matplotlib
fallback (`virtimu.render.backend`); PNG frames (`recording`), contact sheets
(`sheet`) and MP4/GIF animations (`video`), rendered in parallel processes.
Importing this package does not import pyrender or OpenGL.
"""
from virtimu.render.backend import RendererChoice, choose_renderer
from virtimu.render.camera import Camera, CameraStyle
from virtimu.render.frames import RenderStats, RenderStyle
from virtimu.render.posing import PosedFrames, RenderSource, RenderSourceError, open_render_source
from virtimu.render.recording import RenderOptions, frame_images, parse_span, parse_window, write_png_frames
from virtimu.render.sheet import Sheet, render_sheet
from virtimu.render.video import write_video

__all__ = [
    "Camera", "CameraStyle", "PosedFrames", "RenderOptions", "RenderSource", "RenderSourceError", "RenderStats",
    "RenderStyle", "RendererChoice", "Sheet", "choose_renderer", "frame_images", "open_render_source", "parse_span",
    "parse_window", "render_sheet", "write_png_frames", "write_video",
]
