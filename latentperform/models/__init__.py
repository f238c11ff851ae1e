"""Generators (the Generator protocol, the built-in CPPN) and the inference worker."""

from .base import Generator, ModelError
from .builtin import BuiltinGenerator
from .loader import contact_sheet, describe, inspect_model, load_generator
from .worker import Frame, InferenceWorker

__all__ = ["BuiltinGenerator", "Frame", "Generator", "InferenceWorker", "ModelError", "contact_sheet", "describe",
           "inspect_model", "load_generator"]
