"""moderngl rendering: surfaces (window / headless), frame upload, the shader chain, recording.

GL code here knows nothing about generators: it gets uint8 frames and a ParamState.
"""

from .hud import Hud
from .recorder import Recorder, VideoWriter, check_writable, probe_video, save_png
from .shaders import ShaderChain, available_passes, shader_param_specs
from .surface import HeadlessSurface, Monitor, Surface, WindowSurface, create_egl_context, list_monitors, monitors
from .upload import FrameTexture

__all__ = [
    "FrameTexture", "HeadlessSurface", "Hud", "Monitor", "Recorder", "ShaderChain", "Surface", "VideoWriter",
    "WindowSurface", "available_passes", "check_writable", "create_egl_context", "list_monitors", "monitors",
    "probe_video", "save_png", "shader_param_specs",
]
