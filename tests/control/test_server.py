"""The control room's server and protocol without a browser: real sockets (aiohttp's client,
raw TCP), the scenes file, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import tomllib

import aiohttp
import numpy as np
import pytest

from latentperform.clock import WallClock
from latentperform.config import UserError
from latentperform.control import (Command, ControlRoom, ProtocolError, SceneBook, SceneMorph, parse_listen,
                                   scene_values)
from latentperform.control import protocol
from latentperform.events import EventQueue
from tests.control.publisher import SPECS, Publisher, picture

SPEC_MAP = {s.name: s for s in SPECS}


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- protocol (pure) ---------------------------------------------------------------------------

def test_messages_become_control_events_like_osc():
    e = protocol.parse('{"t":"set","name":"latent/speed","value":9}', SPEC_MAP, 1.5)
    assert (e.source, e.address, e.value, e.time) == ("control", "param/latent/speed", 4.0, 1.5)  # clipped
    e = protocol.parse('{"t":"fire","name":"clock/tap"}', SPEC_MAP, 2.0)
    assert (e.address, e.value) == ("trigger/clock/tap", 1.0)
    c = protocol.parse('{"t":"scene/recall","name":"a","seconds":2}', SPEC_MAP, 3.0)
    assert c == Command("scene/recall", ("a", 2.0), 3.0)
    assert protocol.parse('{"t":"keyframe/move","index":2,"to":0}', SPEC_MAP, 0).args == (2, 0)


@pytest.mark.parametrize("text, why", [
    ("nope", "not JSON"), ("[1]", '"t"'), ('{"t":"set","name":"nope","value":1}', 'no parameter "nope"'),
    ('{"t":"set","name":"latent/speed","value":"x"}', "number"),
    ('{"t":"set","name":"latent/speed","value":NaN}', "finite"),
    ('{"t":"set","name":"latent/speed","value":true}', "number"),
    ('{"t":"set","name":"clock/tap","value":1}', "trigger"),
    ('{"t":"fire","name":"latent/speed"}', "not a trigger"),
    ('{"t":"keyframe/delete","index":-1}', "whole number"),
    ('{"t":"scene/save"}', '"name"'), ('{"t":"launch"}', "unknown message"),
    ('{"t":"set","name":"' + "x" * 20000 + '"}', "longer"),
])
def test_bad_messages_are_refused_with_a_reason(text, why):
    with pytest.raises(ProtocolError, match=None) as e:
        protocol.parse(text, SPEC_MAP, 0.0)
    assert why in str(e.value)


def test_json_for_the_page_has_no_nan():
    assert json.loads(protocol.dumps({"a": float("nan"), "b": [float("inf"), 1.0]})) == {"a": None, "b": [None, 1.0]}


def test_listen_addresses():
    assert parse_listen(None) == ("127.0.0.1", 8400)
    assert parse_listen("9000") == ("127.0.0.1", 9000)
    assert parse_listen("0.0.0.0:8401") == ("0.0.0.0", 8401)
    assert parse_listen("[::1]:8402") == ("::1", 8402)
    for bad in ("x", "host:port", "1.2.3.4:70000"):
        with pytest.raises(UserError):
            parse_listen(bad)


# -- scenes ------------------------------------------------------------------------------------

def test_scene_file_is_written_whole_and_keeps_comments(tmp_path):
    path = tmp_path / "show.scenes.toml"
    path.write_text("# my scenes, by hand\n[scenes.intro]\nvalues = { \"latent/speed\" = 0.5 }\n")
    book = SceneBook(path)
    assert book.names() == ["intro"] and book.get("intro") == {"latent/speed": 0.5}
    values = {"latent/speed": 1.0, "latent/truncation": 0.7, "engine/blackout": 1.0, "clock/tap": 1.0}
    book.save("drop", scene_values(values, SPEC_MAP))
    text = path.read_text()
    assert text.startswith("# my scenes, by hand")
    doc = tomllib.loads(text)
    assert doc["scenes"]["drop"]["values"] == {"latent/speed": 1.0, "latent/truncation": 0.7}
    assert SceneBook(path).names() == ["intro", "drop"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left
    assert book.delete("intro") and SceneBook(path).names() == ["drop"]


def test_an_unreadable_scene_file_is_kept_aside_not_overwritten(tmp_path):
    path = tmp_path / "show.scenes.toml"
    path.write_text("[scenes.a\nvalues = 3\n")
    book = SceneBook(path)
    assert book.names() == [] and "not loaded" in book.problem
    book.save("b", {"latent/speed": 2.0})
    assert (tmp_path / "show.scenes.toml.broken").read_text() == "[scenes.a\nvalues = 3\n"
    assert SceneBook(path).get("b") == {"latent/speed": 2.0}


def test_bad_scene_names_and_unwritable_files_are_user_errors(tmp_path):
    book = SceneBook(tmp_path / "missing-dir" / "x.toml")
    with pytest.raises(UserError, match="cannot write"):
        book.save("ok", {"latent/speed": 1.0})
    for bad in ("", " ", 'a"b', "x" * 65, 3):
        with pytest.raises(UserError):
            book.save(bad, {})


def test_a_morph_is_smooth_and_ends_exactly_on_the_scene():
    m = SceneMorph({"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 1.0, "c": 5.0}, t0=10.0, seconds=2.0)
    assert {e.address: e.value for e in m.events(10.0)} == {"param/a": 0.0, "param/b": 1.0, "param/c": 5.0}
    mid = {e.address: e.value for e in m.events(11.0)}
    assert mid["param/a"] == pytest.approx(0.5) and not m.done
    assert {e.address: e.value for e in m.events(13.0)}["param/a"] == 1.0 and m.done
    assert m.events(14.0) == []
    cut = SceneMorph({"a": 0.0}, {"a": 1.0}, t0=0.0, seconds=0.0)
    assert [e.value for e in cut.events(0.0)] == [1.0] and cut.done


# -- the server, over real sockets ---------------------------------------------------------------

async def _collect(url, seconds, send=()):
    msgs, frames = [], 0
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            for m in send:
                await ws.send_str(json.dumps(m))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    m = await ws.receive(timeout=max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if m.type == aiohttp.WSMsgType.TEXT:
                    msgs.append(json.loads(m.data))
                elif m.type == aiohttp.WSMsgType.BINARY:
                    frames += 1
                else:
                    break
    return msgs, frames


def ws_url(room):
    return f"ws://127.0.0.1:{room.port}/ws"


def test_a_bad_message_is_answered_and_the_room_goes_on(tmp_path):
    pub = Publisher(tmp_path / "s.toml").start()
    try:
        msgs, _ = asyncio.run(_collect(ws_url(pub.room), 1.0, send=[
            {"t": "set", "name": "nope", "value": 1}, {"t": "set", "name": "latent/speed", "value": 2.0},
            {"t": "scene/save", "name": 'with "quotes"'}]))
        assert msgs[0]["t"] == "hello" and [s["name"] for s in msgs[0]["specs"]] == [s.name for s in SPECS]
        errors = [m["text"] for m in msgs if m["t"] == "error"]
        assert errors[0] == 'refused: no parameter "nope"' and "a scene name is" in errors[1] and len(errors) == 2
        assert not (tmp_path / "s.toml").exists()
        wait_for(lambda: pub.values["latent/speed"] == 2.0, what="the good message to arrive")
        assert pub.room.stats["bad_messages"] == 1
    finally:
        pub.close()


def test_a_page_that_never_reads_blocks_nothing(tmp_path):
    """A client that opens the socket and stops reading: the show's publishing stays fast, the
    other page keeps getting pictures, and the stuck page's frames are dropped, not queued."""
    # full-size noise at high quality: ~1 MB a picture, so the kernel's socket buffers fill at once
    pub = Publisher(tmp_path / "s.toml", preview_fps=30.0, preview_width=1280, preview_quality=95).start()
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    stuck.connect(("127.0.0.1", pub.room.port))
    stuck.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    try:
        wait_for(lambda: pub.room.pages == 1, what="the stuck page to connect")
        big = (np.random.default_rng(0).random((720, 1280, 3)) * 255).astype(np.uint8)  # noise: big JPEGs
        worst = 0.0
        _, frames = None, 0

        async def other_page():
            return await _collect(ws_url(pub.room), 3.0)

        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(r=asyncio.run(other_page())))
        t.start()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            t0 = time.perf_counter()
            pub.room.publish_frame(big)
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(1 / 60)
        t.join(10)
        _, frames = result["r"]
        assert frames >= 10, frames              # the reading page got pictures all along
        assert pub.room.stats["frames_dropped"] > 0  # the stuck one's were replaced, not queued
        assert worst < 0.5, worst                # publishing never waited on a page (a blocked send would hold it for seconds)
    finally:
        stuck.close()
        pub.close()


