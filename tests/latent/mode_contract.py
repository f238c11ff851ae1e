"""The one contract every trajectory mode passes.  A subclass says which mode and, when the mode
needs data (ctx.data), how to make some:

    class TestKeyframes(ModeContract):
        mode = "keyframes"

tests/latent/test_modes.py runs it on every mode in latent/modes' registry (and fails when a
registered mode has no contract class there).
"""

from __future__ import annotations

import numpy as np

from latentperform.events import ParamState
from latentperform.latent import LatentSpace, Trajectory
from latentperform.latent.modes import MODES, TrajectoryMode

SPACE = LatentSpace(z_dim=16, w_dim=8, num_ws=4)


class ModeContract:
    mode = ""

    def make_data(self) -> dict:
        return {}

    def make(self, **settings) -> Trajectory:
        return Trajectory({"mode": self.mode, **settings}, [3, 5, 7], SPACE, None, seed=1, data=self.make_data())

    def states(self, tr: Trajectory, n: int = 40, trigger: bool = True):
        """A performance: tempo 120, the beat moving on, every parameter at its default, a keyframe
        trigger half way (unless trigger=False)."""
        values = {s.name: s.default for s in tr.param_specs() if s.kind != "trigger"}
        for k in range(n):
            t = k / 20
            triggers = (("latent/keyframe/next", 0.0),) if trigger and k == n // 2 else ()
            yield ParamState(values=values, tempo=120.0, beat=t * 2.0, time=t, triggers=triggers)

    def run(self, tr: Trajectory, n: int = 40, trigger: bool = True):
        return [tr.step(p, 1 / 20) for p in self.states(tr, n, trigger)]

    def test_is_registered_by_its_name(self):
        cls = MODES[self.mode]
        assert issubclass(cls, TrajectoryMode) and cls.name == self.mode
        assert type(self.make().mode) is cls

    def test_points_are_finite_and_the_right_shape(self):
        for req in self.run(self.make()):
            assert req.z.shape == (SPACE.z_dim,) and req.z.dtype == np.float32 and np.all(np.isfinite(req.z))
            if req.ws is not None:
                assert req.ws.shape == (SPACE.num_ws, SPACE.w_dim) and np.all(np.isfinite(req.ws))

    def test_the_same_performance_gives_the_same_points(self):
        a, b = self.run(self.make()), self.run(self.make())
        for ra, rb in zip(a, b):
            np.testing.assert_array_equal(ra.z, rb.z)
            assert (ra.ws is None) == (rb.ws is None)
            if ra.ws is not None:
                np.testing.assert_array_equal(ra.ws, rb.ws)

    def test_it_moves_and_moves_continuously(self):
        zs = np.stack([r.z for r in self.run(self.make(loop_beats=2.0), 80)])
        steps = np.linalg.norm(np.diff(zs, axis=0), axis=1)
        assert steps.max() > 0, "the point never moves"
        assert steps.max() < 0.5 * np.linalg.norm(zs, axis=1).mean(), "a jump between two ticks"

    def test_parameters_are_named_and_reachable_over_osc(self):
        tr = self.make()
        for spec in tr.mode.param_specs():
            assert spec.name and spec.doc and spec.osc and spec.osc.startswith("/lp/"), spec
            assert spec.kind == "trigger" or spec.min <= spec.default <= spec.max, spec
        names = [s.name for s in tr.param_specs()]
        assert len(names) == len(set(names)), "a mode's parameter shadows a shared one"

    def test_current_keyframe_is_one_of_the_keyframes(self):
        tr = self.make()
        for p in self.states(tr):
            tr.step(p, 1 / 20)
            assert 0 <= tr.current_keyframe() < tr.num_keyframes

    def test_a_reload_keeps_its_place(self):
        old = self.make(loop_beats=2.0)
        reqs = self.run(old, 30, trigger=False)   # (a glide under way is not carried over)
        new = self.make(loop_beats=2.0)
        new.carry_from(old)
        state = list(self.states(new, 31, trigger=False))[-1]
        nxt = new.step(state, 1 / 20)
        assert np.linalg.norm(nxt.z - reqs[-1].z) < 0.5 * np.linalg.norm(reqs[-1].z), "a reload jumped"
