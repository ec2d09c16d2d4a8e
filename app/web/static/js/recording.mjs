// A recorded conversation's player, in the transcript view of the admin page.
//
// An <audio src> cannot send the admin token's Authorization header. Fetching the file with the
// header into a blob: URL would hold the whole call in the page and make the operator wait for
// all of it before the first second plays. So the page asks the admin API, with its header, for
// a short-lived signed link to this one recording (POST .../recording/link) and gives the player
// that: the player fetches the recording itself, with the range requests that let it start at
// once and seek. A link that expires while the operator listens is replaced, at the same place.

import { formatDuration } from "./format.mjs";

/** The recording's state in plain words, from the document's `recording` field. */
export function recordingSummary(recording) {
  const parts = [formatDuration(recording?.seconds)];
  if (recording?.cut_by_crash) parts.push("cut short: the relay stopped during the call");
  const gaps = recording?.gaps ?? 0;
  if (gaps > 0) parts.push(`${gaps} ${gaps === 1 ? "gap" : "gaps"} where the recorder fell behind`);
  if (parts.length === 1 && recording?.complete !== false) parts.push("complete");
  return parts.join(", ");
}

export class RecordingPlayer {
  /**
   * @param {{section: HTMLElement, audio: HTMLAudioElement, note: HTMLElement}} elements
   * @param {{recordingLink(customerId: string, id: string): Promise<{url: string}>}} api
   */
  constructor({ section, audio, note }, api) {
    this.section = section;
    this.audio = audio;
    this.note = note;
    this.api = api;
    this.current = null;
    this.renewals = 0;
    audio.addEventListener("error", () => this.renew().catch((error) => this.failed(error)));
    audio.addEventListener("loadedmetadata", () => {
      this.renewals = 0;
    });
  }

  /** Show the player for `doc` (a full conversation document), or hide it when not recorded. */
  async show(doc) {
    this.hide();
    if (!doc.recording) return;
    this.current = { customerId: doc.customer_id, id: doc.id };
    this.note.textContent = "The caller on the left channel, the assistant on the right.";
    this.section.hidden = false;
    try {
      await this.load(0, false);
    } catch (error) {
      this.failed(error);
    }
  }

  hide() {
    this.current = null;
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    this.section.hidden = true;
  }

  async load(at, playing) {
    const target = this.current;
    if (!target) return;
    const link = await this.api.recordingLink(target.customerId, target.id);
    if (this.current !== target) return; // another conversation was opened meanwhile
    this.audio.src = link.url;
    if (at > 0) this.audio.currentTime = at;
    if (playing) await this.audio.play();
  }

  /** The player was refused or lost the connection: once, ask for a fresh link and go on. */
  async renew() {
    if (!this.current || !this.audio.getAttribute("src")) return;
    if (this.renewals >= 1) {
      this.failed(new Error(this.audio.error?.message || "the recording could not be loaded"));
      return;
    }
    this.renewals += 1;
    await this.load(this.audio.currentTime, !this.audio.paused);
  }

  failed(error) {
    this.note.textContent = `The recording cannot be played: ${error?.message ?? error}`;
  }
}