def test_loopback_refuses_foreign_host_and_origin(tmp_path):
    """DNS rebinding and cross-site sockets: a page served elsewhere must not reach the room."""
    pub = Publisher(tmp_path / "s.toml").start()
    try:
        def status(path, headers):
            with socket.create_connection(("127.0.0.1", pub.room.port)) as s:
                head = "".join(f"{k}: {v}\r\n" for k, v in {"Connection": "close", **headers}.items())
                s.sendall(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
                return int(s.recv(64).split()[1])
        port = pub.room.port
        assert status("/", {"Host": f"127.0.0.1:{port}"}) == 200
        assert status("/", {"Host": f"localhost:{port}"}) == 200
        assert status("/", {"Host": f"evil.example:{port}"}) == 403
        ws = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
              "Host": f"127.0.0.1:{port}"}
        assert status("/ws", {**ws, "Origin": "http://evil.example"}) == 403
        assert status("/ws", {**ws, "Origin": f"http://127.0.0.1:{port}"}) == 101
    finally:
        pub.close()


def test_beyond_the_loopback_a_token_is_made_and_printed_in_the_url():
    room = ControlRoom(EventQueue(), WallClock(), host="0.0.0.0", port=0)
    assert room.token and len(room.token) >= 16
    room.start()
    try:
        assert room.url.endswith(f":{room.port}/?token={room.token}")
        with socket.create_connection(("127.0.0.1", room.port)) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{room.port}\r\nConnection: close\r\n\r\n".encode())
            assert b" 403 " in s.recv(64)
    finally:
        room.close()


