"""The control room attached to a show: the part between the engine and control.ControlRoom.

The room (control/) is an input and a feedback target and knows nothing of the engine; this
part is the engine's side.  On each tick it:
- hands the room's recalls and page commands to the show (`ControlSession.tick`): recall morphs
  come back as `param/` events of this tick, learn arms the controllers' learn mode, keyframe
  edits rewrite the patch (the patch watcher reloads it);
- after the frame, publishes a state snapshot (built only when one is due and a page is open);
  when a preview is due it asks for the output as a texture (`wants_texture`, that tick only)
  and starts a small read-back of it (render.readback: scaled on the GPU, into a pixel buffer)
  that is collected on the next tick, so the tick never waits for the GPU or copies 720p.

Scenes are also recalled over OSC (`/lp/scene/recall "name" [seconds]`, a command: a string
argument) and by the trigger `control/scene/recall <n>` (the n-th scene of the file, from 1;
what a MIDI pad maps to).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ..events import ControlEvent, ParamSpec
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

SCENE_TRIGGER = "control/scene/recall"
AUDIO_PREFIX = "audio/"


def open_control_room(engine, *, listen: str | None, patch_path: str | None):
    """The control room of a live show, when `--control` asks for it (listen: "[HOST:]PORT", or
    "" for the patch's [control] listen, by default 127.0.0.1:8400) or the patch's [control]
    does; None otherwise.  Prints the URL to open.  The built-in patch keeps its scenes in the
    current folder and its keyframes are not edited (copy it to make it yours)."""
    from ..config import DEFAULT_PATCH
    from ..control import ControlRoom, SceneBook, parse_listen, scenes_path_for
    section = engine.patch.control
    if listen is None and not section.enabled:
        return None
    host, port = parse_listen(listen or section.listen)
    own = patch_path is not None and Path(patch_path).resolve() != Path(DEFAULT_PATCH).resolve()
    scenes = section.scenes or (scenes_path_for(patch_path) if own else Path.cwd() / "default.scenes.toml")
    book = SceneBook(scenes)
    if book.problem:
        engine.report(book.problem)
    room = ControlRoom(engine.add_queue(), engine.clock, host=host, port=port, token=section.token,
                       scenes=book, preview_fps=section.preview_fps, preview_width=section.preview_width)
    room.start()
    part = engine.add_part(ControlRoomPart(room, patch_path if own else None))
    where = "" if room.token is None else " (anyone with this URL can play the show)"
    print(f"control room: {room.url}{where}", flush=True)
    log.info("control room on %s:%d, scenes in %s", room.host, room.port, scenes)
    return part


def control_specs() -> list[ParamSpec]:
    from ..patch.params import CONTROL_SPECS
    return list(CONTROL_SPECS)


class ControlRoomPart(EnginePart):
    """Attach with `engine.add_part(ControlRoomPart(room, patch_path))` after `room.start()`."""

    def __init__(self, room, patch_path: str | None = None) -> None:
        from ..control import ControlSession
        self.room = room
        self.session = ControlSession(room)
        self.patch_path = Path(patch_path) if patch_path else None
        self._specs_key = None
        self._activity = None
        self._activity_key = None
        self._audio: dict[str, float] = {}
        self._kf_seen: tuple | None = None
        self._take = False        # this tick's output goes to the preview (claimed in poll)
        self._reader = None       # render.readback.ScaledReadback, made on first use
        self._taken_at = -1       # frame index of the read-back in flight

    # -- the part protocol ------------------------------------------------------------------

    def param_specs(self):
        return control_specs()

    @property
    def wants_texture(self) -> bool:
        return self._take

    def poll(self, engine, t: float) -> list[ControlEvent]:
        self._sync_specs(engine)
        if not self._take and self._taken_at < 0:
            self._take = self.room.claim_frame(t)
        values = engine.params.values
        surfaces = _surfaces(engine)
        if surfaces is not None:
            for cmd in surfaces.take_commands("/lp/scene/"):
                self.osc_recall(engine, cmd.args, t)
        for name, arg in engine.params.triggers:
            if name == SCENE_TRIGGER:
                self._recall_index(engine, arg, t, values)
        events, commands = self.session.tick(t, values)
        for cmd in commands:
            try:
                self._command(engine, cmd, t)
            except Exception as e:  # a bad edit is a message on the page, never an end of the show
                msg = str(e) if type(e).__name__ == "UserError" else f"{cmd.kind}: {e!r}"
                self.room.send_error(msg)
                engine.report(msg)
        return events

    def after_frame(self, engine, params, t: float) -> None:
        self._see_events(engine)
        self.session.publish(t, lambda: self._state(engine, params, t))
        self._preview(engine)
        self._keyframes(engine)

    def context_renewed(self, engine) -> None:
        self._reader, self._taken_at = None, -1  # its buffers were in the old context

    def _preview(self, engine) -> None:
        if self._take:
            self._take = False
            texture = engine.output_texture
            if texture is None:
                self.room.send_frame(None)
                return
            if self._reader is None:
                from ..render.readback import ScaledReadback
                self._reader = ScaledReadback(engine.surface.ctx, self.room.preview_width)
            self._reader.take(texture)
            self._taken_at = engine.frame_index
        elif self._taken_at >= 0 and engine.frame_index - self._taken_at >= 1:
            self._taken_at = -1
            pixels = self._reader.result()
            self.room.send_frame(pixels)
            if pixels is not None:
                self._thumbnail(engine, pixels)

    def status_lines(self, engine) -> list[str]:
        n = self.room.pages
        return [f"control room {self.room.url.split('?')[0]}: {n} page{'s' if n != 1 else ''}"]

    def close(self) -> None:
        self.room.close()
        if self._reader is not None:
            self._reader.release()
            self._reader = None

    # -- commands ---------------------------------------------------------------------------

    def osc_recall(self, engine, args, t: float) -> None:
        """`/lp/scene/recall "name" [seconds]` from the OSC router's commands."""
        if not args or not isinstance(args[0], str):
            engine.report('/lp/scene/recall expects a scene name (a string) and optional seconds')
            return
        seconds = args[1] if len(args) > 1 and isinstance(args[1], (int, float)) else 0.0
        problem = self.session.recall(args[0], max(0.0, float(seconds)), t, engine.params.values)
        if problem:
            engine.report(f"/lp/scene/recall: {problem}")

    def _recall_index(self, engine, arg: float, t: float, values) -> None:
        names = self.room.scenes.names()
        k = int(round(arg))
        if not 1 <= k <= len(names):
            engine.report(f"{SCENE_TRIGGER} {k}: the scenes file has {len(names)} scenes (1..{len(names)})")
            return
        self.session.recall(names[k - 1], 0.0, t, values)

    def _command(self, engine, cmd, t: float) -> None:
        from ..control import keyframes as kf
        from ..config import UserError
        if cmd.kind == "learn":
            self._learn(engine, cmd.args[0])
        elif cmd.kind == "learn/cancel":
            self._learn(engine, None)
        elif cmd.kind in ("keyframe/add", "keyframe/delete", "keyframe/move"):
            if self.patch_path is None:
                raise UserError("keyframe edits are written into the patch: this show plays the built-in one; "
                                "run a copy of patches/default.toml of your own to edit its keyframes")
            seeds = [engine.trajectory.seed + i for i in range(4)] if not engine.patch.keyframes else []
            if cmd.kind == "keyframe/add":
                request = engine.last_request
                z = request.z if request is not None else None
                if z is None:
                    raise UserError("the show has no current latent point yet")
                i = kf.add_keyframe(self.patch_path, z, seeds)
                engine.notice(f"keyframe {i} added to {self.patch_path.name}")
            elif cmd.kind == "keyframe/delete":
                kf.delete_keyframe(self.patch_path, cmd.args[0], seeds)
                engine.notice(f"keyframe {cmd.args[0]} deleted from {self.patch_path.name}")
            else:
                kf.move_keyframe(self.patch_path, cmd.args[0], cmd.args[1], seeds)
        else:
            raise UserError(f"this show cannot do {cmd.kind} yet")

    def _learn(self, engine, name: str | None) -> None:
        surfaces = _surfaces(engine)
        if surfaces is None:
            from ..config import UserError
            raise UserError("MIDI learn needs the show's controllers (not open in this show)")
        if name is None:
            surfaces.cancel_learn(engine)
        else:
            surfaces.learn_param(engine, name, engine.clock.now())

    def _learn_status(self, engine) -> str | None:
        surfaces = _surfaces(engine)
        return surfaces.learn.status if surfaces is not None and surfaces.learn.armed else None

    # -- state ------------------------------------------------------------------------------

    def _sync_specs(self, engine) -> None:
        key = engine.registry.version
        if key != self._specs_key:   # the registry changed (a reload, a part): the pages rebuild
            self._specs_key = key
            self._map_picture(engine)
            self.room.set_specs(sorted(engine.specs.values(), key=lambda s: s.name))
        mkey = id(engine.patch)
        if mkey != self._activity_key:
            from ..control import Activity
            from ..patch.mapping import match_source
            self._activity_key = mkey
            rows = [(m.source, m.target, m.effective_mode) for m in engine.patch.mappings]
            self._activity = Activity(rows, lambda pat, addr: match_source(pat, addr) is not None)

    def _map_picture(self, engine) -> None:
        """The trajectory mode's map (the atlas's regions) for the page's map panel, as PNG."""
        draw = getattr(engine.trajectory_mode, "map_picture", None)
        png = None
        if draw is not None:
            try:
                import io
                from PIL import Image
                buf = io.BytesIO()
                Image.fromarray(draw()).save(buf, format="PNG")
                png = buf.getvalue()
            except Exception as e:  # no picture: the page draws a plain grid
                engine.report(f"control room: the map picture: {e!r}")
        self.room.set_atlas_image(png)

    def _see_events(self, engine) -> None:
        events = engine.tick_events
        if self._activity is not None:
            self._activity.see(events)
        for e in events:
            if e.address.startswith(AUDIO_PREFIX):
                self._audio[e.address[len(AUDIO_PREFIX):]] = e.scalar()

    def _state(self, engine, params, t: float) -> dict:
        s = engine.stats
        lat = list(s.latencies)
        stats = {"fps": s.fps, "frame_ms_p99": _pct(s.frame_times, 99) * 1e3, "stutter": s.stutter,
                 "gen_ms": s.gen_ms, "latency_ms": _pct(lat, 50) * 1e3 if lat else None}
        state = {
            "values": dict(params.values),
            "clock": {"tempo": params.tempo, "beat": params.beat, "beats_per_bar": params.beats_per_bar},
            "stats": stats,
            "audio": {k: v for k, v in self._audio.items() if isinstance(v, float) and math.isfinite(v)},
            "mappings": self._activity.table(t) if self._activity is not None else [],
            "takeover": _takeover(engine.mapper, params.values),
            "errors": list(s.errors),
            "notices": engine.notices(),
            "recording": engine.recorder is not None,
            "keyframe_current": engine.trajectory.current_keyframe(),
            "learn": self._learn_status(engine),
        }
        return state

    def _keyframes(self, engine) -> None:
        traj = engine.trajectory
        labels = [n or str(i) for i, n in enumerate(traj.keyframe_names)]
        current = traj.current_keyframe()
        key = (tuple(labels), current)
        if key != self._kf_seen:
            self._kf_seen = key
            self.room.set_keyframes(labels, current)

    def _thumbnail(self, engine, pixels) -> None:
        """The picture while the show rests on keyframe k is its thumbnail."""
        traj = engine.trajectory
        k = traj.current_keyframe()
        if self.room.wants_thumbnail(k) and _at_keyframe(traj):
            self.room.offer_thumbnail(k, pixels)


def _surfaces(engine):
    """The show's controllers part (OSC, MIDI, learn), or None."""
    from .controllers import ControlSurfaces
    return next((p for p in engine.parts if isinstance(p, ControlSurfaces)), None)


def _at_keyframe(traj) -> bool:
    z = getattr(traj, "_last_base", None)   # the loop's point before walk / xy / chroma
    if z is None:
        return False
    import numpy as np
    k = traj.current_keyframe()
    kz = traj.keyframes[k]
    return float(np.linalg.norm(np.asarray(z, dtype=np.float64) - kz)) < 0.05 * float(np.linalg.norm(kz) + 1e-9)


def _pct(values, q) -> float:
    import numpy as np
    values = list(values)
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def _takeover(mapper, values) -> dict:
    """Parameters a pickup control has not caught: {target: {mode, engaged, control, source}}."""
    out = {}
    owner = getattr(mapper, "_owner", {})
    for rule in getattr(mapper, "rules", ()):
        if rule.m.takeover != "pickup" or rule.last_control is None:
            continue
        engaged = rule.engaged and owner.get(rule.m.target) is rule
        if not engaged:
            out[rule.m.target] = {"mode": "pickup", "engaged": False, "control": rule.last_control,
                                  "source": rule.m.source}
    return out
