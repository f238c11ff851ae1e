"""Controllers in a show: the OSC server and MIDI ports the patch names, state feedback to hosts
and controllers, and MIDI (and OSC) learn.

Parts attached to the engine (see core.EnginePart):

  ControlSurfaces   drains the OSC and MIDI inputs itself (so learn mode sees every control
                    event before the mapper does), runs the OSC commands (/lp/learn ...),
                    learn mode, and key `l`
  MidiLedFeedback   after each frame, every MIDI-mapped parameter's value goes back to the
                    control it is mapped from (LEDs, motor faders), only on change
  OscStateFeedback  beat, tempo, fps, current keyframe and changed parameters to OSC hosts, and
                    two-way OSC: every OSC-mapped control gets its parameter back (the
                    mapping's inverse, patch/feedback.py), with the same echo hold-off as MIDI;
                    `/lp/state` sends everything again

Learn mode: armed for one parameter (`/lp/learn <name or /lp address>`, or key `l`), the next
MIDI control moved on purpose (or the first message to an OSC address outside /lp/) becomes that
parameter's mapping: written into the patch file with its comments kept, and live at once (the
mapper is rebuilt from the new `engine.patch`, keeping its memory).  What it replaces is said
(inputs/learn.plan_learned); `/lp/learn/undo` or key `u` puts the file and the show back.  A
two-value parameter (latent/xy) learns an XY pad at once, or two controls in turn.  While armed,
the other controls keep driving the show; only the message that is learned is held back.
Pressing learn again while armed (key `l`, `/lp/learn` without a name) cancels.
"""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import replace
from pathlib import Path

from ..config import UserError
from ..events import ControlEvent, ParamSpec, ParamState
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

HOTPLUG_POLL = 1.0       # seconds between two looks for MIDI ports that come and go
LEARN_TIMEOUT = 60.0     # an armed learn mode gives up after this long
ECHO_HOLDOFF = 0.25      # no value feedback to a fader for this long after it moved (motor faders)
LEARN_KEY = "l"
UNDO_KEY = "u"


# -- feedback: the value a control should show (the mapping run backwards, patch/feedback.py) --------

from ..patch.feedback import feedback_kind, feedback_value, osc_control_values, osc_feedback_table  # noqa: E402


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
    """Sends the show's state to the patch's OSC targets after every frame (on change), and
    every OSC-mapped control its parameter's value, in the control's own units (two-way OSC:
    TouchOSC faders and toggles follow the show).  A control moved within `holdoff` seconds
    waits (the host must not fight the hand)."""

    def __init__(self, feedback, touched: dict[str, float] | None = None, holdoff: float = ECHO_HOLDOFF) -> None:
        self.feedback = feedback
        self.touched = touched if touched is not None else {}
        self.holdoff = holdoff
        self._key = None
        self.table: dict = {}

    def after_frame(self, engine, params: ParamState, t: float) -> None:
        extra = {"fps": engine.stats.fps}
        try:
            extra["keyframe"] = engine.trajectory.current_keyframe()
        except Exception:
            pass
        key = (engine.patch, getattr(getattr(engine, "registry", None), "version", len(engine.specs)))
        if key != self._key:
            self._key, self.table = key, osc_feedback_table(engine.patch.mappings, engine.specs)
        try:
            self.feedback.send_state(params, extra)
            if self.table:
                values = osc_control_values(self.table, params, extra.get("keyframe"))
                held = {a for a in values if t - self.touched.get("osc" + a, -1e9) < self.holdoff}
                self.feedback.send_controls(values, skip=held)
        except OSError as e:
            engine.report(f"OSC feedback: {e}")

    def close(self) -> None:
        self.feedback.close()


# -- learn -------------------------------------------------------------------------------------------


def learnable_names(specs: dict, shader_passes) -> list[str]:
    """Parameters a mapping may drive (a two-value one learns as its parts), sorted."""
    from ..patch.params import learnable_names as names
    return names(specs, shader_passes)


def resolve_param(text: str, specs: dict) -> str:
    """A parameter name from what a performer typed: its name or its /lp address."""
    from ..patch.params import resolve_param as resolve
    try:
        return resolve(text, specs)
    except ValueError as e:
        raise UserError(str(e)) from None


def learn_plans(mappings: list[dict], found: tuple) -> list:
    """The plans for every part learned (in order; each sees the ones before it)."""
    from ..inputs.learn import plan_learned
    mappings, plans = list(mappings), []
    for f in found:
        plan = plan_learned(mappings, f)
        plans.append(plan)
        if plan.index is None:
            mappings.append(plan.data)
        else:
            mappings[plan.index] = plan.data
    return plans


