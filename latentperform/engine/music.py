"""Musical time for a show: where tempo and beat phase come from (the patch's [clock] source),
and the sound-card input that feeds the audio features."""

from __future__ import annotations

import logging

from ..clock import Tempo
from ..events import ParamState

log = logging.getLogger("latentperform.engine")


class MusicalTime:
    """Tempo and beat phase, from the source the patch picks.

    internal / tap: the engine's own tempo (`clock/bpm`, `/lp/tempo`, `/lp/tap`); midi: the MIDI
    clock's `clock/midi/bpm` also sets the tempo."""

    def __init__(self, clock_section) -> None:
        self.source = str(clock_section.source)
        self.tempo = Tempo(bpm=float(clock_section.bpm))

    @property
    def tempo_sources(self) -> tuple[str, ...]:
        """Event addresses the mapper treats as a new tempo."""
        if self.source == "midi":
            return ("clock/tempo", "clock/midi/bpm")
        return ("clock/tempo",)

    def update(self, params: ParamState, t: float) -> ParamState:
        bpm = params.get("clock/bpm", self.tempo.bpm)
        if abs(bpm - self.tempo.bpm) > 1e-6:
            self.tempo.set_bpm(bpm, t)
        if params.fired("clock/tap"):  # the mapper turns taps into clock/bpm; the downbeat lands on the tap
            self.tempo.align(t, round(self.tempo.beat(t)))
        return params.evolve(tempo=self.tempo.bpm, beat=self.tempo.beat(t), time=t)


def open_music_inputs(engine, *, audio: bool = True) -> None:
    """The sound-card input the patch names (skipped with a message when there is none)."""
    aud = engine.patch.inputs.audio
    if not (audio and aud.enabled):
        return
    try:
        from ..inputs.audio import AudioInput
        engine.inputs.append(AudioInput(engine.add_queue(), clock=engine.clock, device=aud.device,
                                        sample_rate=aud.samplerate, channel=aud.channel,
                                        blocksize=aud.blocksize))
    except Exception as e:
        engine.report(f"audio: {e}; carrying on without sound input")
