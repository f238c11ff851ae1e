"""The units `install` writes, checked by systemd's own parser (systemd-analyze verify; systemd is
not PID 1 here, so nothing is enabled), and the commands on a machine without systemd."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from latentperform.service.state import write_json
from latentperform.service.units import UnitOptions, has_systemd, status_lines, unit_text

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "patches" / "ambient.toml"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze missing (scripts/install.sh --test installs systemd)")


def _verify(path: Path, user: bool, tmp_path: Path) -> str:
    """systemd-analyze's complaints about the unit (empty when it has none).  It exits 0 for most
    bad lines ("ignoring"), so what it prints is the verdict."""
    run_dir = tmp_path / "runtime"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(run_dir), "SYSTEMD_LOG_COLOR": "0"}
    proc = subprocess.run(["systemd-analyze", *(["--user"] if user else []), "verify", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f"\nstatus {proc.returncode}")


def _cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "latentperform.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=120)


@needs_analyze
@pytest.mark.parametrize("user", [True, False], ids=["user", "system"])
def test_units_pass_systemd_analyze_verify(tmp_path, user):
    path = tmp_path / "latentperform-gallery.service"
    path.write_text(unit_text(UnitOptions("gallery", PATCH, ("--no-audio",), user=user, systemd=252)))
    assert _verify(path, user, tmp_path) == ""
    text = path.read_text()
    for line in ("Type=notify", "Restart=always", "WatchdogSec=20", "StandardError=journal",
                 "StartLimitIntervalSec=0", f"ExecStart={sys.executable} -m latentperform.cli run --no-audio {PATCH}"):
        assert line in text.splitlines()
    assert ("After=graphical-session.target" if user else "After=graphical.target display-manager.service "
            "network-online.target") in text


@needs_analyze
def test_verify_is_a_real_check(tmp_path):
    """The same check finds a broken line, and the back-off keys of systemd >= 254 are what an
    older systemd (this one, 252) would not know: install writes them only for a new one."""
    path = tmp_path / "latentperform-x.service"
    good = unit_text(UnitOptions("x", PATCH, (), user=True, systemd=252))
    path.write_text(good.replace("WatchdogSec=20", "WatchdogSec=soon"))
    assert "Failed to parse sec value" in _verify(path, True, tmp_path)
    newer = unit_text(UnitOptions("x", PATCH, (), user=True, systemd=255))
    assert "RestartSteps=6" in newer and "RestartMaxDelaySec=60" in newer
    path.write_text(newer)
    complaint = _verify(path, True, tmp_path)
    version = subprocess.run(["systemctl", "--version"], capture_output=True, text=True).stdout.split()[1]
    if int(version) < 254:
        assert "RestartSteps" in complaint
    else:
        assert complaint == ""


@pytest.mark.skipif(has_systemd(), reason="this machine runs systemd")
def test_install_without_systemd_says_so_and_prints_the_autostart(tmp_path):
    proc = _cli("install", str(PATCH), "--name", "gallery", env={"HOME": str(tmp_path)})
    assert proc.returncode == 3
    assert "does not run systemd" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "[Desktop Entry]" in proc.stdout
    assert f"run --supervise {PATCH} --name gallery" in proc.stdout
    assert not (tmp_path / ".config" / "systemd").exists()   # nothing half-installed


def test_install_into_a_folder_and_uninstall(tmp_path):
    proc = _cli("install", str(PATCH), "--headless", "--unit-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "latentperform-ambient.service"
    assert unit.exists() and "run --headless" in unit.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [unit.name]   # written then renamed
    proc = _cli("uninstall", "ambient", "--unit-dir", str(tmp_path))
    assert proc.returncode == 0 and not unit.exists()
    proc = _cli("uninstall", "ambient", "--unit-dir", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no installed show" in proc.stderr


def test_install_refuses_bad_input_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[output]\nfps = -1\n")
    for args in (["install", str(bad)], ["install", str(tmp_path / "none.toml")],
                 ["install", str(PATCH), "--name", "a b", "--unit-dir", str(tmp_path)]):
        proc = _cli(*args)
        assert proc.returncode == 2 and proc.stderr.startswith("latentperform: error:"), (args, proc.stderr)
    assert not any(tmp_path.glob("*.service"))


def test_status_reads_the_state_files(tmp_path):
    now = 1_800_000_000.0
    write_json(tmp_path / "gallery.json", {"pid": os.getpid(), "started": now - 3600, "updated": now - 2,
                                           "frames": 108000, "fps": 29.97, "frame_ms_p99": 41.0, "errors": 1,
                                           "last_errors": ["model: failed; using the built-in generator"],
                                           "generator": "builtin (fallback)", "gl_renewals": 1})
    write_json(tmp_path / "gallery.supervise.json", {"supervisor_pid": os.getpid(), "child_pid": 4242,
                                                     "child_started": now - 3600, "restarts": 2,
                                                     "last_restarts": [{"reason": "signal 9", "at": now - 3601}]})
    lines = status_lines("gallery", folder=tmp_path, now=now)
    assert lines[0].startswith("gallery: running under --supervise") and "show pid 4242" in lines[0]
    assert "last restart: signal 9" in lines[1]
    assert "108000 frames, 30.0 fps" in lines[2] and "1 error," in lines[2] and "2 restarts" in lines[2]
    assert "figures from 2 s ago" in lines[2] and "stale" not in lines[2]
    assert "error: model: failed" in lines[3] and "generator: builtin (fallback)" in lines[4]
    assert lines[5] == "  GL context lost and made anew 1 time(s)"
    stale = status_lines("gallery", folder=tmp_path, now=now + 600)
    assert "stale" in stale[2]
    (tmp_path / "gallery.supervise.json").unlink()
    assert "not as a service" in status_lines("gallery", folder=tmp_path, now=now)[0]
