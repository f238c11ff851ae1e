"""Controllers in a show: the OSC server and MIDI ports the patch names, state feedback to hosts,
and MIDI learn."""

from __future__ import annotations

import logging
import time

from ..clock import WallClock
from ..config import UserError
from ..events import EventQueue, ParamState
from .core import EnginePart

log = logging.getLogger("latentperform.engine")


class OscStateFeedback(EnginePart):
    """Sends the show's state to the patch's OSC targets after every frame (on change)."""

    def __init__(self, feedback) -> None:
        self.feedback = feedback

    def after_frame(self, engine, params: ParamState, t: float) -> None:
        try:
            self.feedback.send_state(params, {"fps": engine.stats.fps})
        except OSError as e:
            engine.report(f"OSC feedback: {e}")

    def close(self) -> None:
        self.feedback.close()


def open_controllers(engine, *, osc_host: str | None = None, osc_port: int | None = None) -> None:
    """Open the OSC server and MIDI ports the patch names.  A port that is missing is reported,
    not fatal."""
    inputs = engine.patch.inputs
    osc = inputs.osc
    if osc.enabled:
        from ..inputs.osc import OscFeedback, OscInput
        host = osc_host or osc.host
        port = osc.port if osc_port is None else osc_port
        try:
            osc_in = OscInput(engine.add_queue(), engine.clock, host=host, port=port,
                              specs=list(engine.specs.values()))
            engine.inputs.append(osc_in)
            log.info("OSC: listening on %s:%d", host, osc_in.port)
        except (OSError, UserError) as e:
            engine.report(f"OSC: cannot listen on {host}:{port}: {e}; carrying on without OSC")
        if osc.targets:
            engine.feedback = OscFeedback(list(osc.targets))
            engine.add_part(OscStateFeedback(engine.feedback))
    midi = inputs.midi
    if midi.enabled:
        from ..inputs.midi import MidiInput
        for pattern in midi.inputs:
            try:
                engine.inputs.append(MidiInput(engine.add_queue(), engine.clock, pattern))
            except Exception as e:  # a MIDI backend that cannot start is not fatal
                engine.report(f"MIDI: cannot open {pattern!r}: {e}")


def learn(args) -> int:
    """`latentperform learn PATCH`: move a MIDI control and the mapping is written into the patch."""
    from ..inputs.learn import Learner, write_mapping
    from ..inputs.midi import MidiInput
    from .commands import all_param_specs, load_patch_file

    patch = load_patch_file(args.patch)
    param = args.param
    if not param:
        names = [s.name for s in all_param_specs(patch) if s.kind != "trigger"]
        print("parameters:\n  " + "\n  ".join(names))
        param = input("parameter to map: ").strip()
    clock = WallClock()
    queue = EventQueue()
    midi = MidiInput(queue, clock, args.port)
    learner = Learner(param)
    print(f"move a control on {args.port!r} to map it to {param} ...")
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            found = learner.feed(list(queue.iter_pending()))
            if found is not None:
                write_mapping(args.patch, found.source, found.target, **found.options)
                print(f"mapped {found.source} -> {found.target} in {args.patch}")
                return 0
            time.sleep(0.01)
    finally:
        midi.close()
    raise UserError(f"no control moved within {args.timeout:g} s (MIDI: {midi.status})")
