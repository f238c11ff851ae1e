"""The post-processing chain: one GLSL fragment shader per pass, in order, then the output blit.

A pass is `shaders/<name>.glsl`: the body of a fragment shader.  The chain puts a header in front
(`#version 330 core`, the standard inputs below, `out vec4 f_color`) and resolves
`#include "file"` (relative to the including file, then the shader folder), keeping a `#line`
table so a compile error names the file and line the author wrote.

Standard inputs every pass may use:
    in vec2 v_uv;              0..1 across what the pass draws (0,0 = bottom left)
    uniform sampler2D u_tex;   the previous pass's output (the frame, for the first pass)
    uniform sampler2D u_prev;  what this pass drew on the previous frame (feedback): for a pass
                               placed first, the chain's previous output up to that pass, so
                               later passes (a grade) are not compounded frame after frame
    uniform vec2 u_resolution; pixel size of what the pass draws
    uniform vec2 u_tex_resolution;  pixel size of u_tex
    uniform float u_time, u_beat, u_beat_phase, u_tempo;  seconds, beats, beat % 1, bpm
    uniform float u_blackout;  engine/blackout (the output pass fades to black with it)

Parameters are uniforms annotated on their line:

    uniform float amount; // @param default=0.6 min=0 max=1 "how much of the last frame stays"

and become `ParamSpec("shader/<pass>/amount", osc="/lp/shader/<pass>/amount", ...)`.

Passes work at the frame's aspect ratio, scaled to fit the output size; `output` (always last)
draws that into the target viewport with letterbox / crop / stretch.  A pass that fails to compile
is left out with a one-line message in `chain.errors`; the chain keeps going without it.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import moderngl

from ..config import SHADER_DIR
from ..events import ParamSpec, ParamState

log = logging.getLogger("latentperform.render")

OUTPUT_PASS = "output"

VERTEX_SHADER = """#version 330 core
out vec2 v_uv;
void main() {
    // one triangle that covers the viewport: (-1,-1) (3,-1) (-1,3)
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_uv = p * 0.5 + 0.5;
    gl_Position = vec4(p, 0.0, 1.0);
}
"""

HEADER = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_tex;
uniform sampler2D u_prev;
uniform vec2 u_resolution;
uniform vec2 u_tex_resolution;
uniform float u_time;
uniform float u_beat;
uniform float u_beat_phase;
uniform float u_tempo;
uniform float u_blackout;
"""

# Used when shaders/output.glsl is missing or broken: the picture must still reach the screen.
FALLBACK_OUTPUT = """
void main() {
    vec2 a = vec2(u_tex_resolution.x * u_resolution.y, u_tex_resolution.y * u_resolution.x);
    vec2 f = vec2(min(1.0, a.x / a.y), min(1.0, a.y / a.x));
    vec2 uv = (v_uv - 0.5) / f + 0.5;
    bool inside = all(greaterThanEqual(uv, vec2(0.0))) && all(lessThanEqual(uv, vec2(1.0)));
    f_color = vec4(inside ? texture(u_tex, uv).rgb * (1.0 - u_blackout) : vec3(0.0), 1.0);
}
"""

# Every file's lines are numbered from its own block (file k: k * LINE_BLOCK + line), so a
# driver's line number alone says which file it is in, whatever it does with source numbers.
LINE_BLOCK = 100000

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
_PARAM = re.compile(r"^\s*uniform\s+(float|int|bool)\s+(\w+)\s*;\s*//\s*@param\b(.*)$")
# Mesa: "0:12(5): error: ..."; NVIDIA: "0(12) : error C0000: ..."; AMD/ANGLE: "ERROR: 0:12: ..."
_LOG_LOCATION = re.compile(r"(?:ERROR:\s*)?(\d+)[:(](\d+)\)?(?:\(\d+\))?\s*:\s*(.*)")


class ShaderSourceError(Exception):
    """An #include that cannot be resolved, or a broken annotation: file and line in the message."""


