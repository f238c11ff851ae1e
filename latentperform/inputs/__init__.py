"""inputs: devices -> ControlEvents on an EventQueue (MIDI, OSC, audio, replayed logs), and the
feedback that goes back to controllers and hosts.  Input threads never touch shared state.

kinds.py: the input-kind registry (a kind is a module with LABEL, list_devices(), open_inputs())."""

from .learn import Learned, Learner, write_mapping
from .midi import MidiFeedback, MidiInput, MidiTranslator, list_midi_ports
from .osc import OscFeedback, OscInput, OscRouter, coalesce, is_continuous_address
from .osc_docs import osc_docs_diff, render_osc_docs
from .replay import EventLog, ReplayInput, read_event_log

__all__ = ["Learned", "Learner", "write_mapping", "EventLog", "ReplayInput", "read_event_log",
           "MidiFeedback", "MidiInput", "MidiTranslator", "list_midi_ports",
           "OscFeedback", "OscInput", "OscRouter", "coalesce", "is_continuous_address",
           "osc_docs_diff", "render_osc_docs"]
