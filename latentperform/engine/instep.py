"""Several instances in step (service/sync.py has the wire and the follower's rules).

Each instance, leader or follower, runs its show deterministically: a fixed-step clock (frame k
at time k / fps), every frame rendered in order with the generator in the loop (as offline), the
same patch.  The leader's door holds its inputs' events back `delay` frames and sends them; a
follower's door takes the leader's events for the frame instead of its own.  The surface waits
to present frame k until the leader's wall-clock moment for k, so every screen changes at once.

A follower that loses its leader holds its last picture (and keeps the watchdog fed: its loop is
alive); the same leader back: it goes on; a restarted leader (a new session): it builds its
show again and follows from the leader's frame 0.

A follower that joins late (started after its leader, restarted alone, back from a long gap)
gets the frames' events it missed from the leader's log (service/sync.py) and goes through every
frame from the leader's frame 0, as fast as it can, presenting none that is already past its
moment, then presents in step.  A frame depends on all the frames before it (the parameters,
the walk, the music clock, and the shaders' history: feedback), so:
  - frames more than `warmup_s` behind the leader are only advanced (Engine.advance: events,
    parameters, musical time, trajectory; no generating, no drawing: ~10x faster), so a
    follower joining a show that has played for hours is not hours catching up;
  - the last `warmup_s` are rendered (not presented), so the shaders' history is built again:
    feedback trails fade by `amount` every frame, and once the old ones are below a pixel's
    step the pictures are the leader's to the bit (checked against the leader's checksums,
    sent in its packets).  A follower less than `warmup_s` behind renders every frame: exact.

Ableton Link (`[clock] source = "link"`): the leader joins the Link session and puts its tempo
and beat, for the moment each frame is presented, in its events (`clock/link`, when the tempo
changed or the beat drifted from the last one's line, and once a second); every instance's
musical time locks to them as a live show locks to Link itself, so leader and followers keep
the other music software's tempo and bar, frame for frame alike.  A tempo the leader's inputs
set (/lp/tempo, taps) is proposed to the session and comes back the same way.
"""

from __future__ import annotations

import logging
import time

from ..config import UserError
from ..events import ControlEvent
from ..service.notify import Notifier
from ..service.sync import SyncFollower, SyncLeader, check_interface, parse_address
from .installation import ServicePart, add_hours, frame_hash, service_name

log = logging.getLogger("latentperform.engine")

INTERNAL = frozenset({"music"})   # made again by every instance from the frame clock
GIVE_UP_S = 20.0                  # catching up longer than the warm-up and this: shown late instead
LINK_DRIFT_BEATS = 0.005          # the leader sends Link's beat again when it leaves the last line by this
BEHIND_S = 0.5                    # a leader this late on its schedule starts a new one


class PacedSurface:
    """The show's surface, presenting each frame at `present_at` (wall-clock seconds); records
    when it did in `presented`.  Everything else is the surface's own."""

    def __init__(self, surface) -> None:
        self._surface = surface
        self.present_at: float | None = None
        self.presented: float | None = None
        self.skip = False        # catching up: the frame is rendered, not presented
        self.closing = False

    def __getattr__(self, name):
        return getattr(self._surface, name)

    def present(self) -> None:
        if self.skip:
            self.presented = None
            return
        at = self.present_at
        if at is not None:
            while True:
                left = at - time.time()
                if left <= 0:
                    break
                time.sleep(left - 0.002 if left > 0.004 else left / 2)  # the last ms by short sleeps
        self._surface.present()
        self.presented = time.time()

    def should_close(self) -> bool:
        return self.closing or self._surface.should_close()

    def request_close(self) -> None:
        self.closing = True
        self._surface.request_close()


def _restamp(triples, t: float) -> list[ControlEvent]:
    return [ControlEvent(s, a, v, t) for s, a, v in triples]