@dataclass
class Source:
    """A pass's full fragment source with the files its `#line` numbers refer to."""

    text: str
    files: list[Path]  # line block (and source-string number) -> file; 0 is the chain's header
    specs: list[ParamSpec] = field(default_factory=list)

    def locate(self, log_text: str) -> str:
        """The first error of a driver's compile log as 'file:line: message'."""
        lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
        for ln in lines:
            m = _LOG_LOCATION.match(ln)
            if m and "error" in ln.lower():
                # the file comes from the line block: Mesa reports source string 0 for some errors
                idx, line = divmod(int(m.group(2)), LINE_BLOCK)
                msg = m.group(3).strip()
                msg = re.sub(r"^error:?\s*", "", msg, flags=re.I)
                name = self.files[idx] if 0 <= idx < len(self.files) else f"<source {idx}>"
                return f"{name}:{line}: {msg}"
        return lines[0] if lines else "unknown compile error"


def _parse_param(pass_name: str, path: Path, lineno: int, type_: str, uniform: str, rest: str) -> ParamSpec:
    doc_match = re.search(r'"([^"]*)"', rest)
    doc = [doc_match.group(1)] if doc_match else []
    rest = rest[:doc_match.start()] + " " + rest[doc_match.end():] if doc_match else rest
    attrs: dict[str, str] = {}
    for word in rest.split():
        key, eq, value = word.partition("=")
        if not eq or not value:
            raise ShaderSourceError(f"{path}:{lineno}: cannot read {word!r} in the @param annotation; "
                                    f'write key=value pairs and one "doc string"')
        attrs[key] = value
    unknown = set(attrs) - {"default", "min", "max", "kind"}
    if unknown:
        raise ShaderSourceError(f"{path}:{lineno}: unknown @param key(s) {sorted(unknown)}; "
                                f"expected default=, min=, max=, kind=, and a \"doc string\"")
    try:
        lo = float(attrs.get("min", 0.0))
        hi = float(attrs.get("max", 1.0))
        default = float(attrs.get("default", lo))
    except ValueError as e:
        raise ShaderSourceError(f"{path}:{lineno}: @param numbers: {e}") from None
    if type_ == "bool":
        lo, hi = 0.0, 1.0
    return ParamSpec(name=f"shader/{pass_name}/{uniform}", default=default, min=lo, max=hi,
                     doc=" ".join(doc), kind=attrs.get("kind", "continuous"),
                     osc=f"/lp/shader/{pass_name}/{uniform}")


def load_source(pass_name: str, shader_dir: Path | str = SHADER_DIR, text: str | None = None) -> Source:
    """Read shaders/<pass_name>.glsl, resolve includes, collect @param annotations."""
    shader_dir = Path(shader_dir)
    path = shader_dir / f"{pass_name}.glsl"
    files: list[Path] = [Path("<header>")]
    specs: list[ParamSpec] = []
    out: list[str] = [HEADER.rstrip("\n")]

    def emit(file: Path, body: str, stack: tuple[Path, ...]) -> None:
        idx = len(files)
        files.append(file)
        out.append(f"#line {idx * LINE_BLOCK + 1} {idx}")
        for lineno, line in enumerate(body.splitlines(), start=1):
            inc = _INCLUDE.match(line)
            if inc:
                target = _find_include(inc.group(1), file.parent, shader_dir)
                if target is None:
                    raise ShaderSourceError(f"{file}:{lineno}: #include \"{inc.group(1)}\": no such file "
                                            f"(looked in {file.parent} and {shader_dir})")
                if target.resolve() in stack:
                    raise ShaderSourceError(f"{file}:{lineno}: #include \"{inc.group(1)}\" includes itself")
                emit(target, target.read_text(), stack + (target.resolve(),))
                out.append(f"#line {idx * LINE_BLOCK + lineno + 1} {idx}")
                continue
            param = _PARAM.match(line)
            if param:
                specs.append(_parse_param(pass_name, file, lineno, param.group(1), param.group(2), param.group(3)))
            out.append(line)

    if text is None:
        if not path.is_file():
            raise ShaderSourceError(f"{path}: no such shader pass")
        text = path.read_text()
    emit(path, text, (path.resolve(),))
    return Source(text="\n".join(out) + "\n", files=files, specs=specs)


def _find_include(name: str, here: Path, shader_dir: Path) -> Path | None:
    for base in (here, shader_dir):
        p = base / name
        if p.is_file():
            return p
    return None


def available_passes(shader_dir: Path | str = SHADER_DIR) -> list[str]:
    return sorted(p.stem for p in Path(shader_dir).glob("*.glsl"))


