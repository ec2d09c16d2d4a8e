// The page's side of Web Audio: the microphone through the capture worklet, and the speaker
// through the playback worklet, in one AudioContext running at the device's own rate (the
// worklets resample to and from the API's 24 kHz themselves).

const PREBUFFER_MS = 80;

export class MicrophoneError extends Error {
  /** @param {string} name the DOMException name, or "InsecureContext" */
  constructor(name) {
    super(name);
    this.name = name;
  }
}

export class AudioEngine {
  /**
   * Ask for the microphone and start both worklets. Must be called from a click (or another
   * user gesture): browsers only let an AudioContext start then.
   * @param {{onFrame: (pcm: Uint8Array, level: number) => void,
   *          onProgress: (progress: {itemId: string, playedMs: number, finished: boolean,
   *                                  underruns: number}) => void}} handlers
   */
  static async open(handlers) {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new MicrophoneError("InsecureContext");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (error) {
      throw new MicrophoneError(error?.name ?? "Error");
    }
    const context = new AudioContext({ latencyHint: "interactive" });
    try {
      await context.audioWorklet.addModule(new URL("./capture-worklet.mjs", import.meta.url));
      await context.audioWorklet.addModule(new URL("./playback-worklet.mjs", import.meta.url));
      await context.resume();
      return new AudioEngine(stream, context, handlers);
    } catch (error) {
      for (const track of stream.getTracks()) track.stop();
      await context.close();
      throw error;
    }
  }

  constructor(stream, context, handlers) {
    this.stream = stream;
    this.context = context;
    this.pending = new Map();
    this.requests = 0;
    this.source = context.createMediaStreamSource(stream);
    // No outputs: the browser still runs it every quantum (nothing needs to pull from it).
    this.capture = new AudioWorkletNode(context, "capture", { numberOfOutputs: 0 });
    this.capture.port.onmessage = ({ data }) => handlers.onFrame(data.pcm, data.level);
    this.source.connect(this.capture);
    this.playback = new AudioWorkletNode(context, "playback", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { prebufferMs: PREBUFFER_MS },
    });
    this.playback.port.onmessage = ({ data }) => {
      if (data.type === "progress") handlers.onProgress(data);
      else if (data.type === "cleared") this.pending.get(data.request)?.(data);
    };
    this.playback.connect(context.destination);
  }

  /** Queue assistant audio (24 kHz PCM16 bytes) of an item for playback. */
  play(itemId, pcm) {
    this.playback.port.postMessage({ type: "push", itemId, pcm }, [pcm.buffer]);
  }

  /** All of an item's audio has arrived. */
  endOfItem(itemId) {
    this.playback.port.postMessage({ type: "end", itemId });
  }

  /**
   * Stop playback at once.
   * @returns {Promise<{itemId: string, playedMs: number} | null>} the item cut short and how
   *   much of it was heard (its played audio less the output device's latency, which was still
   *   on its way to the speaker), or null when nothing was playing.
   */
  async interrupt() {
    if (this.context.state === "closed") return null;
    const request = ++this.requests;
    const answer = await new Promise((resolve) => {
      this.pending.set(request, resolve);
      this.playback.port.postMessage({ type: "clear", request });
    });
    this.pending.delete(request);
    if (answer.itemId === null) return null;
    const latencyMs = ((this.context.outputLatency || 0) + (this.context.baseLatency || 0)) * 1000;
    return { itemId: answer.itemId, playedMs: Math.max(0, answer.playedMs - latencyMs) };
  }

  /** Release the microphone and the audio device. Idempotent. */
  async close() {
    if (this.context.state === "closed") return;
    for (const track of this.stream.getTracks()) track.stop();
    this.capture.port.postMessage("stop");
    this.source.disconnect();
    await this.context.close();
  }
}
