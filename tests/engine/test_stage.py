"""On stage: in-between frames for a slow generator, the status overlay, the stage keys in a real
glfw window under Xvfb, screenshots and recording, latency over OSC, and patch hot-reload."""

from __future__ import annotations

import re

import os
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import EnginePart, open_show, open_live_inputs
from latentperform.engine import stage as stage_mod
from latentperform.engine.stage import QUIT_PROMPT, PatchWatcher
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


class SlowFlipGenerator:
    """A generator that takes `delay` seconds a frame and draws alternately all black and all
    white: any hard cut between two of its frames is a jump of 255 on every pixel."""

    def __init__(self, delay: float = 0.15, resolution: int = 32) -> None:
        self._inner = BuiltinGenerator(resolution=resolution)
        self.delay = delay
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def synthesis(self, ws, *args, **kwargs):
        time.sleep(self.delay)
        self.calls += 1
        value = 1.0 if self.calls % 2 else -1.0
        r = self._inner.resolution
        return torch.full((1, 3, r, r), value)


class FlatGenerator(SlowFlipGenerator):
    """Every frame a flat mid grey, at once."""

    def synthesis(self, ws, *args, **kwargs):
        r = self._inner.resolution
        return torch.zeros((1, 3, r, r))


class Grab(EnginePart):
    """Keeps the mean of every output frame (and the frames, when asked)."""

    wants_pixels = True

    def __init__(self, keep: bool = False) -> None:
        self.means: list[float] = []
        self.frames: list[np.ndarray] = []
        self.keep = keep

    def after_frame(self, engine, params, t):
        self.means.append(float(engine.last_pixels.mean()))
        if self.keep:
            self.frames.append(engine.last_pixels.copy())


def plain_patch(**output):
    """The default patch without post passes (the picture is the generator's) or audio."""
    patch = load_patch(DEFAULT_PATCH)
    inputs = replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False))
    return replace(patch, output=replace(patch.output, shaders=(), **output), inputs=inputs, mappings=())


def live_engine(generator, surface=None, fps=30.0, **kw):
    surface = surface or HeadlessSurface((64, 64))
    return open_show(plain_patch(), surface=surface, clock=WallClock(), fps=fps, generator=generator, **kw)


# -- in-between frames --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["crossfade", "hold"])
def test_slow_generator_crossfade_is_gradual_hold_jumps_and_the_loop_keeps_its_rate(mode):
    G = SlowFlipGenerator(delay=0.15)
    eng = live_engine(G, fps=30.0, interpolation=mode)
    grab = eng.add_part(Grab())
    try:
        eng.run(seconds=2.5)
    finally:
        eng.close()
        eng.surface.close()
    means = np.array(grab.means[5:])  # after the first generator frames arrived
    steps = np.abs(np.diff(means))
    between = np.mean((means > 20) & (means < 235))
    assert G.calls >= 4, "the generator did not run"
    # the loop did not wait for a 150 ms generator: far more display frames than generator frames
    assert eng.stats.frames >= 3 * G.calls, (eng.stats.frames, G.calls)
    assert eng.stats.gen_period > 0.1
    if mode == "crossfade":
        assert steps.max() < 0.6 * 255, steps.max()  # no hard cut from black to white
        assert between > 0.4, between  # most display frames are in-betweens
    else:
        assert steps.max() > 200  # a hard cut
        assert between < 0.05, between


def test_a_generator_that_keeps_up_is_shown_at_once_under_crossfade():
    G = FlatGenerator()
    eng = live_engine(G, interpolation="crossfade")
    grab = eng.add_part(Grab())
    try:
        for _ in range(3):
            eng.step()
            eng.worker.wait(timeout=5)
            time.sleep(0.02)
        for _ in range(5):
            eng.step()
            eng.worker.wait(timeout=5)
    finally:
        eng.close()
        eng.surface.close()
    assert abs(grab.means[-1] - 128) < 2  # the frame itself, not still fading in from black


# -- the overlay ---------------------------------------------------------------------------------


