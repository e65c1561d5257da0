"""PNG frames, contact sheets, MP4/GIF animations, parallel rendering and the render CLI."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import virtimu.cli
from tests.render.store_helpers import demo_store  # noqa: F401 - fixture
from virtimu.render.backend import RendererChoice, choose_renderer, reset_choice
from virtimu.render.frames import RenderStats, RenderStyle, ordered_map
from virtimu.render.posing import open_render_source
from virtimu.render.recording import RenderOptions, frame_images, parse_span, write_png_frames
from virtimu.render.sheet import TITLE_HEIGHT, render_sheet
from virtimu.render.video import write_video

STYLE = RenderStyle(width=96, height=72, trace_height=44, text_size=9)


@pytest.fixture(scope="module")
def walking(demo_store):
    return open_render_source(demo_store, "walking")


def _opts(**kw) -> RenderOptions:
    return RenderOptions(style=kw.pop("style", STYLE), renderer=kw.pop("renderer", "matplotlib"), progress=False,
                         **kw)


def test_parse_span():
    np.testing.assert_array_equal(parse_span("0:600:10", 35), np.arange(0, 35, 10))
    np.testing.assert_array_equal(parse_span(None, 4), np.arange(4))
    np.testing.assert_array_equal(parse_span("7", 10), [7])
    for bad in ("a:b", "0:10:0", "50:60", "1:2:3:4"):
        with pytest.raises(ValueError, match="--frames"):
            parse_span(bad, 40)


def test_png_frames_count_size_and_cursor(walking, tmp_path):
    frames = parse_span("0:60:20", walking.n_frames)
    stats = RenderStats()
    paths = write_png_frames(walking, frames, tmp_path / "out", _opts(), stats)
    assert [p.name for p in paths] == [f"walking_f{f:06d}.png" for f in frames]
    images = [np.asarray(Image.open(p)) for p in paths]
    assert all(img.shape == (STYLE.height + STYLE.trace_height, STYLE.width, 3) for img in images)
    assert stats.frames == 3 and stats.fps > 0 and "matplotlib" in stats.renderer
    # the trace strip differs between frames only by the cursor position
    strips = [img[STYLE.height:] for img in images]
    assert not np.array_equal(strips[0], strips[1])
    assert np.mean(np.any(strips[0] != strips[1], axis=-1)) < 0.1


def test_contact_sheet_size_and_count(walking, tmp_path):
    sheet = render_sheet(walking, _opts(window=(30, 90)), n_poses=5, cols=3, path=tmp_path / "s.png")
    assert len(sheet.frames) == 5 and sheet.frames[0] == 30 and sheet.frames[-1] == 89
    lay = sheet.layout
    assert (lay.rows, lay.cols) == (2, 3)
    assert sheet.image.shape == (TITLE_HEIGHT + 2 * STYLE.height + STYLE.trace_height, 3 * STYLE.width, 3)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), sheet.image)
    for i in range(5):  # every used cell holds a drawing, the unused sixth is blank
        x, y = lay.cell_origin(i)
        assert np.any(sheet.image[y:y + STYLE.height, x:x + STYLE.width] < 200)
    x, y = lay.cell_origin(5)
    assert np.all(sheet.image[y:y + STYLE.height, x:x + STYLE.width] == 255)
    # the window is shaded in the trace (pale yellow pixels exist)
    trace = sheet.image[-STYLE.trace_height:].astype(int)
    assert np.any((trace[..., 0] == 255) & (trace[..., 1] == 240) & (trace[..., 2] == 170))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_video_frame_count_and_duration(walking, tmp_path, suffix):
    iio = pytest.importorskip("imageio.v3")
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    frames = parse_span("0:60:5", walking.n_frames)  # 12 frames at 30 Hz / 5 = 6 fps -> 2 s
    path = write_video(walking, frames, tmp_path / f"w{suffix}", _opts())
    if suffix == ".mp4":
        import imageio

        reader = imageio.get_reader(path)
        meta = reader.get_meta_data()
        assert reader.count_frames() == len(frames)
        assert meta["fps"] == pytest.approx(6.0)
        assert meta["duration"] == pytest.approx(2.0, abs=0.05)
        reader.close()
    else:
        stack = iio.imread(path, index=None)
        assert stack.shape[0] == len(frames)
        durations = [iio.immeta(path, index=i)["duration"] for i in range(len(frames))]
        assert sum(durations) == pytest.approx(2000, abs=5)


def test_uneven_video_frames_are_refused(walking, tmp_path):
    with pytest.raises(ValueError, match="evenly spaced"):
        write_video(walking, np.array([0, 1, 5]), tmp_path / "x.gif", _opts())
    with pytest.raises(ValueError, match="unknown format"):
        write_video(walking, np.array([0, 1]), tmp_path / "x.avi", _opts())


def test_ordered_map_keeps_order_across_processes():
    assert list(ordered_map(math.factorial, range(7), workers=2, in_flight=3)) == [math.factorial(i) for i in range(7)]


@pytest.mark.slow  # spawns two GL worker processes: ~10-30 s on 2 busy cores
def test_parallel_gl_render_equals_serial(walking):
    choice = choose_renderer("auto")
    if not choice.is_gl:
        pytest.skip(f"no offscreen GL context here ({choice.reason})")
    frames = np.arange(0, 48)
    style = RenderStyle(width=64, height=48, trace_height=44, text_size=8)
    stats = RenderStats()
    par = list(frame_images(walking, frames, _opts(style=style, renderer=choice.name, workers=2, chunk=12), stats))
    assert stats.workers == 2 and stats.frames == 48
    ser = list(frame_images(walking, frames, _opts(style=style, renderer=choice.name, workers=1, chunk=48)))
    assert len(par) == len(ser) == 48
    for a, b in zip(par, ser):  # same frames, same order
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_renderer_choice(monkeypatch):
    reset_choice()
    monkeypatch.setenv("VIRTIMU_RENDERER", "matplotlib")
    choice = choose_renderer()
    assert choice == RendererChoice("matplotlib", "asked for") and not choice.is_gl
    assert "matplotlib" in choice.describe()
    reset_choice()
    with pytest.raises(ValueError, match="unknown renderer"):
        choose_renderer("vulkan")
    reset_choice()


def _cli(monkeypatch, argv):
    monkeypatch.setattr(virtimu.cli, "EXTENSIONS", ("virtimu.render.cli",))
    return virtimu.cli.main(argv)


def test_cli_render_writes_frames_sheet_and_gif(demo_store, tmp_path, monkeypatch, capsys):
    rc = _cli(monkeypatch, ["render", str(demo_store), "--recording", "sit_stand", "--frames", "0:40:20",
                            "--out", str(tmp_path / "png"), "--sheet", str(tmp_path / "sheet.png"), "--poses", "3",
                            "--video", str(tmp_path / "a.gif"), "--size", "64x48", "--cell", "48x60",
                            "--renderer", "matplotlib", "--workers", "1", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
    assert (tmp_path / "sheet.png").is_file() and (tmp_path / "a.gif").is_file()
    assert "frames/s" in out and "matplotlib" in out


def test_cli_bad_recording_name(demo_store, tmp_path, monkeypatch, capsys):
    rc = _cli(monkeypatch, ["render", str(demo_store), "--recording", "no_such_clip", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error: no recording 'no_such_clip'" in err and "demo/walking" in err
    rc = _cli(monkeypatch, ["render", str(demo_store), "--recording", "walking"])
    assert rc == 2 and "nothing to write" in capsys.readouterr().err
    rc = _cli(monkeypatch, ["render", str(tmp_path / "none.zarr"), "--recording", "walking", "--out", "x"])
    assert rc == 2 and "no such file" in capsys.readouterr().err
