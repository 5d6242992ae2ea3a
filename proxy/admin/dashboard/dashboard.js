// keel's dashboard: reads and steers pools through the admin API only (the same
// routes scripts use), so it shows nothing the API would not, and needs the token
// whenever the API does. No framework, no CDN: served by keel itself.
"use strict";

// Every 2 s, or as the page's address says: /?refresh=0.5 (seconds, at least 0.2).
const REFRESH_MS = (() => {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return asked >= 0.2 ? asked * 1000 : 2000;
})();
const TOKEN_KEY = "keel.admin_token";  // sessionStorage: this tab only, gone with it

const $ = (id) => document.getElementById(id);
const state = {
  previous: null,      // {at, totals: Map key -> requests, errors: Map key -> errors, unserved: Map pool -> n}
  sections: new Map(),  // pool name -> its <section>, built once so the add forms keep their input
  timer: null,
  generation: 0,        // the latest refresh; an older one still in flight stops quietly
};

class Unauthorized extends Error {}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// One admin API call; throws Unauthorized on 401 and Error(message) on other failures.
async function api(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new Unauthorized();
  const text = await response.text();
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = JSON.parse(text).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return text;
}

const getJson = async (path) => JSON.parse(await api("GET", path));

// keel_requests_total and keel_upstream_connect_failures_total from /metrics: per
// backend, the responses with a 5xx status plus failed connects; per pool, what keel
// answered itself without a backend (503 no backend, 502 unreachable).
function parseErrors(text) {
  const byBackend = new Map();
  const unserved = new Map();
  const line = /^(keel_requests_total|keel_upstream_connect_failures_total)\{([^}]*)\} (\S+)$/;
  const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  for (const row of text.split("\n")) {
    const m = line.exec(row);
    if (!m) continue;
    const labels = {};
    for (const l of m[2].matchAll(label)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    const value = Number(m[3]);
    const isError = m[1] === "keel_upstream_connect_failures_total" || /^5/.test(labels.code || "");
    if (!isError || !Number.isFinite(value)) continue;
    if (m[1] === "keel_requests_total" && labels.backend === "") {
      unserved.set(labels.pool, (unserved.get(labels.pool) || 0) + value);
    } else {
      const key = labels.pool + " " + labels.backend;
      byBackend.set(key, (byBackend.get(key) || 0) + value);
    }
  }
  return { byBackend, unserved };
}

function rate(now, before, key, seconds) {
  if (!before || !before.has(key) || seconds <= 0) return null;
  return Math.max(0, (now.get(key) - before.get(key)) / seconds);
}

function formatRate(value) {
  if (value === null) return "–";
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) if (child !== null && child !== undefined)
    node.append(child instanceof Node ? child : String(child));
  return node;
}

function badge(text, kind) { return el("span", { className: "badge " + (kind || text) }, text); }

function localTime(iso) {
  const t = new Date(iso);
  return isNaN(t) ? iso : t.toLocaleTimeString();
}

// Why the backend is (or is not) taking traffic, in one cell.
function healthCell(backend) {
  const cell = el("td", { className: "health" }, badge(backend.health));
  const check = backend.check;
  if (check) {
    const text = (check.result === "pass" ? "passed" : "failed") + ": " + check.detail +
      " (" + check.consecutive + " in a row, " + check.latency_ms + " ms, at " + localTime(check.last) + ")";
    cell.append(el("span", { className: "reason" + (check.result === "fail" ? " bad" : "") }, text));
  } else if (backend.health === "unknown") {
    cell.append(el("span", { className: "reason" }, "no check completed yet"));
  }
  if (backend.ejected) {
    cell.append(" ", badge("ejected"));
    cell.append(el("span", { className: "reason bad ejected-reason" },
      "passive checks: " + backend.ejected.reason + ", until " + localTime(backend.ejected.until)));
  }
  return cell;
}

function backendPath(pool, address) {
  return "/api/v1/pools/" + encodeURIComponent(pool) + "/backends/" + encodeURIComponent(address);
}