def test_overlay_is_drawn_but_never_in_the_recorded_pixels():
    frames = []

    class Sink:
        def write(self, pixels):
            frames.append(np.array(pixels))

        def close(self):
            pass

    from latentperform.render import Recorder
    surface = HeadlessSurface((160, 120))
    rec = Recorder("unused.mp4", surface.size, 30, encoder=Sink())
    eng = live_engine(FlatGenerator(), surface=surface, overlay=True, recorder=rec)
    grab = eng.add_part(Grab(keep=True))
    try:
        for _ in range(4):
            eng.step()
            eng.worker.wait(timeout=5)
        clean = grab.frames[-1]
        eng.overlay_in_output = True  # asked for: the overlay goes into the pixels too
        eng.step()
        with_overlay = grab.frames[-1]
    finally:
        eng.close()
        surface.close()
    lines = eng.overlay_lines()
    text = "\n".join(lines)
    for needle in ("fps", "stutter", "generator", "latency", "inputs", "tempo", "REC"):
        assert needle in text, text
    picture = (slice(None), slice(22, 138))  # the square frame, pillarboxed in 160x120
    assert clean[picture].std() < 1.0  # flat grey: no overlay in it
    assert len(frames) == 5 and all(f[picture].std() < 1.0 for f in frames[:-1])  # nor in the recording
    assert frames[-1][10:40, 24:136].std() > 5  # unless asked for
    corner = with_overlay[10:40, 24:136].astype(float)
    assert np.abs(corner - 128).mean() > 10  # the overlay's box and text


def test_overlay_text_is_rebuilt_a_few_times_a_second_not_every_frame():
    eng = live_engine(FlatGenerator(), overlay=True)
    built = []
    real = eng.overlay.build
    eng.overlay.build = lambda engine: built.append(1) or real(engine)
    try:
        eng.step()
        built.clear()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 0.6:
            eng.step()
            n += 1
    finally:
        eng.close()
        eng.surface.close()
    assert n > 8
    assert 1 <= len(built) <= 0.6 / 0.25 + 2, (len(built), n)


# -- keys in a real window -----------------------------------------------------------------------


def _press(eng, *keys, steps: int = 1):
    eng.surface._keys.extend(keys)  # the window's key queue, as its key callback fills it
    eng.handle_keys()
    for _ in range(steps):
        eng.step()


def _screen(size):
    """What the X server shows in the window's area (it sits at the root's top left)."""
    w, h = size
    out = subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+0+0", "rgb:-"],
                         capture_output=True, timeout=20).stdout
    return np.frombuffer(out, np.uint8)[: w * h * 3].reshape(h, w, 3)


