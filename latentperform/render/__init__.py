"""moderngl rendering: surfaces (window / headless), frame upload, the shader chain, recording.

GL code here knows nothing about generators: it gets uint8 frames and a ParamState.
"""

from .hud import Hud
from .shaders import ShaderChain, available_passes, shader_param_specs
from .surface import HeadlessSurface, Surface, WindowSurface, create_egl_context, list_monitors
from .upload import FrameTexture

__all__ = ["FrameTexture", "HeadlessSurface", "Hud", "ShaderChain", "Surface", "WindowSurface", "available_passes",
           "create_egl_context", "list_monitors", "shader_param_specs"]
