// Microphone capture in the audio thread: whatever rate the device runs at, resampled to the
// API's 24 kHz, converted to PCM16 and cut into 20 ms frames. Each frame goes to the page with
// its level (for the meter); the page base64-encodes it (btoa does not exist in worklets) and
// sends it. Posting whole frames, not 128-sample render quanta, keeps messages to 50 a second.

import { API_RATE, FRAME_SAMPLES, FrameChunker, Resampler, floatToPcm16, meterLevel } from "./pcm.mjs";

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(sampleRate, API_RATE);
    this.chunker = new FrameChunker(FRAME_SAMPLES);
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === "stop") this.running = false;
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      for (const frame of this.chunker.push(this.resampler.process(mono(channels)))) {
        const pcm = floatToPcm16(frame);
        this.port.postMessage({ pcm, level: meterLevel(frame) }, [pcm.buffer]);
      }
    }
    return this.running;
  }
}

/** The first channel, or the average of all of them when the device delivers more than one. */
function mono(channels) {
  if (channels.length === 1) return channels[0];
  const mixed = new Float32Array(channels[0].length);
  for (const channel of channels) {
    for (let i = 0; i < mixed.length; i++) mixed[i] += channel[i] / channels.length;
  }
  return mixed;
}

registerProcessor("capture", CaptureProcessor);
