// Load generator for the relay benchmark: N browsers and an echoing model, in one Node process.
//
// Why Node: the relay's capacity is measured on one core while this process has the other.
// Both sides must be much cheaper per frame than the relay, or the benchmark measures itself;
// the `ws` package handles tens of thousands of frames a second on one core.
//
// Protocol with the orchestrator (bench/relay_bench.py), one JSON object per line:
//   stdout  {"echo_port": P}                 once the echoing model listens on 127.0.0.1:P
//   stdin   {"url": U, "calls": N, "seconds": S, "deflate": B}   one load step against U
//           (deflate: offer permessage-deflate, as every browser does)
//   stdout  {"calls": N, "sent": .., "received": .., "lost": .., "p50_ms": .., ...}
//   stdin   {"quit": true}
//
// Each browser sends a 20 ms PCM16 frame (960 bytes, 1,280 base64 characters) every 20 ms as
// `input_audio_buffer.append`; the model answers each with one `response.output_audio.delta`
// carrying the same audio. Round trip = append sent -> its delta received (FIFO per call).

import { WebSocketServer, WebSocket } from "ws";
import readline from "node:readline";
import crypto from "node:crypto";

const FRAME_MS = 20;
// Random bytes: base64 of real speech compresses about as badly, which is what makes deflate costly.
const AUDIO = crypto.randomBytes(960).toString("base64");
const APPEND = JSON.stringify({ type: "input_audio_buffer.append", audio: AUDIO });
const APPEND_PREFIX = '{"type":"input_audio_buffer.append"';

function echoServer() {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  let n = 0;
  server.on("connection", (socket) => {
    socket.send(JSON.stringify({ type: "session.created", event_id: "e0", session: { id: "bench" } }));
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (!text.startsWith(APPEND_PREFIX)) return;
      const start = text.indexOf('"audio":"') + 9;
      const audio = text.slice(start, text.indexOf('"', start));
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

async function runStep({ url, calls, seconds, deflate }) {
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
      if (text.startsWith('{"type":"response.output_audio.delta"')) {
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
