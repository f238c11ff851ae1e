"""Patch application: an edited patch applied to a running show, and the parameter registry
refilled once after it (every reader follows the registry's version).

    apply_patch(engine, new)     what can change live does; the rest says "after a restart"
    refresh_specs(engine, old)   the registry recollected, the mapper rebuilt, values kept
    make_trajectory(engine, patch)  the patch's trajectory for this generator (also at start)
    swap_generator(engine, generator, why)  another generator while playing (the fallback)
"""

from __future__ import annotations

import logging
from dataclasses import replace

from .params import core_param_groups, part_owner
from .music import MusicalTime

log = logging.getLogger("latentperform.engine")

RESTART_OUTPUT_KEYS = ("size", "fullscreen", "monitor", "preview", "preview_monitor", "vsync", "outputs")


def apply_patch(engine, new) -> list[str]:
    """Apply an edited patch to the running show, as far as that can be done without a
    restart: mappings (the mapper keeps its memory), trajectory and keyframes (the loop keeps
    its place), shader passes, clock, fps and interpolation.  A changed model, inputs or window
    are reported as needing a restart and keep their running values.  Returns the messages
    (also shown as notices)."""
    old = engine.patch
    new, restart = _live_part_of(old, new)
    old_specs = dict(engine.specs)
    engine.patch = new
    changed: list[str] = []
    if new.trajectory != old.trajectory or new.keyframes != old.keyframes:
        try:
            traj = make_trajectory(engine, new)
            traj.carry_from(engine.trajectory)
            engine.trajectory = traj
            changed.append("trajectory")
        except Exception as e:
            engine.patch = new = replace(new, trajectory=old.trajectory, keyframes=old.keyframes)
            engine.report(f"patch: trajectory not changed: {e}")
    changed += _apply_output(engine, old.output, new.output)
    if new.clock != old.clock:
        if (new.clock.source, new.clock.beats_per_bar) != (old.clock.source, old.clock.beats_per_bar):
            engine.music = MusicalTime(new.clock)
            engine.music.attach(engine)  # the musical-time part follows the new source
        changed.append("clock")
    if new.mappings != old.mappings:
        changed.append("mappings")

    refresh_specs(engine, old_specs)
    engine.params = engine.params.evolve(beats_per_bar=int(new.clock.beats_per_bar))

    where = getattr(new, "source_path", None) or "the patch"
    messages = [f"patch reloaded from {where}: " + (", ".join(changed) if changed else "no change to apply")]
    if restart:
        messages.append("patch: " + ", ".join(restart) + " changed: takes effect after a restart")
    for m in messages:
        engine.notice(m, seconds=5.0)
    return messages


def _live_part_of(old, new):
    """(the new patch with what needs a restart kept as it runs, what needs a restart)."""
    restart: list[str] = []
    if new.model != old.model:
        restart.append("[model]")
        new = replace(new, model=old.model)
    if new.inputs != old.inputs:
        restart.append("[inputs]")
        new = replace(new, inputs=old.inputs)
    if getattr(new, "bends", None) != getattr(old, "bends", None):  # hooked into the network at start
        restart.append("[[bend]]")
        new = replace(new, bends=old.bends)
    o_old, o_new = old.output, new.output
    restart += [f"output.{key}" for key in RESTART_OUTPUT_KEYS
                if getattr(o_new, key, None) != getattr(o_old, key, None)]
    live_out = replace(o_old, shaders=o_new.shaders, fps=o_new.fps, interpolation=o_new.interpolation)
    return replace(new, output=live_out), restart


def _apply_output(engine, o_old, o_new) -> list[str]:
    from ..render import ShaderChain
    changed = []
    if tuple(o_new.shaders) != tuple(o_old.shaders):
        chain = ShaderChain(engine.surface.ctx, list(o_new.shaders), size=engine.surface.size)
        chain.work_scale = engine.chain.work_scale
        for msg in chain.errors:
            engine.report(msg)
        engine.chain.release()
        engine.chain = chain
        changed.append("shaders")
    if o_new.fps != o_old.fps:
        engine.fps = float(o_new.fps)
        changed.append("fps")
    if o_new.interpolation != o_old.interpolation:
        engine.interpolation = str(o_new.interpolation)
        engine.blend.reset()
        engine.playback.reset()
        changed.append("interpolation")
    return changed


def refresh_specs(engine, old_specs=None) -> bool:
    """Recollect the show's parameters (trajectory, shader passes, clock, parts) into the
    registry, once; the mapper is rebuilt keeping its memory.  A value the performer never
    moved takes its new default; the others keep theirs (clamped to the new range).  Returns
    True when the set of parameters or a default changed."""
    old_specs = dict(engine.specs) if old_specs is None else old_specs
    set_core_specs(engine)
    for part in engine.parts:
        engine.registry.set_group(part_owner(part), part.param_specs())
    specs = engine.specs
    changed = dict(specs) != old_specs
    engine.rebuild_mapper()
    values = {}
    for name, spec in specs.items():
        if spec.kind == "trigger":
            continue
        before = old_specs.get(name)
        current = engine.params.values.get(name)
        untouched = before is None or current is None or abs(current - before.default) < 1e-12
        values[name] = spec.default if untouched else min(max(current, spec.min), spec.max)
    engine.params = engine.params.evolve(values=values)
    report_unknown_targets(engine)
    return changed


