"""Musical time for a show: where tempo and beat phase come from (the patch's [clock] source),
the events that expose them to mappings, and the sound-card input that feeds the audio features.

    [clock] source   the engine's tempo and beat follow ...
    internal         the patch's bpm, `/lp/tempo` (clock/bpm) and taps (`/lp/tap`)
    tap              the same; a tap also puts the downbeat on the tap
    audio            the live beat tracker (offline: the audio file's FeatureTrack): its tempo, and
                     its beats, phase-locked
    midi             the MIDI clock: `clock/midi/bpm` and its beats (`clock/beat <n>`), bar-locked
    link             an Ableton Link session (optional extra `aalink`): its tempo and its beat
                     phase with quantum = beats_per_bar; our tempo changes (taps, OSC) go to it.
                     Offline, and on every instance playing in step, there is no session of its
                     own: `clock/link` events (value (bpm, beat) at the event's time; a leader in
                     step reads its Link session and sends them) are the source's grid

Downbeat resync (`clock/resync`, `/lp/resync`): the beat nearest to now becomes the first of a
bar, the tempo is kept; with a MIDI clock or Link the source's bar count is shifted by whole
beats to match (a clock joined mid-song counts bars from wherever it was).

Phase lock: the engine keeps its own beat grid and steers it toward the source's (a one-pole
correction with time constant LOCK_TAU_S), so the engine's beat lands on the source's beats
smoothly and never runs backwards.  Only the first lock (or a relock after the source went away)
may jump forward, by less than one beat (audio) or one bar (midi, link).  A source that goes
quiet leaves the engine running on at the last tempo.

Events for mappings, made once per tick by `MusicPart.poll` (source "music": derived from the
show's state, not inputs, so an event log need not keep them; a replay makes them again):

    clock/beat       on each beat of the show's grid; value: the beat number
                     (source midi: the MIDI input's own clock/beat events are the beats)
    clock/downbeat   on the first beat of each bar; value: the bar number
    clock/phase      0..1 through the current beat, every tick
    clock/bar_phase  0..1 through the current bar, every tick
    clock/bpm        the current tempo, when it changes

The beat tracker's own beats arrive as `audio/beat` (value 1), its tempo and phase as `audio/tempo`
and `audio/beat_phase`.  The chroma of the sound also reaches the trajectory: while
`latent/chroma` (the amount of the chroma -> keyframes mode) is above 0, the newest
`audio/chroma/<i>` sets the weight `latent/chroma/<i>` each tick.

Where the sources' events come from: every tick the engine passes the events of its input door
(the sound card's queue, the offline FeatureTrack, the MIDI clock, a replay) to
`update(..., events)`; `observe` keeps only the newest word of each, so seeing an event twice
changes nothing.
"""

from __future__ import annotations

import logging
import math

from ..clock import Tempo
from ..events import ControlEvent, ParamState
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

LOCK_TAU_S = 0.35         # time constant of the phase correction
LOCK_MAX_RATE = 0.5       # the correction changes the beat rate by at most +-50 %
AUDIO_LOST_BEATS = 6.0    # no tracker beat for this many beats: the audio source is lost
MIDI_LOST_S = 2.0         # no MIDI clock beat for this long: the MIDI source is lost
LINK_LOST_S = 3.0         # no clock/link event for this long (offline, in step): Link is lost
LINK_QUIET_S = 2.0        # offline with source "link" and no clock/link event by then: said once
MUSIC = "music"           # the source of the events this module makes


def _wrap(x: float, modulo: float) -> float:
    """x in [-modulo / 2, modulo / 2)."""
    return (x + 0.5 * modulo) % modulo - 0.5 * modulo


class _Reference:
    """Where the source's beat grid is: `beat` at time `time`, running at `bpm`; positions are
    compared modulo `modulo` beats (1: only the beat phase is known; beats_per_bar: the bar too)."""

    __slots__ = ("time", "beat", "bpm", "modulo")

    def __init__(self, time: float, beat: float, bpm: float, modulo: float) -> None:
        self.time, self.beat, self.bpm, self.modulo = float(time), float(beat), float(bpm), float(modulo)

    def at(self, t: float) -> float:
        return self.beat + (t - self.time) * self.bpm / 60.0


