// The live call board on /admin: one row per live call (customer, agent, duration, state),
// updated as the relay pushes changes, and the transcript of the call being watched. Both come
// from the relay's server-sent event streams (/api/admin/live and /api/admin/live/<session>),
// read with fetch() so the admin token travels as a header, never in a URL.

import { readEvents, StreamError } from "./events.mjs";
import { formatDuration, reasonIsProblem, reasonText } from "./format.mjs";

const BOARD_URL = "/api/admin/live";
/** Wait before reconnecting a stream that ended early or fell behind. */
const RECONNECT_MS = 1000;
const TICK_MS = 1000;

const STATES = { listening: "Listening", speaking: "Agent speaking", tool: "Tool running" };
const SPEAKERS = { user: "Caller: ", assistant: "Assistant: " };

/** A row's state in plain words. */
export function stateText(state) {
  return STATES[state] ?? String(state ?? "");
}

const $ = (id) => document.getElementById(id);

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

function button(text, title, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "link";
  element.textContent = text;
  if (title) element.title = title;
  element.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick();
  });
  return element;
}

export class LiveBoard {
  /**
   * token(): the admin token or null; openConversation(customerId, id): show a stored
   * conversation; refused(error): the relay refused the token (a StreamError, 401 or 403).
   */
  constructor({ token, openConversation, refused }) {
    this.token = token;
    this.openConversation = openConversation;
    this.refused = refused;
    this.rows = new Map(); // session id -> { row, at (performance.now() when received), tr }
    this.board = null; // AbortController of the board stream
    this.watching = null; // { sessionId, controller, ended }
    this.timer = null;
    $("close-live").addEventListener("click", () => this.unwatch());
  }

  start() {
    this.stop();
    this.board = new AbortController();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.runBoard(this.board.signal);
  }

  stop() {
    this.board?.abort();
    this.board = null;
    clearInterval(this.timer);
    this.unwatch();
  }

  // -- the board ---------------------------------------------------------------------------

