"""Every command against a table of bad arguments and paths (issue 12, item 6): each is one
line on stderr and a non-zero exit, never a traceback.  Run in-process through `cli.main` (one
interpreter, so the table stays fast); an exception escaping main is the failure."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentperform import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "binary.bin").write_bytes(bytes(range(256)) * 64)
    for name in ("binary.toml", "binary.jsonl", "binary.wav", "binary.pkl", "binary.pt", "binary.npy"):
        (d / name).write_bytes(bytes(range(256)) * 64)
    (d / "text.pkl").write_text("not a pickle\n")
    (d / "empty.toml").write_text("")
    (d / "folder").mkdir()
    (d / "folder.mp4").mkdir()
    x = np.sin(np.arange(22050) / 10).astype(np.float32)
    x[10:20] = np.nan
    sf.write(d / "nan.wav", x, 22050, subtype="FLOAT")
    sf.write(d / "ok.wav", np.zeros(22050, np.float32), 22050)
    (d / "raises_on_import.py").write_text("raise RuntimeError('plugin is broken')\n")
    (d / "raising_net.py").write_text(
        "import torch\n"
        "class G:\n"
        "    z_dim, c_dim, w_dim, num_ws, resolution, img_channels = 4, 0, 4, 2, 8, 3\n"
        "    w_avg = torch.zeros(4)\n"
        "    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):\n"
        "        raise RuntimeError('mapping exploded')\n"
        "    def synthesis(self, ws, noise_mode='const', transform=None):\n"
        "        raise RuntimeError('synthesis exploded')\n"
        "    def __call__(self, *a, **k):\n"
        "        raise RuntimeError('call exploded')\n"
        "def make():\n"
        "    return G()\n")
    readonly = d / "readonly"
    readonly.mkdir()
    return d


def cases(d: Path):
    nowhere = d / "no" / "such" / "dir"
    out = d / "o.mp4"
    return {
        # run
        "run: port out of range": ["run", "--headless", "--osc-port", "70000", "--seconds", "1", "--no-audio"],
        "run: negative port": ["run", "--headless", "--osc-port", "-5", "--seconds", "1", "--no-audio"],
        "run: fps zero": ["run", "--headless", "--fps", "0"],
        "run: fps text": ["run", "--headless", "--fps", "fast"],
        "run: size zero": ["run", "--headless", "--size", "0x0"],
        "run: seconds negative": ["run", "--headless", "--seconds", "-1"],
        "run: record into a missing folder": ["run", "--headless", "--record", nowhere / "x.mp4", "--seconds", "1"],
        "run: record with a wrong extension": ["run", "--headless", "--record", d / "x.txt", "--seconds", "1",
                                               "--no-audio", "--osc-port", "0"],
        "run: record onto a folder": ["run", "--headless", "--record", d / "folder.mp4", "--seconds", "1"],
        "run: log into a missing folder": ["run", "--headless", "--log-events", nowhere / "x.jsonl"],
        "run: log onto a folder": ["run", "--headless", "--log-events", d / "folder"],
        "run: missing patch": ["run", d / "missing.toml", "--headless"],
        "run: binary patch": ["run", d / "binary.toml", "--headless"],
        "run: patch is a folder": ["run", d / "folder", "--headless"],
        "run: bad interpolation": ["run", "--headless", "--interpolation", "cubic"],
        # render
        "render: no --out": ["render"],
        "render: out into a missing folder": ["render", "--out", nowhere / "o.mp4", "--seconds", "1"],
        "render: out onto a folder": ["render", "--out", d / "folder.mp4", "--seconds", "1"],
        "render: out with a wrong extension": ["render", "--out", d / "o.png", "--seconds", "1"],
        "render: missing audio": ["render", "--out", out, "--audio", d / "missing.wav"],
        "render: binary audio": ["render", "--out", out, "--audio", d / "binary.wav"],
        "render: audio is a folder": ["render", "--out", out, "--audio", d / "folder"],
        "render: NaN audio": ["render", "--out", out, "--audio", d / "nan.wav", "--size", "32x32"],
        "render: missing replay": ["render", "--out", out, "--replay", d / "missing.jsonl"],
        "render: binary replay": ["render", "--out", out, "--replay", d / "binary.jsonl"],
        "render: replay is a folder": ["render", "--out", out, "--replay", d / "folder"],
        "render: size text": ["render", "--out", out, "--size", "huge"],
        "render: size too big": ["render", "--out", out, "--size", "100000x100000", "--seconds", "1"],
        "render: fps negative": ["render", "--out", out, "--fps", "-3"],
        "render: seconds zero": ["render", "--out", out, "--seconds", "0"],
        "render: audio offset nan": ["render", "--out", out, "--audio", d / "ok.wav", "--audio-offset", "nan",
                                     "--size", "32x32", "--fps", "5", "--seconds", "0.4"],
        "render: binary patch": ["render", d / "binary.toml", "--out", out],
        # analyze
        "analyze: missing": ["analyze", d / "missing.wav"],
        "analyze: binary": ["analyze", d / "binary.wav"],
        "analyze: folder": ["analyze", d / "folder"],
        "analyze: NaN": ["analyze", d / "nan.wav"],
        "analyze: plot into a missing folder": ["analyze", d / "ok.wav", "--plot", nowhere / "p.png"],
        "analyze: plot onto a folder": ["analyze", d / "ok.wav", "--plot", d / "folder"],
        "analyze: plot with a wrong extension": ["analyze", d / "ok.wav", "--plot", d / "p.xyz"],
        "analyze: csv into a missing folder": ["analyze", d / "ok.wav", "--csv", nowhere / "f.csv"],
        "analyze: fps zero": ["analyze", d / "ok.wav", "--fps", "0"],
        # check
        "check: missing": ["check", d / "missing.toml"],
        "check: binary": ["check", d / "binary.toml"],
        "check: folder": ["check", d / "folder"],
        "check: nothing": ["check"],
        # inspect
        "inspect: missing": ["inspect", d / "missing.pkl"],
        "inspect: binary pickle": ["inspect", d / "binary.pkl"],
        "inspect: text pickle": ["inspect", d / "text.pkl"],
        "inspect: binary torchscript": ["inspect", d / "binary.pt"],
        "inspect: folder": ["inspect", d / "folder"],
        "inspect: unknown kind": ["inspect", d / "binary.bin"],
        "inspect: plugin raising on import": ["inspect", "python:raises_on_import:make"],
        "inspect: plugin not a spec": ["inspect", "python:"],
        "inspect: sheet of a network that raises": ["inspect", "python:raising_net:make", "--sheet", d / "s.png"],
        "inspect: sheet into a missing folder": ["inspect", "builtin", "--sheet", nowhere / "s.png"],
        "inspect: sheet with a wrong extension": ["inspect", "builtin", "--sheet", d / "s.mp4x"],
        # learn
        "learn: missing patch": ["learn", d / "missing.toml", "--timeout", "1"],
        "learn: binary patch": ["learn", d / "binary.toml", "--timeout", "1"],
        "learn: timeout zero": ["learn", d / "empty.toml", "--timeout", "0"],
        "learn: unknown parameter": ["learn", d / "empty.toml", "--param", "latent/nope", "--timeout", "0.5"],
        # osc-docs
        "osc-docs: missing folder": ["osc-docs", "--out", nowhere / "osc.md"],
        "osc-docs: onto a folder": ["osc-docs", "--out", d / "folder"],
        # the command line itself
        "no command": [],
        "unknown command": ["dance"],
        "unknown option": ["render", "--out", out, "--colour", "red"],
    }


CASES = sorted(cases(Path("/x")))


@pytest.mark.parametrize("name", CASES)
def test_every_bad_argument_is_one_line_and_a_nonzero_exit(name, files, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    monkeypatch.syspath_prepend(str(files))
    argv = [str(a) for a in cases(files)[name]]
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse: usage, then one "error:" line
        rc = e.code
    err = capsys.readouterr().err
    assert rc not in (0, None), f"{name}: exit status {rc}\n{err}"
    assert "Traceback" not in err, err
    errors = [l for l in err.splitlines() if "error:" in l]
    assert len(errors) == 1, f"{name}: expected one error line, got:\n{err}"
    assert len(errors[0]) < 600, errors[0]
    assert not list(files.glob(".*")), f"{name}: left temporary files {list(files.glob('.*'))}"
