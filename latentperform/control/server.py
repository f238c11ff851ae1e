"""The control room's server: one page over HTTP, one WebSocket per open page, in its own thread.

Why aiohttp: one well-kept package gives the HTTP server, the WebSocket server and a WebSocket
client (the tests and bench/control.py use it), on an asyncio loop that runs happily in a
background thread; starlette + uvicorn would be three packages (and a websocket backend), and
uvicorn expects to own the main thread and its signals.

How it keeps off the show's tick:
- the show calls `publish_state(dict)` and `publish_frame(pixels)` from its tick; both only
  store a reference (nothing is copied: the engine reads back a fresh array every frame) and
  wake the loop with `call_soon_threadsafe`; they never wait for the network, a page or the
  encoder;
- JSON and JPEG encoding happen on the server's loop and in one encoder thread;
- every page has one sender task and one slot per kind of message (state, preview): a newer
  one replaces an unsent one, so a slow page sees fewer frames (counted as dropped) and no
  queue grows; a vanished page is closed by the WebSocket heartbeat.

What the pages send goes on the `EventQueue` as `ControlEvent`s (source "control"), like OSC;
commands (scenes, learn, keyframe edits) wait in `pop_commands()` for the show's tick, except
saving and deleting a scene, which only write the scenes file and are done here.

Access: on the loopback the Host header must name the loopback (a page from elsewhere cannot
reach it through DNS rebinding) and a WebSocket's Origin must be this server.  Listening on any
other address needs the access token: in the URL (`?token=`) once, then in a cookie; without it
every request gets 403 and nothing else.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

import numpy as np

from ..config import UserError
from ..events import EventQueue, ParamSpec
from . import protocol
from .protocol import Command, ProtocolError
from .scenes import SceneBook, check_scene_name, scene_values

log = logging.getLogger("latentperform.control")

PAGE_DIR = Path(__file__).resolve().parent / "page"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400
COOKIE = "lp_control"
THUMB_WIDTH = 160
_STATIC = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
           "/style.css": ("style.css", "text/css")}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def parse_listen(text: str | None) -> tuple[str, int]:
    """`[HOST:]PORT` -> (host, port); an empty or None value -> the default 127.0.0.1:8400."""
    if text is None or text == "":
        return DEFAULT_HOST, DEFAULT_PORT
    host, sep, port = str(text).rpartition(":")
    if not sep:
        host, port = DEFAULT_HOST, str(text)
    host = host.strip("[]") or DEFAULT_HOST
    try:
        p = int(port)
    except ValueError:
        raise UserError(f"--control expects [HOST:]PORT, e.g. 8400 or 0.0.0.0:8400, got {text!r}") from None
    if not 0 <= p <= 65535:
        raise UserError(f"--control port must be 0..65535, got {p}")
    return host, p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lan_address() -> str:
    """This machine's address on its LAN (for the printed URL when listening on 0.0.0.0)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, it only picks a route
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


