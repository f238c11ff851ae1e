"""The control room on a real headless show (the engine, the built-in generator, real GL, the
show's own OSC input on real UDP) in a real headless Chromium; then the event log the show
wrote replays offline into the same parameter state."""

from __future__ import annotations

import re
import socket
import threading
import time
import tomllib

import pytest
from selenium.webdriver.common.by import By

from latentperform.config import DEFAULT_PATCH
from latentperform.inputs.osc import encode_message
from tests.control.test_page import _preview_rgb, open_page, slider, wait_for

SIZE = (320, 180)


class LiveShow:
    """A headless show running `engine.run` on its own thread (the GL context lives there)."""

    def __init__(self, patch_path, log_path):
        self.patch_path = patch_path
        self.log_path = log_path
        self.ready = threading.Event()
        self.error = None
        self.engine = None
        self.part = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.ready.wait(60) or self.error:
            raise RuntimeError(f"the show did not start: {self.error!r}")

    def _run(self):
        from latentperform.clock import WallClock
        from latentperform.engine.commands import load_patch_file
        from latentperform.engine.control_room import open_control_room
        from latentperform.engine.show import open_live_inputs, open_show
        from latentperform.inputs.replay import EventLog
        from latentperform.render import HeadlessSurface
        surface = HeadlessSurface(SIZE)
        clock = WallClock()
        self.event_log = EventLog(self.log_path)
        try:
            engine = open_show(load_patch_file(str(self.patch_path)), surface=surface, clock=clock, fps=30,
                               event_log=self.event_log)
            open_live_inputs(engine, osc_port=0, audio=False)
            self.part = open_control_room(engine, listen="127.0.0.1:0", patch_path=str(self.patch_path))
            self.engine = engine
            self.osc_port = next(p.osc.port for p in engine.parts if getattr(p, "osc", None) is not None)
        except Exception as e:
            self.error = e
            self.ready.set()
            surface.close()
            return
        self.ready.set()
        try:
            engine.run()
        finally:
            self.event_log.write_meta(end=round(clock.now(), 6))
            engine.close()
            self.event_log.close()
            surface.close()

    @property
    def url(self):
        return self.part.room.url

    def stop(self):
        self.engine.request_stop()
        self._thread.join(30)


@pytest.fixture
def live(tmp_path):
    patch = tmp_path / "show.toml"
    # the default show at a small network size: the live part and the offline replay stay quick
    text, n = re.subn(r"(?m)^resolution = \d+", "resolution = 64", DEFAULT_PATCH.read_text())
    assert n == 1
    patch.write_text(text)
    show = LiveShow(patch, tmp_path / "show.jsonl")
    yield show
    if show._thread.is_alive():
        show.stop()


def send_osc(port, address, *args):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(encode_message(address, *args), ("127.0.0.1", port))


