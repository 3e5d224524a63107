// Tidemark dashboard: polls the processor's JSON API every two seconds and
// renders it. No libraries: the page must work without network access
// beyond this processor.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function ms(ns) {
  if (ns === undefined || ns === null) return "–";
  const m = ns / 1e6;
  if (m < 1000) return m.toFixed(m < 10 ? 1 : 0) + " ms";
  return (m / 1000).toFixed(2) + " s";
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function when(t) {
  if (!t || t.startsWith("0001-")) return "–";
  const d = new Date(t);
  return d.toLocaleTimeString() + " (" + ago(d) + ")";
}

function ago(d) {
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 60) return s.toFixed(0) + " s ago";
  if (s < 3600) return (s / 60).toFixed(0) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, body };
}

function renderJob(st) {
  if (st.job && $("job-name").textContent !== st.job) {
    $("job-name").textContent = st.job;
    document.title = st.job + " · Tidemark";
  }
  const s = $("state");
  s.textContent = st.state;
  s.dataset.state = st.state;
  const r = $("ready");
  r.textContent = st.ready ? "ready" : "not ready";
  r.className = "badge " + (st.ready ? "ok" : "bad");
  $("reason").textContent = st.ready ? "" : (st.reason || "");
  $("attempts").textContent = st.attempt + " / " + st.restarts;
  renderRestore(st.last_restore);
  return st.recent_failures || [];
}

function renderRestore(rs) {
  const dl = $("restore");
  dl.replaceChildren();
  const row = (k, v) => { dl.append(el("dt", {}, k), el("dd", {}, v)); };
  if (!rs) { row("restore", "none yet"); return; }
  if (rs.checkpoint) {
    row("checkpoint", String(rs.checkpoint) + (rs.savepoint ? " (savepoint " + rs.savepoint + ")" : ""));
  } else {
    row("checkpoint", "none: started fresh");
  }
  if (rs.origin) row("lineage", rs.origin);
  if (rs.checkpoint_completed_at) row("checkpoint completed", when(rs.checkpoint_completed_at));
  row("state size", bytes(rs.state_size));
  row("started", when(rs.started_at));
  row("took", rs.done ? ms(rs.duration_ns) : "in progress (" + ms(rs.duration_ns) + ")");
  row("attempt", String(rs.attempt));
}

function renderFailures(attempts, history) {
  const items = [];
  for (const f of attempts) {
    items.push({ at: f.at, text: "attempt " + f.attempt + " failed (" + f.class + "): " + f.error });
  }
  for (const c of history) {
    if (c.status === "failed") {
      items.push({ at: c.triggered_at, text: "checkpoint " + c.id + " failed: " + (c.failure_reason || "no reason given") });
    }
  }
  items.sort((a, b) => (a.at < b.at ? 1 : -1));
  const ul = $("failures");
  ul.replaceChildren();
  if (items.length === 0) { ul.append(el("li", { class: "muted" }, "none")); return; }
  for (const it of items.slice(0, 20)) {
    const li = el("li", { class: "failure" });
    li.append(el("span", { class: "when" }, when(it.at)), document.createTextNode(it.text));
    ul.append(li);
  }
}

function renderCheckpoints(resp) {
  $("completed-count").textContent = resp.counts.completed;
  $("failed-count").textContent = resp.counts.failed;
  const latest = resp.latest_completed;
  $("last-completed").textContent = latest ? "#" + latest.id + ", " + ago(new Date(latest.triggered_at)) : "none yet";
  const tbody = $("checkpoints").tBodies[0];
  tbody.replaceChildren();
  for (const c of resp.history) {
    const tr = el("tr", { "data-status": c.status, "data-id": String(c.id) });
    const note = c.failure_reason || (c.savepoint ? "savepoint " + c.savepoint : "") + (c.unaligned ? " unaligned" : "");
    const done = c.status !== "in_progress";
    const d = ns => (done ? ms(ns) : "…");
    for (const [v, cls] of [[String(c.id)], [c.status.replace("_", " ")], [when(c.triggered_at)], [d(c.duration_ns)],
      [d(c.sync_duration_ns)], [d(c.async_duration_ns)], [d(c.alignment_duration_ns)], [done ? bytes(c.state_size) : "…"],
      [done ? bytes(c.bytes_uploaded) : "…"], [done ? c.files_uploaded + " / " + c.files_reused : "…"], [note, "note"]]) {
      tr.append(el("td", cls ? { class: cls } : {}, v));
    }
    tbody.append(tr);
  }
  const oldestFirst = resp.history.slice().reverse();
  barChart($("chart-duration"), oldestFirst, c => c.duration_ns / 1e6, null);
  barChart($("chart-size"), oldestFirst.filter(c => c.status === "completed"), c => c.state_size, c => c.bytes_uploaded);
}