def shader_param_specs(shader_dir: Path | str = SHADER_DIR, passes: Iterable[str] | None = None) -> list[ParamSpec]:
    """Every annotated parameter of the given passes (all passes in the folder by default),
    read from the files alone: no GL context needed (for docs and patch validation)."""
    specs: list[ParamSpec] = []
    for name in passes if passes is not None else available_passes(shader_dir):
        try:
            specs.extend(load_source(name, shader_dir).specs)
        except (ShaderSourceError, OSError) as e:
            log.warning("%s", e)
    return specs


def check_passes(pass_names: Iterable[str], shader_dir: Path | str = SHADER_DIR,
                 ctx: moderngl.Context | None = None) -> list[str]:
    """`latentperform check`: every pass a patch names, read and compiled as the show would
    (the output pass too), without a window: one 'file:line: message' per pass the show would
    leave out.  Without `ctx`, a standalone EGL context is made for the compile and released."""
    problems: list[str] = []
    sources: list[tuple[str, Source]] = []
    for name in dict.fromkeys([*[n for n in pass_names if n != OUTPUT_PASS], OUTPUT_PASS]):
        try:
            sources.append((name, load_source(name, shader_dir)))
        except (ShaderSourceError, OSError) as e:
            hint = ""
            if "no such shader pass" in str(e):
                close = difflib.get_close_matches(name, available_passes(shader_dir), n=1, cutoff=0.5)
                hint = f'; did you mean "{close[0]}"?' if close else ""
            problems.append(f"shader pass {name!r}: {e}{hint}")
    if not sources:
        return problems
    own = ctx is None
    if own:
        from .surface import create_egl_context
        ctx = create_egl_context()
    try:
        for name, source in sources:
            try:
                ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=source.text).release()
            except Exception as e:  # moderngl.Error with the driver's log
                problems.append(f"shader pass {name!r} does not compile: {source.locate(str(e))}")
    finally:
        if own:
            ctx.release()
    return problems


def render_target(ctx: moderngl.Context, size: tuple[int, int], dtype: str = "f1"):
    """(texture, framebuffer): an RGBA texture, linearly filtered and clamped at the edges, and
    a framebuffer that draws into it (pass buffers, the crossfade, the offscreen output)."""
    tex = ctx.texture(tuple(size), 4, dtype=dtype)
    tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = False
    return tex, ctx.framebuffer(color_attachments=[tex])


def _fit(src: tuple[int, int], bound: tuple[int, int], cover: bool = False) -> tuple[int, int]:
    """src's aspect ratio scaled to fit inside bound (or, with cover, to cover it: the output
    pass then crops), at least 1x1."""
    sw, sh = src
    bw, bh = bound
    scale = max(bw / sw, bh / sh) if cover else min(bw / sw, bh / sh)
    return max(1, round(sw * scale)), max(1, round(sh * scale))


@dataclass
class _Pass:
    name: str
    path: Path
    program: moderngl.Program
    vao: moderngl.VertexArray
    specs: list[ParamSpec]
    mtimes: dict[Path, float]

    def release(self) -> None:
        self.vao.release()
        self.program.release()