def test_stage_keys_in_a_window(xvfb_display, tmp_path, monkeypatch):
    from latentperform.render import WindowSurface

    offscreen = HeadlessSurface((8, 8))  # an EGL context already in the process, as in a real run
    window = WindowSurface((320, 240), title="latentperform stage test", vsync=False)
    eng = live_engine(BuiltinGenerator(resolution=32), surface=window, overlay=False)
    eng.stage.folder = tmp_path
    grab = eng.add_part(Grab())
    try:
        for _ in range(3):
            eng.step()
            eng.worker.wait(timeout=5)
        eng.step()
        assert not eng.hud_visible

        # h: the overlay shows, in the window (read back from the X server), not in the pixels
        _press(eng, "h")
        assert eng.hud_visible
        eng.overlay_in_output = True
        eng.step()
        with_hud = eng.last_pixels.copy()
        eng.overlay_in_output = False
        eng.step()
        without = eng.last_pixels.copy()
        assert np.abs(with_hud[:60, :150].astype(float) - without[:60, :150]).mean() > 10
        if shutil.which("import"):
            shown = _screen(window.size)
            assert np.abs(shown[:60, :150].astype(float) - without[:60, :150]).mean() > 10
        _press(eng, "h")
        assert not eng.hud_visible

        # s: a screenshot, not blank, the size of the output
        _press(eng, "s", "s", steps=2)
        eng.stage.wait()
        assert len(eng.stage.saved) == 2 and len(set(eng.stage.saved)) == 2  # two presses, two files
        from PIL import Image
        shot = np.asarray(Image.open(eng.stage.saved[0]))
        assert shot.shape == (240, 320, 3) and shot.std() > 10

        # right / left: glide to the next keyframe, and back
        k0 = eng.trajectory.current_keyframe()
        _press(eng, "right")
        assert eng.trajectory.current_keyframe() == (k0 + 1) % eng.trajectory.num_keyframes
        _press(eng, "left")
        assert eng.trajectory.current_keyframe() == k0

        # space: freeze (no new requests), and again: go on
        _press(eng, "space", steps=2)
        assert eng.params.get("engine/freeze") == 1.0
        eng.worker.wait(timeout=5)
        eng.step()
        before = eng.stats.gen_frames
        for _ in range(4):
            eng.step()
            time.sleep(0.02)
        assert eng.stats.gen_frames == before
        _press(eng, "space", steps=2)
        assert eng.params.get("engine/freeze") == 0.0

        # b: blackout fades (not a cut) to black, and back
        lit = grab.means[-1]
        _press(eng, "b")
        assert eng.params.get("engine/blackout") == 1.0
        assert grab.means[-1] > 0.3 * lit, "blackout cut to black at once instead of fading"
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0 and grab.means[-1] > 0.5:
            eng.step()
        assert grab.means[-1] < 0.5
        _press(eng, "b")
        assert eng.params.get("engine/blackout") == 0.0

        # r: recording starts on its own thread; r again finishes the file
        _press(eng, "r")
        t0 = time.monotonic()
        while eng.recorder is None and time.monotonic() - t0 < 10:
            eng.step()
            time.sleep(0.01)
        assert eng.recorder is not None
        assert any(line.startswith("REC") for line in eng.overlay_lines(fresh=True))
        for _ in range(10):  # at the show's pace: a live recording keeps the show's time
            eng.step()
            time.sleep(1.0 / eng.fps)
        _press(eng, "r")
        assert eng.recorder is None
        eng.stage.wait()
        from latentperform.render import probe_video
        assert len(eng.stage.recordings) == 1 and eng.stage.recordings[0].parent == tmp_path
        assert probe_video(eng.stage.recordings[0])["frames"] >= 5

        # f: fullscreen and back
        _press(eng, "f")
        assert window.fullscreen and window.size == (1280, 720)
        eng.step()
        _press(eng, "f11")
        assert not window.fullscreen and window.size == (320, 240)

        # q: asks first (shown even with the overlay off); a late second press asks again
        monkeypatch.setattr(stage_mod, "QUIT_CONFIRM_S", 0.3)
        _press(eng, "q")
        assert not window.should_close()
        assert QUIT_PROMPT in eng.overlay_lines(fresh=True)
        assert eng.overlay.wanted(eng)  # drawn although the overlay is off
        time.sleep(0.4)
        _press(eng, "q")
        assert not window.should_close()
        _press(eng, "escape")
        assert window.should_close()
    finally:
        eng.close()
        window.close()
        offscreen.close()


def test_quit_twice_ends_run(tmp_path):
    eng = live_engine(FlatGenerator())
    try:
        eng.stage.on_key(eng, "q")
        eng.stage.on_key(eng, "q")
        t0 = time.monotonic()
        eng.run(seconds=5)
        assert time.monotonic() - t0 < 2
    finally:
        eng.close()
        eng.surface.close()


# -- what parts can ask for ----------------------------------------------------------------------


def test_output_texture_holds_the_final_picture():
    class WantsTexture(EnginePart):
        wants_texture = True
        wants_pixels = True

    eng = live_engine(BuiltinGenerator(resolution=32), surface=HeadlessSurface((96, 64)))
    eng.add_part(WantsTexture())
    try:
        for _ in range(3):
            eng.step()
            eng.worker.wait(timeout=5)
        eng.step()
        tex = eng.output_texture
        assert tex is not None and tex.size == (96, 64)
        data = np.frombuffer(tex.read(), np.uint8).reshape(64, 96, 4)[::-1, :, :3]
        assert data.std() > 5
        assert np.array_equal(data, eng.last_pixels)  # what was shown is what the texture holds
    finally:
        eng.close()
        eng.surface.close()
    plain = live_engine(FlatGenerator())
    try:
        plain.step()
        assert plain.output_texture is None and plain.last_pixels is None  # nobody asked: no cost
    finally:
        plain.close()
        plain.surface.close()


# -- latency -------------------------------------------------------------------------------------