def apply_learned(engine, found) -> tuple[str, object]:
    """Write learned mappings (one Learned, or a tuple of them: a two-value parameter's parts)
    into the patch file and make them live; returns (the status line, the undo record).
    Raises UserError when a mapping would be invalid (nothing changes then)."""
    from ..inputs.learn import file_mappings, write_plan
    from ..patch import Mapping
    found = tuple(found) if isinstance(found, (tuple, list)) else (found,)
    patch = engine.patch
    path = patch.source_path
    from_file = None
    if path is not None:
        try:
            from_file = file_mappings(path)
        except UserError:
            from_file = None                      # unreadable: plan on the live patch, say not saved
    live = [m.to_dict() for m in patch.mappings]
    plans = learn_plans(from_file if from_file is not None and len(from_file) == len(live) else live, found)
    mappings = list(patch.mappings)
    for plan in learn_plans(live, found):      # the same rules on the live list (indices may differ)
        m = Mapping.from_dict(plan.data, shader_passes=tuple(patch.output.shaders))
        if plan.index is None:
            mappings.append(m)
        else:
            mappings[plan.index] = m
    where, records = "live only: the patch has no file", []
    if path is not None:
        try:
            for plan in plans:
                records.append(write_plan(path, plan))
            where = f"saved in {Path(path).name}"
        except UserError as e:
            where = f"live only, not saved: {e}"
    undo = (patch, records)
    engine.patch = replace(patch, mappings=tuple(mappings))
    engine._build_mapper()
    what = ", ".join(f"{p.source} -> {p.target}" for p in plans)
    notes = [p.note for p in plans if p.note]
    return f"learned {what} ({'; '.join([*notes, where, 'undo: u or /lp/learn/undo'])})", undo