class ShaderChain:
    """`render(frame_texture, params, time, target, viewport)` once per frame.

    pass_names  the passes to run in order (names of files in shader_dir, without .glsl);
                "output" is added (or moved) last.
    size        the output size: passes run at the frame's aspect ratio scaled to fit it.
    work_scale  (attribute) the passes' buffers as a fraction of that fit, 0 < scale <= 1; the
                output pass scales the result up.  0.5 does a quarter of the fragment work: what
                a software rasteriser (llvmpipe) needs to keep 720p at frame rate.
    """

    def __init__(self, ctx: moderngl.Context, pass_names: Iterable[str] = ("feedback", "grade"),
                 shader_dir: Path | str = SHADER_DIR, size: tuple[int, int] = (1280, 720)) -> None:
        self.ctx = ctx
        self.shader_dir = Path(shader_dir)
        names = [n for n in pass_names if n != OUTPUT_PASS]
        self.pass_names = names + [OUTPUT_PASS]
        self.size = (int(size[0]), int(size[1]))
        self.errors: list[str] = []
        self.passes: list[_Pass] = []
        self._failed: dict[str, dict[Path, float]] = {}  # name -> mtimes when it last failed
        self._fallback: _Pass | None = None
        for name in self.pass_names:
            p = self._build(name)
            if p is not None:
                self.passes.append(p)
        self.work_size: tuple[int, int] | None = None
        self.work_scale = 1.0
        self._targets: list[tuple[moderngl.Texture, moderngl.Framebuffer]] = []
        # pass name -> its output of the last frame; only for passes that read u_prev
        self._history: dict[str, tuple[moderngl.Texture, moderngl.Framebuffer]] = {}
        self._black = ctx.texture((1, 1), 3, data=bytes(3))
        self.frames = 0

    # -- building -------------------------------------------------------------------------------

    def _build(self, name: str, report: bool = True) -> _Pass | None:
        path = self.shader_dir / f"{name}.glsl"
        try:
            source = load_source(name, self.shader_dir)
        except (ShaderSourceError, OSError) as e:
            self._fail(name, path, str(e), [path], report)
            return None
        mtimes = _mtimes(source.files[1:])
        try:
            program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=source.text)
        except Exception as e:  # moderngl.Error from the driver; KeyError from moderngl's own #include
            where = source.locate(str(e))
            self._fail(name, path, where, source.files[1:], report)
            return None
        self._failed.pop(name, None)
        for sampler, unit in (("u_tex", 0), ("u_prev", 1)):
            if sampler in program:
                program[sampler].value = unit
        vao = self.ctx.vertex_array(program, [])
        return _Pass(name, path, program, vao, source.specs, mtimes)

    def _fail(self, name: str, path: Path, where: str, files: list[Path], report: bool) -> None:
        msg = f"shader {name!r} left out: {where}"
        self._failed[name] = _mtimes(files)
        if report:
            self.errors.append(msg)
            log.warning("%s", msg)

    def _fallback_output(self) -> _Pass:
        if self._fallback is None:
            source = load_source(OUTPUT_PASS, self.shader_dir, text=FALLBACK_OUTPUT)
            program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=source.text)
            program["u_tex"].value = 0
            self._fallback = _Pass(OUTPUT_PASS, Path("<fallback>"), program,
                                   self.ctx.vertex_array(program, []), [], {})
        return self._fallback

    def param_specs(self) -> list[ParamSpec]:
        """The parameters of every pass in the chain (those that failed to compile too, read
        from their files, so a patch mapping to them stays valid while the author fixes them)."""
        specs: dict[str, ParamSpec] = {}
        loaded = {p.name: p for p in self.passes}
        for name in self.pass_names:
            if name in loaded:
                found = loaded[name].specs
            else:
                try:
                    found = load_source(name, self.shader_dir).specs
                except (ShaderSourceError, OSError):
                    found = []
            for s in found:
                specs[s.name] = s
        return list(specs.values())

    def reload_changed(self) -> list[str]:
        """Rebuild passes whose files (or includes) changed on disk.  A broken edit keeps the last
        good program running; returns the messages of this reload (empty when all went well)."""
        messages: list[str] = []
        current = {p.name: p for p in self.passes}
        rebuilt: list[_Pass] = []
        for name in self.pass_names:
            old = current.get(name)
            known = old.mtimes if old is not None else self._failed.get(name, {})
            if known and _mtimes(known) == known:
                if old is not None:
                    rebuilt.append(old)
                continue
            before = len(self.errors)
            new = self._build(name)
            messages.extend(self.errors[before:])
            if new is not None:
                if old is not None:
                    old.release()
                rebuilt.append(new)
                log.info("shader %r reloaded", name)
            elif old is not None:
                old.mtimes = _mtimes(list(old.mtimes))  # don't retry until the file changes again
                rebuilt.append(old)
        self.passes = rebuilt
        return messages

    # -- rendering ------------------------------------------------------------------------------

    def resize(self, size: tuple[int, int]) -> None:
        """A new output size (the window was resized); the work buffers follow on the next frame."""
        self.size = (int(size[0]), int(size[1]))

    def _ensure_buffers(self, src_size: tuple[int, int], cover: bool = False) -> None:
        work = _fit(src_size, self.size, cover)
        scale = min(max(float(self.work_scale), 0.05), 1.0)
        if scale < 1.0:
            work = (max(1, round(work[0] * scale)), max(1, round(work[1] * scale)))
        if work == self.work_size:
            return
        self._release_buffers()
        self.work_size = work

        self._targets = [self._make_buffer(), self._make_buffer()]

    def _make_buffer(self) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        tex, fbo = render_target(self.ctx, self.work_size, dtype="f2")  # half float: trails fade out cleanly
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        return tex, fbo

    def _release_buffers(self) -> None:
        for tex, fbo in self._targets + list(self._history.values()):
            fbo.release()
            tex.release()
        self._targets, self._history = [], {}

    def render(self, source: moderngl.Texture, params: ParamState | None, time: float,
               target: moderngl.Framebuffer, viewport: tuple[int, int, int, int] | None = None) -> None:
        params = params if params is not None else ParamState()
        if viewport is None:
            viewport = (0, 0, *target.size)
        if (viewport[2], viewport[3]) != self.size:
            self.resize((viewport[2], viewport[3]))
        cover = round(params.get(f"shader/{OUTPUT_PASS}/fit", 0.0)) == 1  # fill and crop
        self._ensure_buffers(source.size, cover)
        effects = [p for p in self.passes if p.name != OUTPUT_PASS]
        output = next((p for p in self.passes if p.name == OUTPUT_PASS), None) or self._fallback_output()
        common = {
            "u_time": float(time), "u_beat": float(params.beat), "u_beat_phase": float(params.beat_phase),
            "u_tempo": float(params.tempo), "u_blackout": float(params.get("engine/blackout", 0.0)),
        }
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        current = source
        for i, p in enumerate(effects):
            tex, fbo = self._targets[i % 2]
            history = None
            if "u_prev" in p.program:
                key = f"{i}:{p.name}"
                if key not in self._history:
                    self._history[key] = self._make_buffer()
                history = self._history[key]
            fbo.use()
            fbo.viewport = (0, 0, *self.work_size)
            self._draw(p, params, common, current, history[0] if history else self._black, self.work_size)
            if history is not None:
                self.ctx.copy_framebuffer(history[1], fbo)
            current = tex
        target.use()
        target.viewport = viewport
        self._draw(output, params, common, current, self._black, (viewport[2], viewport[3]))
        self.frames += 1

    def _draw(self, p: _Pass, params: ParamState, common: dict, tex: moderngl.Texture,
              prev: moderngl.Texture, out_size: tuple[int, int]) -> None:
        prog = p.program
        values = dict(common)
        values["u_resolution"] = (float(out_size[0]), float(out_size[1]))
        values["u_tex_resolution"] = (float(tex.size[0]), float(tex.size[1]))
        for name, value in values.items():
            if name in prog:
                prog[name].value = value
        for spec in p.specs:
            uniform = spec.name.rsplit("/", 1)[1]
            if uniform in prog:
                v = params.get(spec.name, spec.default)
                u = prog[uniform]
                u.value = int(round(v)) if u.fmt in ("1i", "1?") else float(v)
        tex.use(0)
        prev.use(1)
        p.vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self._release_buffers()
        for p in self.passes:
            p.release()
        if self._fallback is not None:
            self._fallback.release()
        self._black.release()
        self.passes = []


