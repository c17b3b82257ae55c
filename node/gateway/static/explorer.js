// swarmrank explorer: renders the gateway's /explorer/api/* JSON and its event stream.
//
// Everything a node or a candidate wrote is untrusted: it reaches the page only through
// text nodes (el() below turns strings into text nodes) and SVG attributes, never innerHTML.
// The event stream is read with fetch() rather than EventSource so that it can carry the API
// key in an Authorization header (EventSource cannot send headers).
"use strict";

const API = "/explorer/api";
const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORE = "swarmrank-explorer-key";
const state = { rounds: new Map(), members: [], history: {}, key: null };

try {
  state.key = window.sessionStorage.getItem(KEY_STORE);
} catch (e) {
  state.key = null;
}

// -- DOM helpers (text only) --------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-") || name === "title" || name === "href") {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function short(id) {
  return id ? String(id).slice(0, 12) : "–";
}

function fmt(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

// -- HTTP ------------------------------------------------------------------------------------

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.key) h.Authorization = "Bearer " + state.key;
  return h;
}

class KeyRequired extends Error {}

async function getJSON(path) {
  const reply = await fetch(API + path, { headers: headers() });
  if (reply.status === 401) {
    showKeyBar();
    throw new KeyRequired("an API key is needed");
  }
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error ? body.error.message : "HTTP " + reply.status);
  return body;
}

function showKeyBar() {
  document.getElementById("key-bar").hidden = false;
}

// -- overview and ledger ---------------------------------------------------------------------

function renderOverview(o) {
  setText("swarm-id", o.swarm_id || "–");
  setText("node-id", short(o.node_id));
  setText("height", o.height === null ? "–" : String(o.height));
  setText("head", o.head ? short(o.head) : "–");
  document.getElementById("head").title = o.head || "";
}

// -- rounds ----------------------------------------------------------------------------------

function strengthBar(cluster, lo, hi) {
  const width = 160;
  const height = 14;
  const x = (v) => (hi > lo ? ((v - lo) / (hi - lo)) * (width - 8) + 4 : width / 2);
  const [a, b] = cluster.interval;
  const s = svg("svg", { width, height, class: "bar", viewBox: `0 0 ${width} ${height}` });
  if (a !== null && b !== null) {
    s.append(svg("line", { x1: x(a), x2: x(b), y1: 7, y2: 7, class: "interval" }));
  }
  if (cluster.strength !== null) {
    s.append(svg("circle", { cx: x(cluster.strength), cy: 7, r: 4, class: "point" }));
  }
  return s;
}

function heatmap(matrix) {
  const n = matrix.length;
  const cell = 26;
  const pad = 22;
  const size = pad + n * cell;
  const s = svg("svg", { width: size, height: size, class: "heatmap", viewBox: `0 0 ${size} ${size}` });
  s.append(svg("title", {}, "row beats column: share of weighted wins"));
  for (let i = 0; i < n; i++) {
    s.append(svg("text", { x: pad - 6, y: pad + i * cell + cell / 2 + 4, class: "axis", "text-anchor": "end" }, "#" + i));
    s.append(svg("text", { x: pad + i * cell + cell / 2, y: pad - 6, class: "axis", "text-anchor": "middle" }, "#" + i));
    for (let j = 0; j < n; j++) {
      const wins = matrix[i][j];
      const total = wins + matrix[j][i];
      const share = total > 0 ? wins / total : null;
      const fill = share === null ? "#eee" : `rgb(${Math.round(229 - 153 * share)}, ${Math.round(115 + 60 * share)}, ${Math.round(115 - 35 * share)})`;
      const rect = svg("rect", { x: pad + j * cell, y: pad + i * cell, width: cell - 2, height: cell - 2, fill, class: "cell" });
      rect.append(svg("title", {}, `#${i} over #${j}: ${fmt(wins, 2)} of ${fmt(total, 2)}`));
      s.append(rect);
    }
  }
  return s;
}

