// The playback side's jitter buffer, as plain logic the AudioWorklet processor drives
// (app/web/static/js/playback-worklet.mjs) and node tests can run without Web Audio.
//
// Assistant audio arrives as deltas of varying size and timing; the audio thread pulls a fixed
// quantum (128 samples) every ~3 ms. Playback starts once `prebuffer` samples are queued, or
// once the item's audio is complete (a short reply must not wait for audio that never comes),
// so a late delta does not make the voice stutter at the start. When the queue runs dry before
// the item is complete it counts an underrun and buffers again.
//
// It also counts, per item, the samples actually handed to the output: that count is what
// barge-in reports to the model as `audio_end_ms` (what the listener heard, not what arrived).

export class PlaybackQueue {
  /** @param {number} prebuffer samples to collect before playing */
  constructor(prebuffer) {
    this.prebuffer = prebuffer;
    /** @type {{itemId: string, samples: Float32Array, offset: number}[]} */
    this.chunks = [];
    this.queued = 0;
    this.playing = false;
    this.underruns = 0;
    /** @type {Map<string, number>} samples played per item */
    this.played = new Map();
    /** Items whose audio is complete (no more deltas will come). */
    this.complete = new Set();
    /** The item being played or waited for, until all of its audio has been played. */
    this.current = null;
  }

  /** @param {string} itemId @param {Float32Array} samples */
  push(itemId, samples) {
    if (samples.length === 0) return;
    this.chunks.push({ itemId, samples, offset: 0 });
    this.queued += samples.length;
    if (this.current === null) this.current = itemId;
  }

  /** No more audio will come for `itemId`. */
  end(itemId) {
    this.complete.add(itemId);
    this.settle();
  }

  /**
   * Fill `out` with the next samples (silence where there are none).
   * @param {Float32Array} out
   * @returns {number} how many samples of audio were written
   */
  render(out) {
    if (!this.playing) {
      const head = this.chunks[0];
      const ready = this.queued >= this.prebuffer || (head && this.complete.has(head.itemId));
      if (!ready) {
        out.fill(0);
        return 0;
      }
      this.playing = true;
    }
    let written = 0;
    while (written < out.length && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const take = Math.min(out.length - written, chunk.samples.length - chunk.offset);
      out.set(chunk.samples.subarray(chunk.offset, chunk.offset + take), written);
      chunk.offset += take;
      written += take;
      this.queued -= take;
      this.current = chunk.itemId;
      this.played.set(chunk.itemId, (this.played.get(chunk.itemId) ?? 0) + take);
      if (chunk.offset === chunk.samples.length) this.chunks.shift();
    }
    out.fill(0, written);
    if (this.chunks.length === 0) {
      this.playing = false;
      // Ran dry while more of the item is still to come: buffer again before resuming.
      if (this.current !== null && !this.complete.has(this.current)) this.underruns++;
      this.settle();
    }
    return written;
  }

  /** Forget `current` once all of its audio has been played. */
  settle() {
    if (this.current === null || !this.complete.has(this.current)) return;
    if (this.chunks.some((chunk) => chunk.itemId === this.current)) return;
    this.current = this.chunks.length > 0 ? this.chunks[0].itemId : null;
  }

  /** Whether an item's audio is still playing or still expected. */
  get busy() {
    return this.current !== null;
  }

  /**
   * Stop at once (barge-in): drop everything queued.
   * @returns {{itemId: string, played: number} | null} the item cut short and how many of its
   *   samples were played, or null when nothing was playing or expected.
   */
  clear() {
    const cut =
      this.current === null
        ? null
        : { itemId: this.current, played: this.played.get(this.current) ?? 0 };
    if (cut) this.complete.add(cut.itemId);
    this.chunks = [];
    this.queued = 0;
    this.playing = false;
    this.current = null;
    return cut;
  }
}
