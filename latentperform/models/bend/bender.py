"""The bender: the patch's [[bend]] entries attached to one network as forward hooks.

    bender = Bender(G, [BendSpec("b32.conv1", "rotate", cluster=1)], model_key="net.pkl")
    bender.update([{"angle": 30.0}], seq)      # once per request, in the inference thread
    G.synthesis(ws)                            # draws bent

A hook sits on a layer only while one of its bends is away from neutral: a bend at rest costs
the network nothing.  While any bend is active the synthesis runs eagerly (a captured CUDA graph
would replay the hooks' first values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..base import ModelError
from .base import OPS, BendOp
from .clusters import channel_clusters
from .layers import find_layer, synthesis_module


@dataclass(frozen=True)
class BendSpec:
    """One [[bend]] of a patch.

    layer     a layer name (`inspect MODEL --layers`)
    op        an op name (models.bend.OPS)
    cluster   which channel cluster the op works on (0 = the largest), or None for every channel
    clusters  how many clusters the layer's channels are grouped into
    partner   swap: the other cluster
    channels  explicit channel indices instead of a cluster
    values    the op's settings at the start (the rest take their neutral values)
    """

    layer: str
    op: str
    cluster: int | None = None
    clusters: int = 4
    partner: int | None = None
    channels: tuple[int, ...] | None = None
    values: dict = field(default_factory=dict)


class _Bend:
    def __init__(self, spec: BendSpec, op: BendOp, module, channels, partner) -> None:
        self.spec, self.op, self.module = spec, op, module
        self.channels, self.partner = channels, partner
        self.values = op.clamp(spec.values)


class Bender:
    def __init__(self, G, specs, model_key: str | None = None, seed: int = 0) -> None:
        self.G = G
        self.seed = int(seed)
        self.bends: list[_Bend] = []
        root = synthesis_module(G)
        self._runtime = getattr(G, "synthesis", root)
        for i, spec in enumerate(specs):
            if spec.op not in OPS:
                import difflib
                close = difflib.get_close_matches(spec.op, list(OPS), n=1)
                hint = f'; did you mean "{close[0]}"?' if close else ""
                raise ModelError(f'bend {i}: unknown op "{spec.op}"{hint} (ops: {", ".join(sorted(OPS))})')
            op = OPS[spec.op]()
            known = [s.name for s in op.settings]
            for key in spec.values:
                if key not in known:
                    import difflib
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f'; did you mean "{close[0]}"?' if close else ""
                    raise ModelError(f'bend {i}: {spec.op} has no setting "{key}"{hint} '
                                     f'(its settings: {", ".join(known)})')
            module = find_layer(G, spec.layer)
            channels = partner = None
            if spec.channels is not None:
                channels = torch.as_tensor(list(spec.channels), dtype=torch.long)
            elif spec.cluster is not None or op.needs_partner:
                labels = torch.as_tensor(channel_clusters(G, spec.layer, spec.clusters, model_key))
                k = int(labels.max()) + 1
                for which, name in ((spec.cluster, "cluster"), (spec.partner, "partner")):
                    if which is not None and not 0 <= which < k:
                        raise ModelError(f"bend {i}: {name} {which}: layer {spec.layer} has clusters 0..{k - 1}")
                channels = torch.nonzero(labels == (spec.cluster or 0)).flatten()
                if op.needs_partner:
                    other = spec.partner if spec.partner is not None else (1 if k > 1 else 0)
                    partner = torch.nonzero(labels == other).flatten()
            self.bends.append(_Bend(spec, op, module, channels, partner))
        self._handles: dict[int, object] = {}
        self._rng = torch.Generator()
        self._sync_hooks()

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def update(self, values, seq: int = 0) -> None:
        """values: one {setting: value} per bend (None or missing entries keep their values)."""
        if values is not None:
            for bend, v in zip(self.bends, values):
                if v:
                    bend.values = bend.op.clamp({**bend.values, **dict(v)})
        self._rng.manual_seed(hash((self.seed, int(seq))) & 0x7FFFFFFF)
        self._sync_hooks()

    def _sync_hooks(self) -> None:
        live = {id(b.module): b.module for b in self.bends if not b.op.is_neutral(b.values)}
        for key in list(self._handles):
            if key not in live:
                self._handles.pop(key).remove()
        for key, module in live.items():
            if key not in self._handles:
                self._handles[key] = module.register_forward_hook(self._hook)
        if isinstance(self._runtime, torch.nn.Module):
            self._runtime.bending = bool(self._handles)

    def _hook(self, module, _inputs, out):
        if not (isinstance(out, torch.Tensor) and out.ndim == 4):
            return None
        for b in self.bends:
            if b.module is module and not b.op.is_neutral(b.values):
                ch = None if b.channels is None else b.channels.to(out.device)
                pa = None if b.partner is None else b.partner.to(out.device)
                out = b.op.apply(out, b.values, ch, pa, self._rng)
        return out

    def close(self) -> None:
        for h in self._handles.values():
            h.remove()
        self._handles.clear()
        if isinstance(self._runtime, torch.nn.Module):
            self._runtime.bending = False
