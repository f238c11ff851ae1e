// latentperform control room: one WebSocket to the show; every control is made from the
// parameter registry the show sends ("hello"), every move goes back as a message the show turns
// into a control event.  Plain JavaScript, no framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
};

// Show commands: the registered parameter each button drives (the first one the show has).
const COMMANDS = {
  record: ["engine/record", "stage/record"],
  screenshot: ["engine/screenshot", "stage/screenshot"],
  blackout: ["engine/blackout"],
  freeze: ["engine/freeze"],
  tap: ["clock/tap"],
};
const LOCAL_HOLD_MS = 600;   // a slider the user moved ignores the show's echo this long
const AUDIO_ORDER = ["level", "bass", "mid", "high", "onset", "beat", "flux", "centroid"];

let ws = null;
let specs = new Map();        // name -> spec
let controls = new Map();     // name -> {row, input, out, pick, spec, touched}
let values = {};
let learning = false;
let pending = new Map();      // name -> value waiting for the next animation frame
let lastPreview = null;
let previewTimes = [];
let seenErrors = new Set();

const token = new URLSearchParams(location.search).get("token");

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function connect() {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = token ? "?token=" + encodeURIComponent(token) : "";
  ws = new WebSocket(url);
  ws.binaryType = "blob";
  ws.onopen = () => { $("conn").textContent = "connected"; $("conn").className = "conn on"; };
  ws.onclose = () => {
    $("conn").textContent = "disconnected: retrying"; $("conn").className = "conn off";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") { showPreview(ev.data); return; }
    const msg = JSON.parse(ev.data);
    if (msg.t === "hello") hello(msg);
    else if (msg.t === "state") state(msg);
    else if (msg.t === "scenes") scenes(msg.scenes);
    else if (msg.t === "keyframes") keyframes(msg);
    else if (msg.t === "error") logLine(msg.text, "error");
  };
}

// -- parameters ----------------------------------------------------------------------------

function fmt(v) {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(3);
}

function hello(msg) {
  specs = new Map(msg.specs.map((s) => [s.name, s]));
  buildParams();
  buildButtons();
  scenes(msg.scenes || []);
  $("scenes-problem").textContent = msg.scenes_problem || "";
  buildAtlas(msg.atlas);
}

// -- atlas ---------------------------------------------------------------------------------
// The map appears when the show registers a pair of parameters ".../atlas/x" and ".../atlas/y"
// (0..1 on the map); the show's poster of the map, when it has one, is /atlas.png.
let atlasNames = null;
function buildAtlas(hasImage) {
  const xs = [...specs.keys()].filter((n) => n.endsWith("atlas/x"));
  const x = xs.find((n) => specs.has(n.slice(0, -1) + "y"));
  const box = $("atlas");
  if (!x) { atlasNames = null; return; }   // the placeholder stays
  atlasNames = [x, x.slice(0, -1) + "y"];
  const map = el("div", { class: "atlas-map", id: "atlas-map", title: "click or drag to travel" }, el("i", { class: "atlas-dot", id: "atlas-dot" }));
  if (hasImage) Object.assign(map.style, { backgroundImage: "url(atlas.png" + (token ? "?token=" + encodeURIComponent(token) : "") + ")", backgroundSize: "cover" });
  box.replaceChildren(map);
  const go = (e) => {
    const r = map.getBoundingClientRect();
    const fx = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
    const fy = Math.max(0, Math.min(1, 1 - (e.clientY - r.top) / r.height));
    const [nx, ny] = atlasNames;
    const sx = specs.get(nx), sy = specs.get(ny);
    queueSet(nx, sx.min + fx * (sx.max - sx.min));
    queueSet(ny, sy.min + fy * (sy.max - sy.min));
    placeDot(fx, fy);
  };
  let down = false;
  map.addEventListener("pointerdown", (e) => { down = true; map.setPointerCapture(e.pointerId); go(e); });
  map.addEventListener("pointermove", (e) => { if (down) go(e); });
  map.addEventListener("pointerup", () => { down = false; });
}
function placeDot(fx, fy) {
  const dot = $("atlas-dot");
  if (dot) { dot.style.left = fx * 100 + "%"; dot.style.top = (1 - fy) * 100 + "%"; }
}
function atlasState(vals) {
  if (!atlasNames) return;
  const [nx, ny] = atlasNames;
  const sx = specs.get(nx), sy = specs.get(ny);
  if (vals[nx] === undefined || vals[ny] === undefined) return;
  placeDot((vals[nx] - sx.min) / ((sx.max - sx.min) || 1), (vals[ny] - sy.min) / ((sy.max - sy.min) || 1));
}

