"""MIDI in and out (mido + python-rtmidi): messages become ControlEvents; mapped state goes back to
controllers with lights or motor faders.  Ports come and go while the show runs.

Addresses (channels are 0-based as in mido: MIDI channel 1 is `0`):

  midi/cc/<ch>/<n>          control change, value/127 (0..1).  Configured 14-bit pairs
                            (`cc14=[(ch, msb)]`, LSB = msb + 32) arrive on the MSB's address as
                            (msb*128 + lsb)/16383; their LSB controller emits nothing by itself.
                            Relative encoders: the mapping recovers the raw 7-bit value as
                            round(value * 127) and decodes two's complement or offset itself.
  midi/note/<ch>/<n>        note on: velocity/127; note off (or note on velocity 0): 0.0
  midi/pitchbend/<ch>       -1..1 (0 at rest)
  midi/aftertouch/<ch>      channel pressure /127
  midi/polytouch/<ch>/<n>   poly aftertouch /127
  midi/program/<ch>         program number 0..127 (not normalised)
  clock/midi/start|stop|continue    1.0 (transport)
  clock/midi/bpm            tempo from 24-ppqn clock, smoothed, sent with every beat
  clock/beat                beat number since the last start (0, 1, 2 ...) on each quarter note

Hot-plug: the input (or output) is found by exact name or glob (`fnmatch`, case-sensitive) among
the backend's port names; a pattern also matches the part after "client:" (JACK names ports
"client:port").  A watcher thread looks at the port names about once a second: a port that is
missing or goes away is reported once (`status` and one log line) and reopened when it is back.
A port that vanishes and returns between two looks is not noticed (the backend gives no event).
The show never stops for MIDI.

Reading: with the rtmidi backends, inputs are read by a Python thread polling RtMidi's own queue
(`_PolledRtMidiIn`), never by a callback.  A callback runs Python in the MIDI API's thread (JACK's
real-time process thread), which must then wait for the GIL: the JACK cycle overruns while the
render loop holds it, and closing the port while that thread waits kills it holding the GIL's
lock, which deadlocks the interpreter (both seen on a JACK server).  Other mido backends keep
mido's callback.
"""

from __future__ import annotations

import collections
import fnmatch
import logging
import os
import threading
from typing import Callable, Iterable

import mido

from ..config import UserError
from ..events import ControlEvent, EventQueue

log = logging.getLogger("latentperform.inputs.midi")

PPQN = 24
# The client name of our own MIDI outputs.  Their ports are readable by everyone (that is how a
# controller gets its LEDs), so an input pattern such as "*" would find them: inputs skip ports of
# this client, or the engine would hear its own feedback (a toggle would flip every frame).
OWN_CLIENT = "latentperform out"

_backends: dict[str, "mido.Backend"] = {}


def midi_backend():
    """The mido backend MIDO_BACKEND names now (mido itself reads it once, at import: a test
    fixture or the CLI may set it later).  Unset: mido's default, rtmidi on the system's API."""
    name = os.environ.get("MIDO_BACKEND")
    if not name:
        return mido.backend
    if name not in _backends:
        _backends[name] = mido.Backend(name, load=True)
    return _backends[name]


class _PortLister:
    """Lists one direction's port names with ONE backend client kept open.

    mido's get_input_names() makes a new client per call; on JACK each new client stalls the
    graph for up to a second and MIDI in flight is lost.  The hot-plug watcher looks every
    second, so for rtmidi backends it keeps its own client and only asks it for names.
    """

    def __init__(self, backend, direction: str) -> None:
        self._backend = backend
        self._direction = direction
        self._rt = None
        if backend.name == "mido.backends.rtmidi":
            import rtmidi
            api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
            self._rt = (rtmidi.MidiIn if direction == "input" else rtmidi.MidiOut)(rtapi=api)

    def __call__(self) -> list[str]:
        if self._rt is not None:
            names = list(self._rt.get_ports())
        elif self._direction == "input":
            names = list(self._backend.get_input_names())
        else:
            names = list(self._backend.get_output_names())
        if self._direction == "input":
            names = [n for n in names if not n.startswith(OWN_CLIENT)]
        return names

    def close(self) -> None:
        if self._rt is not None:
            self._rt.delete()
            self._rt = None