def test_latency_is_measured_per_input_and_sent_over_osc():
    from pythonosc.osc_message import OscMessage
    from pythonosc.udp_client import SimpleUDPClient

    from latentperform.inputs.osc import OscFeedback

    host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host.bind(("127.0.0.1", 0))
    host.settimeout(0.05)
    patch = plain_patch()
    eng = open_show(patch, surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                 generator=BuiltinGenerator(resolution=32))
    try:
        open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
        eng.feedback = OscFeedback([f"127.0.0.1:{host.getsockname()[1]}"])
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        got = {}
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < 4 and (len(eng.stats.latencies) < 5 or "/lp/latency" not in got):
            if k % 5 == 0:
                client.send_message("/lp/truncation", 0.5 + 0.01 * (k % 20))
            k += 1
            eng.step()
            time.sleep(0.02)
            try:
                while True:
                    msg = OscMessage(host.recv(65536))
                    got[msg.address] = list(msg.params)
            except (socket.timeout, BlockingIOError):
                pass
        s = eng.stats.summary()
        assert s["latency_samples"] >= 5
        # once per input, not once per frame: fewer samples than frames
        assert s["latency_samples"] < eng.stats.frames
        assert 0 < s["latency_ms_median"] < 2000 and s["latency_ms_p99"] >= s["latency_ms_median"]
        assert "/lp/latency" in got and len(got["/lp/latency"]) == 2, got
        assert "/lp/stutter" in got and "/lp/frame_ms" in got
        assert "latency" in "\n".join(eng.overlay_lines(fresh=True))
    finally:
        eng.close()
        eng.surface.close()
        host.close()


def test_no_input_means_no_latency_samples():
    eng = live_engine(FlatGenerator())
    try:
        for _ in range(5):
            eng.step()
            eng.worker.wait(timeout=5)
        assert len(eng.stats.latencies) == 0  # time since the last input is not a latency
    finally:
        eng.close()
        eng.surface.close()


# -- patch hot-reload ----------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # make sure the mtime moves even on a coarse file system clock
    bump = time.time_ns() + 10_000_000
    import os
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns + 10_000_000, bump)))


def _until(eng, cond, timeout=8.0):
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        eng.step()
        time.sleep(0.02)
    return cond()


def test_patch_hot_reload_applies_a_valid_edit_and_keeps_the_last_good_patch(tmp_path):
    text = DEFAULT_PATCH.read_text().replace("enabled = true          # live", "enabled = false  # live")
    path = tmp_path / "show.toml"
    path.write_text(text)
    patch = load_patch(path)
    eng = open_show(patch, surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                 generator=BuiltinGenerator(resolution=32))
    watcher = eng.add_part(PatchWatcher(path, interval=0.05))
    try:
        for _ in range(5):
            eng.step()
        pos_before = eng.trajectory.pos
        exposure_rules = [r for r in eng.mapper.rules if r.m.target == "shader/grade/exposure"]
        assert len(exposure_rules) == 1

        # a valid edit: another pass, a new mapping, a faster walk
        edited = (text.replace('shaders = ["feedback", "grade"]', 'shaders = ["feedback", "grade", "kaleido"]')
                  .replace("walk = 0.15", "walk = 0.5")
                  + '\n[[mapping]]\nsource = "osc/test/x"\ntarget = "shader/kaleido/amount"\n')
        _write(path, edited)
        assert _until(eng, lambda: watcher.applied == 1)
        assert "kaleido" in eng.chain.pass_names
        assert any(r.m.source == "osc/test/x" for r in eng.mapper.rules)
        assert eng.params.get("latent/walk") == pytest.approx(0.5)  # untouched: the new default
        assert abs(eng.trajectory.pos - pos_before) < 0.5  # the loop kept its place
        assert "shader/kaleido/amount" in eng.specs
        for _ in range(3):
            eng.step()

        # an invalid edit: reported with file:line, the show keeps the last good patch
        broken = edited.replace('source = "audio/bass"', 'source = "audio/bass"\ncurve = "wobbly"')
        bad_line = broken.splitlines().index('curve = "wobbly"') + 1
        _write(path, broken)
        assert _until(eng, lambda: watcher.rejected == 1)
        errors = "\n".join(eng.stats.errors)
        assert "patch not reloaded" in errors and f"{path}:{bad_line}" in errors, errors
        assert "kaleido" in eng.chain.pass_names
        assert any(r.m.source == "osc/test/x" for r in eng.mapper.rules)
        eng.step()

        # a model change is not applied live: it needs a restart, and says so
        _write(path, re.sub(r"(?m)^resolution = \d+", "resolution = 128", edited))
        assert _until(eng, lambda: watcher.applied == 2)
        assert eng.patch.model.resolution == patch.model.resolution
        assert any("restart" in line for line in eng.overlay_lines(fresh=True))
    finally:
        eng.close()
        eng.surface.close()