class InStep:
    """The loop of one instance in step.  `open_engine(surface, generator)` builds the show (a
    deterministic engine: fixed-step clock, offline stepping) on the surface it is given;
    `service` (an installation ServicePart or None) is fed after every frame."""

    def __init__(self, *, role: str, surface, open_engine, fps: float, targets=None, listen=None,
                 service=None, present_log=None, lost_after: float = 1.0, lead: float = 1.0,
                 interface: str | None = None, serve: tuple[str, int] | None = ("", 0),
                 link=None, warmup_s: float = 10.0, give_up_s: float = GIVE_UP_S) -> None:
        if role not in ("leader", "follower"):
            raise ValueError(f"role: expected leader or follower, got {role!r}")
        self.role = role
        self.surface = PacedSurface(surface)
        self.open_engine = open_engine
        self.fps = float(fps)
        self.service = service
        self.lead = lead
        self.leader = (SyncLeader(list(targets), interface=interface, serve=serve)
                       if role == "leader" else None)
        self.follower = (SyncFollower(listen, lost_after=lost_after, interface=interface)
                         if role == "follower" else None)
        self.late_s = 1.0 / self.fps   # a frame this late is rendered, not presented (catching up)
        self.skipped = 0               # frames rendered without presenting, catching up
        self.advanced = 0              # frames only advanced (no picture), catching up from far behind
        self.too_slow = False          # caught up for too long: frames are shown late instead
        self.give_up_s = float(give_up_s)
        self.warmup_s = max(float(warmup_s), 0.0)
        self._catching_up: tuple[int, float] | None = None   # (first frame, monotonic start)
        self.link = link               # the leader's Link session (inputs/link.py LinkSession) or None
        self._mine: dict[int, int] = {}    # a follower's checksums of its presented frames, not yet compared
        self.compared = 0                  # frames whose checksum the leader's was compared with
        self.identical = 0                 # ... and was the same
        self.first_difference: int | None = None
        self.same_since: int | None = None    # the pictures have been the leader's since this frame
        self.link_sent = 0
        self.link_proposed = 0
        self._link_line: tuple[int, float, float] | None = None   # (frame, bpm, beat) last sent
        self.engine = None
        self.generator = None
        self.frames = 0
        self.resets = 0
        self.holds = 0
        self._due: tuple = ()
        self._spare = None       # a follower's next show, built while it waits (a reset is then instant)
        self._log = open(present_log, "a", buffering=1) if present_log else None

    # -- the doors --------------------------------------------------------------------------------

    def _lead(self, engine, events, t):
        k = self.engine.frame_index
        own = [(e.source, e.address, e.value) for e in events if e.source not in INTERNAL]
        if self.link is not None:
            try:
                own.extend(self._link_event(k + self.leader.delay))
            except Exception as e:  # the Link library must not end the show
                self.engine.report(f"sync: Link: {e!r}")
        due = self.leader.tick(k, own)
        if self.leader.last_error:
            self.engine.report(self.leader.last_error)
            self.leader.last_error = None
        return [e for e in events if e.source in INTERNAL] + _restamp(due, t)

    def _link_event(self, frame: int) -> list[tuple]:
        """Link's tempo and beat at the moment `frame` is presented, when they left the line
        of the last ones sent (a tempo change, a jump), or a second after them."""
        bpm, beat_now = self.link.state()
        beat = beat_now + (self.leader.when(frame) - time.time()) * bpm / 60.0
        line = self._link_line
        if line is not None:
            f0, bpm0, beat0 = line
            predicted = beat0 + (frame - f0) / self.fps * bpm0 / 60.0
            if abs(bpm - bpm0) < 1e-3 and abs(beat - predicted) < LINK_DRIFT_BEATS and frame - f0 < self.fps:
                return []
        self._link_line = (frame, bpm, beat)
        self.link_sent += 1
        return [("link", "clock/link", (float(bpm), float(beat)))]

    def _follow(self, engine, events, t):
        return [e for e in events if e.source in INTERNAL] + _restamp(self._due, t)

    def _fresh(self):
        """A show that has not stepped yet, with this instance's door filter."""
        engine = self.open_engine(self.surface, self.generator)
        self.generator = engine.generator
        engine.door.add_filter(self._lead if self.role == "leader" else self._follow)
        if self.link is not None:   # the leader's performer changes the tempo: the Link session's
            engine.music.propose_tempo = self._propose_tempo
        return engine

    def _propose_tempo(self, bpm: float) -> None:
        """A tempo the leader's inputs set (/lp/tempo, taps): proposed to the Link session; it
        comes back to every instance with the next clock/link event."""
        try:
            self.link.set_tempo(bpm)
            self.link_proposed += 1
        except Exception as e:  # the Link library must not end the show
            self.engine.report(f"sync: Link: {e!r}")

    def _build(self) -> None:
        """The show to play from frame 0: the spare one made while waiting, else a new one."""
        spare, self._spare = self._spare, None
        if self.engine is not None:
            self.engine.close()
        self.engine = spare if spare is not None else self._fresh()

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, seconds: float | None = None) -> int:
        start = time.monotonic()
        try:
            if self.role == "leader":
                self._build()
                self.leader.begin(self.fps, start=time.time() + self.lead)
                self.leader.announce()
            else:
                self._spare = self._fresh()  # ready before the leader is heard
                log.info("sync: ready, waiting for the leader")
            while not self.surface.should_close():
                if seconds is not None and time.monotonic() - start >= seconds:
                    break
                if self.role == "leader":
                    self._lead_frame()
                else:
                    self._follow_frame()
        finally:
            self.close()
        return 0

    def _lead_frame(self) -> None:
        k = self.engine.frame_index + 1
        self.surface.present_at = self.leader.when(k)
        self._step(k)
        if time.time() - self.leader.when(k + 1) > BEHIND_S:
            self.leader.rebase(k + 1)  # too slow for the schedule: a new one from now on
            self.engine.report(f"sync: the leader fell behind its frame clock; new schedule from frame {k + 1}")

    def _follow_frame(self) -> None:
        k = self.engine.frame_index + 1 if self.engine is not None else 0
        plan = self.follower.plan(k)
        if plan.action == "reset":
            if self.engine is not None:
                log.info("sync: a new leader session; following it from its frame 0")
            self.resets += 1
            self.too_slow = False   # from frame 0, in time again (as far as this machine can)
            self._mine = {}
            self.same_since = None
            self._build()
            return
        if plan.action != "render" or self.engine is None:
            self.holds += 1
            if self._spare is None and plan.action == "hold" and not self.follower.connected:
                self._spare = self._fresh()  # for a restarted leader; the same one back keeps the show
            if self.service is not None:
                self.service.alive()
            self.surface.poll_keys()  # a window stays responsive while it holds its picture
            time.sleep(0.002)
            return
        self._due = plan.events
        if (time.time() - plan.at) > self.warmup_s:   # far behind: the state only, no picture
            self.advanced += 1
            if self._catching_up is None:
                self._catching_up = (k, time.monotonic())
            self.engine.advance()
            if self.advanced % 64 == 0:
                self.surface.poll_keys()
                if self.service is not None:
                    self.service.alive()
            return
        self.surface.present_at = plan.at
        # catching up, every frame already past its moment is passed over; in step, one that is
        # late by less than a frame is still shown (late) rather than dropped
        late = time.time() - plan.at > (0.0 if self._catching_up is not None else self.late_s)
        if late and self._catching_up is not None and not self.too_slow \
                and time.monotonic() - self._catching_up[1] > self.warmup_s + self.give_up_s:
            # not gaining on the leader: this machine renders the show slower than its frame
            # rate.  A late picture is better than none: shown as it comes, and said
            self.too_slow = True
            self.engine.report(f"sync: this machine renders slower than the show's {self.fps:g} fps: it "
                               f"cannot catch up with the leader; showing its frames late")
        if self.too_slow:   # shown as it comes (late): no catching up to speak of
            late = False
            self._catching_up = None
        self.surface.skip = late
        if late:
            self.skipped += 1
            if self._catching_up is None:
                self._catching_up = (k, time.monotonic())
            if self.skipped % 32 == 0:
                self.surface.poll_keys()   # a window stays responsive while it catches up
        elif self._catching_up is not None:
            first, since = self._catching_up
            self._catching_up = None
            log.info("sync: caught up with the leader at frame %d (frames %d..%d: %d advanced without "
                     "a picture, %d rendered without presenting; %.1f s)", k, first, k - 1, self.advanced,
                     self.skipped, time.monotonic() - since)
        self._step(k)

    def _step(self, k: int) -> None:
        self.engine.step()
        self.frames += 1
        checksum = None
        if self.surface.presented is not None and self.engine.last_pixels is not None:
            checksum = frame_hash(self.engine.last_pixels)
            if self.leader is not None:
                self.leader.picture(k, checksum)   # sent on: every follower compares its own
            else:
                self._mine[k] = checksum
                self._compare()
        if self._log is not None and self.surface.presented is not None:
            session = self.leader.session if self.leader is not None else self.follower.session
            self._log.write(f"{k},{self.surface.presented:.6f},{checksum or 0},{session},"
                            f"{self.engine.params.beat:.6f}\n")
        if self.service is not None:
            if self.follower is not None:
                self.service.extra["sync"] = self.figures()
            self.service.after_frame(self.engine, self.engine.params, self.surface.presented)

    def _compare(self) -> None:
        """The follower's pictures against the leader's checksums (they come with the packets a
        frame or two later): counted; the first difference is said once."""
        for f in sorted(self._mine):
            theirs = self.follower.leader_picture(f)
            if theirs is None:
                if len(self._mine) > 64:   # never heard (the leader lost): not compared
                    del self._mine[f]
                continue
            mine = self._mine.pop(f)
            self.compared += 1
            if mine == theirs:
                self.identical += 1
                if self.same_since is None:
                    self.same_since = f
                    if self.first_difference is not None:
                        log.info("sync: the pictures are the leader's again from frame %d", f)
                continue
            self.same_since = None
            if self.first_difference is None:
                self.first_difference = f
                self.engine.report(f"sync: frame {f} differs from the leader's picture (the same patch and "
                                   f"model everywhere? events lost? a warm-up too short for the feedback?)")

    def request_stop(self) -> None:
        """SIGTERM / Ctrl-C: the loop ends after this frame (and says its figures)."""
        self.surface.closing = True

    def figures(self) -> str:
        if self.leader is not None and self.leader.base is not None:
            link = (f", Link: {self.link.peers} peer(s), {self.link.tempo:.1f} bpm, {self.link_sent} beats sent"
                    if self.link is not None else "")
            return (f"leader, session {self.leader.session}, {self.leader.sent} packets sent, "
                    f"{self.leader.served} catch-ups served{link}")
        if self.leader is not None:
            return "leader, not started"
        f = self.follower.figures()
        return (f"follower of {f['session']}, {'connected' if f['connected'] else 'leader lost'}, "
                f"{f['lost_frames']} frames of events lost, {f['fetched_frames']} fetched from the leader, "
                f"catching up: {self.advanced} advanced without a picture, {self.skipped} rendered without "
                f"presenting; {self.resets} resets; "
                f"pictures identical to the leader's: {self.identical} of {self.compared} compared"
                + (f", all since frame {self.same_since}" if self.same_since is not None else ""))

    def close(self) -> None:
        for engine in (self.engine, self._spare):
            if engine is not None:
                engine.close()
        self.engine = self._spare = None
        for side in (self.leader, self.follower, self.link):
            if side is not None:
                side.close()
        self.link = None
        if self._log is not None:
            self._log.close()
            self._log = None


