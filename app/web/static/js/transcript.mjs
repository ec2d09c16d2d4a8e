// The live transcript: one entry per message (user or assistant) in the page's log region,
// placed in conversation order (./order.mjs). An entry appears with its first text, so a
// message that never gets any (audio the model could not transcribe) leaves no empty line.

import { ConversationOrder } from "./order.mjs";

const SPEAKERS = { user: "You", assistant: "Agent" };

export class Transcript {
  /** @param {HTMLElement} log the element with role="log" */
  constructor(log) {
    this.log = log;
    this.order = new ConversationOrder();
    /** @type {Map<string, {element: HTMLElement, text: HTMLElement, role: string}>} */
    this.entries = new Map();
  }

  clear() {
    this.log.replaceChildren();
    this.order = new ConversationOrder();
    this.entries.clear();
  }

  /** An item of the conversation was announced (any role; only messages get entries). */
  itemAdded(itemId, previousItemId) {
    this.order.add(itemId, previousItemId);
  }

  /** Append streamed text to a message. */
  append(itemId, role, delta) {
    if (!delta) return;
    const entry = this.entry(itemId, role);
    entry.text.textContent += delta;
  }

  /** The final text of a message (replaces what streamed in). */
  complete(itemId, role, text) {
    if (!text && !this.entries.has(itemId)) return;
    const entry = this.entry(itemId, role);
    entry.text.textContent = text;
    entry.element.classList.add("final");
  }

  /** The listener cut this message short (barge-in). */
  markInterrupted(itemId) {
    const entry = this.entries.get(itemId);
    if (!entry || entry.element.classList.contains("interrupted")) return;
    entry.element.classList.add("interrupted");
    const flag = document.createElement("span");
    flag.className = "flag";
    flag.textContent = " (interrupted)";
    entry.element.append(flag);
  }

  /** How much of an assistant message's audio has been played, for anyone inspecting it. */
  setPlayed(itemId, playedMs) {
    const entry = this.entries.get(itemId);
    if (entry) entry.element.dataset.playedMs = String(Math.round(playedMs));
  }

  entry(itemId, role) {
    let entry = this.entries.get(itemId);
    if (entry) return entry;
    const element = document.createElement("p");
    element.className = `entry ${role}`;
    element.dataset.itemId = itemId;
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = `${SPEAKERS[role] ?? role}: `;
    const text = document.createElement("span");
    text.className = "text";
    element.append(speaker, text);
    entry = { element, text, role };
    const next = this.order.nextShown(itemId, (id) => this.entries.has(id));
    this.log.insertBefore(element, next ? this.entries.get(next).element : null);
    this.entries.set(itemId, entry);
    this.log.scrollTop = this.log.scrollHeight;
    return entry;
  }
}