def test_a_pass_added_by_a_live_edit_answers_over_osc_at_once(tmp_path):
    """The bug of two tables: the OSC router built its address table once, so after a live edit
    added a shader pass the registry knew shader/kaleido/segments but /lp/shader/kaleido/segments
    was answered "no parameter answers".  One registry: the router follows it."""
    from pythonosc.udp_client import SimpleUDPClient

    text = DEFAULT_PATCH.read_text().replace("enabled = true          # live", "enabled = false  # live")
    path = tmp_path / "show.toml"
    path.write_text(text)
    eng = open_show(load_patch(path), surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                    generator=BuiltinGenerator(resolution=32))
    watcher = eng.add_part(PatchWatcher(path, interval=0.05))
    open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
    client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
    try:
        eng.step()
        assert "shader/kaleido/segments" not in eng.specs
        _write(path, text.replace('shaders = ["feedback", "grade"]', 'shaders = ["feedback", "grade", "kaleido"]'))
        assert _until(eng, lambda: watcher.applied == 1)
        spec = eng.specs["shader/kaleido/segments"]
        assert eng.params.get(spec.name) == spec.default == 6.0
        client.send_message("/lp/shader/kaleido/segments", 11.0)   # real UDP, to the running router
        assert _until(eng, lambda: eng.params.get(spec.name) == pytest.approx(11.0), timeout=5.0), \
            (eng.params.get(spec.name), list(eng.stats.errors))
        assert eng.inputs[0].router.stats["unknown"] == 0
    finally:
        eng.close()
        eng.surface.close()


def test_offline_render_has_no_stage_and_no_overlay():
    patch = plain_patch(overlay=True)
    eng = open_show(patch, surface=HeadlessSurface((64, 64)), clock=FixedStepClock(10), fps=10, offline=True,
                 generator=FlatGenerator())
    try:
        frames = [eng.step() for _ in range(3)]
        assert eng.stage is None
        assert all(f.std() < 1.0 for f in frames)  # the overlay is not drawn into offline renders
    finally:
        eng.close()
        eng.surface.close()


def test_a_slow_encoder_drops_and_counts_frames_and_the_show_keeps_its_rate():
    from latentperform.render import Recorder

    class SlowSink:
        def __init__(self):
            self.frames = 0

        def write(self, pixels):
            time.sleep(0.2)
            self.frames += 1

        def close(self):
            pass

    sink = SlowSink()
    surface = HeadlessSurface((64, 64))
    rec = Recorder("unused.mp4", surface.size, 30, encoder=sink, queue_size=4)
    eng = live_engine(FlatGenerator(), surface=surface, recorder=rec)
    try:
        eng.run(seconds=1.5)
        pushed, dropped = rec.pushed, rec.dropped
        status = "\n".join(eng.overlay_lines(fresh=True))
    finally:
        eng.close()
        surface.close()
    assert pushed == eng.stats.frames
    assert dropped > 0 and "dropped" in status  # counted, and shown on the overlay
    assert eng.stats.frames >= 3 * sink.frames  # the show did not wait for a 200 ms encoder
    assert rec.written == sink.frames and rec.written + rec.dropped == rec.pushed


def test_output_texture_in_a_window(xvfb_display):
    from latentperform.render import WindowSurface

    class WantsTexture(EnginePart):
        wants_texture = True
        wants_pixels = True

    offscreen = HeadlessSurface((8, 8))
    window = WindowSurface((200, 120), title="latentperform texture test", vsync=False)
    eng = live_engine(BuiltinGenerator(resolution=32), surface=window)
    eng.add_part(WantsTexture())
    try:
        for _ in range(3):
            eng.step()
            eng.worker.wait(timeout=5)
        eng.step()
        tex = eng.output_texture
        assert tex.size == (200, 120)
        data = np.frombuffer(tex.read(), np.uint8).reshape(120, 200, 4)[::-1, :, :3]
        assert data.std() > 5
        assert np.array_equal(data, eng.last_pixels)  # copied to the window: read back from it
    finally:
        eng.close()
        window.close()
        offscreen.close()


