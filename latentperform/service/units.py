"""systemd units for a show: write, enable, remove, and read back their state.

`install` writes `latentperform-<name>.service` (a user unit in ~/.config/systemd/user, or with
--system a system unit in /etc/systemd/system) and enables it:

- Type=notify with WatchdogSec: the show says READY once frames are on screen and pings the
  watchdog only while frames keep being presented (engine/installation.py), so a stalled render
  loop is killed and restarted by systemd itself;
- Restart=always with RestartSec, never giving up (StartLimitIntervalSec=0), and on systemd 254
  or newer a back-off growing from 2 s to a minute (RestartSteps, RestartMaxDelaySec);
- after the display: a user unit is part of the graphical session (the desktop's autologin
  session starts it); a system unit comes after graphical.target and the display manager;
- its output goes to the journal (`journalctl --user -u latentperform-<name>`).

Without systemd (no /run/systemd/system: a container, another init), nothing is enabled: the
lines for the desktop's autostart (an XDG .desktop file running `run --supervise`) are printed.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import UserError
from .state import read_json, state_dir, write_atomic

__all__ = ["ServiceError", "unit_name", "unit_text", "has_systemd", "systemd_version", "install",
           "uninstall", "status_lines", "autostart_text", "default_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
WATCHDOG_S = 20         # systemd kills a show that presented no frame for this long
RESTART_S = 2           # the first restart's delay
RESTART_MAX_S = 60      # the back-off's ceiling (systemd >= 254)
START_TIMEOUT_S = 180   # model load included


class ServiceError(UserError):
    """A problem the user can fix; the CLI prints it as one line."""


def default_name(patch: str | os.PathLike) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "-", Path(patch).stem).strip("-.") or "show"
    return stem[:64]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ServiceError(f'expected a service name of letters, digits, "_", "-" or "." '
                           f"(up to 64, not starting with a sign), got {name!r}")
    return name


def unit_name(name: str) -> str:
    return f"latentperform-{check_name(name)}.service"


def has_systemd() -> bool:
    """True when systemd runs this machine (sd_booted's test) and systemctl is there."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None


def systemd_version() -> int | None:
    exe = shutil.which("systemctl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"systemd (\d+)", out)
    return int(m.group(1)) if m else None


def run_command(patch: Path, run_args: list[str], *, supervise: bool = False) -> list[str]:
    """The command line that plays the patch: this Python, this package, absolute paths."""
    cmd = [sys.executable, "-m", "latentperform.cli", "run"]
    if supervise:
        cmd.append("--supervise")
    return [*cmd, *run_args, str(patch)]


def _exec_line(argv: list[str]) -> str:
    # systemd's own quoting is close to the shell's for plain words; % must be doubled
    return " ".join(shlex.quote(a).replace("%", "%%") for a in argv)


@dataclass(frozen=True)
class UnitOptions:
    name: str
    patch: Path
    run_args: tuple[str, ...] = ()
    user: bool = True
    run_as: str | None = None        # system units: the account the show runs as
    display: str = ":0"              # system units: the X display to open
    systemd: int | None = None       # the version the unit is written for


def unit_text(opt: UnitOptions) -> str:
    name = check_name(opt.name)
    argv = run_command(opt.patch, list(opt.run_args))
    lines = ["# written by `latentperform install`; remove with `latentperform uninstall " + name + "`",
             "[Unit]", f"Description=latentperform show {name} ({opt.patch.name})"]
    if opt.user:
        lines += ["After=graphical-session.target", "PartOf=graphical-session.target"]
    else:
        lines += ["After=graphical.target display-manager.service network-online.target",
                  "Wants=network-online.target"]
    lines += ["StartLimitIntervalSec=0", "", "[Service]", "Type=notify", "NotifyAccess=main",
              f"ExecStart={_exec_line(argv)}", f"WorkingDirectory={opt.patch.parent}",
              f"Environment=LP_SERVICE_NAME={name}", "Environment=PYTHONUNBUFFERED=1",
              "Restart=always", f"RestartSec={RESTART_S}"]
    if opt.systemd is not None and opt.systemd >= 254:
        lines += ["RestartSteps=6", f"RestartMaxDelaySec={RESTART_MAX_S}"]
    lines += [f"WatchdogSec={WATCHDOG_S}", f"TimeoutStartSec={START_TIMEOUT_S}", "TimeoutStopSec=15",
              "StandardOutput=journal", "StandardError=journal", f"SyslogIdentifier=latentperform-{name}"]
    if not opt.user:
        user = opt.run_as or getpass.getuser()
        home = Path("~" + user).expanduser()
        groups = " ".join(g for g in ("video", "audio", "render") if _group_exists(g))
        lines += [f"User={user}", *([f"SupplementaryGroups={groups}"] if groups else []),
                  f"Environment=DISPLAY={opt.display}", f"Environment=XAUTHORITY={home / '.Xauthority'}",
                  f"Environment=HOME={home}"]
    lines += ["", "[Install]", "WantedBy=" + ("graphical-session.target" if opt.user else "graphical.target"), ""]
    return "\n".join(lines)


def _group_exists(name: str) -> bool:
    import grp
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def unit_dir(user: bool, environ=None) -> Path:
    env = os.environ if environ is None else environ
    if not user:
        return Path("/etc/systemd/system")
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "systemd" / "user"


def autostart_text(name: str, patch: Path, run_args: list[str]) -> str:
    """What to do on a machine without systemd: a desktop autostart entry that runs the show
    under its own supervisor (restarts, watchdog), and the same line for other inits."""
    cmd = _exec_line(run_command(patch, run_args, supervise=True) + ["--name", name])
    desktop = Path("~/.config/autostart") / f"latentperform-{name}.desktop"
    return "\n".join([
        f"# {desktop}  (started when the desktop session starts; set the session to log in automatically)",
        "[Desktop Entry]", "Type=Application", f"Name=latentperform {name}",
        f"Exec={cmd.replace('%%', '%')}", "X-GNOME-Autostart-enabled=true", "",
        "# or, for another init or a bare X session (~/.xinitrc, /etc/rc.local as the show's user):",
        f"{cmd.replace('%%', '%')} &", ""])


def _systemctl(user: bool, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["systemctl", *(["--user"] if user else []), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise ServiceError(f"{' '.join(cmd)}: {e}") from None
    if check and proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise ServiceError(f"{' '.join(cmd)} failed: {why[-1] if why else f'status {proc.returncode}'}")
    return proc


def install(opt: UnitOptions, *, folder: Path | None = None, enable: bool = True) -> Path:
    """Write the unit (into `folder`, default the systemd folder of its kind) and, when
    `enable`, reload systemd and enable + start it.  Returns the unit file's path."""
    if not opt.patch.is_file():
        raise ServiceError(f"{opt.patch}: no such patch file")
    target = (folder or unit_dir(opt.user)) / unit_name(opt.name)
    try:
        write_atomic(target, unit_text(opt), parents=True)
    except PermissionError:
        raise ServiceError(f"{target}: permission denied (a system unit needs root: sudo, or --user)") from None
    except OSError as e:
        raise ServiceError(f"{target}: cannot write the unit: {e.strerror or e}") from None
    if enable:
        _systemctl(opt.user, "daemon-reload")
        _systemctl(opt.user, "enable", "--now", unit_name(opt.name))
    return target


def uninstall(name: str, *, user: bool | None = None, folder: Path | None = None,
              use_systemctl: bool = True) -> list[Path]:
    """Stop, disable and remove the unit (user or system, wherever it is).  Returns what was removed."""
    unit = unit_name(name)
    removed = []
    kinds = [user] if user is not None else [True, False]
    for is_user in kinds:
        path = (folder or unit_dir(is_user)) / unit
        if not path.exists():
            continue
        if use_systemctl:
            _systemctl(is_user, "disable", "--now", unit, check=False)
        try:
            path.unlink()
        except PermissionError:
            raise ServiceError(f"{path}: permission denied (a system unit needs root)") from None
        removed.append(path)
        if use_systemctl:
            _systemctl(is_user, "daemon-reload", check=False)
    if not removed:
        raise ServiceError(f"no installed show called {name!r} ({unit} is in neither "
                           f"{unit_dir(True)} nor {unit_dir(False)})")
    return removed


# -- status -----------------------------------------------------------------------------------


def _systemd_state(name: str) -> tuple[bool, dict] | None:
    """(is_user, properties) of the unit if systemd knows it."""
    if not has_systemd():
        return None
    for is_user in (True, False):
        proc = _systemctl(is_user, "show", unit_name(name), "-p",
                          "LoadState,ActiveState,SubState,ActiveEnterTimestamp,NRestarts,MainPID,Result",
                          check=False)
        props = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        if props.get("LoadState") == "loaded":
            return is_user, props
    return None


def _alive(pid) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def known_names(folder: Path | None = None) -> list[str]:
    names = set()
    d = folder or state_dir()
    if d.is_dir():
        for p in d.glob("*.json"):
            names.add(p.name[:-len(".supervise.json")] if p.name.endswith(".supervise.json") else p.stem)
    for is_user in (True, False):
        ud = unit_dir(is_user)
        if ud.is_dir():
            names.update(p.name[len("latentperform-"):-len(".service")] for p in ud.glob("latentperform-*.service"))
    return sorted(names)


def status_lines(name: str, *, folder: Path | None = None, now: float | None = None) -> list[str]:
    """What `latentperform status NAME` prints: running or not and since when (from systemd or
    the supervisor), then the show's own figures from its state file: fps, frames, errors,
    restarts, and how fresh those figures are."""
    now = time.time() if now is None else now
    d = folder or state_dir()
    show = read_json(d / f"{name}.json")
    sup = read_json(d / f"{name}.supervise.json")
    lines = []
    sd = _systemd_state(name)
    restarts = None
    if sd is not None:
        is_user, props = sd
        kind = "user" if is_user else "system"
        active = props.get("ActiveState", "?")
        since = props.get("ActiveEnterTimestamp") or "?"
        restarts = props.get("NRestarts")
        lines.append(f"{name}: {active} ({props.get('SubState', '?')}) as the {kind} unit {unit_name(name)}"
                     + (f" since {since}" if active == "active" else f", last result {props.get('Result', '?')}"))
    elif sup is not None:
        running = _alive(sup.get("supervisor_pid"))
        if running:
            since = sup.get("child_started")
            lines.append(f"{name}: running under --supervise (supervisor pid {sup.get('supervisor_pid')}, "
                         f"show pid {sup.get('child_pid')}"
                         + (f", since {_when(since)}" if since else "") + ")")
        else:
            lines.append(f"{name}: not running (its supervisor, pid {sup.get('supervisor_pid')}, is gone)")
        restarts = sup.get("restarts")
        last = (sup.get("last_restarts") or [])[-1:] or None
        if last:
            lines.append(f"  last restart: {last[0].get('reason')} at {_when(last[0].get('at', 0))}")
    elif show is not None:
        state = "running" if _alive(show.get("pid")) else "not running"
        lines.append(f"{name}: {state} (pid {show.get('pid')}, not as a service)")
    else:
        raise ServiceError(f"no show called {name!r}: no unit, no state file in {d}"
                           + (f" (known: {', '.join(known_names(folder))})" if known_names(folder) else ""))
    if show is not None:
        age = now - float(show.get("updated", 0))
        errors = show.get("errors", 0)
        lines.append(f"  since {_when(show.get('started', 0))}: {show.get('frames', 0)} frames, "
                     f"{show.get('fps', 0):.1f} fps, frame time p99 {show.get('frame_ms_p99', 0):.1f} ms, "
                     f"{errors} error{'s' if errors != 1 else ''}"
                     + (f", {restarts} restart{'s' if str(restarts) != '1' else ''}" if restarts is not None else "")
                     + f" (figures from {_ago(age)} ago"
                     + ("; stale: the show is not updating them" if age > 30 else "") + ")")
        for e in show.get("last_errors", [])[-3:]:
            lines.append(f"  error: {e}")
        for key in ("state", "generator", "sync"):
            if show.get(key):
                lines.append(f"  {key}: {show[key]}")
        if show.get("rss_mib"):
            lines.append(f"  memory: {show['rss_mib']:.0f} MiB resident"
                         + (f" (freed memory given back once a minute, {show['trim_ms']:.1f} ms)"
                            if show.get("trim_ms") is not None else ""))
        if show.get("gl_renewals"):
            lines.append(f"  GL context lost and made anew {show['gl_renewals']} time(s)")
    elif restarts is not None:
        lines.append(f"  {restarts} restarts; no figures from the show yet")
    return lines
