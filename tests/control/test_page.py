"""The control room in a real headless Chromium against a running show (tests/control/publisher.py):
real HTTP, a real WebSocket, real OSC over UDP."""

from __future__ import annotations

import io
import socket
import time
import tomllib
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from latentperform.events import ControlEvent, ParamSpec
from latentperform.inputs.osc import encode_message
from tests.control.publisher import SPECS, Publisher


def wait_for(predicate, timeout=8.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = predicate()
        except StaleElementReferenceException:
            v = None   # the page rebuilt the element between finding and reading it: look again
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def open_page(browser, url):
    browser.get(url)
    wait_for(lambda: browser.find_element(By.ID, "conn").text == "connected", what="the page to connect")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '.param[data-name="latent/speed"]'),
             what="the parameters to be built")


def slider(browser, name):
    return browser.find_element(By.CSS_SELECTOR, f'.param[data-name="{name}"] input[type=range]')


def send_osc(port, address, *args):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(encode_message(address, *args), ("127.0.0.1", port))


def test_page_builds_one_control_per_parameter_from_the_registry(browser, show):
    open_page(browser, show.room.url)
    rows = browser.find_elements(By.CSS_SELECTOR, ".param")
    assert sorted(r.get_attribute("data-name") for r in rows) == sorted(s.name for s in SPECS)
    speed = slider(browser, "latent/speed")
    assert (speed.get_attribute("min"), speed.get_attribute("max")) == ("0", "4")
    assert float(speed.get_attribute("value")) == pytest.approx(0.25, abs=0.01)
    # a trigger is a button; OSC addresses are in the labels' titles
    assert browser.find_elements(By.CSS_SELECTOR, '.param[data-name="clock/tap"] button')
    label = browser.find_element(By.CSS_SELECTOR, '.param[data-name="latent/speed"] label')
    assert "/lp/speed" in label.get_attribute("title")
    # show buttons follow the registry: blackout/freeze/tap exist here, record/screenshot do not
    assert browser.find_element(By.ID, "btn-blackout").is_enabled()
    assert not browser.find_element(By.ID, "btn-record").is_enabled()


def test_a_slider_moved_in_the_browser_moves_the_show_and_an_osc_message_moves_the_slider(browser, show):
    open_page(browser, show.room.url)
    hue = slider(browser, "shader/color/hue")
    width = hue.size["width"]
    # a real pointer click at 3/4 of the track (offsets are from the element's centre)
    ActionChains(browser).move_to_element_with_offset(hue, int(width * 0.25), 0).click().perform()
    wait_for(lambda: abs(show.values["shader/color/hue"] - 0.75) < 0.05, what="the show's hue to follow the slider")
    ev = [e for e in show.events if e.address == "param/shader/color/hue"]
    assert ev and ev[-1].source == "control"

    # now the other way: OSC over UDP to the show, and the page's slider follows
    time.sleep(0.7)  # past the page's hold on a slider the user just moved
    send_osc(show.osc.port, "/lp/speed", 3.0)
    wait_for(lambda: abs(float(slider(browser, "latent/speed").get_attribute("value")) - 3.0) < 1e-3,
             what="the slider to follow OSC")
    out = browser.find_element(By.CSS_SELECTOR, '.param[data-name="latent/speed"] output').text
    assert out == "3.000"


def _preview_rgb(browser):
    """The mean colour of the preview's top-left corner, read back from the <img> by the page."""
    return browser.execute_script("""
        const img = document.getElementById('preview');
        if (!img.complete || !img.naturalWidth) return null;
        const c = document.createElement('canvas'); c.width = 16; c.height = 16;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0, 16, 16, 0, 0, 16, 16);
        const d = g.getImageData(0, 0, 16, 16).data; let r = 0, gr = 0, b = 0;
        for (let i = 0; i < d.length; i += 4) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; }
        const n = d.length / 4; return [r / n, gr / n, b / n, +img.dataset.frames];""")


def test_the_preview_streams_and_shows_the_show_picture(browser, show):
    open_page(browser, show.room.url)
    send_osc(show.osc.port, "/lp/shader/color/hue", 0.0)
    # (a reading is None while the <img> loads its next picture: keep the one that satisfied)
    first = wait_for(lambda: (lambda p: p if p and p[0] > 200 else None)(_preview_rgb(browser)),
                     what="a red preview")
    assert first[1] < 40 and first[2] < 40
    send_osc(show.osc.port, "/lp/shader/color/hue", 2 / 3)
    wait_for(lambda: (lambda p: p and p[2] > 200 and p[0] < 40)(_preview_rgb(browser)), what="a blue preview")
    # about 10 pictures a second (the room's rate), far fewer than the show's 30 fps
    n0, t0 = wait_for(lambda: _preview_rgb(browser), what="a loaded preview")[3], time.monotonic()
    time.sleep(2.0)
    n1 = wait_for(lambda: _preview_rgb(browser), what="a loaded preview")[3]
    rate = (n1 - n0) / (time.monotonic() - t0)
    assert 4.0 <= rate <= 12.0, rate


