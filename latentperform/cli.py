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
from .kinds import PRECISIONS


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
    run.add_argument("--control", nargs="?", const="", default=None, type=_listen, metavar="[HOST:]PORT",
                     help="serve the control room, a web page to see and play the show (default "
                          "127.0.0.1:8400; another host needs the token in the printed URL)")
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
    run.add_argument("--sync-interface", default=None, metavar="ADDRESS",
                     help="the local IPv4 address multicast goes out of / is joined on (default: the one "
                          "the system routes the group from, 127.0.0.1 without a network)")
    run.add_argument("--sync-serve", default=None, metavar="[HOST:]PORT",
                     help="leader: where late followers fetch the events they missed (default: the "
                          "address it sends from, any free port, announced in its packets)")
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
    inspect.add_argument("--device", default="cpu", help='"auto", "cpu", "cuda", "cuda:<n>" (default cpu)')
    inspect.add_argument("--precision", default="fp32", choices=PRECISIONS,
                         help="auto, fp32, fp16 or reference (the pickle's own arithmetic); default fp32")
    inspect.add_argument("--layers", action="store_true",
                         help="list the layers [[bend]] can bend (name, channels, size) and the bend ops")

    train = sub.add_parser("train", help="train a generator on a folder of your pictures")
    train.add_argument("folder", help="pictures (png, jpg, webp...); a few hundred or more")
    train.add_argument("--out", required=True, metavar="MODEL.pt", help="the network to write")
    train.add_argument("--size", type=int, default=64, choices=(32, 64, 128, 256),
                       help="picture size it learns (default 64; 128+ wants a GPU)")
    train.add_argument("--minutes", type=_positive, default=None, help="train this long (or --steps)")
    train.add_argument("--steps", type=int, default=None, help="train this many steps (default 2000)")
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--channels", type=int, default=128, help="network width (64: faster, softer)")
    train.add_argument("--fresh", action="store_true", help="ignore a checkpoint and start over")

    sub.add_parser("devices", help="list MIDI ports, audio devices, monitors and GPUs")

    learn = sub.add_parser("learn", help="MIDI learn: move a control to map it to a parameter")
    learn.add_argument("patch")
    learn.add_argument("--param", default=None, help="parameter to map (asked if not given)")
    learn.add_argument("--port", default="*", help="MIDI input port name or glob")
    learn.add_argument("--timeout", type=_positive, default=30.0)

    atlas = sub.add_parser("atlas", add_help=False, help="map a model's latent space: build an atlas and its "
                           "poster (atlas MODEL --out NAME.atlas), find a picture (atlas find), "
                           "regions as keyframes (atlas regions); atlas -h for more")
    atlas.add_argument("atlas_args", nargs=argparse.REMAINDER)
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
    print(inspect_model(args.model, out_png=args.sheet, device=args.device, precision=args.precision))
    if args.layers:
        from .models import load_generator
        from .models.bend import OPS, bend_layers
        layers = bend_layers(load_generator(args.model))
        print("  layers (for [[bend]] layer = ...):")
        for info in layers:
            print(f"    {info.name:<22} {info.channels:>4} channels  {info.width} x {info.height}")
        print("  bend ops: " + ", ".join(
            f"{name} ({', '.join(s.name for s in OPS[name].settings)})" for name in sorted(OPS)))
    return 0


def cmd_train(args) -> int:
    from .train import TrainSettings, train
    figures = train(TrainSettings(args.folder, args.out, resolution=args.size, steps=args.steps,
                                  minutes=args.minutes, batch=args.batch, base_channels=args.channels,
                                  fresh=args.fresh))
    return 130 if figures.get("interrupted") else 0


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


def _atlas_parsers() -> dict[str, argparse.ArgumentParser]:
    """`latentperform atlas ...`: three forms, told apart by the first word."""
    def _count(text: str) -> int:
        v = int(_positive(text))
        if v != float(text):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
        return v

    build = argparse.ArgumentParser(prog="latentperform atlas", description=(
        "Sample a model, render thumbnails, lay them out on a 2D map, find regions; write NAME.atlas "
        "and a poster NAME.png.  Also: `latentperform atlas find IMAGE --atlas NAME.atlas` and "
        "`latentperform atlas regions PATCH --atlas NAME.atlas`."))
    build.add_argument("model", help='the network: "builtin", a .pkl, .pt, or python:module:factory')
    build.add_argument("--out", required=True, metavar="NAME.atlas")
    build.add_argument("--samples", type=_count, default=4096, help="how many seeds (default 4096)")
    build.add_argument("--size", type=_count, default=96, metavar="PX", help="thumbnail size (default 96)")
    build.add_argument("--psi", type=float, default=1.0, help="truncation of the samples (default 1: what "
                       "a keyframe seed gives at latent/truncation 1)")
    build.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    build.add_argument("--layout", choices=("graph", "umap", "pca"), default="graph",
                       help="2D layout (default graph; umap needs umap-learn)")
    build.add_argument("--regions", type=_count, default=None, help="number of regions (default: chosen)")
    build.add_argument("--poster", default=None, metavar="FILE.png", help="poster (default NAME.png)")
    build.add_argument("--batch", type=_count, default=64, help="thumbnails rendered per batch")
    build.add_argument("--device", default="auto", help="cpu, cuda, auto (default)")
    build.add_argument("--restart", action="store_true", help="ignore the finished batches of an interrupted build")

    find = argparse.ArgumentParser(prog="latentperform atlas find", description=(
        "Where a picture lies on the atlas: the nearest samples by descriptor, then a search for the "
        "latent that renders closest to it; writes the found z as a keyframe (.npy)."))
    find.add_argument("image")
    find.add_argument("--atlas", required=True, metavar="NAME.atlas")
    find.add_argument("--model", default=None, help="the network (default: the one the atlas names)")
    find.add_argument("--variations", type=_count, default=0, metavar="K", help="also K keyframes around it")
    find.add_argument("--step", type=float, default=0.5, help="variation distance, in atlas sample spacings")
    find.add_argument("--direction", type=int, default=None, metavar="I",
                      help="vary along the atlas's principal direction I (default: random directions)")
    find.add_argument("--out-dir", default=None, help="where the .npy files go (default: beside --patch, else .)")
    find.add_argument("--patch", default=None, help="append the keyframes to this patch (comments kept)")
    find.add_argument("--device", default="auto")

    regions = argparse.ArgumentParser(prog="latentperform atlas regions", description=(
        "Write one keyframe per atlas region (its representative's seed, named after the region) "
        "into a patch, keeping its comments."))
    regions.add_argument("patch")
    regions.add_argument("--atlas", required=True, metavar="NAME.atlas")
    regions.add_argument("--replace", action="store_true", help="replace the patch's keyframes (default: append)")
    regions.add_argument("--beats", type=_positive, default=None, help="beats per keyframe step")
    return {"build": build, "find": find, "regions": regions}


