"""What the command line runs: a live show, an offline render, MIDI learn, the device list, the
OSC docs."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from ..clock import FixedStepClock, WallClock
from ..config import UserError
from ..events import EventQueue, ParamSpec
from ..registry import ParamRegistry
from .controllers import learn_plans, learnable_names, resolve_param
from .params import core_param_groups
from .stats import STALL_S
from .show import attach_live, open_show
from .stage import recording_figures


def _open_surface(*, headless: bool, size, fullscreen: bool = False, monitor=None, vsync: bool = True):
    from ..render import HeadlessSurface, WindowSurface
    if headless:
        return HeadlessSurface(size)
    return WindowSurface(size, fullscreen=fullscreen, monitor=monitor, title="latentperform", vsync=vsync)


def load_patch_file(patch_path: str):
    from ..patch import load_patch
    return load_patch(patch_path)


def _pick(cli_value, patch_value):
    return patch_value if cli_value is None else cli_value


def run_live(args) -> int:
    """`latentperform run`: perform until the window closes (q twice), Ctrl-C, or --seconds."""
    from ..render.recorder import Recorder, check_writable

    patch = load_patch_file(args.patch)
    out = patch.output
    size = args.size or tuple(out.size)
    fps = args.fps or float(out.fps)
    if args.record:
        check_writable(args.record)
    surface = _open_surface(headless=args.headless, size=size, fullscreen=args.fullscreen or out.fullscreen,
                            monitor=_pick(args.monitor, out.monitor),
                            vsync=_pick(getattr(args, "vsync", None), getattr(out, "vsync", True)))
    clock = WallClock()
    recorder = Recorder(args.record, surface.size, fps, keep_time=True) if args.record else None
    event_log = None
    if args.log_events:
        from ..inputs.replay import EventLog
        check_writable(args.log_events)
        event_log = EventLog(args.log_events)
    preview = bool(_pick(getattr(args, "preview", None), getattr(out, "preview", False)))
    # With a preview, the patch's overlay goes on the preview and the projector stays clean
    # (h still shows it there); --overlay on the command line puts it on the output as well.
    overlay = _pick(getattr(args, "overlay", None), getattr(out, "overlay", False) and not preview)
    role = getattr(args, "sync", None) or patch.installation.sync
    if role != "off":  # several instances in step: a loop of its own (engine/instep.py)
        from .instep import run_in_step
        try:
            return run_in_step(args, patch, role=role, surface=surface, fps=fps, signals=_stop_on_signals)
        finally:
            surface.close()
    engine = None
    started = None
    try:
        engine = open_show(patch, surface=surface, clock=clock, fps=fps, recorder=recorder, event_log=event_log,
                           interpolation=getattr(args, "interpolation", None), overlay=overlay)
        if recorder is not None and engine.stage is not None:
            engine.stage.note_recording_started()
        outputs = tuple(getattr(args, "output", None) or getattr(out, "outputs", ()) or ())
        attach_live(engine, patch_path=args.patch if getattr(args, "watch", True) else None,
                    osc_host=args.osc_host, osc_port=args.osc_port, audio=not args.no_audio,
                    outputs=outputs, preview=preview,
                    preview_monitor=_pick(getattr(args, "preview_monitor", None),
                                          getattr(out, "preview_monitor", None)),
                    service_name=getattr(args, "name", None),
                    control=getattr(args, "control", None), patch_file=args.patch)
        from ..patch.check import patch_problems
        for line in patch_problems(patch):  # what `check` fails on: the show says it and goes on
            engine.report(line)
        started = time.perf_counter()
        with _stop_on_signals(engine):
            engine.run(seconds=args.seconds)
    finally:
        wall = time.perf_counter() - started if started is not None else 0.0
        if event_log is not None:
            event_log.write_meta(end=round(clock.now(), 6))   # the show's length, for a replay
        if engine is not None:
            recorder = engine.recorder  # the r key may have started or stopped one
            osc_stats = [inp.stats for inp in engine.inputs if hasattr(inp, "os_drops")]
            engine.close()
        surface.close()
    s = engine.stats.summary()
    fps_real = s["frames"] / wall if wall > 0 else 0.0  # frames over wall time: a stall shows
    print(f"{s['frames']} frames in {wall:.1f} s, {fps_real:.1f} fps, frame time median "
          f"{s['frame_ms_median']:.1f} ms p99 {s['frame_ms_p99']:.1f} ms, stutter {s['stutter']:.2f}, "
          f"{s['stalls']} stalls over {STALL_S * 1e3:.0f} ms, generator {s['gen_ms']:.1f} ms")
    if engine.gl.renewals:
        print(f"GL context lost and made anew {engine.gl.renewals} time(s)")
    for st in osc_stats:
        lost = st.get("dropped_by_os", -1)
        print(f"OSC: {st['datagrams']} datagrams, {st['malformed']} malformed, {st['unknown']} unknown, "
              f"{st['bad_args']} with bad arguments, "
              + (f"{lost} lost in the receive buffer (the OS's drop counter)" if lost >= 0
                 else "losses in the receive buffer unknown here"))
    if event_log is not None and event_log.error:
        print(f"event log: {event_log.error}")
    if s["latency_samples"]:
        print(f"control-to-photon latency median {s['latency_ms_median']:.1f} ms, p99 {s['latency_ms_p99']:.1f} ms "
              f"({s['latency_samples']} inputs)")
    else:
        print("control-to-photon latency: no control input during the show")
    from ..models.device import device_of, run_dtype_of
    print(f"model: {device_of(engine.generator)}, {str(run_dtype_of(engine.generator)).replace('torch.', '')}")
    print(f"upload: {engine.texture.path_summary()}")  # CUDA-GL interop or the host path, and its cost
    if engine.stage is not None:
        for path in engine.stage.saved:
            print(f"screenshot {path}")
        for path in engine.stage.recordings:
            print(f"recorded {path}")
    if recorder is not None:
        if recorder.error:
            print(recorder.error)
        else:
            print(f"recorded {recorder.path} ({recording_figures(recorder)})")
    return 0


@contextlib.contextmanager
def _stop_on_signals(engine):
    """SIGTERM and Ctrl-C end the show the way --seconds does: the loop stops after its tick,
    the event log and the recording are finished, the summary is printed.  A second Ctrl-C
    while that is under way stops at once."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked = []

    def stop(signum, frame) -> None:
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signum)
        engine.request_stop()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def render_offline(args) -> int:
    """`latentperform render`: the same engine on a fixed-step clock, every frame rendered in order."""
    import sys

    from ..render.recorder import VideoWriter, check_writable

    patch = load_patch_file(args.patch)
    size = args.size or tuple(patch.output.size)
    fps = args.fps or float(patch.output.fps)
    check_writable(args.out)
    replay = None
    if args.replay:
        from ..inputs.replay import ReplayInput
        replay = ReplayInput(args.replay)
    track = None
    # a replay whose show heard sound keeps the features it logged (the picture the show made);
    # --audio is then its soundtrack only.  Without logged sound features, --audio drives them.
    logged_features = replay is not None and any(e.address.startswith("audio/") for e in replay.events)
    if args.audio and not logged_features:
        from ..features import analyze_file
        track = analyze_file(args.audio, fps=fps)
    # the soundtrack: --audio, else the sound recorded with the replayed show (if it can be read);
    # a replay's picture comes from its logged events either way, never from analysing the sound
    sound, sound_offset, sound_note = _soundtrack(args, replay)
    if args.seconds:
        seconds = args.seconds
    elif replay is not None and (replay.duration > 0 or track is None):
        seconds = replay.duration if replay.duration > 0 else 10.0
    else:
        seconds = track.duration if track is not None else 10.0
    n_frames = max(1, int(round(seconds * fps)))
    surface = _open_surface(headless=True, size=size)
    engine = open_show(patch, surface=surface, clock=FixedStepClock(fps), fps=fps, offline=True,
                       feature_track=track, replay=replay)
    writer = VideoWriter(args.out, size, fps, audio_path=sound, duration=n_frames / fps,
                         audio_offset=sound_offset, audio_optional=sound is not None and not args.audio)
    t0 = time.perf_counter()
    try:
        for k in range(n_frames):
            writer.write(engine.step())
            if sys.stderr.isatty() or k == n_frames - 1 or k % max(1, n_frames // 10) == 0:
                done = (k + 1) / n_frames
                el = time.perf_counter() - t0
                eta = el / done - el
                print(f"\rrendering {k + 1}/{n_frames} frames ({done:4.0%}), {(k + 1) / el:.1f} fps, "
                      f"{eta:.0f} s left ", end="" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
        writer.close()
    finally:
        engine.close()
        surface.close()
    if writer.audio_error:
        _warn(writer.audio_error + "; the video is silent")
        sound = None
    print(f"\nwrote {args.out}: {n_frames} frames at {size[0]}x{size[1]}, {fps:g} fps"
          + (f", audio from {sound}{sound_note}" if sound else ""), file=sys.stderr)
    return 0


def _warn(message: str) -> None:
    import sys
    print(f"latentperform: warning: {message}", file=sys.stderr)


def _soundtrack(args, replay):
    """(sound file or None, seconds into the video where its first sample goes, a note for the
    summary).  The sound recorded with a show starts at the engine time of its first sample;
    `--audio` at 0; `--audio-offset` says otherwise.  A recorded sound that is missing or
    unreadable is one warning line, and the video is silent."""
    offset_arg = getattr(args, "audio_offset", None)
    if args.audio:
        return args.audio, (offset_arg or 0.0), ""
    if replay is None or replay.audio is None:
        return None, 0.0, ""
    logged = replay.audio
    try:
        import soundfile as sf
        sf.info(str(logged.path))
    except Exception as e:
        reason = "no such file" if not logged.path.exists() else (str(e).splitlines() or ["unreadable"])[-1]
        _warn(f"the sound recorded with {args.replay} ({logged.path}) cannot be read ({reason}); "
              f"the video is silent")
        return None, 0.0, ""
    offset = logged.t0 if offset_arg is None else offset_arg
    return str(logged.path), offset, f" (recorded with the show, starting at {offset:.3f} s)"


def list_devices() -> str:
    """What `latentperform devices` prints: everything a show could open, and why not."""
    from ..inputs.kinds import device_lines
    lines = device_lines()   # every registered input kind: MIDI, OSC, audio
    lines.append("Monitors:")
    try:
        from ..render import list_monitors
        mons = list_monitors()
        lines += [f"  [{i}] {m}" for i, m in enumerate(mons)] or ["  (none)"]
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    lines.append("GPUs:")
    try:
        import torch
        if torch.cuda.is_available():
            lines += [f"  [{i}] {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        else:
            lines.append("  (no CUDA GPU: the built-in generator runs on the CPU)")
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    return "\n".join(lines)


def all_param_specs(patch=None) -> list[ParamSpec]:
    """Every parameter a show with this patch answers to (the default patch and every shader
    pass when none is given): the source of docs/osc.md."""
    from ..latent import LatentSpace, Trajectory
    from ..render import shader_param_specs
    from ..config import DEFAULT_PATCH

    patch = patch or load_patch_file(str(DEFAULT_PATCH))
    traj = Trajectory(patch.trajectory, patch.keyframes, space=LatentSpace(z_dim=512, w_dim=512, num_ws=16),
                      directions=None, seed=0)
    from ..latent.modes.atlas import atlas_param_specs
    from ..patch.params import show_param_specs
    have = {s.name for s in traj.param_specs()}
    traj_specs = traj.param_specs() + [s for s in atlas_param_specs() if s.name not in have]  # documented always
    groups = core_param_groups(traj_specs, shader_param_specs())
    groups["part:StagePart"] = show_param_specs()      # what a live show's StagePart adds
    from ..patch.params import CONTROL_SPECS
    groups["part:ControlRoomPart"] = list(CONTROL_SPECS)  # a show with the control room open
    registry = ParamRegistry(groups)
    return sorted(registry.specs.values(), key=lambda s: s.name)


def osc_docs_text() -> str:
    from ..inputs.osc_docs import render_osc_docs
    return render_osc_docs(all_param_specs())


def write_osc_docs(out: str | None) -> int:
    """`latentperform osc-docs [--out FILE]`: osc.md in the current folder (never into the
    installed package); the repository's copy is docs/osc.md (`--out docs/osc.md`)."""
    path = Path(out) if out else Path.cwd() / "osc.md"
    try:
        path.write_text(osc_docs_text())
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    print(f"wrote {path}")
    return 0


def _ask_param(names: list[str]) -> str:
    """The interactive prompt: a numbered list; a number, a name or a unique part of one; a part
    that several names share lists those and asks again (end of input: give up)."""
    from ..inputs.learn import numbered, pick
    print("parameters:\n" + numbered(names))
    shown = names
    while True:
        try:
            text = input("parameter to map (number or name): ")
        except (EOFError, OSError):       # no terminal (a script, a closed stdin): say so, once
            raise UserError("no parameter chosen (give --param NAME when there is no terminal)") from None
        name, candidates = pick(text, shown)
        if name is None and candidates == [] and shown is not names:
            name, candidates = pick(text, names)       # a number from the first list
        if name is not None:
            return name
        if candidates:
            shown = candidates
            print(f"{len(candidates)} match {text.strip()!r}:\n" + numbered(candidates))
        else:
            print(f"no parameter matches {text.strip()!r}; type a number from the list or part of a name")


def learn(args) -> int:
    """`latentperform learn PATCH`: move a MIDI control and the mapping is written into the patch."""
    from ..inputs.learn import Learner, file_mappings, write_plan
    from ..inputs.midi import MidiInput
    from ..patch.params import learn_parts

    patch = load_patch_file(args.patch)
    specs = {s.name: s for s in all_param_specs(patch)}
    names = learnable_names(specs, patch.output.shaders)
    param = resolve_param(args.param, {n: specs[n] for n in names}) if args.param else _ask_param(names)
    parts = learn_parts(param, specs)
    clock = WallClock()
    queue = EventQueue()
    midi = MidiInput(queue, clock, args.port)
    learner = Learner(param, parts=parts if len(parts) > 1 else None)
    print(f"move a control on {args.port!r} to map it to {learner.waiting_for} ...", flush=True)
    deadline = time.monotonic() + args.timeout
    done = 0
    try:
        while time.monotonic() < deadline:
            found = learner.feed(list(queue.iter_pending()))
            if len(learner.results) > done:
                for f in learner.results[done:]:
                    plan = learn_plans(file_mappings(args.patch), (f,))[0]
                    write_plan(args.patch, plan)
                    print(f"mapped {plan.describe()} in {args.patch}", flush=True)
                done = len(learner.results)
                if found is None:
                    print(f"now a control for {learner.waiting_for} ...", flush=True)
            if found is not None:
                return 0
            time.sleep(0.01)
        status = midi.status
    finally:
        midi.close()
    raise UserError(f"no control moved within {args.timeout:g} s (MIDI {status})")