function roundCard(r) {
  const card = el("article", { class: "round", "data-record-id": r.record_id });
  if (r.error) {
    card.append(el("p", { class: "error" }, `record ${short(r.record_id)}: ${r.error}`));
    return card;
  }
  const kind = el("span", { class: "badge " + r.kind }, r.kind);
  const sigs = r.signatures_valid
    ? el("span", { class: "badge ok" }, `${r.signatures.length} signatures valid`)
    : el("span", { class: "badge bad" }, "a signature does not verify");
  card.append(
    el("header", {},
      el("span", { class: "height" }, "#" + r.height), " ", kind, " ", sigs, " ",
      el("span", { class: "latency" }, r.latency_ms === null ? "" : `${r.latency_ms} ms`), " ",
      el("span", { class: "leader" }, "leader " + short(r.leader_id))),
    el("p", { class: "question" }, r.question || "(no question: a trust record)"),
    el("p", {}, "Answer: ", el("strong", { class: "answer" }, r.answer)),
  );
  if (r.gold) card.append(el("p", { class: "gold" }, `gold task ${r.gold.task_id}, known answer: ${r.gold.answer}`));
  if (r.consensus && r.consensus.rule === "calibrated") {
    const c = r.consensus;
    const how = c.judges_alone ? "the judges alone (gold shows the votes carry nothing more)"
      : c.judge_weight ? `the generators' vote plus the judges, judge weight ${fmt(c.judge_weight)}`
      : "the generators' vote, weighed by their gold records (the judges have not earned a weight)";
    card.append(el("p", { class: "consensus" }, "Decided by " + how + "."));
  }
  if (r.consensus && r.consensus.rule === "evidence") {
    const chances = (r.consensus.posterior || []).map((p, i) => `#${i} ${fmt(100 * p, 0)}%`).join(", ");
    card.append(el("p", { class: "consensus" },
      "Decided by the evidence reading: the votes, and each node's gold record and verdicts " +
      "once gold rounds have shown they help; " +
      "the chance each answer is right: " + chances + "."));
  }
  if (r.clusters.length) {
    const values = r.clusters.flatMap((c) => [c.strength, ...c.interval]).filter((v) => v !== null);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const ordered = [...r.clusters].sort((a, b) => (b.strength ?? -Infinity) - (a.strength ?? -Infinity));
    const rows = ordered.map((c) =>
      el("tr", { class: c.winner ? "winner" : "", "data-index": c.index },
        el("td", {}, "#" + c.index),
        el("td", { class: "candidate-text" }, c.answer),
        el("td", { class: "strength" }, fmt(c.strength)),
        el("td", {}, `[${fmt(c.interval[0], 2)}, ${fmt(c.interval[1], 2)}]`),
        el("td", {}, strengthBar(c, lo, hi)),
        el("td", {}, c.winner ? "winner" : c.tied_for_first ? "tied for first" : c.unjudged ? "unjudged" : ""),
        el("td", { class: "ids" }, c.generators.map((g) => `${short(g.node_id)} (${g.model})`).join(", "))));
    card.append(el("table", { class: "clusters" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "answer cluster"), el("th", {}, "strength"),
        el("th", {}, "interval"), el("th", {}, ""), el("th", {}, ""), el("th", {}, "generators"))),
      el("tbody", {}, ...rows)));
  }
  const details = el("details", {}, el("summary", {}, "win matrix, judges and signatures"));
  if (r.matrix.length > 1) details.append(heatmap(r.matrix));
  const judges = el("ul", { class: "judges" });
  for (const j of r.judges) {
    const verdicts = j.verdicts.map((v) => `#${v.a} vs #${v.b}: ${v.outcome}` + (v.confidence === null ? "" : ` (${fmt(v.confidence, 2)})`));
    judges.append(el("li", {}, `${short(j.node_id)} (weight ${fmt(j.weight, 2)}): ${verdicts.join("; ")}`));
  }
  details.append(judges);
  if (r.absent.length) details.append(el("p", {}, "absent: " + r.absent.map(short).join(", ")));
  details.append(signatureList(r.signatures));
  card.append(details);
  const link = el("a", { href: "#", class: "record-link" }, "record " + short(r.record_id));
  link.addEventListener("click", (event) => {
    event.preventDefault();
    showRecord(r.record_id);
  });
  card.append(el("footer", {}, link));
  return card;
}

function signatureList(signatures) {
  const list = el("ul", { class: "signatures" });
  for (const s of signatures) {
    list.append(el("li", { class: s.valid ? "ok" : "bad" },
      `${s.what} by ${short(s.signer)}: ${s.valid ? "valid" : "INVALID: " + s.reason}`));
  }
  return list;
}

function addRound(r) {
  if (state.rounds.has(r.record_id)) return;
  state.rounds.set(r.record_id, r);
  const container = document.getElementById("rounds");
  const cards = [...container.children];
  const card = roundCard(r);
  const later = cards.find((c) => (state.rounds.get(c.dataset.recordId) || {}).height < r.height);
  container.insertBefore(card, later || null);
  while (container.children.length > 50) {
    state.rounds.delete(container.lastElementChild.dataset.recordId);
    container.lastElementChild.remove();
  }
  document.getElementById("rounds-empty").hidden = true;
}

// -- members ---------------------------------------------------------------------------------

