"""The loop: the only package that wires inputs, patch, latent, models and render together.

One engine tick (core.py):

    t = clock.tick()
    events   = every input queue drained (never blocks), coalesced
    params   = mapper.apply(events, params)            pure: patch/
    params   = musical time (tempo, beat phase)        music.py
    request  = trajectory.step(params)                 pure: latent/
    worker.submit(request); frame = worker.latest()    models/ (latest wins; offline: in order)
    chain.render(frame) -> surface / recorder          render/
    parts: feedback, outputs                           controllers.py, stage.py ...

Live, the generator runs in its own thread and the loop never waits for it; offline, the clock is
a fixed step and every request is rendered in order, so the same inputs give the same frames.

  core.py         Engine, Stats, EnginePart (the hooks a part may use)
  controllers.py  OSC server, MIDI ports, state feedback, MIDI learn
  music.py        tempo sources and beat phase, the sound-card input
  commands.py     what the command line runs: run, render, devices, osc-docs
"""

from .commands import all_param_specs, list_devices, osc_docs_text, render_offline, run_live, write_osc_docs
from .controllers import learn
from .core import ENGINE_SPECS, Engine, EnginePart, Stats

__all__ = ["ENGINE_SPECS", "Engine", "EnginePart", "Stats", "all_param_specs", "learn", "list_devices",
           "osc_docs_text", "render_offline", "run_live", "write_osc_docs"]
