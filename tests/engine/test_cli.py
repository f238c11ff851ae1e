"""The command line as a user meets it: real renders, real files, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentperform.render import probe_video

ROOT = Path(__file__).resolve().parents[2]


def lp(*args, env=None, timeout=240):
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "latentperform.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=e)


def assert_one_line_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("latentperform: error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    sr = 22050
    t = np.arange(sr * 3) / sr
    x = 0.1 * np.sin(2 * np.pi * 220 * t)
    for b in np.arange(0, 3, 0.5):
        i = int(b * sr)
        x[i:i + 400] += np.exp(-np.arange(400) / 80) * 0.8
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    sf.write(path, x.astype(np.float32), sr)
    return path


def test_render_with_audio_makes_playable_mp4(tmp_path, clicks):
    out = tmp_path / "show.mp4"
    r = lp("render", "--audio", clicks, "--out", out, "--size", "160x90", "--fps", "10")
    assert r.returncode == 0, r.stderr
    info = probe_video(out)
    assert info["frames"] == 30 and info["has_audio"]
    assert abs(info["duration"] - 3.0) < 0.15
    assert (info["width"], info["height"]) == (160, 90)


def test_render_is_deterministic(tmp_path, clicks):
    import imageio_ffmpeg
    frames = []
    for name in ("a.mp4", "b.mp4"):
        out = tmp_path / name
        r = lp("render", "--audio", clicks, "--out", out, "--size", "96x64", "--fps", "10", "--seconds", "1.5")
        assert r.returncode == 0, r.stderr
        gen = imageio_ffmpeg.read_frames(str(out))
        next(gen)
        frames.append(b"".join(gen))
    assert frames[0] == frames[1]


def test_render_without_audio_and_picture_moves(tmp_path):
    import imageio_ffmpeg
    out = tmp_path / "silent.mp4"
    r = lp("render", "--out", out, "--size", "64x64", "--fps", "10", "--seconds", "2")
    assert r.returncode == 0, r.stderr
    info = probe_video(out)
    assert info["frames"] == 20 and not info["has_audio"]
    gen = imageio_ffmpeg.read_frames(str(out))
    next(gen)
    fr = [np.frombuffer(f, np.uint8).astype(float) for f in gen]
    assert fr[0].std() > 5, "a blank picture"
    assert np.abs(fr[0] - fr[-1]).mean() > 1.0, "the picture does not drift"


def test_headless_run_records(tmp_path):
    out = tmp_path / "live.mp4"
    r = lp("run", "--headless", "--seconds", "2", "--size", "128x72", "--record", out, "--no-audio",
           "--osc-port", "0")
    assert r.returncode == 0, r.stderr
    assert probe_video(out)["frames"] >= 10


@pytest.mark.parametrize("case", ["missing_audio", "corrupt_audio", "unknown_key", "wrong_type",
                                  "unwritable", "no_display", "bad_size"])
def test_bad_input_is_one_clear_line(tmp_path, case):
    patch = tmp_path / "p.toml"
    if case == "missing_audio":
        r = lp("render", "--audio", tmp_path / "nope.wav", "--out", tmp_path / "o.mp4")
        assert_one_line_error(r, "nope.wav")
    elif case == "corrupt_audio":
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
        r = lp("render", "--audio", bad, "--out", tmp_path / "o.mp4")
        assert_one_line_error(r, "bad.wav")
    elif case == "unknown_key":
        patch.write_text('[model]\nkind = "builtin"\nresolutoin = 64\n')
        r = lp("check", patch)
        assert_one_line_error(r, "p.toml:3", "resolutoin")
    elif case == "wrong_type":
        patch.write_text('[output]\nfps = "fast"\n')
        r = lp("render", patch, "--out", tmp_path / "o.mp4")
        assert_one_line_error(r, "p.toml:2", "fps")
    elif case == "unwritable":
        r = lp("render", "--out", tmp_path / "no" / "such" / "dir" / "o.mp4", "--seconds", "1")
        assert_one_line_error(r)
    elif case == "no_display":
        r = lp("run", "--seconds", "1")
        assert_one_line_error(r, "--headless")
    elif case == "bad_size":
        r = lp("render", "--out", tmp_path / "o.mp4", "--size", "big")
        assert r.returncode != 0 and "WIDTHxHEIGHT" in r.stderr and "Traceback" not in r.stderr


def test_broken_shader_is_reported_and_skipped(tmp_path):
    shaders = tmp_path / "shaders"
    import shutil
    shutil.copytree(ROOT / "shaders", shaders)
    (shaders / "grade.glsl").write_text("// broken on purpose\nvoid main() { this is not glsl }\n")
    out = tmp_path / "o.mp4"
    r = lp("render", "--out", out, "--size", "64x64", "--fps", "5", "--seconds", "1",
           env={"LATENTPERFORM_SHADERS_DIR": str(shaders)})
    assert r.returncode == 0, r.stderr
    assert "grade.glsl:2" in r.stderr
    assert probe_video(out)["frames"] == 5


def test_analyze_writes_csv_and_plot(tmp_path, clicks):
    csv, png = tmp_path / "f.csv", tmp_path / "f.png"
    r = lp("analyze", clicks, "--fps", "20", "--csv", csv, "--plot", png)
    assert r.returncode == 0, r.stderr
    header = csv.read_text().splitlines()[0].split(",")
    for col in ("time", "level", "bass", "mid", "high", "onset", "beat_phase", "tempo"):
        assert col in header
    assert len(csv.read_text().splitlines()) == 61
    assert png.stat().st_size > 5000


def test_every_preset_checks():
    presets = sorted((ROOT / "patches").glob("*.toml"))
    r = lp("check", *presets)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok") == len(presets)


def test_osc_docs_are_current():
    from latentperform.engine import osc_docs_text
    from latentperform.inputs.osc_docs import osc_docs_diff
    diff = osc_docs_diff(str(ROOT / "docs" / "osc.md"), osc_docs_text())
    assert not diff, "docs/osc.md is stale: run `latentperform osc-docs`\n" + str(diff)


def test_run_takes_the_stage_options_and_prints_pacing_and_latency(tmp_path):
    r = lp("run", "--headless", "--seconds", "2", "--size", "96x64", "--no-audio", "--osc-port", "0",
           "--overlay", "--interpolation", "hold", "--output", "virtualcam", "--no-watch")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "stutter" in r.stdout and "frame time median" in r.stdout
    assert "control-to-photon latency" in r.stdout  # figures, or that there was no input to measure


def test_run_in_a_window_with_the_overlay(xvfb_display, tmp_path):
    r = lp("run", "--seconds", "2", "--size", "320x240", "--no-audio", "--osc-port", "0", "--overlay",
           env={"DISPLAY": xvfb_display})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "frames" in r.stdout