class _Client:
    """One open page: its socket, its sender's wake-up and the slots a newer message replaces."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.wake = asyncio.Event()
        self.messages: collections.deque[str] = collections.deque(maxlen=64)  # hello, scenes, errors
        self.state: str | None = None
        self.frame: bytes | None = None
        self.frames_sent = 0
        self.frames_dropped = 0


class ControlRoom:
    """The control room server.  `start()` binds and serves; the show publishes into it."""

    def __init__(self, queue: EventQueue, clock, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 token: str | None = None, scenes: SceneBook | None = None, preview_fps: float = 10.0,
                 preview_width: int = 480, preview_quality: int = 70, state_hz: float = 20.0,
                 atlas: bool = False) -> None:
        self.queue = queue
        self.clock = clock
        self.host = host
        self.port = port
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(16)
        self.token = token
        self.scenes = scenes if scenes is not None else SceneBook(None)
        self.preview_period = 1.0 / preview_fps if preview_fps > 0 else float("inf")
        self.preview_width = int(preview_width)
        self.preview_quality = int(preview_quality)
        self.state_period = 1.0 / state_hz
        self.atlas = atlas
        self.atlas_image: bytes | None = None
        self.stats = {"pages": 0, "connections": 0, "messages": 0, "refused": 0, "bad_messages": 0,
                      "events": 0, "frames_encoded": 0, "frames_sent": 0, "frames_dropped": 0}
        self._specs: dict[str, ParamSpec] = {}
        self._specs_json: list[dict] = []
        self._commands: collections.deque[Command] = collections.deque(maxlen=256)
        self._clients: set[_Client] = set()
        self._state: dict | None = None
        self._keyframes: dict | None = None
        self._kf_labels: list[str] = []
        self._kf_current: int | None = None
        self._thumbs: dict[int, str | None] = {}
        self._last_state_t = -1e9
        self._next_frame_t = -1e9   # when the next preview is due (a grid: the rate holds on average)
        self._encoding = False
        self._thumb_encoding = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None
        self._sock: socket.socket | None = None
        self._closed = False

    # -- the show's side (any thread, never blocks) ------------------------------------------

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = _lan_address()
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{self.port}/"
        return url + (f"?token={self.token}" if self.token else "")

    @property
    def pages(self) -> int:
        return len(self._clients)

    def set_specs(self, specs: Iterable[ParamSpec]) -> None:
        """The parameter registry as the pages should show it (sent again to every page)."""
        specs = list(specs)
        self._specs = {s.name: s for s in specs}
        self._specs_json = [protocol.spec_json(s) for s in specs]
        self._call(self._broadcast_hello)

    @property
    def specs(self) -> dict[str, ParamSpec]:
        return self._specs

    def wants_state(self, now: float) -> bool:
        return bool(self._clients) and now - self._last_state_t >= self.state_period

    def publish_state(self, state: dict, now: float | None = None) -> None:
        """The show's newest snapshot (a fresh dict the caller does not change afterwards).
        Must hold "values" (parameter -> value): scenes are saved from it."""
        self._last_state_t = self.clock.now() if now is None else now
        self._state = state
        if self._clients:
            self._call(self._broadcast_state, state)

    def wants_frame(self, now: float) -> bool:
        """True when a page is open, the preview is due and the encoder is free."""
        return bool(self._clients) and not self._encoding and now >= self._next_frame_t

    def publish_frame(self, pixels: np.ndarray, now: float | None = None) -> bool:
        """Offer one output picture (H, W, 3 or 4) uint8, top row first: a fresh array the
        caller does not change afterwards (the engine reads back a new one every frame), so
        nothing is copied here.  Taken only when `wants_frame`; returns whether it was."""
        return self.claim_frame(now) and self.send_frame(pixels)

    def claim_frame(self, now: float | None = None) -> bool:
        """For a picture that takes a tick or two to arrive (a GPU read-back): when a preview
        is due, claim it (no other is wanted until `send_frame`) and return True."""
        now = self.clock.now() if now is None else now
        if not self.wants_frame(now) or self._loop is None:
            return False
        # the next one is due one period after this one was, not after now: a show whose ticks
        # do not divide the period still gets the rate (but never a burst after a stall)
        self._next_frame_t = max(self._next_frame_t + self.preview_period, now + 0.5 * self.preview_period)
        self._encoding = True
        return True

    def send_frame(self, pixels: np.ndarray | None) -> bool:
        """The claimed picture (None: give the claim up); encoded and sent off the caller's thread."""
        if pixels is None:
            self._encoding = False
            return False
        self._call(self._encode_and_send, pixels)
        return True

    def set_keyframes(self, labels: list[str], current: int | None = None) -> None:
        """The show's keyframes (one label each) and the one it is at.  A changed list drops
        the thumbnails (they come back as the show passes each keyframe, `offer_thumbnail`)."""
        labels = [str(x) for x in labels]
        if labels == self._kf_labels and current == self._kf_current:
            return
        if labels != self._kf_labels:
            self._thumbs = {}
        self._kf_labels, self._kf_current = labels, current
        self._send_keyframes()

    def wants_thumbnail(self, index: int) -> bool:
        return bool(self._clients) and 0 <= index < len(self._kf_labels) and index not in self._thumbs \
            and not self._thumb_encoding

    def offer_thumbnail(self, index: int, pixels: np.ndarray) -> bool:
        """The picture at keyframe `index`, for its thumbnail (encoded off the tick)."""
        if not self.wants_thumbnail(index) or self._loop is None:
            return False
        self._thumbs[index] = None  # taken: one encode per keyframe
        self._thumb_encoding = True
        self._call(self._encode_thumb, index, list(self._kf_labels), pixels)
        return True

    def _send_keyframes(self) -> None:
        items = [{"label": lab, "thumb": self._thumbs.get(i)} for i, lab in enumerate(self._kf_labels)]
        self._keyframes = {"t": "keyframes", "items": items, "current": self._kf_current}
        self._call(self._broadcast_text, protocol.dumps(self._keyframes))

    def pop_commands(self) -> list[Command]:
        out = []
        while self._commands:
            out.append(self._commands.popleft())
        return out

    def send_error(self, text: str) -> None:
        """A one-line message for every page (shown with the errors)."""
        self._call(self._broadcast_text, protocol.dumps({"t": "error", "text": str(text)}))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "ControlRoom":
        from aiohttp import web  # noqa: F401  (an ImportError here names the missing package)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(64)
        except OSError as e:
            sock.close()
            raise UserError(f"the control room cannot listen on {self.host}:{self.port}: {e.strerror or e}") from None
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        problem: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, problem), name="control-room", daemon=True)
        self._thread.start()
        ready.wait(10)
        if problem:
            raise UserError(f"the control room did not start: {problem[0]}")
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                fut.result(5)
            except Exception as e:  # closing must not raise into the show's exit
                log.debug("control room shutdown: %r", e)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "ControlRoom":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the server thread ------------------------------------------------------------------

    def _call(self, fn, *args) -> None:
        loop = self._loop
        if loop is not None and not self._closed:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed under us: the show is stopping
                pass

    def _serve(self, ready: threading.Event, problem: list) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from aiohttp import web
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="control-preview")
        try:
            app = web.Application(middlewares=[self._make_guard()], client_max_size=protocol.MAX_MESSAGE)
            for path in _STATIC:
                app.router.add_get(path, self._static)
            app.router.add_get("/ws", self._websocket)
            app.router.add_get("/atlas.png", self._atlas_image)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
            loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, self._sock)
            loop.run_until_complete(site.start())
        except Exception as e:
            problem.append(e)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._runner.cleanup())
            except Exception as e:
                log.debug("control room cleanup: %r", e)
            self._encoder.shutdown(wait=False, cancel_futures=True)
            loop.close()

    async def _shutdown(self) -> None:
        for c in list(self._clients):
            try:
                await asyncio.wait_for(c.ws.close(), 1.0)
            except Exception:
                pass

    # -- access -----------------------------------------------------------------------------

    def _allowed(self, request) -> bool:
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") \
            else request.host.split("]")[0] + "]"
        origin = request.headers.get("Origin")
        if origin is not None and request.path == "/ws" and urlsplit(origin).netloc != request.host:
            return False
        if self.token is None:
            return host in _LOOPBACK_NAMES
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _make_guard(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            if not self._allowed(request):
                self.stats["refused"] += 1
                return web.Response(status=403, text="403: this control room needs its access token "
                                                     "(open the URL the show printed)\n")
            return await handler(request)
        return guard

    async def _static(self, request):
        from aiohttp import web
        name, ctype = _STATIC[request.path]
        resp = web.Response(body=(PAGE_DIR / name).read_bytes(), content_type=ctype,
                            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                                                "connect-src 'self'"})
        if self.token and request.query.get("token"):
            resp.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        return resp

    async def _atlas_image(self, request):
        from aiohttp import web
        if self.atlas_image is None:
            return web.Response(status=404, text="this show has no atlas picture\n")
        return web.Response(body=self.atlas_image, content_type="image/png", headers={"Cache-Control": "no-store"})

    def set_atlas_image(self, png: bytes | None) -> None:
        """The atlas's map picture (PNG) for the page's map panel; None: a plain grid."""
        self.atlas_image = png
        self.atlas = png is not None
        self._call(self._broadcast_hello)

    # -- pages ------------------------------------------------------------------------------

    async def _websocket(self, request):
        from aiohttp import WSMsgType, web
        ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=protocol.MAX_MESSAGE)
        await ws.prepare(request)
        client = _Client(ws)
        self._clients.add(client)
        self.stats["connections"] += 1
        self.stats["pages"] = len(self._clients)
        client.messages.append(self._hello())
        if self._keyframes is not None:
            client.messages.append(protocol.dumps(self._keyframes))
        if self._state is not None:
            client.state = protocol.dumps({"t": "state", **self._state})
        client.wake.set()
        sender = asyncio.ensure_future(self._send_loop(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(client, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            self.stats["pages"] = len(self._clients)
            sender.cancel()
        return ws

    async def _send_loop(self, client: _Client) -> None:
        ws = client.ws
        try:
            while not ws.closed:
                await client.wake.wait()
                client.wake.clear()
                while client.messages:
                    await ws.send_str(client.messages.popleft())
                if client.state is not None:
                    text, client.state = client.state, None
                    await ws.send_str(text)
                if client.frame is not None:
                    frame, client.frame = client.frame, None
                    await ws.send_bytes(frame)
                    client.frames_sent += 1
                    self.stats["frames_sent"] += 1
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    def _receive(self, client: _Client, text: str) -> None:
        self.stats["messages"] += 1
        try:
            item = protocol.parse(text, self._specs, self.clock.now())
        except ProtocolError as e:
            self.stats["bad_messages"] += 1
            client.messages.append(protocol.dumps({"t": "error", "text": f"refused: {e}"}))
            client.wake.set()
            return
        if isinstance(item, Command):
            if item.kind in ("scene/save", "scene/delete"):
                self._scene_edit(client, item)
            else:
                self._commands.append(item)
            return
        self.queue.put(item)
        self.stats["events"] += 1

    def _scene_edit(self, client: _Client, cmd: Command) -> None:
        """Save or delete a scene: the file is written (and fsynced) on a worker thread, so
        neither the show nor the other pages wait for the disk."""
        values = dict((self._state or {}).get("values") or {})
        specs = self._specs

        def edit() -> str | None:
            try:
                name = check_scene_name(cmd.args[0])
                if cmd.kind == "scene/save":
                    self.scenes.save(name, scene_values(values, specs))
                else:
                    self.scenes.delete(name)
            except UserError as e:
                return str(e)
            return None

        def done(fut) -> None:
            problem = fut.result()
            if problem:
                client.messages.append(protocol.dumps({"t": "error", "text": problem}))
                client.wake.set()
            else:
                self._broadcast_text(protocol.dumps({"t": "scenes", "scenes": self.scenes.names()}))
        self._loop.run_in_executor(None, edit).add_done_callback(done)

    def _hello(self) -> str:
        return protocol.dumps({"t": "hello", "version": protocol.VERSION, "specs": self._specs_json,
                               "scenes": self.scenes.names(), "atlas": self.atlas,
                               "scenes_problem": self.scenes.problem})

    def _broadcast_hello(self) -> None:
        self._broadcast_text(self._hello())

    def _broadcast_text(self, text: str) -> None:
        for c in self._clients:
            c.messages.append(text)
            c.wake.set()

    def _broadcast_state(self, state: dict) -> None:
        if state is not self._state:
            return  # a newer one is already on its way
        text = protocol.dumps({"t": "state", "pages": len(self._clients), **state})
        for c in self._clients:
            c.state = text
            c.wake.set()

    def _encode_and_send(self, pixels: np.ndarray) -> None:
        fut = self._loop.run_in_executor(self._encoder, self._encode, pixels)
        fut.add_done_callback(self._encoded)

    def _encode(self, pixels: np.ndarray, width: int | None = None, quality: int | None = None) -> bytes:
        """JPEG of the picture scaled to `width` (the encoder thread; Pillow lets go of the GIL)."""
        import io

        from PIL import Image
        width = width or self.preview_width
        step = max(1, pixels.shape[1] // width)
        img = Image.fromarray(np.ascontiguousarray(pixels[::step, ::step, :3]))
        if img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality or self.preview_quality)
        return buf.getvalue()

    def _encode_thumb(self, index: int, labels: list[str], pixels: np.ndarray) -> None:
        import base64

        def done(fut) -> None:
            self._thumb_encoding = False
            try:
                data = fut.result()
            except Exception as e:
                log.debug("thumbnail encode: %r", e)
                return
            if labels == self._kf_labels:  # still the same keyframes
                self._thumbs[index] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                self._send_keyframes()
        fut = self._loop.run_in_executor(self._encoder, self._encode, pixels, THUMB_WIDTH, 75)
        fut.add_done_callback(done)

    def _encoded(self, fut) -> None:
        self._encoding = False
        try:
            data = fut.result()
        except Exception as e:
            log.debug("preview encode: %r", e)
            return
        self.stats["frames_encoded"] += 1
        for c in self._clients:
            if c.frame is not None:
                c.frames_dropped += 1
                self.stats["frames_dropped"] += 1
            c.frame = data
            c.wake.set()
