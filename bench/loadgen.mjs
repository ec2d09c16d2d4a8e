// Load generator for the relay benchmark: N browsers and an echoing model, in one Node process.
//
// Why Node: the relay's capacity is measured on one core while this process has the other.
// Both sides must be much cheaper per frame than the relay, or the benchmark measures itself;
// the `ws` package handles tens of thousands of frames a second on one core.
//
// Protocol with the orchestrator (bench/relay_bench.py), one JSON object per line:
//   stdout  {"echo_port": P}                 once the echoing model listens on 127.0.0.1:P
//   stdin   {"url": U, "calls": N, "seconds": S, "deflate": B, "burst": B}   one load step
//           (deflate: offer permessage-deflate, as every browser does;
//            burst: the model sends each call a burst of transcript and tool events every 2 s)
//   stdout  {"calls": N, "sent": .., "received": .., "lost": .., "p50_ms": .., ...}
//   stdin   {"quit": true}
//
// Each browser sends a 20 ms PCM16 frame (960 bytes, 1,280 base64 characters) every 20 ms as
// `input_audio_buffer.append`; the model answers each with one `response.output_audio.delta`
// carrying the same audio. Round trip = append sent -> its delta received (FIFO per call).
// With `burst`, every BURST_MS the model also sends each call what a spoken turn brings besides
// audio: the input transcription, a dozen transcript deltas and a function call (its argument
// deltas and done). The relay withholds the function call from the browser and answers it with
// a function_call_output, which this model ignores. Bursts are spread over the period.

import { WebSocketServer, WebSocket } from "ws";
import readline from "node:readline";
import crypto from "node:crypto";

const FRAME_MS = 20;
// Random bytes: base64 of real speech compresses about as badly, which is what makes deflate costly.
const AUDIO = crypto.randomBytes(960).toString("base64");
const APPEND = JSON.stringify({ type: "input_audio_buffer.append", audio: AUDIO });
// Matched loosely (a relay may re-serialise events with spaces, as json.dumps does).
const APPEND_TYPE = '"input_audio_buffer.append"';
const DELTA_TYPE = '"response.output_audio.delta"';

function audioOf(text) {
  const key = text.indexOf('"audio"');
  const start = text.indexOf('"', text.indexOf(":", key + 7)) + 1;
  return text.slice(start, text.indexOf('"', start));
}

const BURST_MS = 2000;
let burstEnabled = true;

function burstEvents(n) {
  const item = `item_t${n}`;
  const response = `resp_t${n}`;
  const call = `call_${n}`;
  const events = [
    { type: "conversation.item.input_audio_transcription.completed", event_id: `et${n}a`,
      item_id: `item_u${n}`, content_index: 0, transcript: "Where is my order number 4711, please?" },
  ];
  const words = "Let me look that up for you, it should only take a moment or two.".split(" ");
  for (const [i, word] of words.entries()) {
    events.push({ type: "response.output_audio_transcript.delta", event_id: `et${n}d${i}`,
      response_id: response, item_id: item, output_index: 0, content_index: 0, delta: word + " " });
  }
  events.push({ type: "response.output_audio_transcript.done", event_id: `et${n}e`,
    response_id: response, item_id: item, output_index: 0, content_index: 0,
    transcript: words.join(" ") });
  for (const [i, part] of ['{"order', '_id":', '"4711"}'].entries()) {
    events.push({ type: "response.function_call_arguments.delta", event_id: `et${n}f${i}`,
      response_id: response, item_id: `item_f${n}`, output_index: 1, call_id: call, delta: part });
  }
  events.push({ type: "response.function_call_arguments.done", event_id: `et${n}g`,
    response_id: response, item_id: `item_f${n}`, output_index: 1, call_id: call,
    name: "bench_lookup", arguments: '{"order_id":"4711"}' });
  return events.map((event) => JSON.stringify(event));
}

function echoServer() {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  let n = 0;
  let bursts = 0;
  server.on("connection", (socket) => {
    socket.send(JSON.stringify({ type: "session.created", event_id: "e0", session: { id: "bench" } }));
    if (burstEnabled) {
      let timer = null;
      const first = setTimeout(() => {
        timer = setInterval(() => {
          if (socket.readyState !== WebSocket.OPEN) return;
          bursts += 1;
          for (const text of burstEvents(bursts)) socket.send(text);
        }, BURST_MS);
      }, Math.random() * BURST_MS);
      socket.on("close", () => { clearTimeout(first); if (timer) clearInterval(timer); });
    }
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (!text.includes(APPEND_TYPE)) return;
      const audio = audioOf(text);
      n += 1;
      socket.send(
        '{"type":"response.output_audio.delta","event_id":"ev' + n +
        '","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"' +
        audio + '"}'
      );
    });
  });
  return server;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

async function runStep({ url, calls, seconds, deflate, burst }) {
  burstEnabled = burst !== false;
  const rtts = [];
  let sent = 0;
  let received = 0;
  let failed = 0;
  const sockets = [];
  const opened = [];
  for (let i = 0; i < calls; i++) {
    // Browsers always offer permessage-deflate; `deflate` makes these browsers offer it too.
    const socket = new WebSocket(`${url}?customer_id=bench-${i}`, { perMessageDeflate: Boolean(deflate) });
    const pending = [];
    socket.on("message", (data) => {
      const text = data.toString();
      if (text.includes(DELTA_TYPE)) {
        const t0 = pending.shift();
        if (t0 !== undefined) {
          rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
          received += 1;
        }
      }
    });
    socket.on("error", () => { failed += 1; });
    sockets.push({ socket, pending });
    opened.push(new Promise((resolve) => {
      socket.once("open", resolve);
      socket.once("error", resolve);
    }));
  }
  await Promise.all(opened);
  console.log(JSON.stringify({ phase: "sending" }));
  const frames = Math.round((seconds * 1000) / FRAME_MS);
  // Spread the calls over one frame period, as independent browsers would be.
  const timers = sockets.map(({ socket, pending }, i) => new Promise((resolve) => {
    let count = 0;
    setTimeout(() => {
      const timer = setInterval(() => {
        if (count >= frames || socket.readyState !== WebSocket.OPEN) {
          clearInterval(timer);
          resolve();
          return;
        }
        pending.push(process.hrtime.bigint());
        socket.send(APPEND);
        sent += 1;
        count += 1;
      }, FRAME_MS);
    }, (i * FRAME_MS) / calls);
  }));
  await Promise.all(timers);
  console.log(JSON.stringify({ phase: "sent" }));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the last echoes arrive
  for (const { socket } of sockets) socket.close(1000);
  rtts.sort((a, b) => a - b);
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    calls, seconds, sent, received, lost: sent - received, failed_sockets: failed,
    p50_ms: round(percentile(rtts, 50)), p99_ms: round(percentile(rtts, 99)),
    max_ms: round(rtts.length ? rtts[rtts.length - 1] : null),
  };
}

const server = echoServer();
server.on("listening", () => {
  console.log(JSON.stringify({ echo_port: server.address().port }));
});
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = JSON.parse(line);
  if (command.quit) break;
  console.log(JSON.stringify(await runStep(command)));
}
server.close();
process.exit(0);
