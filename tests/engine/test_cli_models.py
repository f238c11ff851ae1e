"""StyleGAN pickles through the command line, as an artist meets them: `latentperform inspect`
(what the file is, a contact sheet, hostile and damaged files refused in one line) and a patch
naming a pickle rendered to a video by `latentperform render` on the CPU."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from latentperform.cli import main

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"

pytestmark = pytest.mark.skipif(not (FIXTURES / "index.json").is_file(),
                                reason=f"StyleGAN fixtures not found at {FIXTURES}")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latentperform: error: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def field(text: str, name: str) -> str:
    """The value printed after `name` on its line of the inspect output."""
    for line in text.splitlines():
        if line.strip().startswith(name):
            return line.strip()[len(name):].strip()
    raise AssertionError(f"no {name!r} line in:\n{text}")


# ---- latentperform inspect ------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind, res, num_ws, conditional", [
    ("sg2ada-resnet-32-cond", "stylegan2-resnet", 32, 8, "yes, 4 classes"),
    ("sg3-t-64", "stylegan3-t", 64, 16, "no"),
])
def test_inspect_prints_what_the_file_is_and_renders_a_sheet(tmp_path, capsys, name, kind, res, num_ws,
                                                             conditional):
    import torch
    from PIL import Image

    from latentperform.models.loader import load_generator

    sheet = tmp_path / "sheet.png"
    code, out, err = run_cli(capsys, "inspect", FIXTURES / f"{name}.pkl", "--sheet", sheet)
    assert code == 0, err
    assert field(out, "kind") == kind
    assert field(out, "resolution") == f"{res} x {res}, 3 channel(s)"
    assert field(out, "latents").endswith(f"x {num_ws} layers")
    assert field(out, "conditional") == conditional
    G = load_generator(FIXTURES / f"{name}.pkl")
    assert field(out, "parameters") == f"{sum(p.numel() for p in G.parameters()):,}"
    assert isinstance(G, torch.nn.Module)
    assert str(sheet) in field(out, "contact sheet")

    with Image.open(sheet) as im:
        assert im.format == "PNG"
        assert im.size == (4 * 256, 2 * 256)  # 8 seeds, 4 columns
        px = np.asarray(im.convert("RGB")).astype(float)
    assert px.std() > 10, "a blank contact sheet"
    tiles = [px[r * 256:(r + 1) * 256, c * 256:(c + 1) * 256] for r in range(2) for c in range(4)]
    for i, t in enumerate(tiles):  # spatial variation within each channel: a flat tile has none
        assert t.reshape(-1, 3).std(axis=0).mean() > 1, f"seed {i}: a blank tile"
    assert np.abs(tiles[0] - tiles[1]).mean() > 5, "two seeds drew the same picture"


def test_inspect_without_sheet_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "inspect", FIXTURES / "sg3-r-64.pkl")
    assert code == 0, err
    assert field(out, "kind") == "stylegan3-r"
    assert "contact sheet" not in out
    assert list(tmp_path.iterdir()) == []


class _Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_inspect_refuses_hostile_and_damaged_files_in_one_line(tmp_path, capsys):
    marker = tmp_path / "ran"
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps({"G_ema": _Reduce(os.system, f"touch {marker}")}, protocol=4))
    sheet = tmp_path / "sheet.png"
    code, _, err = run_cli(capsys, "inspect", hostile, "--sheet", sheet)
    assert_one_line_error(code, err, "hostile.pkl", "system")
    assert not marker.exists(), "the pickle's code ran"
    assert not sheet.exists()

    data = (FIXTURES / "sg2ada-skip-64.pkl").read_bytes()
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "inspect", truncated)
    assert_one_line_error(code, err, "truncated.pkl")

    text = tmp_path / "notes.pkl"
    text.write_text("these are not the weights you are looking for\n")
    code, _, err = run_cli(capsys, "inspect", text)
    assert_one_line_error(code, err, "notes.pkl")

    not_a_network = tmp_path / "dict.pkl"
    not_a_network.write_bytes(pickle.dumps({"G_ema": {"hello": 1}}, protocol=4))
    code, _, err = run_cli(capsys, "inspect", not_a_network)
    assert_one_line_error(code, err, "dict.pkl")

    code, _, err = run_cli(capsys, "inspect", tmp_path / "missing.pkl")
    assert_one_line_error(code, err, "missing.pkl")

    code, _, err = run_cli(capsys, "inspect", FIXTURES / "sg3-t-64.pkl", "--sheet", tmp_path / "no" / "s.png")
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_cli(capsys, "inspect", FIXTURES / "sg3-t-64.pkl", "--sheet", tmp_path)
    assert_one_line_error(code, err, "directory")


# ---- a patch naming a StyleGAN pickle, rendered end to end -----------------------------------------

PATCH = """\
[patch]
name = "{name} end to end"

[model]
kind = "{model}"
seed = 3

[output]
fps = 6

[trajectory]
loop_beats = 1          # a keyframe per beat (120 bpm): the latent moves every frame
truncation = 0.7

[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
"""


@pytest.mark.parametrize("name, relative", [("sg2ada-skip-64", True), ("sg3-t-64", False)])
def test_render_patch_naming_a_pickle(tmp_path, capsys, monkeypatch, name, relative):
    """StyleGAN2 (named relative to the patch's folder) and StyleGAN3 (an absolute path)."""
    import imageio_ffmpeg

    from latentperform.render.recorder import probe_video

    monkeypatch.setenv("LATENTPERFORM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DISPLAY", raising=False)
    model = FIXTURES / f"{name}.pkl"
    if relative:
        (tmp_path / "nets").mkdir()
        (tmp_path / "nets" / "mine.pkl").write_bytes(model.read_bytes())
        model = "nets/mine.pkl"
        monkeypatch.chdir(tmp_path / "nets")  # resolved against the patch, not the working folder
    patch = tmp_path / "show.toml"
    patch.write_text(PATCH.format(name=name, model=model))
    out = tmp_path / "x.mp4"
    code, _, err = run_cli(capsys, "render", patch, "--out", out, "--seconds", "1", "--size", "128x128")
    assert code == 0, err
    assert "Traceback" not in err
    info = probe_video(out)
    assert (info["width"], info["height"]) == (128, 128)
    assert info["frames"] == 6

    gen = imageio_ffmpeg.read_frames(str(out))
    next(gen)  # the metadata
    frames = [np.frombuffer(f, np.uint8).reshape(128, 128, 3).astype(float) for f in gen]
    assert len(frames) == 6
    for i, f in enumerate(frames):
        assert f.std() > 5, f"frame {i} is blank"
    steps = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(steps) > 0.2, f"the picture stops moving: mean frame-to-frame change {steps}"
    assert np.abs(frames[0] - frames[-1]).mean() > 2, "the picture does not move"
    # the PCA directions were computed for this model file and cached where we said
    assert list((tmp_path / "cache").glob("directions-*.npz"))


def test_render_patch_naming_a_damaged_pickle_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    data = (FIXTURES / "sg3-t-64.pkl").read_bytes()
    (tmp_path / "broken.pkl").write_bytes(data[:100_000])
    patch = tmp_path / "show.toml"
    patch.write_text(PATCH.format(name="broken", model="broken.pkl"))
    out = tmp_path / "x.mp4"
    code, _, err = run_cli(capsys, "render", patch, "--out", out, "--seconds", "1", "--size", "64x64")
    assert_one_line_error(code, err, "broken.pkl", "truncated")
    assert not out.exists()