def test_a_scene_saved_on_the_page_is_in_the_file_and_recalls(browser, show, tmp_path):
    open_page(browser, show.room.url)
    send_osc(show.osc.port, "/lp/truncation", 1.2)
    wait_for(lambda: abs(show.values["latent/truncation"] - 1.2) < 1e-6, what="truncation 1.2")
    time.sleep(0.2)  # one state snapshot later, the room knows it
    browser.find_element(By.ID, "scene-name").send_keys("big drop")
    browser.find_element(By.ID, "scene-save").click()
    path = tmp_path / "show.scenes.toml"
    wait_for(lambda: path.exists(), what="the scenes file")
    doc = tomllib.loads(path.read_text())
    scene = doc["scenes"]["big drop"]["values"]
    assert scene["latent/truncation"] == pytest.approx(1.2)
    assert "engine/blackout" not in scene and "clock/tap" not in scene
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#scenes li[data-scene="big drop"]'), what="the scene listed")

    # move away, then recall it with a cut from the page
    send_osc(show.osc.port, "/lp/truncation", 0.1)
    wait_for(lambda: abs(show.values["latent/truncation"] - 0.1) < 1e-6, what="truncation 0.1")
    browser.find_element(By.CSS_SELECTOR, '#scenes li[data-scene="big drop"] button').click()
    wait_for(lambda: abs(show.values["latent/truncation"] - 1.2) < 1e-6, what="the recall")
    # the recall reached the show as control events (what an event log would replay)
    assert [e for e in show.events if e.address == "param/latent/truncation" and e.source == "control"]


def test_two_pages_stay_in_step(browser, show):
    open_page(browser, show.room.url)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        open_page(browser, show.room.url)
        assert show.room.pages == 2
        browser.execute_script("""const s = document.querySelector('.param[data-name="latent/speed"] input');
            s.value = 1.5; s.dispatchEvent(new Event('input'));""")
        wait_for(lambda: abs(show.values["latent/speed"] - 1.5) < 1e-3, what="the show to follow page 2")
        browser.switch_to.window(first)
        wait_for(lambda: abs(float(slider(browser, "latent/speed").get_attribute("value")) - 1.5) < 1e-3,
                 what="page 1 to follow page 2")
    finally:
        for handle in browser.window_handles:
            if handle != first:
                browser.switch_to.window(handle)
                browser.close()
        browser.switch_to.window(first)


def test_a_wrong_token_is_refused_and_the_right_one_serves(browser, tmp_path):
    pub = Publisher(tmp_path / "s.toml", token="right-token").start()
    try:
        base = f"http://127.0.0.1:{pub.room.port}/"
        for url in (base, base + "?token=wrong", base + "app.js", base + "ws"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url, timeout=5)
            assert e.value.code == 403
        browser.get(base + "?token=wrong")
        assert "403" in browser.find_element(By.TAG_NAME, "body").text
        assert not browser.find_elements(By.ID, "params")
        open_page(browser, base + "?token=right-token")
        # the page's own scripts and socket got through with the token (cookie and query)
        assert pub.room.pages == 1
    finally:
        pub.close()
        browser.delete_all_cookies()


def test_a_screenshot_of_the_page_is_not_blank(browser, show, tmp_path):
    open_page(browser, show.room.url)
    wait_for(lambda: _preview_rgb(browser), what="a preview picture")
    png = browser.get_screenshot_as_png()
    (tmp_path / "page.png").write_bytes(png)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float32)
    assert img.shape[0] > 500 and img.shape[1] > 800
    # many colours and real contrast: text, sliders, the preview; a blank or error page has neither
    assert img.std() > 20
    assert len(np.unique(img.reshape(-1, 3)[::7], axis=0)) > 200


