"""Controllers in a show: the OSC server and MIDI ports the patch names, state feedback to hosts
and controllers, and MIDI (and OSC) learn.

Parts attached to the engine (see core.EnginePart):

  ControlSurfaces   drains the OSC and MIDI inputs itself (so learn mode sees every control
                    event before the mapper does), runs the OSC commands (/lp/learn ...),
                    learn mode, and key `l`
  MidiLedFeedback   after each frame, every MIDI-mapped parameter's value goes back to the
                    control it is mapped from (LEDs, motor faders), only on change
  OscStateFeedback  beat, tempo, fps, current keyframe and changed parameters to OSC hosts

Learn mode: armed for one parameter (`/lp/learn <name or /lp address>`, or key `l`), the next
MIDI control moved on purpose (or OSC address outside /lp/ sent) becomes that parameter's mapping:
written into the patch file with its comments kept, and live at once (the mapper is rebuilt from
the new `engine.patch`, keeping its memory).  While armed, control events that could be learned
are held back from the mapper, so searching for the right fader does not move the show.
"""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import replace
from pathlib import Path

from ..config import UserError
from ..events import ControlEvent, EventQueue, ParamSpec, ParamState
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

HOTPLUG_POLL = 1.0       # seconds between two looks for MIDI ports that come and go
LEARN_TIMEOUT = 60.0     # an armed learn mode gives up after this long
ECHO_HOLDOFF = 0.25      # no value feedback to a fader for this long after it moved (motor faders)
LEARN_KEY = "l"


# -- MIDI feedback: the value a control should show --------------------------------------------------


def _inverse_curve(curve: str, y: float) -> float:
    """t with apply_curve(curve, t) == y, for y in 0..1."""
    from ..patch.mapping import EXP_K
    norm = math.expm1(EXP_K)
    if curve == "exp":
        return math.log1p(norm * y) / EXP_K
    if curve == "log":
        return math.expm1(EXP_K * y) / norm
    if curve == "smooth":
        return 0.5 - math.sin(math.asin(min(max(1.0 - 2.0 * y, -1.0), 1.0)) / 3.0)
    return y


