"""A show assembled from a patch: the one place that decides which parts a show attaches.

The engine's core (core.py) knows parts only through the part protocol (part.py); this module
loads the model the patch names, builds the Engine, and attaches the parts, one line each:

    engine = open_show(patch, surface=..., clock=..., fps=...)         # model + Engine (+ stage keys, live)
    open_live_inputs(engine, osc_host=..., osc_port=..., audio=True)   # controllers, musical time, sound card
    attach_outputs(engine, outputs=..., preview=...)                  # video outputs, preview window
    engine.add_part(PatchWatcher(path))                                # hot reload

A new part is one `engine.add_part(...)` line in `open_live_inputs` or `attach_live` (or its own
`open_...` function called from there).
"""

from __future__ import annotations

from .bend import attach_bends
from .control_room import open_control_room
from .controllers import open_controllers
from .core import Engine
from .installation import attach_installation, unattended
from .music import open_music_inputs
from .outputs import attach_outputs
from .stage import PatchWatcher, StagePart


def load_model(patch, output_size: tuple[int, int] | None = None):
    """The generator the patch's [model] names, loaded where and how it says.  The device and
    precision words go to the loader as they are: models/device.py resolves them ("auto"
    included) once, and nothing after it moves the network.  The built-in network takes the
    patch's resolution and seed and the output's shape."""
    from ..models import load_generator

    m = patch.model
    return load_generator(m.kind, device=m.device, precision=m.precision, resolution=m.resolution,
                          seed=m.seed, output_size=output_size)


def open_show(patch, *, surface, clock, fps: float, generator=None, offline: bool = False,
              stage: bool | None = None, **engine_options) -> Engine:
    """An Engine for `patch` on `surface`, with the model loaded (unless `generator` is given)
    and, live (`stage` defaults to not offline), the stage keys, recording and screenshots."""
    fallback = None
    if generator is None:
        generator, fallback = _load_or_fallback(patch, surface.size)
    engine = Engine(patch, surface=surface, clock=clock, fps=fps, generator=generator, offline=offline,
                    **engine_options)
    if fallback:
        engine.report(fallback)
        engine.notice(fallback, 15.0, urgent=True)
    if (not offline) if stage is None else stage:
        engine.stage = engine.add_part(StagePart())
    try:
        attach_bends(engine)  # [[bend]]: live and offline alike
    except Exception:
        engine.close()
        raise
    return engine


def _load_or_fallback(patch, size):
    """(generator, message): the patch's model; for an unattended show ([installation] fallback,
    run by systemd or --supervise) a model that fails to load is replaced by the built-in
    generator, and the message says so.  Attended, the failure is the user's error as before."""
    size = _canvas(patch, size)
    try:
        return load_model(patch, size), None
    except Exception as e:
        if str(patch.model.kind) == "builtin" or not getattr(patch.installation, "fallback", False) \
                or not unattended():
            raise
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return load_builtin(patch, size), f"model: {why}; playing the built-in generator instead"


def _canvas(patch, size):
    """The size the network renders: the whole wall when this screen shows a tile of it."""
    tile = getattr(patch.output, "tile", None)
    if tile is None:
        return size
    from ..service.tile import canvas_size  # the network renders the whole wall; each screen keeps its tile
    return canvas_size(tile, size)


def load_builtin(patch, size):
    """The built-in generator in place of the patch's model (the patch's seed and device)."""
    from dataclasses import replace
    return load_model(replace(patch, model=replace(patch.model, kind="builtin")), size)


def open_live_inputs(engine: Engine, *, osc_host: str | None = None, osc_port: int | None = None,
                     audio: bool = True) -> None:
    """Open the inputs the patch names.  A device that is missing is reported, not fatal."""
    open_controllers(engine, osc_host=osc_host, osc_port=osc_port)
    open_music_inputs(engine, audio=audio)


def attach_live(engine: Engine, *, patch_path=None, osc_host=None, osc_port=None, audio: bool = True,
                outputs=(), preview: bool = False, preview_monitor=None, service_name: str | None = None,
                control: str | None = None, patch_file=None) -> None:
    """Everything a live show attaches besides the stage: hot reload, inputs, video outputs, the
    control room (`control`: "[HOST:]PORT", "" for the default, None: as the patch says)."""
    attach_installation(engine, name=service_name,  # watchdog, state file, model fallback, hours
                        load_builtin=lambda: load_builtin(engine.patch, _canvas(engine.patch, engine.surface.size)))
    if patch_path is not None:
        engine.add_part(PatchWatcher(patch_path))
    open_live_inputs(engine, osc_host=osc_host, osc_port=osc_port, audio=audio)
    attach_outputs(engine, outputs=outputs, preview=preview, preview_monitor=preview_monitor)
    open_control_room(engine, listen=control, patch_path=patch_file or patch_path)