def test_a_busy_port_is_a_user_error():
    with ControlRoom(EventQueue(), WallClock(), port=0) as room:
        with pytest.raises(UserError, match="cannot listen"):
            ControlRoom(EventQueue(), WallClock(), port=room.port).start()


def test_close_frees_the_port_and_stops_the_thread():
    room = ControlRoom(EventQueue(), WallClock(), port=0).start()
    port = room.port
    room.close()
    assert not room._thread.is_alive()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_activity_lights_the_matching_rows_and_fades():
    from latentperform.control import Activity
    from latentperform.events import ControlEvent
    rows = [("midi/cc/0/7", "latent/speed", "value"), ("osc/fader/*", "latent/walk", "value")]
    act = Activity(rows, match=lambda pat, addr: pat == addr or (pat.endswith("*") and addr.startswith(pat[:-1])))
    act.see([ControlEvent("osc", "osc/fader/3", 0.4, 10.0)])
    t = act.table(10.0)
    assert t[0]["activity"] == 0.0 and t[1]["activity"] == 1.0 and t[1]["input"] == 0.4
    assert 0.1 < act.table(11.0)[1]["activity"] < 0.3   # exp(-1 / 0.6)


def test_the_osc_scene_recall_command_takes_a_name_and_optional_seconds():
    from latentperform.inputs.osc import COMMANDS, OscRouter
    router = OscRouter(SPECS, commands=COMMANDS)
    router.route_message("/lp/scene/recall", ["big drop", 2], 1.0)
    router.route_message("/lp/scene/recall", ["intro"], 1.5)
    assert [(c.address, c.args) for c in router.commands] == [("/lp/scene/recall", ("big drop", 2.0)),
                                                              ("/lp/scene/recall", ("intro",))]
    for bad in ([], [3.0], ["a", "b"], ["a", 1.0, 2.0], [" "]):
        router.route_message("/lp/scene/recall", bad, 2.0)
    assert len(router.commands) == 2 and router.stats["bad_args"] == 5


def test_a_parameter_moved_during_a_morph_is_let_go():
    m = SceneMorph({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}, t0=0.0, seconds=2.0)
    first = {e.address: e.value for e in m.events(1.0, {"a": 0.0, "b": 0.0})}
    # the show applied those; then a fader moved "b"
    later = {e.address: e.value for e in m.events(1.5, {"a": first["param/a"], "b": 0.9})}
    assert "param/b" not in later and 0.5 < later["param/a"] < 1.0
