"""The control room: a web page served by the running show (HTTP + WebSocket, aiohttp).

`ControlRoom` is an input and a feedback target, like OSC: what the pages do arrives as
`ControlEvent`s on an `EventQueue`; the show publishes state snapshots and preview pictures
into it.  It never imports the engine; the engine attaches it as a part.
"""

from .protocol import Command, ProtocolError
from .scenes import SceneBook, SceneMorph, scene_values, scenes_path_for
from .session import Activity, ControlSession
from .server import DEFAULT_HOST, DEFAULT_PORT, ControlRoom, is_loopback, parse_listen

__all__ = ["ControlRoom", "ControlSession", "Activity", "Command", "ProtocolError", "SceneBook", "SceneMorph", "scene_values",
           "scenes_path_for", "parse_listen", "is_loopback", "DEFAULT_HOST", "DEFAULT_PORT"]