def _unit(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


def feedback_kind(mapping) -> str | None:
    """How a mapping's control shows its parameter: "value" (fader position, LED ring),
    "toggle" (lit at the high end), "keyframe" (lit while that keyframe is current), "beat"
    (tap button: lit for the first half of each beat), or None (nothing to show)."""
    if mapping.bang or "*" in mapping.source:
        return None
    mode = mapping.effective_mode
    if mode == "value":
        # relative: a press is a step, not a position (a << button would stay lit forever)
        return None if mapping.takeover == "relative" else "value"
    if mode == "toggle":
        return None if mapping.range is not None and mapping.range[0] == mapping.range[1] else "toggle"
    if mapping.target == "latent/keyframe" and isinstance(mapping.arg, float):
        return "keyframe"
    if mapping.target == "clock/tap":
        return "beat"
    return None


def feedback_value(mapping, spec: ParamSpec, params: ParamState, keyframe: int | None = None) -> float | None:
    """The 0..1 value to send to `mapping`'s control for the show's state now, or None.

    value: the parameter back through range, curve, invert and input (the mapping's inverse);
    toggle: 1 at the range's high end, else 0; keyframe: 1 while the keyframe the button glides
    to is current; beat: 1 for the first half of each beat.
    """
    kind = feedback_kind(mapping)
    if kind is None:
        return None
    if kind == "keyframe":
        if keyframe is None:
            return None
        return 1.0 if int(keyframe) == int(round(mapping.arg + mapping.arg_offset)) else 0.0
    if kind == "beat":
        return 1.0 if params.beat_phase < 0.5 else 0.0
    value = params.values.get(mapping.target)
    if value is None:
        return None
    lo, hi = mapping.range if mapping.range is not None else (spec.min, spec.max)
    if kind == "toggle":
        t = 1.0 if abs(value - hi) < abs(value - lo) else 0.0
    else:
        if hi == lo:
            return None
        t = _inverse_curve(mapping.curve, _unit((value - lo) / (hi - lo)))
        if mapping.invert:
            t = 1.0 - t
    a, b = mapping.input
    return _unit(a + t * (b - a))


class MidiLedFeedback(EnginePart):
    """After each frame, every MIDI-mapped parameter's value goes back to its control.

    One entry per control address (the first mapping, in patch order, that has something to
    show); 14-bit pairs go out as 14-bit.  MidiFeedback sends only what changed and resends
    everything when a port comes back.  A fader that moved within ECHO_HOLDOFF seconds gets no
    value feedback (a motor fader must not fight the hand; buttons light at once).
    """

    def __init__(self, outputs, cc14=(), touched: dict[str, float] | None = None,
                 holdoff: float = ECHO_HOLDOFF) -> None:
        self.outputs = list(outputs)
        self.cc14 = {(int(ch), int(msb)) for ch, msb in cc14}
        self.touched = touched if touched is not None else {}
        self.holdoff = holdoff
        self._patch = None
        self._registry_version = -1
        self.table: list[tuple[str, str, int, int, object, ParamSpec, bool]] = []

    def _rebuild(self, engine) -> None:
        self._patch, self._registry_version = engine.patch, engine.registry.version
        from ..inputs.midi import midi_control
        seen: set[str] = set()
        self.table = []
        for m in engine.patch.mappings:
            control = midi_control(m.source)
            spec = engine.specs.get(m.target)
            shows = feedback_kind(m)
            if control is None or spec is None or m.source in seen or shows is None:
                continue
            kind, ch, n = control
            if kind == "cc" and (ch, n) in self.cc14:
                kind = "cc14"
            seen.add(m.source)
            self.table.append((m.source, kind, ch, n, m, spec, shows == "value"))

    def after_frame(self, engine, params: ParamState, t: float) -> None:
        if engine.patch is not self._patch or engine.registry.version != self._registry_version:
            self._rebuild(engine)
        if not self.table:
            return
        keyframe = None
        try:
            keyframe = engine.trajectory.current_keyframe()
        except Exception:
            pass
        for address, kind, ch, n, m, spec, fader in self.table:
            if fader and t - self.touched.get(address, -1e9) < self.holdoff:
                continue
            v = feedback_value(m, spec, params, keyframe)
            if v is None:
                continue
            for out in self.outputs:
                if kind == "cc14":
                    out.send_cc14(ch, n, v)
                elif kind == "cc":
                    out.send_cc(ch, n, v)
                else:
                    out.send_note(ch, n, v)

    def close(self) -> None:
        for out in self.outputs:
            out.close()


class OscStateFeedback(EnginePart):
    """Sends the show's state to the patch's OSC targets after every frame (on change)."""

    def __init__(self, feedback) -> None:
        self.feedback = feedback

    def after_frame(self, engine, params: ParamState, t: float) -> None:
        extra = {"fps": engine.stats.fps}
        try:
            extra["keyframe"] = engine.trajectory.current_keyframe()
        except Exception:
            pass
        try:
            self.feedback.send_state(params, extra)
        except OSError as e:
            engine.report(f"OSC feedback: {e}")

    def close(self) -> None:
        self.feedback.close()


# -- learn -------------------------------------------------------------------------------------------


def learnable_names(specs: dict, shader_passes) -> list[str]:
    """Parameters a mapping may drive, in the order key `l` cycles through them."""
    from ..patch.params import target_problem
    return sorted(n for n, s in specs.items()
                  if len(s.args) <= 1 and target_problem(n, tuple(shader_passes)) is None)


def resolve_param(text: str, specs: dict) -> str:
    """A parameter name from what a performer typed: its name or its /lp address."""
    from ..patch.reader import suggest
    text = text.strip()
    if text.startswith("/"):
        for s in specs.values():
            if s.osc == text and len(s.args) <= 1:
                return s.name
        several = [s for s in specs.values() if s.osc == text]
        if several:
            raise UserError(f"{text} sets {len(several[0].args)} values at once: learn each of them "
                            f"(e.g. {several[0].name}/x)")
        addresses = sorted(s.osc for s in specs.values() if s.osc)
        raise UserError(f"no parameter answers to {text}" + suggest(text, addresses))
    name = text[len("param/"):] if text.startswith("param/") else text
    if name in specs and len(specs[name].args) <= 1:
        return name
    raise UserError(f'unknown parameter "{name}"' + suggest(name, sorted(specs)))


def mapping_index(patch, target: str) -> int | None:
    """The first mapping driving `target` (the one learn re-points), or None."""
    return next((i for i, m in enumerate(patch.mappings) if m.target == target), None)


def learned_mapping(patch, found, existing_index: int | None):
    """(the validated Mapping, the options written to the file) for a learned control."""
    from ..inputs.learn import options_for
    from ..patch import Mapping
    existing = patch.mappings[existing_index].to_dict() if existing_index is not None else None
    options = options_for(found, existing)
    data = dict(existing) if existing else {"target": found.target}
    data["source"] = found.source
    for key, value in options.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    return Mapping.from_dict(data, shader_passes=tuple(patch.output.shaders)), options


def apply_learned(engine, found) -> str:
    """Write a learned mapping into the patch file and make it live; returns the status line.
    Raises UserError when the mapping would be invalid (nothing changes then)."""
    from ..inputs.learn import write_mapping
    patch = engine.patch
    index = mapping_index(patch, found.target)
    mapping, options = learned_mapping(patch, found, index)
    mappings = list(patch.mappings)
    if index is None:
        mappings.append(mapping)
    else:
        mappings[index] = mapping
    where = "live only: the patch has no file"
    if patch.source_path is not None:
        try:
            write_mapping(patch.source_path, found.source, found.target, **options)
            where = f"saved in {Path(patch.source_path).name}"
        except UserError as e:
            where = f"live only, not saved: {e}"
    engine.patch = replace(patch, mappings=tuple(mappings))
    engine._build_mapper()
    return f"learned {found.source} -> {found.target} ({where})"


class LearnMode:
    """Learn mode's state: which parameter is armed, the Learner watching events, the status."""

    def __init__(self, timeout: float = LEARN_TIMEOUT) -> None:
        self.timeout = timeout
        self.target: str | None = None
        self.learner = None
        self.armed_at = 0.0
        self.status = "learn: off"
        self.results: list[str] = []   # every status line, oldest first (tests, overlay)

    @property
    def armed(self) -> bool:
        return self.target is not None

    def arm(self, target: str, now: float) -> str:
        from ..inputs.learn import Learner
        self.target = target
        self.learner = Learner(target)
        self.armed_at = now
        return f"learning {target}: move a control"

    def disarm(self) -> None:
        self.target = None
        self.learner = None

    @staticmethod
    def candidate(e: ControlEvent) -> bool:
        """Could this event be the control to learn (a performer's hand, not a clock or /lp/)?"""
        from ..inputs.learn import IGNORED_PREFIXES
        return e.address.startswith(("midi/", "osc/")) and not e.address.startswith(IGNORED_PREFIXES)


class ControlSurfaces(EnginePart):
    """The show's controllers: drains the OSC and MIDI inputs (every tick, never blocking), runs
    OSC commands, learn mode and key `l`, and remembers what was touched last (for key `l` and
    for the feedback's echo hold-off)."""

    def __init__(self, *, learn_timeout: float = LEARN_TIMEOUT) -> None:
        self.queues: list[EventQueue] = []
        self.osc = None
        self.learn = LearnMode(learn_timeout)
        self.touched: dict[str, float] = {}   # control address -> engine time it last sent
        self.recent: str | None = None        # parameter changed last over OSC or by a mapping
        self.ports: list = []                 # MIDI inputs and outputs (their `status` goes on the overlay)
        self._notice: str | None = None
        self._targets: dict[str, str | None] = {}
        self._targets_patch = None
        self.other_commands: collections.deque = collections.deque(maxlen=64)  # for other parts (take_commands)

    def add_queue(self) -> EventQueue:
        q = EventQueue()
        self.queues.append(q)
        return q

    # -- the tick ------------------------------------------------------------------------------

    def poll(self, engine, t: float) -> list[ControlEvent]:
        events: list[ControlEvent] = []
        for q in self.queues:
            events.extend(q.iter_pending())
        if len(self.queues) > 1:
            events.sort(key=lambda e: e.time)
        # (a MIDI clock's beats and tempo reach the musical time with the rest of the tick's
        # events: Engine.step hands them to MusicalTime.update)
        if self.osc is not None:
            for cmd in self.osc.pop_commands():
                self._command(engine, cmd, t)
        if self.learn.armed and t - self.learn.armed_at > self.learn.timeout:
            target = self.learn.target
            self.learn.disarm()
            self._say(engine, f"learn timed out ({target}: no control moved in {self.learn.timeout:g} s)",
                      problem=True)
        out: list[ControlEvent] = []
        for e in events:
            if self.learn.armed and LearnMode.candidate(e):
                found = self.learn.learner.feed((e,))
                if found is not None:
                    self.learn.disarm()
                    self._commit(engine, found)
                continue  # held back while learning
            if e.source in ("midi", "osc"):
                self.touched[e.address] = e.time
                name = self._target_of(engine, e)
                if name is not None:
                    self.recent = name
            out.append(e)
        return out

    def on_key(self, engine, key: str) -> bool:
        if key != LEARN_KEY:
            return False
        self.press_learn(engine, engine.clock.now())
        return True

    def status_lines(self, engine) -> list[str]:
        lines = [f"learn   {self.learn.target}: move a control (l: next parameter)"] if self.learn.armed else []
        lines += [f"midi    {p.status}" for p in self.ports]
        return lines

    # -- learn -----------------------------------------------------------------------------------

    def press_learn(self, engine, now: float) -> None:
        """Key `l` (and `/lp/learn` with no argument): arm learn for the parameter changed last;
        when nothing was, or when already armed, step to the next parameter (after the last
        one, learn mode turns off)."""
        names = learnable_names(engine.specs, engine.patch.output.shaders)
        if self.learn.armed:
            current = self.learn.target
            later = [n for n in names if n > current]
            if not later:
                self.learn.disarm()
                self._say(engine, "learn cancelled")
                return
            self._say(engine, self.learn.arm(later[0], now))
            return
        target = self.recent if self.recent in names else (names[0] if names else None)
        self.recent = None
        if target is None:
            self._say(engine, "learn: this show has no parameter to map", problem=True)
            return
        self._say(engine, self.learn.arm(target, now))

    def learn_param(self, engine, text: str, now: float) -> None:
        try:
            name = resolve_param(text, engine.specs)
        except UserError as e:
            self._say(engine, f"learn: {e}", problem=True)
            return
        self._say(engine, self.learn.arm(name, now))

    def cancel_learn(self, engine) -> None:
        if self.learn.armed:
            self.learn.disarm()
            self._say(engine, "learn cancelled")

    def _commit(self, engine, found) -> None:
        try:
            self._say(engine, apply_learned(engine, found))
        except UserError as e:
            self._say(engine, f"learn: cannot map {found.source} -> {found.target}: {e}", problem=True)

    def take_commands(self, prefix: str) -> list:
        """The OSC commands under `prefix` this part does not run itself (another part's)."""
        mine = [c for c in self.other_commands if c.address.startswith(prefix)]
        for c in mine:
            self.other_commands.remove(c)
        return mine

    def _command(self, engine, cmd, now: float) -> None:
        if cmd.address == "/lp/learn/cancel":
            self.cancel_learn(engine)
        elif cmd.address == "/lp/learn":
            if cmd.args:
                self.learn_param(engine, cmd.args[0], now)
            else:
                self.press_learn(engine, now)
        else:  # another part's command (/lp/scene/recall: the control room): it takes it this tick
            self.other_commands.append(cmd)

    def _say(self, engine, status: str, problem: bool = False) -> None:
        """Learn's state on the overlay (shown even when it is off: the performer asked for it;
        kept up while armed), problems also as errors, and to OSC hosts as /lp/learn/status."""
        self.learn.status = status
        self.learn.results.append(status)
        if self._notice is not None:
            engine.clear_notice(self._notice)
        self._notice = status
        if problem:
            engine.report(status)
        engine.notice(status, seconds=self.learn.timeout if self.learn.armed else 4.0, urgent=True)
        if engine.feedback is not None:
            try:
                engine.feedback.send_learn_status(status)
            except OSError:
                pass

    # -- what a control drives -------------------------------------------------------------------

    def _target_of(self, engine, e: ControlEvent) -> str | None:
        a = e.address
        if a.startswith(("param/", "trigger/")):
            name = a.split("/", 1)[1]
            return name if name in engine.specs else None
        if engine.patch is not self._targets_patch:
            self._targets, self._targets_patch = {}, engine.patch
        if a not in self._targets:
            from ..patch.mapping import match_source
            self._targets[a] = next((m.target for m in engine.patch.mappings
                                     if match_source(m.source, a) is not None), None)
        return self._targets[a]


# -- opening what the patch names ----------------------------------------------------------------------


def open_controllers(engine, *, osc_host: str | None = None, osc_port: int | None = None) -> None:
    """Open the OSC server and MIDI ports the patch names, with their feedback.  A port that is
    missing is reported (and, for MIDI, waited for), not fatal."""
    from ..inputs.osc import COMMANDS
    inputs = engine.patch.inputs
    surfaces = ControlSurfaces()
    osc = inputs.osc
    if osc.enabled:
        from ..inputs.osc import OscFeedback, OscInput
        host = osc_host or osc.host
        port = osc.port if osc_port is None else osc_port
        try:
            osc_in = OscInput(surfaces.add_queue(), engine.clock, host=host, port=port,
                              specs=engine.registry, commands=COMMANDS)
            surfaces.osc = osc_in
            engine.inputs.append(osc_in)
            log.info("OSC: listening on %s:%d", host, osc_in.port)
        except (OSError, UserError) as e:
            engine.report(f"OSC: cannot listen on {host}:{port}: {e}; carrying on without OSC")
        if osc.targets:
            engine.feedback = OscFeedback(list(osc.targets))
            engine.add_part(OscStateFeedback(engine.feedback))
    midi = inputs.midi
    if midi.enabled:
        from ..inputs.midi import MidiFeedback, MidiInput
        for pattern in midi.inputs:
            try:
                inp = MidiInput(surfaces.add_queue(), engine.clock, pattern, cc14=midi.cc14, poll=HOTPLUG_POLL)
                engine.inputs.append(inp)
                surfaces.ports.append(inp)
            except Exception as e:  # a MIDI backend that cannot start is not fatal
                engine.report(f"MIDI: cannot open {pattern!r}: {e}")
        outs = []
        if midi.feedback:
            for pattern in midi.outputs:
                try:
                    outs.append(MidiFeedback(pattern, poll=HOTPLUG_POLL))
                    surfaces.ports.append(outs[-1])
                except Exception as e:
                    engine.report(f"MIDI: cannot open the output {pattern!r}: {e}")
        if outs:
            engine.add_part(MidiLedFeedback(outs, cc14=midi.cc14, touched=surfaces.touched))
    engine.add_part(surfaces)


def find_part(engine, kind: type):
    """The first attached part of `kind`, or None."""
    return next((p for p in engine.parts if isinstance(p, kind)), None)
