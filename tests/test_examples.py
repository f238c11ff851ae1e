"""The controller and host presets and examples/ say true things about the engine.

- examples/latentperform.maxpat is a Max patcher: JSON with boxes and patch cords between boxes,
  inlets and outlets that exist, a [udpsend 127.0.0.1 9000] and a [udpreceive 9001].
- Every /lp/ address in examples/ and in the presets' comments is one the engine answers to (or
  one of its feedback addresses), for the show of the preset it goes with.
- The messages the Max patch sends, sent over real UDP to the engine's OscInput, arrive as the
  right parameter and trigger events, and the preset's mapping turns them into the values shown.
- Each hardware preset's comment block names exactly the controls it maps (and the MIDI channel);
  each OSC preset's comment names every address it maps.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from latentperform.patch import Mapper, load_patch, unknown_targets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PATCHES = ROOT / "patches"
MAXPAT = EXAMPLES / "latentperform.maxpat"

HARDWARE = ("nanokontrol2.toml", "launch-control-xl.toml")
HOSTS = ("touchosc.toml", "touchdesigner.toml", "max.toml")
FEEDBACK = {"/lp/beat", "/lp/tempo", "/lp/fps", "/lp/keyframe/current", "/lp/error"}
# generic forms the prose uses for a family of addresses
PLACEHOLDERS = {"/lp/param/<name>", "/lp/direction/<k>", "/lp/shader/<pass>/<uniform>"}

_ADDRESS = re.compile(r"/lp(?:/(?:[A-Za-z0-9_\-]+|<[a-z]+>))+")


def all_param_specs(patch):
    # imported late: the engine package is the slowest import, and only these tests need it
    from latentperform.engine import all_param_specs as specs_of
    return specs_of(patch)


def show_specs(patch):
    """The parameters of the show this patch makes: shader parameters only for its passes."""
    passes = set(patch.output.shaders) | {"output"}
    return [s for s in all_param_specs(patch)
            if not s.name.startswith("shader/") or s.name.split("/")[1] in passes]


def comment_block(path: Path) -> str:
    """The comment lines at the top of a TOML file, without the '#'."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line[1:])
    return "\n".join(out)


def addresses_in(text: str) -> set[str]:
    return {a.rstrip("/.-") for a in _ADDRESS.findall(text)}


def check_addresses(found: set[str], specs, where: str) -> None:
    inputs = {s.osc for s in specs if s.osc}
    params = {f"/lp/param/{s.name}" for s in specs}
    wrong = sorted(a for a in found
                   if a not in inputs | FEEDBACK | params | PLACEHOLDERS)
    assert not wrong, f"{where}: no such engine address: {wrong}"


# ------------------------------------------------------------------------------- the Max patch


def load_maxpat() -> dict:
    return json.loads(MAXPAT.read_text(encoding="utf-8"))


def boxes_of(patcher: dict) -> dict[str, dict]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


def test_maxpat_is_a_max_patcher():
    data = load_maxpat()
    assert set(data) == {"patcher"}
    p = data["patcher"]
    assert p["fileversion"] == 1 and p["classnamespace"] == "box"
    assert len(p["rect"]) == 4
    ids = [b["box"]["id"] for b in p["boxes"]]
    assert len(ids) == len(set(ids)), "box ids must be unique"
    boxes = boxes_of(p)
    for box in boxes.values():
        assert isinstance(box["maxclass"], str) and box["maxclass"]
        assert len(box["patching_rect"]) == 4 and all(isinstance(v, (int, float)) for v in box["patching_rect"])
        assert isinstance(box["numinlets"], int) and isinstance(box["numoutlets"], int)
        if box["numoutlets"]:
            assert len(box["outlettype"]) == box["numoutlets"], box["id"]
        if box["maxclass"] in ("newobj", "message", "comment"):
            assert box["text"].strip(), box["id"]
    assert p["lines"], "a patch that sends nothing"
    for line in p["lines"]:
        cord = line["patchline"]
        (src, outlet), (dst, inlet) = cord["source"], cord["destination"]
        assert src in boxes and dst in boxes, cord
        assert 0 <= outlet < boxes[src]["numoutlets"], f"{src} has no outlet {outlet}"
        assert 0 <= inlet < boxes[dst]["numinlets"], f"{dst} has no inlet {inlet}"


def test_maxpat_talks_to_the_engine_ports():
    p = load_maxpat()["patcher"]
    boxes = boxes_of(p)
    texts = {b.get("text") for b in boxes.values()}
    assert "udpsend 127.0.0.1 9000" in texts
    assert "udpreceive 9001" in texts
    # the feedback is printed, and the preset sends it where the patch listens
    recv = next(i for i, b in boxes.items() if b.get("text") == "udpreceive 9001")
    fed = {ln["patchline"]["destination"][0] for ln in p["lines"] if ln["patchline"]["source"][0] == recv}
    assert any(boxes[i].get("text", "").startswith("print") for i in fed)
    patch = load_patch(PATCHES / "max.toml")
    assert patch.inputs.osc.port == 9000 and "127.0.0.1:9001" in patch.inputs.osc.targets