function renderMembers(data) {
  state.members = data.members;
  state.history = data.history;
  const body = document.querySelector("#members tbody");
  const withAddress = data.members.some((m) => "address" in m);
  document.getElementById("members").classList.toggle("no-address", !withAddress);
  body.replaceChildren(...data.members.map((m) =>
    el("tr", { "data-node-id": m.node_id },
      el("td", { class: "hash", title: m.node_id }, short(m.node_id)),
      el("td", {}, m.model),
      el("td", { class: "reputation" }, fmt(m.reputation)),
      el("td", {}, m.trust_status || "trust off"),
      el("td", {}, m.stake === null ? "–" : fmt(m.stake, 1)),
      el("td", { class: m.alive ? "alive" : "dead" }, m.alive ? `alive (${fmt(m.last_seen_s, 1)} s)` : "silent"),
      el("td", { class: "address-col" }, m.address || ""))));
  renderChart(data.history);
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function renderChart(history) {
  const box = document.getElementById("reputation-chart");
  const series = Object.entries(history).filter(([, points]) => points.length);
  if (!series.length) {
    box.replaceChildren(el("p", {}, "No reputation data yet."));
    return;
  }
  const width = 640;
  const height = 220;
  const m = { l: 44, r: 10, t: 10, b: 26 };
  const xs = series.flatMap(([, p]) => p.map((q) => q[0]));
  const ys = series.flatMap(([, p]) => p.map((q) => q[1]));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (width - m.l - m.r);
  const Y = (y) => height - m.b - ((y - y0) / (y1 - y0)) * (height - m.t - m.b);
  const s = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "line-chart" });
  s.append(svg("line", { x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b, class: "axis-line" }));
  s.append(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: height - m.b, class: "axis-line" }));
  for (const [v, label] of [[y0, fmt(y0, 2)], [y1, fmt(y1, 2)]]) {
    s.append(svg("text", { x: m.l - 4, y: Y(v) + 4, class: "axis", "text-anchor": "end" }, label));
  }
  for (const v of [x0, x1]) {
    s.append(svg("text", { x: X(v), y: height - 8, class: "axis", "text-anchor": "middle" }, "h" + Math.round(v)));
  }
  series.forEach(([nodeId, points], i) => {
    const color = PALETTE[i % PALETTE.length];
    const line = svg("polyline", { points: points.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), fill: "none", stroke: color, "stroke-width": 2 });
    line.append(svg("title", {}, nodeId));
    s.append(line);
    const last = points[points.length - 1];
    s.append(svg("circle", { cx: X(last[0]), cy: Y(last[1]), r: 3, fill: color }));
  });
  const legend = el("ul", { class: "legend" });
  series.forEach(([nodeId], i) => {
    const swatch = svg("svg", { width: 10, height: 10 }, svg("rect", { width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }));
    legend.append(el("li", {}, swatch, " " + short(nodeId)));
  });
  box.replaceChildren(s, legend);
}

// -- ledger record lookup --------------------------------------------------------------------

async function showRecord(recordId) {
  const box = document.getElementById("record");
  document.getElementById("record-input").value = recordId;
  try {
    const r = await getJSON("/records/" + encodeURIComponent(recordId));
    const holder = r.ledger && r.ledger.held_by ? short(r.ledger.held_by) : "a node";
    box.replaceChildren(
      el("p", { class: "verified" }, `In the ledger of ${holder} (${r.ledger.note}).`),
      roundCard(r));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

// -- ask box -----------------------------------------------------------------------------------

async function ask(question) {
  const result = document.getElementById("ask-result");
  const button = document.getElementById("ask-button");
  button.disabled = true;
  result.textContent = "The swarm is answering…";
  try {
    const reply = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: "swarmrank-consensus", messages: [{ role: "user", content: question }] }),
    });
    const body = await reply.json();
    if (reply.status === 401) showKeyBar();
    if (!reply.ok) throw new Error(body.error ? body.error.message : "HTTP " + reply.status);
    result.replaceChildren("Answer: ", el("strong", { class: "answer" }, body.choices[0].message.content),
      ` (record ${short(body.swarmrank.record_id)})`);
  } catch (e) {
    result.textContent = "Error: " + e.message;
  } finally {
    button.disabled = false;
  }
}

// -- event stream ------------------------------------------------------------------------------

const HANDLERS = {
  hello: renderOverview,
  ledger: renderOverview,
  round: addRound,
  members: renderMembers,
};

async function listen() {
  let delay = 500;
  for (;;) {
    const live = document.getElementById("live");
    try {
      const reply = await fetch(API + "/events", { headers: headers({ Accept: "text/event-stream" }) });
      if (reply.status === 401) {
        showKeyBar();
        live.textContent = "needs a key";
        return;
      }
      if (!reply.ok || !reply.body) throw new Error("HTTP " + reply.status);
      live.textContent = "live";
      live.className = "state live";
      delay = 500;
      await loadAll();
      const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) {
      if (e instanceof KeyRequired) return;
    }
    live.textContent = "reconnecting";
    live.className = "state";
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function dispatch(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  const handler = HANDLERS[name];
  if (handler && data.length) handler(JSON.parse(data.join("\n")));
}

async function loadAll() {
  const [overview, members, rounds] = await Promise.all([
    getJSON("/overview"), getJSON("/members"), getJSON("/rounds")]);
  renderOverview(overview);
  renderMembers(members);
  for (const r of [...rounds.rounds].reverse()) addRound(r);
}

// -- start -------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = document.getElementById("key-input").value.trim() || null;
    try {
      if (state.key) window.sessionStorage.setItem(KEY_STORE, state.key);
    } catch (e) {
      // storage refused (private mode): the key lives for this page only
    }
    document.getElementById("key-bar").hidden = true;
    listen();
  });
  document.getElementById("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = document.getElementById("ask-input").value.trim();
    if (question) ask(question);
  });
  document.getElementById("record-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = document.getElementById("record-input").value.trim();
    if (id) showRecord(id);
  });
  listen();
});