def set_core_specs(engine) -> None:
    """The show's own parameters, one registry group per owner (parts add theirs)."""
    for owner, specs in core_param_groups(engine.trajectory.param_specs(), engine.chain.param_specs(),
                                          float(engine.patch.clock.bpm)).items():
        engine.registry.set_group(owner, specs)


def report_unknown_targets(engine) -> None:
    from ..patch import unknown_targets
    from ..patch.params import show_param_specs
    specs = engine.specs
    if not engine.offline:   # a live show's stage part registers the show commands a moment later
        specs = {**{s.name: s for s in show_param_specs()}, **specs}
    for msg in unknown_targets(engine.patch, specs):
        engine.report(msg)


def make_trajectory(engine, patch):
    """The patch's trajectory; the data its mode needs (an atlas's arrays) is gathered here."""
    from ..config import UserError
    from ..latent import Trajectory
    settings = patch.trajectory
    atlas = getattr(settings, "atlas", None)
    data = None
    if atlas is not None:  # the atlas mode (latent/modes/atlas.py): the file checked against this model
        if settings.mode not in (None, "atlas"):
            raise UserError(f'[trajectory] atlas = "{atlas}" plays with mode = "atlas", not "{settings.mode}" '
                            "(leave mode out, or the atlas)")
        from ..atlas.travel import travel_data
        data = {"atlas": travel_data(atlas, engine.generator, str(patch.model.kind))}
        settings = replace(settings, mode="atlas")  # an atlas implies its mode
    return Trajectory(settings, patch.keyframes, space=engine.space,
                      directions=directions_for(engine.generator, patch), seed=patch.model.seed,
                      cutoff=patch.model.truncation_cutoff, data=data)


def swap_generator(engine, generator, why: str) -> None:
    """Play another generator from the next tick on (installation mode's fallback to the built-in
    one when the model keeps failing).  The latent space, trajectory and worker follow the new
    generator; the trajectory keeps its place where it can (carry_from).  Keyframes or an atlas
    that belong to the old model (a saved z of another size, the atlas's identity) cannot follow:
    the trajectory is then built from the patch's seeds only, and said so.  The old worker is
    given half a second to finish (a hung network keeps its thread; it is a daemon)."""
    from ..latent import LatentSpace
    from ..models import InferenceWorker
    old_worker, old_traj = engine.worker, engine.trajectory
    engine.generator = generator
    engine.space = LatentSpace(z_dim=generator.z_dim, w_dim=generator.w_dim, num_ws=generator.num_ws)
    try:
        traj = make_trajectory(engine, engine.patch)
    except Exception as e:
        seeds = tuple(k for k in engine.patch.keyframes if getattr(k, "file", None) is None)
        plain = replace(engine.patch, keyframes=seeds,
                        trajectory=replace(engine.patch.trajectory, atlas=None, directions_file=None))
        engine.report(f"model fallback: {e}; the trajectory keeps the patch's seeds only")
        try:
            traj = make_trajectory(engine, plain)
        except Exception:
            traj = make_trajectory(engine, replace(plain, trajectory=type(plain.trajectory)()))
    try:
        traj.carry_from(old_traj)
    except Exception as e:  # another latent size: the new trajectory starts at its beginning
        log.debug("carry_from after a generator swap: %s", e)
    engine.trajectory = traj
    engine.worker = InferenceWorker(generator, synchronous=engine.offline)
    if not old_worker.close(timeout=0.5):
        log.warning("the old generator is still inside the network; its thread is left behind")
    refresh_specs(engine)
    engine.report(why)
    engine.notice(why, 15.0, urgent=True)


def directions_for(generator, patch):
    """Semantic directions: the patch's own (`[trajectory] directions_file`), else PCA of W
    (cached) for real networks; None lets the trajectory derive a deterministic random set (the
    built-in generator's W has no semantics).  A bad directions file is the user's error."""
    path = getattr(patch.trajectory, "directions_file", None)
    if path is not None:
        from ..latent.directions import load_directions
        return load_directions(path, generator.w_dim)
    if not getattr(generator, "semantic_w", True):  # the built-in network's W has no meaning
        return None
    try:
        from ..latent.directions import directions_for as pca_directions
        return pca_directions(generator, str(patch.model.kind), count=8)
    except Exception as e:
        log.warning("directions: %s; using random directions", e)
        return None
