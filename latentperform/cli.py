"""`latentperform ...`: the command line.  Nothing imports this module.

Every command turns a `UserError` into one clear line on stderr and exit status 2; tracebacks
are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .config import DEFAULT_PATCH, UserError, parse_size


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free one), got {v}")
    return v


def _finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentperform",
                                description="Play the latent space of a generative image network, live.")
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def patch_arg(sp):
        sp.add_argument("patch", nargs="?", default=str(DEFAULT_PATCH),
                        help="patch file (TOML); default: the built-in audio-reactive patch")

    run = sub.add_parser("run", help="perform live: window (or headless), controllers, sound card")
    patch_arg(run)
    run.add_argument("--fullscreen", action="store_true", help="fullscreen output")
    run.add_argument("--monitor", default=None, help="monitor index or name for fullscreen")
    run.add_argument("--size", type=_size, default=None, help="window/output size WxH")
    run.add_argument("--fps", type=_positive, default=None, help="target frames per second")
    run.add_argument("--headless", action="store_true", help="render offscreen (no display needed)")
    run.add_argument("--seconds", type=_positive, default=None, help="stop after this many seconds")
    run.add_argument("--record", default=None, metavar="FILE.mp4", help="record the output to a video")
    run.add_argument("--osc-host", default=None, help="OSC listen address (default 127.0.0.1)")
    run.add_argument("--osc-port", type=_port, default=None, help="OSC listen port (default 9000)")
    run.add_argument("--no-audio", action="store_true", help="do not open the sound card")
    run.add_argument("--log-events", default=None, metavar="FILE.jsonl",
                     help="log every control event, to re-render the show later (with a sound input, "
                          "what it hears goes to FILE.flac beside it)")
    run.add_argument("--overlay", action=argparse.BooleanOptionalAction, default=None,
                     help="start with the status overlay shown (key h toggles it; default: the patch's)")
    run.add_argument("--interpolation", choices=("crossfade", "latent", "hold"), default=None,
                     help="in-between frames when the network is slower than the display (default: the patch's)")
    run.add_argument("--vsync", action=argparse.BooleanOptionalAction, default=None,
                     help="wait for the display's refresh (default: the patch's)")
    run.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                     help="a windowed preview with the overlay besides the output (default: the patch's)")
    run.add_argument("--preview-monitor", default=None, help="monitor index or name for the preview")
    run.add_argument("--output", action="append", choices=("ndi", "virtualcam", "spout", "syphon"), default=None,
                     help="video out to other programs (repeat for several; default: the patch's)")
    run.add_argument("--no-watch", dest="watch", action="store_false",
                     help="do not follow edits of the patch file")
    # installation mode (issue 17): a supervisor parent, the service's name, playing in step
    run.add_argument("--supervise", action="store_true",
                     help="run the show as a child process and restart it when it dies or stops presenting "
                          "frames (the watchdog, without systemd)")
    run.add_argument("--name", default=None,
                     help="the show's name for `latentperform status` (default: the patch file's name)")
    run.add_argument("--watchdog", type=_positive, default=None, metavar="SECONDS",
                     help="with --supervise: restart a show that presented no frame for this long (default 20)")
    run.add_argument("--sync", choices=("leader", "follower"), default=None,
                     help="play in step with other instances (default: the patch's [installation] sync)")
    run.add_argument("--sync-to", action="append", default=None, metavar="HOST:PORT",
                     help="leader: where to send the frame clock (repeat; a multicast group or addresses)")
    run.add_argument("--sync-listen", default=None, metavar="[HOST:]PORT",
                     help="follower: where to hear the leader (a multicast group joins it)")
    run.add_argument("--present-log", default=None, metavar="FILE.csv", help=argparse.SUPPRESS)

    render = sub.add_parser("render", help="render offline to a video file, deterministic")
    patch_arg(render)
    render.add_argument("--audio", default=None, help="music to react to (wav/flac/ogg/mp3); muxed into the video")
    render.add_argument("--out", required=True, metavar="FILE.mp4", help="output video")
    render.add_argument("--size", type=_size, default=None, help="video size WxH (default: the patch's)")
    render.add_argument("--fps", type=_positive, default=None, help="frames per second (default: the patch's)")
    render.add_argument("--seconds", type=_positive, default=None,
                        help="length (default: the replayed show's, else the audio's; 10 s without either)")
    render.add_argument("--replay", default=None, metavar="EVENTS.jsonl",
                        help="control events logged by `run --log-events`; the sound recorded with them "
                             "is the soundtrack (unless --audio), the length is the show's (unless --seconds)")
    render.add_argument("--audio-offset", type=_finite, default=None, metavar="SECONDS",
                        help="where the soundtrack's first sample lands in the video (default: when the "
                             "show heard it, for the sound recorded with a replay; 0 for --audio)")

    analyze = sub.add_parser("analyze", help="show the audio features the engine hears in a file")
    analyze.add_argument("audio")
    analyze.add_argument("--fps", type=_positive, default=30.0)
    analyze.add_argument("--csv", default=None, metavar="FILE.csv")
    analyze.add_argument("--plot", default=None, metavar="FILE.png")

    check = sub.add_parser("check", help="validate patch files")
    check.add_argument("patches", nargs="+")

    inspect = sub.add_parser("inspect", help="describe a model file and render a contact sheet of seeds")
    inspect.add_argument("model")
    inspect.add_argument("--sheet", default=None, metavar="FILE.png", help="contact sheet output")

    sub.add_parser("devices", help="list MIDI ports, audio devices, monitors and GPUs")

    learn = sub.add_parser("learn", help="MIDI learn: move a control to map it to a parameter")
    learn.add_argument("patch")
    learn.add_argument("--param", default=None, help="parameter to map (asked if not given)")
    learn.add_argument("--port", default="*", help="MIDI input port name or glob")
    learn.add_argument("--timeout", type=_positive, default=30.0)

    install = sub.add_parser("install", help="install a show as a service: starts on boot, restarts, watchdog")
    install.add_argument("patch")
    install.add_argument("--name", default=None, help="service name (default: the patch file's name)")
    scope = install.add_mutually_exclusive_group()
    scope.add_argument("--user", dest="user", action="store_true", default=True,
                       help="a user unit, started with the desktop session (the default)")
    scope.add_argument("--system", dest="user", action="store_false",
                       help="a system unit (needs root), started after the display manager")
    install.add_argument("--run-as", default=None, help="--system: the account the show runs as (default: you)")
    install.add_argument("--display", default=":0", help="--system: the X display (default :0)")
    install.add_argument("--headless", action="store_true", help="the show renders offscreen (no display)")
    install.add_argument("--no-audio", action="store_true", help="the show does not open the sound card")
    install.add_argument("--unit-dir", default=None, metavar="DIR",
                         help="only write the unit into DIR (e.g. for a disk image); do not enable it")
    uninstall = sub.add_parser("uninstall", help="stop and remove an installed show")
    uninstall.add_argument("name")
    uninstall.add_argument("--unit-dir", default=None, metavar="DIR", help="the unit is in DIR (see install)")
    status = sub.add_parser("status", help="is the installed show running, since when, fps, errors, restarts")
    status.add_argument("name", nargs="?", default=None)

    docs = sub.add_parser("osc-docs", help="write the OSC namespace reference (osc.md here, or --out)")
    docs.add_argument("--out", default=None, metavar="FILE.md",
                      help="where to write it (default: osc.md in the current folder; the repository's is docs/osc.md)")
    return p


# -- commands ------------------------------------------------------------------------------------

def cmd_check(args) -> int:
    """Each patch: valid (file:line: key errors), and nothing in it the show would silently drop:
    mapping sources no input sends, keyframe/directions .npy files, shader passes that are
    missing or do not compile (compiled offscreen, as the show would)."""
    from .patch import load_patch
    from .patch.check import patch_problems
    failed = 0
    for path in args.patches:
        try:
            patch = load_patch(path)
            problems = patch_problems(patch, str(path)) + _shader_problems(patch, path)
        except UserError as e:
            print(f"latentperform: error: {e}", file=sys.stderr)
            failed += 1
            continue
        for line in problems:
            print(f"latentperform: error: {line}", file=sys.stderr)
        if problems:
            failed += 1
        else:
            print(f"{path}: ok")
    return 2 if failed else 0


def _shader_problems(patch, path) -> list[str]:
    from .render.shaders import check_passes
    from .patch.lines import key_lines, line_of
    problems = check_passes(patch.output.shaders)
    if not problems:
        return []
    try:
        line = line_of(key_lines(Path(path).read_text(encoding="utf-8")), ("output", "shaders"))
    except OSError:
        line = None
    where = f"{path}:{line}" if line else str(path)
    return [f"{where}: output.shaders: {p}" for p in problems]


def cmd_analyze(args) -> int:
    from .features import analyze_file, plot_features
    track = analyze_file(args.audio, fps=args.fps)
    if args.csv:
        _check_writable(args.csv)
        track.to_csv(args.csv)
        print(f"wrote {args.csv} ({len(track)} frames)")
    if args.plot:
        _check_writable(args.plot)
        if Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
            raise UserError(f"cannot write {args.plot}: a plot is a .png, .pdf, .svg or .jpg file")
        plot_features(track, args.plot)
        print(f"wrote {args.plot}")
    if not args.csv and not args.plot:
        print(track.summary())
    return 0


def cmd_inspect(args) -> int:
    from .models.loader import inspect_model
    print(inspect_model(args.model, out_png=args.sheet))
    return 0


def cmd_devices(args) -> int:
    from .engine import list_devices
    print(list_devices())
    return 0


def cmd_run(args) -> int:
    if getattr(args, "supervise", False):
        return _supervise(args)
    from .engine import run_live
    return run_live(args)


def _supervise(args) -> int:
    """`run --supervise`: this process becomes the show's supervisor; the show is the same
    command line without --supervise, in a child process (service/supervise.py)."""
    from .service.supervise import Supervisor
    from .service.units import check_name, default_name
    argv = [a for a in (args.argv or sys.argv[1:]) if a != "--supervise"]
    name = check_name(args.name or default_name(args.patch))
    if args.name is None:
        argv += ["--name", name]
    sup = Supervisor([sys.executable, "-m", "latentperform.cli", *argv], name=name,
                     watchdog_s=args.watchdog or 20.0)
    return sup.run()


def cmd_render(args) -> int:
    from .engine import render_offline
    return render_offline(args)


def cmd_learn(args) -> int:
    from .engine import learn
    return learn(args)


def cmd_osc_docs(args) -> int:
    if args.out:
        _check_writable(args.out)
    from .engine import write_osc_docs
    return write_osc_docs(args.out)


def cmd_install(args) -> int:
    from .service import units
    patch = Path(args.patch).expanduser().resolve()
    from .patch import load_patch
    load_patch(patch)  # an invalid patch is refused now, not at the next boot
    name = units.check_name(args.name or units.default_name(patch))
    run_args = [*(["--headless"] if args.headless else []), *(["--no-audio"] if args.no_audio else [])]
    opt = units.UnitOptions(name=name, patch=patch, run_args=tuple(run_args), user=args.user,
                            run_as=args.run_as, display=args.display, systemd=units.systemd_version())
    if args.unit_dir:
        path = units.install(opt, folder=Path(args.unit_dir), enable=False)
        print(f"wrote {path} (not enabled: copy it to {units.unit_dir(args.user)} and enable it there)")
        return 0
    if not units.has_systemd():
        print("latentperform: this machine does not run systemd (no /run/systemd/system), so nothing "
              "was installed; put this in its autostart instead:", file=sys.stderr)
        print(units.autostart_text(name, patch, run_args), end="")
        return 3
    path = units.install(opt)
    flag = "--user " if args.user else ""
    print(f"installed {path}: {name} starts now and on every boot; "
          f"logs: journalctl {flag}-u {units.unit_name(name)}; state: latentperform status {name}")
    return 0


def cmd_uninstall(args) -> int:
    from .service import units
    folder = Path(args.unit_dir) if args.unit_dir else None
    removed = units.uninstall(args.name, folder=folder, use_systemctl=folder is None and units.has_systemd())
    for path in removed:
        print(f"removed {path}")
    return 0


def cmd_status(args) -> int:
    from .service import units
    names = [args.name] if args.name else units.known_names()
    if not names:
        print("no installed or supervised shows (install one with `latentperform install PATCH`)")
        return 0
    for name in names:
        print("\n".join(units.status_lines(units.check_name(name))))
    return 0


def _check_writable(path: str) -> None:
    from .render.recorder import check_writable
    check_writable(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else None
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname).1s %(name)s: %(message)s")
    handler = globals()["cmd_" + args.command.replace("-", "_")]
    rc = 1
    try:
        rc = int(handler(args) or 0)
    except UserError as e:
        print(f"latentperform: error: {e}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        print("latentperform: stopped", file=sys.stderr)
        rc = 130
    finally:
        _end_generator_threads(rc)
    return rc


def _end_generator_threads(rc: int) -> None:
    """A generator thread still inside torch when the interpreter exits aborts the process
    (status 134, "terminate called without an active exception"): close every worker, and if a
    network is still busy after a few seconds (a hung plugin), end the process here."""
    worker = sys.modules.get("latentperform.models.worker")
    if worker is None or worker.close_all_workers(timeout=5.0):
        return
    print("latentperform: the generator is still busy; leaving without waiting for it", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