// A row is built once per backend and updated in place on every refresh, so a
// button under the pointer is never swapped for a copy between press and release.
function backendRow(pool, address) {
  const row = el("tr", {});
  row.dataset.backend = address;
  const cells = {};
  for (const [name, num] of [["address"], ["weight", 1], ["state"], ["health"], ["in-flight", 1],
                             ["rate", 1], ["errors", 1], ["actions"]]) {
    cells[name] = el("td", { className: name + (num ? " num" : "") });
    row.append(cells[name]);
  }
  cells.address.append(el("code", {}, address));
  const path = backendPath(pool, address);
  // Drain and Activate are one button whose meaning follows the backend's state.
  const toggle = el("button", { type: "button" });
  toggle.addEventListener("click", () => change(() =>
    api("PATCH", path, { state: toggle.classList.contains("drain") ? "draining" : "active" })));
  const remove = el("button", { type: "button", className: "remove danger", title: "drain, then remove from the pool" },
                    "Remove");
  remove.addEventListener("click", () => change(() => {
    if (!confirm("Remove " + address + " from pool " + pool + "?")) return null;
    return api("DELETE", path);
  }));
  cells.actions.append(toggle, " ", remove);
  return { row, cells, toggle };
}

function updateRow(view, backend, rates) {
  const { cells, toggle } = view;
  cells.weight.textContent = backend.weight;
  cells.state.replaceChildren(badge(backend.state));
  cells.health.replaceWith(cells.health = healthCell(backend));
  cells["in-flight"].textContent = backend.active_requests;
  cells.rate.textContent = formatRate(rates.requests);
  cells.rate.title = backend.total_requests + " requests in all";
  cells.errors.textContent = formatRate(rates.errors);
  cells.errors.classList.toggle("nonzero", Boolean(rates.errors));
  const drain = backend.state === "active";
  toggle.className = drain ? "drain" : "activate";
  toggle.textContent = drain ? "Drain" : "Activate";
  toggle.title = drain ? "no new requests; in-flight ones finish" : "take traffic again";
}

function addForm(pool) {
  const form = el("form", { className: "add" });
  const address = el("input", { name: "address", placeholder: "127.0.0.1:8083", required: true });
  const weight = el("input", { name: "weight", type: "number", min: 1, max: 1000, value: 1 });
  form.append("Add a backend:", address, el("label", {}, "weight ", weight), el("button", { type: "submit" }, "Add"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    change(async () => {
      await api("POST", "/api/v1/pools/" + encodeURIComponent(pool) + "/backends",
                { address: address.value.trim(), weight: Number(weight.value) || 1 });
      address.value = "";
    });
  });
  return form;
}

// Makes `nodes` the children of `parent`, moving only what is out of place: nodes
// already in order stay put (a click on them is not lost to a re-insertion).
function placeInOrder(parent, nodes) {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  while (parent.children.length > nodes.length) parent.lastChild.remove();
}

function section(pool) {
  let view = state.sections.get(pool);
  if (view) return view;
  const node = el("section", { className: "pool" });
  node.dataset.pool = pool;
  const head = el("div", { className: "pool-head" });
  const empty = el("p", { className: "empty" }, "No backends.");
  const header = el("tr", {});
  for (const [text, num] of [["Backend"], ["Weight", 1], ["State"], ["Health"], ["In flight", 1],
                             ["Req/s", 1], ["Errors/s", 1], [""]])
    header.append(el("th", { className: num ? "num" : "" }, text));
  const rows = el("tbody", {});
  const table = el("table", {}, el("thead", {}, header), rows);
  node.append(head, empty, table, addForm(pool));
  view = { node, head, empty, table, rows, backends: new Map() };
  state.sections.set(pool, view);
  return view;
}

