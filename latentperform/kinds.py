"""The vocabulary of a patch's `[model]`: which generator kinds exist, which precisions and
devices may be named.  Torch-free and importing nothing from the project, because two layers
that may not import each other both read it: the patch schema (pure; it checks `[model] kind`,
`precision` and `device` with file and line) and models/ (its loader imports each kind's module
by the dotted name given here, as mido loads a backend).

A generator kind is one file plus one line: a module in models/ with

    load(spec: str, placement: models.device.Placement, hints: models.base.LoadHints) -> Generator

and one `GeneratorKind(...)` line in `GENERATOR_KINDS` below.  Two kinds may share a suffix (a
`.pt` is a trained network or TorchScript): the module of the earlier one then also has
`claims(path) -> bool`, and the loader takes the first kind that claims the file.  Every registered kind runs the
shared contract test (tests/models/test_generator_kinds.py asks each for a sample spec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# [model] precision, one vocabulary from the patch to the loader:
#   auto       half precision where it is fast (CUDA), float32 elsewhere
#   fp32       float32 everywhere
#   fp16       the network's fp16 layers in half (StyleGAN: on CUDA; float32 kept on the CPU)
#   reference  the arithmetic of the code that wrote the pickle, to compare renders with it
#              (StyleGAN2-ADA: its fp16 blocks in half on any device; slow, not for shows)
PRECISIONS = ("auto", "fp32", "fp16", "reference")

# [model] device: "auto" is CUDA when there is one, else the CPU
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
DEVICE_WORDS = '"auto", "cpu", "cuda", "cuda:<n>" or "mps"'


@dataclass(frozen=True)
class GeneratorKind:
    """How `[model] kind = "..."` picks a kind: by `prefix` (the spec is the prefix itself or
    starts with it followed by `separator`) or by one of `suffixes` (a network file).  `module`
    is the dotted name of the models/ module whose `load` builds it; `pattern`, when given, is the
    whole spec's syntax (checked by the schema, so a typo is refused with its line)."""

    name: str
    module: str
    prefix: str | None = None
    separator: str = ":"
    suffixes: tuple[str, ...] = ()
    pattern: str | None = None
    syntax: str = ""  # what `pattern` accepts, for the error message

    @property
    def is_file(self) -> bool:
        return bool(self.suffixes)

    def matches(self, spec: str) -> bool:
        if self.prefix is not None:
            return spec == self.prefix or spec.startswith(self.prefix + self.separator)
        return spec.lower().endswith(self.suffixes)

    def syntax_error(self, spec: str) -> str | None:
        """None when the spec is well formed, else what was expected."""
        if self.pattern is None or re.match(self.pattern, spec):
            return None
        return f"expected {self.syntax}, got \"{spec}\""


GENERATOR_KINDS: list[GeneratorKind] = [
    GeneratorKind("builtin", "latentperform.models.builtin", prefix="builtin",
                  pattern=r"^builtin(?::(?:\d+x)?\d+)?(?:,seed=\d+)?$",
                  syntax='"builtin", "builtin:<size>" or "builtin:<width>x<height>" (optionally ",seed=<n>")'),
    GeneratorKind("plugin", "latentperform.models.plugin", prefix="python",
                  pattern=r"^python:[A-Za-z_][\w.]*:[A-Za-z_]\w*$", syntax='"python:package.module:factory"'),
    GeneratorKind("stylegan", "latentperform.models.stylegan_pickle", suffixes=(".pkl",)),
    GeneratorKind("trained", "latentperform.models.trained", suffixes=(".pt",)),  # `latentperform train`
    GeneratorKind("torchscript", "latentperform.models.torchscript", suffixes=(".pt", ".ts")),
]


def kind_for(spec: str) -> GeneratorKind | None:
    """The registered kind a spec names, or None."""
    return next((k for k in GENERATOR_KINDS if k.matches(spec)), None)


def file_suffixes() -> tuple[str, ...]:
    return tuple(s for k in GENERATOR_KINDS for s in k.suffixes)


def expected_kinds() -> str:
    """What `[model] kind` accepts, in words, for error messages."""
    words = [f'"{k.prefix}"' if k.name == "builtin" else k.syntax or f'"{k.prefix}..."'
             for k in GENERATOR_KINDS if k.prefix is not None]
    files = ", ".join(file_suffixes())
    return f"{words[0]}, a network file ending in {files}" + "".join(f" or {w}" for w in words[1:])
