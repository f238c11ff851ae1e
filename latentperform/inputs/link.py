"""Ableton Link: share tempo and beat phase with other programs and machines on the network.

An optional extra (`pip install 'latentperform[link]'`, the `aalink` binding of the Link
library).  A `LinkSession` joins the session; the engine reads `state()` once per tick (tempo and
beat, with quantum = beats per bar so that bars line up across peers) and sends its own tempo
changes (taps, `/lp/tempo`) with `set_tempo`.  Peers find each other by multicast on the local
network (on one machine, over the loopback interface too).

Without aalink, `open_link` raises `LinkUnavailable` with one message naming the install command;
the show says it once and carries on with the internal clock.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("latentperform.inputs.link")

INSTALL_HINT = "pip install 'latentperform[link]'"


class LinkUnavailable(RuntimeError):
    """Link cannot be used here (the optional extra is not installed, or the library failed)."""


class LinkSession:
    """One Link peer.  `state()` -> (bpm, beat now); `set_tempo(bpm)`; `peers`; `close()`.

    quantum  beats per bar: peers agree on the beat's position within a bar of this many beats
    """

    def __init__(self, link, loop, quantum: float) -> None:
        self._link = link
        self._loop = loop
        self.quantum = float(quantum)

    @property
    def peers(self) -> int:
        return int(self._link.num_peers)

    @property
    def tempo(self) -> float:
        return float(self._link.tempo)

    def beat(self) -> float:
        return float(self._link.beat)

    def phase(self) -> float:
        """0..quantum: where in the bar the session is now."""
        return float(self._link.phase)

    def state(self) -> tuple[float, float]:
        """(tempo in bpm, beat now) read together."""
        return float(self._link.tempo), float(self._link.beat)

    def set_tempo(self, bpm: float) -> None:
        """Propose a tempo to the session (every peer follows it)."""
        self._link.tempo = float(bpm)

    def close(self) -> None:
        try:
            self._link.enabled = False
        except Exception as e:  # closing must never fail the show's shutdown
            log.debug("Link: disabling failed: %s", e)
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def open_link(bpm: float, quantum: float = 4.0, wait_s: float = 0.0) -> LinkSession:
    """Join (or start) the Link session on this network, proposing `bpm` (when two sessions meet,
    Link settles them on one tempo).  wait_s: wait that long for a first peer (0: don't wait)."""
    try:
        from aalink import Link
    except ImportError:
        raise LinkUnavailable(f"Ableton Link is an optional extra that is not installed: {INSTALL_HINT}") from None

    # aalink ties a peer to an asyncio loop (for its callbacks and sync(), which we do not use):
    # make it inside a loop of our own; the engine only reads and writes properties.
    loop = asyncio.new_event_loop()

    async def make():
        return Link(float(bpm))

    try:
        link = loop.run_until_complete(make())
        link.quantum = float(quantum)
        link.enabled = True
    except Exception as e:
        loop.close()
        raise LinkUnavailable(f"Ableton Link failed to start: {e}") from None
    session = LinkSession(link, loop, quantum)
    deadline = time.monotonic() + wait_s
    while session.peers == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.info("Link: joined at %.2f bpm, %d peer(s)", session.tempo, session.peers)
    return session
