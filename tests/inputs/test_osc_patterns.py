"""OSC address patterns are matched in time linear in the address, whatever the pattern: the
40-byte datagram of 30 stars that used to hold the process for 30 s is routed at once, and the
matcher agrees with a regex reference on every small pattern it is given."""

from __future__ import annotations

import random
import re
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from latentperform.events import ParamSpec
from latentperform.inputs.osc import (MAX_PATTERN_LEN, PATTERN_BUDGET_S, AddressPattern, OscParseError,
                                      OscRouter)

SPECS = [ParamSpec("latent/truncation", 0.7, 0.0, 1.5, "psi", osc="/lp/truncation"),
         *[ParamSpec(f"latent/direction/{k}", 0.0, -1.0, 1.0, f"d{k}", osc=f"/lp/direction/{k}")
           for k in range(12)]]


def msg(address, *args) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def reference(pattern: str) -> re.Pattern:
    """The OSC 1.0 rules as a (backtracking) regex: fine for the short patterns used here."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.index("]", i)
            body = pattern[i + 1:j]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            esc = "".join("\\" + ch if ch in "\\^]" else ch for ch in body)
            out.append(f"[^/{esc}]" if neg else f"[{esc}]")  # a negated class never matches '/' either
            i = j
        elif c == "{":
            j = pattern.index("}", i)
            out.append("(?:" + "|".join(map(re.escape, pattern[i + 1:j].split(","))) + ")")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def test_matcher_agrees_with_a_regex_reference_on_random_patterns():
    rng = random.Random(12)
    alphabet = "ab/"
    pieces = ["a", "b", "/", "*", "?", "[ab]", "[!a]", "[a-b]", "{a,b}", "{ab,b/a}", "**"]
    tried = 0
    for _ in range(3000):
        pattern = "/" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        address = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        assert AddressPattern(pattern).match(address) == bool(reference(pattern).match(address)), \
            (pattern, address)
        tried += 1
    assert tried == 3000


def test_thirty_stars_route_at_once():
    r = OscRouter(SPECS)
    data = msg("/lp/" + "*" * 30 + "x", 0.5)
    assert len(data) <= 48
    t0 = time.perf_counter()
    for k in range(50):  # new patterns each time: no cache helps
        assert r.route_datagram(msg("/lp/" + "*" * 30 + "*?" * (k % 5) + "x" * (k + 1), 0.5), 0.0) == []
    took = time.perf_counter() - t0
    assert took < 2.0, f"50 star patterns took {took:.2f} s"  # the regex took 30 s for ONE
    # stars still match what they should
    ev = r.route_datagram(msg("/lp/" + "*" * 30 + "/1*", 0.5), 0.0)
    assert sorted(e.address for e in ev) == ["param/latent/direction/1", "param/latent/direction/10",
                                             "param/latent/direction/11"]


def test_adversarial_patterns_are_refused_or_cheap():
    with pytest.raises(OscParseError, match="longer than"):
        AddressPattern("/" + "*a" * MAX_PATTERN_LEN)
    with pytest.raises(OscParseError, match="alternatives"):
        AddressPattern("/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}")
    r = OscRouter(SPECS)
    assert r.route_datagram(msg("/lp/" + "*a" * 200, 1.0), 0.0) == []
    assert r.route_datagram(msg("/lp/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}", 1.0), 0.0) == []
    assert r.stats["malformed"] == 2  # both refused, counted, and the router goes on
    assert r.route_datagram(msg("/lp/" + "*a" * 100, 1.0), 0.0) == []  # 200 characters: matched, cheaply
    assert r.stats["malformed"] == 2


def test_a_flood_of_new_patterns_is_capped_per_second(caplog):
    r = OscRouter(SPECS)
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.5:
        r.route_datagram(msg(f"/lp/*{n}*[0-9]*?*", 1.0), 0.0)
        n += 1
    # matching time is capped at PATTERN_BUDGET_S a second: the rest are dropped and counted
    assert r.stats["over_budget"] > 0
    assert caplog.text.count("OSC over_budget") == 1
    assert PATTERN_BUDGET_S <= 0.1
    # a cached pattern still works while over budget, and a literal address always does
    assert r.route_datagram(msg("/lp/truncation", 0.5), 0.0)[0].address == "param/latent/truncation"


def test_log_lines_never_carry_a_huge_address(caplog):
    r = OscRouter(SPECS)
    r.route_datagram(msg("/lp/" + "x" * 60000, 1.0), 0.0)
    r.route_datagram(msg("/" + "y" * 60000, "text"), 0.0)
    lines = [l for l in caplog.text.splitlines() if "OSC" in l]
    assert len(lines) == 2 and all(len(l) < 400 for l in lines), [len(l) for l in lines]
    assert "60004 characters" in caplog.text


def test_a_pattern_never_reaches_the_shows_own_commands():
    specs = SPECS + [ParamSpec("stage/quit", kind="trigger", osc="/lp/quit", args=""),
                     ParamSpec("stage/record", 0.0, 0.0, 1.0, "rec", osc="/lp/record")]
    r = OscRouter(specs)
    got = {e.address for e in r.route_datagram(msg("/lp/*", 1.0), 0.0)}
    assert "param/latent/truncation" in got and not any(a.startswith(("trigger/stage", "param/stage")) for a in got)
    assert not r.route_datagram(msg("/lp/q?it"), 0.0) and not r.route_datagram(msg("/lp/{quit,record}", 1.0), 0.0)
    assert [e.address for e in r.route_datagram(msg("/lp/quit"), 0.0)] == ["trigger/stage/quit"]  # exact: yes
