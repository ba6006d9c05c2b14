// The playground: chat with an agent on a thread, tokens and tool calls as they stream, through LangGraph's runs or
// OpenAI's Responses API (the thread is the response's conversation either way). Uses fetch streaming (EventSource
// can neither POST nor send an API key). What a run has streamed so far is kept in localStorage, so a reload resumes
// the stream after the last event (Last-Event-ID, or the Responses API's starting_after) instead of starting over.
// The API key is not: it stays in this tab's sessionStorage, which a reload keeps and closing the tab clears, and
// not in localStorage, where it would outlive the visit for anyone who later uses this browser profile.
"use strict";

const $ = (id) => document.getElementById(id);
const storeIn = (storage) => ({
  get: (key) => storage.getItem("agentfcgi." + key),
  set: (key, value) => value == null ? storage.removeItem("agentfcgi." + key) : storage.setItem("agentfcgi." + key, value),
});
const store = storeIn(localStorage);
const secrets = storeIn(sessionStorage);

function headers(extra = {}) {
  const result = { ...extra };
  const key = $("api-key").value.trim();
  if (key) result["X-Api-Key"] = key;
  return result;
}

function status(text) { $("status").textContent = text || ""; }

async function problem(response) {
  try {
    const body = await response.json();
    if (body.error) return `${response.status} ${body.error.code || ""}: ${body.error.message || ""}`;
    return `${response.status} ${body.code || ""}: ${body.detail || body.message || ""}`;
  } catch { return `${response.status} ${response.statusText}`; }
}

function add(kind, text) {
  const element = document.createElement("div");
  element.className = kind;
  element.textContent = text;
  $("log").appendChild(element);
  $("log").scrollTop = $("log").scrollHeight;
  return element;
}

function renderMessage(message) {
  if (message.type === "human") add("msg user", message.content);
  else if (message.type === "ai" && message.content) add("msg assistant", message.content);
  else if (message.type === "ai") for (const call of message.tool_calls || []) add("tool", `▶ ${call.name}(${JSON.stringify(call.args)})`);
  else if (message.type === "tool") add("tool", `↳ ${message.name}: ${message.content}`);
}

async function loadAgents() {
  const response = await fetch("/agents/search", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ limit: 100 }) });
  if (!response.ok) { status("agents: " + await problem(response)); return; }
  const agents = await response.json();
  $("agent").replaceChildren(...agents.map((agent) => {
    const option = document.createElement("option");
    option.value = agent.agent_id;
    option.textContent = agent.name === agent.agent_id ? agent.agent_id : `${agent.name} (${agent.agent_id})`;
    option.title = agent.description;
    return option;
  }));
  const saved = store.get("agent");
  if (saved && agents.some((agent) => agent.agent_id === saved)) $("agent").value = saved;
}

async function loadThread() {
  const thread = store.get("thread");
  $("thread-id").textContent = thread || "none yet";
  $("log").replaceChildren();
  if (!thread) return;
  const response = await fetch(`/threads/${encodeURIComponent(thread)}/state`, { headers: headers() });
  if (response.status === 404) { store.set("thread", null); $("thread-id").textContent = "none yet"; return; }
  if (!response.ok) { status("thread: " + await problem(response)); return; }
  const state = await response.json();
  for (const message of state.values.messages) renderMessage(message);
  showApproval(state);
}

/// A run that paused for approval (the agent's `approvals:`): each waiting call with Approve, Edit (its arguments, as
/// JSON) and Reject (with a reason), as its review config allows; once every call has a decision, a run on the
/// thread carries them out (`command.resume`) and streams like any other.
function showApproval(state) {
  const interrupt = (state.interrupts || [])[0];
  if (!interrupt || !interrupt.value || !interrupt.value.action_requests) return;
  const { action_requests: requests, review_configs: configs = [] } = interrupt.value;
  const panel = add("approval", "");
  const title = document.createElement("strong");
  title.textContent = requests.length === 1 ? "This call waits for your decision:" : `These ${requests.length} calls wait for your decisions:`;
  panel.appendChild(title);
  const decisions = new Array(requests.length).fill(null);
  requests.forEach((request, index) => {
    const allowed = (configs.find((config) => config.action_name === request.name) || {}).allowed_decisions || ["approve", "edit", "reject"];
    const row = document.createElement("div");
    row.className = "approval-request";
    const name = document.createElement("code");
    name.textContent = request.name;
    const args = document.createElement("textarea");
    args.className = "approval-args";
    args.rows = 2;
    args.value = JSON.stringify(request.args);
    args.readOnly = !allowed.includes("edit");
    const reason = document.createElement("input");
    reason.className = "approval-reason";
    reason.placeholder = "reason, if you reject";
    row.append(name, args);
    const choose = (decision, label) => {
      if (!allowed.includes(decision.type)) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "approval-" + decision.type;
      button.textContent = label;
      button.addEventListener("click", () => {
        let chosen = decision;
        if (decision.type === "edit") {
          try { chosen = { type: "edit", edited_action: { name: request.name, args: JSON.parse(args.value) } }; }
          catch (error) { status("the arguments are not JSON: " + error.message); return; }
        } else if (decision.type === "reject") {
          chosen = { type: "reject", message: reason.value.trim() };
        }
        decisions[index] = chosen;
        row.dataset.decided = chosen.type;
        if (decisions.every((item) => item)) { panel.remove(); answer(decisions); }
      });
      row.appendChild(button);
    };
    choose({ type: "approve" }, "Approve");
    choose({ type: "edit" }, "Edit");
    choose({ type: "reject" }, "Reject");
    if (allowed.includes("reject")) row.appendChild(reason);
    panel.appendChild(row);
  });
}