def _mtimes(files: Iterable[Path]) -> dict[Path, float]:
    out = {}
    for f in files:
        try:
            out[Path(f)] = Path(f).stat().st_mtime_ns
        except OSError:
            out[Path(f)] = -1
    return out


# -- drawing one texture, letterboxed (the preview window) ------------------------------------------

_BLIT_FRAGMENT = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
void main() {
    f_color = vec4(texture(u_image, v_uv).rgb, 1.0);
}
"""


def fit_viewport(src: tuple[int, int], dst: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest viewport with the aspect of `src` centred in `dst` (letterbox/pillarbox)."""
    sw, sh = max(src[0], 1), max(src[1], 1)
    dw, dh = dst
    scale = min(dw / sw, dh / sh)
    w, h = max(1, round(sw * scale)), max(1, round(sh * scale))
    return ((dw - w) // 2, (dh - h) // 2, w, h)


class TextureBlit:
    """Draws a texture into a framebuffer, aspect kept (the rest black), in context `ctx`."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=_BLIT_FRAGMENT)
        self.vao = ctx.vertex_array(self.program, [])

    def draw(self, texture, target, size: tuple[int, int]) -> None:
        target.use()
        target.viewport = (0, 0, *size)
        self.ctx.clear(0.0, 0.0, 0.0)
        if texture is not None:
            target.viewport = fit_viewport(texture.size, size)
            texture.use(0)
            self.vao.render(moderngl.TRIANGLES, vertices=3)
            target.viewport = (0, 0, *size)

    def release(self) -> None:
        self.vao.release()
        self.program.release()