def test_the_page_plays_a_real_show_and_the_event_log_replays_it(browser, live, tmp_path):
    engine = live.engine
    open_page(browser, live.url)
    # every parameter of the show's registry has its control, with the show's ranges
    names = {r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, ".param")}
    # (a two-value parameter, latent/xy, is there as its two parts)
    assert names == {n for n, s in engine.specs.items() if len(s.args) <= 1}
    assert "latent/xy/x" in names and "latent/xy" in engine.specs

    # a slider on the page moves the show's parameter
    browser.execute_script("""const s = document.querySelector('.param[data-name="latent/truncation"] input');
        s.value = 0.42; s.dispatchEvent(new Event('input'));""")
    wait_for(lambda: abs(engine.params.get("latent/truncation") - 0.42) < 1e-3, what="the show to follow the page")

    # OSC to the show moves the slider on the page
    time.sleep(0.7)
    send_osc(live.osc_port, "/lp/glide", 5.0)
    wait_for(lambda: abs(float(slider(browser, "latent/glide").get_attribute("value")) - 5.0) < 1e-3,
             what="the page to follow OSC")

    # the preview shows the show's picture (not black: the built-in network draws colour)
    wait_for(lambda: (_preview_rgb(browser) or [0, 0, 0, 0])[3] >= 3, what="preview pictures")
    r, g, b, _ = _preview_rgb(browser)
    assert r + g + b > 30

    # a scene saved on the page lands in the file beside the patch, and recalls
    browser.find_element(By.ID, "scene-name").send_keys("low")
    browser.find_element(By.ID, "scene-save").click()
    scenes = tmp_path / "show.scenes.toml"
    wait_for(lambda: scenes.exists(), what="the scenes file")
    saved = tomllib.loads(scenes.read_text())["scenes"]["low"]["values"]
    assert saved["latent/truncation"] == pytest.approx(0.42, abs=1e-3) and saved["latent/glide"] == 5.0
    send_osc(live.osc_port, "/lp/truncation", 1.0)
    wait_for(lambda: engine.params.get("latent/truncation") == 1.0, what="truncation 1.0")
    browser.find_element(By.CSS_SELECTOR, '#scenes li[data-scene="low"] button').click()
    wait_for(lambda: abs(engine.params.get("latent/truncation") - 0.42) < 1e-3, what="the recall")
    # over OSC: a morph by name, and the n-th scene by number (what a MIDI pad mapped to it sends)
    send_osc(live.osc_port, "/lp/truncation", 1.0)
    wait_for(lambda: engine.params.get("latent/truncation") == 1.0, what="truncation 1.0 again")
    send_osc(live.osc_port, "/lp/scene/recall", "low", 1.0)
    wait_for(lambda: 0.45 < engine.params.get("latent/truncation") < 0.95, what="the morph under way")
    wait_for(lambda: abs(engine.params.get("latent/truncation") - 0.42) < 1e-3, what="the morph's end")
    send_osc(live.osc_port, "/lp/truncation", 1.0)
    wait_for(lambda: engine.params.get("latent/truncation") == 1.0, what="truncation 1.0 once more")
    send_osc(live.osc_port, "/lp/scene/recall/index", 1)
    wait_for(lambda: abs(engine.params.get("latent/truncation") - 0.42) < 1e-3, what="scene 1 by number")
    send_osc(live.osc_port, "/lp/scene/recall", "nope")
    wait_for(lambda: any('no scene "nope"' in e for e in engine.stats.errors), what="the missing scene reported")
    final = dict(engine.params.values)
    t0 = time.perf_counter()
    live.stop()
    print(f"live part done; stopping took {time.perf_counter() - t0:.1f} s")

    # the log has the page's moves and the recall as control events; a replay ends in the same state
    from latentperform.inputs.replay import read_event_log
    events = read_event_log(tmp_path / "show.jsonl")
    page = [e for e in events if e.source == "control"]
    assert any(e.address == "param/latent/truncation" and abs(e.value - 0.42) < 1e-3 for e in page)
    _replay_ends_like(tmp_path / "show.toml", tmp_path / "show.jsonl", final)


def _replay_ends_like(patch_path, log_path, final):
    from latentperform.clock import FixedStepClock
    from latentperform.engine.commands import load_patch_file
    from latentperform.engine.show import open_show
    from latentperform.inputs.replay import ReplayInput
    from latentperform.render import HeadlessSurface
    replay = ReplayInput(log_path)
    surface = HeadlessSurface(SIZE)
    engine = open_show(load_patch_file(str(patch_path)), surface=surface, clock=FixedStepClock(30), fps=30,
                       offline=True, replay=replay)
    try:
        t0 = time.perf_counter()
        for _ in range(int(replay.duration * 30) + 2):
            engine.step()
        print(f"replayed {replay.duration:.1f} s in {time.perf_counter() - t0:.1f} s")
        for name in ("latent/truncation", "latent/glide"):
            assert engine.params.get(name) == pytest.approx(final[name], abs=1e-6), name
    finally:
        engine.close()
        surface.close()
