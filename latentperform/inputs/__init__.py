"""inputs: devices -> ControlEvents on an EventQueue (MIDI, OSC, audio, replayed logs), and the
feedback that goes back to controllers and hosts.  Input threads never touch shared state."""

from .midi import MidiFeedback, MidiInput, MidiTranslator, list_midi_ports
from .osc import OscFeedback, OscInput, OscRouter, coalesce, is_continuous_address
from .osc_docs import osc_docs_diff, render_osc_docs

__all__ = ["MidiFeedback", "MidiInput", "MidiTranslator", "list_midi_ports",
           "OscFeedback", "OscInput", "OscRouter", "coalesce", "is_continuous_address",
           "osc_docs_diff", "render_osc_docs"]
