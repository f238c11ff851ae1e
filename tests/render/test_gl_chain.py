"""The shader chain on a real (EGL, llvmpipe) context: upload, output blit, passes, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from render_helpers import params, pattern

from latentperform.config import SHADER_DIR
from latentperform.events import ParamSpec, ParamState
from latentperform.render import FrameTexture, HeadlessSurface, ShaderChain, shader_param_specs


def run_chain(ctx, passes, frame, size, values=None, frames=1, shader_dir=SHADER_DIR, chain=None):
    """Render `frame` through `passes` into a fresh (w, h) surface; returns (pixels, chain)."""
    surface = HeadlessSurface(size, ctx=ctx)
    chain = chain or ShaderChain(ctx, passes, shader_dir=shader_dir, size=size)
    tex = FrameTexture(ctx)
    tex.upload(frame)
    state = ParamState(values=values or {})
    for k in range(frames):
        chain.render(tex.texture, state, k / 30, surface.target, surface.viewport())
    pixels = surface.read_pixels()
    tex.release()
    surface.close()
    return pixels, chain


# -- upload and the output blit ----------------------------------------------------------------


@pytest.mark.parametrize("w,h", [(64, 48), (33, 17)])
def test_upload_then_output_blit_at_the_same_size_is_exact(gl, w, h):
    frame = pattern(w, h)
    pixels, chain = run_chain(gl, [], frame, (w, h))
    assert chain.errors == []
    assert pixels.shape == (h, w, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - frame).max() <= 1  # top row first, no flip, no shift


def test_every_pass_at_its_defaults_keeps_a_still_frame_recognisable(gl):
    frame = pattern(64, 64, seed=3)
    pixels, chain = run_chain(gl, ["grade"], frame, (64, 64))
    assert np.abs(pixels.astype(int) - frame).max() <= 1  # grade is neutral at its defaults


def test_texture_is_reallocated_when_the_frame_size_changes(gl):
    tex = FrameTexture(gl)
    tex.upload(pattern(16, 8))
    assert tex.size == (16, 8)
    tex.upload(pattern(40, 30))
    assert tex.size == (40, 30)
    with pytest.raises(ValueError):
        tex.upload(np.zeros((8, 8, 4), np.uint8))
    tex.release()


def test_every_upload_through_the_orphaned_pixel_buffer_lands_whole(gl):
    """Frames of one size go through one pixel buffer, orphaned before each write: the texture
    holds exactly the newest frame each time (rows in GL order), also when sizes change back."""
    tex = FrameTexture(gl)
    rng = np.random.default_rng(9)
    try:
        for w, h in [(24, 12), (24, 12), (24, 12), (10, 6), (24, 12)]:
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            tex.upload(frame)
            stored = np.frombuffer(tex.texture.read(alignment=1), np.uint8).reshape(h, w, 3)
            np.testing.assert_array_equal(stored[::-1], frame)
        assert tex.uploads == 5
    finally:
        tex.release()


def test_a_small_frame_is_upscaled_smoothly(gl):
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[:, 1] = 255  # left half black, right half white
    pixels, _ = run_chain(gl, [], frame, (64, 64))
    row = pixels[32, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert len(np.unique(row)) > 10  # linear filtering: a ramp, not two blocks
    assert np.all(np.diff(row) >= 0)


def test_torch_tensors_are_uploaded_too(gl):
    torch = pytest.importorskip("torch")
    frame = pattern(32, 16, seed=5)
    pixels, _ = run_chain(gl, [], torch.from_numpy(frame), (32, 16))
    assert np.abs(pixels.astype(int) - frame).max() <= 1


def test_letterbox_puts_a_wide_frame_in_the_middle_of_a_square_target_with_black_bars(gl):
    frame = np.full((32, 64, 3), 200, np.uint8)  # 2:1
    frame[:, :32] = (255, 0, 0)  # left half red, to check it is not mirrored
    pixels, _ = run_chain(gl, [], frame, (64, 64))
    assert pixels[:15].max() == 0 and pixels[49:].max() == 0  # bars above and below
    image = pixels[17:47]
    assert (image[:, 2:30] == (255, 0, 0)).all() and (image[:, 34:62] == 200).all()
    rows = np.where(pixels.max(axis=(1, 2)) > 0)[0]
    assert rows[0] in (15, 16) and rows[-1] in (47, 48)  # centred: 16 + 32 + 16


def test_pillarbox_and_fill(gl):
    frame = np.full((64, 32, 3), 255, np.uint8)  # 1:2 into 2:1
    pixels, _ = run_chain(gl, [], frame, (128, 64))
    cols = np.where(pixels.max(axis=(0, 2)) > 0)[0]
    assert (cols[0], cols[-1]) in {(48, 79), (47, 80), (48, 80), (47, 79)}
    filled, _ = run_chain(gl, [], frame, (128, 64), values={"shader/output/fit": 1})
    assert filled.min() == 255  # cropped to fill: no bars
    stretched, _ = run_chain(gl, [], frame, (128, 64), values={"shader/output/fit": 2})
    assert stretched.min() == 255


def test_blackout_fades_the_output(gl):
    frame = np.full((16, 16, 3), 255, np.uint8)
    half, _ = run_chain(gl, [], frame, (16, 16), values={"engine/blackout": 0.5})
    black, _ = run_chain(gl, [], frame, (16, 16), values={"engine/blackout": 1.0})
    assert abs(int(half.mean()) - 128) <= 2 and black.max() == 0


def test_drawing_into_part_of_the_target(gl):
    surface = HeadlessSurface((64, 32), ctx=gl)
    chain = ShaderChain(gl, [], size=(32, 32))
    tex = FrameTexture(gl)
    tex.upload(np.full((8, 8, 3), 255, np.uint8))
    surface.target.use()
    surface.target.clear(0, 0, 0, 1)
    chain.render(tex.texture, ParamState(), 0.0, surface.target, (32, 0, 32, 32))
    pixels = surface.read_pixels()
    assert pixels[:, :32].max() == 0 and pixels[:, 32:].min() == 255
    surface.close()


# -- passes --------------------------------------------------------------------------------------


def test_feedback_with_amount_zero_is_the_identity(gl):
    surface = HeadlessSurface((48, 32), ctx=gl)
    chain = ShaderChain(gl, ["feedback"], size=surface.size)
    tex = FrameTexture(gl)
    state = params(shader__feedback__amount=0, shader__feedback__zoom=1.05, shader__feedback__rotate=0.05)
    for seed in range(3):  # the frame changes every time: nothing of the last one may remain
        frame = pattern(48, 32, seed=seed)
        tex.upload(frame)
        chain.render(tex.texture, state, seed / 30, surface.target, surface.viewport())
        assert np.abs(surface.read_pixels().astype(int) - frame).max() <= 1
    surface.close()


def test_feedback_leaves_trails_that_change_over_frames(gl):
    surface = HeadlessSurface((64, 64), ctx=gl)
    chain = ShaderChain(gl, ["feedback"], size=surface.size)
    tex = FrameTexture(gl)
    state = params(shader__feedback__amount=0.8, shader__feedback__zoom=1.05, shader__feedback__rotate=0.1)
    dot = np.zeros((64, 64, 3), np.uint8)
    dot[28:36, 40:48] = 255
    tex.upload(dot)
    outputs = []
    for k in range(4):
        chain.render(tex.texture, state, k / 30, surface.target, surface.viewport())
        outputs.append(surface.read_pixels().astype(int))
    tex.upload(np.zeros_like(dot))  # the dot goes away: its trail stays a while, fading
    chain.render(tex.texture, state, 0.2, surface.target, surface.viewport())
    after = surface.read_pixels().astype(int)
    for a, b in zip(outputs, outputs[1:]):
        assert np.abs(a - b).max() > 10  # a still frame keeps changing: the trail grows
    assert after.max() > 50  # the trail outlives the frame that made it
    assert after.sum() < outputs[-1].sum()
    surface.close()


def test_grade_parameters_move_the_pixels_the_way_they_say(gl):
    grey = np.full((16, 16, 3), 64, np.uint8)
    grey[:, :8] = (160, 60, 40)  # a warm colour on the left
    base, _ = run_chain(gl, ["grade"], grey, (16, 16))
    brighter, _ = run_chain(gl, ["grade"], grey, (16, 16), values={"shader/grade/exposure": 1})
    assert abs(int(brighter[0, 12, 0]) - 128) <= 2  # one stop = twice the light
    assert brighter.mean() > base.mean() * 1.8
    flat, _ = run_chain(gl, ["grade"], grey, (16, 16), values={"shader/grade/contrast": 0})
    assert np.abs(flat.astype(int) - 128).max() <= 1
    mono, _ = run_chain(gl, ["grade"], grey, (16, 16), values={"shader/grade/saturation": 0})
    assert np.ptp(mono[0, 0].astype(int)) <= 1
    turned, _ = run_chain(gl, ["grade"], grey, (16, 16), values={"shader/grade/hue": 0.5})
    r, g, b = turned[0, 0].astype(int)
    assert b > r  # half a turn takes warm to cool


def test_kaleido_and_chromatic_render_and_are_neutral_when_off(gl):
    frame = pattern(32, 32, seed=9)
    folded, chain = run_chain(gl, ["kaleido", "chromatic"], frame, (32, 32))
    assert chain.errors == []
    assert np.abs(folded.astype(int) - frame).mean() > 20  # the defaults do something
    off, _ = run_chain(gl, ["kaleido", "chromatic"], frame, (32, 32),
                       values={"shader/kaleido/amount": 0, "shader/chromatic/amount": 0})
    assert np.abs(off.astype(int) - frame).max() <= 1


# -- parameters from annotations ---------------------------------------------------------------


def test_param_specs_come_from_the_glsl_annotations(gl):
    chain = ShaderChain(gl, ["feedback", "grade"], size=(16, 16))
    specs = {s.name: s for s in chain.param_specs()}
    amount = specs["shader/feedback/amount"]
    assert amount == ParamSpec(name="shader/feedback/amount", default=0.6, min=0.0, max=0.98,
                               doc=amount.doc, osc="/lp/shader/feedback/amount")
    assert "last frame" in amount.doc
    assert specs["shader/grade/exposure"].min == -4 and specs["shader/grade/exposure"].max == 4
    assert "shader/output/fit" in specs  # the output pass is always there
    assert all(s.osc == "/lp/" + s.name for s in specs.values())


def test_shader_param_specs_need_no_gl_context():
    specs = {s.name for s in shader_param_specs()}
    passes = {p.stem for p in SHADER_DIR.glob("*.glsl")}
    assert {"feedback", "grade", "output", "kaleido", "chromatic"} <= passes
    assert {"shader/feedback/zoom", "shader/grade/hue", "shader/kaleido/segments"} <= specs


def test_an_unknown_annotation_key_names_file_and_line(gl, tmp_path):
    (tmp_path / "odd.glsl").write_text('\nuniform float x; // @param defualt=1 "typo"\n'
                                       'void main() { f_color = texture(u_tex, v_uv) * x; }\n')
    _, chain = run_chain(gl, ["odd"], pattern(8, 8), (8, 8), shader_dir=tmp_path)
    assert len(chain.errors) == 2  # odd.glsl, and output.glsl which this folder lacks
    assert f"{tmp_path / 'odd.glsl'}:2:" in chain.errors[0] and "defualt" in chain.errors[0]


# -- broken shaders ----------------------------------------------------------------------------


def _broken_dir(tmp_path: Path) -> Path:
    (tmp_path / "output.glsl").write_text((SHADER_DIR / "output.glsl").read_text())
    (tmp_path / "typo.glsl").write_text(
        "// a pass with a typo on line 4\n"
        'uniform float gain; // @param default=1 min=0 max=2 "gain"\n'
        "void main() {\n"
        "    vec3 c = texture(u_tex, v_uv).rgb * gain\n"
        "    f_color = vec4(c, 1.0);\n"
        "}\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.glsl").write_text(
        "// helper\n"
        "float helper(float x) {\n"
        "    return x * undefined_name;\n"
        "}\n")
    (tmp_path / "uses_helper.glsl").write_text(
        "// includes a broken helper on line 2\n"
        '#include "lib/helper.glsl"\n'
        "void main() {\n"
        "    f_color = vec4(texture(u_tex, v_uv).rgb * helper(1.0), 1.0);\n"
        "}\n")
    (tmp_path / "wrong_after_include.glsl").write_text(
        '#include "lib/fine.glsl"\n'
        "void main() {\n"
        "    f_color = vec4(texture(u_tex, v_uv).rgb * fine(1.0), 1.0);\n"
        "    no_such_function();\n"
        "}\n")
    (tmp_path / "lib" / "fine.glsl").write_text("float fine(float x) {\n    return x;\n}\n")
    (tmp_path / "missing_include.glsl").write_text('\n\n#include "nowhere.glsl"\nvoid main() {}\n')
    return tmp_path


def test_a_broken_shader_is_reported_with_file_and_line_and_left_out(gl, tmp_path):
    d = _broken_dir(tmp_path)
    frame = pattern(32, 16, seed=2)
    names = ["typo", "uses_helper", "wrong_after_include", "missing_include", "not_there"]
    pixels, chain = run_chain(gl, names, frame, (32, 16), shader_dir=d)
    errors = chain.errors
    assert len(errors) == 5
    assert errors[0].startswith("shader 'typo' left out: ") and f"{d / 'typo.glsl'}:5:" in errors[0]  # the
    # driver notices a missing ';' on the next token, line 5
    assert f"{d / 'lib' / 'helper.glsl'}:3:" in errors[1] and "undefined_name" in errors[1]
    assert f"{d / 'wrong_after_include.glsl'}:4:" in errors[2]
    assert f"{d / 'missing_include.glsl'}:3:" in errors[3] and "nowhere.glsl" in errors[3]
    assert "not_there.glsl" in errors[4]
    assert all("\n" not in e for e in errors)
    assert [p.name for p in chain.passes] == ["output"]
    assert np.abs(pixels.astype(int) - frame).max() <= 1  # the show goes on without them
    assert "shader/typo/gain" in {s.name for s in chain.param_specs()}  # a patch mapping stays valid


def test_the_output_pass_has_a_built_in_fallback(gl, tmp_path):
    frame = pattern(16, 16)
    pixels, chain = run_chain(gl, [], frame, (16, 16), shader_dir=tmp_path)  # no output.glsl here
    assert "output.glsl" in chain.errors[0]
    assert np.abs(pixels.astype(int) - frame).max() <= 1


def test_hot_reload_keeps_the_last_good_program_until_the_file_is_fixed(gl, tmp_path):
    (tmp_path / "output.glsl").write_text((SHADER_DIR / "output.glsl").read_text())
    f = tmp_path / "tint.glsl"

    def write(body: str) -> None:
        f.write_text(body)
        stamp = time.time() + len(body)  # a different mtime on every write, however fast
        os.utime(f, (stamp, stamp))

    write("void main() { f_color = vec4(1.0, 0.0, 0.0, 1.0); }\n")
    surface = HeadlessSurface((8, 8), ctx=gl)
    chain = ShaderChain(gl, ["tint"], shader_dir=tmp_path, size=(8, 8))
    tex = FrameTexture(gl)
    tex.upload(np.zeros((8, 8, 3), np.uint8))

    def colour():
        chain.render(tex.texture, ParamState(), 0.0, surface.target, surface.viewport())
        return tuple(surface.read_pixels()[4, 4])

    assert colour() == (255, 0, 0)
    assert chain.reload_changed() == []  # nothing changed
    write("void main() { f_color = vec4(0.0, 0.0, 1.0 1.0); }\n")
    messages = chain.reload_changed()
    assert len(messages) == 1 and "tint.glsl:1:" in messages[0]
    assert colour() == (255, 0, 0)  # still the last good program
    assert chain.reload_changed() == []  # not retried until the file changes again
    write("void main() { f_color = vec4(0.0, 1.0, 0.0, 1.0); }\n")
    assert chain.reload_changed() == []
    assert colour() == (0, 255, 0)
    surface.close()


def test_hud_draws_text_in_the_top_left_corner_and_hides(gl):
    from latentperform.render import Hud

    surface = HeadlessSurface((200, 100), ctx=gl)
    hud = Hud(gl)
    surface.target.use()
    surface.target.clear(0.0, 0.0, 0.0, 1.0)
    hud.draw(["60.0 fps", "error: something"], surface.target, surface.viewport())
    pixels = surface.read_pixels()
    corner, far = pixels[:40, :100], pixels[60:, 120:]
    assert corner.max() > 200 and far.max() == 0  # white text near the top left only
    hud.toggle()
    surface.target.clear(0.0, 0.0, 0.0, 1.0)
    hud.draw(["60.0 fps"], surface.target, surface.viewport())
    assert surface.read_pixels().max() == 0
    hud.release()
    surface.close()


def test_passes_work_at_the_frame_aspect_scaled_to_the_output(gl):
    frame = pattern(32, 32)
    _, chain = run_chain(gl, ["grade"], frame, (160, 90))
    assert chain.work_size == (90, 90)  # letterboxed: the picture is 90 pixels square on screen
    _, chain = run_chain(gl, ["grade"], frame, (160, 90), values={"shader/output/fit": 1})
    assert chain.work_size == (160, 160)  # filled: cropped from a 160 square


def _flat(value: int, size=(8, 8)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, np.uint8)


def _read(tex) -> np.ndarray:
    w, h = tex.size
    comps = tex.components
    return np.frombuffer(tex.read(), np.uint8).reshape(h, w, comps)[..., :3]


def test_crossfade_goes_from_the_picture_on_screen_to_the_newest_frame(gl):
    from latentperform.render.upload import FrameBlend

    tex = FrameTexture(gl)
    blend = FrameBlend(gl)
    try:
        tex.upload(_flat(0))
        assert blend.source(tex.texture, 0.3) is tex.texture  # nothing to fade from yet
        blend.arrived(tex.texture)
        tex.upload(_flat(200))
        assert abs(_read(blend.source(tex.texture, 0.0)).mean() - 0) < 1
        assert abs(_read(blend.source(tex.texture, 0.5)).mean() - 100) < 2
        # a frame arrives before the fade finished: it goes on from what is on screen (100), no jump
        blend.arrived(tex.texture)
        tex.upload(_flat(40))
        assert abs(_read(blend.source(tex.texture, 0.0)).mean() - 100) < 2
        assert abs(_read(blend.source(tex.texture, 0.5)).mean() - 70) < 2
        assert blend.source(tex.texture, 1.0) is tex.texture  # done: the frame itself, no extra pass
        # a frame of another size still fades from the picture on screen
        blend.arrived(tex.texture)
        tex.upload(_flat(240, size=(16, 12)))
        out = blend.source(tex.texture, 0.25)
        assert out.size == (16, 12) and abs(_read(out).mean() - (40 + 0.25 * 200)) < 2
    finally:
        blend.release()
        tex.release()


def test_work_scale_runs_the_passes_smaller_and_the_output_stays_full_size(gl):
    """work_scale 0.5: the passes' buffers are half the fit in each direction, the output is
    the full target, and a smooth picture comes out nearly the same as at full scale."""
    yy, xx = np.mgrid[0:60, 0:80]
    frame = np.stack([xx * 3, yy * 4, (xx + yy) * 2], -1).astype(np.uint8)
    out = {}
    for scale in (1.0, 0.5):
        surface = HeadlessSurface((160, 120), ctx=gl)
        chain = ShaderChain(gl, ["grade"], size=(160, 120))
        chain.work_scale = scale
        tex = FrameTexture(gl)
        tex.upload(frame)
        chain.render(tex.texture, ParamState(values={}), 0.0, surface.target, surface.viewport())
        out[scale] = surface.read_pixels().astype(int)
        assert out[scale].shape == (120, 160, 3)
        assert chain.work_size == ((160, 120) if scale == 1.0 else (80, 60))
        chain.release()
        tex.release()
        surface.close()
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(out[1.0][inner] - out[0.5][inner]).mean() < 2.0
