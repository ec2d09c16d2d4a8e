import assert from "node:assert/strict";
import { test } from "node:test";

import { EventParser } from "../../app/web/static/js/events.mjs";

test("events split across chunks come out whole", () => {
  const parser = new EventParser();
  assert.deepEqual(parser.push('event: row\ndata: {"a"'), []);
  assert.deepEqual(parser.push(': 1}\n\nevent: line\ndata: {}\n'), [{ event: "row", data: '{"a": 1}' }]);
  assert.deepEqual(parser.push("\n"), [{ event: "line", data: "{}" }]);
});

test("comments (keep-alives) and blocks without data are skipped", () => {
  const parser = new EventParser();
  assert.deepEqual(parser.push(": keep-alive\n\nevent: lonely\n\ndata: x\n\n"), [
    { event: "message", data: "x" },
  ]);
});

test("CRLF line ends and multi-line data are accepted", () => {
  const parser = new EventParser();
  assert.deepEqual(parser.push("event:snapshot\r\ndata: a\r\ndata: b\r\n\r\n"), [
    { event: "snapshot", data: "a\nb" },
  ]);
});
