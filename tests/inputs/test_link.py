"""Ableton Link (optional extra `aalink`): two real peers in separate processes on this machine
find each other over the loopback network, share tempo both ways and agree on the beat within the
bar; without the extra, one clear message names the install command.

The other peer is this file run as a script: `python tests/inputs/test_link.py peer BPM SECONDS
[PROPOSE_BPM]` prints `PEER <perf_counter> <tempo> <beat> <peers>` lines, 20 a second; with
PROPOSE_BPM it proposes that tempo once it has found a peer (which tempo wins when two sessions
meet is Link's choice, so a test that wants a known tempo proposes it after the meeting).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]


def _child_peer(args) -> None:
    from latentperform.inputs.link import open_link

    bpm, seconds = float(args[0]), float(args[1])
    propose = float(args[2]) if len(args) > 2 else None
    session = open_link(bpm, quantum=4)
    print("READY", flush=True)
    end = time.perf_counter() + seconds
    met = None
    try:
        while time.perf_counter() < end:
            if propose is not None and session.peers and met is None:
                met = time.perf_counter()
            if met is not None and time.perf_counter() - met > 0.3:
                session.set_tempo(propose)
                propose = met = None
            tempo, beat = session.state()
            print(f"PEER {time.perf_counter()!r} {tempo!r} {beat!r} {session.peers}", flush=True)
            time.sleep(0.05)
    finally:
        session.close()


def test_missing_extra_names_the_install_command(monkeypatch):
    from latentperform.inputs.link import LinkUnavailable, open_link

    monkeypatch.setitem(sys.modules, "aalink", None)
    with pytest.raises(LinkUnavailable) as err:
        open_link(120.0)
    assert "pip install 'latentperform[link]'" in str(err.value)


HAVE_AALINK = importlib.util.find_spec("aalink") is not None
needs_aalink = pytest.mark.skipif(not HAVE_AALINK, reason="the optional extra: pip install 'latentperform[link]'")


@needs_aalink
def test_one_peer_keeps_tempo_and_counts_beats():
    from latentperform.inputs.link import open_link

    s = open_link(150.0, quantum=3)
    try:
        t0, (bpm0, b0) = time.perf_counter(), s.state()
        time.sleep(0.4)
        t1, (bpm1, b1) = time.perf_counter(), s.state()
        assert bpm0 == pytest.approx(150.0) and bpm1 == pytest.approx(150.0)
        assert (b1 - b0) / (t1 - t0) == pytest.approx(2.5, rel=0.02)     # 150 bpm = 2.5 beats / s
        assert 0.0 <= s.phase() < 3.0
        s.set_tempo(90.0)
        assert s.tempo == pytest.approx(90.0)
    finally:
        s.close()


def _read_peer(proc, until: float) -> list[tuple[float, float, float, int]]:
    rows = []
    while time.perf_counter() < until:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("PEER"):
            _, t, bpm, beat, peers = line.split()
            rows.append((float(t), float(bpm), float(beat), int(peers)))
    return rows


@needs_aalink
def test_two_peers_in_two_processes_share_tempo_and_phase():
    from latentperform.inputs.link import open_link

    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    peer = subprocess.Popen([sys.executable, str(HERE), "peer", "100", "12"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ours = None
    try:
        assert peer.stdout.readline().startswith("READY"), peer.stderr.read()[-2000:]
        ours = open_link(100.0, quantum=4, wait_s=5.0)
        assert ours.peers == 1, "the other process's Link peer was not found (multicast on lo?)"
        # our tempo change reaches the other process
        ours.set_tempo(127.0)
        rows = _read_peer(peer, time.perf_counter() + 3.0)
        assert rows and rows[-1][3] == 1
        assert rows[-1][1] == pytest.approx(127.0), rows[-3:]
        # both agree where the beat is within the bar: compare at the same instant
        diffs = []
        for t, bpm, beat, _ in rows[-20:]:
            our_bpm, our_beat = ours.state()
            now = time.perf_counter()
            theirs = beat + (now - t) * bpm / 60.0
            diffs.append((our_beat - theirs + 2.0) % 4.0 - 2.0)
        assert max(abs(d) for d in diffs) < 0.05, diffs     # 0.05 beat = 24 ms at 127 bpm
    finally:
        if ours is not None:
            ours.close()
        peer.terminate()
        peer.wait(5)


if __name__ == "__main__":
    {"peer": _child_peer}[sys.argv[1]](sys.argv[2:])
