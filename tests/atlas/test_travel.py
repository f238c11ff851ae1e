"""latent.atlas_travel: the pad glides, onsets step to neighbouring regions, the tour visits one
region per bar on the beat, and every path is continuous in W and repeatable."""

import numpy as np

from latentperform.latent.atlas_travel import AtlasTravel


def _map(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.2, 0.2], [0.8, 0.2], [0.2, 0.8], [0.8, 0.8]])
    labels = np.repeat(np.arange(4), 100)
    pos = centres[labels] + rng.normal(0, 0.06, (400, 2))
    w = (rng.standard_normal((4, 12)) * 3)[labels] + rng.standard_normal((400, 12)) * 0.3
    return pos, w.astype(np.float32), labels, centres


def _slam(fps, glide=0.1):
    pos, w, labels, centres = _map()
    t = AtlasTravel(pos, w, labels, centres, glide=glide)
    prev = t.step(0.2, 0.2, 1.0, 1 / fps)
    biggest = 0.0
    for _ in range(2 * fps):  # the performer slams the pad to the far corner
        cur = t.step(0.8, 0.8, 1.0, 1 / fps)
        biggest = max(biggest, float(np.linalg.norm(cur - prev)))
        prev = cur
    return t, biggest


def test_the_pad_glides_and_w_never_jumps():
    t, at60 = _slam(60)
    assert t.region == 3 and np.allclose(t.position, (0.8, 0.8), atol=1e-3)
    # a glide, not a cut: four times the frame rate, a quarter of the largest W step per frame
    # (a jump anywhere on the way would stay the same size however fine the frames)
    _, at240 = _slam(240)
    assert at240 < 0.35 * at60, (at60, at240)
    _, cut = _slam(60, glide=0.0)
    _, cut240 = _slam(240, glide=0.0)
    assert cut240 > 0.9 * cut  # without the glide it is a cut: the check can fail


def test_onsets_step_to_neighbouring_regions_without_ping_pong():
    pos, w, labels, centres = _map()
    t = AtlasTravel(pos, w, labels, centres, glide=0.05)
    t.step(0.2, 0.2, 1.0, 1 / 60)
    visited = [t.region]
    for _ in range(3):
        t.step(0.2, 0.2, 1.0, 1 / 60, steps=1)
        for _ in range(60):
            t.step(0.2, 0.2, 1.0, 1 / 60)
        visited.append(t.region)
    assert visited[0] == 0 and sorted(visited) == [0, 1, 2, 3]  # every region once, nearest first
    assert visited[1] in (1, 2)


def test_the_tour_visits_one_region_per_bar_on_the_downbeat():
    pos, w, labels, centres = _map()
    t = AtlasTravel(pos, w, labels, centres)
    for bar in range(6):
        t.step(0.5, 0.5, 1.0, 0.01, beat=bar * 4.0, beats_per_bar=4, tour=True)
        assert np.allclose(t.position, centres[bar % 4]) and t.region == bar % 4
        t.step(0.5, 0.5, 1.0, 0.01, beat=bar * 4.0 + 2.0, beats_per_bar=4, tour=True)
        assert np.allclose(t.position, (centres[bar % 4] + centres[(bar + 1) % 4]) / 2)


def test_the_same_inputs_travel_the_same_path():
    pos, w, labels, centres = _map()
    runs = []
    for _ in range(2):
        t = AtlasTravel(pos, w, labels, centres)
        out = [t.step(0.1 + 0.005 * i, 0.3, 2.0, 1 / 30, beat=i / 8, steps=int(i % 17 == 0)) for i in range(100)]
        runs.append(np.stack(out))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_minimap_shows_position_and_trail():
    pos, w, labels, centres = _map()
    t = AtlasTravel(pos, w, labels, centres, glide=0.2)
    for i in range(30):
        t.step(0.9, 0.9, 1.0, 1 / 30) if i else t.step(0.1, 0.1, 1.0, 1 / 30)
    lines = t.minimap(20, 8)
    text = "\n".join(lines)
    assert len(lines) == 8 and all(len(line) == 20 for line in lines)
    assert text.count("@") == 1 and "·" in text and set("abcd") <= set(text)
