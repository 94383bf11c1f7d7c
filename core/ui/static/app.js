// tasktrace dashboard: plain JS over the /api/v1 JSON endpoints, no build step.
"use strict";

const API = "/api/v1";
const REFRESH_MS = 3000;
const STATUSES = ["pending", "running", "success", "failed", "expired"];
let traceUrl = "";
let timer = null;
let selectedTask = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

// every item of a paginated endpoint, up to `max`
async function getAll(path, max = 2000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await getJSON(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

function statusBadge(status, reason) {
  return el("span", {},
    el("span", { class: `status ${status}`, "data-status": status }, status),
    reason ? el("span", { class: "reason", title: reason }, reason) : null);
}

function traceLinks(task) {
  if (!traceUrl || !task.trace_ids.length) return null;
  return el("div", { class: "traces" }, task.trace_ids.map((id) =>
    el("a", { href: traceUrl.split("{trace_id}").join(id), target: "_blank", rel: "noopener",
      class: "trace-link" }, `trace ${id.slice(0, 8)}`)));
}

function sessionLink(id) {
  return el("a", { href: `#/session/${encodeURIComponent(id)}` }, id);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// --- views ------------------------------------------------------------------

async function sessionsView() {
  const page = await getJSON(`${API}/sessions?limit=50`);
  const rows = await Promise.all(page.items.map(async (session) => {
    const tasks = await getJSON(`${API}/sessions/${encodeURIComponent(session.id)}/tasks?limit=1000`);
    const counts = {};
    for (const task of tasks.items) counts[task.status] = (counts[task.status] || 0) + 1;
    return el("tr", { class: "session-row" },
      el("td", {}, sessionLink(session.id)),
      el("td", {}, session.service),
      el("td", {}, when(session.updated_at)),
      el("td", {}, session.message_count),
      el("td", { class: "counts" }, STATUSES.filter((s) => counts[s]).map((s) =>
        el("span", { class: `status ${s}`, title: s }, `${s} ${counts[s]}`))));
  }));
  return {
    node: el("section", {}, el("h1", {}, "Sessions, most recent first"),
      rows.length ? el("table", { id: "sessions" },
        el("tr", {}, ["Session", "Service", "Updated", "Messages", "Tasks"].map((h) => el("th", {}, h))),
        rows) : el("p", { class: "empty" }, "No sessions yet.")),
    active: false,
  };
}

async function failedView() {
  const page = await getJSON(`${API}/tasks?status=failed&limit=200`);
  const rows = page.items.map((task) => el("tr", { class: "failed-row" },
    el("td", {}, sessionLink(task.session_id)),
    el("td", {}, task.description),
    el("td", {}, statusBadge(task.status, task.status_reason)),
    el("td", {}, when(task.updated_at)),
    el("td", {}, traceLinks(task))));
  return {
    node: el("section", {}, el("h1", {}, "Failed tasks across sessions"),
      rows.length ? el("table", { id: "failed" },
        el("tr", {}, ["Session", "Task", "Status", "Updated", "Traces"].map((h) => el("th", {}, h))),
        rows) : el("p", { class: "empty" }, "No failed tasks.")),
    active: false,
  };
}

function taskCard(task, onSelect) {
  return el("div", { class: `task ${task.status}`, "data-task-id": task.id, onclick: () => onSelect(task) },
    el("div", { class: "description" }, `${task.order}. ${task.description}`),
    statusBadge(task.status, task.status_reason),
    task.progress.length ? [el("div", { class: "label" }, "Progress"),
      el("ol", { class: "progress" }, task.progress.map((step) => el("li", {}, step)))] : null,
    task.preferences.length ? [el("div", { class: "label" }, "Preferences"),
      el("ul", { class: "preferences" }, task.preferences.map((p) => el("li", {}, p)))] : null,
    traceLinks(task));
}

function messageRow(message) {
  const calls = message.tool_calls.map((c) => `→ ${c.name}(${c.arguments})`).join("\n");
  const cls = `message ${message.role}${message.error ? " error" : ""}`;
  return el("div", { class: cls, "data-message-id": message.id, "data-task-id": message.task_id || "" },
    el("div", { class: "role" }, message.tool_name ? `${message.role} · ${message.tool_name}` : message.role),
    message.content, calls ? `\n${calls}` : null);
}

function highlight(task) {
  selectedTask = task.id;
  const ids = new Set(task.message_ids);
  document.querySelectorAll(".task").forEach((n) =>
    n.classList.toggle("selected", n.dataset.taskId === task.id));
  let first = null;
  document.querySelectorAll(".message").forEach((n) => {
    const on = ids.has(n.dataset.messageId) || n.dataset.taskId === task.id;
    n.classList.toggle("highlight", on);
    if (on && !first) first = n;
  });
  if (first) first.scrollIntoView({ block: "nearest" });
}

async function sessionView(id) {
  const base = `${API}/sessions/${encodeURIComponent(id)}`;
  const [tasks, messages, status] = await Promise.all([
    getAll(`${base}/tasks`), getAll(`${base}/messages`), getJSON(`${base}/status`)]);
  tasks.sort((a, b) => a.order - b.order);
  const node = el("section", {}, el("h1", {}, `Session ${id}`),
    el("div", { class: "split" },
      el("div", { class: "tasks", id: "tasks" }, tasks.length
        ? tasks.map((t) => taskCard(t, highlight)) : el("p", { class: "empty" }, "No tasks yet.")),
      el("div", { class: "transcript", id: "transcript" }, messages.map(messageRow))));
  const active = status.pending > 0 || status.in_process || tasks.some((t) => ["pending", "running"].includes(t.status));
  const keep = tasks.find((t) => t.id === selectedTask);
  return { node, active, after: () => keep && highlight(keep) };
}

// --- routing and refresh ------------------------------------------------------

async function render() {
  clearTimeout(timer);
  const hash = location.hash || "#/";
  const match = hash.match(/^#\/session\/(.+)$/);
  document.getElementById("nav-sessions").classList.toggle("active", hash === "#/");
  document.getElementById("nav-failed").classList.toggle("active", hash === "#/failed");
  const view = document.getElementById("view");
  let result;
  try {
    result = match ? await sessionView(decodeURIComponent(match[1]))
      : hash === "#/failed" ? await failedView() : await sessionsView();
  } catch (error) {
    view.replaceChildren(el("p", { class: "error-box" }, String(error)));
    return;
  }
  view.replaceChildren(result.node);
  if (result.after) result.after();
  document.getElementById("refresh-state").textContent = result.active ? "live: refreshing" : "";
  document.body.dataset.loaded = "true";
  if (result.active) timer = setTimeout(render, REFRESH_MS);
}

window.addEventListener("hashchange", () => { selectedTask = null; render(); });
getJSON("/ui/config.json").then((cfg) => { traceUrl = cfg.trace_url || ""; })
  .catch(() => {}).finally(render);
