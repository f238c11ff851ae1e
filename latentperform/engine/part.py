"""The part protocol: what a show's parts (controllers, musical time, the stage keys, video
outputs, the preview window, a web page...) may do, and all they know of the engine.

A leaf module (it imports only value types), so every part imports this and never the engine's
core; the core knows parts only through these hooks, and `show.py` is the one place that decides
which parts a show attaches.  What a part may read and call on the engine it is handed:

  engine.patch, .params, .registry (every parameter; `.specs` is its table), .clock, .surface,
  .trajectory, .chain, .stats, .fps, .offline, .recorder, .feedback (OSC feedback or None)
  engine.last_pixels / .output_texture   this frame's picture (when the part asked, see below)
  engine.report(msg)                     a problem: logged, on the overlay, to OSC hosts
  engine.notice(msg, seconds, urgent)    a message on the overlay for a while
  engine.door.add_queue(name)            an EventQueue for a thread of the part's own
  engine.refresh_specs()                 the part's param_specs() changed: the registry re-reads them
"""

from __future__ import annotations

from typing import Iterable

from ..events import ControlEvent, ParamSpec, ParamState


class EnginePart:
    """Something attached to a show besides the core path (controllers and their feedback, a
    tempo source, a video output, the stage keys...).  Every hook is optional; none may block
    the tick.

    Attributes a part may set (read by the engine every tick):
      wants_pixels   True: the engine reads the output back every frame into `engine.last_pixels`
                     ((H, W, 3) uint8, top row first, without the overlay) before after_frame
      wants_texture  True: the chain draws into an offscreen texture, `engine.output_texture`,
                     copied to the surface; another window sharing the GL context can draw it
    """

    wants_pixels: bool = False
    wants_texture: bool = False

    def param_specs(self) -> Iterable[ParamSpec]:
        """Extra parameters this part adds to the show (mappable, reachable over OSC)."""
        return ()

    def poll(self, engine: "Engine", t: float) -> list[ControlEvent]:
        """Events to add to this tick (called once per tick, before mapping)."""
        return []

    def shape_request(self, engine: "Engine", request, params: ParamState):
        """The tick's LatentRequest, before it goes to the generator: a part may return it
        changed (dataclasses.replace), e.g. with the bends' values.  Must be quick."""
        return request

    def after_frame(self, engine: "Engine", params: ParamState, t: float) -> None:
        """After the frame is presented: feedback, outputs (`engine.last_pixels`,
        `engine.output_texture` hold this frame when the part asked for them)."""

    def on_key(self, engine: "Engine", key: str) -> bool:
        """A key press; True when this part used it."""
        return False

    def status_lines(self, engine: "Engine") -> list[str]:
        """Lines this part adds to the status overlay (called a few times a second)."""
        return []

    def context_renewed(self, engine: "Engine") -> None:
        """The show's GL context was lost and made anew (glcontext.py): objects the part made in
        the old `engine.surface.ctx` are gone; drop them (do not release them) and make new ones."""

    def close(self) -> None:
        pass
