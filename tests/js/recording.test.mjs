import assert from "node:assert/strict";
import { test } from "node:test";

import { recordingSummary } from "../../app/web/static/js/recording.mjs";

test("a complete recording says so, with its length", () => {
  const field = { seconds: 65.2, complete: true, cut_by_crash: false, gaps: 0 };
  assert.match(recordingSummary(field), /^1 min 05 s, complete$/);
});

test("a recording cut by a crash or with gaps says what is missing", () => {
  const crashed = recordingSummary({ seconds: 12, complete: false, cut_by_crash: true, gaps: 0 });
  assert.match(crashed, /cut short/);
  assert.doesNotMatch(crashed, /complete/);
  assert.match(recordingSummary({ seconds: 30, complete: false, cut_by_crash: false, gaps: 1 }), /1 gap /);
  assert.match(recordingSummary({ seconds: 30, complete: false, cut_by_crash: false, gaps: 3 }), /3 gaps/);
});