function buildParams() {
  const box = $("params");
  box.replaceChildren();
  controls = new Map();
  let group = null;
  // a two-value parameter (latent/xy: "ff") has its parts as controls of their own
  const names = [...specs.keys()].filter((n) => !((specs.get(n).args || "").length > 1))
    .sort(new Intl.Collator(undefined, { numeric: true }).compare);
  for (const name of names) {
    const spec = specs.get(name);
    const g = name.split("/")[0];
    if (g !== group) { group = g; box.append(el("div", { class: "group", text: g })); }
    const label = el("label", { text: name, title: (spec.doc || "") + (spec.osc ? "  ·  OSC " + spec.osc : "") });
    const row = el("div", { class: "param", "data-name": name }, label);
    label.addEventListener("click", () => { if (learning) send({ t: "learn", name }); });
    const c = { row, spec, touched: 0 };
    if (spec.kind === "trigger") {
      // a trigger with an argument range (a keyframe index, a scene number) gets a number beside it
      const arg = spec.max > 1 ? el("input", { type: "number", min: spec.min, max: spec.max, step: 1,
        value: Math.max(spec.min, Math.min(spec.max, spec.name === "control/scene/recall" ? 1 : 0)), class: "arg", "aria-label": name + " argument" }) : null;
      const b = el("button", { text: "fire" });
      b.addEventListener("click", () => {
        if (learning) { send({ t: "learn", name }); return; }
        send({ t: "fire", name, arg: arg ? +arg.value : 1 });
      });
      row.append(arg ? el("div", { class: "trig" }, b, arg) : b);
      c.button = b;
    } else {
      const out = el("output", { text: fmt(spec.default) });
      const input = el("input", { type: "range", min: spec.min, max: spec.max,
        step: "any", value: spec.default, "aria-label": name });
      const pick = el("i", { class: "pick" });
      input.addEventListener("input", () => {
        c.touched = performance.now();
        out.textContent = fmt(+input.value);
        queueSet(name, +input.value);
      });
      input.addEventListener("pointerdown", (e) => { if (learning) { e.preventDefault(); send({ t: "learn", name }); } });
      row.append(out, el("div", { class: "track" }, input, pick));
      Object.assign(c, { input, out, pick });
    }
    controls.set(name, c);
    box.append(row);
  }
  filterParams();
}

// Moves are sent at most once per animation frame per parameter (the newest value).
function queueSet(name, value) {
  if (!pending.size) requestAnimationFrame(flushSets);
  pending.set(name, value);
}
function flushSets() {
  for (const [name, value] of pending) send({ t: "set", name, value });
  pending.clear();
}

function filterParams() {
  const q = $("param-filter").value.trim().toLowerCase();
  for (const [name, c] of controls) c.row.classList.toggle("hidden", q !== "" && !name.includes(q));
}

function applyValues(vals, takeover) {
  const now = performance.now();
  for (const [name, c] of controls) {
    if (!c.input) continue;
    const v = vals[name];
    if (v === undefined) continue;
    if (now - c.touched > LOCAL_HOLD_MS) {
      if (+c.input.value !== v) c.input.value = v;
      c.out.textContent = fmt(v);
    }
    c.row.classList.toggle("moved", Math.abs(v - c.spec.default) > 1e-9);
    const tk = takeover && takeover[name];
    const waiting = !!(tk && tk.engaged === false && tk.control !== null && tk.control !== undefined);
    c.row.classList.toggle("waiting", waiting);
    if (waiting) {
      const span = c.spec.max - c.spec.min || 1;
      c.pick.style.left = (100 * (tk.control - c.spec.min) / span) + "%";
      c.row.title = `${tk.source || "a control"} (${tk.mode}) is at ${fmt(tk.control)}: it takes over when it reaches ${fmt(v)}`;
    } else c.row.title = "";
  }
}

// -- show buttons --------------------------------------------------------------------------

