// The admin API as the page uses it. The admin token lives in sessionStorage (this tab only,
// gone when it closes) and goes out as `Authorization: Bearer`; never in a URL or a cookie.

const TOKEN_KEY = "voice-relay.admin-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class AdminApi {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  /** GET (or `method`) a path of the admin API; the Response, or ApiError with the server's reason. */
  async fetch(path, params = {}, method = "GET") {
    const url = new URL(`/api/admin/${path}`, window.location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    let response;
    try {
      response = await fetch(url, { method, headers, cache: "no-store" });
    } catch {
      throw new ApiError(0, "The relay could not be reached.");
    }
    if (!response.ok) {
      let reason = response.statusText;
      try {
        reason = (await response.json()).error ?? reason;
      } catch {
        // not JSON: keep the status text
      }
      throw new ApiError(response.status, reason);
    }
    return response;
  }

  async json(path, params) {
    return (await this.fetch(path, params)).json();
  }

  dashboard() {
    return this.json("dashboard");
  }

  stats(days) {
    return this.json("stats", { days, utc_offset_minutes: -new Date().getTimezoneOffset() });
  }

  conversations(continuation, customerId) {
    return this.json("conversations", { limit: 10, continuation, customer_id: customerId });
  }

  conversation(customerId, id) {
    return this.json(`conversations/${encodeURIComponent(customerId)}/${encodeURIComponent(id)}`);
  }

  /** A short-lived link the <audio> element can fetch the recording with (./recording.mjs). */
  async recordingLink(customerId, id) {
    const path = `conversations/${encodeURIComponent(customerId)}/${encodeURIComponent(id)}/recording/link`;
    return (await this.fetch(path, {}, "POST")).json();
  }

  /** Every conversation as NDJSON, for a download. */
  async export() {
    return (await this.fetch("export")).blob();
  }
}
