"""The show's one parameter registry: every ParamSpec a running show answers to, by owner.

The mapper, the OSC router, MIDI feedback, the overlay, the control room and `osc-docs` all read
this one object; nothing keeps its own copy of the table.  A reader that derives something from it
(the router's address table, the feedback's control table) keeps the `version` it derived it from
and derives again when the version has moved, so a reloaded patch (a new shader pass, an edited
@param uniform) reaches every reader the moment it is applied.

    reg = ParamRegistry()
    reg.set_group("trajectory", traj.param_specs())   # an owner replaces its own specs
    reg.specs["latent/speed"]                          # a read-only snapshot, replaced as a whole
    reg.by_osc("/lp/speed")                            # the specs one OSC address sets
    version, specs, by_osc = reg.snapshot()            # one consistent read, from any thread

Owners are merged in the order they first registered; when two owners declare one name, the first
keeps it (the show's own parameters win over a part's).  Writers are the engine's thread only;
readers on other threads (the OSC receive thread) read `snapshot()`, one attribute, so they never
see half a change.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Iterator, Mapping

from .events import ParamSpec

_EMPTY: Mapping = MappingProxyType({})


class ParamRegistry:
    """See the module docstring."""

    def __init__(self, groups: Mapping[str, Iterable[ParamSpec]] | None = None) -> None:
        self._groups: dict[str, tuple[ParamSpec, ...]] = {}
        self._state: tuple[int, Mapping[str, ParamSpec], Mapping[str, tuple[ParamSpec, ...]]] = (0, _EMPTY, _EMPTY)
        for owner, specs in (groups or {}).items():
            self.set_group(owner, specs)

    # -- writing (the engine's thread) -------------------------------------------------------------

    def set_group(self, owner: str, specs: Iterable[ParamSpec]) -> bool:
        """Replace the specs `owner` contributes; True when the merged table changed."""
        specs = tuple(specs)
        if self._groups.get(owner) == specs:
            return False
        self._groups[owner] = specs
        return self._merge()

    def remove_group(self, owner: str) -> bool:
        if self._groups.pop(owner, None) is None:
            return False
        return self._merge()

    def _merge(self) -> bool:
        merged: dict[str, ParamSpec] = {}
        for specs in self._groups.values():
            for spec in specs:
                merged.setdefault(spec.name, spec)
        version, old, _ = self._state
        if merged == dict(old):
            return False
        by_osc: dict[str, list[ParamSpec]] = {}
        for spec in merged.values():
            if spec.osc:
                by_osc.setdefault(spec.osc, []).append(spec)
        self._state = (version + 1, MappingProxyType(merged),
                       MappingProxyType({a: tuple(s) for a, s in by_osc.items()}))
        return True

    # -- reading (any thread) --------------------------------------------------------------------

    def snapshot(self) -> tuple[int, Mapping[str, ParamSpec], Mapping[str, tuple[ParamSpec, ...]]]:
        """(version, specs by name, specs by OSC address): one consistent view."""
        return self._state

    @property
    def version(self) -> int:
        return self._state[0]

    @property
    def specs(self) -> Mapping[str, ParamSpec]:
        return self._state[1]

    def by_osc(self, address: str) -> tuple[ParamSpec, ...]:
        return self._state[2].get(address, ())

    def owners(self) -> list[str]:
        return list(self._groups)

    def get(self, name: str, default=None):
        return self._state[1].get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._state[1]

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(list(self._state[1].values()))

    def __len__(self) -> int:
        return len(self._state[1])