def max_messages() -> list[tuple[str, list]]:
    """What the patch sends into [udpsend]: each message box as typed, and each [prepend ADDR]
    with the value its slider / toggle / [pak] gives at 30 % of the slider's travel (toggles: on)."""
    p = load_maxpat()["patcher"]
    boxes = boxes_of(p)
    send = next(i for i, b in boxes.items() if str(b.get("text", "")).startswith("udpsend"))
    into: dict[str, list[tuple[str, int]]] = {}
    for ln in p["lines"]:
        (src, _), (dst, inlet) = ln["patchline"]["source"], ln["patchline"]["destination"]
        into.setdefault(dst, []).append((src, inlet))

    def atom(word: str):
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        if re.fullmatch(r"-?\d*\.\d*", word):
            return float(word)
        return word

    def value(box_id: str) -> list:
        box = boxes[box_id]
        if box["maxclass"] == "slider":
            assert box.get("floatoutput") == 1, f"{box_id}: a slider that sends whole numbers"
            return [box["min"] + 0.3 * box["size"]]
        if box["maxclass"] == "toggle":
            return [1]
        if box["maxclass"] in ("flonum", "number"):
            (src, _), = into[box_id]
            return value(src)
        if box["text"].startswith("pak"):
            by_inlet = dict((inlet, src) for src, inlet in into[box_id])
            return [value(by_inlet[k])[0] for k in range(len(box["text"].split()) - 1)]
        raise AssertionError(f"{box_id}: don't know what {box['maxclass']} {box.get('text')} sends")

    out = []
    for src, _ in into[send]:
        box = boxes[src]
        words = box["text"].split()
        if box["maxclass"] == "message":
            out.append((words[0], [atom(w) for w in words[1:]]))
        elif words[0] == "prepend":
            (feeder, _), = into[src]
            out.append((words[1], value(feeder)))
        else:
            raise AssertionError(f"{src}: unexpected sender {box.get('text')}")
    return out


def test_max_messages_are_engine_addresses():
    patch = load_patch(PATCHES / "max.toml")
    specs = show_specs(patch)
    msgs = max_messages()
    sent = {a for a, _ in msgs}
    assert {"/lp/truncation", "/lp/xy", "/lp/keyframe/next", "/lp/tap", "/lp/direction/0"} <= sent
    inputs = {s.osc for s in specs if s.osc}
    mapped = {"/" + m.source[len("osc/"):] for m in patch.mappings if m.source.startswith("osc/")}
    assert not [a for a in sent if a not in inputs | mapped], "the Max patch sends addresses nobody answers"
    check_addresses(addresses_in(MAXPAT.read_text(encoding="utf-8")), specs, MAXPAT.name)


def test_max_messages_over_udp_become_the_right_events():
    """The exact messages of the Max patch, through a real socket into OscInput, then the preset's
    mapping: every parameter and trigger the patch means arrives, with its value."""
    pythonosc = pytest.importorskip("pythonosc.udp_client")
    from latentperform.clock import WallClock
    from latentperform.events import EventQueue, ParamState
    from latentperform.inputs.osc import OscInput

    patch = load_patch(PATCHES / "max.toml")
    specs = show_specs(patch)
    by_osc: dict[str, list] = {}
    for s in specs:
        if s.osc:
            by_osc.setdefault(s.osc, []).append(s)
    msgs = max_messages()

    queue = EventQueue()
    with OscInput(queue, WallClock(), host="127.0.0.1", port=0, specs=specs) as osc:
        client = pythonosc.SimpleUDPClient("127.0.0.1", osc.port)
        for address, args in msgs:
            client.send_message(address, args)
        events: list = []
        deadline = time.monotonic() + 5.0
        while len(events) < len(msgs) and time.monotonic() < deadline:
            events.extend(queue.iter_pending())
            time.sleep(0.005)
        stats = osc.stats
    assert stats["malformed"] == stats["unknown"] == stats["bad_args"] == 0, stats
    assert len(events) == len(msgs), [e.address for e in events]

    for (address, args), ev in zip(msgs, events):   # one datagram each, in order
        spec = by_osc.get(address, [None])[0]
        if spec is None:                            # a patch-mapped address, e.g. /max/kick
            assert ev.address == "osc" + address
            assert ev.value == (args[0] if args else 1.0)
        elif spec.kind == "trigger":
            assert ev.address == f"trigger/{spec.name}"
            assert ev.value == pytest.approx(args[0] if args else 1.0)
        elif len(args) > 1:
            assert ev.address == f"param/{spec.name}"
            assert ev.value == pytest.approx(tuple(args), abs=1e-6)
        else:
            assert ev.address == f"param/{spec.name}"
            assert ev.value == pytest.approx(args[0], abs=1e-6)

    mapper = Mapper(patch.mappings, {s.name: s for s in specs})
    values = {s.name: s.default for s in specs if s.kind != "trigger" and len(s.args) <= 1}
    prev = ParamState(values=values, triggers=(), time=0.0, tempo=patch.clock.bpm, beat=0.0,
                      beats_per_bar=patch.clock.beats_per_bar, newest_input=None)
    state = mapper.apply(events, prev, 1.0, 1.0)
    sent = dict((a, args) for a, args in msgs)
    assert state.values["latent/truncation"] == pytest.approx(sent["/lp/truncation"][0], abs=1e-6)
    assert (state.values["latent/xy/x"], state.values["latent/xy/y"]) == pytest.approx(tuple(sent["/lp/xy"]), abs=1e-6)
    for k in range(4):
        assert state.values[f"latent/direction/{k}"] == pytest.approx(sent[f"/lp/direction/{k}"][0], abs=1e-6)
    assert state.values["engine/freeze"] == 1.0 and state.values["engine/blackout"] == 1.0
    assert state.values["clock/bpm"] == pytest.approx(120.0)
    fired = [name for name, _ in state.triggers]
    for name in ("latent/keyframe/prev", "latent/keyframe/next", "latent/keyframe", "clock/tap",
                 "latent/pulse/hit"):
        assert name in fired, (name, fired)


