//! AudioWorklet of the `setup` mode: posts `{frame, peak}` once, for the first 128-sample render
//! quantum of its input whose peak exceeds the threshold (0.01 unless given), then stops.
//! The main thread stamps the arrival time (performance.timeOrigin + performance.now()).

class FirstAudio extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.threshold = options?.processorOptions?.threshold ?? 0.01;
  }

  process(inputs) {
    let peak = 0;
    for (const channel of inputs[0] ?? []) {
      for (let i = 0; i < channel.length; i++) {
        const v = Math.abs(channel[i]);
        if (v > peak) peak = v;
      }
    }
    if (peak > this.threshold) {
      this.port.postMessage({ frame: currentFrame, peak });
      return false;
    }
    return true;
  }
}

registerProcessor('first-audio', FirstAudio);
