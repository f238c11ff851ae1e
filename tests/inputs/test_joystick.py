"""The joystick input kind (Linux /dev/input/jsN).  There is no /dev/input here (and no uinput to
make one), so the device is a real FIFO fed with the kernel's own 8-byte js_event records: the
file-reading path (open, select, read, end of file, reopen) is the real one."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from latentperform.clock import WallClock
from latentperform.engine import open_live_inputs, open_show
from latentperform.inputs.joystick import decode
from latentperform.inputs.kinds import INPUT_KINDS
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch, parse_patch
from latentperform.render import HeadlessSurface


def js(value: int, kind: int, number: int, ms: int = 0) -> bytes:
    """One struct js_event as linux/joystick.h lays it out: __u32 time, __s16 value, __u8 type, __u8 number."""
    return struct.pack("<IhBB", ms, value, kind, number)


def test_records_decode_as_the_kernel_writes_them():
    data = js(32767, 0x02, 0) + js(-32767, 0x82, 1) + js(1, 0x01, 3) + js(0, 0x81, 4) + js(5, 0x07, 9)
    events, rest = decode(data + js(100, 0x02, 2)[:5])
    assert events == [("joystick/axis/0", 1.0), ("joystick/axis/1", -1.0), ("joystick/button/3", 1.0),
                      ("joystick/button/4", 0.0)]          # init flag cleared, unknown type 7 skipped
    assert len(rest) == 5
    events, rest = decode(rest + js(100, 0x02, 2)[5:])      # a record split across two reads
    assert events == [("joystick/axis/2", pytest.approx(100 / 32767))] and rest == b""
    assert decode(js(-32768, 0x02, 0))[0] == [("joystick/axis/0", -1.0)]   # clamped


def test_the_kind_is_registered_and_the_patch_section_checked(tmp_path):
    assert "joystick" in INPUT_KINDS
    patch = parse_patch('[inputs.joystick]\ndevice = "/dev/input/js1"\n')
    assert patch.inputs.joystick.enabled and patch.inputs.joystick.device == "/dev/input/js1"
    from latentperform.config import UserError
    with pytest.raises(UserError, match="device"):
        parse_patch('[inputs.joystick]\ndevice = "js1"\n')
    from latentperform.patch.check import source_problem
    assert source_problem("joystick/axis/0") is None and source_problem("joystick/button/*") is None
    assert "joystick/axis/<n>" in source_problem("joystick/stick/x")


@pytest.fixture
def fifo_show(tmp_path):
    dev = tmp_path / "js0"
    os.mkfifo(dev)
    path = tmp_path / "pad.toml"
    path.write_text(f'[inputs.joystick]\ndevice = "{dev}"\n[output]\nsize = [64, 48]\nshaders = []\n'
                    '[[mapping]]\nsource = "joystick/axis/0"\ntarget = "engine/blackout"\ninput = [-1, 1]\n'
                    '[[mapping]]\nsource = "joystick/button/2"\ntarget = "latent/keyframe/next"\n')
    eng = open_show(load_patch(path), surface=HeadlessSurface((64, 48)), clock=WallClock(), fps=20,
                    generator=BuiltinGenerator(resolution=32))
    import latentperform.engine.controllers as controllers
    old, controllers.HOTPLUG_POLL = controllers.HOTPLUG_POLL, 0.1
    try:
        open_live_inputs(eng, osc_port=0, audio=False)
    finally:
        controllers.HOTPLUG_POLL = old
    yield eng, dev
    eng.close()
    eng.surface.close()


def _until(eng, cond, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        eng.step()
        if cond():
            return True
        time.sleep(0.02)
    return False


def _writer(dev):
    """Open the FIFO for writing (it waits for the reader, which polls every 0.1 s)."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("f", open(dev, "wb", buffering=0)))
    t.start()
    t.join(5)
    assert "f" in box, "the joystick reader never opened the device"
    return box["f"]


def test_axes_and_buttons_move_the_show_and_an_unplug_is_survived(fifo_show):
    eng, dev = fifo_show
    w = _writer(dev)
    w.write(js(0, 0x82, 0))                 # the initial state: centred -> blackout 0.5
    assert _until(eng, lambda: abs(eng.params.get("engine/blackout") - 0.5) < 1e-3)
    w.write(js(32767, 0x02, 0))             # full right -> 1
    assert _until(eng, lambda: eng.params.get("engine/blackout") > 0.999)
    before = eng.trajectory.current_keyframe()
    w.write(js(1, 0x01, 2) + js(0, 0x01, 2))  # button 2 pressed and released: next keyframe
    assert _until(eng, lambda: eng.trajectory.current_keyframe() != before)
    w.write(b"\xff\x00\x13")                # a torn record: kept until the rest comes
    w.close()                               # unplugged
    assert _until(eng, lambda: any("js0 was closed; waiting for it to come back" in e for e in eng.stats.errors))
    frames = eng.stats.frames
    for _ in range(10):                     # the show goes on without it
        eng.step()
    assert eng.stats.frames == frames + 10
    w = _writer(dev)                        # plugged in again
    w.write(js(-32767, 0x82, 0))
    assert _until(eng, lambda: eng.params.get("engine/blackout") < 1e-3), "the joystick works again after a replug"
    w.close()
    joy = [i for i in eng.inputs if type(i).__name__ == "JoystickInput"][0]
    assert joy.stats["opened"] == 2 and joy.stats["lost"] >= 1


def test_a_missing_joystick_is_said_once_and_the_show_goes_on(tmp_path):
    path = tmp_path / "pad.toml"
    path.write_text(f'[inputs.joystick]\ndevice = "{tmp_path / "js9"}"\n[output]\nsize = [64, 48]\nshaders = []\n')
    eng = open_show(load_patch(path), surface=HeadlessSurface((64, 48)), clock=WallClock(), fps=20,
                    generator=BuiltinGenerator(resolution=32))
    try:
        open_live_inputs(eng, osc_port=0, audio=False)
        frames = 0
        for _ in range(20):
            eng.step()
            frames += 1
            time.sleep(0.01)
        said = [e for e in eng.stats.errors if "joystick" in e]
        assert len(said) == 1 and "js9 not found" in said[0] and frames == 20
    finally:
        eng.close()
        eng.surface.close()
