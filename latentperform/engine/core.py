"""Engine: one show (patch, generator, surface, parts) and what its rooms share.

The rooms (see the package docstring): the tick (tick.py), the input door (door.py), the stats
(stats.py), the overlay and notices (overlay.py), the "latent" playback buffer (playback.py),
patch application (reload.py), the parameter registry (latentperform/registry.py).  Parts know
the engine through part.py; which parts a show has is decided in show.py.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from ..events import EventQueue, ParamState
from ..registry import ParamRegistry
from . import reload
from .door import InputDoor
from .glcontext import GLKeeper
from .music import MusicalTime
from .overlay import Overlay
from .params import ENGINE_SPECS, core_param_groups, part_owner
from .part import EnginePart
from .playback import LatentPlayback
from .stats import Stats
from .tick import Tick, upload_frame

log = logging.getLogger("latentperform.engine")

__all__ = ["ENGINE_SPECS", "Engine", "EnginePart", "Stats", "core_param_groups"]

VSYNC_EARLY_S = 0.002   # with vsync, the loop wakes this early and the swap waits for the refresh
REPORTS_PER_5S = 10     # Engine.report writes at most this many lines per 5 s; the rest are counted


class Engine:
    """A show: one patch, one generator, one output surface, any number of parts.

    Build one with `show.open_show(patch, surface=..., clock=..., fps=...)` (it loads the model
    and attaches the parts); `Engine(...)` itself needs the `generator` and attaches no part but
    the musical time.  Drive it with `step()` (one tick) or `run()`.  Nothing in here raises
    into the loop: input, model and shader failures become messages in `stats.errors` and the
    show goes on with the last good state.

    What parts (and tests) may read after each frame:
      last_pixels     (H, W, 3) uint8 of this frame's output, top row first, without the overlay;
                      set when a part has `wants_pixels`, a recorder runs, or offline (else None)
      output_texture  the chain's final picture as a moderngl texture in `surface.ctx`, the size
                      of the surface; set when a part has `wants_texture` (else None)
      stats           figures (Stats); `hud_visible` whether the overlay is drawn
      tick_events     this tick's control events, drained and coalesced (what the mapper got)
      last_request    this tick's LatentRequest

    interpolation   "crossfade" | "latent" | "hold" (default: the patch's [output]): what fills
                    the display frames between two generator frames when the generator is slower
                    than the display (live only; offline every frame is rendered).  "latent": the
                    worker renders, in one call, the latents between the last picture and the
                    newest request, one per display frame, and they are shown one per tick: every
                    frame a real picture, about one generator period later than under hold
    overlay         the status overlay shown at start (default: the patch's [output] overlay);
                    it is drawn after the read-back, so never in recordings or `last_pixels`
                    unless `overlay_in_output` is set
    """

    def __init__(self, patch, *, surface, clock, fps: float, generator, offline: bool = False,
                 feature_track=None, replay=None, recorder=None, event_log=None,
                 interpolation: str | None = None, overlay: bool | None = None) -> None:
        from ..latent import LatentSpace
        from ..models import InferenceWorker

        if generator is None:
            raise TypeError("Engine needs a generator: build a show with engine.show.open_show(patch, ...)")
        self.patch, self.surface, self.clock, self.fps = patch, surface, clock, float(fps)
        self.offline, self.recorder, self.event_log = offline, recorder, event_log
        self.feature_track, self.replay = feature_track, replay
        self.interpolation = str(interpolation or getattr(patch.output, "interpolation", "crossfade"))
        self.stats = Stats()
        self.overlay = Overlay(getattr(patch.output, "overlay", False) if overlay is None else overlay)
        self.overlay_in_output = False
        self.door = InputDoor(self.stats, event_log)
        self.playback = LatentPlayback(self.stats)
        self.ticker = Tick(self.fps)
        self.inputs: list = []  # objects with close()
        self.parts: list[EnginePart] = []
        self.feedback = None
        self.stage = None        # the stage part, when show.py attached one (live shows)
        self.last_pixels: np.ndarray | None = None
        self.output_texture = None
        self.tick_events: list = []   # this tick's drained events (after coalescing)
        self.last_request = None      # this tick's LatentRequest
        self._out_target = None  # (texture, framebuffer) when a part wants the output as a texture
        self._stop = False
        self._error_times: dict[str, float] = {}
        self._report_window = [-1e9, 0, 0]  # [window start, lines written in it, lines held back]
        self._open_sources(feature_track, replay)

        self.generator = generator
        self.space = LatentSpace(z_dim=generator.z_dim, w_dim=generator.w_dim, num_ws=generator.num_ws)
        self.trajectory = reload.make_trajectory(self, patch)
        self.worker = InferenceWorker(generator, synchronous=offline)

        self.gl = GLKeeper(upload_frame)
        self.open_gl()

        self.music = MusicalTime(patch.clock)
        self.registry = ParamRegistry()   # every parameter of the show: the one table all read
        self.mapper_version = -1
        reload.set_core_specs(self)
        self.rebuild_mapper()
        reload.report_unknown_targets(self)
        self.params = ParamState(values={n: s.default for n, s in self.specs.items() if s.kind != "trigger"},
                                 tempo=self.music.tempo.bpm, beats_per_bar=int(patch.clock.beats_per_bar))
        self.music.attach(self)  # clock events, and the file's beats offline (live inputs attach again: a no-op)

    def _open_sources(self, feature_track, replay) -> None:
        """An offline feature track and a replayed log are sources of the input door."""
        if feature_track is not None:
            def features(t: float, track=feature_track):
                k = self.ticker.frame_index
                return track.events_for_frame(k, t) if k < len(track) else ()
            self.door.add_source(features)
        if replay is not None:
            self.door.add_source(replay.events_until)

    # -- parameters and parts -------------------------------------------------------------------

    @property
    def specs(self):
        """Every parameter of the show by name: the registry's table (read-only)."""
        return self.registry.specs

    def add_queue(self, name: str = "") -> EventQueue:
        """An EventQueue of the input door (any thread may put on it)."""
        return self.door.add_queue(name)

    def add_part(self, part: EnginePart) -> EnginePart:
        """Attach a part (controllers, musical time sources, stage outputs...).  Its parameters
        join the registry (the mapper is rebuilt, keeping its memory) and it is closed with the show."""
        specs = list(part.param_specs())
        if specs:
            before = self.specs
            self.registry.set_group(part_owner(part), specs)
            new = [s for s in specs if s.name not in before and self.specs.get(s.name) is s]
            self.rebuild_mapper()
            defaults = {s.name: s.default for s in new if s.kind != "trigger"}
            self.params = self.params.evolve(values={**defaults, **self.params.values})
        self.parts.append(part)
        return part

    def rebuild_mapper(self) -> None:
        """The mapper for the patch's mappings and the registry as it is now (keeping the old
        mapper's memory).  The tick calls it whenever the registry's version moved."""
        from ..patch import Mapper
        old = getattr(self, "mapper", None)
        self.mapper_version = self.registry.version
        self.mapper = Mapper(self.patch.mappings, self.specs, tempo_sources=self.music.tempo_sources)
        if old is not None:
            self.mapper.carry_from(old)

    _build_mapper = rebuild_mapper  # the name parts used before

    def apply_patch(self, new) -> list[str]:
        """An edited patch applied to the running show (see reload.apply_patch)."""
        return reload.apply_patch(self, new)

    def swap_generator(self, generator, why: str) -> None:
        """Play another generator from the next tick on (see reload.swap_generator)."""
        reload.swap_generator(self, generator, why)

    def refresh_specs(self, old_specs=None) -> bool:
        """The registry recollected after a change (see reload.refresh_specs)."""
        return reload.refresh_specs(self, old_specs)

    @property
    def tempo(self):
        return self.music.tempo

    @property
    def frame_index(self) -> int:
        return self.ticker.frame_index

    @property
    def trajectory_mode(self):
        """The trajectory's mode (keyframes, atlas, ...), or None for a trajectory without modes
        (a stand-in trajectory, a plugin's own): what the overlay and control room draw from."""
        return getattr(self.trajectory, "mode", None)

    @property
    def blackout_shown(self) -> float:
        """engine/blackout as it is on screen (it fades)."""
        return self.ticker.blackout

    # -- what parts ask for -----------------------------------------------------------------------

    @property
    def wants_pixels(self) -> bool:
        """True when this frame's output is read back (offline, recording, or a part asks)."""
        return self.offline or self.recorder is not None or any(p.wants_pixels for p in self.parts)

    @property
    def wants_texture(self) -> bool:
        return any(p.wants_texture for p in self.parts)

    def open_gl(self) -> None:
        """The engine's objects in `surface.ctx`: the frame texture, the crossfade, the shader
        chain (at start, and again on a new context: glcontext.py); the old ones are dropped,
        not released (they may belong to a context that is gone)."""
        from ..render import FrameTexture, ShaderChain
        from ..render.upload import FrameBlend
        ctx = self.surface.ctx
        old = getattr(self, "texture", None)
        if old is not None:
            old.abandon()
        self.texture = FrameTexture(ctx)
        self.blend = FrameBlend(ctx)
        self.chain = ShaderChain(ctx, list(self.patch.output.shaders), size=self.surface.size)
        self.chain.work_scale = _work_scale(self.patch.output, ctx, self.offline)
        for msg in self.chain.errors:
            self.report(msg)
        self._out_target = None
        self.output_texture = None
        self.overlay.context_renewed()

    def _offscreen_target(self):
        size = tuple(self.surface.size)
        if self._out_target is None or self._out_target[0].size != size:
            self._release_offscreen()
            from ..render.shaders import render_target
            self._out_target = render_target(self.surface.ctx, size)
        return self._out_target

    def _release_offscreen(self) -> None:
        if self._out_target is not None:
            self._out_target[1].release()
            self._out_target[0].release()
            self._out_target = None

    # -- the frame --------------------------------------------------------------------------------

    def step(self) -> np.ndarray | None:
        """One tick (tick.py).  Returns the output pixels when something reads them back
        (offline, recording, a part with `wants_pixels`), else None."""
        return self.ticker.step(self)

    def advance(self) -> None:
        """One tick without a picture (tick.py `Tick.advance`): a follower catching up."""
        self.ticker.advance(self)

    def render_output(self, source, params: ParamState, t: float) -> np.ndarray | None:
        """The shader chain from `source` to the surface (through the offscreen texture when a
        part wants it), the read-back, then the overlay."""
        surface = self.surface
        if self.wants_texture:
            tex, fbo = self._offscreen_target()
            self.chain.render(source, params, t, fbo, (0, 0, *tex.size))
            surface.ctx.copy_framebuffer(surface.target, fbo)
            self.output_texture = tex
        else:
            self.chain.render(source, params, t, surface.target, surface.viewport())
            self.output_texture = None
        pixels = surface.read_pixels() if self.wants_pixels else None
        if self.overlay.wanted(self):
            self.overlay.draw(self)
            if self.overlay_in_output:
                pixels = surface.read_pixels()
        self.last_pixels = pixels
        return pixels

    def record(self, pixels: np.ndarray) -> None:
        size = getattr(self.recorder, "size", None)
        if size is not None and (pixels.shape[1], pixels.shape[0]) != tuple(size):
            self.report(f"recording: the output is now {pixels.shape[1]}x{pixels.shape[0]}, the video "
                        f"{size[0]}x{size[1]}: those frames are left out (r twice starts a new file)")
            return
        self.recorder.push(pixels)

    # -- the overlay and notices (overlay.py) -------------------------------------------------------

    @property
    def hud_visible(self) -> bool:
        return self.overlay.visible

    @hud_visible.setter
    def hud_visible(self, visible: bool) -> None:
        self.overlay.toggle(visible)

    def toggle_overlay(self, visible: bool | None = None) -> None:
        self.overlay.toggle(visible)

    def notice(self, text: str, seconds: float = 3.0, urgent: bool = False) -> None:
        """A message on the overlay for a few seconds (urgent: shown even when the overlay is
        off, e.g. the quit confirmation); also logged."""
        self.overlay.notice(text, seconds, urgent)

    def clear_notice(self, text: str) -> None:
        self.overlay.clear_notice(text)

    def notices(self) -> list[str]:
        """The notices showing now (the control room lists them)."""
        now = time.monotonic()
        return [text for text, until, _ in self.overlay.notices if until >= now]

    def overlay_lines(self, fresh: bool = False) -> list[str]:
        """The status overlay's text (rebuilt a few times a second)."""
        return self.overlay.lines(self, fresh)

    def report(self, message: str) -> None:
        """Show a problem once in a while (not every frame), and keep it for the overlay.  The same
        message at most every 5 s; all messages together at most REPORTS_PER_5S lines per 5 s
        (a flood of different ones, say from a hostile OSC sender, is counted and summed up);
        a message is cut to 300 characters."""
        if len(message) > 300:
            message = message[:300] + "..."
        now = time.monotonic()
        if now - self._report_window[0] >= 5.0:
            if self._report_window[2]:
                log.warning("... and %d more problems in the last 5 s", self._report_window[2])
            self._report_window = [now, 0, 0]
            if len(self._error_times) > 256:  # never grows without bound under a flood
                self._error_times = {m: t for m, t in self._error_times.items() if now - t <= 5.0}
        if now - self._error_times.get(message, -1e9) > 5.0:
            self._error_times[message] = now
            if self._report_window[1] >= REPORTS_PER_5S:
                self._report_window[2] += 1
                return
            self._report_window[1] += 1
            log.warning("%s", message)
            self.stats.errors.append(message)
            if hasattr(self, "overlay"):
                self.overlay.mark_dirty()
            if self.feedback is not None:
                try:
                    self.feedback.send_error(message)
                except Exception:
                    pass

    # -- running ----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """End `run()` after this tick (and close the window)."""
        self._stop = True
        self.surface.request_close()

    def run(self, seconds: float | None = None, on_frame: Callable[[int], None] | None = None) -> None:
        """Live loop, paced to `fps` by its own clock; on a surface with vsync it wakes
        VSYNC_EARLY_S early and lets the swap wait for the refresh, so the two clocks drifting
        apart never make it miss one (the display's rate wins when it is lower than `fps`).
        The generator never holds it up: latest wins, and in-between frames are filled per
        `interpolation`."""
        early = VSYNC_EARLY_S if getattr(self.surface, "swap_interval", 0) else 0.0
        deadline = time.perf_counter()
        start = deadline
        while not self._stop and not self.surface.should_close():
            self.handle_keys()
            self.step()
            now = time.perf_counter()
            if on_frame:
                on_frame(self.stats.frames)
            if seconds is not None and now - start >= seconds:
                break
            period = 1.0 / self.fps  # a reloaded patch may have changed the rate
            deadline += period
            sleep = deadline - early - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
            elif sleep < -period:  # fell behind: don't try to catch up with a burst of frames
                deadline = time.perf_counter()

    def handle_keys(self) -> None:
        """Keys pressed on the surface go to the parts in order (the stage part has f, h, r, s,
        b, space, left, right, q and escape); a key no part takes is ignored."""
        for key in self.surface.poll_keys():
            self.handle_key(key)

    def handle_key(self, key: str) -> bool:
        """One key (from the surface, or from another window such as a preview): offered to the
        parts in order; True when one took it."""
        for part in self.parts:
            try:
                if part.on_key(self, key):
                    return True
            except Exception as e:
                self.report(f"{type(part).__name__}: key {key!r}: {e!r}")
        return False

    def close(self) -> None:
        for inp in [*self.parts, *self.inputs]:
            try:
                inp.close()
            except Exception as e:
                log.debug("closing %r: %s", inp, e)
        self.worker.close()
        if self.recorder is not None:
            self.recorder.close()
        if self.event_log is not None:
            self.event_log.close()
        self.overlay.release()
        self._release_offscreen()
        self.blend.release()


def _work_scale(output, ctx, offline: bool) -> float:
    """[output] work_scale: "auto" runs the shader passes at half size (a quarter of the
    fragments) on a software rasteriser in a live show, where 720p would not keep its frame rate,
    and at full size on a GPU and offline (where quality, not time, counts)."""
    from ..render.surface import software_renderer
    value = getattr(output, "work_scale", "auto")
    if value != "auto":
        return float(value)
    return 0.5 if not offline and software_renderer(ctx) else 1.0
