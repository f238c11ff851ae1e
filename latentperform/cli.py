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


def _listen(text: str) -> str:
    """`--control [HOST:]PORT`, checked here (the empty string: the default address)."""
    if text == "":
        return text
    if text.endswith(".toml"):
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got the patch {text!r}: put the patch "
                                         "before --control (latentperform run show.toml --control)")
    from .control.server import parse_listen
    try:
        parse_listen(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


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
    run.add_argument("--osc-port", type=int, default=None, help="OSC listen port (default 9000)")
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
    run.add_argument("--control", nargs="?", const="", default=None, type=_listen, metavar="[HOST:]PORT",
                     help="serve the control room, a web page to see and play the show (default "
                          "127.0.0.1:8400; another host needs the token in the printed URL)")

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
    render.add_argument("--audio-offset", type=float, default=None, metavar="SECONDS",
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

    docs = sub.add_parser("osc-docs", help="write the OSC namespace reference (docs/osc.md)")
    docs.add_argument("--out", default=None)
    return p


# -- commands ------------------------------------------------------------------------------------

def cmd_check(args) -> int:
    from .patch import load_patch
    failed = 0
    for path in args.patches:
        try:
            load_patch(path)
            print(f"{path}: ok")
        except UserError as e:
            print(f"latentperform: error: {e}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def cmd_analyze(args) -> int:
    from .features import analyze_file, plot_features
    track = analyze_file(args.audio, fps=args.fps)
    if args.csv:
        _check_writable(args.csv)
        track.to_csv(args.csv)
        print(f"wrote {args.csv} ({len(track)} frames)")
    if args.plot:
        _check_writable(args.plot)
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
    from .engine import run_live
    return run_live(args)


def cmd_render(args) -> int:
    from .engine import render_offline
    return render_offline(args)


def cmd_learn(args) -> int:
    from .engine import learn
    return learn(args)


def cmd_osc_docs(args) -> int:
    from .engine import write_osc_docs
    return write_osc_docs(args.out)


def _check_writable(path: str) -> None:
    from .render.recorder import check_writable
    check_writable(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
