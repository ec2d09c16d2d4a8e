// Audio as the Realtime API carries it: PCM16 little-endian mono at 24 kHz, base64 in JSON.
//
// Pure functions and small stateful converters, no DOM and no Web Audio: the same module runs in
// the page, in the AudioWorklet processors and under `node --test` (tests/js/).

/** The Realtime API's audio rate. */
export const API_RATE = 24000;
/** One input_audio_buffer.append frame: 20 ms at 24 kHz. */
export const FRAME_SAMPLES = 480;

/**
 * Float samples in [-1, 1] to PCM16 little-endian bytes.
 * Out-of-range samples are clamped (a hot microphone must not wrap around to the other sign).
 * @param {Float32Array} samples
 * @returns {Uint8Array}
 */
export function floatToPcm16(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, Math.round(s < 0 ? s * 32768 : s * 32767), true);
  }
  return bytes;
}

/**
 * PCM16 little-endian bytes to float samples in [-1, 1). A trailing odd byte is ignored.
 * @param {Uint8Array} bytes
 * @returns {Float32Array}
 */
export function pcm16ToFloat(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples = new Float32Array(bytes.byteLength >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  return samples;
}

/**
 * Bytes to base64, in slices: String.fromCharCode(...bytes) on a whole second of audio would
 * exceed the engine's argument limit.
 * @param {Uint8Array} bytes
 */
export function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** @param {string} text base64 @returns {Uint8Array} */
export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The input_audio_buffer.append event for one frame, as JSON text with "type" first: the relay
 * recognises exactly this layout without parsing it (its audio fast path), so it is written by
 * hand rather than left to JSON.stringify's key order.
 * @param {string} audioBase64
 */
export function appendEvent(audioBase64) {
  return '{"type":"input_audio_buffer.append","audio":"' + audioBase64 + '"}';
}

/** Milliseconds of audio in `byteLength` bytes of 24 kHz PCM16. */
export function pcm16DurationMs(byteLength) {
  return (byteLength / 2 / API_RATE) * 1000;
}

/**
 * Loudness of a frame for a level meter: RMS mapped from [-60 dBFS, 0 dBFS] onto [0, 1].
 * @param {Float32Array} samples
 */
export function meterLevel(samples) {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / samples.length);
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.max(0, Math.min(1, (db + 60) / 60));
}

/**
 * A streaming sample-rate converter for one mono stream.
 *
 * Linear interpolation between input samples; when it reduces the rate by 1.5x or more (a
 * 44.1 or 48 kHz microphone to 24 kHz) it first averages each run of `round(ratio)` samples, a
 * cheap low-pass that keeps the loudest aliases out. Speech carries little energy above 12 kHz,
 * so this is enough for a speech model and costs a few operations per sample in the audio
 * thread. State (the fractional read position, the last sample, the filter's history) carries
 * across calls, so cutting a stream into chunks of any size gives the same output as one call.
 */
export class Resampler {
  /** @param {number} fromRate @param {number} toRate */
  constructor(fromRate, toRate) {
    if (!(fromRate > 0 && toRate > 0)) throw new RangeError("sample rates must be positive");
    this.step = fromRate / toRate;
    this.width = this.step >= 1.5 ? Math.round(this.step) : 1;
    this.history = new Float32Array(this.width - 1);
    // Read position relative to the current chunk; -1 means the previous chunk's last sample.
    this.position = 0;
    this.previous = 0;
  }

  /** @param {Float32Array} input @returns {Float32Array} */
  process(input) {
    const x = this.width > 1 ? this.smooth(input) : input;
    const n = x.length;
    if (n === 0) return new Float32Array(0);
    const out = new Float32Array(Math.max(0, Math.ceil((n - 1 - this.position) / this.step) + 1));
    let count = 0;
    let pos = this.position;
    while (pos <= n - 1) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i < 0 ? this.previous : x[i];
      const b = frac > 0 ? x[i + 1] : a;
      out[count++] = a + (b - a) * frac;
      pos += this.step;
    }
    this.position = pos - n;
    this.previous = x[n - 1];
    return out.subarray(0, count);
  }

  /** Moving average of `width` samples, continuing the previous chunk's history. */
  smooth(input) {
    const w = this.width;
    const joined = new Float32Array(w - 1 + input.length);
    joined.set(this.history);
    joined.set(input, w - 1);
    const out = new Float32Array(input.length);
    let sum = 0;
    for (let i = 0; i < w - 1; i++) sum += joined[i];
    for (let i = 0; i < input.length; i++) {
      sum += joined[i + w - 1];
      out[i] = sum / w;
      sum -= joined[i];
    }
    this.history = joined.slice(input.length);
    return out;
  }
}

/**
 * Cuts a stream of samples into frames of a fixed size (20 ms each for the API), keeping the
 * remainder for the next call.
 */
export class FrameChunker {
  /** @param {number} size samples per frame */
  constructor(size) {
    this.size = size;
    this.buffer = new Float32Array(size);
    this.filled = 0;
  }

  /** @param {Float32Array} samples @returns {Float32Array[]} the frames completed by them */
  push(samples) {
    const frames = [];
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.size - this.filled, samples.length - offset);
      this.buffer.set(samples.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.size) {
        frames.push(this.buffer);
        this.buffer = new Float32Array(this.size);
        this.filled = 0;
      }
    }
    return frames;
  }
}
