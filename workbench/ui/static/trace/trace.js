// The trace page: one run's spans as a collapsible tree with a waterfall, the critical path marked, and the
// selected span's detail. Everything that comes from the run is hostile text: it only ever goes into the page
// through textContent (never innerHTML). Rows are virtualized (fixed height, only the visible ones in the DOM),
// so a 10,000-span trace renders as fast as a small one.
"use strict";

(() => {
  const ROW_H = 24;
  const OVERSCAN = 12;
  const KINDS = new Set(["run", "node", "llm", "tool", "retrieval", "speech", "analyzer", "gateway", "step"]);
  // Attributes the detail panel shows in their own sections; every other one is listed as key and value.
  const SHOWN = new Set([
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.operation.name", "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "gen_ai.response.time_to_first_chunk", "gen_ai.response.finish_reasons",
    "workbench.tokens_per_s", "gen_ai.tool.name", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "gen_ai.retrieval.query.text", "gen_ai.retrieval.documents", "workbench.retrieval.mode",
    "workbench.retrieval.top_k", "workbench.retrieval.filters", "workbench.truncated",
  ]);

  const state = {
    spans: [], // {span, id, start, end, depth, children, critical}: start and end in ms from the trace's start
    byId: new Map(),
    roots: [],
    visible: [], // the rows as listed now: the tree depth first, less the children of collapsed spans
    collapsed: new Set(),
    total: 1,
    selected: null,
  };
  const $ = (selector) => document.querySelector(selector);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function ms(value) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
    const n = Number(value);
    if (n >= 1000) return `${(n / 1000).toFixed(n >= 10000 ? 1 : 2)} s`;
    return `${n.toFixed(n >= 100 ? 0 : 1)} ms`;
  }

  function shown(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function parsed(value) {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      return value; // cut to size, or plain text
    }
  }

  function runId() {
    const parts = location.pathname.split("/");
    const at = parts.lastIndexOf("trace");
    return decodeURIComponent(parts[at - 1] || "");
  }

  function say(text, isError) {
    const message = $("#trace-message");
    message.textContent = text;
    message.classList.toggle("error", Boolean(isError));
  }

  // --- layout: one pass over the spans, then one depth-first walk --------------------------------------

  function layout(data) {
    const time = (value) => (value ? Date.parse(value) : NaN);
    let first = Infinity;
    let last = -Infinity;
    state.spans = data.spans.map((span) => {
      const start = time(span.started_at);
      let end = time(span.ended_at);
      if (Number.isNaN(end) && !Number.isNaN(start)) end = start + (Number(span.duration_ms) || 0);
      if (!Number.isNaN(start)) first = Math.min(first, start);
      if (!Number.isNaN(end)) last = Math.max(last, end);
      const item = { span, id: String(span.span_id), start, end, depth: 0, children: [], critical: false };
      state.byId.set(item.id, item);
      return item;
    });
    if (!Number.isFinite(first)) first = 0;
    state.total = Math.max(1, last - first);
    const critical = new Set(data.critical_path || []);
    for (const item of state.spans) {
      item.start -= first;
      item.end -= first;
      item.critical = critical.has(item.id);
      const parent = item.span.parent_id ? state.byId.get(String(item.span.parent_id)) : undefined;
      (parent && parent !== item ? parent.children : state.roots).push(item); // spans come ordered by start
    }
    // A span in a parent cycle reaches no root: list it as one, so nothing is hidden.
    const reached = new Set();
    walk(state.roots, (item, depth) => { item.depth = depth; reached.add(item); return true; });
    for (const item of state.spans) {
      if (reached.has(item)) continue;
      state.roots.push(item);
      walk([item], (node, depth) => { node.depth = depth; reached.add(node); return true; }, new Set(reached));
    }
  }

  // Depth first, in listing order; `enter` returns whether to visit the node's children.
  function walk(roots, enter, seen = new Set()) {
    const stack = roots.map((item) => [item, 0]).reverse();
    while (stack.length) {
      const [item, depth] = stack.pop();
      if (seen.has(item)) continue;
      seen.add(item);
      if (!enter(item, depth)) continue;
      for (let i = item.children.length - 1; i >= 0; i -= 1) stack.push([item.children[i], depth + 1]);
    }
  }

  function listRows() {
    const rows = [];
    walk(state.roots, (item) => { rows.push(item); return !state.collapsed.has(item.id); });
    state.visible = rows;
    $("#trace-rows").style.height = `${rows.length * ROW_H}px`;
  }

  // --- the tree and its waterfall --------------------------------------------------------------------

  function kindClass(kind) {
    return `kind-${KINDS.has(kind) ? kind : "step"}`;
  }

  function row(item, index) {
    const span = item.span;
    const node = el("div", "span-row");
    node.dataset.spanId = item.id;
    node.dataset.kind = String(span.kind || "");
    node.setAttribute("role", "treeitem");
    node.setAttribute("aria-level", String(item.depth + 1));
    node.style.top = `${index * ROW_H}px`;
    if (item.critical) node.classList.add("critical");
    if (span.status === "error") node.classList.add("status-error");
    if (item.id === state.selected) node.classList.add("selected");
    const label = el("div", "span-label");
    label.style.paddingLeft = `${item.depth * 14}px`;
    const toggle = el("button", "span-toggle", item.children.length ? (state.collapsed.has(item.id) ? "▸" : "▾") : "");
    toggle.type = "button";
    toggle.disabled = !item.children.length;
    if (item.children.length) {
      toggle.title = `${item.children.length} child span(s)`;
      node.setAttribute("aria-expanded", String(!state.collapsed.has(item.id)));
    }
    label.append(toggle, el("span", "span-name", span.name), el("span", "span-kind", span.kind));
    node.title = `${span.name} (${span.kind}) · ${ms(span.duration_ms)}${span.status !== "ok" ? ` · ${span.status}` : ""}`;
    const lane = el("div", "span-lane");
    if (!Number.isNaN(item.start)) {
      const bar = el("div", `span-bar ${kindClass(span.kind)}`);
      if (item.critical) bar.classList.add("critical");
      if (span.status === "error") bar.classList.add("status-error");
      bar.style.left = `${(item.start / state.total) * 100}%`;
      bar.style.width = `${(Math.max(0, item.end - item.start) / state.total) * 100}%`;
      lane.append(bar);
    }
    node.append(label, el("span", "span-dur", ms(span.duration_ms)), lane);
    return node;
  }

  let pending = false;
  function renderRows() {
    pending = false;
    const tree = $("#trace-tree");
    const first = Math.max(0, Math.floor(tree.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(state.visible.length, Math.ceil((tree.scrollTop + tree.clientHeight) / ROW_H) + OVERSCAN);
    const rows = document.createDocumentFragment();
    for (let i = first; i < last; i += 1) rows.append(row(state.visible[i], i));
    $("#trace-rows").replaceChildren(rows);
  }

  function schedule() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(renderRows);
    }
  }

  function renderAxis() {
    const axis = $("#trace-axis");
    axis.replaceChildren();
    for (let i = 0; i <= 4; i += 1) {
      const tick = el("span", "tick", ms((state.total * i) / 4));
      tick.style.left = `${i * 25}%`;
      axis.append(tick);
    }
  }

  function renderHeader(data) {
    const run = data.run || {};
    const rollup = data.rollup || {};
    $("#trace-title").textContent = `Trace · ${run.graph || "run"} · ${run.run_id || runId()}`;
    document.title = `Trace ${run.run_id || ""} · Agent Workbench`;
    const started = run.started_at ? Date.parse(run.started_at) : NaN;
    const ended = run.ended_at ? Date.parse(run.ended_at) : NaN;
    const facts = [
      ["graph", run.graph], ["status", run.status], ["model", run.model],
      ["started", run.started_at ? new Date(started).toISOString().replace("T", " ").slice(0, 19) + " UTC" : null],
      ["duration", Number.isNaN(started) || Number.isNaN(ended) ? null : ms(ended - started)],
      ["first token", run.ttft_ms === null || run.ttft_ms === undefined ? null : ms(run.ttft_ms)],
      ["tokens in/out", `${rollup.tokens_in || run.tokens_in || 0} / ${rollup.tokens_out || run.tokens_out || 0}`],
      ["LLM", ms(rollup.llm_ms)], ["retrieval", ms(rollup.retrieval_ms)], ["speech", ms(rollup.speech_ms)],
      ["tools", ms(rollup.tool_ms)], ["spans", rollup.spans], ["errors", rollup.errors],
    ];
    const summary = $("#trace-summary");
    summary.replaceChildren();
    for (const [name, value] of facts) {
      if (value === null || value === undefined || value === "") continue;
      const pair = el("div");
      pair.dataset.fact = name;
      pair.append(el("dt", "", name), el("dd", "", value));
      summary.append(pair);
    }
  }

  // --- the selected span -----------------------------------------------------------------------------

  function section(id, title, note) {
    const part = el("section");
    part.id = id;
    part.append(el("h3", "", title));
    if (note) part.append(el("p", "note", note));
    return part;
  }

  function facts(pairs) {
    const list = el("dl", "facts");
    for (const [name, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", "", name), el("dd", "", value));
    }
    return list;
  }

  function messageText(content) {
    if (content === null || content === undefined) return "";
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
      return content.map((part) => (typeof part === "string" ? part : part?.content ?? part?.text ?? shown(part))).join("\n");
    }
    return shown(content);
  }

  function messages(id, title, value, cut, system) {
    const part = section(id, title, cut ? "cut to size in the log" : null);
    const list = [];
    if (system !== undefined) {
      const instructions = parsed(system);
      list.push({ role: "system", content: Array.isArray(instructions) ? messageText(instructions) : instructions });
    }
    const items = parsed(value);
    if (Array.isArray(items)) list.push(...items);
    else if (value !== undefined) list.push({ role: "", content: shown(items) });
    for (const message of list) {
      const block = el("div", "message");
      if (message && typeof message === "object") {
        block.append(el("div", "message-role", message.role || ""));
        block.append(el("pre", "message-content", messageText(message.content ?? message.parts)));
        if (message.tool_calls) block.append(el("pre", "message-tools", `tool calls: ${shown(message.tool_calls)}`));
      } else {
        block.append(el("pre", "message-content", shown(message)));
      }
      part.append(block);
    }
    return part;
  }

  function documents(attributes, cut) {
    const part = section("span-documents", "Retrieved passages", cut ? "cut to size in the log" : null);
    part.append(facts([
      ["query", attributes["gen_ai.retrieval.query.text"]], ["mode", attributes["workbench.retrieval.mode"]],
      ["top k", attributes["workbench.retrieval.top_k"]],
      ["filters", attributes["workbench.retrieval.filters"] === undefined ? null : shown(parsed(attributes["workbench.retrieval.filters"]))],
    ]));
    const docs = parsed(attributes["gen_ai.retrieval.documents"]);
    if (!Array.isArray(docs)) {
      if (docs !== undefined) part.append(el("pre", "", shown(docs)));
      return part;
    }
    const score = (value) => (typeof value === "number" ? value.toFixed(3) : "–");
    docs.forEach((doc, index) => {
      const block = el("div", "doc");
      block.append(el("div", "doc-head", `${index + 1}. ${doc?.source ?? doc?.id ?? ""}`));
      block.append(el("div", "doc-scores", `score ${score(doc?.score)} · dense ${score(doc?.dense_score)} · sparse ${score(doc?.sparse_score)}`));
      if (doc?.text) block.append(el("pre", "doc-text", doc.text));
      part.append(block);
    });
    return part;
  }

  function renderDetail(item) {
    const detail = $("#span-detail");
    detail.replaceChildren();
    if (!item) return;
    const span = item.span;
    const a = span.attributes && typeof span.attributes === "object" ? span.attributes : {};
    const truncated = new Set(Array.isArray(a["workbench.truncated"]) ? a["workbench.truncated"] : []);
    detail.append(el("h2", "", span.name));
    detail.append(facts([
      ["kind", span.kind], ["status", span.status], ["duration", ms(span.duration_ms)],
      ["starts at", Number.isNaN(item.start) ? null : `+${ms(item.start)}`],
      ["critical path", item.critical ? "yes" : "no"], ["span id", span.span_id], ["parent", span.parent_id],
    ]));
    if (span.error) {
      const part = section("span-error", "Error");
      part.append(el("pre", "", span.error));
      detail.append(part);
    }
    const model = a["gen_ai.response.model"] ?? a["gen_ai.request.model"];
    if (span.kind === "llm" || model !== undefined || a["gen_ai.usage.input_tokens"] !== undefined) {
      const ttft = a["gen_ai.response.time_to_first_chunk"];
      const perSecond = a["workbench.tokens_per_s"];
      const part = section("span-llm", "Model call");
      part.append(facts([
        ["model", model], ["provider", a["gen_ai.provider.name"]], ["operation", a["gen_ai.operation.name"]],
        ["tokens in", a["gen_ai.usage.input_tokens"]], ["tokens out", a["gen_ai.usage.output_tokens"]],
        ["first token", typeof ttft === "number" ? ms(ttft * 1000) : ttft],
        ["tokens/s", typeof perSecond === "number" ? perSecond.toFixed(1) : perSecond],
        ["finish reason", Array.isArray(a["gen_ai.response.finish_reasons"]) ? a["gen_ai.response.finish_reasons"].join(", ") : a["gen_ai.response.finish_reasons"]],
      ]));
      detail.append(part);
    }
    if (a["gen_ai.input.messages"] !== undefined || a["gen_ai.system_instructions"] !== undefined) {
      const cut = truncated.has("gen_ai.input.messages") || truncated.has("gen_ai.system_instructions");
      detail.append(messages("span-prompt", "Messages in", a["gen_ai.input.messages"], cut, a["gen_ai.system_instructions"]));
    }
    if (a["gen_ai.output.messages"] !== undefined) {
      detail.append(messages("span-completion", "Completion", a["gen_ai.output.messages"], truncated.has("gen_ai.output.messages")));
    }
    if (a["gen_ai.retrieval.documents"] !== undefined || a["gen_ai.retrieval.query.text"] !== undefined) {
      detail.append(documents(a, truncated.has("gen_ai.retrieval.documents")));
    }
    if (a["gen_ai.tool.name"] !== undefined || a["gen_ai.tool.call.arguments"] !== undefined) {
      const part = section("span-tool", "Tool call");
      part.append(facts([["tool", a["gen_ai.tool.name"]]]));
      part.append(el("h3", "", "Arguments"), el("pre", "tool-arguments", shown(parsed(a["gen_ai.tool.call.arguments"]))));
      part.append(el("h3", "", "Result"), el("pre", "tool-result", shown(parsed(a["gen_ai.tool.call.result"]))));
      detail.append(part);
    }
    const rest = Object.keys(a).filter((key) => !SHOWN.has(key)).sort();
    const part = section("span-attributes", "Attributes", rest.length ? null : "none besides the above");
    if (rest.length) {
      const table = el("table", "attributes");
      for (const key of rest) {
        const line = el("tr");
        line.append(el("td", "", truncated.has(key) ? `${key} (cut)` : key), el("td", "value", shown(a[key])));
        table.append(line);
      }
      part.append(table);
    }
    detail.append(part);
  }

  function select(id, reveal) {
    const item = state.byId.get(id);
    if (!item) return;
    state.selected = id;
    const url = new URL(location.href);
    url.searchParams.set("span", id);
    history.replaceState(null, "", url);
    if (reveal) {
      let changed = false;
      const seen = new Set([item]);
      for (let up = state.byId.get(String(item.span.parent_id)); up && !seen.has(up); up = state.byId.get(String(up.span.parent_id))) {
        seen.add(up);
        changed = state.collapsed.delete(up.id) || changed;
      }
      if (changed) listRows();
      const index = state.visible.indexOf(item);
      const tree = $("#trace-tree");
      if (index >= 0 && (index * ROW_H < tree.scrollTop || (index + 1) * ROW_H > tree.scrollTop + tree.clientHeight)) {
        tree.scrollTop = Math.max(0, index * ROW_H - tree.clientHeight / 3);
      }
    }
    renderDetail(item);
    renderRows();
  }

  function toggle(id) {
    if (!state.collapsed.delete(id)) state.collapsed.add(id);
    listRows();
    renderRows();
  }

  function onKey(event) {
    const index = state.visible.findIndex((item) => item.id === state.selected);
    const item = state.visible[index];
    if (!item) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      const next = state.visible[index + moves[event.key]];
      if (next) select(next.id, true);
    } else if (event.key === "ArrowLeft" && item.children.length && !state.collapsed.has(item.id)) {
      toggle(item.id);
    } else if (event.key === "ArrowRight" && state.collapsed.has(item.id)) {
      toggle(item.id);
    } else {
      return;
    }
    event.preventDefault();
  }

  async function load() {
    const id = runId();
    let response;
    try {
      response = await fetch(`../../api/runs/${encodeURIComponent(id)}/trace`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch {
      return fail("The server did not answer; reload the page to try again.");
    }
    const data = await response.json().catch(() => null);
    if (!response.ok || !data) {
      const reason = data?.detail?.message ?? `the server answered ${response.status}`;
      return fail(response.status === 401 ? "Log in to the workbench first." : `No trace: ${reason}.`);
    }
    performance.mark("trace-fetched");
    renderHeader(data);
    layout(data);
    if (!state.spans.length) {
      say("This run has no spans: it was logged before runs had traces (its node timeline is in the Runs tab).");
    } else {
      say("");
    }
    listRows();
    renderAxis();
    const wanted = new URL(location.href).searchParams.get("span");
    const first = state.byId.has(wanted) ? wanted : state.roots[0]?.id;
    if (first) select(first, true);
    else renderRows();
    window.__traceRenderedMs = performance.now();
    document.documentElement.dataset.traceState = "ready";
  }

  function fail(text) {
    say(text, true);
    document.documentElement.dataset.traceState = "error";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tree = $("#trace-tree");
    tree.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("resize", schedule);
    tree.addEventListener("keydown", onKey);
    $("#trace-rows").addEventListener("click", (event) => {
      const target = event.target instanceof Element ? event.target : null;
      const rowNode = target?.closest(".span-row");
      if (!rowNode) return;
      if (target.closest(".span-toggle")) toggle(rowNode.dataset.spanId);
      else select(rowNode.dataset.spanId, false);
      tree.focus({ preventScroll: true });
    });
    load();
  });
})();
