// Assistant audio in the audio thread: 24 kHz PCM16 deltas resampled to the output rate, played
// through a small jitter buffer (./jitter.mjs). The page learns what has been heard from
// "progress" messages (every PROGRESS_MS while playing, and when an item has been played to the
// end) and, on barge-in, from the answer to "clear", which stops playback before the next
// render quantum and reports the samples of the cut item actually played.

import { PlaybackQueue } from "./jitter.mjs";
import { API_RATE, Resampler, pcm16ToFloat } from "./pcm.mjs";

const PROGRESS_MS = 50;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const prebufferMs = options.processorOptions?.prebufferMs ?? 80;
    this.queue = new PlaybackQueue(Math.round((sampleRate * prebufferMs) / 1000));
    this.resampler = null;
    this.resamplingItem = null;
    this.sinceProgress = 0;
    this.port.onmessage = (event) => this.command(event.data);
  }

  command(message) {
    if (message.type === "push") {
      // A fresh resampler per item: one reply's last sample must not bleed into the next.
      if (this.resamplingItem !== message.itemId) {
        this.resampler = new Resampler(API_RATE, sampleRate);
        this.resamplingItem = message.itemId;
      }
      this.queue.push(message.itemId, this.resampler.process(pcm16ToFloat(message.pcm)));
    } else if (message.type === "end") {
      this.queue.end(message.itemId);
    } else if (message.type === "clear") {
      const cut = this.queue.clear();
      this.resamplingItem = null;
      this.port.postMessage({
        type: "cleared",
        request: message.request,
        itemId: cut ? cut.itemId : null,
        playedMs: cut ? this.ms(cut.played) : 0,
      });
    }
  }

  ms(samples) {
    return (samples * 1000) / sampleRate;
  }

  process(_inputs, outputs) {
    const channels = outputs[0];
    const before = this.queue.current;
    this.queue.render(channels[0]);
    for (let c = 1; c < channels.length; c++) channels[c].set(channels[0]);
    if (before !== null) {
      this.sinceProgress += channels[0].length;
      const finished = this.queue.current !== before;
      if (finished || this.ms(this.sinceProgress) >= PROGRESS_MS) {
        this.sinceProgress = 0;
        this.port.postMessage({
          type: "progress",
          itemId: before,
          playedMs: this.ms(this.queue.played.get(before) ?? 0),
          finished,
          underruns: this.queue.underruns,
        });
      }
    }
    return true;
  }
}

registerProcessor("playback", PlaybackProcessor);