class LearnMode:
    """Learn mode's state: which parameter is armed, the Learner watching events, the status."""

    def __init__(self, timeout: float = LEARN_TIMEOUT) -> None:
        self.timeout = timeout
        self.target: str | None = None
        self.learner = None
        self.armed_at = 0.0
        self.status = "learn: off"
        self.results: list[str] = []   # every status line, oldest first (tests, overlay)
        self.history: list = []        # (patch before, file records) of each learn, for undo

    @property
    def armed(self) -> bool:
        return self.target is not None

    def arm(self, target: str, now: float, parts: tuple[str, ...] | None = None) -> str:
        from ..inputs.learn import Learner
        self.target = target
        self.learner = Learner(target, parts=parts)
        self.armed_at = now
        return self.prompt()

    def prompt(self) -> str:
        lr = self.learner
        if lr is None or len(lr.parts) == 1:
            return f"learning {self.target}: move a control"
        if not lr.results:
            return f"learning {self.target}: move an XY pad, or a control for {lr.waiting_for}"
        return f"learning {self.target}: now a control for {lr.waiting_for}"

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
        self.osc = None
        self.learn = LearnMode(learn_timeout)
        self.touched: dict[str, float] = {}   # control address -> engine time it last sent
        self.recent: str | None = None        # parameter changed last over OSC or by a mapping
        self.ports: list = []                 # MIDI inputs and outputs (their `status` goes on the overlay)
        self._notice: str | None = None
        self._targets: dict[str, str | None] = {}
        self._targets_patch = None
        self.other_commands: collections.deque = collections.deque(maxlen=64)  # for other parts (take_commands)

    # -- the tick ------------------------------------------------------------------------------

    def poll(self, engine, t: float) -> list[ControlEvent]:
        """The OSC commands (/lp/learn ...) and learn's time-out; the controllers' events come in
        through the engine's input door (their queues are the door's) and meet `filter`."""
        if self.osc is not None:
            for cmd in self.osc.pop_commands():
                self._command(engine, cmd, t)
            for line in self.osc.pop_problems():   # unknown addresses, bad arguments: on the overlay
                engine.report(line)
        if self.learn.armed and t - self.learn.armed_at > self.learn.timeout:
            target = self.learn.target
            self.learn.disarm()
            self._say(engine, f"learn timed out ({target}: no control moved in {self.learn.timeout:g} s)",
                      problem=True)
        return []

    def filter(self, engine, events: list[ControlEvent], t: float) -> list[ControlEvent]:
        """The input door's filter: while learn is armed, a control that could be learned is
        held back from the mapper (and fed to the learner); every control's time is noted (for
        key `l` and the feedback's echo hold-off)."""
        out: list[ControlEvent] = []
        for e in events:
            if self.learn.armed and LearnMode.candidate(e):
                learner = self.learn.learner
                before = len(learner.results)
                found = learner.feed((e,))
                if found is not None:
                    results = learner.results
                    self.learn.disarm()
                    self._commit(engine, results)
                    continue  # the message that was learned does not also drive the old mapping
                if len(learner.results) > before:
                    self._say(engine, self.learn.prompt())
                    continue
                # not (yet) the one: every other control keeps driving the show
            if e.source in ("midi", "osc"):
                self.touched[e.address] = e.time
                name = self._target_of(engine, e)
                if name is not None:
                    self.recent = name
            out.append(e)
        return out

    def on_key(self, engine, key: str) -> bool:
        if key == UNDO_KEY:
            self.undo_learn(engine)
            return True
        if key != LEARN_KEY:
            return False
        self.press_learn(engine, engine.clock.now())
        return True

    def status_lines(self, engine) -> list[str]:
        lines = [f"learn   {self.learn.prompt()[len('learning '):]} (l: cancel)"] if self.learn.armed else []
        lines += [f"midi    {p.status}" for p in self.ports]
        return lines

    # -- learn -----------------------------------------------------------------------------------

    def press_learn(self, engine, now: float) -> None:
        """Key `l` (and `/lp/learn` with no argument): arm learn for the parameter changed last
        (or the first one); pressed again while armed, it cancels."""
        if self.learn.armed:
            self.cancel_learn(engine)
            return
        names = learnable_names(engine.specs, engine.patch.output.shaders)
        target = self.recent if self.recent in names else (names[0] if names else None)
        self.recent = None
        if target is None:
            self._say(engine, "learn: this show has no parameter to map", problem=True)
            return
        self._arm(engine, target, now)

    def _arm(self, engine, target: str, now: float) -> None:
        from ..patch.params import learn_parts
        parts = learn_parts(target, engine.specs)
        self._say(engine, self.learn.arm(target, now, parts if len(parts) > 1 else None))

    def learn_param(self, engine, text: str, now: float) -> None:
        try:
            name = resolve_param(text, engine.specs)
        except UserError as e:
            self._say(engine, f"learn: {e}", problem=True)
            return
        self._arm(engine, name, now)

    def undo_learn(self, engine) -> None:
        """Put the patch file and the live show back to before the last learn."""
        from ..inputs.learn import undo_learn
        if not self.learn.history:
            self._say(engine, "learn: nothing to undo", problem=True)
            return
        patch, records = self.learn.history[-1]
        try:
            for record in reversed(records):
                undo_learn(record)
        except UserError as e:
            self._say(engine, f"learn: {e}", problem=True)
            return
        self.learn.history.pop()
        engine.patch = replace(engine.patch, mappings=patch.mappings)
        engine._build_mapper()
        what = "; ".join(r.plan.describe() for r in records) or "the live mapping"
        self._say(engine, f"learn undone: {what}")

    def cancel_learn(self, engine) -> None:
        if self.learn.armed:
            self.learn.disarm()
            self._say(engine, "learn cancelled")

    def _commit(self, engine, found) -> None:
        try:
            status, undo = apply_learned(engine, found)
        except UserError as e:
            what = ", ".join(f"{f.source} -> {f.target}" for f in found)
            self._say(engine, f"learn: cannot map {what}: {e}", problem=True)
            return
        self.learn.history.append(undo)
        self._say(engine, status)

    def take_commands(self, prefix: str) -> list:
        """The OSC commands under `prefix` this part does not run itself (another part's)."""
        mine = [c for c in self.other_commands if c.address.startswith(prefix)]
        for c in mine:
            self.other_commands.remove(c)
        return mine

    def _command(self, engine, cmd, now: float) -> None:
        if cmd.address == "/lp/learn/cancel":
            self.cancel_learn(engine)
        elif cmd.address == "/lp/learn/undo":
            self.undo_learn(engine)
        elif cmd.address == "/lp/state":
            if engine.feedback is not None:
                engine.feedback.resend()   # the next frame's feedback sends everything
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
    from ..inputs.kinds import input_kind
    inputs = engine.patch.inputs
    surfaces = ControlSurfaces()
    engine.door.add_filter(surfaces.filter)
    osc = inputs.osc
    if osc.enabled:
        from ..inputs.osc import OscFeedback
        host = osc_host or osc.host
        port = osc.port if osc_port is None else osc_port
        try:
            osc_in, = input_kind("osc").open_inputs(osc, engine.door.add_queue("osc"), engine.clock,
                                                    host=host, port=port, specs=engine.registry)
            surfaces.osc = osc_in
            engine.inputs.append(osc_in)
            log.info("OSC: listening on %s:%d", host, osc_in.port)
        except UserError as e:       # says "OSC: cannot listen on host:port: why" itself
            engine.report(f"{e}; carrying on without OSC")
        except OSError as e:
            engine.report(f"OSC: cannot listen on {host}:{port}: {e.strerror or e}; carrying on without OSC")
        if osc.targets:
            engine.feedback = OscFeedback(list(osc.targets))
            engine.add_part(OscStateFeedback(engine.feedback, touched=surfaces.touched))
    joystick = getattr(inputs, "joystick", None)
    if joystick is not None and joystick.enabled:
        engine.inputs += input_kind("joystick").open_inputs(joystick, engine.door.add_queue("joystick"),
                                                            engine.clock, report=engine.report,
                                                            poll=HOTPLUG_POLL)
    midi = inputs.midi
    if midi.enabled:
        from ..inputs.midi import MidiFeedback
        for inp in input_kind("midi").open_inputs(midi, engine.door.add_queue("midi"), engine.clock,
                                                  report=engine.report, poll=HOTPLUG_POLL):
            engine.inputs.append(inp)
            surfaces.ports.append(inp)
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
