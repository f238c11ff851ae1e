"""Instances in step on the loopback, as real `latentperform run --sync` processes (bench/sync.py
runs them and reads their present logs): the same frames (pixel checksums), presented at the same
moments, and a leader killed with kill -9 and started again is followed from its frame 0."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import sync as bench_sync  # noqa: E402

FPS = 10.0


def _check(c: dict, min_frames: int) -> None:
    period_ms = 1e3 / FPS
    assert c["common"] >= min_frames, c
    assert c["identical"] == c["common"], c          # deterministic: every frame the same picture
    assert c["dt_median_ms"] < period_ms / 4, c     # presented together
    # p99 within one display frame once warmed up (the first frames compile shaders and warm the
    # generator, on a machine shared with other work)
    assert c["dt_p99_warm_ms"] < period_ms, c
    # at the same moments they show the same frame index, give or take one while one is late
    assert c["frame_diff_p99"] <= 1 and c["same_frame"] > 0.8, c


@pytest.mark.slow
def test_three_instances_in_step_and_a_leader_restart(tmp_path):
    r = bench_sync.run(tmp_path, followers=2, seconds=8.0, fps=FPS, restart=True)
    assert r["osc_sent"] == 3 and set(r["leaders"]) == {"l1", "l2"}
    for f in r["followers"]:
        _check(f["sessions"]["l1"], 60)
        _check(f["sessions"]["l2"], 60)
        assert f["held_s"] is not None and f["held_s"] > 2.0   # held its last picture meanwhile


def test_a_follower_plays_in_step_with_its_leader(tmp_path):
    r = bench_sync.run(tmp_path, followers=1, seconds=5.0, fps=FPS, restart=False)
    assert r["osc_sent"] == 3                       # the leader's OSC moves reach the follower too
    _check(r["followers"][0]["sessions"]["l1"], 40)


JOIN_S = 15.0   # a late follower presents its first frame within this of its process starting
#                 (about 2 s here: the interpreter and the show's start; the catch-up itself, ~50 frames
#                 rendered without presenting, takes about 0.1 s; the rest is margin for a loaded machine)


def test_a_late_follower_and_a_restarted_one_catch_up_exactly(tmp_path):
    r = bench_sync.run_late(tmp_path, late=3.0, fps=FPS, frames=25, restart=True)
    assert r["osc_sent"] == 2                   # the leader was moved before the follower existed
    assert [f["name"] for f in r["followers"]] == ["late0", "late1"]
    for f in r["followers"]:
        c = f["compare"]
        assert f["caught_up"], f
        assert f["first_frame"] >= 3.0 * FPS, f        # it joined a leader 3 s into its show
        assert f["first_at_s"] < JOIN_S, f
        assert c["common"] >= 25 and c["identical"] == c["common"], f   # the same pictures, every one
        assert c["dt_median_ms"] < 1e3 / FPS / 4 and c["dt_p99_ms"] < 1e3 / FPS, f   # at the same moments
    # the restarted follower joined later still, and caught up again from the leader's frame 0
    assert r["followers"][1]["first_frame"] > r["followers"][0]["first_frame"] + 25