function renderPool(pool, autoscale, rates) {
  const view = section(pool.name);
  const facts = [pool.backends.length + " backend" + (pool.backends.length === 1 ? "" : "s"), pool.balance];
  const unserved = rates.unserved(pool.name);
  if (unserved) facts.push(formatRate(unserved) + "/s answered by keel with an error (no usable backend)");
  const scale = el("span", { className: "autoscale" });
  if (autoscale) {
    scale.append("autoscale: ", el("b", {}, autoscale.current), " current, ", el("b", {}, autoscale.desired),
      " desired, mode ", el("b", {}, autoscale.mode), ", concurrency " + Number(autoscale.observed_concurrency).toFixed(1));
  }
  view.head.replaceChildren(el("h2", {}, pool.name), el("span", { className: "facts" }, facts.join(" · ")), scale);

  view.empty.hidden = pool.backends.length > 0;
  view.table.hidden = pool.backends.length === 0;
  const ordered = [];
  for (const backend of pool.backends) {
    let row = view.backends.get(backend.address);
    if (!row) view.backends.set(backend.address, row = backendRow(pool.name, backend.address));
    updateRow(row, backend, rates.of(pool.name, backend));
    ordered.push(row.row);
  }
  for (const address of [...view.backends.keys()])
    if (!pool.backends.some((backend) => backend.address === address)) view.backends.delete(address);
  placeInOrder(view.rows, ordered);
  return view.node;
}

function showMessage(text, ok) {
  const message = $("message");
  message.textContent = text;
  message.className = "message" + (ok ? " ok" : "");
  message.hidden = !text;
}

function askForToken(wrong) {
  clearTimeout(state.timer);
  state.generation++;
  $("token-form").hidden = false;
  $("token-error").textContent = wrong ? "That token was refused." : "";
  $("pools").replaceChildren();
  state.sections.clear();
  $("status").textContent = "admin token needed";
  $("status").className = "status down";
  $("token").focus();
}

// Runs a change, then refreshes at once so the result shows without waiting.
async function change(action) {
  try {
    const done = action();
    if (done === null) return;
    await done;
    showMessage("");
  } catch (error) {
    if (error instanceof Unauthorized) return askForToken(true);
    showMessage("Refused: " + error.message);
  }
  refresh();
}

async function refresh() {
  clearTimeout(state.timer);
  const generation = ++state.generation;
  try {
    const [list, metrics] = await Promise.all([getJson("/api/v1/pools"), api("GET", "/metrics")]);
    const scales = await Promise.all(list.pools.map((pool) =>
      getJson("/api/v1/pools/" + encodeURIComponent(pool.name) + "/autoscale").catch((e) => {
        if (e instanceof Unauthorized) throw e;
        return null;  // 404: the pool is not autoscaled
      })));
    if (generation !== state.generation) return;
    render(list.pools, scales, parseErrors(metrics));
    $("token-form").hidden = true;
    $("forget-token").hidden = !token();
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    $("status").className = "status";
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof Unauthorized) {
      askForToken(Boolean(token()));
      return;  // no polling until a token is given
    }
    $("status").textContent = "cannot reach the admin API: " + error.message;
    $("status").className = "status down";
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

function render(pools, scales, errors) {
  const now = performance.now();
  const totals = new Map();
  for (const pool of pools)
    for (const backend of pool.backends) totals.set(pool.name + " " + backend.address, backend.total_requests);
  const before = state.previous;
  const seconds = before ? (now - before.at) / 1000 : 0;
  const rates = {
    of: (pool, backend) => {
      const key = pool + " " + backend.address;
      if (!errors.byBackend.has(key)) errors.byBackend.set(key, 0);
      return {
        requests: rate(totals, before && before.totals, key, seconds),
        errors: rate(errors.byBackend, before && before.errors, key, seconds),
      };
    },
    unserved: (pool) => {
      if (!errors.unserved.has(pool)) errors.unserved.set(pool, 0);
      return rate(errors.unserved, before && before.unserved, pool, seconds);
    },
  };
  const main = $("pools");
  const shown = pools.map((pool, i) => renderPool(pool, scales[i], rates));
  placeInOrder(main, shown);
  for (const name of [...state.sections.keys()])
    if (!pools.some((pool) => pool.name === name)) state.sections.delete(name);
  state.previous = { at: now, totals, errors: errors.byBackend, unserved: errors.unserved };
}

document.addEventListener("DOMContentLoaded", () => {
  $("interval").textContent = REFRESH_MS / 1000;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(false);
  });
  refresh();
});
