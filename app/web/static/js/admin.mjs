// The admin page (/admin): sign-in, dashboard figures, the live call board (live.mjs), calls
// per day, recent conversations (paged with the API's continuation tokens) and one
// conversation's transcript.

import { AdminApi, ApiError } from "./api.mjs";
import { drawCallsPerDay } from "./chart.mjs";
import { formatDuration, formatPercent, formatTime, reasonIsProblem, reasonText } from "./format.mjs";
import { LiveBoard } from "./live.mjs";
import { RecordingPlayer, recordingSummary } from "./recording.mjs";

const CHART_DAYS = 14;
const REFRESH_MS = 10000;

const $ = (id) => document.getElementById(id);
const api = new AdminApi();

const live = new LiveBoard({
  token: () => api.token,
  openConversation: (customerId, id) => openConversation({ customer_id: customerId, id }).catch(failed),
  refused: (error) => failed(new ApiError(error.status, error.message)),
});

const player = new RecordingPlayer(
  { section: $("detail-recording"), audio: $("detail-audio"), note: $("recording-note") },
  api,
);

const page = {
  // Continuation tokens of the pages before the current one ([0] is the first page: null).
  trail: [null],
  next: null,
  customer: "",
  timer: null,
};

function showProblem(text) {
  $("admin-problem").textContent = text ?? "";
  $("admin-problem").hidden = !text;
}

function showSignIn(message) {
  clearInterval(page.timer);
  live.stop();
  $("dashboard").hidden = true;
  $("sign-in").hidden = false;
  showProblem(message);
  $("admin-token").focus();
}

/** Turn an API failure into what the operator needs to know (and the sign-in form if useful). */
function failed(error) {
  if (!(error instanceof ApiError)) {
    console.error(error);
    showProblem(`Something went wrong on this page: ${error?.message ?? error}`);
  } else if (error.status === 401) {
    const hadToken = Boolean(api.token);
    api.token = null;
    showSignIn(hadToken ? "That admin token was not accepted. Please sign in again." : "");
  } else if (error.status === 403) {
    showSignIn(`The admin page is not available here: ${error.message}.`);
  } else if (error.status === 503) {
    showProblem(`The conversation store is not answering right now (${error.message}).`);
  } else {
    showProblem(error.status ? `The relay answered: ${error.message}` : error.message);
  }
}

async function refreshFigures() {
  const dashboard = await api.dashboard();
  // A figure the store could not give is null, with the reason under `unavailable`.
  $("figure-conversations").value = String(dashboard.ai_conversations_count ?? "–");
  $("figure-active").value = String(dashboard.active_calls);
  $("figure-duration").value = formatDuration(dashboard.average_duration_seconds);
  $("figure-interruptions").value = formatPercent(dashboard.interruption_rate);
  $("figures-note").textContent =
    `Average duration and interruption rate (calls where the caller cut the assistant short) ` +
    `cover the last ${dashboard.stats_days} days. Store: ${dashboard.store}; model: ${dashboard.upstream}.` +
    Object.entries(dashboard.unavailable ?? {})
      .map(([figure, reason]) => ` Not available: ${figure.replaceAll("_", " ")} (${reason}).`)
      .join("");
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  return dashboard;
}

async function refreshChart() {
  const stats = await api.stats(CHART_DAYS);
  drawCallsPerDay($("chart"), stats.calls_per_day);
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  row.append(td);
  return td;
}

async function showPage(continuation) {
  const result = await api.conversations(continuation, page.customer);
  page.next = result.continuation;
  const body = $("recent").tBodies[0];
  body.replaceChildren();
  for (const item of result.items) {
    const row = document.createElement("tr");
    row.dataset.id = item.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = formatTime(item.session_start);
    open.title = "Show the transcript";
    cell(row, open);
    cell(row, item.customer_id);
    cell(row, formatDuration(item.duration_seconds));
    cell(row, String(item.metadata?.total_messages ?? "–"));
    cell(row, String(item.metadata?.interruptions ?? 0));
    const reason = cell(row, reasonText(item.disconnect_reason));
    if (reasonIsProblem(item.disconnect_reason)) reason.classList.add("reason-problem");
    row.addEventListener("click", () => openConversation(item, row).catch(failed));
    body.append(row);
  }
  $("recent-empty").hidden = result.items.length > 0;
  $("older").disabled = !page.next;
  $("newer").disabled = page.trail.length <= 1;
  $("page-label").textContent = `Page ${page.trail.length}`;
}

