"""install / uninstall / status talking to systemctl.

systemd cannot run here (it is not PID 1 in this container, and a user manager needs a system
bus and cgroups), so `systemctl` is the one part that cannot exist: a stand-in executable first on
PATH records every call and answers as systemctl 252 does (`--version`'s first line, `show -p`'s
KEY=VALUE lines, "Failed to ..." on stderr with status 1).  Everything else is the real command
line: argparse, cmd_install/uninstall/status, the unit file written in the user's systemd folder.
Only `has_systemd()` (sd_booted's /run/systemd/system test) is answered True in-process."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from latentperform import cli
from latentperform.service import units
from latentperform.service.state import write_json

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "patches" / "ambient.toml"

STAND_IN = textwrap.dedent('''\
    #!{python}
    """systemctl stand-in: logs argv, answers like systemd 252."""
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_SYSTEMCTL_LOG"], "a") as f:
        f.write(json.dumps(args) + "\\n")
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if "--version" in args:
        print("systemd 252 (252.38-1~deb12u1)")
        print("+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK +SECCOMP")
        sys.exit(0)
    if verb and verb == os.environ.get("FAKE_SYSTEMCTL_FAIL"):
        print(f"Failed to {{verb}} unit: Access denied", file=sys.stderr)
        sys.exit(1)
    if verb == "show":
        scope = "user" if "--user" in args else "system"
        props = json.loads(os.environ.get("FAKE_SYSTEMCTL_SHOW_" + scope.upper(), "{{}}"))
        wanted = args[args.index("-p") + 1].split(",") if "-p" in args else list(props)
        for key in wanted:
            default = "not-found" if key == "LoadState" else ""
            print(f"{{key}}={{props.get(key, default)}}")
    sys.exit(0)
''')


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "systemctl"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "systemctl.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(log))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(units, "has_systemd", lambda: True)
    # in-process, main's last step (ending a process whose generator thread hangs) must not end pytest's
    monkeypatch.setattr(cli, "_end_generator_threads", lambda rc: None)

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls


def test_install_reloads_enables_and_starts_the_user_unit(systemctl, tmp_path, capsys):
    assert cli.main(["install", str(PATCH), "--user", "--name", "gallery", "--headless"]) == 0
    unit = tmp_path / "config" / "systemd" / "user" / "latentperform-gallery.service"
    assert unit.is_file() and "run --headless" in unit.read_text() and "Type=notify" in unit.read_text()
    calls = systemctl()
    assert ["--version"] in calls  # the unit's keys follow the systemd it will run under
    verbs = [c for c in calls if c != ["--version"]]
    assert verbs == [["--user", "daemon-reload"], ["--user", "enable", "--now", "latentperform-gallery.service"]]
    out = capsys.readouterr().out
    assert "installed" in out and "journalctl --user -u latentperform-gallery.service" in out


def test_a_failing_systemctl_is_one_line_and_a_non_zero_exit(systemctl, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SYSTEMCTL_FAIL", "enable")
    assert cli.main(["install", str(PATCH), "--user", "--name", "gallery"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("latentperform: error:")
    assert "systemctl --user enable --now latentperform-gallery.service failed: Failed to enable unit: Access denied" in err


def test_status_reads_systemd_and_the_state_file(systemctl, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FAKE_SYSTEMCTL_SHOW_USER", json.dumps({
        "LoadState": "loaded", "ActiveState": "active", "SubState": "running",
        "ActiveEnterTimestamp": "Wed 2026-12-02 10:00:03 UTC", "NRestarts": "3", "MainPID": str(os.getpid()),
        "Result": "success"}))
    import time
    write_json(tmp_path / "state" / "gallery.json", {
        "pid": os.getpid(), "started": time.time() - 600, "updated": time.time() - 1, "frames": 18000,
        "fps": 29.9, "frame_ms_p99": 38.5, "errors": 0, "last_errors": [], "generator": "BuiltinGenerator"})
    assert cli.main(["status", "gallery"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("gallery: active (running) as the user unit latentperform-gallery.service "
                        "since Wed 2026-12-02 10:00:03 UTC")
    assert "18000 frames, 29.9 fps" in lines[1] and "3 restarts" in lines[1]
    show = [c for c in systemctl() if "show" in c]
    assert show and show[0][:3] == ["--user", "show", "latentperform-gallery.service"]
    # a failed unit: its last result, not "since"
    monkeypatch.setenv("FAKE_SYSTEMCTL_SHOW_USER", json.dumps({
        "LoadState": "loaded", "ActiveState": "failed", "SubState": "failed", "NRestarts": "9",
        "Result": "watchdog"}))
    assert cli.main(["status", "gallery"]) == 0
    assert "failed (failed) as the user unit" in (out := capsys.readouterr().out) and "last result watchdog" in out


def test_uninstall_stops_disables_and_removes(systemctl, tmp_path, capsys):
    assert cli.main(["install", str(PATCH), "--user", "--name", "gallery"]) == 0
    unit = tmp_path / "config" / "systemd" / "user" / "latentperform-gallery.service"
    before = len(systemctl())
    assert cli.main(["uninstall", "gallery"]) == 0
    assert not unit.exists() and f"removed {unit}" in capsys.readouterr().out
    assert systemctl()[before:] == [["--user", "disable", "--now", "latentperform-gallery.service"],
                                    ["--user", "daemon-reload"]]
    assert cli.main(["uninstall", "gallery"]) == 2
    assert "no installed show called 'gallery'" in capsys.readouterr().err