def run_in_step(args, patch, *, role: str, surface, fps: float, signals=None) -> int:
    """`latentperform run --sync leader|follower`: the show on `surface`, in step (see above)."""
    from ..clock import FixedStepClock
    from .show import open_live_inputs, open_show

    inst = patch.installation
    try:
        targets = [parse_address(a) for a in (getattr(args, "sync_to", None) or inst.sync_to)]
        listen = parse_address(getattr(args, "sync_listen", None) or inst.sync_listen, "0.0.0.0")
        interface = getattr(args, "sync_interface", None) or getattr(inst, "sync_interface", None) or None
        serve_text = getattr(args, "sync_serve", None) or getattr(inst, "sync_serve", None)
        serve = ("", 0) if not serve_text else parse_address(serve_text, "", lowest=0)
        if interface:
            check_interface(interface)
    except ValueError as e:
        raise UserError(f"sync: {e}") from None
    name = service_name(getattr(args, "name", None))
    notifier = Notifier()
    service = ServicePart(name, notifier=notifier) if notifier.enabled or name else None

    def open_engine(paced, generator):
        engine = open_show(patch, surface=paced, clock=FixedStepClock(fps), fps=fps, generator=generator,
                           offline=True, stage=False)
        if role == "leader":  # the leader's inputs and hours are everyone's, through its events
            open_live_inputs(engine, osc_host=args.osc_host, osc_port=args.osc_port, audio=not args.no_audio)
            add_hours(engine, service, lower_fps=False)
        return engine

    link = None
    if role == "leader" and patch.clock.source == "link":  # the other music software's tempo and bar
        from ..inputs.link import LinkUnavailable, open_link
        try:
            link = open_link(float(patch.clock.bpm), quantum=max(int(patch.clock.beats_per_bar or 4), 1))
        except LinkUnavailable as e:
            log.warning("sync: %s; the instances follow the leader's internal clock", e)
    try:
        step = InStep(role=role, surface=surface, open_engine=open_engine, fps=fps, targets=targets,
                      listen=listen, service=service, present_log=getattr(args, "present_log", None),
                      interface=interface, serve=serve, link=link,
                      warmup_s=float(getattr(inst, "sync_warmup", 10.0)))
    except OSError as e:
        if link is not None:
            link.close()
        raise UserError(f"sync: cannot open the socket ({e.strerror or e})") from None
    where = (", ".join(f"{h}:{p}" for h, p in targets) if role == "leader" else f"{listen[0]}:{listen[1]}")
    iface = step.leader.multicast_interface if step.leader is not None else (
        step.follower.interface if step.follower.group else None)
    if iface:
        where += f" (multicast on the interface {iface})"
    if step.leader is not None and step.leader.serve_address is not None:
        where += "; late followers catch up from %s:%d" % step.leader.serve_address
    log.info("sync: %s, %s", role, ("sending to " if role == "leader" else "listening on ") + where)
    try:
        if signals is not None:   # SIGTERM / Ctrl-C end the loop cleanly (commands._stop_on_signals)
            with signals(step):
                step.run(seconds=args.seconds)
        else:
            step.run(seconds=args.seconds)
    finally:
        if service is not None:
            service.close()
    print(f"in step as the {role}: {step.frames} frames, {step.resets} resets, {step.holds} holding ticks; "
          + step.figures())
    return 0
