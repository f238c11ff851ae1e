"""The loop: the only package that wires inputs, patch, latent, models and render together.

One engine tick (tick.py):

    t = clock.tick()
    events   = the input door drained: every source, time-sorted, filtered, coalesced   door.py
    params   = mapper.apply(events, params)            pure: patch/
    params   = musical time (tempo, beat phase)        music.py
    request  = trajectory.step(params)                 pure: latent/ (its mode: latent/modes/)
    worker.submit(request); frame = worker.latest()    models/ (latest wins; offline: in order)
    chain.render(frame) -> surface / recorder          render/ (in-betweens: playback.py)
    parts: feedback, outputs                           controllers.py, stage.py ...

Live, the generator runs in its own thread and the loop never waits for it; offline, the clock is
a fixed step and every request is rendered in order, so the same inputs give the same frames.

The rooms (no import circle among them; tests/test_architecture.py):
  part.py         EnginePart: the part protocol (a leaf; parts import it, never core)
  show.py         a show assembled from a patch: the model, the Engine, which parts attach
  core.py         Engine: what the rooms share (patch, registry, parts, run loop, keys, report)
  tick.py         one tick: the path every frame takes
  door.py         the input door: queues, sources, parts' poll -> one time-sorted drain; filters
  stats.py        rolling figures;  overlay.py  the status overlay and notices
  playback.py     the "latent" in-between playback buffer
  reload.py       a patch applied to a running show; the registry refilled once
  glcontext.py    a lost GL context made anew (surface, chain, picture, parts told)
  params.py       the registry groups every show has (the registry: latentperform/registry.py)
  controllers.py  OSC server, MIDI ports, state feedback, learn mode (parts)
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