function commandSpec(cmd) {
  for (const name of COMMANDS[cmd]) if (specs.has(name)) return specs.get(name);
  return null;
}

function buildButtons() {
  for (const b of document.querySelectorAll("#show-buttons button[data-cmd]")) {
    const spec = commandSpec(b.dataset.cmd);
    b.disabled = !spec;
    b.title = spec ? spec.name + (spec.osc ? "  ·  OSC " + spec.osc : "") : "this show has no " + b.dataset.cmd + " parameter";
    b.onclick = () => {
      if (!spec) return;
      if (learning) { send({ t: "learn", name: spec.name }); return; }
      if (spec.kind === "trigger") send({ t: "fire", name: spec.name, arg: 1 });
      else {
        const on = (values[spec.name] ?? spec.min) > (spec.min + spec.max) / 2;
        send({ t: "set", name: spec.name, value: on ? spec.min : spec.max });
      }
    };
  }
}

function updateButtons() {
  for (const b of document.querySelectorAll("#show-buttons button[data-cmd]")) {
    const spec = commandSpec(b.dataset.cmd);
    if (spec && spec.kind !== "trigger") b.classList.toggle("active", (values[spec.name] ?? 0) > (spec.min + spec.max) / 2);
  }
}

$("btn-learn").addEventListener("click", () => {
  learning = !learning;
  $("btn-learn").classList.toggle("active", learning);
  document.body.classList.toggle("learning", learning);
  if (!learning) send({ t: "learn/cancel" });
  $("learn-status").textContent = learning ? "MIDI learn: click a parameter, then move a control" : "";
});

// -- state ---------------------------------------------------------------------------------

function state(msg) {
  values = msg.values || {};
  applyValues(values, msg.takeover);
  updateButtons();
  atlasState(values);
  if (msg.clock) clock(msg.clock);
  if (msg.stats) stats(msg.stats, msg.pages);
  if (msg.audio) audio(msg.audio);
  if (msg.mappings) mappings(msg.mappings);
  if (msg.learn) $("learn-status").textContent = msg.learn;
  else if (!learning) $("learn-status").textContent = "";
  if (msg.recording !== undefined) $("btn-record").classList.toggle("active", !!msg.recording);
  for (const text of msg.errors || []) if (!seenErrors.has(text)) { seenErrors.add(text); logLine(text, "error"); }
  for (const text of msg.notices || []) if (!seenErrors.has(text)) { seenErrors.add(text); logLine(text, "notice"); }
  if (msg.keyframe_current !== undefined) markKeyframe(msg.keyframe_current);
}

function clock(c) {
  $("tempo").textContent = (c.tempo ?? 0).toFixed(1) + " bpm";
  const per = c.beats_per_bar || 4;
  const beat = c.beat || 0;
  const box = $("beats");
  if (box.children.length !== per) box.replaceChildren(...Array.from({ length: per }, () => el("i")));
  const k = Math.floor(beat) % per;
  [...box.children].forEach((d, i) => d.classList.toggle("on", i === k));
  $("bar").textContent = "bar " + (Math.floor(beat / per) + 1) + "." + (k + 1);
}

function stats(s, pages) {
  const item = (label, v) => el("span", {}, label + " ", el("b", { text: v }));
  const ms = (v) => (v === null || v === undefined) ? "—" : v.toFixed(1) + " ms";
  $("stats").replaceChildren(
    item("fps", s.fps !== undefined && s.fps !== null ? s.fps.toFixed(1) : "—"),
    item("frame p99", ms(s.frame_ms_p99)),
    item("stutter", s.stutter !== undefined && s.stutter !== null ? s.stutter.toFixed(2) : "—"),
    item("generator", ms(s.gen_ms)),
    item("latency", ms(s.latency_ms)),
    item("pages", String(pages ?? 1)));
}

function audio(a) {
  const box = $("audio");
  const names = Object.keys(a).sort((x, y) => {
    const i = AUDIO_ORDER.indexOf(x), j = AUDIO_ORDER.indexOf(y);
    return (i < 0 ? 99 : i) - (j < 0 ? 99 : j) || x.localeCompare(y, undefined, { numeric: true });
  });
  if (box.dataset.names !== names.join(",")) {
    box.dataset.names = names.join(",");
    box.replaceChildren(...names.flatMap((n) => [el("span", { text: n }), el("div", { class: "meter", id: "m-" + n }, el("i")), el("output", { id: "mv-" + n })]));
  }
  for (const n of names) {
    const v = a[n] || 0;
    $("m-" + n).firstChild.style.width = Math.max(0, Math.min(1, v)) * 100 + "%";
    $("mv-" + n).textContent = fmt(v);
  }
}