class MusicalTime:
    """Tempo and beat phase, from the source the patch picks (see the module docstring).

    `update(params, t, events)` runs once per tick after the mapper and notes what the sources
    said in the tick's events (`observe`); `attach(engine)` adds the part that makes the clock events (and opens
    Link for source "link")."""

    def __init__(self, clock_section) -> None:
        self.source = str(clock_section.source)
        self.beats_per_bar = max(int(getattr(clock_section, "beats_per_bar", 4) or 4), 1)
        self.tempo = Tempo(bpm=float(clock_section.bpm))
        self.link = None                 # a LinkSession while source = "link" and aalink is there
        self.part: MusicPart | None = None
        self.synced = False              # the grid is locked to the source now
        self.locks = 0                   # how many times it (re)locked
        self._clock = None
        self._last_t: float | None = None
        self._last_beat: float | None = None
        self._written_bpm: float | None = None
        # what the sources said last
        self._audio_bpm: float | None = None
        self._audio_phase: tuple[float, float] | None = None    # (time, phase)
        self._audio_beat_t: float | None = None
        self._midi_bpm: float | None = None
        self._midi_beat: tuple[float, float] | None = None      # (time, beat number)
        self._midi_running = True
        self._link_ref: tuple[float, float, float] | None = None   # (time, bpm, beat) of clock/link
        self.link_by_events = False    # source "link" without a session here: clock/link events
        self.propose_tempo = None      # fn(bpm): where our tempo changes go then (a leader in step: its Link)
        self._bar_offset = 0.0         # whole beats added to the source's bar position (resync)
        self._chroma: dict[int, tuple[float, float]] = {}   # pitch class -> (time, value), newest
        self._chroma_used = -math.inf                        # time of the newest chroma applied

    @property
    def tempo_sources(self) -> tuple[str, ...]:
        """Event addresses the mapper treats as a new tempo."""
        if self.source == "midi":
            return ("clock/tempo", "clock/midi/bpm")
        return ("clock/tempo",)

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, engine) -> "MusicPart":
        """Add the part that makes clock events and reads the sources (once per show); open Link
        for source "link" (live only; offline there is no session to follow)."""
        for part in engine.parts:
            if isinstance(part, MusicPart):       # a reloaded patch made a new MusicalTime
                part.adopt(self, engine)
                return part
        part = MusicPart(self)
        self._start(engine, part)
        engine.add_part(part)
        return part

    def _start(self, engine, part: "MusicPart") -> None:
        self.part = part
        self._clock = engine.clock
        if self.source == "link" and self.link is None:
            if getattr(engine, "offline", False):
                # offline (a render, or an instance in step): the grid comes as clock/link events
                # (a leader's, or a replayed log's); MusicPart says so when none come
                self.link_by_events = True
            else:
                from ..inputs.link import LinkUnavailable, open_link
                try:
                    self.link = open_link(self.tempo.bpm, quantum=self.beats_per_bar)
                except LinkUnavailable as e:
                    engine.report(f"clock: {e}; using the internal clock")

    def status(self) -> str:
        """One line for the overlay: tempo, beat, bar and where they come from."""
        beat = self._last_beat if self._last_beat is not None else 0.0
        where = self.source
        if self.source in ("audio", "midi", "link"):
            where += ", locked" if self.synced else ", free-running"
        if self.link is not None:
            where += f", {self.link.peers} Link peer{'s' if self.link.peers != 1 else ''}"
        elif self.link_by_events:
            where += ", from clock/link events"
        bar, in_bar = divmod(int(math.floor(beat)), self.beats_per_bar)
        return f"tempo {self.tempo.bpm:.1f} bpm ({where}), bar {bar + 1} beat {in_bar + 1}"

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    # -- the sources ---------------------------------------------------------------------------

    def observe(self, events) -> None:
        """Note what the tempo sources said (idempotent: seeing an event twice changes nothing)."""
        for e in events:
            a = e.address
            if e.source == "audio":
                if a.startswith("audio/chroma/"):
                    k = int(a[13:]) if a[13:].isdigit() else -1
                    if 0 <= k < 12 and (k not in self._chroma or e.time >= self._chroma[k][0]):
                        self._chroma[k] = (e.time, e.scalar())
                elif a == "audio/tempo":
                    self._audio_bpm = e.scalar()
                elif a == "audio/beat_phase":
                    if self._audio_phase is None or e.time >= self._audio_phase[0]:
                        self._audio_phase = (e.time, e.scalar())
                elif a == "audio/beat":
                    self._audio_beat_t = max(e.time, self._audio_beat_t or e.time)
            elif a == "clock/link" and e.source != MUSIC:
                v = e.value
                if isinstance(v, tuple) and len(v) == 2 and all(x == x and abs(x) < 1e12 for x in v) \
                        and v[0] > 0 and (self._link_ref is None or e.time >= self._link_ref[0]):
                    self._link_ref = (e.time, float(v[0]), float(v[1]))
            elif e.source != MUSIC and (a.startswith("clock/midi/") or a == "clock/beat"):
                # clock/beat: the MIDI input's beats (the grid's own are only made when the source
                # is not midi, and only the midi source reads these)
                if a == "clock/midi/bpm":
                    self._midi_bpm = e.scalar()
                elif a == "clock/beat":
                    self._midi_beat = (e.time, e.scalar())
                    self._midi_running = True
                elif a == "clock/midi/stop":
                    self._midi_running = False
                elif a in ("clock/midi/start", "clock/midi/continue"):
                    self._midi_running = True

    def reference(self, t: float) -> _Reference | None:
        """The source's beat grid at time t, or None when it has none now (internal, tap, a source
        that is not locked or went quiet)."""
        if self.source == "audio":
            if self._audio_beat_t is None or self._audio_phase is None or not self._audio_bpm:
                return None
            if t - self._audio_beat_t > AUDIO_LOST_BEATS * 60.0 / self._audio_bpm:
                return None
            pt, phase = self._audio_phase
            return _Reference(pt, phase, self._audio_bpm, 1.0)
        if self.source == "midi":
            if self._midi_beat is None or not self._midi_running or not self._midi_bpm:
                return None
            bt, n = self._midi_beat
            if t - bt > MIDI_LOST_S:
                return None
            return _Reference(bt, n + self._bar_offset, self._midi_bpm, float(self.beats_per_bar))
        if self.source == "link" and self.link is not None:
            now = self._clock.now() if self._clock is not None else t
            bpm, beat = self.link.state()
            return _Reference(now, beat + self._bar_offset, bpm, float(self.beats_per_bar))
        if self.source == "link" and self._link_ref is not None:
            lt, bpm, beat = self._link_ref
            if t - lt > LINK_LOST_S:
                return None
            return _Reference(lt, beat + self._bar_offset, bpm, float(self.beats_per_bar))
        return None

    # -- the tick ------------------------------------------------------------------------------

    def update(self, params: ParamState, t: float, events=None) -> ParamState:
        if events is not None:
            self.observe(events)
        wanted = params.get("clock/bpm", self.tempo.bpm)
        if self._written_bpm is None or abs(wanted - self._written_bpm) > 1e-6:
            # the mapper changed the tempo this tick (patch default, /lp/tempo, a tap)
            by_events = self.link is None and self.link_by_events and self._link_ref is not None
            if by_events:
                # following a leader's Link: the tempo changes when Link's does (the leader
                # proposes it, the next clock/link event brings it), on every instance alike
                if self.propose_tempo is not None and self._written_bpm is not None:
                    self.propose_tempo(min(max(wanted, self.tempo.min_bpm), self.tempo.max_bpm))
            elif abs(wanted - self.tempo.bpm) > 1e-6:
                self.tempo.set_bpm(wanted, t)
            if self.link is not None and self._written_bpm is not None:
                self.link.set_tempo(self.tempo.bpm)
        if params.fired("clock/tap") and self.source in ("internal", "tap"):
            self.tempo.align(t, round(self.tempo.beat(t)))   # the downbeat lands on the tap
        if params.fired("clock/resync"):
            self.resync(t)

        ref = self.reference(t)
        if ref is None:
            self.synced = False
        else:
            self._follow(ref, t)
        beat = self.tempo.beat(t)
        if self._last_beat is not None and beat < self._last_beat:
            beat = self._last_beat   # a tap put the grid back a little: hold until it catches up
        self._last_t, self._last_beat = t, beat
        bpm = self.tempo.bpm
        self._written_bpm = bpm
        values = params.values
        if abs(values.get("clock/bpm", bpm) - bpm) > 1e-9:
            values = {**values, "clock/bpm": bpm}
        chroma = self._new_chroma() if values.get("latent/chroma", 0.0) > 0.0 else {}
        if chroma:   # the weights of the chroma -> keyframes mode follow the sound's chroma
            values = {**values, **chroma}
        return params.evolve(values=values, tempo=bpm, beat=beat, time=t,
                             beats_per_bar=self.beats_per_bar)

    def resync(self, t: float) -> None:
        """Now is the first beat of a bar: the nearest beat becomes a bar line (ahead when it
        is the nearer one), and a bar-locked source's count is shifted to agree."""
        bpb = float(self.beats_per_bar)
        here = self.tempo.beat(t)
        bar = round(round(here) / bpb) * bpb
        self.tempo.align(t, bar + (here - round(here)) if self.source == "audio" else bar)
        self._last_beat = None   # asked for: the count may step back (at most half a bar), not wait
        ref = self.reference(t)
        if ref is not None and ref.modulo > 1.0:
            self._bar_offset = (self._bar_offset + round(bar - ref.at(t))) % bpb

    def _new_chroma(self) -> dict[str, float]:
        newest = max((tv[0] for tv in self._chroma.values()), default=-math.inf)
        if newest <= self._chroma_used:
            return {}
        self._chroma_used = newest
        return {f"latent/chroma/{k}": min(max(v, 0.0), 1.0) for k, (_, v) in self._chroma.items() if v == v}

    def _follow(self, ref: _Reference, t: float) -> None:
        bpm = min(max(ref.bpm, self.tempo.min_bpm), self.tempo.max_bpm)
        here = self.tempo.beat(t)
        error = _wrap(ref.at(t) - here, ref.modulo)
        if not self.synced or self._last_t is None:
            # first lock: jump forward (never back) onto the source's grid
            self.tempo.align(t, here + error % ref.modulo, bpm)
            self.synced = True
            self.locks += 1
            return
        dt = max(t - self._last_t, 0.0)
        step = error * (1.0 - math.exp(-dt / LOCK_TAU_S))
        limit = LOCK_MAX_RATE * dt * bpm / 60.0
        step = min(max(step, -limit), limit)
        self.tempo.align(t, here + step, bpm)


