"""The review page: one static HTML file with inline CSS and JavaScript (no server).

Each card shows the contact sheet (poses and acceleration trace), the
current label(s), and buttons: accept, relabel (a drop-down of the label
space's categories), reject, clear.  "Save overrides" downloads the
decisions as the overrides JSON that ``virtimu label --overrides`` reads
(`virtimu.labels.overrides`); "Load overrides" reads such a file and shows
its decisions on the cards (decisions for items not on the page are kept and
saved again, first, in their original order).

Safety: every text from the store (recording, source and label names) is
HTML-escaped where it is written into the markup, and the page data is
embedded as JSON in a ``<script type="application/json">`` element with
``<``, ``>`` and ``&`` written as ``\\u003c`` ... escapes; the script only
ever sets ``textContent``, never ``innerHTML``, so no name can inject markup
or script.
"""
from __future__ import annotations

import html
import json
from typing import Any

from virtimu.labels.maps import LabelSpace
from virtimu.labels.overrides import OVERRIDES_VERSION, Overrides
from virtimu.review.cards import Card

_CSS = """
body { font-family: sans-serif; margin: 0; background: #f3f4f6; color: #111; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; padding: 8px 12px; z-index: 2; }
header h1 { font-size: 17px; margin: 0 0 6px 0; }
header .tools { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; font-size: 13px; }
#status { color: #444; font-size: 13px; margin-top: 4px; }
main { display: flex; flex-direction: column; gap: 12px; padding: 12px; }
.card { background: #fff; border: 2px solid #ddd; border-radius: 6px; padding: 8px; }
.card.accept { border-color: #2e9d44; } .card.reject { border-color: #c62828; } .card.relabel { border-color: #1f6fd1; }
.card h2 { font-size: 14px; margin: 0 0 4px 0; word-break: break-all; }
.card .meta { font-size: 12px; color: #444; margin-bottom: 4px; }
.card img { max-width: 100%; display: block; border: 1px solid #eee; }
.card .note { font-size: 12px; color: #a15c00; }
.card .actions { display: flex; gap: 6px; align-items: center; margin-top: 6px; font-size: 13px; flex-wrap: wrap; }
.card .decision { font-weight: bold; margin-left: 8px; }
button { cursor: pointer; }
"""

_JS = r"""
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("review-data").textContent);
  const state = {};          // card index -> {action, label}
  let others = [];           // loaded decisions for items not on this page
  const keyOf = (src, rec, start, end) =>
    JSON.stringify([src, rec, start === undefined ? null : start, end === undefined ? null : end]);
  const cardByKey = {};
  DATA.cards.forEach(c => { cardByKey[keyOf(c.source, c.recording, c.start, c.end)] = c.index; });
  const status = document.getElementById("status");

  function nowIso() { return new Date().toISOString().replace(/\.\d{3}Z$/, "+00:00"); }

  function show(i) {
    const el = document.getElementById("card-" + i);
    const d = state[i];
    el.classList.remove("accept", "reject", "relabel");
    const out = el.querySelector(".decision");
    if (!d) { out.textContent = "no decision"; }
    else {
      el.classList.add(d.action);
      out.textContent = d.action === "relabel" ? "relabel \u2192 " + d.label : d.action;
      if (d.action === "relabel") { el.querySelector("select.relabel").value = d.label; }
    }
    updateCounts();
  }

  function updateCounts() {
    const n = Object.keys(state).length;
    document.getElementById("counts").textContent =
      n + " of " + DATA.cards.length + " decided" + (others.length ? ", " + others.length + " other decisions kept" : "");
  }

  function decide(i, action) {
    const el = document.getElementById("card-" + i);
    if (action === "clear") { delete state[i]; show(i); return; }
    const d = { action: action, time: nowIso() };
    if (action === "relabel") { d.label = el.querySelector("select.relabel").value; }
    state[i] = d;
    show(i);
  }

  function decisions() {
    const reviewer = document.getElementById("reviewer").value.trim();
    const out = others.slice();
    DATA.cards.forEach(c => {
      const d = state[c.index];
      if (!d) return;
      const o = { source: c.source, recording: c.recording, action: d.action };
      if (d.action === "relabel") o.label = d.label;
      if (c.start !== null) o.start = c.start;
      if (c.end !== null) o.end = c.end;
      if (d.note) o.note = d.note;
      const who = d.reviewer || reviewer;
      if (who) o.reviewer = who;
      if (d.time) o.time = d.time;
      out.push(o);
    });
    return { version: DATA.version, label_space: DATA.label_space, decisions: out };
  }

  function save() {
    const text = JSON.stringify(decisions(), null, 2) + "\n";
    document.getElementById("overrides-json").value = text;
    const blob = new Blob([text], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = DATA.save_name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    status.textContent = "saved " + JSON.parse(text).decisions.length + " decisions as " + DATA.save_name;
  }

  function load(doc, origin) {
    if (!doc || doc.version !== DATA.version || !Array.isArray(doc.decisions)) {
      status.textContent = origin + ": not an overrides file (version " + DATA.version + " with decisions)";
      return;
    }
    if (doc.label_space !== DATA.label_space) {
      status.textContent = origin + ": label space " + doc.label_space + " differs from this page's " + DATA.label_space;
      return;
    }
    others = [];
    Object.keys(state).forEach(k => delete state[k]);
    let onPage = 0;
    doc.decisions.forEach(d => {
      const i = cardByKey[keyOf(d.source, d.recording, d.start, d.end)];
      if (i === undefined) { others.push(d); return; }
      const s = { action: d.action };
      ["label", "time", "note", "reviewer"].forEach(k => { if (d[k] !== undefined) s[k] = d[k]; });
      state[i] = s;
      onPage += 1;
    });
    DATA.cards.forEach(c => show(c.index));
    status.textContent = origin + ": " + doc.decisions.length + " decisions, " + onPage + " for cards on this page";
  }

  document.querySelectorAll(".card").forEach(el => {
    const i = Number(el.dataset.index);
    el.querySelectorAll("button[data-action]").forEach(b => b.addEventListener("click", () => decide(i, b.dataset.action)));
  });
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("load").addEventListener("change", ev => {
    const f = ev.target.files[0];
    if (!f) return;
    const reader = new FileReader();
    reader.onload = () => {
      try { load(JSON.parse(reader.result), f.name); }
      catch (e) { status.textContent = f.name + ": not valid JSON (" + e.message + ")"; }
    };
    reader.readAsText(f);
    ev.target.value = "";  // choosing the same file again loads it again
  });
  if (DATA.preloaded) { load(DATA.preloaded, DATA.preloaded_name || "earlier decisions"); }
  DATA.cards.forEach(c => show(c.index));
})();
"""


