// One voice call: the websocket to the relay plus the audio engine, and the Realtime events
// between them. The page (./voice.mjs) gives it handlers and shows what they report.
//
// Hanging up closes the socket with 1000, the only code the relay logs as `user_hangup`. Closing
// the tab is left to the browser, which closes with 1001 ("going away", logged as `client_gone`):
// the page must not send 1000 from an unload handler, or a closed tab would look like a hang-up.

import { AudioEngine } from "./audio.mjs";
import { appendEvent, base64ToBytes, bytesToBase64 } from "./pcm.mjs";

/** Frames kept while the socket is still opening (5 s); older ones are dropped first. */
const MAX_EARLY_FRAMES = 250;

const ITEM_ADDED = new Set(["conversation.item.added", "conversation.item.created"]);
const AUDIO_DELTA = new Set(["response.output_audio.delta", "response.audio.delta"]);
const AUDIO_DONE = new Set(["response.output_audio.done", "response.audio.done"]);
const TEXT_DELTA = new Set([
  "response.output_audio_transcript.delta",
  "response.audio_transcript.delta",
  "response.output_text.delta",
  "response.text.delta",
]);
const TEXT_DONE = new Map([
  ["response.output_audio_transcript.done", "transcript"],
  ["response.audio_transcript.done", "transcript"],
  ["response.output_text.done", "text"],
  ["response.text.done", "text"],
]);

/** The relay's websocket URL for this page's host. */
export function callUrl(location, customerId) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = customerId ? `?customer_id=${encodeURIComponent(customerId)}` : "";
  return `${scheme}//${location.host}/api/realtime${query}`;
}

export class Call {
  /**
   * @param {string} url
   * @param {{state: (text: string) => void, level: (value: number) => void,
   *          problem: (text: string) => void, ended: (code: number, opened: boolean) => void,
   *          transcript: import("./transcript.mjs").Transcript}} view
   */
  static async start(url, view) {
    const call = new Call(url, view);
    call.audio = await AudioEngine.open({
      onFrame: (pcm, level) => call.onFrame(pcm, level),
      onProgress: (progress) => call.onProgress(progress),
    });
    call.connect();
    return call;
  }

  constructor(url, view) {
    this.url = url;
    this.view = view;
    this.audio = null;
    this.socket = null;
    this.opened = false;
    this.hungUp = false;
    this.early = [];
    /** Assistant items cut short by barge-in: their late audio deltas are not played. */
    this.cut = new Set();
    this.speaking = null;
  }

  connect() {
    this.view.state("Connecting…");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      this.view.state("Connected. Speak whenever you are ready.");
      for (const frame of this.early) socket.send(frame);
      this.early = [];
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // not an event: nothing to show or play
      }
      this.onEvent(event);
    };
    socket.onclose = (event) => this.onClose(event.code);
  }

  /** Hang up: close with 1000 and release the microphone. */
  hangUp() {
    this.hungUp = true;
    this.socket?.close(1000, "hang up");
    this.audio?.close();
  }

  send(event) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  onFrame(pcm, level) {
    this.view.level(level);
    const frame = appendEvent(bytesToBase64(pcm));
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(frame);
    } else if (!this.opened && !this.hungUp) {
      this.early.push(frame);
      if (this.early.length > MAX_EARLY_FRAMES) this.early.shift();
    }
  }

  onProgress({ itemId, playedMs, finished }) {
    this.view.transcript.setPlayed(itemId, playedMs);
    if (finished) {
      if (this.speaking === itemId) this.speaking = null;
      if (this.speaking === null) this.view.state("Your turn: the agent is listening.");
    } else if (this.speaking !== itemId && playedMs > 0) {
      this.speaking = itemId;
      this.view.state("The agent is speaking…");
    }
  }

  onEvent(event) {
    const type = event.type;
    if (AUDIO_DELTA.has(type)) {
      if (!this.cut.has(event.item_id)) this.audio.play(event.item_id, base64ToBytes(event.delta));
    } else if (AUDIO_DONE.has(type)) {
      this.audio.endOfItem(event.item_id);
    } else if (TEXT_DELTA.has(type)) {
      this.view.transcript.append(event.item_id, "assistant", event.delta);
    } else if (TEXT_DONE.has(type)) {
      this.view.transcript.complete(event.item_id, "assistant", event[TEXT_DONE.get(type)]);
    } else if (ITEM_ADDED.has(type)) {
      if (event.item?.id) this.view.transcript.itemAdded(event.item.id, event.previous_item_id);
    } else if (type === "conversation.item.input_audio_transcription.delta") {
      this.view.transcript.append(event.item_id, "user", event.delta);
    } else if (type === "conversation.item.input_audio_transcription.completed") {
      this.view.transcript.complete(event.item_id, "user", event.transcript);
    } else if (type === "input_audio_buffer.speech_started") {
      this.view.state("Hearing you…");
      this.bargeIn();
    } else if (type === "conversation.item.truncated") {
      this.view.transcript.markInterrupted(event.item_id);
    } else if (type === "error") {
      this.view.problem(event);
    }
  }

  /**
   * The person started speaking: if the agent is still playing, stop at once and tell the
   * model how much of its reply was heard, so it forgets the rest.
   */
  async bargeIn() {
    const cut = await this.audio.interrupt();
    if (cut === null) return;
    this.cut.add(cut.itemId);
    this.speaking = null;
    const heardMs = Math.floor(cut.playedMs);
    this.send({
      type: "conversation.item.truncate",
      item_id: cut.itemId,
      content_index: 0,
      audio_end_ms: heardMs,
    });
    this.view.transcript.setPlayed(cut.itemId, heardMs);
    this.view.transcript.markInterrupted(cut.itemId);
  }

  onClose(code) {
    this.early = [];
    this.audio?.close();
    this.view.ended(code, this.opened, this.hungUp);
  }
}
