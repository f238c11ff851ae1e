"""The patch file: frozen dataclasses, one per section, each with `from_dict` / `to_dict`.

`from_dict` validates as it reads: every problem is reported with the file, the line, the key
and what was expected (see reader.py), and all of them at once.  Defaults live here, except the
trajectory's: [trajectory] keys left out stay None and the trajectory (latent/) fills them in, so
its defaults have one home.  docs/patch-format.md is the artist's reference for all of this.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..kinds import DEVICE_PATTERN, DEVICE_WORDS, PRECISIONS, expected_kinds, kind_for
from .params import MAX_BPM, MIN_BPM, is_trigger, target_problem
from .reader import Context, PatchError, Reader

FORMAT_VERSION = 1

CURVES = ("lin", "exp", "log", "smooth")
MODES = ("value", "trigger", "toggle")
EDGES = ("rise", "every")
QUANTIZE = ("none", "beat", "bar")
TAKEOVER = ("jump", "pickup", "relative")
ENCODINGS = ("twos", "offset")
CLOCK_SOURCES = ("internal", "audio", "tap", "midi", "link")
INTERPOLATION = ("crossfade", "latent", "hold")
VIDEO_OUTPUTS = ("ndi", "virtualcam", "spout", "syphon")
LOOP_SYNC = ("free", "beat")

_SOURCE_SEGMENT = re.compile(r"^(\*|[A-Za-z0-9_.\-]+)$")
_SHADER_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-]+:\d{1,5}$")


def _plain(value: Any) -> Any:
    """Tuples -> lists, Paths -> strings, drop None: what TOML can hold."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _to_dict(obj: Any, skip: tuple[str, ...] = ()) -> dict:
    out = {}
    for f in fields(obj):
        if f.name in skip:
            continue
        v = getattr(obj, f.name)
        if v is None:
            continue
        out[f.name] = _plain(v)
    return out


def _ctx(ctx: Context | None) -> tuple[Context, bool]:
    """Use the caller's context, or make one and raise at the end (direct from_dict calls)."""
    if ctx is None:
        return Context(None, None, None), True
    return ctx, False


def _resolve(ctx: Context, text: str) -> Path:
    p = Path(text).expanduser()
    if not p.is_absolute() and ctx.base_dir is not None:
        p = ctx.base_dir / p
    return p


class _Section:
    """The reading routine every section shares: a Reader over its table, the section's own
    `_read`, unknown keys reported, and (called directly, without a caller's context) raise."""

    PATH: tuple = ()

    @classmethod
    def from_dict(cls, data: Any, ctx: Context | None = None, path: tuple | None = None, **options):
        ctx, own = _ctx(ctx)
        r = Reader(data, cls.PATH if path is None else path, ctx)
        out = cls._read(r, ctx, **options)
        r.finish()
        if own:
            ctx.raise_if_errors()
        return out

    @classmethod
    def _read(cls, r: Reader, ctx: Context, **options):
        raise NotImplementedError

    def to_dict(self) -> dict:
        return _to_dict(self)


