"""inputs: devices -> ControlEvents on an EventQueue (MIDI, OSC, audio, replayed logs), and the
feedback that goes back to controllers and hosts.  Input threads never touch shared state."""

from .osc import OscFeedback, OscInput, OscRouter, coalesce, is_continuous_address
from .osc_docs import osc_docs_diff, render_osc_docs

__all__ = ["OscFeedback", "OscInput", "OscRouter", "coalesce", "is_continuous_address",
           "osc_docs_diff", "render_osc_docs"]