def test_takeover_learn_and_keyframes_on_the_page(browser, show):
    """A control waiting for pickup is marked; MIDI learn and the keyframe strip send what the
    show's part carries out (commands, and the keyframe trigger as a control event)."""
    show.takeover = {"latent/truncation": {"mode": "pickup", "engaged": False, "control": 0.3,
                                           "source": "midi/cc/0/7"}}
    from tests.control.publisher import picture
    show.room.set_keyframes(["a", "b", "c"], current=1)
    open_page(browser, show.room.url)
    wait_for(lambda: show.room.offer_thumbnail(0, picture(0.0)), what="the room to take a thumbnail")  # a page is open
    wait_for(lambda: "url(" in browser.find_element(By.CSS_SELECTOR, '.kf[data-index="0"] .thumb')
             .get_attribute("style"), what="the thumbnail")
    assert not show.room.wants_thumbnail(0) and show.room.wants_thumbnail(1)
    row = '.param[data-name="latent/truncation"]'
    wait_for(lambda: "waiting" in browser.find_element(By.CSS_SELECTOR, row).get_attribute("class"),
             what="the pickup mark")
    assert "midi/cc/0/7" in browser.find_element(By.CSS_SELECTOR, row).get_attribute("title")
    show.takeover = {}
    wait_for(lambda: "waiting" not in browser.find_element(By.CSS_SELECTOR, row).get_attribute("class"),
             what="the pickup mark to go")

    kfs = browser.find_elements(By.CSS_SELECTOR, ".kf")
    assert len(kfs) == 3 and "current" in kfs[1].get_attribute("class")
    browser.find_element(By.CSS_SELECTOR, '.kf[data-index="2"] .thumb').click()
    wait_for(lambda: ("latent/keyframe", 2.0) in show.fired, what="glide to keyframe 2")
    # (found again: the strip may be rebuilt when the show's state comes back)
    browser.find_element(By.CSS_SELECTOR, '.kf[data-index="0"] button[title="delete"]').click()
    browser.find_element(By.ID, "kf-add").click()
    wait_for(lambda: [c.kind for c in show.commands][-2:] == ["keyframe/delete", "keyframe/add"],
             what="the keyframe commands")
    assert show.commands[-2].args == (0,)

    browser.find_element(By.ID, "btn-learn").click()
    browser.find_element(By.CSS_SELECTOR, '.param[data-name="latent/speed"] label').click()
    wait_for(lambda: show.commands and show.commands[-1].kind == "learn", what="the learn command")
    assert show.commands[-1].args == ("latent/speed",)
    browser.find_element(By.ID, "btn-learn").click()
    wait_for(lambda: show.commands[-1].kind == "learn/cancel", what="learn cancelled")


def test_a_timed_recall_morphs_smoothly(browser, show):
    show.room.scenes.save("calm", {"latent/speed": 4.0})
    show.room.set_specs(SPECS)   # a page opened now lists it
    open_page(browser, show.room.url)
    browser.find_element(By.ID, "morph-seconds").clear()
    browser.find_element(By.ID, "morph-seconds").send_keys("1")
    browser.find_element(By.CSS_SELECTOR, '#scenes li[data-scene="calm"] button').click()
    wait_for(lambda: show.values["latent/speed"] == 4.0, what="the morph to end on the scene")
    seen = [e.value for e in show.events if e.address == "param/latent/speed" and e.source == "control"]
    # many steps between, rising: a morph, not a cut
    assert len(seen) >= 10 and all(b >= a for a, b in zip(seen, seen[1:])) and 0.25 < seen[len(seen) // 2] < 4.0
    assert show.session.recalled == ["calm"]


def test_the_atlas_map_appears_with_map_parameters_and_travels_on_click(browser, show):
    atlas = [ParamSpec("latent/atlas/x", 0.5, 0.0, 1.0, "map position x"),
             ParamSpec("latent/atlas/y", 0.5, 0.0, 1.0, "map position y")]
    show.specs.update({s.name: s for s in atlas})
    show.values.update({s.name: s.default for s in atlas})
    show.room.set_specs(SPECS + atlas)
    open_page(browser, show.room.url)
    assert not browser.find_elements(By.CSS_SELECTOR, "#atlas .placeholder")
    m = browser.find_element(By.ID, "atlas-map")
    w, h = m.size["width"], m.size["height"]
    # a click at 3/4 across, 1/4 down: x = 0.75, y = 0.75 (y grows upwards on the map)
    ActionChains(browser).move_to_element_with_offset(m, int(w * 0.25), -int(h * 0.25)).click().perform()
    wait_for(lambda: abs(show.values["latent/atlas/x"] - 0.75) < 0.03 and abs(show.values["latent/atlas/y"] - 0.75) < 0.03,
             what="the show to travel on the map")
    # the dot follows the show (OSC would move it the same way)
    time.sleep(0.7)
    show.queue.put(ControlEvent("osc", "param/latent/atlas/x", 0.1, show.clock.now()))
    wait_for(lambda: browser.find_element(By.ID, "atlas-dot").value_of_css_property("left").endswith("px")
             and abs(float(browser.find_element(By.ID, "atlas-dot").value_of_css_property("left")[:-2]) - 0.1 * w) < 3,
             what="the dot to follow")