function fact(list, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  list.append(dt, dd);
}

async function openConversation(item, row) {
  const doc = await api.conversation(item.customer_id, item.id);
  for (const selected of $("recent").querySelectorAll("tr.selected")) selected.classList.remove("selected");
  row?.classList.add("selected");
  const meta = doc.metadata ?? {};
  $("detail-title").textContent = `Conversation with ${doc.customer_id}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  fact(facts, "Conversation", doc.conversation_id ?? doc.id);
  fact(facts, "Customer", doc.customer_id);
  fact(facts, "Started", formatTime(doc.session_start));
  fact(facts, "Ended", formatTime(doc.session_end));
  fact(facts, "Duration", formatDuration(doc.duration_seconds));
  const reason = document.createElement("span");
  reason.textContent = `${reasonText(doc.disconnect_reason)} (${doc.disconnect_reason})`;
  if (reasonIsProblem(doc.disconnect_reason)) reason.className = "reason-problem";
  fact(facts, "Disconnect reason", reason);
  fact(facts, "Messages", `${meta.user_messages ?? 0} from the caller, ${meta.assistant_messages ?? 0} from the assistant`);
  fact(facts, "Interruptions", String(meta.interruptions ?? 0));
  fact(facts, "Agents", (meta.agents_used ?? []).join(", ") || "–");
  fact(facts, "Tools called", (meta.tools_called ?? []).join(", ") || "none");
  fact(facts, "Recording", doc.recording ? recordingSummary(doc.recording) : "not recorded");

  const list = $("detail-messages");
  list.replaceChildren();
  for (const message of doc.messages ?? []) {
    const li = document.createElement("li");
    li.className = message.sender;
    const speaker = document.createElement("strong");
    speaker.textContent = message.sender === "user" ? "Caller: " : "Assistant: ";
    li.append(speaker, message.message);
    if (message.interrupted) {
      li.classList.add("interrupted");
      const flag = document.createElement("span");
      flag.className = "flag";
      flag.textContent = " (interrupted)";
      li.append(flag);
    }
    list.append(li);
  }
  $("detail").hidden = false;
  $("detail").scrollIntoView({ block: "start" });
  await player.show(doc);
}

async function showDashboard() {
  const dashboard = await refreshFigures();
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  showProblem("");
  $("who").textContent = api.token ? "Signed in with the admin token." : "Open from this machine (no ADMIN_TOKEN set).";
  $("sign-out").hidden = !api.token;
  page.trail = [null];
  await Promise.all([refreshChart(), showPage(null)]);
  clearInterval(page.timer);
  page.timer = setInterval(() => refreshFigures().catch(failed), REFRESH_MS);
  live.start();
  return dashboard;
}

async function exportAll() {
  const blob = await api.export();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `conversations-${new Date().toISOString().slice(0, 10)}.ndjson`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  api.token = $("admin-token").value.trim();
  $("admin-token").value = "";
  showDashboard().catch(failed);
});
$("sign-out").addEventListener("click", () => {
  api.token = null;
  showSignIn("Signed out.");
});
$("refresh").addEventListener("click", () => {
  Promise.all([refreshFigures(), refreshChart(), showPage(page.trail.at(-1))]).catch(failed);
});
$("export").addEventListener("click", () => exportAll().catch(failed));
$("older").addEventListener("click", () => {
  page.trail.push(page.next);
  showPage(page.next).catch(failed);
});
$("newer").addEventListener("click", () => {
  page.trail.pop();
  showPage(page.trail.at(-1)).catch(failed);
});
$("filter").addEventListener("submit", (event) => {
  event.preventDefault();
  page.customer = $("filter-customer").value.trim();
  page.trail = [null];
  showPage(null).catch(failed);
});
$("close-detail").addEventListener("click", () => {
  player.hide();
  $("detail").hidden = true;
});

showDashboard().catch(failed);
