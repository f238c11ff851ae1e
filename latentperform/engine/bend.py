"""The patch's [[bend]] entries as a part of the show: their settings are parameters
(`bend/<i>/<setting>`, at `/lp/bend/<i>/<setting>` over OSC, mappable to MIDI, audio, the
control room), and each tick's values ride on the request to the worker, whose Bender
(models.bend) applies them in the inference thread.  A bend at its neutral value takes its hook
off the network, so it costs nothing until it is moved."""

from __future__ import annotations

from dataclasses import replace

from ..events import ParamSpec
from .part import EnginePart


def bend_specs(patch_bends) -> list:
    """models.bend.BendSpec for each [[bend]] of the patch."""
    from ..models.bend import BendSpec
    return [BendSpec(layer=b.layer, op=b.op, cluster=b.cluster, clusters=b.clusters, partner=b.partner,
                     channels=b.channels, values=dict(b.values)) for b in patch_bends]


class BendPart(EnginePart):
    def __init__(self, bender) -> None:
        self.bender = bender

    def param_specs(self):
        out = []
        for i, b in enumerate(self.bender.bends):
            where = f"{b.spec.op} at {b.spec.layer}"
            for s in b.op.settings:
                name = f"bend/{i}/{s.name}"
                out.append(ParamSpec(name, float(b.values[s.name]), s.min, s.max, f"{where}: {s.doc}",
                                     osc=f"/lp/{name}"))
        return out

    def shape_request(self, engine, request, params):
        values = tuple(tuple((s.name, params.get(f"bend/{i}/{s.name}")) for s in b.op.settings)
                       for i, b in enumerate(self.bender.bends))
        return replace(request, bends=values)

    def status_lines(self, engine):
        live = [f"{b.spec.op}@{b.spec.layer}" for b in self.bender.bends if not b.op.is_neutral(b.values)]
        return [f"bend   {', '.join(live)}"] if live else []

    def close(self) -> None:
        self.bender.close()


def attach_bends(engine) -> None:
    """Build the Bender for the patch's bends on the show's generator and attach the part (a bad
    layer or op name is the user's error, raised as one line: the show cannot start bent wrong)."""
    bends = getattr(engine.patch, "bends", ())
    if not bends:
        return
    from ..models.bend import Bender
    kind = str(engine.patch.model.kind)
    bender = Bender(engine.generator, bend_specs(bends), model_key=None if kind.startswith("builtin") else kind,
                    seed=int(engine.patch.model.seed))
    engine.worker.bender = bender
    engine.add_part(BendPart(bender))
