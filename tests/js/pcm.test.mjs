// PCM16 conversion, base64 framing, resampling and framing of the voice client (pcm.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  API_RATE,
  FRAME_SAMPLES,
  FrameChunker,
  Resampler,
  appendEvent,
  base64ToBytes,
  bytesToBase64,
  floatToPcm16,
  meterLevel,
  pcm16DurationMs,
  pcm16ToFloat,
} from "../../app/web/static/js/pcm.mjs";

function sine(rate, frequency, seconds, amplitude = 0.5) {
  const samples = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = amplitude * Math.sin((2 * Math.PI * frequency * i) / rate);
  }
  return samples;
}

function concat(chunks) {
  const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Feed `input` to `resampler` in chunks of the given sizes, cycling. */
function inChunks(resampler, input, sizes) {
  const out = [];
  let offset = 0;
  for (let n = 0; offset < input.length; n++) {
    const size = sizes[n % sizes.length];
    out.push(resampler.process(input.subarray(offset, offset + size)));
    offset += size;
  }
  return concat(out);
}

test("PCM16 is little-endian, clamped, and full scale at both ends", () => {
  const bytes = floatToPcm16(new Float32Array([0, 1, -1, 0.5, 2, -2, 1 / 32767]));
  const view = new DataView(bytes.buffer);
  const values = [...Array(7).keys()].map((i) => view.getInt16(i * 2, true));
  assert.deepEqual(values, [0, 32767, -32768, 16384, 32767, -32768, 1]);
  assert.equal(bytes[2], 0xff); // 32767 = 0x7fff, low byte first
  assert.equal(bytes[3], 0x7f);
});

test("PCM16 round-trips through floats within one step", () => {
  const original = sine(API_RATE, 440, 0.02);
  const back = pcm16ToFloat(floatToPcm16(original));
  assert.equal(back.length, original.length);
  for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - original[i]) <= 1 / 32767);
  assert.equal(pcm16ToFloat(new Uint8Array([0x00, 0x80, 0x01])).length, 1); // odd byte ignored
  assert.equal(pcm16ToFloat(new Uint8Array([0x00, 0x80]))[0], -1);
});

test("base64 matches Node's encoder for every length, and decodes back", () => {
  for (const length of [0, 1, 2, 3, 4, 959, 960, 961, 100_000]) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 7919 + length) & 0xff;
    const text = bytesToBase64(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64"), `length ${length}`);
    assert.deepEqual(base64ToBytes(text), bytes);
  }
});

test("a 20 ms frame is 960 bytes, 1,280 base64 characters, 20 ms", () => {
  const frame = floatToPcm16(new Float32Array(FRAME_SAMPLES));
  assert.equal(frame.length, 960);
  assert.equal(bytesToBase64(frame).length, 1280);
  assert.equal(pcm16DurationMs(frame.length), 20);
});

test("the append event puts type first and is valid JSON", () => {
  const audio = bytesToBase64(floatToPcm16(sine(API_RATE, 300, 0.02)));
  const text = appendEvent(audio);
  assert.ok(text.startsWith('{"type":"input_audio_buffer.append",'));
  assert.deepEqual(JSON.parse(text), { type: "input_audio_buffer.append", audio });
});

test("resampling keeps the duration: 48 kHz, 44.1 kHz and 24 kHz to the API rate", () => {
  for (const rate of [48000, 44100, 24000, 16000]) {
    const input = sine(rate, 440, 1.0);
    const output = inChunks(new Resampler(rate, API_RATE), input, [128]);
    assert.ok(Math.abs(output.length - API_RATE) <= 1, `${rate}: ${output.length}`);
  }
});

test("resampling follows the waveform (448 Hz, 44.1 kHz to 24 kHz)", () => {
  const input = sine(44100, 448, 0.5);
  const output = inChunks(new Resampler(44100, API_RATE), input, [128]);
  // The 2-sample average delays the signal by half an input sample and barely changes a
  // low tone; compare with the ideal samples at that delay.
  const delay = 0.5 / 44100;
  let worst = 0;
  for (let k = 10; k < output.length; k++) {
    const expected = 0.5 * Math.sin(2 * Math.PI * 448 * (k / API_RATE - delay));
    worst = Math.max(worst, Math.abs(output[k] - expected));
  }
  assert.ok(worst < 0.01, `worst error ${worst}`);
});

test("upsampling for playback follows the waveform (24 kHz to 48 kHz)", () => {
  const input = sine(API_RATE, 200, 0.2);
  const output = inChunks(new Resampler(API_RATE, 48000), input, [2400]);
  assert.ok(Math.abs(output.length - 2 * input.length) <= 2);
  for (let k = 0; k < output.length - 2; k++) {
    const expected = 0.5 * Math.sin((2 * Math.PI * 200 * k) / 48000);
    assert.ok(Math.abs(output[k] - expected) < 0.002, `sample ${k}`);
  }
});

test("chunk boundaries do not change the output", () => {
  const input = sine(44100, 1000, 0.3);
  const whole = new Resampler(44100, API_RATE).process(input);
  for (const sizes of [[128], [1], [7, 300, 2], [4410]]) {
    const chunked = inChunks(new Resampler(44100, API_RATE), input, sizes);
    assert.equal(chunked.length, whole.length, `sizes ${sizes}`);
    for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(chunked[i] - whole[i]) < 1e-6);
  }
});

test("downsampling attenuates what would alias (20 kHz at 48 kHz)", () => {
  const input = sine(48000, 20000, 0.2);
  const output = new Resampler(48000, API_RATE).process(input);
  const rms = Math.sqrt(output.reduce((sum, v) => sum + v * v, 0) / output.length);
  assert.ok(rms < 0.5 * (0.5 / Math.SQRT2), `rms ${rms}`);
});

test("frames are exactly 480 samples and the remainder waits for the next push", () => {
  const chunker = new FrameChunker(FRAME_SAMPLES);
  const ramp = Float32Array.from({ length: 1000 }, (_, i) => i);
  const first = chunker.push(ramp.subarray(0, 700));
  assert.equal(first.length, 1);
  assert.equal(first[0][479], 479);
  const second = chunker.push(ramp.subarray(700));
  assert.equal(second.length, 1);
  assert.equal(second[0][0], 480);
  assert.equal(second[0][479], 959);
  assert.equal(chunker.filled, 40);
});

test("the level meter maps -60..0 dBFS onto 0..1", () => {
  assert.equal(meterLevel(new Float32Array(480)), 0);
  assert.equal(meterLevel(new Float32Array(480).fill(1)), 1);
  const quiet = meterLevel(new Float32Array(480).fill(0.001)); // -60 dBFS
  assert.ok(quiet < 1e-6); // float32 rounding of 0.001
  const half = meterLevel(new Float32Array(480).fill(10 ** (-30 / 20)));
  assert.ok(Math.abs(half - 0.5) < 1e-6);
});
