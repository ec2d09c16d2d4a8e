// Server-sent events read with fetch(): the live board's streams need the admin token in an
// Authorization header, which EventSource cannot send (and a token in the URL would end up in
// access logs). EventParser is pure; readEvents does the fetching.

/** Splits a text/event-stream into events: push() text as it arrives, get whole events back. */
export class EventParser {
  constructor() {
    this.buffer = "";
  }

  /** The events completed by `text`: [{ event, data }] (comments and data-less blocks skipped). */
  push(text) {
    this.buffer += text.replace(/\r\n?/g, "\n");
    const events = [];
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) events.push({ event, data: data.join("\n") });
    }
    return events;
  }
}

export class StreamError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * GET `url` as an event stream and call `onEvent(name, parsedJson)` for each event until the
 * server ends it (resolves) or `signal` aborts it (rejects with an AbortError).
 */
export async function readEvents(url, { token, signal, onEvent }) {
  const headers = { Accept: "text/event-stream" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { headers, signal, cache: "no-store" });
  if (!response.ok) {
    let reason = response.statusText;
    try {
      reason = (await response.json()).error ?? reason;
    } catch {
      // not JSON: keep the status text
    }
    throw new StreamError(response.status, reason);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const { event, data } of parser.push(value)) onEvent(event, JSON.parse(data));
    }
  } finally {
    reader.releaseLock();
  }
}
