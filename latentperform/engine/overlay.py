"""The status overlay and notices: what the performer reads on the output (key h) or the preview.

`Overlay` keeps the notices (messages shown for a few seconds; urgent ones even with the overlay
off), builds the status text from the engine's state at most every OVERLAY_EVERY_S seconds (or
when something new is to be shown), and draws it with render's Hud after the read-back, so it is
never in recordings or `last_pixels` unless `engine.overlay_in_output` is set.
"""

from __future__ import annotations

import logging
import time

from .stats import INTERNAL_SOURCES, _pct

log = logging.getLogger("latentperform.engine")

OVERLAY_EVERY_S = 0.25  # the overlay's text is rebuilt at most this often
NOTICES_PER_5S = 10     # notices written to the log at most this many per 5 s


class Overlay:
    """The status overlay of one show (see the module docstring)."""

    def __init__(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.hud = None
        self._font = 0
        self._drawn_at = -1e9
        self._dirty = True
        self._version = 0  # bumped whenever something new is to be shown
        self._cache: tuple | None = None
        self.notices: list[tuple[str, float, bool]] = []  # (text, until, shown even with the overlay off)
        self._log_window = [-1e9, 0]   # [window start, notices logged in it]

    # -- what is to be shown -----------------------------------------------------------------------

    def mark_dirty(self) -> None:
        self._dirty = True
        self._version += 1

    def toggle(self, visible: bool | None = None) -> None:
        self.visible = (not self.visible) if visible is None else bool(visible)
        self.mark_dirty()

    def notice(self, text: str, seconds: float = 3.0, urgent: bool = False) -> None:
        """Also logged, at most NOTICES_PER_5S lines per 5 s (a flood of /lp/learn messages must
        not flood the log).  Cut to 300 characters; at most 8 notices at once."""
        if len(text) > 300:
            text = text[:300] + "..."
        now = time.monotonic()
        if now - self._log_window[0] >= 5.0:
            self._log_window = [now, 0]
        if self._log_window[1] < NOTICES_PER_5S:
            self._log_window[1] += 1
            log.info("%s", text)
        self.notices = [n for n in self.notices if n[0] != text][-7:]
        self.notices.append((text, now + seconds, urgent))
        self.mark_dirty()

    def clear_notice(self, text: str) -> None:
        self.notices = [n for n in self.notices if n[0] != text]
        self.mark_dirty()

    def wanted(self, engine) -> bool:
        """Is anything to be drawn this frame (the overlay, or an urgent notice)?"""
        if engine.offline and not engine.overlay_in_output:
            return False
        now = time.monotonic()
        if self.notices and any(until < now for _, until, _ in self.notices):
            self.notices = [n for n in self.notices if n[1] >= now]
            self.mark_dirty()
        return self.visible or any(urgent for _, _, urgent in self.notices)

    # -- drawing -----------------------------------------------------------------------------------

    def draw(self, engine) -> None:
        from ..render import Hud
        surface = engine.surface
        font = overlay_font_size(surface.size)
        if self.hud is not None and self._font != font:  # fullscreen on a bigger screen
            self.hud.release()
            self.hud = None
        if self.hud is None:
            self.hud = Hud(surface.ctx, font_size=font, min_interval=0.0)
            self._font = font
            self._dirty = True
        now = time.monotonic()
        if self._dirty or now - self._drawn_at >= OVERLAY_EVERY_S:
            self._drawn_at, self._dirty = now, False
            picture = None
            if self.visible:
                lines = self.lines(engine, fresh=True)
                mode = engine.trajectory_mode
                try:  # the trajectory mode's picture beside the text (the atlas minimap)
                    picture = mode.overlay_picture() if mode is not None else None
                except Exception as e:  # a mode's drawing bug must not end the show
                    engine.report(f"overlay picture: {e!r}")
            else:
                lines = [text for text, _, urgent in self.notices if urgent]
            self.hud.update(lines, force=True, picture=picture)
        self.hud.draw(None, surface.target, surface.viewport())

    def context_renewed(self) -> None:
        """The GL context is new: the HUD is made again in it at the next draw."""
        self.hud = None

    def release(self) -> None:
        if self.hud is not None:
            self.hud.release()
            self.hud = None

    # -- the text ----------------------------------------------------------------------------------

    def lines(self, engine, fresh: bool = False) -> list[str]:
        """The status text, rebuilt at most every OVERLAY_EVERY_S seconds (or when something new
        is to be shown); in between, the last lines are returned."""
        now = time.monotonic()
        cached = self._cache
        if not fresh and cached is not None and cached[1] == self._version and now - cached[0] < OVERLAY_EVERY_S:
            return cached[2]
        lines = self.build(engine)
        self._cache = (now, self._version, lines)
        return lines

    def build(self, engine) -> list[str]:
        lines = _figure_lines(engine)
        p = engine.params
        bpb = max(int(p.beats_per_bar), 1)
        beat = int(p.beat // 1)
        dots = "".join("#" if i == beat % bpb else "." for i in range(bpb))
        tempo_at = len(lines)
        keyframe = engine.trajectory.current_keyframe()
        lines.append(f"tempo {p.tempo:6.1f} bpm  bar {beat // bpb + 1} beat {beat % bpb + 1}  {dots}"
                     f"  keyframe {keyframe}")
        state = []
        if p.get("engine/freeze") >= 0.5:
            state.append("FROZEN")
        blackout = engine.blackout_shown
        if p.get("engine/blackout") > 0.0 or blackout > 0.0:
            state.append(f"BLACKOUT {blackout:.0%}")
        if state:
            lines.append("  ".join(state))
        mode = engine.trajectory_mode  # the atlas mode: its place and trail
        says = [(mode, mode.status_lines)] if mode is not None else []
        says += [(part, lambda part=part: part.status_lines(engine)) for part in engine.parts]
        for who, say in says:
            try:
                lines.extend(say())
            except Exception as e:  # one part's bug costs its line, not the overlay
                lines.append(f"{type(who).__name__}: {e!r}")
        if any(line.startswith("tempo") for line in lines[tempo_at + 1:]):  # a tempo source says more
            lines[tempo_at] = f"keyframe {keyframe}  {dots}"
        for err in list(engine.stats.errors)[-3:]:
            lines.append("! " + (err if len(err) <= 110 else err[:107] + "..."))
        lines.extend(text for text, _, _ in self.notices)
        return lines


def _figure_lines(engine) -> list[str]:
    """The overlay's first lines: the show, its figures, its inputs."""
    s = engine.stats
    ft50, ft99 = _pct(s.frame_times, 50) * 1e3, _pct(s.frame_times, 99) * 1e3
    lat50, lat99 = _pct(s.latencies, 50) * 1e3, _pct(s.latencies, 99) * 1e3
    gp = s.gen_period
    name = getattr(engine.patch, "name", "") or "patch"
    lines = [f"latentperform  {name}",
             f"fps {s.fps:5.1f}  frame {_ms(ft50)} median  {_ms(ft99)} p99  stutter {_num(s.stutter, 2)}",
             f"generator {s.gen_ms:5.1f} ms"
             + (f", a new frame every {gp * 1e3:.0f} ms" if gp == gp else "")
             + f"  ({interpolation_label(engine.interpolation, s)})",
             f"latency {_ms(lat50)} median  {_ms(lat99)} p99  (control to photon)"]
    rates = "  ".join(f"{src} {r:.0f}/s" for src, r in sorted(s.event_rates.items())
                      if src not in INTERNAL_SOURCES) or "none yet"
    lines.append(f"inputs  {rates}")
    if s.last_input is not None:
        src, addr, value, when = s.last_input
        v = ", ".join(f"{x:.3g}" for x in value) if isinstance(value, tuple) else f"{float(value):.3g}"
        ago = engine.clock.now() - when
        lines.append(f"last    {addr} {v}  ({ago:.1f} s ago)")
    return lines


def interpolation_label(interpolation: str, stats) -> str:
    if interpolation != "latent" or stats.batch <= 1:
        return interpolation
    delay = stats.batch_delay
    return f"latent, {stats.batch} a batch" + (f", +{delay * 1e3:.0f} ms" if delay == delay else "")


def overlay_font_size(size) -> int:
    """Text that stays readable from a step back: about 1/45 of the output's height."""
    return max(12, min(32, int(size[1]) // 45))


def _ms(v: float) -> str:
    return f"{v:5.1f} ms" if v == v else "   -- ms"


def _num(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if v == v else "--"
