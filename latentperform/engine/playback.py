"""The in-between-frame playback buffer of interpolation "latent".

Under "latent" the worker renders, in one call, the latents between the last picture and the
newest request (one per display frame); `LatentPlayback` queues each batch and gives back one
picture per display tick.  It is a jitter buffer: see `queue_batch`.
"""

from __future__ import annotations

import collections

LATENT_KEEP = 2         # frames of the last batch still queued when the next one comes
                        # (more are dropped, oldest first, so the delay cannot grow)
LATENT_RELAX_S = 1.0    # a generator that kept up this long gives back the frame in hand


class LatentPlayback:
    """Batches of real pictures, one shown per display tick (figures go to `stats`)."""

    def __init__(self, stats) -> None:
        self.stats = stats
        # (frame, arrival time, last of its batch, ticks to show it) waiting for their tick
        self.queue: collections.deque = collections.deque()
        self._credit = 0.0          # display ticks owed to the frame at the queue's head
        self._started = False       # a frame of the queue has been shown
        self._starved = False       # a tick found the queue empty since the last arrival
        self._singles = 0           # single pictures in a row, none late
        self._wait = False          # a batch came to an empty queue: keep one frame in hand

    def __len__(self) -> int:
        return len(self.queue)

    def queue_batch(self, frame, t: float, tick_period: float) -> None:
        """A new frame from the worker: its batch (the in-betweens, then the request's own
        picture) joins the queue, shown one frame per tick.

        A batch that comes after a tick found the queue empty (a repeated frame: the first batch,
        a late one) waits one tick, so one frame stays in hand against the next batch coming a
        tick late.  Of an older batch at most LATENT_KEEP frames stay queued when a new one comes
        (the oldest are dropped), so the delay stays bounded; and once the generator has kept up
        for LATENT_RELAX_S (single pictures only, none late), a frame still in hand is let go: a
        generator that keeps up adds no delay.

        Each frame of a batch is shown for one tick, or, when the batch was capped at the
        worker's max_batch, for as many ticks as its pictures are apart in time (never more than
        the generator's period shared among them, so a batch after a freeze is not slow)."""
        stats = self.stats
        frames = (*frame.inbetween, frame)
        k = len(frames)
        stats.batch = k
        tick = max(tick_period, 1e-6)
        ticks = 1.0
        if k > 1:
            spacing = (frames[-1].time - frames[0].time) / (k - 1)
            period = stats.gen_period
            if period == period:  # known
                spacing = min(spacing, period / k)
            ticks = spacing / tick if spacing / tick >= 1.5 else 1.0
        self._singles = self._singles + 1 if k == 1 and not self._starved else 0
        keep = LATENT_KEEP
        if self._singles * tick >= LATENT_RELAX_S:
            keep, self._singles = 0, 0
        while len(self.queue) > keep:
            self.queue.popleft()
            stats.batch_dropped += 1
        if self._starved and not self.queue:
            self._wait = True
        self._starved = False
        for i, f in enumerate(frames):
            self.queue.append((f, t, k > 1 and i == k - 1, ticks))

    def next_frame(self, t: float):
        """The frame whose tick has come (to be put on screen), or None (the picture on screen
        stays)."""
        if self._wait:
            self._wait = False
            return None
        self._credit += 1.0
        if not self.queue:
            self._credit = min(self._credit, 0.5)
            self._starved = self._started
            return None
        frame, arrival, last, ticks = self.queue[0]
        if self._credit < ticks - 0.5:
            return None
        self.queue.popleft()
        self._credit = min(max(self._credit - ticks, -0.5), 0.5)
        self._started = True
        if last:
            self.stats.batch_delays.append(max(t - arrival, 0.0))
        return frame

    def reset(self) -> None:
        self.queue.clear()
        self._credit = 0.0
        self._wait = self._starved = False
        self._singles = 0
