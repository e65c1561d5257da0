"""``virtimu render`` and ``virtimu review``: thin command-line wrappers over `virtimu.render` / `virtimu.review`."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from virtimu.render.backend import RENDERERS
from virtimu.render.camera import CameraStyle
from virtimu.render.frames import RenderStyle


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise argparse.ArgumentTypeError(f"size {text!r} out of range (16..4096 pixels)")
    return w, h


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sensor", help="site whose accelerometer is traced (default: the first with acc channels)")
    p.add_argument("--renderer", choices=RENDERERS, default=None,
                   help="auto (EGL, then OSMesa, then matplotlib; default, or $VIRTIMU_RENDERER), egl, osmesa, "
                        "matplotlib")
    p.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    p.add_argument("--body-model", dest="body_model",
                   help="the SMPL-family model file/folder the recording was synthesised with (default: open body)")
    p.add_argument("--amass-root", dest="amass_root",
                   help="folder synthesis searched, when the motion files moved since")
    p.add_argument("--azimuth", type=float, default=CameraStyle.azimuth_deg,
                   help=f"camera azimuth about world z from +x, degrees (default {CameraStyle.azimuth_deg:g})")
    p.add_argument("--no-floor", dest="floor", action="store_false", help="do not draw the floor")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_render(args: argparse.Namespace) -> int:
    from virtimu.render.frames import RenderStats
    from virtimu.render.posing import RenderSourceError, open_render_source
    from virtimu.render.recording import RenderOptions, parse_span, parse_window, write_png_frames
    from virtimu.render.sheet import render_sheet
    from virtimu.render.video import write_video

    if not (args.out or args.video or args.sheet):
        return _error("nothing to write: give --out DIR (PNG frames), --video FILE.mp4|.gif and/or --sheet FILE.png")
    if args.video and Path(args.video).suffix.lower() not in (".mp4", ".gif"):
        return _error(f"--video {args.video}: use a .mp4 or .gif file name")
    try:
        source = open_render_source(args.store, args.recording, source=args.source, body_model=args.body_model,
                                    amass_root=args.amass_root)
        frames = parse_span(args.frames, source.n_frames)
        window = parse_window(args.window, source.n_frames)
    except (RenderSourceError, FileNotFoundError, KeyError, ValueError) as exc:
        return _error(str(exc).strip("'\""))
    w, h = args.size
    camera = CameraStyle(azimuth_deg=args.azimuth)
    style = RenderStyle(width=w, height=h, trace_height=args.trace_height, camera=camera, floor=args.floor)
    opts = RenderOptions(style=style, sensor=args.sensor, window=window, renderer=args.renderer or "auto",
                         workers=args.workers or os.cpu_count() or 1, progress=not args.quiet)
    rec = source.recording
    print(f"{rec.source}/{rec.name}: {rec.n_frames} frames at {rec.fs:g} Hz; motion {source.motion_file}")
    try:
        if args.out:
            stats = RenderStats()
            paths = write_png_frames(source, frames, args.out, opts, stats)
            print(f"PNG frames: {len(paths)} in {args.out} (first {paths[0].name})")
            print(stats.line())
        if args.video:
            stats = RenderStats()
            write_video(source, frames, args.video, opts, stats)
            step = int(frames[1] - frames[0]) if len(frames) > 1 else 1
            print(f"video: {args.video} ({len(frames)} frames at {rec.fs / step:g} fps, "
                  f"{len(frames) * step / rec.fs:.2f} s)")
            print(stats.line())
        if args.sheet:
            stats = RenderStats()
            cw, ch = args.cell
            sopts = replace(opts, style=replace(style, width=cw, height=ch), workers=1)  # few poses: no pool
            span = window or (int(frames[0]), int(frames[-1]) + 1)
            sheet = render_sheet(source, sopts, n_poses=args.poses, span=span, path=args.sheet, stats=stats)
            print(f"contact sheet: {args.sheet} ({len(sheet.frames)} poses, {sheet.image.shape[1]}x"
                  f"{sheet.image.shape[0]} px)")
            print(stats.line())
    except (RenderSourceError, ValueError, RuntimeError, KeyError) as exc:
        return _error(str(exc).strip("'\""))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from virtimu.review.build import CARD_STYLE, build_review

    w, h = args.cell
    style = replace(CARD_STYLE, width=w, height=h, camera=CameraStyle(azimuth_deg=args.azimuth), floor=args.floor)
    try:
        report = build_review(args.store, args.out, class_name=args.class_name, window_set=args.windows,
                              sources=args.sources.split(",") if args.sources else None, limit=args.limit,
                              label_space=args.label_space, overrides=args.overrides, n_poses=args.poses,
                              style=style, sensor=args.sensor, renderer=args.renderer or "auto",
                              workers=args.workers or os.cpu_count() or 1, body_model=args.body_model,
                              amass_root=args.amass_root, progress=not args.quiet)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as exc:
        return _error(str(exc).strip("'\""))
    print(report.summary())
    if not report.cards:
        print("no recordings match" + (f" class {args.class_name!r}" if args.class_name else ""))
    print(f"review page: {report.page}  (open it in a browser; 'save overrides' downloads overrides.json, "
          f"then: virtimu label {args.store} --overrides overrides.json)")
    return 0


def register(sub) -> None:
    """Add the ``render`` and ``review`` sub-commands to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser("render", help="render a recording's body, sensors, label and acc trace (PNG/MP4/GIF/sheet)",
                       description="Offscreen renders of the posed body with its virtual sensors, label and "
                                   "accelerometer trace, from the motion a recording was synthesised from.")
    p.add_argument("store")
    p.add_argument("--recording", required=True, help="recording name (as in virtimu info)")
    p.add_argument("--source", help="source of the recording when the name is in several")
    p.add_argument("--frames", help="recording frames start:stop[:step] (default: all)")
    p.add_argument("--window", help="frames start:end to highlight (and to spread the sheet's poses over)")
    p.add_argument("--out", help="folder for PNG frames")
    p.add_argument("--video", help="animation file (.mp4 or .gif) at the recording rate / frame step")
    p.add_argument("--sheet", help="contact sheet PNG")
    p.add_argument("--poses", type=int, default=8, help="poses on the contact sheet (default 8)")
    p.add_argument("--size", type=_size, default=(320, 240), help="frame view WxH pixels (default 320x240)")
    p.add_argument("--cell", type=_size, default=(160, 200), help="sheet cell WxH pixels (default 160x200)")
    p.add_argument("--trace-height", dest="trace_height", type=int, default=90,
                   help="acc trace strip height in pixels (0: none; default 90)")
    _common(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("review", help="static HTML review page (accept / relabel / reject) writing overrides JSON",
                       description="One card per recording (or per window of a window set) with a contact sheet, "
                                   "labels and acc trace; decisions are saved as the overrides JSON that "
                                   "'virtimu label --overrides' applies.")
    p.add_argument("store")
    p.add_argument("--class", dest="class_name", help="only recordings / windows with this label")
    p.add_argument("--windows", help="one card per window of this window set (default: one per recording)")
    p.add_argument("--sources", help="comma-separated sources (default: all)")
    p.add_argument("--limit", type=int, help="at most this many cards")
    p.add_argument("--label-space", dest="label_space", default="synthetic12",
                   help="label space of the decisions (default synthetic12, what virtimu label writes)")
    p.add_argument("--overrides", help="earlier decisions to show on the page")
    p.add_argument("--poses", type=int, default=6, help="poses per card (default 6)")
    p.add_argument("--cell", type=_size, default=(150, 190), help="pose cell WxH pixels (default 150x190)")
    p.add_argument("--out", default="review", help="output folder (default review/)")
    _common(p)
    p.set_defaults(func=cmd_review)