/// Sends the decisions and streams the run that carries them out.
async function answer(decisions) {
  $("send").disabled = true;
  status("running…");
  try {
    await streamRun(store.get("thread"), { command: { resume: { decisions } } }, null);
  } catch (error) {
    status("stream interrupted: " + error + " (reload to resume)");
  } finally {
    $("send").disabled = false;
  }
}

/// A run on the thread (`fields`: its input or command), streamed into the log; then what it left waiting, if anything.
async function streamRun(thread, fields, user) {
  const response = await fetch(`/threads/${encodeURIComponent(thread)}/runs/stream`, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({
      assistant_id: $("agent").value, ...fields, stream_mode: ["messages-tuple", "custom"], on_disconnect: "continue",
    }),
  });
  if (!response.ok) { add("error", await problem(response)); return; }
  await follow(response, null, user);
  await afterRun(thread);
  status("");
}

/// After a run on the thread: a pause for approval shows its decisions.
async function afterRun(thread) {
  const response = await fetch(`/threads/${encodeURIComponent(thread)}/state`, { headers: headers() });
  if (response.ok) showApproval(await response.json());
}

/// Reads an event stream from a fetch response and calls onEvent(name, data, id) per frame.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let boundary;
    while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, "");
      let event = "message", id = null, data = [];
      for (const line of frame.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text; else if (field === "id") id = text; else if (field === "data") data.push(text);
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")), id);
    }
  }
}

/// Follows one response's events (the Responses API) into the log; `saved` is what a reload left.
async function followResponse(response, saved, user) {
  let bubble = null, text = saved ? saved.text : "";
  if (saved && text) { bubble = add("msg assistant streaming", text); }
  let id = saved ? saved.run : null;
  await readEvents(response, (event, data) => {
    if (data.response && data.response.id) id = data.response.id;
    if (event === "response.output_text.delta") {
      if (!bubble) bubble = add("msg assistant streaming", "");
      text += data.delta;
      bubble.textContent = text;
      $("log").scrollTop = $("log").scrollHeight;
    } else if (event === "response.output_item.added" && data.item.type === "mcp_call") {
      if (bubble) bubble.classList.remove("streaming");
      bubble = null; text = "";
      add("tool", `▶ ${data.item.name}(${data.item.arguments})`);
    } else if (event === "response.output_item.done" && data.item.type === "mcp_call") {
      add(data.item.error ? "tool failed" : "tool", `↳ ${data.item.name}: ${data.item.error || data.item.output}`);
    } else if (event === "response.completed") {
      const usage = data.response.usage;
      add("usage", `usage: ${usage.input_tokens} in, ${usage.output_tokens} out`);
    } else if (event === "response.failed" || event === "response.incomplete") {
      const error = data.response.error || {};
      add("error", `${error.code || data.response.status}: ${error.message || (data.response.incomplete_details || {}).reason || ""}`);
    }
    if (["response.completed", "response.failed", "response.incomplete"].includes(event)) { store.set("run", null); id = null; return; }
    if (id) store.set("run", JSON.stringify({ run: id, after: data.sequence_number, text, user, api: "openai" }));
  });
  if (bubble) bubble.classList.remove("streaming");
}

