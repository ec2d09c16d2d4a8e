// Conversation order of the live transcript (order.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConversationOrder } from "../../app/web/static/js/order.mjs";

test("items follow their previous item, whatever order they were announced in", () => {
  const order = new ConversationOrder();
  order.add("u1", null);
  order.add("a1", "u1");
  order.add("u2", "a1");
  order.add("x", "u1"); // inserted between u1 and a1
  assert.deepEqual(order.ids, ["u1", "x", "a1", "u2"]);
  order.add("a1", "u2"); // already placed: stays
  assert.deepEqual(order.ids, ["u1", "x", "a1", "u2"]);
});

test("a late user transcript goes before the reply already shown", () => {
  const order = new ConversationOrder();
  order.add("u1", null);
  order.add("a1", "u1");
  const shown = new Set(["a1"]); // the reply streamed before the user's transcript
  assert.equal(order.nextShown("u1", (id) => shown.has(id)), "a1");
  shown.add("u1");
  assert.equal(order.nextShown("a1", (id) => shown.has(id)), null);
});

test("an item never announced is appended", () => {
  const order = new ConversationOrder();
  order.add("u1", null);
  assert.equal(order.nextShown("mystery", () => true), null);
  assert.deepEqual(order.ids, ["u1", "mystery"]);
  order.add("late", "unknown-previous");
  assert.deepEqual(order.ids, ["u1", "mystery", "late"]);
});
