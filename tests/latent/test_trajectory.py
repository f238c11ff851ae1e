"""Trajectory: loop period in beats, glides, XY pad, walk, pulse, directions, mix, transform,
determinism and degenerate inputs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from latentperform.config import UserError
from latentperform.events import LatentRequest, ParamState
from latentperform.latent import LatentSpace, Trajectory, slerp, z_from_seed

SPACE = LatentSpace(z_dim=32, w_dim=16, num_ws=8)
SEEDS = [3, 11, 42, 77]


def make(settings=None, keyframes=SEEDS, directions=None, seed=0, space=SPACE) -> Trajectory:
    return Trajectory(settings or {}, keyframes, space, directions, seed=seed)


def state(tr: Trajectory, beat: float = 0.0, tempo: float = 120.0, triggers=(), **values) -> ParamState:
    base = {s.name: s.default for s in tr.param_specs() if s.kind != "trigger"}
    base.update({k.replace("__", "/"): v for k, v in values.items()})
    return ParamState(values=base, tempo=tempo, beat=beat, triggers=tuple(triggers))


def run(tr: Trajectory, seconds: float, dt: float = 0.01, tempo: float = 120.0, beat0: float = 0.0,
        **values) -> LatentRequest:
    n = int(round(seconds / dt))
    req = None
    for i in range(1, n + 1):
        req = tr.step(state(tr, beat=beat0 + i * dt * tempo / 60, tempo=tempo, **values), dt)
    return req


def z(seed: int) -> np.ndarray:
    return z_from_seed(seed, SPACE.z_dim)


def test_request_types():
    tr = make()
    req = tr.step(state(tr), 0.01)
    assert req.z.dtype == np.float32 and req.z.shape == (32,)
    assert req.w_offset is None and req.transform is None and req.mix_z is None
    assert req.psi == 1.0


def test_starts_on_the_first_keyframe():
    tr = make({"loop_beats": 4})
    req = tr.step(state(tr), 0.0)
    assert np.allclose(req.z, z(3), atol=1e-6)


def test_loop_period_in_beats():
    """After loop_beats beats at speed 1 the loop stands on the next keyframe."""
    tr = make({"loop_beats": 4})
    req = run(tr, seconds=2.0, dt=0.01, tempo=120.0)  # 4 beats
    assert tr.current_keyframe() == 1
    assert np.allclose(req.z, z(11), atol=1e-4)
    req = run(tr, seconds=1.0, dt=0.01)               # 2 more beats: half way to keyframe 2
    assert np.allclose(req.z, slerp(z(11), z(42), 0.5), atol=1e-4)


def test_speed_scales_the_loop_and_tempo_too():
    tr = make({"loop_beats": 4})
    run(tr, seconds=1.0, tempo=120.0, latent__speed=2.0)  # 2 beats at double speed = 4
    assert tr.pos == pytest.approx(1.0)
    tr = make({"loop_beats": 4})
    run(tr, seconds=1.0, tempo=240.0)
    assert tr.pos == pytest.approx(1.0)
    tr = make({"loop_beats": 4})
    run(tr, seconds=1.0, latent__speed=0.0)
    assert tr.pos == 0.0


def test_loop_wraps_around():
    tr = make({"loop_beats": 1})
    run(tr, seconds=2.0, tempo=120.0)  # 4 beats, 4 keyframes
    assert tr.pos == pytest.approx(0.0, abs=1e-9) or tr.pos == pytest.approx(4.0)


def test_per_keyframe_beats():
    kfs = [SimpleNamespace(seed=3, file=None, beats=2.0), SimpleNamespace(seed=11, file=None, beats=None)]
    tr = make({"loop_beats": 8}, keyframes=kfs)
    run(tr, seconds=1.0)   # 2 beats: the first step is 2 beats long
    assert tr.pos == pytest.approx(1.0)


def test_beat_synced_loop_follows_the_clock():
    tr = make({"loop_beats": 4, "loop_sync": "beat"})
    req = tr.step(state(tr, beat=6.0), 0.01)
    assert np.allclose(req.z, slerp(z(11), z(42), 0.5), atol=1e-5)
    req = tr.step(state(tr, beat=16.0, latent__speed=3.0), 0.01)  # speed does not matter here
    assert np.allclose(req.z, z(3), atol=1e-5)


def test_loop_hold_rests_on_the_keyframe():
    tr = make({"loop_beats": 4, "loop_sync": "beat", "loop_hold": 0.75})
    for beat in (4.0, 5.0, 6.9):
        assert np.allclose(tr.step(state(tr, beat=beat), 0.01).z, z(11), atol=1e-5)
    assert not np.allclose(tr.step(state(tr, beat=7.5), 0.01).z, z(11), atol=1e-3)


def test_glide_to_a_keyframe_on_trigger():
    tr = make({"loop_beats": 1000, "glide_beats": 2})
    tr.step(state(tr), 0.01)
    start = tr.step(state(tr), 0.01).z
    req = tr.step(state(tr, triggers=[("latent/keyframe", 2.0)]), 0.01)
    assert tr.gliding
    assert np.linalg.norm(req.z - start) < 0.2            # no jump
    req = run(tr, seconds=1.0)                             # 2 beats at 120 bpm
    assert not tr.gliding
    assert np.allclose(req.z, z(42), atol=1e-4)
    assert tr.current_keyframe() == 2
    req = run(tr, seconds=0.1)                             # the loop carries on from there
    assert tr.pos == pytest.approx(2.0 + 0.2 / 1000, rel=1e-3)


def test_next_and_prev():
    tr = make({"glide_beats": 0})
    tr.step(state(tr, triggers=[("latent/keyframe/next", 1.0)]), 0.0)
    assert tr.current_keyframe() == 1
    tr.step(state(tr, triggers=[("latent/keyframe/prev", 1.0)]), 0.0)
    tr.step(state(tr, triggers=[("latent/keyframe/prev", 1.0)]), 0.0)
    assert tr.current_keyframe() == 3
    req = tr.step(state(tr, triggers=[("latent/keyframe", 9.0)]), 0.0)  # wraps: 9 % 4
    assert np.allclose(req.z, z(11), atol=1e-6)


def test_glide_zero_beats_cuts():
    tr = make({"glide_beats": 0})
    req = tr.step(state(tr, triggers=[("latent/keyframe", 3.0)]), 0.01)
    assert np.allclose(req.z, z(77), atol=1e-6)


def test_xy_corners_are_the_corner_seeds():
    seeds = [100, 200, 300, 400]
    tr = make({"xy_seeds": seeds, "xy_grid": (2, 2)})
    for (x, y), seed in zip([(0, 0), (1, 0), (0, 1), (1, 1)], seeds):
        assert np.allclose(tr.xy_point(x, y), z(seed))
        req = tr.step(state(tr, latent__speed=0.0, latent__xy__x=x, latent__xy__y=y, latent__xy__amount=1.0), 0.0)
        assert np.allclose(req.z, z(seed), atol=1e-5)


def test_xy_grid_is_continuous_and_bigger_grids_work():
    tr = make({"xy_grid": (3, 2), "xy_seeds": [1, 2, 3, 4, 5, 6]})
    assert np.allclose(tr.xy_point(0.5, 0.0), z(2))
    assert np.allclose(tr.xy_point(1.0, 1.0), z(6))
    a, b = tr.xy_point(0.4999, 0.3), tr.xy_point(0.5001, 0.3)
    assert np.linalg.norm(a - b) < 0.05


def test_walk_moves_smoothly_and_keeps_the_norm():
    tr = make({"walk_rate": 0.5})
    prev = None
    for i in range(200):
        req = tr.step(state(tr, latent__speed=1e-9, latent__walk=0.5), 0.01)
        if prev is not None:
            assert np.linalg.norm(req.z - prev) < 0.1
        prev = req.z
    assert np.linalg.norm(prev) == pytest.approx(np.linalg.norm(z(3)), rel=1e-4)
    still = make().step(state(tr, latent__walk=0.0), 0.01).z
    assert not np.allclose(prev, still)


def test_pulse_direction_and_strength():
    dirs = np.eye(16)[:3]
    tr = make({"pulse_strength": 2.0, "pulse_direction": 1}, directions=dirs)
    req = tr.step(state(tr, latent__pulse=0.5), 0.01)
    assert np.allclose(req.w_offset, 2.0 * 0.5 * dirs[1])


def test_pulse_hit_decays():
    tr = make({"pulse_strength": 1.0, "pulse_release": 0.2}, directions=np.eye(16)[:2])
    sizes = [float(np.linalg.norm(tr.step(state(tr, triggers=[("latent/pulse/hit", 1.0)]), 0.01).w_offset))]
    for _ in range(100):
        req = tr.step(state(tr), 0.01)
        sizes.append(0.0 if req.w_offset is None else float(np.linalg.norm(req.w_offset)))
    assert sizes[0] == pytest.approx(1.0)
    assert sizes[20] == pytest.approx(math.exp(-0.2 / 0.2), rel=1e-6)
    assert all(b <= a for a, b in zip(sizes, sizes[1:]))
    assert sizes[-1] < 0.01


def test_directions_sum():
    dirs = np.eye(16)[:4]
    tr = make({"direction_scale": 2.0}, directions=dirs)
    req = tr.step(state(tr, latent__direction__0=1.0, latent__direction__3=-0.5), 0.01)
    assert np.allclose(req.w_offset, 2.0 * dirs[0] - 1.0 * dirs[3])


def test_random_directions_are_orthonormal_and_deterministic():
    tr = make({"directions": 5}, seed=9)
    d = tr.directions
    assert d.shape == (5, 16)
    assert np.allclose(d @ d.T, np.eye(5), atol=1e-12)
    assert np.array_equal(d, make({"directions": 5}, seed=9).directions)
    assert not np.allclose(d, make({"directions": 5}, seed=10).directions)
    assert [s.name for s in tr.param_specs() if s.name.startswith("latent/direction/")] == \
        [f"latent/direction/{k}" for k in range(5)]


def test_truncation_default_from_settings_and_param():
    tr = make({"truncation": 0.7})
    assert tr.step(state(tr), 0.01).psi == pytest.approx(0.7)
    assert tr.step(state(tr, latent__truncation=0.3), 0.01).psi == pytest.approx(0.3)


def test_style_mix():
    tr = make({"mix_layers": (2, 20), "mix_keyframe": 1})
    req = tr.step(state(tr, latent__mix__amount=0.5), 0.01)
    assert req.mix_layers == (2, 8)   # clipped to num_ws
    assert np.allclose(req.mix_z, z(11)) and req.mix_amount == 0.5
    tr = make()
    assert tr.mix_layers == (4, 8)


def test_transform_only_when_asked():
    tr = make()
    assert tr.step(state(tr), 0.01).transform is None
    m = tr.step(state(tr, latent__rotate=90.0, latent__translate__x=0.25), 0.01).transform
    assert m.shape == (3, 3) and m.dtype == np.float32
    # the matrix is the picture's motion as the user asks for it (the Generator protocol's
    # transform, StyleGAN3's transform_user): turned 90 degrees, moved right by 0.25
    from latentperform.models.stylegan3 import rotate_translate
    assert np.allclose(m, np.asarray(rotate_translate(90.0, 0.25, 0.0), dtype=np.float64), atol=1e-6)


def test_request_carries_time_and_stamp():
    tr = make()
    req = tr.step(ParamState(values={}, time=3.5, newest_input=3.25), 0.01)
    assert req.time == 3.5 and req.stamp == 3.25


def test_deterministic_given_the_same_params():
    def render():
        tr = make({"walk": 0.3, "loop_beats": 2}, seed=5)
        out = []
        for i in range(300):
            trig = [("latent/keyframe/next", 1.0)] if i % 50 == 7 else []
            trig += [("latent/pulse/hit", 1.0)] if i % 20 == 3 else []
            req = tr.step(state(tr, beat=i / 30, triggers=trig, latent__walk=0.2 + (i % 10) / 50), 1 / 60)
            out.append((req.z.tobytes(), None if req.w_offset is None else req.w_offset.tobytes()))
        return out

    assert render() == render()


def test_no_nan_for_identical_and_zero_keyframes():
    zero = np.zeros(32)
    for kfs in ([7, 7, 7], [zero, zero], [zero, z(1)], [z(1), -z(1)]):
        tr = make({"loop_beats": 1, "walk": 0.5}, keyframes=kfs)
        for i in range(100):
            req = tr.step(state(tr, beat=i / 25, latent__xy__amount=0.5, latent__pulse=1.0), 0.02)
            assert np.all(np.isfinite(req.z)) and np.all(np.isfinite(req.w_offset))


def test_no_keyframes_draws_four_from_the_seed():
    tr = make(keyframes=[], seed=10)
    assert tr.num_keyframes == 4
    assert np.allclose(tr.keyframes[1], z(11))


def test_keyframe_from_file(tmp_path):
    v = np.arange(32, dtype=np.float32)
    np.save(tmp_path / "k.npy", v[None])
    tr = make(keyframes=[SimpleNamespace(seed=None, file=tmp_path / "k.npy")])
    assert np.allclose(tr.step(state(tr), 0.0).z, v)
    np.save(tmp_path / "bad.npy", np.zeros(5))
    with pytest.raises(UserError, match=r"expected a z vector of shape \(32,\)"):
        make(keyframes=[SimpleNamespace(seed=None, file=tmp_path / "bad.npy")])


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="pulse_direction 9"):
        make({"pulse_direction": 9})
    with pytest.raises(UserError, match="directions"):
        make(directions=np.zeros((3, 5)))


def test_settings_from_the_patch_dataclass():
    from latentperform.patch import load_patch
    from latentperform.config import PATCH_DIR
    p = load_patch(PATCH_DIR / "default.toml")
    tr = Trajectory(p.trajectory, p.keyframes, SPACE, None, seed=p.model.seed)
    assert tr.step_beats.tolist() == [16.0] * 4
    assert np.allclose(tr.keyframes[0], z(3))
    specs = {s.name: s for s in tr.param_specs()}
    assert specs["latent/walk"].default == pytest.approx(0.15)


# -- chroma -> keyframes -----------------------------------------------------------------------

def chroma(*pitch_classes: int, level: float = 1.0) -> dict:
    """Values for a state(): these pitch classes at `level`, the rest silent."""
    return {f"latent__chroma__{k}": (level if k in pitch_classes else 0.0) for k in range(12)}


def test_chroma_pulls_toward_the_keyframe_of_the_pitch_class():
    seeds = list(range(100, 112))           # 12 keyframes: one per pitch class
    tr = make({"loop_beats": 1e6}, keyframes=seeds)
    req = tr.step(state(tr, latent__chroma=1.0, **chroma(7)), 0.01)       # G
    assert np.allclose(req.z, z(107), atol=1e-5)
    # four keyframes: pitch class k -> keyframe k mod 4 (F = 5 -> keyframe 1)
    tr = make({"loop_beats": 1e6})
    req = tr.step(state(tr, latent__chroma=1.0, **chroma(5)), 0.01)
    assert np.allclose(req.z, z(SEEDS[1]), atol=1e-5)


def test_chroma_amount_and_silence_leave_the_loop_alone():
    tr, ref = make({"loop_beats": 4}), make({"loop_beats": 4})
    for _ in range(20):
        a = tr.step(state(tr, latent__chroma=0.0, **chroma(7)), 0.01)
        b = ref.step(state(ref), 0.01)
    assert np.array_equal(a.z, b.z)
    tr = make({"loop_beats": 1e6})
    a = tr.step(state(tr, latent__chroma=1.0, **chroma()), 0.01)       # no harmony: no pull
    assert np.allclose(a.z, z(SEEDS[0]), atol=1e-6)
    tr = make({"loop_beats": 1e6})
    half = tr.step(state(tr, latent__chroma=0.5, **chroma(1)), 0.01)
    assert np.allclose(half.z, slerp(z(SEEDS[0]), z(SEEDS[1]), 0.5).astype(np.float32), atol=1e-5)


def test_chord_blends_its_keyframes_and_keeps_the_length():
    tr = make({"loop_beats": 1e6})
    req = tr.step(state(tr, latent__chroma=1.0, **chroma(0, 1)), 0.01)   # two equal pitch classes
    expected = z(SEEDS[0]) + z(SEEDS[1])
    cos = float(req.z @ expected / (np.linalg.norm(req.z) * np.linalg.norm(expected)))
    assert cos > 0.999
    mean_len = 0.5 * (np.linalg.norm(z(SEEDS[0])) + np.linalg.norm(z(SEEDS[1])))
    assert abs(np.linalg.norm(req.z) - mean_len) < 1e-4
    # the stronger pitch class dominates (weights are squared: 1.0 vs 0.5 -> 4:1)
    w = tr.chroma_point([1.0, 0.5] + [0.0] * 10)
    assert np.linalg.norm(w / np.linalg.norm(w) - z(SEEDS[0]) / np.linalg.norm(z(SEEDS[0]))) < \
        np.linalg.norm(w / np.linalg.norm(w) - z(SEEDS[1]) / np.linalg.norm(z(SEEDS[1])))


def test_chroma_changes_glide_and_replay_exactly():
    def go():
        tr = make({"loop_beats": 1e6})
        out = [tr.step(state(tr, latent__chroma=1.0, **chroma(0)), 0.02).z for _ in range(10)]
        out += [tr.step(state(tr, latent__chroma=1.0, **chroma(2)), 0.02).z for _ in range(30)]
        return np.array(out)
    a, b = go(), go()
    assert np.array_equal(a, b)
    target = z(SEEDS[2]) / np.linalg.norm(z(SEEDS[2]))
    closeness = [float(v @ target / np.linalg.norm(v)) for v in a[9:]]
    assert all(x < y + 1e-9 for x, y in zip(closeness, closeness[1:]))   # moves toward it steadily
    assert closeness[1] < 0.9 and closeness[-1] > 0.999                   # smoothly, not in one frame
    # NaN and out-of-range weights are taken as 0 and 1
    tr = make({"loop_beats": 1e6})
    req = tr.step(state(tr, latent__chroma=1.0, **{**chroma(3, level=7.0), "latent__chroma__0": float("nan")}), 0.01)
    assert np.all(np.isfinite(req.z)) and np.allclose(req.z, z(SEEDS[3]), atol=1e-5)


def test_carry_from_keeps_the_loops_place_when_a_patch_is_reloaded():
    old = make({"walk": 0.3})
    run(old, 3.0, latent__walk=0.3)
    old.hit = 0.7
    new = make({"walk": 0.3, "pulse_strength": 2.0}, keyframes=SEEDS[:3])
    new.carry_from(old)
    assert new.pos == pytest.approx(old.pos % 3) and new.current_keyframe() == int(old.pos % 3 + 0.5) % 3
    assert (new.walk_time, new.hit) == (old.walk_time, 0.7)
    np.testing.assert_allclose(new.mode.last_base, new.mode.keyframe_blend(new.pos))