# ------------------------------------------------------------------------------- the how-to and presets


def test_touchdesigner_howto_addresses_are_real():
    text = (EXAMPLES / "touchdesigner.md").read_text(encoding="utf-8")
    patch = load_patch(PATCHES / "touchdesigner.toml")
    found = addresses_in(text)
    assert {"/lp/truncation", "/lp/keyframe/next", "/lp/beat", "/lp/keyframe/current"} <= found
    check_addresses(found, show_specs(patch), "touchdesigner.md")
    assert "9000" in text and "9001" in text
    # the custom addresses it tells the reader about are the ones the preset maps
    mapped = {"/" + m.source[len("osc/"):] for m in patch.mappings}
    assert set(re.findall(r"/td/[a-z]+", text)) == mapped


def test_examples_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for f in EXAMPLES.iterdir():
        if f.name != "README.md":
            assert f"`{f.name}`" in readme, f.name


@pytest.mark.parametrize("name", HARDWARE + HOSTS)
def test_preset_comment_addresses_and_targets_are_real(name):
    path = PATCHES / name
    patch = load_patch(path)
    specs = show_specs(patch)
    check_addresses(addresses_in(path.read_text(encoding="utf-8")), specs, name)
    assert unknown_targets(patch, [s.name for s in specs]) == []


@pytest.mark.parametrize("name", HOSTS)
def test_host_presets_send_state_back(name):
    osc = load_patch(PATCHES / name).inputs.osc
    assert osc.enabled and osc.port == 9000
    assert osc.targets == ("127.0.0.1:9001",)


_CONTROL = re.compile(r"\b(CC|notes?)\s+(\d+(?:\s*-\s*\d+)?(?:\s*(?:,|and)\s*\d+(?:\s*-\s*\d+)?)*)")


def documented_controls(text: str) -> set[tuple[str, int]]:
    """("cc", n) and ("note", n) for every "CC 16", "CC 0-7", "notes 41-44, 57-60" in the text."""
    out = set()
    for kind, numbers in _CONTROL.findall(text):
        kind = "cc" if kind == "CC" else "note"
        for part in re.split(r"\s*(?:,|and)\s*", numbers):
            lo, _, hi = part.partition("-")
            out.update((kind, n) for n in range(int(lo), int(hi or lo) + 1))
    return out


@pytest.mark.parametrize("name", HARDWARE)
def test_hardware_comment_names_exactly_the_mapped_controls(name):
    path = PATCHES / name
    patch = load_patch(path)
    text = comment_block(path)
    mapped, channels = set(), set()
    for m in patch.mappings:
        kind, ch, n = re.fullmatch(r"midi/(cc|note)/(\d+)/(\d+)", m.source).groups()
        mapped.add((kind, int(n)))
        channels.add(int(ch))
    documented = documented_controls(text)
    assert mapped - documented == set(), f"mapped but not described: {sorted(mapped - documented)}"
    assert documented - mapped == set(), f"described but not mapped: {sorted(documented - mapped)}"
    for ch in channels:
        assert re.search(rf"channel {ch + 1}\b", text), f"the comment should name MIDI channel {ch + 1}"
    assert patch.inputs.midi.enabled and patch.inputs.midi.inputs


def test_nanokontrol2_sends_led_feedback_to_the_device():
    patch = load_patch(PATCHES / "nanokontrol2.toml")
    assert patch.inputs.midi.outputs == ("nanoKONTROL2*",)
    assert "External" in comment_block(PATCHES / "nanokontrol2.toml")


@pytest.mark.parametrize("name", HOSTS)
def test_osc_preset_comment_names_every_mapped_address(name):
    path = PATCHES / name
    text = comment_block(path)
    # "/2/push1 ... /2/push8" stands for the eight of them
    for page, stem, lo, hi in re.findall(r"/(\d+)/([a-z]+)(\d+) \.\.\. /\1/\2(\d+)", text):
        text += " " + " ".join(f"/{page}/{stem}{i}" for i in range(int(lo), int(hi) + 1))
    for m in load_patch(path).mappings:
        address = "/" + m.source[len("osc/"):]
        assert re.search(re.escape(address) + r"(?![\w/])", text), f"{name}: {address} is not described"
