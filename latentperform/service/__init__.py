"""Installation mode: a show that runs unattended.

    notify.py     the service manager's notify protocol (READY, STATUS, WATCHDOG) over $NOTIFY_SOCKET
    state.py      the show's state file (fps, errors, frames), written safely (write-then-rename)
    supervise.py  `run --supervise`: a parent that restarts its child with back-off, and on a stall
    units.py      systemd units: install, uninstall, status; autostart lines where there is no systemd
    hours.py      opening hours, days and the daily restart
    sync.py       several machines in step: the leader's frame clock and events over UDP, followers
    tile.py       one screen's tile of a larger canvas

This package knows nothing of the engine, GL or torch: the engine attaches these pieces as parts
(engine/installation.py), and everything here is tested with real sockets and processes alone.
"""