def _json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element (no '<', '>' or '&' characters)."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _card_html(card: Card, names: list[str], esc=html.escape) -> str:
    span = "whole recording" if card.start is None else (
        f"frames {card.start}:{card.end} ({card.start / card.fs:.2f}-{card.end / card.fs:.2f} s)")
    label_text = ", ".join(f"{n} ({k})" for n, k in card.labels.items()) or "unlabelled"
    options = "".join(f'<option value="{esc(n)}"{" selected" if n == card.label else ""}>{esc(n)}</option>'
                      for n in names)
    img = (f'<img src="{esc(card.image)}" alt="poses and acceleration of {esc(card.recording)}" loading="lazy">'
           if card.image else "")
    note = f'<div class="note">{esc(card.note)}</div>' if card.note else ""
    window = f" &middot; window label <b>{esc(card.window_label)}</b>" if card.window_label is not None else ""
    return f"""
<section class="card" id="card-{card.index}" data-index="{card.index}">
  <h2>{esc(card.source)}/{esc(card.recording)}</h2>
  <div class="meta">{esc(span)} &middot; {card.fs:g} Hz &middot; labels: <span class="labels">{esc(label_text)}</span>{window}</div>
  {img}{note}
  <div class="actions">
    <button type="button" data-action="accept">accept</button>
    <select class="relabel" aria-label="new label">{options}</select>
    <button type="button" data-action="relabel">relabel</button>
    <button type="button" data-action="reject">reject</button>
    <button type="button" data-action="clear">clear</button>
    <span class="decision">no decision</span>
  </div>
</section>"""


def review_html(cards: list[Card], space: LabelSpace, title: str = "virtimu label review",
                preloaded: Overrides | None = None, save_name: str = "overrides.json") -> str:
    """The whole page as a string (see the module docstring)."""
    names = list(space.names)
    data = {
        "version": OVERRIDES_VERSION,
        "label_space": space.name,
        "save_name": save_name,
        "cards": [{"index": c.index, "source": c.source, "recording": c.recording, "start": c.start, "end": c.end}
                  for c in cards],
        "preloaded": preloaded.to_dict() if preloaded is not None else None,
        "preloaded_name": preloaded.path if preloaded is not None else None,
    }
    esc = html.escape
    body = "".join(_card_html(c, names) for c in cards) or "<p>No recordings match.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
  <h1>{esc(title)}</h1>
  <div class="tools">
    <span>label space <b>{esc(space.name)}</b></span>
    <label>reviewer <input id="reviewer" type="text" size="12"></label>
    <label>load overrides <input id="load" type="file" accept=".json,application/json"></label>
    <button type="button" id="save">save overrides</button>
    <span id="counts"></span>
  </div>
  <div id="status"></div>
  <details><summary>overrides JSON (also downloaded on save)</summary>
    <textarea id="overrides-json" rows="8" cols="100" readonly></textarea></details>
</header>
<main>{body}
</main>
<script type="application/json" id="review-data">{_json_for_script(data)}</script>
<script>{_JS}</script>
</body>
</html>
"""
