// The ops dashboard page: live events and counters over server-sent events, the organizations'
// health, and the provisioning log search. Plain ES module, no build step; every value from the
// server is put on the page as text (never as HTML).
import uPlot from "./vendor/uPlot.esm.js";

const app = document.getElementById("app");
const isOperator = app.dataset.scope === "operator";
const MAX_EVENTS = 200;
const orgNames = new Map();
const seen = new Set();
let events = [];
let chart = null;
let lastEventId = "";

document.body.classList.add(isOperator ? "operator" : "organization");

// -- small helpers --------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP, unlike style=""
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

function timeOf(text) {
  if (!text) return "";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleTimeString([], { hour12: false }) + "." + String(date.getMilliseconds()).padStart(3, "0");
}

function dateTimeOf(text) {
  if (!text) return "—";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString([], { hour12: false });
}

function agoOf(text) {
  if (!text) return "never";
  const seconds = Math.max(0, (Date.now() - new Date(text).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

function orgLabel(orgId) {
  return orgNames.get(orgId) || (orgId ? orgId.slice(0, 10) + "…" : "—");
}

function resourceOf(item) {
  const name = item.resource_name;
  const kind = item.resource_type || "";
  const id = item.resource_id || "";
  return [kind, name || (id ? id.slice(0, 12) : "")].filter(Boolean).join(" ");
}

// The provisioning log's words for an audit event's outcome (domain/provisioning_log.py outcome_of).
function logOutcome(event) {
  if (event.outcome === "success") return (event.detail || {}).unchanged ? "unchanged" : "applied";
  if (event.outcome === "failure") return "rejected";
  return event.outcome;
}

function pill(outcome) {
  return el("span", { class: `pill ${outcome || "unknown"}`, text: outcome || "?" });
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) {
    window.location.assign("/dashboard/signin");
    throw new Error("signed out");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

// -- tiles ----------------------------------------------------------------------------------

const tiles = {};
function tile(key, label, hint) {
  const value = el("div", { class: "value", text: "—" });
  const node = el("div", { class: "tile", id: `tile-${key}`, title: hint }, el("div", { class: "label", text: label }), value);
  document.getElementById("tiles").append(node);
  tiles[key] = { node, value };
}
tile("writes", "Writes this minute", "SCIM and management writes since the minute began");
tile("errors", "Errors this minute", "Rejected, expired and refused requests since the minute began");
if (isOperator) {
  tile("queue", "Queue depth", "Commands waiting for a worker");
  tile("oldest", "Oldest queued", "Age of the oldest waiting command");
  tile("outbox", "Outbox lag", "Audit events committed but not yet on the stream");
  tile("workers", "Live workers", "Workers with a fresh heartbeat");
  tile("dead", "Dead letters", "Commands given up on");
}

function setTile(key, text, state = "") {
  const t = tiles[key];
  if (!t) return;
  t.value.textContent = text;
  t.node.className = `tile ${state}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 1 ? `${Math.round(value * 1000)} ms` : value < 120 ? `${value.toFixed(1)} s` : `${Math.round(value / 60)} min`;
}

function showOps(ops) {
  if (!ops) return;
  if (ops.error) {
    for (const key of ["queue", "oldest", "outbox", "workers", "dead"]) setTile(key, "?", "warn");
    return;
  }
  setTile("queue", String(ops.queue_depth ?? "—"), ops.queue_depth > 1000 ? "warn" : "");
  setTile("oldest", seconds(ops.oldest_queued_seconds), ops.oldest_queued_seconds > 10 ? "bad" : "");
  const lag = ops.outbox_lag_seconds;
  setTile("outbox", seconds(lag), lag > 5 ? "bad" : "");
  tiles.outbox.node.title = `${ops.outbox_pending ?? "?"} audit events committed, not yet on the stream`;
  setTile("workers", String(ops.live_workers ?? "—"), ops.live_workers === 0 ? "bad" : "good");
  setTile("dead", String(ops.dead_letters ?? "—"), ops.dead_letters > 0 ? "warn" : "");
}

// -- activity: chart and bars -----------------------------------------------------------------

let lastActivity = null;

function showActivity(activity) {
  if (!activity) return;
  lastActivity = activity;
  const n = activity.minutes.length;
  setTile("writes", String(activity.writes[n - 1] ?? 0));
  setTile("errors", String(activity.errors[n - 1] ?? 0), activity.errors[n - 1] > 0 ? "bad" : "");
  const data = [activity.minutes, activity.writes, activity.errors];
  const box = document.getElementById("chart");
  if (!chart) {
    chart = new uPlot({
      width: Math.max(320, box.clientWidth - 8), height: 220,
      scales: { x: { time: true } },
      series: [{}, { label: "writes", stroke: "#2563eb", fill: "rgba(37,99,235,0.12)", width: 2 },
               { label: "errors", stroke: "#dc2626", fill: "rgba(220,38,38,0.12)", width: 2 }],
      axes: [{}, { size: 50 }],
    }, data, box);
    window.addEventListener("resize", () => chart.setSize({ width: Math.max(320, box.clientWidth - 8), height: 220 }));
  } else {
    chart.setData(data);
  }
  bars("idps", activity.idps, (name) => name || "unknown");
  if (isOperator) bars("busy", activity.orgs.filter((row) => row[0]), (name) => orgLabel(name));
}

function bars(id, rows, label) {
  const box = document.getElementById(id);
  box.replaceChildren();
  if (!rows || rows.length === 0) {
    box.append(el("p", { class: "muted", text: "No activity in the last hour" }));
    return;
  }
  const top = Math.max(...rows.map((r) => r[1] + r[2]), 1);
  for (const [name, writes, errors] of rows) {
    const bar = el("div", { class: "bar" },
      el("span", { class: "ok", style: { width: `${(100 * writes) / top}%` } }),
      el("span", { class: "err", style: { width: `${(100 * errors) / top}%` } }));
    box.append(el("div", { class: "bar-row" }, el("span", { class: "bar-name", text: label(name), title: name }), bar,
      el("span", { class: "bar-count", text: `${writes} / ${errors}` })));
  }
}

// -- latest events ------------------------------------------------------------------------------

function addEvents(list, reset) {
  if (reset) { events = []; seen.clear(); }
  for (const event of list) {
    if (seen.has(event.event_id)) continue;
    seen.add(event.event_id);
    events.push(event);
  }
  events.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  for (const dropped of events.splice(MAX_EVENTS)) seen.delete(dropped.event_id);
  renderEvents();
}

function renderEvents() {
  const body = document.querySelector("#events tbody");
  body.replaceChildren(...events.map((event) => el("tr", { class: "clickable", "data-event-id": event.event_id, onclick: () => showEvent(event) },
    el("td", { class: "mono", text: timeOf(event.time) }),
    el("td", { text: orgLabel(event.org_id), title: event.org_id || "" }),
    el("td", { text: event.idp || "" }),
    el("td", { class: "mono", text: event.action }),
    el("td", {}, pill(logOutcome(event)), event.status ? ` ${event.status}` : ""),
    el("td", { text: resourceOf(event) }),
    el("td", { class: "mono small", text: event.request_id || "" }))));
  if (events.length === 0) body.append(el("tr", {}, el("td", { colspan: "7", class: "muted", text: "Waiting for events…" })));
}

// -- the detail panel -------------------------------------------------------------------------

function definition(rows) {
  const list = el("dl");
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", { text: term }), el("dd", {}, value instanceof Node ? value : String(value)));
  }
  return list;
}

function traceLink(label, field, value) {
  if (!value) return "";
  return el("span", {}, el("code", { text: value }), " ",
    el("button", { class: "link", text: `all with this ${label}`, onclick: () => searchFor({ [field]: value }) }));
}

function openDetail(title, ...parts) {
  const box = document.getElementById("detail-body");
  box.replaceChildren(el("h2", { text: title }), ...parts);
  document.getElementById("detail").hidden = false;
}

function showEvent(event) {
  const detail = event.detail || {};
  openDetail(`${event.action} · ${logOutcome(event)}`,
    definition([["Time", dateTimeOf(event.time)], ["Organization", `${orgLabel(event.org_id)} (${event.org_id || "—"})`],
      ["IdP", event.idp], ["HTTP status", event.status], ["Resource", resourceOf(event)], ["Resource id", event.resource_id],
      ["externalId", event.external_id], ["Changed", (event.changed || []).join(", ")], ["Error", detail.detail || detail.reason], ["SCIM error type", detail.scimType]]),
    el("h3", { text: "Trace" }),
    definition([["Request id", traceLink("request id", "request_id", event.request_id)],
      ["Command id", traceLink("command id", "command_id", event.command_id)], ["Event id", event.event_id],
      ["Queue wait", event.queue_wait_ms != null ? `${event.queue_wait_ms} ms` : ""],
      ["Apply time", event.apply_ms != null ? `${event.apply_ms} ms` : ""]]));
}

function show(value) {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function changedTable(entry) {
  const names = new Set([...(entry.changed || []), ...Object.keys(entry.newValues || {}), ...Object.keys(entry.oldValues || {})]);
  if (names.size === 0) return el("p", { class: "muted", text: "No attribute changed" });
  return el("table", { class: "changes" },
    el("thead", {}, el("tr", {}, el("th", { text: "Attribute" }), el("th", { text: "Old" }), el("th", { text: "New" }))),
    el("tbody", {}, ...[...names].map((name) => el("tr", {},
      el("td", { class: "mono", text: name }),
      el("td", { class: "mono", text: show((entry.oldValues || {})[name]) }),
      el("td", { class: "mono", text: show((entry.newValues || {})[name]) })))));
}

function entryResource(entry) {
  const r = entry.resource || {};
  return [r.type, r.name || (r.id ? r.id.slice(0, 12) : "")].filter(Boolean).join(" ");
}

function showEntry(entry) {
  const r = entry.resource || {};
  const error = entry.error || {};
  openDetail(entry.summary || `${entry.action} · ${entry.outcome}`,
    entry.suggestedFix ? el("p", { class: "fix" }, el("strong", { text: "What to do: " }), entry.suggestedFix) : "",
    definition([["Time", dateTimeOf(entry.time)], ["Organization", `${orgLabel(entry.orgId)} (${entry.orgId})`],
      ["Action", entry.action], ["Outcome", pill(entry.outcome)], ["HTTP status", entry.status], ["IdP", entry.idp],
      ["Resource", entryResource(entry)], ["Resource id", r.id], ["externalId", r.externalId],
      ["SCIM error type", error.scimType], ["Error", error.detail],
      ["Queue wait", entry.queueWaitMs != null ? `${entry.queueWaitMs} ms` : ""],
      ["Apply time", entry.applyMs != null ? `${entry.applyMs} ms` : ""]]),
    el("h3", { text: "Changed attributes" }), changedTable(entry),
    el("h3", { text: "Trace" }),
    definition([["Request id", traceLink("request id", "request_id", entry.requestId)],
      ["Command id", traceLink("command id", "command_id", entry.commandId)], ["Event id", entry.id],
      ["Token id", entry.tokenId]]));
}

document.getElementById("detail-close").addEventListener("click", () => { document.getElementById("detail").hidden = true; });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") document.getElementById("detail").hidden = true; });

// -- provisioning log search --------------------------------------------------------------------

const searchForm = document.getElementById("search");
let nextCursor = null;
let lastQuery = null;

function searchFor(fields) {
  for (const input of searchForm.elements) if (input.name) input.value = fields[input.name] ?? "";
  runSearch(false);
  searchForm.scrollIntoView({ behavior: "smooth" });
}

async function runSearch(more) {
  const note = document.getElementById("search-note");
  const body = document.querySelector("#results tbody");
  const params = more ? new URLSearchParams(lastQuery) : new URLSearchParams();
  if (!more) {
    for (const input of searchForm.elements) if (input.name && input.value.trim()) params.set(input.name, input.value.trim());
    lastQuery = params.toString();
    body.replaceChildren();
  } else if (nextCursor) {
    params.set("cursor", nextCursor);
  }
  note.textContent = "Searching…";
  try {
    const result = await getJSON(`/dashboard/api/log?${params}`);
    for (const entry of result.entries) {
      body.append(el("tr", { class: "clickable", onclick: () => showEntry(entry), "data-org-cell": entry.orgId },
        el("td", { class: "mono", text: dateTimeOf(entry.time) }),
        el("td", { text: orgLabel(entry.orgId), title: entry.orgId }),
        el("td", { class: "mono", text: entry.action }),
        el("td", {}, pill(entry.outcome)),
        el("td", { text: entryResource(entry) }),
        el("td", { text: entry.summary || "" })));
    }
    nextCursor = result.next_cursor;
    document.getElementById("results-more").hidden = !nextCursor;
    const count = body.children.length;
    note.textContent = count ? `${count} entr${count === 1 ? "y" : "ies"}, newest first` : "No entry matches";
  } catch (error) {
    note.textContent = `Search failed: ${error.message}`;
  }
}

searchForm.addEventListener("submit", (e) => { e.preventDefault(); runSearch(false); });
document.getElementById("results-more").addEventListener("click", () => runSearch(true));

// -- organization health -------------------------------------------------------------------------

// Operators: the recently active organizations first, then "All organizations" pages by id.
let healthCursor = null;
let healthAll = false;

function healthRow(org) {
  orgNames.set(org.org_id, org.name);
  return el("tr", { "data-org": org.org_id },
    el("td", {}, el("span", { class: `state ${org.state}`, text: org.state.replace("_", " ") })),
    el("td", { text: org.name, title: org.org_id }),
    el("td", { text: agoOf(org.last_contact), title: org.last_contact || "" }),
    el("td", { text: `${org.total_24h}${org.capped ? "+" : ""}` }),
    el("td", { text: `${org.failed_24h}${org.capped ? "+" : ""}` }),
    el("td", { text: `${(org.error_rate * 100).toFixed(1)} %` }),
    el("td", { class: "muted", text: org.reason }));
}

async function loadHealth(more) {
  const params = new URLSearchParams({ limit: "25" });
  if (!more) healthAll = false;
  if (isOperator && !more) params.set("recent", "1");
  if (more && healthCursor) params.set("after", healthCursor);
  let result;
  try {
    result = await getJSON(`/dashboard/api/orgs?${params}`);
  } catch (error) {
    return;
  }
  const body = document.querySelector("#health tbody");
  if (!more) body.replaceChildren();
  if (more && !healthAll) { body.replaceChildren(); healthAll = true; }
  for (const org of result.organizations) body.append(healthRow(org));
  if (!more && result.organizations.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: "7", class: "muted", text: "No IdP activity in the log yet" })));
  }
  healthCursor = result.next_cursor;
  // Names now known: show them where only ids were.
  if (lastActivity && isOperator) bars("busy", lastActivity.orgs.filter((row) => row[0]), (name) => orgLabel(name));
  for (const row of document.querySelectorAll("#results tbody tr[data-org-cell]")) {
    row.children[1].textContent = orgLabel(row.dataset.orgCell);
  }
  const button = document.getElementById("health-more");
  button.hidden = !isOperator || (healthAll && !healthCursor);
  button.textContent = healthAll ? "More organizations" : "All organizations";
  renderEvents();
}

let healthTimer = null;
function refreshHealthSoon() {
  // IdP news: the health lines are read again (at most every 5 s).
  if (healthTimer) return;
  healthTimer = setTimeout(() => { healthTimer = null; if (!healthAll) loadHealth(false); }, 5000);
}

document.getElementById("health-more").addEventListener("click", () => {
  if (!healthAll) healthCursor = null;
  loadHealth(true);
});

// -- the latest entries at load: from the provisioning log (indexed per organization), so an
// organization sees its own even when the stream's recent window is full of others' --------------

function entryToEvent(entry) {
  const r = entry.resource || {};
  const error = entry.error || {};
  return { event_id: entry.id, time: entry.time, org_id: entry.orgId, idp: entry.idp, action: entry.action,
    outcome: entry.outcome, status: entry.status, resource_type: r.type, resource_id: r.id, resource_name: r.name,
    external_id: r.externalId, request_id: entry.requestId, command_id: entry.commandId, changed: entry.changed,
    queue_wait_ms: entry.queueWaitMs, apply_ms: entry.applyMs,
    detail: { ...(entry.detail || {}), ...(error.detail ? { detail: error.detail } : {}), ...(error.scimType ? { scimType: error.scimType } : {}) } };
}

async function loadLatest() {
  try {
    const result = await getJSON("/dashboard/api/log?limit=50");
    addEvents(result.entries.map(entryToEvent), false);
  } catch (error) {
    // the stream's catch-up still shows what it has
  }
}

// -- the live stream -------------------------------------------------------------------------------

const live = document.getElementById("live");
let source = null;

function connect() {
  const url = lastEventId ? `/dashboard/events?last_event_id=${encodeURIComponent(lastEventId)}` : "/dashboard/events";
  source = new EventSource(url);
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("batch", (message) => {
    lastEventId = message.lastEventId || lastEventId;
    const batch = JSON.parse(message.data);
    addEvents(batch.events || [], batch.resync);
    if (batch.resync) loadLatest();
    if ((batch.events || []).some((e) => e.org_id && (isOperator ? e.action.startsWith("scim:") : true))) {
      refreshHealthSoon();
    }
    showActivity(batch.activity);
    if (isOperator) showOps(batch.ops);
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
    if (source.readyState === EventSource.CLOSED) {
      // The server refused (signed out, expired) or went away: ask once, then try again.
      getJSON("/dashboard/api/me").then(() => setTimeout(connect, 2000), () => {});
    }
  });
}

renderEvents();
connect();
loadLatest();
loadHealth(false);
setInterval(() => { if (!healthAll) loadHealth(false); }, 30000);
