// hearth console — the page's script. Plain DOM, no dependencies. Everything it shows comes
// from the console's own origin: the workspace list and boot steps as server-sent events,
// runs and the chain from the HATCH log's live tail. Every action is a request to the same
// API scripts use, with the session cookie and the page header the console's gate checks.
"use strict";

// The wire's constants (the page header, the tiers, the HATCH types, the verbs each status
// offers, the verdict gaps that only mean "not yet") come from the console, which takes them
// from hearth's protocol: GET /ui/meta.json, read once before anything else.
let META = null;
// Operations the waterfall shows, newest first.
const MAX_OPS = 6;
const LABELS = { pause: "Pause", resume: "Resume", hibernate: "Hibernate", upgrade: "Upgrade", delete: "Delete" };

const $ = (id) => document.getElementById(id);
const state = {
  workspaces: new Map(), // slug -> ref
  rows: new Map(), // slug -> <tr>
  selected: null,
  steps: new Map(), // seq -> step (selected workspace)
  stepSource: null,
  runs: new Map(), // run_id -> run
  chainTimer: null,
  chainSlug: null,
  rolesBusy: false,
};
// How often the roles panel asks again while nothing else made it (a task moving node
// changes no status, so the workspace list does not say).
const ROLES_EVERY_MS = 5000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---- talking to the console -------------------------------------------------------------

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { [META.page_header]: "1", accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw { code: "console_unreachable", message: "the console did not answer", hint: "is it still running?" };
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (resp.status === 401) showSignin();
  if (!resp.ok) {
    const err = (json && json.error) || { code: "http_" + resp.status, message: text || resp.statusText };
    throw err;
  }
  return json;
}

// Writes an action's outcome where it was started.
function report(target, ok, text, hint) {
  target.textContent = "";
  target.className = target.className.replace(/\b(ok|err)\b/g, "").trim() + (ok ? " ok" : " err");
  target.append(text);
  if (hint) target.append(el("span", { class: "hint", text: "Hint: " + hint }));
}
function reportError(target, err) {
  report(target, false, (err.message || "failed") + (err.code ? " (" + err.code + ")" : ""), err.hint);
}

// ---- sign-in ----------------------------------------------------------------------------

function showSignin() {
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  setConn("down", "signed out");
}

