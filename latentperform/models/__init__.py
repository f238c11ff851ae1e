"""Generators (the Generator protocol, the built-in CPPN) and the inference worker."""

from .base import Generator, ModelError
from .builtin import BuiltinGenerator
from .worker import Frame, InferenceWorker

__all__ = ["BuiltinGenerator", "Frame", "Generator", "InferenceWorker", "ModelError"]