// barChart draws one bar per checkpoint (value of bar) and, if line is
// given, a line over the same scale.
function barChart(svg, items, bar, line) {
  svg.replaceChildren();
  const W = svg.clientWidth || 600, H = svg.clientHeight || 180, pad = 28;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  if (items.length === 0) {
    const t = svgEl("text", { x: pad, y: H / 2 });
    t.textContent = "no checkpoints yet";
    svg.append(t);
    return;
  }
  let top = 0;
  for (const it of items) top = Math.max(top, bar(it) || 0, line ? line(it) || 0 : 0);
  if (top <= 0) top = 1;
  const w = (W - pad) / items.length;
  const y = v => H - pad / 2 - (v / top) * (H - pad);
  svg.append(svgEl("line", { class: "axis", x1: pad, y1: H - pad / 2, x2: W, y2: H - pad / 2 }));
  const label = svgEl("text", { x: 2, y: 10 });
  label.textContent = line ? bytes(top) : top.toFixed(0);
  svg.append(label);
  items.forEach((it, i) => {
    const v = bar(it) || 0;
    const r = svgEl("rect", {
      class: "bar " + it.status, x: pad + i * w + 1, width: Math.max(1, w - 2),
      y: y(v), height: Math.max(1, H - pad / 2 - y(v)), "data-id": String(it.id),
    });
    const title = svgEl("title", {});
    title.textContent = "#" + it.id + ": " + (line ? bytes(v) + " state, " + bytes(line(it)) + " uploaded" : v.toFixed(1) + " ms");
    r.append(title);
    svg.append(r);
  });
  if (line) {
    const pts = items.map((it, i) => (pad + i * w + w / 2).toFixed(1) + "," + y(line(it) || 0).toFixed(1));
    svg.append(svgEl("polyline", { class: "line", points: pts.join(" ") }));
  }
}

function renderSources(resp) {
  const tbody = $("sources").tBodies[0];
  tbody.replaceChildren();
  const fmt = v => (v === undefined || v === null ? "–" : String(v));
  for (const s of resp.sources) {
    for (const p of s.partitions) {
      const tr = el("tr", { "data-topic": p.topic, "data-partition": String(p.partition) });
      for (const v of [s.name || "source", p.topic, String(p.partition), String(p.offset), fmt(p.end_offset), fmt(p.lag),
        p.rate === undefined || p.rate === null ? "–" : p.rate.toFixed(1)]) {
        tr.append(el("td", {}, v));
      }
      tbody.append(tr);
    }
    const total = el("tr", { class: "total" });
    for (const v of [(s.name || "source") + " total", "", "", "", "", fmt(s.lag), s.rate === undefined || s.rate === null ? "–" : s.rate.toFixed(1)]) {
      total.append(el("td", {}, v));
    }
    tbody.append(total);
  }
  $("sources-error").textContent = resp.end_offsets_error ? "end offsets unavailable: " + resp.end_offsets_error : "";
  if (resp.sources.length === 0) {
    $("sources-error").textContent = "no completed checkpoint yet";
  }
}

async function refresh() {
  const problems = [];
  let attemptFailures = [];
  let history = [];
  try {
    const job = await getJSON("api/v1/job");
    if (job.ok) attemptFailures = renderJob(job.body);
    else problems.push("job: " + (job.body.error || job.status));
    const ck = await getJSON("api/v1/checkpoints");
    if (ck.ok) { renderCheckpoints(ck.body); history = ck.body.history; }
    else problems.push("checkpoints: " + (ck.body.error || ck.status));
    const src = await getJSON("api/v1/sources");
    if (src.ok) renderSources(src.body);
    else problems.push("sources: " + (src.body.error || src.status));
    renderFailures(attemptFailures, history);
  } catch (e) {
    problems.push("the processor does not answer: " + e);
  }
  const banner = $("error");
  banner.hidden = problems.length === 0;
  banner.textContent = problems.join("; ");
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}

async function loop() {
  await refresh();
  setTimeout(loop, POLL_MS);
}

loop();
