// The playback jitter buffer (jitter.mjs): when it starts, what it counts as heard, barge-in.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PlaybackQueue } from "../../app/web/static/js/jitter.mjs";

const QUANTUM = 128;

function pull(queue, quanta = 1) {
  let written = 0;
  const out = new Float32Array(QUANTUM);
  for (let i = 0; i < quanta; i++) written += queue.render(out);
  return { written, out };
}

test("silence until the prebuffer is full, then the audio in order", () => {
  const queue = new PlaybackQueue(300);
  queue.push("a", new Float32Array(200).fill(0.25));
  const early = pull(queue);
  assert.equal(early.written, 0);
  assert.ok(early.out.every((v) => v === 0));
  queue.push("a", new Float32Array(200).fill(0.5));
  const first = pull(queue);
  assert.equal(first.written, QUANTUM);
  assert.ok(first.out.every((v) => v === 0.25));
  assert.equal(queue.played.get("a"), QUANTUM);
});

test("a short reply plays at once when its audio is complete", () => {
  const queue = new PlaybackQueue(10_000);
  queue.push("a", new Float32Array(100).fill(0.1));
  queue.end("a");
  const { written, out } = pull(queue);
  assert.equal(written, 100);
  assert.ok(out.subarray(100).every((v) => v === 0));
  assert.equal(queue.busy, false);
  assert.equal(queue.underruns, 0);
});

test("every sample is played once and counted for its item", () => {
  const queue = new PlaybackQueue(256);
  let total = 0;
  for (const size of [100, 333, 1, 900, 47]) {
    queue.push("a", new Float32Array(size).fill(0.3));
    total += size;
  }
  queue.end("a");
  const { written } = pull(queue, 20);
  assert.equal(written, total);
  assert.equal(queue.played.get("a"), total);
  assert.equal(queue.busy, false);
});

test("running dry mid-item is an underrun and buffers again", () => {
  const queue = new PlaybackQueue(200);
  queue.push("a", new Float32Array(200));
  pull(queue, 2);
  assert.equal(queue.underruns, 1);
  assert.equal(queue.playing, false);
  queue.push("a", new Float32Array(100));
  assert.equal(pull(queue).written, 0); // waiting for the prebuffer again
  queue.push("a", new Float32Array(100));
  assert.equal(pull(queue).written, QUANTUM);
});

test("clear stops at once and reports what of the item was played", () => {
  const queue = new PlaybackQueue(128);
  queue.push("reply", new Float32Array(1000).fill(0.2));
  pull(queue, 3);
  const cut = queue.clear();
  assert.deepEqual(cut, { itemId: "reply", played: 3 * QUANTUM });
  assert.equal(pull(queue).written, 0);
  assert.equal(queue.busy, false);
  assert.equal(queue.clear(), null); // nothing playing any more
});

test("an item still expected counts as playing for barge-in, one fully played does not", () => {
  const queue = new PlaybackQueue(128);
  queue.push("a", new Float32Array(128));
  pull(queue);
  // All audio so far played, but more of "a" may come: a barge-in must still truncate it.
  assert.equal(queue.busy, true);
  assert.deepEqual(queue.clear(), { itemId: "a", played: 128 });
  queue.push("b", new Float32Array(128));
  queue.end("b");
  pull(queue);
  assert.equal(queue.busy, false);
  assert.equal(queue.clear(), null);
});

test("a new item after the previous one is counted separately", () => {
  const queue = new PlaybackQueue(64);
  queue.push("a", new Float32Array(100));
  queue.end("a");
  queue.push("b", new Float32Array(100));
  pull(queue, 2);
  assert.equal(queue.played.get("a"), 100);
  assert.equal(queue.played.get("b"), 100);
  assert.equal(queue.current, "b");
});
