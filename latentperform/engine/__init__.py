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

  part.py         EnginePart: the part protocol (a leaf; parts import it, never core)
  show.py         a show assembled from a patch: the model, the Engine, which parts attach
  core.py         Engine (the tick), Stats; the parameter registry is latentperform/registry.py
  controllers.py  OSC server, MIDI ports, state feedback, MIDI learn (parts)
  music.py        tempo sources and beat phase, the sound-card input
  stage.py        the stage keys, recording, screenshots, patch hot reload (parts)
  outputs.py      video outputs and the preview window (parts)
  commands.py     what the command line runs: run, render, learn, devices, osc-docs
"""

from .commands import all_param_specs, learn, list_devices, osc_docs_text, render_offline, run_live, write_osc_docs
from .core import ENGINE_SPECS, Engine, Stats
from .part import EnginePart
from .show import open_live_inputs, open_show

__all__ = ["ENGINE_SPECS", "Engine", "EnginePart", "Stats", "all_param_specs", "learn", "list_devices",
           "open_live_inputs", "open_show", "osc_docs_text", "render_offline", "run_live", "write_osc_docs"]