  async runBoard(signal) {
    while (!signal.aborted) {
      try {
        await readEvents(BOARD_URL, { token: this.token(), signal, onEvent: (name, data) => this.onBoard(name, data) });
        if (!signal.aborted) this.status("Live updates paused; reconnecting…");
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof StreamError && (error.status === 401 || error.status === 403)) {
          this.refused(error);
          return;
        }
        this.status(`Live updates interrupted (${error.message}); retrying…`);
      }
      await pause(RECONNECT_MS, signal);
    }
  }

  onBoard(name, data) {
    if (name === "snapshot") {
      const live = new Set(data.calls.map((row) => row.session_id));
      for (const [id, entry] of this.rows) {
        if (!entry.row.ended && !live.has(id)) {
          entry.tr.remove();
          this.rows.delete(id);
        }
      }
      for (const row of data.calls) this.showRow(row);
      this.status("");
    } else if (name === "row") {
      this.showRow(data);
    } else if (name === "lagged") {
      this.status("The board fell behind and lost updates; reloading it…");
    }
    $("live-empty").hidden = this.rows.size > 0;
  }

  showRow(row) {
    let entry = this.rows.get(row.session_id);
    if (!entry) {
      const tr = document.createElement("tr");
      tr.dataset.session = row.session_id;
      tr.addEventListener("click", () => this.watch(row.session_id));
      $("live-calls").tBodies[0].prepend(tr);
      entry = { tr };
      this.rows.set(row.session_id, entry);
    }
    entry.row = row;
    entry.at = performance.now();
    this.render(entry);
  }

  render({ row, tr, at }) {
    const cells = [];
    const cell = (content) => {
      const td = document.createElement("td");
      if (content instanceof Node) td.append(content);
      else td.textContent = content;
      cells.push(td);
      return td;
    };
    cell(button(row.customer_id, "Watch this call's transcript", () => this.watch(row.session_id)));
    cell(row.agent);
    const duration = cell(formatDuration(row.ended ? row.elapsed : row.elapsed + (performance.now() - at) / 1000));
    duration.className = "duration";
    if (row.ended) {
      const state = cell(reasonText(row.reason));
      if (reasonIsProblem(row.reason)) state.classList.add("reason-problem");
      if (row.conversation) {
        state.append(" ", button("Open conversation", "The conversation as stored", () =>
          this.openConversation(row.customer_id, row.conversation)));
      }
    } else {
      cell(stateText(row.state)).className = `state ${row.state}`;
    }
    tr.classList.toggle("ended", row.ended);
    tr.classList.toggle("selected", this.watching?.sessionId === row.session_id);
    tr.replaceChildren(...cells);
  }

  tick() {
    const now = performance.now();
    for (const { row, at, tr } of this.rows.values()) {
      if (!row.ended) tr.querySelector(".duration").textContent = formatDuration(row.elapsed + (now - at) / 1000);
    }
  }

  status(text) {
    $("live-status").textContent = text;
  }

  // -- one call's transcript ---------------------------------------------------------------

  watch(sessionId) {
    this.unwatch();
    const controller = new AbortController();
    this.watching = { sessionId, controller, ended: false };
    const entry = this.rows.get(sessionId);
    $("live-detail-title").textContent = `Live call with ${entry?.row.customer_id ?? "a caller"}`;
    $("live-lines").replaceChildren();
    $("live-detail").hidden = false;
    for (const { tr } of this.rows.values()) tr.classList.toggle("selected", tr.dataset.session === sessionId);
    this.runCall(this.watching);
  }

  unwatch() {
    this.watching?.controller.abort();
    this.watching = null;
    $("live-detail").hidden = true;
    for (const { tr } of this.rows.values()) tr.classList.remove("selected");
  }

  async runCall(watching) {
    const { sessionId, controller: { signal } } = watching;
    const url = `${BOARD_URL}/${encodeURIComponent(sessionId)}`;
    while (!signal.aborted && !watching.ended) {
      try {
        await readEvents(url, { token: this.token(), signal, onEvent: (name, data) => this.onCall(watching, name, data) });
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof StreamError && error.status === 404) {
          this.callStatus("This call is no longer live.");
          return;
        }
        if (error instanceof StreamError && (error.status === 401 || error.status === 403)) {
          this.refused(error);
          return;
        }
        this.callStatus(`The transcript stream was interrupted (${error.message}); retrying…`);
      }
      if (!watching.ended) await pause(RECONNECT_MS, signal);
    }
  }

  onCall(watching, name, data) {
    if (watching !== this.watching) return;
    if (name === "snapshot") {
      $("live-lines").replaceChildren(...data.lines.map((line) => this.lineElement(line)));
      this.callRow(watching, data.row);
    } else if (name === "line") {
      $("live-lines").append(this.lineElement(data));
    } else if (name === "interrupted") {
      const li = [...$("live-lines").children].find((item) => item.dataset.key === data.key);
      if (li) this.markInterrupted(li);
    } else if (name === "row") {
      this.callRow(watching, data);
    } else if (name === "lagged") {
      this.callStatus("This view fell behind and lost updates; reloading the transcript…");
    }
  }

  callRow(watching, row) {
    watching.ended = row.ended;
    this.callStatus(row.ended
      ? `The call ended: ${reasonText(row.reason)}.`
      : `Agent: ${row.agent}. ${stateText(row.state)}.`);
  }

  callStatus(text) {
    $("live-detail-status").textContent = text;
  }

  lineElement(line) {
    const li = document.createElement("li");
    li.className = line.kind;
    li.dataset.key = line.key;
    const speaker = SPEAKERS[line.kind];
    if (speaker) {
      const strong = document.createElement("strong");
      strong.textContent = speaker;
      li.append(strong);
    }
    li.append(line.text);
    if (line.interrupted) this.markInterrupted(li);
    return li;
  }

  markInterrupted(li) {
    if (li.classList.contains("interrupted")) return;
    li.classList.add("interrupted");
    const flag = document.createElement("span");
    flag.className = "flag";
    flag.textContent = " (interrupted)";
    li.append(flag);
  }
}