def list_midi_ports() -> dict[str, list[str]]:
    """{"inputs": [...], "outputs": [...]}: what `latentperform devices` shows."""
    try:
        backend = midi_backend()
        return {"inputs": list(backend.get_input_names()), "outputs": list(backend.get_output_names())}
    except ImportError as e:
        raise UserError(f"MIDI is unavailable: {e}; install python-rtmidi (pip install python-rtmidi)") from None
    except Exception as e:  # the backend itself cannot start (no ALSA, no JACK server)
        raise UserError(f"MIDI is unavailable: {e} (without ALSA, e.g. in a container, start a JACK "
                        f"server and set MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK)") from None


def match_port(pattern: str, names: Iterable[str]) -> str | None:
    """The first port name equal to `pattern` or matching it as a glob (also after "client:")."""
    names = list(names)
    if pattern in names:
        return pattern
    for name in names:
        tail = name.split(":", 1)[1] if ":" in name else name
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(tail, pattern):
            return name
    return None


# -- messages -> events (pure) --------------------------------------------------------------------


class MidiClockFollower:
    """24-ppqn MIDI clock -> a steady bpm and beat numbers.

    Tempo: a straight line fitted (least squares) through the tick times of the last
    `window` seconds, tick number against arrival time; its slope is the tick interval.  Arrival
    jitter of a few ms (a JACK period, a polling thread, a loaded machine) averages out over the
    ~80 ticks of 2 s: a steady source reads within a few hundredths of a bpm.  Ticks far off the
    line (a stalled thread delivering late, then a burst) are left out of the fit (more than
    `OUTLIER_K` median deviations, and more than 2 ms, away).

    A real tempo change must not wait for the window to forget the old tempo: when the newest
    `CHANGE_TICKS` ticks all drift away from the line on the same side, each further than the
    one before (a tempo change makes the error grow tick by tick; a hiccup makes it shrink back),
    the fit starts over from the first of them.

    A pause of more than a second, or a start, begins a new measurement.
    """

    OUTLIER_K = 4.0
    CHANGE_TICKS = 6
    MIN_TICKS = PPQN // 2 + 1

    def __init__(self, window: float = 2.0) -> None:
        self.window = float(window)
        self._ticks: collections.deque[tuple[int, float]] = collections.deque()  # (tick number, time)
        self._n = 0
        self.running = True  # a clock that is already running when we join counts as running
        self.tick_count = 0
        self.bpm: float | None = None
        self.restarts = 0    # how many times a tempo change restarted the fit

    def start(self) -> None:
        self.running = True
        self.tick_count = 0
        self._ticks.clear()

    def stop(self) -> None:
        self.running = False

    def resume(self) -> None:
        self.running = True

    def song_position(self, sixteenths: int) -> None:
        self.tick_count = sixteenths * (PPQN // 4)

    @staticmethod
    def _fit(points) -> tuple[float, float] | None:
        """(intercept, slope) of time against tick number, least squares, or None."""
        n = len(points)
        if n < 2:
            return None
        mi = sum(i for i, _ in points) / n
        mt = sum(t for _, t in points) / n
        sii = sum((i - mi) ** 2 for i, _ in points)
        if sii <= 0:
            return None
        slope = sum((i - mi) * (t - mt) for i, t in points) / sii
        return mt - slope * mi, slope

    def _estimate(self) -> float | None:
        """Tick interval (s) from the window's ticks, outliers left out."""
        points = list(self._ticks)
        fit = self._fit(points)
        if fit is None:
            return None
        a, b = fit
        dev = sorted(abs(t - (a + b * i)) for i, t in points)
        mad = dev[len(dev) // 2]
        limit = max(self.OUTLIER_K * mad, 0.002)
        kept = [(i, t) for i, t in points if abs(t - (a + b * i)) <= limit]
        if len(kept) >= self.MIN_TICKS and len(kept) < len(points):
            fit = self._fit(kept) or fit
        return fit[1]

    def _tempo_changed(self) -> bool:
        """Do the newest CHANGE_TICKS ticks run away from the line through the ones before?"""
        k = self.CHANGE_TICKS
        if len(self._ticks) < self.MIN_TICKS + k:
            return False
        points = list(self._ticks)
        fit = self._fit(points[:-k])
        if fit is None:
            return False
        a, b = fit
        before = points[:-k]
        dev = sorted(abs(t - (a + b * i)) for i, t in before)
        noise = max(self.OUTLIER_K * dev[len(dev) // 2], 0.002)
        errors = [t - (a + b * i) for i, t in points[-k:]]
        same_side = all(e > 0 for e in errors) or all(e < 0 for e in errors)
        growing = all(abs(e2) > abs(e1) for e1, e2 in zip(errors, errors[1:]))
        return same_side and growing and abs(errors[-1]) > noise

    def tick(self, t: float) -> tuple[float | None, int | None]:
        """(bpm or None, beat number when this tick starts a beat, else None)."""
        if self._ticks and t - self._ticks[-1][1] > 1.0:
            self._ticks.clear()
        self._n += 1
        self._ticks.append((self._n, t))
        while len(self._ticks) > self.MIN_TICKS and t - self._ticks[0][1] > self.window:
            self._ticks.popleft()
        if self._tempo_changed():
            for _ in range(len(self._ticks) - self.CHANGE_TICKS - 1):
                self._ticks.popleft()
            self.restarts += 1
        if len(self._ticks) > self.CHANGE_TICKS:   # (a restart keeps CHANGE_TICKS + 1: read at once)
            interval = self._estimate()
            if interval is not None and interval > 0:
                self.bpm = 60.0 / (PPQN * interval)
        if not self.running:
            return self.bpm, None
        count = self.tick_count
        self.tick_count += 1
        return self.bpm, (count // PPQN if count % PPQN == 0 else None)


class MidiTranslator:
    """One port's messages -> ControlEvents.  Keeps the 14-bit MSB and the clock's state, so one
    translator per port, called from one thread at a time."""

    def __init__(self, cc14: Iterable[tuple[int, int]] = ()) -> None:
        self.cc14_msb = {(int(ch), int(msb)) for ch, msb in cc14}
        for ch, msb in self.cc14_msb:
            if not 0 <= msb < 32:
                raise UserError(f"14-bit CC pair ({ch}, {msb}): the MSB controller must be 0..31 (LSB = MSB + 32)")
        self.cc14_lsb = {(ch, msb + 32): msb for ch, msb in self.cc14_msb}
        self._msb: dict[tuple[int, int], int] = {}
        self.clock = MidiClockFollower()
        self.stats = {"received": 0, "events": 0, "ignored": 0}

    def translate(self, msg: "mido.Message", t: float) -> list[ControlEvent]:
        self.stats["received"] += 1
        out = self._translate(msg, t)
        if out:
            self.stats["events"] += len(out)
        else:
            self.stats["ignored"] += 1
        return out

    def _translate(self, msg, t: float) -> list[ControlEvent]:
        kind = msg.type
        ev = lambda address, value: [ControlEvent("midi", address, float(value), t)]  # noqa: E731
        if kind == "control_change":
            ch, n, v = msg.channel, msg.control, msg.value
            if (ch, n) in self.cc14_msb:
                self._msb[(ch, n)] = v  # an MSB resets the LSB to 0 (MIDI 1.0)
                return ev(f"midi/cc/{ch}/{n}", (v << 7) / 16383.0)
            msb_n = self.cc14_lsb.get((ch, n))
            if msb_n is not None:
                msb = self._msb.get((ch, msb_n), 0)
                return ev(f"midi/cc/{ch}/{msb_n}", ((msb << 7) | v) / 16383.0)
            return ev(f"midi/cc/{ch}/{n}", v / 127.0)
        if kind == "note_on":
            return ev(f"midi/note/{msg.channel}/{msg.note}", msg.velocity / 127.0)
        if kind == "note_off":
            return ev(f"midi/note/{msg.channel}/{msg.note}", 0.0)
        if kind == "pitchwheel":
            p = msg.pitch
            return ev(f"midi/pitchbend/{msg.channel}", p / 8192.0 if p < 0 else p / 8191.0)
        if kind == "aftertouch":
            return ev(f"midi/aftertouch/{msg.channel}", msg.value / 127.0)
        if kind == "polytouch":
            return ev(f"midi/polytouch/{msg.channel}/{msg.note}", msg.value / 127.0)
        if kind == "program_change":
            return ev(f"midi/program/{msg.channel}", msg.program)
        if kind == "clock":
            bpm, beat = self.clock.tick(t)
            if beat is None:
                return []
            out = [ControlEvent("clock", "clock/beat", float(beat), t)]
            if bpm is not None:
                out.append(ControlEvent("clock", "clock/midi/bpm", round(bpm, 3), t))
            return out
        if kind in ("start", "stop", "continue"):
            {"start": self.clock.start, "stop": self.clock.stop, "continue": self.clock.resume}[kind]()
            return [ControlEvent("clock", f"clock/midi/{kind}", 1.0, t)]
        if kind == "songpos":
            self.clock.song_position(msg.pos)
        return []


# -- reading an input without a callback ------------------------------------------------------------


class _PolledRtMidiIn:
    """An rtmidi input read by a Python thread every `interval` seconds (see the module
    docstring for why not a callback).  RtMidi queues what arrives in C++ meanwhile (up to
    `queue_size` messages); each message is passed to `on_message` as a mido.Message."""

    def __init__(self, backend, name: str, on_message: Callable[["mido.Message"], None], *,
                 virtual: bool = False, interval: float = 0.001, queue_size: int = 4096) -> None:
        import rtmidi
        api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
        self._rt = rtmidi.MidiIn(rtapi=api, queue_size_limit=queue_size)
        try:
            self._rt.ignore_types(sysex=False, timing=False, active_sense=True)  # keep the clock
            if virtual:
                self._rt.open_virtual_port(name)
            else:
                ports = self._rt.get_ports()
                if name not in ports:
                    raise OSError(f"no MIDI input named {name!r}")
                self._rt.open_port(ports.index(name))
        except Exception:
            self._rt.delete()
            raise
        self.name = name
        self.closed = False
        self._on_message = on_message
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"midi-in:{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get = self._rt.get_message
        while not self._stop.is_set():
            while True:
                try:
                    got = get()
                except Exception as e:  # the port went away under us: the watcher reopens it
                    log.debug("MIDI read %s: %s", self.name, e)
                    got = None
                if got is None:
                    break
                try:
                    msg = mido.Message.from_bytes(got[0])
                except (ValueError, TypeError):
                    continue  # not a complete channel or system message
                self._on_message(msg)
            self._stop.wait(self._interval)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self._rt.close_port()
        self._rt.delete()


class _RtMidiOut:
    """An rtmidi output connected to the port `name`, from a client named OWN_CLIENT (mido would
    make a virtual port instead when given a client name)."""

    def __init__(self, backend, name: str) -> None:
        import rtmidi
        api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
        self._rt = rtmidi.MidiOut(rtapi=api, name=OWN_CLIENT)
        try:
            ports = self._rt.get_ports()
            if name not in ports:
                raise OSError(f"no MIDI output named {name!r}")
            self._rt.open_port(ports.index(name), name="feedback")
        except Exception:
            self._rt.delete()
            raise
        self.name = name
        self.closed = False

    def send(self, msg: "mido.Message") -> None:
        self._rt.send_message(msg.bytes())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._rt.close_port()
            self._rt.delete()


def _open_input(backend, name: str, on_message, *, virtual: bool = False):
    """An open input port (anything with close()) that passes every message to `on_message`."""
    if backend.name == "mido.backends.rtmidi":
        return _PolledRtMidiIn(backend, name, on_message, virtual=virtual)
    return backend.open_input(name, virtual=virtual, callback=on_message)


# -- ports that come and go -------------------------------------------------------------------------


class _HotPlugPort:
    """Keeps one port (found by pattern) open: a watcher thread reopens it when it returns.

    `status` is a sentence for the HUD and `latentperform devices`; each change is logged once.
    """

    def __init__(self, what: str, pattern: str, list_names: Callable[[], list[str]],
                 open_port: Callable[[str], object], poll: float) -> None:
        self.what = what
        self.pattern = pattern
        self._list_names = list_names
        self._open_port = open_port
        self._poll = poll
        self._lock = threading.RLock()
        self.port = None
        self.port_name: str | None = None
        self.status = f"{what} {pattern!r}: not opened yet"
        self.on_change: Callable[[], None] | None = None
        self._stop = threading.Event()
        self.check()  # the first look happens now, so a present port is open on return
        self._thread = threading.Thread(target=self._watch, name=f"midi-watch:{pattern}", daemon=True)
        self._thread.start()

    def _set_status(self, status: str, level: int = logging.INFO, detail: str = "") -> None:
        if status != self.status:
            self.status = status
            log.log(level, "MIDI: %s%s", status, detail)

    def check(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            try:
                names = self._list_names()
            except Exception as e:
                self._set_status(f"{self.what} {self.pattern!r}: MIDI backend error: {e}", logging.WARNING)
                return
            if self.port is not None:
                if self.port_name in names:
                    return
                self._close_port()
                self._set_status(f"{self.what} {self.port_name!r} went away; waiting for it to return",
                                 logging.WARNING)
            name = match_port(self.pattern, names)
            if name is None:
                if self.port_name is None:
                    self._set_status(f"{self.what} {self.pattern!r} not found; waiting for it", logging.WARNING,
                                     f" (ports now: {', '.join(names) or 'none'})")
                return
            try:
                self.port = self._open_port(name)
            except Exception as e:
                self._set_status(f"{self.what} {name!r}: cannot open: {e}; retrying", logging.WARNING)
                return
            self.port_name = name
            self._set_status(f"{self.what} {name!r}: connected")
            if self.on_change is not None:
                self.on_change()

    def _close_port(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
            except Exception as e:
                log.debug("closing %s: %s", self.port_name, e)

    @property
    def connected(self) -> bool:
        return self.port is not None

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            self.check()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        with self._lock:
            self._close_port()
            close_lister = getattr(self._list_names, "close", None)
            if close_lister is not None:
                close_lister()
        self.status = f"{self.what} {self.pattern!r}: closed"


class MidiInput:
    """Opens a MIDI input by exact name or glob and puts ControlEvents on `queue`.

    Events are made in a reading thread (rtmidi: polling RtMidi's queue every millisecond; other
    backends: mido's callback).  `virtual=True` creates a port named `port_pattern` that other
    programs connect to, instead of looking for one.
    """

    def __init__(self, queue: EventQueue, clock, port_pattern: str = "*", *,
                 cc14: Iterable[tuple[int, int]] = (), poll: float = 1.0, virtual: bool = False) -> None:
        self.queue = queue
        self.clock = clock
        self.translator = MidiTranslator(cc14)
        backend = midi_backend()
        if virtual:
            self._virtual = _open_input(backend, port_pattern, self._on_message, virtual=True)
            self._hotplug = None
            self._virtual_status = f"input {port_pattern!r}: virtual port open"
            return
        self._virtual = None
        list_midi_ports()  # a backend that cannot start raises the UserError saying what is missing
        self._hotplug = _HotPlugPort("input", port_pattern, _PortLister(backend, "input"),
                                     lambda name: _open_input(backend, name, self._on_message), poll)

    def _on_message(self, msg) -> None:
        try:
            for event in self.translator.translate(msg, self.clock.now()):
                self.queue.put(event)
        except Exception as e:  # never let a strange message kill the backend's thread
            log.debug("MIDI message %r: %r", msg, e)

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.translator.stats)

    @property
    def status(self) -> str:
        return self._hotplug.status if self._hotplug is not None else self._virtual_status

    @property
    def connected(self) -> bool:
        return self._hotplug.connected if self._hotplug is not None else True

    @property
    def port_name(self) -> str | None:
        return self._hotplug.port_name if self._hotplug is not None else self._virtual.name

    def close(self) -> None:
        if self._hotplug is not None:
            self._hotplug.close()
        if self._virtual is not None:
            self._virtual.close()

    def __enter__(self) -> "MidiInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MidiFeedback:
    """LED / motor-fader feedback: send the engine's state back to a controller, only on change.

    Values are 0..1 like the input side.  Call the send methods every tick: unchanged values
    send nothing, and after the port is reconnected everything is sent again.
    """

    def __init__(self, port_pattern: str, *, poll: float = 1.0, virtual: bool = False) -> None:
        self._last: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.stats = {"sent": 0, "errors": 0}
        backend = midi_backend()
        if virtual:
            self._virtual = backend.open_output(port_pattern, virtual=True)
            self._hotplug = None
            return
        self._virtual = None
        list_midi_ports()
        if backend.name == "mido.backends.rtmidi":
            def open_output(name):
                return _RtMidiOut(backend, name)
        else:
            open_output = backend.open_output
        self._hotplug = _HotPlugPort("output", port_pattern, _PortLister(backend, "output"), open_output, poll)
        self._hotplug.on_change = self._last.clear

    @property
    def status(self) -> str:
        return self._hotplug.status if self._hotplug is not None else "output: virtual port open"

    def _port(self):
        return self._virtual if self._virtual is not None else self._hotplug.port

    def _send(self, key: tuple, raw: int, msg_factory: Callable[[], "mido.Message"]) -> bool:
        with self._lock:
            if self._last.get(key) == raw:
                return False
            port = self._port()
            if port is None:
                return False
            try:
                msgs = msg_factory()
                for m in msgs if isinstance(msgs, list) else [msgs]:
                    port.send(m)
            except Exception as e:
                self.stats["errors"] += 1
                log.debug("MIDI out: %s", e)
                return False
            self._last[key] = raw
            self.stats["sent"] += 1
            return True

    def send_cc(self, channel: int, control: int, value01: float) -> bool:
        v = _to7(value01)
        return self._send(("cc", channel, control), v,
                          lambda: mido.Message("control_change", channel=channel, control=control, value=v))

    def send_cc14(self, channel: int, msb_control: int, value01: float) -> bool:
        """A 14-bit pair: MSB on `msb_control`, then LSB on `msb_control + 32`."""
        v = int(round(min(max(float(value01), 0.0), 1.0) * 16383))
        msgs = [mido.Message("control_change", channel=channel, control=msb_control, value=v >> 7),
                mido.Message("control_change", channel=channel, control=msb_control + 32, value=v & 127)]
        return self._send(("cc14", channel, msb_control), v, lambda: msgs)

    def send_note(self, channel: int, note: int, value01: float) -> bool:
        """Note on with velocity round(value*127); 0 turns the LED off (note on, velocity 0)."""
        v = _to7(value01)
        return self._send(("note", channel, note), v,
                          lambda: mido.Message("note_on", channel=channel, note=note, velocity=v))

    def send_address(self, address: str, value01: float) -> bool:
        """Feedback for an input address: `midi/cc/<ch>/<n>` or `midi/note/<ch>/<n>`."""
        control = midi_control(address)
        if control is not None:
            kind, ch, n = control
            return (self.send_cc if kind == "cc" else self.send_note)(ch, n, value01)
        raise ValueError(f"no MIDI feedback for {address!r} (only midi/cc/<ch>/<n> and midi/note/<ch>/<n>)")

    def close(self) -> None:
        if self._hotplug is not None:
            self._hotplug.close()
        if self._virtual is not None:
            self._virtual.close()


def midi_control(address: str) -> tuple[str, int, int] | None:
    """("cc" | "note", channel, number) for a concrete `midi/cc/<ch>/<n>` or `midi/note/<ch>/<n>`
    address (the controls that can show a value back), else None."""
    parts = address.split("/")
    if len(parts) == 4 and parts[0] == "midi" and parts[1] in ("cc", "note") \
            and parts[2].isdigit() and parts[3].isdigit():
        return parts[1], int(parts[2]), int(parts[3])
    return None


def _to7(value01: float) -> int:
    return int(round(min(max(float(value01), 0.0), 1.0) * 127))


# -- the input kind's face (inputs/kinds.py) -------------------------------------------------------

LABEL = "MIDI ports"


def list_devices() -> list[str]:
    ports = list_midi_ports()
    lines = [f"in:  {n}" for n in ports.get("inputs", [])] or ["(no MIDI inputs)"]
    return lines + [f"out: {n}" for n in ports.get("outputs", [])]


def open_inputs(section, queue: EventQueue, clock, *, report=log.warning, poll: float = 1.0) -> list:
    """A MidiInput per port pattern of the patch's [inputs.midi] `inputs` (all on `queue`); a
    port that cannot open is reported, not fatal (a missing one is waited for)."""
    opened = []
    for pattern in section.inputs:
        try:
            opened.append(MidiInput(queue, clock, pattern, cc14=section.cc14, poll=poll))
        except Exception as e:  # a MIDI backend that cannot start is not fatal
            report(f"MIDI: cannot open {pattern!r}: {e}")
    return opened