/// Follows one run's events into the log; `saved` is what a reload left: {run, after, text}.
async function follow(response, saved, user) {
  let bubble = null, text = saved ? saved.text : "";
  const progress = (run, id) => store.set("run", JSON.stringify({ run, after: id, text, user }));
  if (saved && text) { bubble = add("msg assistant streaming", text); }
  let runID = saved ? saved.run : null;
  await readEvents(response, (event, data, id) => {
    if (event === "metadata") { runID = data.run_id; if (data.attempt > 1) status(`attempt ${data.attempt}: the run was restarted`); }
    else if (event === "messages") {
      const [chunk] = data;
      if (chunk.type === "AIMessageChunk" && chunk.content) {
        if (!bubble) bubble = add("msg assistant streaming", "");
        text += chunk.content;
        bubble.textContent = text;
        $("log").scrollTop = $("log").scrollHeight;
      }
    } else if (event === "custom") {
      if (data.type === "tool_call_started") add("tool", `▶ ${data.tool_call.name}(${JSON.stringify(data.tool_call.args)})`);
      else if (data.type === "tool_call_finished") add("tool", `↳ ${data.tool_call.name}: ${data.result}`);
      else if (data.type === "tool_call_failed") add("tool failed", `↳ ${data.tool_call.name} failed: ${data.error}`);
      else if (data.type === "run_completed") add("usage", `usage: ${data.usage.input_tokens} in, ${data.usage.output_tokens} out` + (data.usage.estimated ? " (estimated)" : ""));
      // A finished answer starts the next bubble afresh.
      if (data.type === "tool_call_started") { if (bubble) bubble.classList.remove("streaming"); bubble = null; text = ""; }
    } else if (event === "error") add("error", `${data.error}: ${data.message}`);
    else if (event === "end") { store.set("run", null); runID = null; return; }
    if (runID && id) progress(runID, id);
  });
  if (bubble) bubble.classList.remove("streaming");
}

async function send(event) {
  event.preventDefault();
  const content = $("message").value.trim();
  if (!content) return;
  let thread = store.get("thread");
  if (!thread) {
    const created = await fetch("/threads", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: "{}" });
    if (!created.ok) { status("thread: " + await problem(created)); return; }
    thread = (await created.json()).thread_id;
    store.set("thread", thread);
    $("thread-id").textContent = thread;
  }
  store.set("agent", $("agent").value);
  $("message").value = "";
  add("msg user", content);
  $("send").disabled = true;
  status("running…");
  try {
    if ($("api").value === "openai") {
      const response = await fetch("/v1/responses", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ model: $("agent").value, input: content, conversation: thread, stream: true }),
      });
      if (!response.ok) { add("error", await problem(response)); return; }
      await followResponse(response, null, content);
      status("");
      return;
    }
    await streamRun(thread, { input: { messages: [{ role: "user", content }] }, multitask_strategy: "enqueue" }, content);
  } catch (error) {
    status("stream interrupted: " + error + " (reload to resume)");
  } finally {
    $("send").disabled = false;
  }
}

/// After a reload: pick up the run that was streaming, after the last event this page saw.
async function resume() {
  const saved = JSON.parse(store.get("run") || "null");
  const thread = store.get("thread");
  if (!saved || !thread) return;
  status("resuming the run after event " + saved.after + "…");
  const openai = saved.api === "openai";
  const response = openai
    ? await fetch(`/v1/responses/${encodeURIComponent(saved.run)}?stream=true&starting_after=${encodeURIComponent(saved.after)}`,
                  { headers: headers({ Accept: "text/event-stream" }) })
    : await fetch(`/threads/${encodeURIComponent(thread)}/runs/${encodeURIComponent(saved.run)}/stream`, {
        headers: headers({ "Last-Event-ID": saved.after, Accept: "text/event-stream" }),
      });
  if (!response.ok) { store.set("run", null); status("resume: " + await problem(response)); return; }
  // The thread's state holds the finished runs only: show this run's question, then its answer so far.
  if (saved.user) add("msg user", saved.user);
  if (openai) await followResponse(response, saved, saved.user); else await follow(response, saved, saved.user);
  status("");
}

// Earlier versions kept the key in localStorage: take it into this tab and off the disk.
if (store.get("key")) { secrets.set("key", secrets.get("key") || store.get("key")); store.set("key", null); }
$("api-key").value = secrets.get("key") || "";
$("api").value = store.get("api") || "langgraph";
$("api").addEventListener("change", () => store.set("api", $("api").value));
$("api-key").addEventListener("change", () => { secrets.set("key", $("api-key").value.trim() || null); loadAgents(); });
$("new-thread").addEventListener("click", () => { store.set("thread", null); store.set("run", null); loadThread(); });
$("composer").addEventListener("submit", send);
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});
loadAgents().then(loadThread).then(resume);