def test_an_edited_shader_is_reloaded_live_with_its_new_parameters(tmp_path):
    from latentperform.render import ShaderChain

    shaders = tmp_path / "shaders"
    shaders.mkdir()
    (shaders / "output.glsl").write_text("void main() { f_color = vec4(texture(u_tex, v_uv).rgb, 1.0); }\n")
    tint = shaders / "tint.glsl"
    tint.write_text('uniform float red; // @param default=0 "red"\n'
                    "void main() { f_color = vec4(red, texture(u_tex, v_uv).gb, 1.0); }\n")
    patch_path = tmp_path / "show.toml"
    patch_path.write_text(DEFAULT_PATCH.read_text())
    eng = live_engine(FlatGenerator())
    eng.chain.release()
    eng.chain = ShaderChain(eng.surface.ctx, ["tint"], shader_dir=shaders, size=eng.surface.size)
    eng.refresh_specs()
    watcher = eng.add_part(PatchWatcher(patch_path, interval=0.05))
    try:
        assert "shader/tint/red" in eng.specs and "shader/tint/green" not in eng.specs
        _write(tint, 'uniform float red; // @param default=0 "red"\n'
                     'uniform float green; // @param default=0.5 "green"\n'
                     "void main() { f_color = vec4(red, green, texture(u_tex, v_uv).b, 1.0); }\n")
        assert _until(eng, lambda: "shader/tint/green" in eng.specs)
        assert eng.params.get("shader/tint/green") == 0.5
        eng.step()
        _write(tint, "void main() { f_color = vec4(broken; }\n")  # a broken edit: reported, last good kept
        assert _until(eng, lambda: any("tint.glsl:1" in e for e in eng.stats.errors))
        assert watcher.rejected == 0 and "shader/tint/green" in eng.specs
    finally:
        eng.close()
        eng.surface.close()


def test_the_engines_own_beat_is_not_an_input():
    patch = load_patch(DEFAULT_PATCH)  # maps clock/beat (made by the engine's musical time)
    patch = replace(patch, inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)))
    eng = open_show(patch, surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                 generator=BuiltinGenerator(resolution=32))
    try:
        open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.6:  # three beats at 120 bpm
            eng.step()
            time.sleep(0.01)
        assert eng.params.newest_input is not None  # the beat did move the show ...
        assert len(eng.stats.latencies) == 0  # ... but it is no control-to-photon sample
        assert eng.stats.last_input is None
    finally:
        eng.close()
        eng.surface.close()


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed (scripts/install.sh --test installs it)")
def test_real_x_key_events_reach_the_stage(xvfb_display):
    """Keys typed at the X server (xdotool), not put in the window's queue: glfw's callback,
    the key names and the stage keys, end to end."""
    from latentperform.render import WindowSurface

    offscreen = HeadlessSurface((8, 8))
    title = f"latentperform xkeys {os.getpid()}"
    window = WindowSurface((320, 240), title=title, vsync=False)
    eng = live_engine(BuiltinGenerator(resolution=32), surface=window, overlay=False)
    try:
        for _ in range(3):
            eng.step()
        found = subprocess.run(["xdotool", "search", "--name", title], capture_output=True, text=True, timeout=10)
        wid = found.stdout.split()[0]
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], check=True, timeout=10)

        def typed(*keys, until, timeout=5.0):
            subprocess.run(["xdotool", "key", "--delay", "30", *keys], check=True, timeout=10)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                eng.handle_keys()
                eng.step()
                if until():
                    return True
                time.sleep(0.01)
            return False

        assert typed("h", until=lambda: eng.hud_visible), "h did not show the overlay"
        k0 = eng.trajectory.current_keyframe()
        k1 = (k0 + 1) % eng.trajectory.num_keyframes
        assert typed("Right", until=lambda: eng.trajectory.current_keyframe() == k1), "Right did not step on"
        assert typed("space", until=lambda: eng.params.get("engine/freeze") == 1.0), "space did not freeze"
        assert typed("q", "q", until=window.should_close), "q q did not quit"
    finally:
        eng.close()
        window.close()
        offscreen.close()
