// The voice client page (/): customer id, Connect / Hang up, state and errors in plain words,
// the microphone level and the live transcript.

import { Call, callUrl } from "./call.mjs";
import { MicrophoneError } from "./audio.mjs";
import { closeMessage, microphoneMessage, serviceErrorMessage } from "./messages.mjs";
import { Transcript } from "./transcript.mjs";

const form = document.getElementById("call-form");
const customer = document.getElementById("customer-id");
const connectButton = document.getElementById("connect");
const hangUpButton = document.getElementById("hang-up");
const status = document.getElementById("status");
const problem = document.getElementById("problem");
const meter = document.getElementById("mic-level");
const transcript = new Transcript(document.getElementById("transcript"));

const CUSTOMER_KEY = "voice-relay.customer-id";
let call = null;
// Hang up pressed while the microphone was still being asked for: end the call as it starts.
let starting = false;
let hangUpEarly = false;
let level = 0;
let meterScheduled = false;

customer.value = localStorage.getItem(CUSTOMER_KEY) ?? "";

function setState(text) {
  status.textContent = text;
}

function showProblem(text) {
  problem.textContent = text;
  problem.hidden = !text;
}

function setConnected(connected) {
  connectButton.disabled = connected;
  customer.disabled = connected;
  hangUpButton.disabled = !connected;
  document.body.classList.toggle("in-call", connected);
}

/** The meter follows the microphone at the screen's pace, not at 50 updates a second. */
function showLevel(value) {
  level = value;
  if (meterScheduled) return;
  meterScheduled = true;
  requestAnimationFrame(() => {
    meterScheduled = false;
    meter.value = level;
  });
}

const view = {
  state: setState,
  level: showLevel,
  transcript,
  problem: (event) => showProblem(serviceErrorMessage(event)),
  ended(code, opened, byUser) {
    const { text, problem: isProblem } = closeMessage(code, { opened, byUser });
    setState(isProblem ? "Not connected." : text);
    if (isProblem) showProblem(text);
    setConnected(false);
    showLevel(0);
    call = null;
  },
};

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (call !== null) return;
  if (!customer.checkValidity()) {
    showProblem("Customer ID may only contain letters, digits and _ . @ : - (up to 128 characters).");
    customer.focus();
    return;
  }
  const customerId = customer.value.trim();
  localStorage.setItem(CUSTOMER_KEY, customerId);
  showProblem("");
  transcript.clear();
  setConnected(true);
  setState("Asking for the microphone…");
  starting = true;
  hangUpEarly = false;
  try {
    call = await Call.start(callUrl(window.location, customerId), view);
    if (hangUpEarly) call.hangUp();
  } catch (error) {
    setConnected(false);
    setState("Not connected.");
    showProblem(
      error instanceof MicrophoneError
        ? microphoneMessage(error.name)
        : `The audio could not be started: ${error?.message ?? error}`,
    );
  } finally {
    starting = false;
  }
});

hangUpButton.addEventListener("click", () => {
  if (call !== null) call.hangUp();
  else if (starting) hangUpEarly = true;
});
