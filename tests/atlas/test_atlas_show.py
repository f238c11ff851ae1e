"""The atlas in a running show: a patch names an atlas; an XY message over real UDP moves the
place on the map and the picture; offline, the same clock gives the same path and frames."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from latentperform.atlas import AtlasError
from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import EnginePart, open_live_inputs, open_show
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


class PixelReader(EnginePart):
    wants_pixels = True


@pytest.fixture
def atlas_path(builtin_atlas):
    return builtin_atlas[1].path


def _patch(atlas_path, extra=""):
    text = DEFAULT_PATCH.read_text().replace("[trajectory]", f'[trajectory]\natlas = "{atlas_path.name}"\n' + extra)
    path = atlas_path.parent / "show.toml"
    path.write_text(text)
    return load_patch(path)


def _show(patch, clock, offline, size=(64, 48), **options):
    return open_show(patch, surface=HeadlessSurface(size), clock=clock, fps=10, offline=offline,
                     generator=BuiltinGenerator(resolution=48), **options)


def _white_dot(rgb: np.ndarray) -> tuple[float, float] | None:
    """Centre (x, y) of the solid white 5x5 squares in a picture (the minimap's place), or None.
    Text is white too, but its strokes are never 5 pixels thick both ways."""
    white = (rgb >= 250).all(axis=2)
    h, w = white.shape
    solid = np.ones((h - 4, w - 4), bool)
    for dy in range(5):
        for dx in range(5):
            solid &= white[dy:dy + h - 4, dx:dx + w - 4]
    ys, xs = np.nonzero(solid)
    return (xs.mean() + 2, ys.mean() + 2) if len(xs) else None


def test_an_xy_message_over_udp_moves_the_map_and_the_picture(atlas_path):
    eng = _show(_patch(atlas_path, "atlas_glide = 0.0\n"), WallClock(), offline=False)
    try:
        open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
        eng.add_part(PixelReader())  # a live show reads its pixels back only when a part asks
        port = eng.inputs[0].port
        client = SimpleUDPClient("127.0.0.1", port)
        travel = eng.trajectory.mode.travel

        def go(x, y):
            client.send_message("/lp/atlas/xy", [x, y])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not np.allclose(travel.position, (x, y), atol=1e-6):
                eng.step()
                time.sleep(0.02)
            frame, got = None, 0
            while time.monotonic() < deadline and got < 3:  # frames rendered from the new place
                time.sleep(0.05)
                out = eng.step()
                if out is not None:
                    frame, got = out, got + 1
            if frame is not None and np.allclose(travel.position, (x, y), atol=1e-6):
                return frame
            raise AssertionError(f"the map did not move to ({x}, {y}): at {travel.position}")

        a = go(0.1, 0.15).astype(float)
        assert eng.params.get("atlas/x") == pytest.approx(0.1) and eng.params.get("atlas/y") == pytest.approx(0.15)
        b = go(0.9, 0.85).astype(float)
        assert np.abs(a - b).mean() > 3, "the picture did not change"
        lines = eng.overlay_lines(fresh=True)  # the overlay (and the preview, which shows it)
        assert any(line.startswith("atlas map.atlas: (0.90, 0.85)") for line in lines)
        minimap = eng.trajectory.mode.text_minimap()   # text views: the place '@' and the trail '·'
        assert sum(line.count("@") for line in minimap) == 1 and any("·" in line for line in minimap)
    finally:
        eng.close()
        eng.surface.close()


def test_offline_the_same_clock_travels_the_same_path(atlas_path):
    patch = _patch(atlas_path, "")
    text = patch.source_path.read_text() + ('\n[[mapping]]\nsource = "clock/beat"\ntarget = "atlas/step"\n')
    patch.source_path.write_text(text)
    runs = []
    for _ in range(2):
        eng = _show(load_patch(patch.source_path), FixedStepClock(10), offline=True)
        try:
            frames, regions = [], []
            for _ in range(25):
                frames.append(eng.step())
                regions.append(eng.trajectory.mode.travel.region)
            runs.append((np.stack(frames), regions))
        finally:
            eng.close()
            eng.surface.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and len(set(runs[0][1])) >= 2  # the beats stepped between regions


def test_a_wrong_model_or_a_damaged_atlas_refuses_the_show_in_one_line(atlas_path, tmp_path):
    patch = _patch(atlas_path)
    with pytest.raises(AtlasError, match="was made from model"):
        open_show(patch, surface=None, clock=FixedStepClock(10), fps=10, offline=True,
                  generator=BuiltinGenerator(resolution=48, seed=5))
    bad = atlas_path.parent / "bad.atlas"
    bad.write_bytes(atlas_path.read_bytes()[:3000])
    patch = _patch(bad)
    with pytest.raises(AtlasError, match="truncated"):
        open_show(patch, surface=None, clock=FixedStepClock(10), fps=10, offline=True,
                  generator=BuiltinGenerator(resolution=48))


def test_the_atlas_names_its_mode_and_another_mode_is_refused(atlas_path):
    """`[trajectory] atlas` implies the registered "atlas" mode; writing it is the same; asking
    for another mode with an atlas is one clear error."""
    from latentperform.config import UserError
    from latentperform.latent.modes import AtlasMode
    for extra in ("", 'mode = "atlas"\n'):
        eng = _show(_patch(atlas_path, extra), FixedStepClock(10), offline=True)
        try:
            assert type(eng.trajectory.mode) is AtlasMode and eng.trajectory.mode.name == "atlas"
            assert {"atlas/x", "atlas/y", "atlas/zoom", "atlas/step"} <= set(eng.registry.specs)
        finally:
            eng.close()
    with pytest.raises(UserError, match='plays with mode = "atlas", not "keyframes"'):
        _show(_patch(atlas_path, 'mode = "keyframes"\n'), FixedStepClock(10), offline=True)


def test_the_overlay_draws_the_minimap_with_the_place_and_the_trail(atlas_path):
    """Drawn by GL over a real EGL output (the preview and the window show the same overlay):
    the white dot is where the map says, it moves with atlas/x, atlas/y, and the trail follows."""
    from latentperform.events import ControlEvent
    eng = _show(_patch(atlas_path, "atlas_glide = 0.0\n"), WallClock(), offline=False, size=(640, 360),
                overlay=True)
    try:
        q = eng.door.add_queue("test")
        dots = {}
        for x, y in [(0.1, 0.15), (0.9, 0.85)]:
            q.put(ControlEvent("test", "param/atlas/x", x, eng.clock.now()))
            q.put(ControlEvent("test", "param/atlas/y", y, eng.clock.now()))
            for _ in range(6):
                eng.step()
                time.sleep(0.3)   # the overlay is rebuilt every quarter second
            assert np.allclose(eng.trajectory.mode.travel.position, (x, y))
            shot = eng.surface.read_pixels()
            dots[(x, y)] = _white_dot(shot)
            assert dots[(x, y)] is not None, "no minimap place on the output"
        (ax, ay), (bx, by) = dots[(0.1, 0.15)], dots[(0.9, 0.85)]
        side = eng.trajectory.mode.travel.picture().shape[0] - 1
        assert bx - ax == pytest.approx(0.8 * side, abs=3) and by - ay == pytest.approx(0.7 * side, abs=3)
        pic = eng.trajectory.mode.overlay_picture()
        trail = (pic[..., :3] >= 120).all(axis=2) & (np.ptp(pic[..., :3].astype(int), axis=2) == 0)
        assert trail.sum() > 25, "the trail's grey dots are drawn"
        import PIL.Image
        PIL.Image.fromarray(shot).save(atlas_path.parent / "minimap-shot.png")
    finally:
        eng.close()
        eng.surface.close()


def test_the_control_room_serves_the_map_of_the_atlas(atlas_path):
    """The page's map panel gets the atlas's regions as /atlas.png (real HTTP from the show's
    control room), aligned 0..1 edge to edge, and the hello says there is one."""
    import io
    import urllib.request
    from urllib.parse import urlsplit

    import PIL.Image

    from latentperform.engine.control_room import open_control_room
    eng = _show(_patch(atlas_path), WallClock(), offline=False)
    try:
        part = open_control_room(eng, listen="127.0.0.1:0", patch_path=None)
        for _ in range(3):
            eng.step()
        url = urlsplit(part.room.url)
        query = f"?{url.query}" if url.query else ""
        with urllib.request.urlopen(f"{url.scheme}://{url.netloc}/atlas.png{query}", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/png"
            got = np.asarray(PIL.Image.open(io.BytesIO(r.read())))
        want = eng.trajectory.mode.map_picture()
        assert got.shape == want.shape == (512, 512, 4) and np.array_equal(got, want)
        assert part.room.atlas is True
        assert len(np.unique(want[..., :3].reshape(-1, 3), axis=0)) >= 3, "regions and borders in colours"
    finally:
        eng.close()
        eng.surface.close()
