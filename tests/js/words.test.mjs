// Plain words for the person on the call and the operator (messages.mjs, format.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatDuration, formatPercent, reasonIsProblem, reasonText } from "../../app/web/static/js/format.mjs";
import { closeMessage, microphoneMessage, serviceErrorMessage } from "../../app/web/static/js/messages.mjs";

test("hanging up is not a problem, whatever the code", () => {
  assert.deepEqual(closeMessage(1000, { opened: true, byUser: true }), { text: "Call ended.", problem: false });
  assert.equal(closeMessage(1006, { opened: true, byUser: true }).problem, false);
});

test("close codes from the relay read as what happened", () => {
  const at = (code) => closeMessage(code, { opened: true, byUser: false });
  assert.equal(at(1000).problem, false);
  assert.match(at(1001).text, /restarting/);
  assert.match(at(1011).text, /unavailable/);
  assert.match(at(1006).text, /lost/);
  assert.match(at(4321).text, /code 4321/);
  assert.match(closeMessage(1006, { opened: false, byUser: false }).text, /Could not connect/);
});

test("microphone failures name the fix", () => {
  assert.match(microphoneMessage("NotAllowedError"), /Allow the microphone/);
  assert.match(microphoneMessage("NotFoundError"), /No microphone/);
  assert.match(microphoneMessage("InsecureContext"), /https:\/\//);
  assert.match(microphoneMessage("Weird"), /Weird/);
});

test("service errors carry the service's message", () => {
  assert.match(serviceErrorMessage({ type: "error", error: { message: "Slow down" } }), /Slow down/);
  assert.ok(serviceErrorMessage({ type: "error" }).length > 0);
});

test("durations, rates and reasons for the dashboard", () => {
  assert.equal(formatDuration(8.4), "8.4 s");
  assert.equal(formatDuration(45), "45 s");
  assert.equal(formatDuration(130.5), "2 min 11 s");
  assert.equal(formatDuration(3725), "1 h 02 min");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatPercent(0), "0 %");
  assert.equal(formatPercent(1 / 11), "9.1 %");
  assert.equal(formatPercent(0.5), "50 %");
  assert.equal(formatPercent(null), "–");
  assert.equal(reasonText("user_hangup"), "The caller hung up");
  assert.equal(reasonText("something_new"), "something_new");
  assert.equal(reasonIsProblem("client_gone"), false);
  assert.equal(reasonIsProblem("upstream_error"), true);
});
