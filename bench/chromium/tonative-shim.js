// Init script of the `to-native` mode (tonative.mjs), run in the browser client's page before
// its own scripts: `navigator.mediaDevices.getUserMedia` answers a WebAudio stream instead of a
// microphone, a continuous stream of 20 ms frames like a live microphone (a zero-valued
// ConstantSource keeps it flowing: without an active input Chromium's
// MediaStreamAudioDestinationNode delivers nothing and the page would send no packets), into
// which `window.__benchSend.play()` starts the speech clip that `load(base64 of 16-bit PCM)`
// gave it. `play()` answers when the clip starts, in epoch ms. The same source as the `pair`
// page's, so Chromium's figures in both rows start from the same signal.
(() => {
  const RATE = 48000;
  const B = { errors: [], ctx: null, dest: null, buffer: null };
  window.__benchSend = B;

  const context = async () => {
    if (!B.ctx) {
      B.ctx = new AudioContext({ sampleRate: RATE, latencyHint: 'interactive' });
      B.dest = B.ctx.createMediaStreamDestination();
      B.dest.channelCount = 1;
      B.dest.channelCountMode = 'explicit';
      const keepalive = B.ctx.createConstantSource();
      keepalive.offset.value = 0;
      keepalive.connect(B.dest);
      keepalive.start();
    }
    await B.ctx.resume();
    if (B.ctx.sampleRate !== RATE) throw new Error(`AudioContext runs at ${B.ctx.sampleRate} Hz`);
    return B.ctx;
  };

  B.load = async (b64) => {
    const ctx = await context();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer, 0, Math.floor(bytes.length / 2));
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    B.buffer = ctx.createBuffer(1, samples.length, RATE);
    B.buffer.copyToChannel(samples, 0);
    return samples.length;
  };

  B.play = async () => {
    const ctx = await context();
    if (!B.buffer) throw new Error('play before load');
    const source = ctx.createBufferSource();
    source.buffer = B.buffer;
    source.connect(B.dest);
    const lead = 0.05;
    source.start(ctx.currentTime + lead);
    return performance.timeOrigin + performance.now() + lead * 1000;
  };

  const media = navigator.mediaDevices;
  media.getUserMedia = async (constraints) => {
    if (!constraints?.audio || constraints.video) {
      const e = `getUserMedia(${JSON.stringify(constraints)}): the bench page offers audio only`;
      B.errors.push(e);
      throw new Error(e);
    }
    try {
      await context();
    } catch (e) {
      B.errors.push(`audio context: ${e.message}`);
      throw e;
    }
    return new MediaStream(B.dest.stream.getAudioTracks());
  };
})();
