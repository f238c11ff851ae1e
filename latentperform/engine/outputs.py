"""Video out to other programs (NDI, a virtual camera, Spout/Syphon) and the preview window, as
parts of a show.  `attach_outputs` is what `latentperform run` calls."""

from __future__ import annotations


def attach_outputs(engine, *, outputs=(), preview: bool = False, preview_monitor=None) -> None:
    """Attach the video outputs the patch (or command line) names, and the preview window.
    A missing optional extra or device is reported with what to install; the show goes on."""
    for name in outputs:
        engine.report(f"video output {name!r}: not available yet")
    if preview:
        engine.report("preview window: not available yet")