async function start() {
  try {
    const resp = await fetch("/ui/meta.json", { credentials: "same-origin" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    META = await resp.json();
  } catch (e) {
    document.body.textContent = "The console did not answer /ui/meta.json (" + e.message + "): reload the page.";
    return;
  }
  try {
    await api("GET", "/api/hearth/workspaces");
  } catch (e) {
    if (e.code === "unauthorized") return showSignin();
    // hearth down is shown by the live stream; the page still works for the log.
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  wireForms();
  watchWorkspaces();
  watchHatch();
  refreshChain();
  setInterval(() => { if (state.selected) refreshRoles(); }, ROLES_EVERY_MS);
}

function setConn(kind, text) {
  $("conn-dot").className = "dot " + kind;
  $("conn-text").textContent = text;
}

// ---- workspaces -------------------------------------------------------------------------

function watchWorkspaces() {
  const src = new EventSource("/api/ui/workspaces/live");
  src.addEventListener("open", () => setConn("live", "live"));
  src.addEventListener("error", () => setConn("down", "reconnecting…"));
  src.addEventListener("workspaces", (ev) => {
    $("hearth-error").hidden = true;
    renderWorkspaces(JSON.parse(ev.data));
  });
  src.addEventListener("hearth_error", (ev) => {
    const e = JSON.parse(ev.data);
    const box = $("hearth-error");
    box.hidden = false;
    report(box, false, "hearth does not answer: " + e.message + " (" + e.code + ")", e.hint);
    box.className = "alert";
  });
}

function renderWorkspaces(list) {
  const seen = new Set();
  list.sort((a, b) => a.workspace_slug.localeCompare(b.workspace_slug));
  for (const ws of list) {
    const slug = ws.workspace_slug;
    seen.add(slug);
    state.workspaces.set(slug, ws);
    let row = state.rows.get(slug);
    if (!row) {
      row = buildRow(slug);
      state.rows.set(slug, row);
    }
    updateRow(row, ws);
  }
  for (const [slug, row] of state.rows) {
    if (!seen.has(slug)) {
      row.remove();
      state.rows.delete(slug);
      state.workspaces.delete(slug);
    }
  }
  const body = $("ws-body");
  for (const ws of list) body.append(state.rows.get(ws.workspace_slug));
  $("ws-empty").hidden = list.length > 0;
  fillWorkspaceSelect($("run-ws"), list.map((w) => w.workspace_slug), state.selected);
  if (!state.selected && list.length) select(list[0].workspace_slug);
  else refreshRoles();
}

function buildRow(slug) {
  const row = el("tr", { "data-slug": slug });
  const name = el("button", { class: "slug-btn", type: "button", "aria-label": "Show " + slug, text: slug, onclick: () => select(slug) });
  row.append(
    el("td", { "data-label": "Workspace" }, name, el("span", { class: "endpoint" })),
    el("td", { "data-label": "Status" }, el("span", { class: "badge status" })),
    el("td", { "data-label": "Tier", class: "tier" }),
    el("td", { "data-label": "Services", class: "services" }),
    el("td", { "data-label": "Age", class: "age" }),
    el("td", { "data-label": "Actions" }, el("div", { class: "actions" }), el("div", { class: "row-result", role: "status", "aria-live": "polite" })),
  );
  return row;
}

function updateRow(row, ws) {
  const slug = ws.workspace_slug;
  const status = ws.last_status;
  const badge = row.querySelector(".status");
  badge.textContent = status.replace(/_/g, " ");
  badge.className = "badge status " + status;
  badge.dataset.status = status;
  const ep = row.querySelector(".endpoint");
  ep.textContent = "";
  if (ws.endpoint) ep.append(el("a", { href: ws.endpoint, target: "_blank", rel: "noopener noreferrer", text: ws.endpoint.replace(/^https?:\/\//, "") }));
  row.querySelector(".tier").textContent = ws.tier;
  const svc = row.querySelector(".services");
  svc.textContent = "";
  for (const s of ws.services || []) {
    const digest = (s.image_digest || "").replace(/^sha256:/, "").slice(0, 12);
    svc.append(el("div", { class: "svc", title: s.image + (s.image_digest ? " @ " + s.image_digest : "") },
      el("span", { class: "role", text: s.role }), " ",
      s.endpoint ? el("a", { href: s.endpoint, target: "_blank", rel: "noopener noreferrer", text: s.endpoint.replace(/^https?:\/\//, "") }) : "",
      digest ? el("span", { class: "digest mono", text: " " + digest }) : ""));
  }
  const age = row.querySelector(".age");
  age.dataset.created = ws.created;
  age.textContent = ago(ws.created);
  row.classList.toggle("selected", state.selected === slug);
  const actions = row.querySelector(".actions");
  if (actions.dataset.status !== status) {
    const hadFocus = actions.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    actions.dataset.status = status;
    actions.textContent = "";
    for (const a of META.actions[status] || []) {
      if (a === "upgrade") {
        const pick = el("select", { "aria-label": "Tier to upgrade " + slug + " to", "data-role": "tier" });
        for (const t of META.tiers) if (t !== ws.tier) pick.append(el("option", { value: t, text: t }));
        actions.append(pick);
      }
      actions.append(el("button", {
        type: "button", class: a === "delete" ? "danger" : "", "data-action": a,
        "aria-label": LABELS[a] + " " + slug, text: LABELS[a],
        onclick: (ev) => act(slug, a, ev.currentTarget),
      }));
    }
    if (hadFocus) {
      const again = actions.querySelector('[data-action="' + hadFocus + '"]') || actions.querySelector("button");
      if (again) again.focus();
    }
  }
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d";
}

async function act(slug, action, button) {
  const row = state.rows.get(slug);
  const out = row.querySelector(".row-result");
  if (action === "delete") {
    if (!(await confirmDelete(slug))) return;
  }
  const buttons = row.querySelectorAll(".actions button");
  buttons.forEach((b) => { b.disabled = true; });
  out.className = "row-result";
  out.textContent = LABELS[action] + " " + slug + "…";
  try {
    let answer;
    if (action === "delete") {
      answer = await api("DELETE", "/api/hearth/workspaces/" + encodeURIComponent(slug));
      report(out, true, "Deleted " + slug + ".");
    } else {
      const body = action === "upgrade" ? { tier: row.querySelector('[data-role="tier"]').value } : undefined;
      answer = await api("POST", "/api/hearth/workspaces/" + encodeURIComponent(slug) + "/" + action, body);
      report(out, true, LABELS[action] + ": now " + answer.last_status.replace(/_/g, " ") + ".");
      updateRow(row, answer);
    }
  } catch (err) {
    reportError(out, err);
  } finally {
    row.querySelectorAll(".actions button").forEach((b) => { b.disabled = false; });
    if (document.activeElement === document.body && button.isConnected) button.focus();
  }
}

function confirmDelete(slug) {
  const dialog = $("confirm");
  $("confirm-title").textContent = "Delete workspace " + slug + "?";
  $("confirm-text").textContent = "This tears down " + slug + "'s containers, network and volumes. It cannot be undone.";
  $("confirm-ok").textContent = "Delete " + slug;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

function fillWorkspaceSelect(sel, slugs, prefer) {
  const current = sel.value || prefer;
  const have = Array.from(sel.options).map((o) => o.value).join("\n");
  if (slugs.length && have === slugs.join("\n")) return;
  sel.textContent = "";
  for (const s of slugs) sel.append(el("option", { value: s, text: s }));
  if (!slugs.length) sel.append(el("option", { value: "", text: "no workspace yet" }));
  sel.disabled = !slugs.length;
  if (slugs.includes(current)) sel.value = current;
}

function select(slug) {
  if (state.selected === slug) return;
  state.selected = slug;
  for (const [s, row] of state.rows) row.classList.toggle("selected", s === slug);
  if (slug && $("run-ws").querySelector('option[value="' + CSS.escape(slug) + '"]')) $("run-ws").value = slug;
  watchSteps(slug);
  state.chainSlug = slug;
  refreshChain();
  refreshRoles();
}

// ---- roles ------------------------------------------------------------------------------

// The selected workspace's roles, from hearth's status answer (relayed by the console): each
// role's state and, on a swarm, the node its task runs on.
async function refreshRoles() {
  const slug = state.selected;
  $("roles-slug").textContent = slug ? "— " + slug : "";
  if (!slug || !state.workspaces.has(slug)) {
    renderRoles(slug, [], slug ? "No workspace " + slug + " any more." : "Select a workspace to see its roles.");
    return;
  }
  if (state.rolesBusy) return;
  state.rolesBusy = true;
  try {
    const report = await api("GET", "/api/hearth/workspaces/" + encodeURIComponent(slug) + "/status");
    if (state.selected !== slug) return;
    const roles = report.roles || [];
    renderRoles(slug, roles, roles.length ? "" : "hearth lists no roles of " + slug + " while it is " + report.status.replace(/_/g, " ") + ".");
  } catch (e) {
    if (state.selected === slug) renderRoles(slug, [], "hearth did not answer for " + slug + ": " + (e.message || e.code));
  } finally {
    state.rolesBusy = false;
  }
}

function nodeText(node) {
  if (!node) return "hearth's engine";
  const id = (node.id || "").slice(0, 12);
  return node.hostname ? node.hostname + " (" + id + ")" : id;
}

function renderRoles(slug, roles, empty) {
  const body = $("roles-body");
  body.textContent = "";
  for (const r of roles) {
    body.append(el("tr", { "data-role": r.role },
      el("th", { scope: "row", "data-label": "Role", text: r.role }),
      el("td", { "data-label": "State" }, el("span", { class: "badge role-state " + r.state, "data-state": r.state, text: r.state })),
      el("td", { "data-label": "Node", class: "node-cell mono", "data-node": r.node ? r.node.id : "", title: r.node ? r.node.id : "", text: nodeText(r.node) }),
      el("td", { "data-label": "Reason", class: "reason", text: r.reason || "" })));
  }
  const p = $("roles-empty");
  p.hidden = roles.length > 0;
  p.textContent = empty;
}

// ---- boot waterfall ---------------------------------------------------------------------

function watchSteps(slug) {
  if (state.stepSource) state.stepSource.close();
  state.steps = new Map();
  $("boot-slug").textContent = slug ? "— " + slug : "";
  renderWaterfall();
  if (!slug) return;
  const src = new EventSource("/api/ui/workspaces/" + encodeURIComponent(slug) + "/steps");
  state.stepSource = src;
  src.addEventListener("step", (ev) => {
    const step = JSON.parse(ev.data);
    state.steps.set(step.seq, step);
    scheduleWaterfall();
  });
}

let wfPending = false;
function scheduleWaterfall() {
  if (wfPending) return;
  wfPending = true;
  requestAnimationFrame(() => { wfPending = false; renderWaterfall(); });
}

// Steps grouped into operations: each begins at a step of phase `started` (hearth stamps
// every step with its operation's verb, `op`, and its `phase`; the page parses no names).
function operations() {
  const ops = [];
  const steps = Array.from(state.steps.values()).sort((a, b) => a.seq - b.seq);
  for (const s of steps) {
    if (s.phase === "started" || !ops.length) {
      ops.push({ verb: s.op || s.step, at: s.at, steps: [] });
    }
    ops[ops.length - 1].steps.push(s);
  }
  return ops;
}

function renderWaterfall() {
  const box = $("waterfall");
  box.textContent = "";
  const ops = operations();
  if (!ops.length) {
    box.append(el("p", { class: "empty", text: state.selected ? "No steps recorded for " + state.selected + " by this hearth." : "Select a workspace to see its steps." }));
    return;
  }
  const shown = ops.reverse().slice(0, MAX_OPS);
  if (ops.length > MAX_OPS) box.append(el("p", { class: "muted", text: "The last " + MAX_OPS + " of " + ops.length + " operations, newest first." }));
  shown.forEach((op, i) => {
    const total = Math.max(1, ...op.steps.map((s) => s.elapsed_ms));
    const last = op.steps[op.steps.length - 1].phase;
    const outcome = last === "done" ? "done" : last === "failed" || last === "rollback" ? "failed" : "in progress";
    const details = el("details", { class: "op", open: i === 0 });
    details.append(el("summary", {}, op.verb + " ", el("span", { class: "muted", text: "· " + outcome + " · " + total + " ms · " + new Date(op.at).toLocaleTimeString() })));
    const grid = el("div", { class: "wf", role: "table", "aria-label": op.verb + " steps" });
    const roles = [];
    const prevByRole = new Map();
    for (const s of op.steps) {
      const lane = s.role || "";
      if (s.role && !roles.includes(s.role)) roles.push(s.role);
      // An operation's end spans the whole operation; any other step runs from the one
      // before it in its lane (the role's, or the workspace's for role-less steps).
      const from = s.phase === "done" ? 0 : prevByRole.has(lane) ? prevByRole.get(lane) : 0;
      prevByRole.set(lane, s.elapsed_ms);
      const bar = el("span", { class: "bar " + (s.phase === "failed" || s.phase === "rollback" ? "fail" : s.role ? "r" + (roles.indexOf(s.role) % 4) : "") });
      bar.style.left = (100 * from / total).toFixed(2) + "%";
      bar.style.width = (100 * Math.max(0, s.elapsed_ms - from) / total).toFixed(2) + "%";
      grid.append(
        el("span", { class: "label", role: "cell", title: s.detail || "" }, s.role ? el("span", { class: "role", text: s.role + " " }) : "", s.step),
        el("span", { class: "track", role: "cell", "aria-label": "from " + from + " ms to " + s.elapsed_ms + " ms" }, bar),
        el("span", { class: "ms", role: "cell", text: s.elapsed_ms + " ms" }),
      );
    }
    details.append(grid);
    box.append(details);
  });
}

// ---- runs and the HATCH tail ------------------------------------------------------------

function watchHatch() {
  const src = new EventSource("/api/hatch/events");
  let seen = 0;
  const onEvent = (ev) => {
    const e = JSON.parse(ev.data);
    if (e.seq <= seen) return;
    seen = e.seq;
    absorb(e);
    scheduleChain();
  };
  for (const t of META.hatch_types) src.addEventListener(t, onEvent);
}

function absorb(e) {
  const d = e.data || {};
  if (e.type === "ralph.run.started") {
    state.runs.set(e.subject, { id: e.subject, workspace: d.workspace, prompts: d.prompts, time: e.time, nodes: new Map(), end: null, rejected: 0 });
  } else if (e.type === "ralph.node.succeeded" || e.type === "ralph.node.failed") {
    const run = state.runs.get(e.subject);
    if (run) run.nodes.set(d.index, { index: d.index, node: d.node, state: e.type.slice("ralph.node.".length), attempts: d.attempts, ms: d.duration_ms, error: d.error });
  } else if (e.type === "ralph.run.ended") {
    const run = state.runs.get(e.subject);
    if (run) run.end = d;
  } else if (e.type === "ralph.frame_rejected") {
    const run = state.runs.get(e.subject);
    if (run) run.rejected += 1;
  } else {
    return;
  }
  renderRun(state.runs.get(e.subject));
}

function renderRun(run) {
  if (!run) return;
  const list = $("runs");
  let item = list.querySelector('[data-run="' + CSS.escape(run.id) + '"]');
  if (!item) {
    item = el("li", { class: "run", "data-run": run.id });
    list.prepend(item);
  }
  const status = run.end ? run.end.outcome : "running";
  item.dataset.status = status;
  item.textContent = "";
  item.append(el("div", { class: "run-head" },
    el("span", { class: "id", text: run.id.slice(0, 12) , title: run.id }),
    el("span", { class: "badge " + status, text: status }),
    el("span", { class: "muted", text: run.workspace + " · " + run.prompts + " prompt" + (run.prompts === 1 ? "" : "s") + " · " + new Date(run.time).toLocaleTimeString() })));
  const nodes = el("ol", { class: "nodes", "aria-label": "Nodes of run " + run.id });
  const arrived = Array.from(run.nodes.values()).sort((a, b) => a.index - b.index);
  arrived.forEach((node, i) => {
    nodes.append(el("li", { class: "node " + node.state, "data-index": String(node.index) },
      el("span", { class: "n", text: "#" + (i + 1) + " " }), node.state,
      el("br"), el("span", { class: "muted", text: node.attempts + " attempt" + (node.attempts === 1 ? "" : "s") + " · " + node.ms + " ms" }),
      node.error ? el("div", { class: "explain bad", text: node.error }) : null));
  });
  for (let i = arrived.length; i < run.prompts; i++) {
    nodes.append(el("li", { class: "node pending" }, el("span", { class: "n", text: "#" + (i + 1) + " " }), run.end ? "never arrived" : "pending"));
  }
  item.append(nodes);
  const why = explain(run);
  if (why) item.append(el("p", { class: "explain " + why[0], text: why[1] }));
}

// Why a run ended the way it did, in words.
function explain(run) {
  const e = run.end;
  if (!e) return null;
  switch (e.outcome) {
    case "succeeded":
      return ["", "All " + e.nodes_recorded + " nodes succeeded in " + e.duration_ms + " ms."];
    case "failed":
      return ["bad", e.nodes_failed + " of " + e.prompts_expected + " nodes failed; see each node's error above."];
    case "incomplete":
      return ["warn", "Incomplete: the worker reported " + e.worker_outcome + ", but the console recorded only " +
        e.nodes_recorded + " of " + e.prompts_expected + " nodes intact" +
        (e.frames_rejected ? " (" + e.frames_rejected + " frame(s) broke the KAHN schema and were rejected)" : "") +
        ". The log cannot vouch for what did not arrive; the rejected frames are in the HATCH log as ralph.frame_rejected."];
    case "lost":
      return ["bad", "Lost: the console could not follow the worker's stream to its end (" + (e.reason || "stream dropped") + "). Check that the worker is alive and reachable."];
    default:
      return ["warn", "Ended " + e.outcome + "."];
  }
}

// ---- the chain --------------------------------------------------------------------------

function scheduleChain() {
  clearTimeout(state.chainTimer);
  state.chainTimer = setTimeout(refreshChain, 250);
}

async function refreshChain() {
  const slug = state.chainSlug;
  let answer;
  try {
    answer = await api("GET", "/api/ui/chain" + (slug ? "?workspace=" + encodeURIComponent(slug) : ""));
  } catch (err) {
    reportError($("verdict"), err);
    return;
  }
  const sel = $("chain-ws");
  fillWorkspaceSelect(sel, answer.workspaces, slug);
  if (slug) sel.value = slug;
  $("junit-link").hidden = !answer.junit;
  const v = answer.verdict;
  const box = $("verdict");
  // A live workspace whose play has not reached its end is in progress, not broken.
  const going = v.gap && slug && state.workspaces.has(slug) && META.not_yet.includes(v.gap.code);
  box.className = "verdict " + (v.ok ? "ok" : !v.events ? "" : going ? "going" : "broken");
  box.textContent = !(v.events || v.ok) ? "No play in the log yet." :
    going ? "In progress — " + v.matched.length + " of " + v.acts + " acts so far (verify now: " + answer.summary + ")" : answer.summary;
  const diag = $("diagnosis");
  diag.textContent = "";
  diag.hidden = !(v.gap && v.events) || going;
  if (v.gap && v.events && !going) {
    const dl = el("dl");
    dl.append(el("dt", { text: "Cause" }), el("dd", { text: v.gap.cause }));
    if (v.gap.evidence) dl.append(el("dt", { text: "Evidence" }), el("dd", { class: "mono", text: v.gap.evidence }));
    dl.append(el("dt", { text: "Hint" }), el("dd", { text: v.gap.hint }));
    diag.append(dl);
  }
  const body = $("acts-body");
  body.textContent = "";
  v.matched.forEach((m, i) => {
    body.append(el("tr", {},
      el("td", { text: (i + 1) + "/" + v.acts }), el("td", { class: "mono", text: m.act }),
      el("td", { text: "#" + m.seq }), el("td", { class: "mono", text: "+" + (m.at_ms / 1000).toFixed(3) + " s" }),
      el("td", { class: "mono", text: m.subject })));
  });
  if (v.gap && v.events) {
    body.append(el("tr", { class: "missing" },
      el("td", { text: v.gap.position + "/" + v.acts }), el("td", { class: "mono", text: v.gap.act }),
      el("td", { text: "—" }), el("td", { text: "missing" }),
      el("td", { text: v.gap.found ? "found " + v.gap.found : "the log ends first" })));
  }
  const notes = $("notes");
  notes.textContent = "";
  for (const n of v.notes) notes.append(el("li", { text: n }));
}

// ---- forms ------------------------------------------------------------------------------

function wireForms() {
  $("new-ws").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const out = form.querySelector(".result");
    const slug = $("new-slug").value.trim();
    const tier = $("new-tier").value;
    if (!slug) { report(out, false, "Give the workspace a slug.", "lower-case letters, digits and '-', like acme-dev"); $("new-slug").focus(); return; }
    const button = form.querySelector("button");
    button.disabled = true;
    out.className = "result";
    out.textContent = "Provisioning " + slug + "…";
    try {
      const ref = await api("POST", "/api/hearth/workspaces", { slug, tier });
      report(out, true, slug + " is " + ref.last_status + ".");
      $("new-slug").value = "";
      select(slug);
    } catch (err) {
      reportError(out, err);
    } finally {
      button.disabled = false;
    }
  });
  $("run-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const out = form.querySelector(".result");
    const workspace = $("run-ws").value;
    const prompts = $("run-prompts").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!workspace) { report(out, false, "There is no workspace to run in.", "provision one first"); return; }
    if (!prompts.length) { report(out, false, "Write at least one prompt.", "one prompt per line"); $("run-prompts").focus(); return; }
    const button = form.querySelector("button");
    button.disabled = true;
    out.className = "result";
    out.textContent = "Submitting…";
    try {
      const r = await api("POST", "/api/ralph/runs", { workspace, prompts });
      report(out, true, "Run " + r.run_id.slice(0, 12) + " accepted.");
    } catch (err) {
      reportError(out, err);
    } finally {
      button.disabled = false;
    }
  });
  $("chain-ws").addEventListener("change", (ev) => {
    state.chainSlug = ev.currentTarget.value;
    refreshChain();
  });
  $("signout").addEventListener("click", async () => {
    try { await api("DELETE", "/api/session"); } catch (_) { /* signed out either way */ }
    showSignin();
  });
  // Ages tick without asking the console anything.
  setInterval(() => {
    document.querySelectorAll(".age[data-created]").forEach((c) => { c.textContent = ago(c.dataset.created); });
  }, 10000);
}

document.addEventListener("DOMContentLoaded", start);
