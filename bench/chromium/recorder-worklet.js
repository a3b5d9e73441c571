//! AudioWorklet recorder of the `pair` page: records its (2-channel) input for an exact frame
//! range [start, end) of the AudioContext's timeline and posts interleaved Float32 chunks of
//! one second to the main thread, then `{done}`. Input channel 0 is the source that enters A's
//! track, channel 1 is what B receives, so the recording is sample-aligned by construction.

class Recorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.start = Infinity;
    this.end = Infinity;
    this.chunkFrames = 48000;
    this.chunk = new Float32Array(this.chunkFrames * 2);
    this.fill = 0;
    this.done = false;
    this.port.onmessage = (e) => {
      this.start = e.data.start;
      this.end = e.data.end;
      this.port.postMessage({ armed: currentFrame });
    };
  }

  flush() {
    if (this.fill === 0) return;
    const out = this.chunk.slice(0, this.fill * 2);
    this.port.postMessage({ chunk: out }, [out.buffer]);
    this.fill = 0;
  }

  process(inputs) {
    if (this.done) return false;
    const input = inputs[0];
    const n = 128;
    const c0 = input[0];
    const c1 = input[1] ?? input[0];
    for (let i = 0; i < n; i++) {
      const frame = currentFrame + i;
      if (frame < this.start || frame >= this.end) continue;
      this.chunk[this.fill * 2] = c0 ? c0[i] : 0;
      this.chunk[this.fill * 2 + 1] = c1 ? c1[i] : 0;
      this.fill += 1;
      if (this.fill === this.chunkFrames) this.flush();
    }
    if (currentFrame + n >= this.end) {
      this.flush();
      this.done = true;
      this.port.postMessage({ done: currentFrame + n });
      return false;
    }
    return true;
  }
}

registerProcessor('recorder', Recorder);