class MusicPart(EnginePart):
    """The show's musical-time events (the sound card's reach `MusicalTime` with the rest of
    the tick's, through the input door)."""

    def __init__(self, music: MusicalTime) -> None:
        self.music = music
        self._next_beat: int | None = None
        self._last_bpm: float | None = None
        self._said_quiet = False

    def adopt(self, music: MusicalTime, engine) -> None:
        """Serve a new MusicalTime (a reloaded patch changed [clock]): the old one lets go of Link."""
        if music is self.music:
            return
        old, self.music = self.music, music
        old.close()
        # the beat goes on from where it was (a new source locks from there, forward only)
        music.tempo.bpm, music.tempo.origin, music.tempo.beat_at_origin = (
            old.tempo.bpm, old.tempo.origin, old.tempo.beat_at_origin)
        music._last_t, music._last_beat, music._written_bpm = old._last_t, old._last_beat, old._written_bpm
        self._next_beat = None
        music._start(engine, self)

    def status_lines(self, engine) -> list[str]:
        return [self.music.status()]

    def poll(self, engine, t: float) -> list[ControlEvent]:
        music = self.music
        if music.link_by_events and music._link_ref is None and t >= LINK_QUIET_S and not self._said_quiet:
            self._said_quiet = True
            engine.report('clock: source "link" has no session here and no clock/link events came '
                          '(offline, or a leader without Link); using the internal clock')
        return self._clock_events(t)

    def _clock_events(self, t: float) -> list[ControlEvent]:
        music = self.music
        tempo = music.tempo
        beat = max(tempo.beat(t), music._last_beat if music._last_beat is not None else -math.inf)
        bpb = music.beats_per_bar
        out = [ControlEvent(MUSIC, "clock/phase", beat % 1.0, t),
               ControlEvent(MUSIC, "clock/bar_phase", (beat / bpb) % 1.0, t)]
        if self._last_bpm is None or abs(tempo.bpm - self._last_bpm) > 1e-3:
            self._last_bpm = tempo.bpm
            out.append(ControlEvent(MUSIC, "clock/bpm", tempo.bpm, t))
        n = math.floor(beat + 1e-9)
        if self._next_beat is None:
            self._next_beat = n if abs(beat - n) < 1e-9 else n + 1
        # a beat (and a bar) crossed since the last tick; after a forward jump only the last one
        if n >= self._next_beat:
            self._next_beat = n + 1
            at = tempo.origin + (n - tempo.beat_at_origin) * 60.0 / tempo.bpm
            at = min(at, t)
            if music.source != "midi":      # a MIDI input sends its own clock/beat
                out.append(ControlEvent(MUSIC, "clock/beat", float(n), at))
            if n % bpb == 0:
                out.append(ControlEvent(MUSIC, "clock/downbeat", float(n // bpb), at))
        return out

    def close(self) -> None:
        self.music.close()


def open_music_inputs(engine, *, audio: bool = True) -> None:
    """The show's musical time (clock events, Link) and the sound-card input the patch names
    (skipped with a message when there is none)."""
    engine.music.attach(engine)
    aud = engine.patch.inputs.audio
    if not (audio and aud.enabled):
        return
    record = {}
    event_log = getattr(engine, "event_log", None)
    if event_log is not None:
        # the sound is logged too, next to the events: EVENTS.jsonl -> EVENTS.flac, and the log
        # says where it is and the engine time of its first sample (see inputs/replay.py)
        sound = event_log.path.with_suffix(".flac")
        if sound == event_log.path:
            sound = sound.with_name(sound.stem + ".sound.flac")

        def noted(path, t0, rate, log=event_log):
            log.write_meta(audio={"path": path.name, "t0": round(t0, 6), "sample_rate": rate})

        record = {"record_to": sound, "on_record": noted, "on_record_error": engine.report}
    try:
        from ..inputs.kinds import input_kind
        engine.inputs += input_kind("audio").open_inputs(aud, engine.door.add_queue("audio"), engine.clock, **record)
    except Exception as e:
        engine.report(f"audio: {e}; carrying on without sound input")