# --------------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class PatchInfo(_Section):
    name: str = ""
    description: str = ""
    format: int = FORMAT_VERSION

    PATH = ("patch",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "PatchInfo":
        out = cls(name=r.string("name", ""), description=r.string("description", ""),
                  format=r.integer("format", FORMAT_VERSION, lo=1, hi=FORMAT_VERSION))
        return out


@dataclass(frozen=True)
class ModelSection(_Section):
    """kind: one of the generator kinds registered in latentperform/kinds.py: "builtin", a
    network file (.pkl StyleGAN pickle, .pt/.ts TorchScript; resolved against the patch's folder),
    or "python:package.module:factory".  device and precision: the vocabulary there too; the
    models loader resolves "auto" once."""

    kind: str = "builtin"
    resolution: int = 256
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    truncation_cutoff: int | None = None

    PATH = ("model",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "ModelSection":
        kind = r.string("kind", "builtin")
        registered = kind_for(kind)  # the kind table: latentperform/kinds.py
        if registered is None:
            r.error("kind", f'expected {expected_kinds()}, got "{kind}"')
            kind = "builtin"
        elif registered.syntax_error(kind) is not None:
            r.error("kind", registered.syntax_error(kind))
            kind = "builtin"
        elif registered.is_file:
            p = _resolve(ctx, kind)
            if ctx.base_dir is not None and not p.is_file():
                r.error("kind", f"network file not found: {p}")
            kind = str(p)
        device = r.string("device", "auto")
        if not DEVICE_PATTERN.match(device):
            r.error("device", f'expected {DEVICE_WORDS}, got "{device}"')
            device = "auto"
        out = cls(kind=kind, resolution=r.integer("resolution", 256, lo=16, hi=4096),
                  seed=r.integer("seed", 0, lo=0, hi=2**32 - 1), device=device,
                  precision=r.string("precision", "auto", choices=PRECISIONS),
                  truncation_cutoff=r.integer("truncation_cutoff", None, lo=0, hi=64))
        return out


def _monitor(r: Reader, key: str) -> int | str | None:
    monitor = r.raw(key, None)
    if monitor is not None and (isinstance(monitor, bool) or not isinstance(monitor, (int, str))
                                or (isinstance(monitor, int) and monitor < 0)):
        r.error(key, f"expected a monitor number (0, 1, ...) or name, got {monitor!r}")
        return None
    return monitor


def _work_scale(r: Reader) -> float | str:
    v = r.raw("work_scale", "auto")
    if v == "auto":
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.1 <= v <= 1.0:
        r.error("work_scale", f'expected "auto" or a number from 0.1 to 1, got {v!r}')
        return "auto"
    return float(v)


@dataclass(frozen=True)
class OutputSection(_Section):
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    shaders: tuple[str, ...] = ()
    fullscreen: bool = False
    monitor: int | str | None = None
    interpolation: str = "crossfade"
    preview: bool = False                 # a second, windowed preview with the overlay
    preview_monitor: int | str | None = None
    overlay: bool = False                 # status overlay shown at start (key h toggles it)
    vsync: bool = True
    outputs: tuple[str, ...] = ()         # video out to other programs: "ndi", "virtualcam", ...
    work_scale: float | str = "auto"      # shader passes at this fraction of the output size
    tile: tuple[int, int, int, int] | None = None  # [column, row, columns, rows] of a larger canvas

    PATH = ("output",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "OutputSection":
        shaders = r.strings("shaders", ())
        for name in shaders:
            if not _SHADER_NAME.match(name):
                r.error("shaders", f'expected shader pass names (letters, digits, "_", "-"), got "{name}"')
        outputs = r.strings("outputs", (), allow_single=True)
        for name in outputs:
            if name not in VIDEO_OUTPUTS:
                r.error("outputs", "expected some of " + ", ".join(f'"{o}"' for o in VIDEO_OUTPUTS)
                        + f', got "{name}"')
        out = cls(size=r.pair("size", (1280, 720), integer=True, lo=16, hi=16384),
                  fps=r.number("fps", 30.0, lo=1.0, hi=240.0), shaders=shaders,
                  fullscreen=r.boolean("fullscreen", False), monitor=_monitor(r, "monitor"),
                  interpolation=r.string("interpolation", "crossfade", choices=INTERPOLATION),
                  preview=r.boolean("preview", False), preview_monitor=_monitor(r, "preview_monitor"),
                  overlay=r.boolean("overlay", False), vsync=r.boolean("vsync", True), outputs=outputs,
                  work_scale=_work_scale(r), tile=_tile(r))
        return out


def _tile(r: Reader) -> tuple[int, int, int, int] | None:
    """[output] tile = [column, row, columns, rows]: this screen shows one tile of a canvas of
    columns x rows screens (column and row from 0)."""
    v = r.raw("tile", None)
    if v is None:
        return None
    ok = isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    if ok:
        col, row, cols, rows = v
        ok = 1 <= cols <= 16 and 1 <= rows <= 16 and 0 <= col < cols and 0 <= row < rows
    if not ok:
        r.error("tile", f"expected [column, row, columns, rows] (e.g. [1, 0, 3, 1]: the middle of three "
                        f"screens in a row; 1..16 columns and rows), got {v!r}")
        return None
    return tuple(v)


@dataclass(frozen=True)
class ClockSection(_Section):
    source: str = "internal"
    bpm: float = 120.0
    beats_per_bar: int = 4

    PATH = ("clock",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "ClockSection":
        out = cls(source=r.string("source", "internal", choices=CLOCK_SOURCES),
                  bpm=r.number("bpm", 120.0, lo=MIN_BPM, hi=MAX_BPM),
                  beats_per_bar=r.integer("beats_per_bar", 4, lo=1, hi=32))
        return out


@dataclass(frozen=True)
class AudioSection(_Section):
    """Sound input.  Absent section: no audio.  device: a number or part of a device name."""

    enabled: bool = False
    device: int | str | None = None
    channel: int | None = None            # one input channel (0-based); None: mix all to mono
    samplerate: float | None = None       # None: the device's default
    blocksize: int = 256                  # frames per audio block

    PATH = ("inputs", "audio")

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "AudioSection":
        device = r.raw("device", None)
        if device is not None and (isinstance(device, bool) or not isinstance(device, (int, str))):
            r.error("device", f"expected a device number or name, got {device!r}")
            device = None
        channel = r.raw("channel", None)
        if channel is not None:
            channel = r.integer("channel", None, lo=0, hi=63)
        samplerate = r.number("samplerate", None, lo=8000, hi=384000) if r.has("samplerate") else None
        out = cls(enabled=r.boolean("enabled", True), device=device, channel=channel, samplerate=samplerate,
                  blocksize=r.integer("blocksize", 256, lo=32, hi=8192))
        return out


@dataclass(frozen=True)
class OscSection(_Section):
    """OSC server (on unless enabled = false) and feedback targets ("host:port")."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9000
    targets: tuple[str, ...] = ()

    PATH = ("inputs", "osc")

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "OscSection":
        targets = r.strings("targets", (), allow_single=True)
        for t in targets:
            if not _HOST_PORT.match(t) or not 1 <= int(t.rsplit(":", 1)[1]) <= 65535:
                r.error("targets", f'expected "host:port" (e.g. "127.0.0.1:9001"), got "{t}"')
        out = cls(enabled=r.boolean("enabled", True), host=r.string("host", "127.0.0.1"),
                  port=r.integer("port", 9000, lo=1, hi=65535), targets=targets)
        return out


_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]:|[A-Za-z0-9_.\-]+:)?\d{1,5}$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


@dataclass(frozen=True)
class ControlSection(_Section):
    """The control room (a web page served by the show).  Absent section: off (run --control
    turns it on).  listen: "[HOST:]PORT"; beyond the loopback a token is needed (made up and
    printed when not given).  scenes: the scenes file (default: <patch>.scenes.toml beside it)."""

    enabled: bool = False
    listen: str = "127.0.0.1:8400"
    token: str | None = None
    preview_fps: float = 10.0
    preview_width: int = 480
    scenes: Path | None = None

    PATH = ("control",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "ControlSection":
        listen = r.string("listen", "127.0.0.1:8400")
        if isinstance(listen, str) and (not _LISTEN.match(listen) or not 0 <= int(listen.rsplit(":", 1)[-1]) <= 65535):
            r.error("listen", f'expected "[HOST:]PORT" (e.g. "8400" or "0.0.0.0:8400"), got "{listen}"')
        token = r.string("token", None)
        if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
            r.error("token", "expected at least 8 printable characters without spaces")
        scenes = r.string("scenes", None)
        return cls(enabled=r.boolean("enabled", True), listen=listen, token=token,
                   preview_fps=r.number("preview_fps", 10.0, lo=0.0, hi=60.0),
                   preview_width=r.integer("preview_width", 480, lo=64, hi=3840),
                   scenes=_resolve(ctx, scenes) if scenes else None)


SYNC_ROLES = ("off", "leader", "follower")


@dataclass(frozen=True)
class InstallationSection(_Section):
    """Installation mode (docs/patch-format.md, [installation]): opening hours, a daily restart,
    playing in step with other instances.  Absent section: always open, on its own."""

    hours: tuple[str, ...] = ()           # "HH:MM-HH:MM" ranges; none: all day
    days: tuple[str, ...] = ()            # "mon", "sat-sun", "mon-fri"; none: every day
    restart: str | None = None            # "HH:MM": a daily restart
    fade: float = 5.0                     # seconds of the fade to black at closing time (and back)
    sync: str = "off"                     # "leader" | "follower" | "off"
    sync_to: tuple[str, ...] = ("239.255.76.80:9410",)  # the leader sends here (group or addresses)
    sync_listen: str = "239.255.76.80:9410"             # a follower hears here
    sync_interface: str | None = None     # multicast's local address (None: the system's route for the group)
    sync_serve: str | None = None         # the leader's catch-up server "[HOST:]PORT" (None: see service/sync.py)
    sync_warmup: float = 10.0             # a late follower renders (unshown) the last this many seconds
    fallback: bool = True                 # a model that fails to load or keeps failing: the built-in one

    PATH = ("installation",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "InstallationSection":
        from ..service.hours import parse_clock, parse_days, parse_range
        hours = r.strings("hours", (), allow_single=True)
        for h in hours:
            try:
                parse_range(h)
            except ValueError as e:
                r.error("hours", str(e))
        days = r.strings("days", (), allow_single=True)
        try:
            parse_days(days)
        except ValueError as e:
            r.error("days", str(e))
        restart = r.string("restart", None)
        if restart is not None:
            try:
                parse_clock(restart)
            except ValueError as e:
                r.error("restart", str(e))
        sync_to = r.strings("sync_to", cls.sync_to, allow_single=True)
        for addr in sync_to:
            if not _HOST_PORT.match(addr) or not 1 <= int(addr.rsplit(":", 1)[1]) <= 65535:
                r.error("sync_to", f'expected "host:port" (a multicast group or an address), got "{addr}"')
        listen = r.string("sync_listen", cls.sync_listen)
        if isinstance(listen, str) and (not _LISTEN.match(listen) or not 1 <= int(listen.rsplit(":", 1)[-1]) <= 65535):
            r.error("sync_listen", f'expected "[HOST:]PORT", got "{listen}"')
        interface = r.string("sync_interface", None)
        if isinstance(interface, str) and not _IPV4.match(interface):
            r.error("sync_interface", f'expected the IPv4 address of an interface, got "{interface}"')
        serve = r.string("sync_serve", None)
        if isinstance(serve, str) and (not _LISTEN.match(serve) or not 0 <= int(serve.rsplit(":", 1)[-1]) <= 65535):
            r.error("sync_serve", f'expected "[HOST:]PORT", got "{serve}"')
        return cls(hours=hours, days=days, restart=restart, fade=r.number("fade", 5.0, lo=0.0, hi=600.0),
                   sync=r.string("sync", "off", choices=SYNC_ROLES), sync_to=sync_to, sync_listen=listen,
                   sync_interface=interface, sync_serve=serve,
                   sync_warmup=r.number("sync_warmup", 10.0, lo=0.0, hi=3600.0),
                   fallback=r.boolean("fallback", True))

    def opening_hours(self):
        from ..service.hours import OpeningHours
        return OpeningHours.parse(self.hours, self.days or None, self.restart)


def _cc14_pairs(r: Reader) -> tuple[tuple[int, int], ...]:
    raw = r.raw("cc14", [])
    pairs = []
    if not isinstance(raw, list):
        raw = [raw]
    for item in raw:
        ok = (isinstance(item, list) and len(item) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in item)
              and 0 <= item[0] <= 15 and 0 <= item[1] <= 31)
        if not ok:
            r.error("cc14", "expected [channel 0..15, MSB controller 0..31] pairs (the LSB is MSB + 32), "
                    f"got {item!r}")
            continue
        pairs.append((item[0], item[1]))
    return tuple(pairs)


@dataclass(frozen=True)
class MidiSection(_Section):
    """MIDI ports by name or glob ("nanoKONTROL*"); `in` / `out` in the file."""

    enabled: bool = False
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    cc14: tuple[tuple[int, int], ...] = ()   # (channel, MSB controller 0..31) pairs sent as 14-bit
    feedback: bool = True                    # send mapped values back to the `out` ports

    PATH = ("inputs", "midi")

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "MidiSection":
        out = cls(enabled=r.boolean("enabled", True), inputs=r.strings("in", ("*",), allow_single=True),
                  outputs=r.strings("out", (), allow_single=True), cc14=_cc14_pairs(r),
                  feedback=r.boolean("feedback", True))
        return out

    def to_dict(self) -> dict:
        d = {"enabled": self.enabled, "in": list(self.inputs)}
        if self.outputs:
            d["out"] = list(self.outputs)
        if self.cc14:
            d["cc14"] = [list(p) for p in self.cc14]
        if not self.feedback:
            d["feedback"] = False
        return d


@dataclass(frozen=True)
class JoystickSection(_Section):
    """A joystick or gamepad (Linux /dev/input/jsN): axes -1..1, buttons 0/1."""

    enabled: bool = False
    device: str = "auto"                     # a /dev/input/js* path, or "auto": the first one there is

    PATH = ("inputs", "joystick")

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "JoystickSection":
        device = r.string("device", "auto")
        if device != "auto" and not device.startswith("/"):
            r.error("device", f'expected "auto" or a device path such as "/dev/input/js0", got "{device}"')
        return cls(enabled=r.boolean("enabled", True), device=device)

    def to_dict(self) -> dict:
        return {"enabled": self.enabled, "device": self.device}


@dataclass(frozen=True)
class InputsSection(_Section):
    audio: AudioSection = field(default_factory=AudioSection)
    osc: OscSection = field(default_factory=OscSection)
    midi: MidiSection = field(default_factory=MidiSection)
    joystick: JoystickSection = field(default_factory=JoystickSection)

    PATH = ("inputs",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "InputsSection":
        parts = {}
        for key, section in (("audio", AudioSection), ("osc", OscSection), ("midi", MidiSection),
                             ("joystick", JoystickSection)):
            parts[key] = section.from_dict(r.raw(key), ctx, r.path + (key,)) if r.has(key) else section()
        return cls(**parts)

    def to_dict(self) -> dict:
        d = {"audio": self.audio.to_dict(), "osc": self.osc.to_dict(), "midi": self.midi.to_dict()}
        if self.joystick.enabled:
            d["joystick"] = self.joystick.to_dict()
        return d


def _atlas_file(r: Reader, ctx: Context) -> Path | None:
    text = r.string("atlas", None)
    if text is None:
        return None
    path = _resolve(ctx, text)
    if not path.is_file():
        r.error("atlas", f"atlas file not found: {path} (make one with `latentperform atlas MODEL --out NAME.atlas`)")
    return path


def _directions_file(r: Reader, ctx: Context) -> Path | None:
    text = r.string("directions_file", None)
    if text is None:
        return None
    path = _resolve(ctx, text)
    if not text.lower().endswith(".npy"):
        r.error("directions_file", f'expected a .npy file of direction vectors, got "{text}"')
    elif ctx.base_dir is not None and not path.is_file():
        r.error("directions_file", f"directions file not found: {path}")
    return path


@dataclass(frozen=True)
class TrajectorySection(_Section):
    """How the latent point moves.  None = the trajectory's default (latent/trajectory.py)."""

    mode: str | None = None               # where the base point comes from: a mode registered in latent/modes/
    loop_beats: float | None = None       # beats per keyframe step of the loop
    loop_sync: str | None = None          # "free": integrates speed; "beat": locked to the beat grid
    loop_hold: float | None = None        # fraction of each step spent resting on the keyframe
    glide_beats: float | None = None      # beats a keyframe trigger takes to glide there
    speed: float | None = None            # initial latent/speed
    walk: float | None = None             # initial latent/walk amount
    walk_rate: float | None = None        # noise walk rate, cycles per second at speed 1
    xy_grid: tuple[int, int] | None = None  # (columns, rows) of the XY pad's seed grid
    xy_seeds: tuple[int, ...] | None = None  # row-major seeds of that grid
    xy_amount: float | None = None        # initial latent/xy/amount
    directions: int | None = None         # random directions made when the model has none
    directions_file: Path | None = None   # your own direction vectors (.npy, (k, w_dim)) instead
    direction_scale: float | None = None  # w-space distance of latent/direction/<k> = 1
    pulse_direction: int | None = None    # direction pushed along by latent/pulse
    pulse_strength: float | None = None   # w-space distance of a full pulse
    pulse_release: float | None = None    # seconds a latent/pulse/hit takes to fade (to 1/e)
    truncation: float | None = None       # initial latent/truncation (psi)
    mix_layers: tuple[int, int] | None = None  # [first, end) layers replaced by style mixing
    mix_keyframe: int | None = None       # keyframe whose latent the mix uses
    mix_seed: int | None = None           # ... or a seed for it
    atlas: Path | None = None             # an atlas (`latentperform atlas`): its map gives W (atlas/x, atlas/y ...)
    atlas_glide: float | None = None      # seconds the map position takes to follow the pad (to 1/e)

    PATH = ("trajectory",)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "TrajectorySection":
        grid = r.pair("xy_grid", None, integer=True, lo=2, hi=16)
        seeds = r.raw("xy_seeds", None)
        if seeds is not None:
            if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                      for s in seeds):
                r.error("xy_seeds", f"expected an array of seeds (integers of at least 0), got {seeds!r}")
                seeds = None
            else:
                need = (grid or (2, 2))[0] * (grid or (2, 2))[1]
                if len(seeds) != need:
                    r.error("xy_seeds", f"expected {need} seeds (xy_grid columns x rows, row by row), "
                            f"got {len(seeds)}")
                    seeds = None
                else:
                    seeds = tuple(seeds)
        mix = r.pair("mix_layers", None, integer=True, lo=0, hi=64)
        if mix is not None and mix[0] >= mix[1]:
            r.error("mix_layers", f"expected [first, end] with first < end, got {list(mix)}")
            mix = None
        out = cls(
            mode=r.string("mode", None),
            loop_beats=r.number("loop_beats", None, lo=0.0, hi=4096.0, lo_open=True),
            loop_sync=r.string("loop_sync", None, choices=LOOP_SYNC),
            loop_hold=r.number("loop_hold", None, lo=0.0, hi=0.95),
            glide_beats=r.number("glide_beats", None, lo=0.0, hi=256.0),
            speed=r.number("speed", None, lo=-4.0, hi=8.0),
            walk=r.number("walk", None, lo=0.0, hi=2.0),
            walk_rate=r.number("walk_rate", None, lo=0.0, hi=10.0),
            xy_grid=grid, xy_seeds=seeds,
            xy_amount=r.number("xy_amount", None, lo=0.0, hi=1.0),
            directions=r.integer("directions", None, lo=1, hi=64),
            directions_file=_directions_file(r, ctx),
            direction_scale=r.number("direction_scale", None, lo=0.0, hi=100.0),
            pulse_direction=r.integer("pulse_direction", None, lo=0, hi=63),
            pulse_strength=r.number("pulse_strength", None, lo=0.0, hi=100.0),
            pulse_release=r.number("pulse_release", None, lo=0.0, hi=30.0),
            truncation=r.number("truncation", None, lo=0.0, hi=2.0),
            mix_layers=mix,
            mix_keyframe=r.integer("mix_keyframe", None, lo=0),
            mix_seed=r.integer("mix_seed", None, lo=0, hi=2**32 - 1),
            atlas=_atlas_file(r, ctx),
            atlas_glide=r.number("atlas_glide", None, lo=0.0, hi=30.0),
        )
        if out.mix_keyframe is not None and out.mix_seed is not None:
            r.error("mix_seed", "give mix_keyframe or mix_seed, not both")
        return out


@dataclass(frozen=True)
class Keyframe(_Section):
    """A point of the loop: a seed (z drawn from numpy's default_rng(seed)) or a saved z (.npy).
    beats: this step's length (to the next keyframe), overriding [trajectory] loop_beats."""

    seed: int | None = None
    file: Path | None = None
    name: str = ""
    beats: float | None = None

    PATH = ("keyframes", 0)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "Keyframe":
        seed = r.integer("seed", None, lo=0, hi=2**32 - 1)
        file_text = r.string("file", None)
        file = None
        if file_text is not None:
            file = _resolve(ctx, file_text)
            if not file_text.lower().endswith(".npy"):
                r.error("file", f'expected a .npy file of a z vector, got "{file_text}"')
            elif not file.is_file():
                r.error("file", f"keyframe file not found: {file}")
        if r.has("seed") and r.has("file"):
            r.error("file", "give seed or file, not both")
        elif not r.has("seed") and not r.has("file"):
            r.error(None, "expected seed = <integer> or file = \"<name>.npy\"")
        out = cls(seed=seed, file=file, name=r.string("name", ""),
                  beats=r.number("beats", None, lo=0.0, hi=4096.0, lo_open=True))
        return out

    def to_dict(self) -> dict:
        d = _to_dict(self)
        if not self.name:
            d.pop("name", None)
        return d


@dataclass(frozen=True)
class Mapping(_Section):
    """One control rule: source address -> target parameter.  See docs/patch-format.md.

    mode None means "trigger" for trigger targets, "value" otherwise; range None means the
    target parameter's own range.
    """

    source: str
    target: str
    range: tuple[float, float] | None = None
    input: tuple[float, float] = (0.0, 1.0)
    curve: str = "lin"
    invert: bool = False
    smooth: float = 0.0
    attack: float | None = None
    release: float | None = None
    mode: str | None = None
    threshold: float = 0.5
    edge: str = "rise"
    arg: float | str | None = None
    arg_offset: float = 0.0
    quantize: str = "none"
    takeover: str = "jump"
    encoding: str = "twos"
    step: float = 1.0 / 127.0
    index: int = 0
    bang: bool = False

    @property
    def envelope(self) -> bool:
        return self.attack is not None or self.release is not None

    @property
    def effective_mode(self) -> str:
        if self.mode is not None:
            return self.mode
        return "trigger" if is_trigger(self.target) else "value"

    PATH = ("mapping", 0)

    @classmethod
    def _read(cls, r: Reader, ctx: Context, shader_passes: tuple[str, ...] | None = None,
              bends: int | None = None) -> "Mapping":
        if not r.has("source"):
            r.error(None, 'missing key "source" (a control address, e.g. "midi/cc/0/7")')
        if not r.has("target"):
            r.error(None, 'missing key "target" (a parameter name, e.g. "latent/speed")')
        source = r.string("source", "")
        if source and (not all(_SOURCE_SEGMENT.match(s) for s in source.split("/"))):
            r.error("source", 'expected a control address of slash-separated names, "*" matching one '
                    f'of them (e.g. "midi/cc/0/7", "midi/note/0/*"), got "{source}"')
        target = r.string("target", "")
        if target:
            problem = target_problem(target, shader_passes, bends)
            if problem:
                r.error("target", problem)
        arg = r.raw("arg", None)
        if arg is not None and arg != "*" and (isinstance(arg, bool) or not isinstance(arg, (int, float))):
            r.error("arg", f'expected a number or "*" (the number the wildcard matched), got {arg!r}')
            arg = None
        if arg == "*" and "*" not in source.split("/"):
            r.error("arg", f'"*" takes the number matched by a "*" in source, but source "{source}" has none')
        out = cls(
            source=source, target=target,
            range=r.pair("range", None),
            input=r.pair("input", (0.0, 1.0)),
            curve=r.string("curve", "lin", choices=CURVES),
            invert=r.boolean("invert", False),
            smooth=r.number("smooth", 0.0, lo=0.0, hi=60.0),
            attack=r.number("attack", None, lo=0.0, hi=60.0),
            release=r.number("release", None, lo=0.0, hi=60.0),
            mode=r.string("mode", None, choices=MODES),
            threshold=r.number("threshold", 0.5, lo=0.0, hi=1.0),
            edge=r.string("edge", "rise", choices=EDGES),
            arg=float(arg) if isinstance(arg, (int, float)) and not isinstance(arg, bool) else arg,
            arg_offset=r.number("arg_offset", 0.0),
            quantize=r.string("quantize", "none", choices=QUANTIZE),
            takeover=r.string("takeover", "jump", choices=TAKEOVER),
            encoding=r.string("encoding", "twos", choices=ENCODINGS),
            step=r.number("step", 1.0 / 127.0, lo=0.0, hi=1.0, lo_open=True),
            index=r.integer("index", 0, lo=0, hi=15),
            bang=r.boolean("bang", False),
        )
        if out.input[0] == out.input[1]:
            r.error("input", f"expected two different numbers, got {list(out.input)}")
        if target and out.mode == "value" and is_trigger(target):
            r.error("mode", f'"{target}" is a trigger: use mode = "trigger" (or leave mode out)')
        if target and out.mode in ("trigger",) and not is_trigger(target) and not target.startswith("shader/"):
            r.error("mode", f'"{target}" is a continuous parameter: use mode = "value" or "toggle"')
        if out.quantize != "none" and out.effective_mode != "trigger":
            r.error("quantize", "only triggers wait for the beat: set mode = \"trigger\" or remove quantize")
        if r.has("encoding") and out.takeover != "relative":
            r.error("encoding", 'only relative controls have an encoding: add takeover = "relative"')
        out = _fix_range(out, r)
        return out

    def to_dict(self) -> dict:
        d = _to_dict(self)
        defaults = Mapping("", "")
        for k in list(d):
            if k not in ("source", "target") and getattr(self, k) == getattr(defaults, k):
                del d[k]
        return d


def _fix_range(m: Mapping, r: Reader) -> Mapping:
    if m.range is not None and m.range[0] == m.range[1] and m.effective_mode == "value":
        r.error("range", f"expected two different numbers, got {list(m.range)}")
    return m


@dataclass(frozen=True)
class Bend(_Section):
    """One [[bend]]: an op inserted at a layer of the synthesis network (models.bend).

    layer, op   names from `latentperform inspect MODEL --layers`
    cluster     which cluster of the layer's channels (0 = the largest); absent: every channel
    clusters    how many clusters the channels are grouped into (default 4)
    with        swap: the partner cluster
    channels    explicit channel numbers instead of a cluster
    any other key is a setting of the op and its value at the start (angle = 30): each setting
    is the parameter bend/<i>/<setting>, mappable and at /lp/bend/<i>/<setting>.  The names are
    checked against the op when the network is loaded (the patch knows no network)."""

    layer: str = ""
    op: str = ""
    cluster: int | None = None
    clusters: int = 4
    partner: int | None = None
    channels: tuple[int, ...] | None = None
    values: tuple[tuple[str, float], ...] = ()

    PATH = ("bend", 0)

    @classmethod
    def _read(cls, r: Reader, ctx: Context) -> "Bend":
        layer, op = r.string("layer", None), r.string("op", None)
        for key, v in (("layer", layer), ("op", op)):
            if not v:
                r.error(None, f'expected {key} = "<name>" (`latentperform inspect MODEL --layers` lists them)')
        channels = None
        if r.has("channels"):
            raw = r.raw("channels")
            if not isinstance(raw, list) or not raw:
                r.error("channels", "expected an array of channel numbers, e.g. [0, 3, 5]")
            else:
                channels = tuple(r.check_int("channels", v, 0, 0, 4095, where=r.path + ("channels", i))
                                 for i, v in enumerate(raw))
        values = []
        for key in list(r.table):
            if key not in ("layer", "op", "cluster", "clusters", "with", "channels"):
                v = r.check_number(r.path + (key,), r.raw(key), None, None, None)
                if v is not None:
                    values.append((key, v))
        return cls(layer=layer or "", op=op or "", cluster=r.integer("cluster", None, lo=0, hi=63),
                   clusters=r.integer("clusters", 4, lo=1, hi=64), partner=r.integer("with", None, lo=0, hi=63),
                   channels=channels, values=tuple(values))

    def to_dict(self) -> dict:
        d = {"layer": self.layer, "op": self.op}
        for key, v in (("cluster", self.cluster), ("with", self.partner), ("channels", self.channels)):
            if v is not None:
                d[key] = list(v) if isinstance(v, tuple) else v
        if self.clusters != 4:
            d["clusters"] = self.clusters
        d.update(self.values)
        return d


# --------------------------------------------------------------------------------- the patch

_SECTIONS = ("patch", "model", "output", "clock", "inputs", "trajectory", "keyframes", "mapping", "control",
             "installation", "bend")


@dataclass(frozen=True)
class Patch(_Section):
    info: PatchInfo = field(default_factory=PatchInfo)
    model: ModelSection = field(default_factory=ModelSection)
    output: OutputSection = field(default_factory=OutputSection)
    clock: ClockSection = field(default_factory=ClockSection)
    inputs: InputsSection = field(default_factory=InputsSection)
    trajectory: TrajectorySection = field(default_factory=TrajectorySection)
    keyframes: tuple[Keyframe, ...] = ()
    mappings: tuple[Mapping, ...] = ()
    source_path: Path | None = None
    control: ControlSection = field(default_factory=ControlSection)
    installation: InstallationSection = field(default_factory=InstallationSection)
    bends: tuple[Bend, ...] = ()

    @property
    def name(self) -> str:
        return self.info.name or (self.source_path.stem if self.source_path else "")

    PATH = ()

    @classmethod
    def _read(cls, r: Reader, ctx: Context, source_path: Path | None = None) -> "Patch":
        info = PatchInfo.from_dict(r.raw("patch", {}), ctx)
        model = ModelSection.from_dict(r.raw("model", {}), ctx)
        output = OutputSection.from_dict(r.raw("output", {}), ctx)
        clock = ClockSection.from_dict(r.raw("clock", {}), ctx)
        inputs = InputsSection.from_dict(r.raw("inputs", {}), ctx)
        trajectory = TrajectorySection.from_dict(r.raw("trajectory", {}), ctx)
        keyframes = tuple(Keyframe.from_dict(k, ctx, ("keyframes", i))
                          for i, k in enumerate(_array_of_tables(r, "keyframes")))
        passes = output.shaders
        bends = tuple(Bend.from_dict(b, ctx, ("bend", i)) for i, b in enumerate(_array_of_tables(r, "bend")))
        mappings = tuple(Mapping.from_dict(m, ctx, ("mapping", i), shader_passes=passes, bends=len(bends))
                         for i, m in enumerate(_array_of_tables(r, "mapping")))
        if trajectory.mix_keyframe is not None and trajectory.mix_keyframe >= max(len(keyframes), 1):
            ctx.error(("trajectory", "mix_keyframe"),
                      f"expected a keyframe index below {len(keyframes)}, got {trajectory.mix_keyframe}")
        control = ControlSection.from_dict(r.raw("control"), ctx) if r.has("control") else ControlSection()
        installation = InstallationSection.from_dict(r.raw("installation", {}), ctx)
        return cls(info=info, model=model, output=output, clock=clock, inputs=inputs,
                   trajectory=trajectory, keyframes=keyframes, mappings=mappings, source_path=source_path,
                   control=control, installation=installation, bends=bends)

    def to_dict(self) -> dict:
        return {
            "patch": self.info.to_dict(), "model": self.model.to_dict(), "output": self.output.to_dict(),
            "clock": self.clock.to_dict(), "inputs": self.inputs.to_dict(),
            "trajectory": self.trajectory.to_dict(),
            "keyframes": [k.to_dict() for k in self.keyframes],
            "mapping": [m.to_dict() for m in self.mappings],
            **({"control": self.control.to_dict()} if self.control.enabled else {}),
            **({"installation": self.installation.to_dict()}
               if self.installation != InstallationSection() else {}),
            **({"bend": [b.to_dict() for b in self.bends]} if self.bends else {}),
        }


def _array_of_tables(r: Reader, key: str) -> list:
    v = r.raw(key, [])
    if not isinstance(v, list):
        r.error(key, f"expected [[{key}]] tables, got {'a table' if isinstance(v, dict) else repr(v)}"
                + (f" (write [[{key}]], with double brackets)" if isinstance(v, dict) else ""))
        return []
    return v


# --------------------------------------------------------------------------------- loading

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_patch(text: str, filename: str | Path = "<patch>", base_dir: Path | None = None) -> Patch:
    """Parse and validate patch text; relative paths resolve against `base_dir` (default: the
    folder of `filename`).  Raises PatchError naming file, line, key and what was expected."""
    filename = str(filename)
    if base_dir is None:
        base_dir = Path(filename).resolve().parent
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POSITION.search(msg)
        if m:
            raise PatchError([f"{filename}:{m.group(1)}: TOML syntax error: {msg[:m.start()]} "
                              f"(column {m.group(2)})"]) from None
        m = _TOML_END.search(msg)
        last = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise PatchError([f"{filename}:{max(last, 1)}: TOML syntax error: "
                          f"{msg[:m.start()] if m else msg} (at the end of the file)"]) from None
    from .lines import key_lines
    ctx = Context(filename, key_lines(text), base_dir)
    patch = Patch.from_dict(data, ctx, source_path=Path(filename))
    ctx.raise_if_errors()
    return patch


def load_patch(path: str | Path) -> Patch:
    """Read and validate a patch file.  Raises PatchError (a UserError) when it is invalid."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatchError([f"{p}: no such patch file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PatchError([f"{p}: cannot read the patch: {e}"]) from None
    patch = parse_patch(text, str(path), base_dir=p.resolve().parent)
    return patch