def _write_patch_checked(path: str, text: str) -> None:
    """Replace the patch with text only if text is a valid patch (checked from the same folder)."""
    import os
    import tempfile

    from .atlas.keyframes import replace_text
    from .patch import load_patch
    folder = Path(path).resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".atlas-check-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_patch(tmp)
        except UserError as e:
            raise UserError(f"{path}: the edited patch would not load, left unchanged ({e})") from None
    finally:
        os.unlink(tmp)
    replace_text(path, text)


def cmd_atlas(args) -> int:
    rest = list(args.atlas_args)
    parsers = _atlas_parsers()
    if not rest or rest[0] in ("-h", "--help"):
        parsers["build"].print_help()
        return 0 if rest else 2
    form = rest[0] if rest[0] in ("find", "regions") else "build"
    a = parsers[form].parse_args(rest[1:] if form != "build" else rest)
    from .atlas import read_atlas
    from .atlas.build import build_atlas, summary
    from .atlas.keyframes import add_keyframes, region_keyframes, save_z, toml_snippet
    from .models.loader import load_generator
    if form == "build":
        from .atlas.build import check_output
        check_output(a.out)
        G = load_generator(a.model, device=a.device)
        poster = a.poster or str(Path(a.out).with_suffix(".png"))
        built = build_atlas(G, a.model, a.out, samples=a.samples, size=a.size, psi=a.psi, seed_base=a.seed,
                            method=a.layout, regions=a.regions, batch=a.batch, poster=poster, resume=not a.restart)
        print(summary(built, poster))
        return 0
    atlas = read_atlas(a.atlas)
    if form == "regions":
        patch = Path(a.patch)
        try:
            text = patch.read_text(encoding="utf-8")
        except OSError as e:
            raise UserError(f"{patch}: cannot read ({e.strerror or e})") from None
        keys = region_keyframes(atlas, a.beats)
        _write_patch_checked(a.patch, add_keyframes(text, keys, replace=a.replace, source=a.patch))
        print(f"{a.patch}: {'replaced the keyframes with' if a.replace else 'added'} {len(keys)} region keyframes "
              f"({', '.join(k['name'] for k in keys)})")
        return 0
    # find
    from .atlas.find import find_image, variations
    from .atlas.sample import check_model
    spec = a.model or atlas.model["spec"]
    G = load_generator(spec, device=a.device)
    check_model(atlas.model, G, spec, str(a.atlas))
    found = find_image(atlas, G, a.image)
    out_dir = Path(a.out_dir) if a.out_dir else (Path(a.patch).resolve().parent if a.patch else Path("."))
    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: no such folder")
    stem = Path(a.image).stem
    keys = [{"name": f"found-{stem}", "file": str(save_z(found.z, out_dir / f"{stem}-found.npy"))}]
    print(f"{a.image}: near sample {found.nearest} (seed {int(atlas.seeds[found.nearest])}, region "
          f"{found.region}), map position ({found.position[0]:.3f}, {found.position[1]:.3f})\n"
          f"  picture error (MSE, 0..1 units): nearest sample {found.start_error:.4f}, best guess {found.error:.4f}; "
          f"descriptor distance {found.descriptor_distance:.3f}")
    if a.variations:
        from .atlas.find import variation_latents
        for i, (z, err) in enumerate(variation_latents(G, atlas, found, a.variations, a.step, a.direction)):
            keys.append({"name": f"found-{stem}-var{i}", "file": str(save_z(z, out_dir / f"{stem}-var{i}.npy"))})
            print(f"  variation {i}: its W step is off the one asked for by {100 * err:.0f} % of its length")
    if a.patch:
        for k in keys:  # the patch refers to its files relative to itself
            k["file"] = str(Path(k["file"]).resolve().relative_to(Path(a.patch).resolve().parent)) \
                if Path(k["file"]).resolve().is_relative_to(Path(a.patch).resolve().parent) else str(Path(k["file"]).resolve())
        text = Path(a.patch).read_text(encoding="utf-8")
        _write_patch_checked(a.patch, add_keyframes(text, keys, source=a.patch))
        print(f"{a.patch}: added {len(keys)} keyframes")
    else:
        print(toml_snippet(keys), end="")
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