function mappings(rows) {
  const body = $("mappings").tBodies[0];
  if (body.rows.length !== rows.length) {
    body.replaceChildren(...rows.map((r) => el("tr", {}, el("td", { text: r.source }), el("td", { text: r.target }),
      el("td", { text: r.mode || "" }), el("td", {}, el("div", { class: "act" }, el("i"))))));
  }
  rows.forEach((r, i) => {
    const tr = body.rows[i];
    tr.cells[0].textContent = r.source; tr.cells[1].textContent = r.target;
    tr.querySelector(".act i").style.width = Math.max(0, Math.min(1, r.activity || 0)) * 100 + "%";
  });
}

function logLine(text, kind) {
  const t = new Date().toLocaleTimeString();
  const li = el("li", { class: kind }, el("time", { text: t }), text);
  $("log").prepend(li);
  while ($("log").children.length > 100) $("log").lastChild.remove();
}

// -- preview -------------------------------------------------------------------------------

function showPreview(blob) {
  const url = URL.createObjectURL(blob);
  const img = $("preview");
  img.onload = () => { if (lastPreview) URL.revokeObjectURL(lastPreview); lastPreview = url; };
  img.src = url;
  const now = performance.now();
  previewTimes.push(now);
  while (previewTimes.length && now - previewTimes[0] > 2000) previewTimes.shift();
  $("preview-info").textContent = `preview ${(previewTimes.length / 2).toFixed(1)} fps`;
  img.dataset.frames = String((+img.dataset.frames || 0) + 1);
}

// -- scenes --------------------------------------------------------------------------------

function scenes(names) {
  $("scenes").replaceChildren(...names.map((name) => el("li", { "data-scene": name },
    el("span", { text: name }),
    el("button", { text: "recall", onclick: () => send({ t: "scene/recall", name, seconds: +$("morph-seconds").value || 0 }) }),
    el("button", { text: "✕", title: "delete", onclick: () => { if (confirm(`delete scene "${name}"?`)) send({ t: "scene/delete", name }); } }))));
}

$("scene-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("scene-name").value.trim();
  if (name) { send({ t: "scene/save", name }); $("scene-name").value = ""; }
});

// -- keyframes -----------------------------------------------------------------------------

function keyframes(msg) {
  const box = $("keyframes");
  box.replaceChildren(...msg.items.map((item, i) => {
    const thumb = el("div", { class: "thumb", title: "glide to keyframe " + i, text: item.thumb ? "" : String(i) });
    if (item.thumb) thumb.style.backgroundImage = `url(${item.thumb})`;
    thumb.addEventListener("click", () => send({ t: "fire", name: "latent/keyframe", arg: i }));
    return el("div", { class: "kf", "data-index": i }, thumb, el("div", { class: "row" },
      el("button", { text: "◀", title: "move left", onclick: () => send({ t: "keyframe/move", index: i, to: Math.max(0, i - 1) }) }),
      el("span", { text: item.label || String(i) }),
      el("button", { text: "▶", title: "move right", onclick: () => send({ t: "keyframe/move", index: i, to: i + 1 }) }),
      el("button", { text: "✕", title: "delete", onclick: () => send({ t: "keyframe/delete", index: i }) })));
  }));
  if (msg.current !== undefined) markKeyframe(msg.current);
}
function markKeyframe(k) {
  for (const d of document.querySelectorAll(".kf")) d.classList.toggle("current", +d.dataset.index === k);
}
$("kf-add").addEventListener("click", () => send({ t: "keyframe/add" }));
$("kf-next").addEventListener("click", () => send({ t: "fire", name: "latent/keyframe/next", arg: 1 }));
$("kf-prev").addEventListener("click", () => send({ t: "fire", name: "latent/keyframe/prev", arg: 1 }));

$("param-filter").addEventListener("input", filterParams);
connect();
