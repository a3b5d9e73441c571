//! The `pair` page: one AudioContext at 48 kHz, two RTCPeerConnections (A sends, B receives),
//! audio only with Chromium's default Opus negotiation (SDP is never munged except that
//! `a=candidate` lines are removed: every candidate goes through trickle). With a map (exposed by
//! node as `window.benchMap`), each trickled candidate keeps only UDP IPv4 and its
//! `address port` is replaced by the relay's stand-in. The send WAV goes through an
//! AudioBufferSourceNode into A's MediaStreamAudioDestinationNode; the recorder worklet taps
//! that source (channel 0) and B's remote track (channel 1) in the same context.
//!
//! With `redFirst`, both transceivers prefer `red/48000/2` before Opus (setCodecPreferences), so
//! A sends RFC 2198 RED: what a web app tuned for loss gets. By default Chromium offers RED
//! second, negotiates it and never sends it. The result carries the answer (`answerSdp`), whose
//! first audio codec is the one A sends with.
//!
//! Chromium quirk: a remote WebRTC track only flows into WebAudio (MediaStreamAudioSourceNode)
//! while it is also attached to an HTMLAudioElement, so B's track is played by a muted <audio>.
//!
//! Besides the recording: A's outbound-rtp counters when both sides connected and when the
//! recording ended (`sender`, the bitrate Chromium chose), and with `statsEveryMs` > 0, B's
//! cumulative jitter-buffer counters every that many ms (`series`, epoch ms), from which the
//! caller computes the playout delay over each interval.

const RATE = 48000;
const now = () => performance.timeOrigin + performance.now();

function parseWav(buf) {
  const v = new DataView(buf);
  const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('send_wav: not a RIFF/WAVE file');
  let off = 12;
  let fmt = null;
  while (off + 8 <= v.byteLength) {
    const id = tag(off);
    const size = v.getUint32(off + 4, true);
    if (id === 'fmt ') {
      fmt = { format: v.getUint16(off + 8, true), channels: v.getUint16(off + 10, true), rate: v.getUint32(off + 12, true), bits: v.getUint16(off + 22, true) };
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.bits !== 16 || fmt.channels !== 1 || fmt.rate !== RATE) {
        throw new Error(`send_wav must be 48 kHz mono 16-bit PCM, is ${JSON.stringify(fmt)}`);
      }
      const n = Math.floor(Math.min(size, v.byteLength - off - 8) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = v.getInt16(off + 8 + i * 2, true) / 32768;
      return out;
    }
    off += 8 + size + (size % 2);
  }
  throw new Error('send_wav: no data chunk');
}

/** `candidate:F C proto prio addr port typ ...` → rewritten line, or null to drop. */
async function mapCandidate(line) {
  const f = line.split(' ');
  if (f.length < 8) return null;
  const proto = f[2].toLowerCase();
  const addr = f[4];
  if (proto !== 'udp' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) return null;
  const mapped = String(await window.benchMap(`${addr}:${f[5]}`)).trim();
  const m = mapped.match(/^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$/);
  if (!m) throw new Error(`map returned ${JSON.stringify(mapped)} for ${addr}:${f[5]}`);
  f[4] = m[1];
  f[5] = m[2];
  return f.join(' ');
}

const stripCandidates = (sdp) =>
  sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate') && !l.startsWith('a=end-of-candidates'))
    .join('\r\n');

/** Trickles from's candidates into to, queued until to has a remote description. */
function trickle(from, to, useMap, errors) {
  const queue = [];
  let chain = Promise.resolve();
  const add = (init) =>
    to.addIceCandidate(init).catch((e) => errors.push(`addIceCandidate ${init.candidate}: ${e.message}`));
  from.onicecandidate = (ev) => {
    const c = ev.candidate;
    if (!c || !c.candidate) return;
    chain = chain.then(async () => {
      let line = c.candidate;
      if (useMap) {
        try {
          line = await mapCandidate(line);
        } catch (e) {
          errors.push(String(e.message ?? e));
          return;
        }
        if (!line) return;
      }
      const init = { candidate: line, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment };
      if (to.remoteDescription) await add(init);
      else queue.push(init);
    });
  };
  return async () => {
    await chain;
    for (const init of queue.splice(0)) await add(init);
  };
}

const chunks = [];

/** A's audio outbound-rtp counters now (null before it has any). */
async function outbound(pc) {
  const report = await pc.getStats();
  let out = null;
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out = s;
  });
  if (!out) return null;
  return { t: now(), bytesSent: out.bytesSent ?? null, packetsSent: out.packetsSent ?? null, headerBytesSent: out.headerBytesSent ?? null };
}

/** Samples B's jitter-buffer counters every `everyMs` until `stop()`; never overlapping. */
function sampleJitterBuffer(pc, everyMs, series, errors) {
  let running = true;
  const tick = async () => {
    if (!running) return;
    try {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          series.push({
            t: now(),
            jitterBufferDelay: s.jitterBufferDelay ?? null,
            jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? null,
            jitterBufferTargetDelay: s.jitterBufferTargetDelay ?? null,
            packetsReceived: s.packetsReceived ?? null,
          });
        }
      });
    } catch (e) {
      errors.push(`getStats: ${e.message}`);
    }
    if (running) setTimeout(tick, everyMs);
  };
  void tick();
  return () => {
    running = false;
  };
}

/** The audio codecs this browser receives, RFC 2198 RED first when `redFirst`. */
function codecOrder(redFirst) {
  const codecs = RTCRtpReceiver.getCapabilities('audio').codecs;
  if (!redFirst) return codecs;
  const red = codecs.filter((c) => c.mimeType.toLowerCase() === 'audio/red');
  if (red.length === 0) throw new Error('this Chromium has no audio/red codec to put first');
  return [...red, ...codecs.filter((c) => c.mimeType.toLowerCase() !== 'audio/red')];
}

async function run({ leadMs, tailMs, useMap, preRollMs, statsEveryMs, redFirst = false }) {
  const errors = [];
  const ctx = new AudioContext({ sampleRate: RATE, latencyHint: 'interactive' });
  await ctx.resume();
  if (ctx.sampleRate !== RATE) throw new Error(`AudioContext runs at ${ctx.sampleRate} Hz`);
  await ctx.audioWorklet.addModule('recorder-worklet.js');
  const samples = parseWav(await (await fetch('send.wav')).arrayBuffer());
  const buffer = ctx.createBuffer(1, samples.length, RATE);
  buffer.copyToChannel(samples, 0);

  const dest = ctx.createMediaStreamDestination();
  dest.channelCount = 1;
  dest.channelCountMode = 'explicit';
  const track = dest.stream.getAudioTracks()[0];
  // Keeps A's track a continuous stream of 20 ms frames like a live microphone: without an
  // active input, Chromium's MediaStreamAudioDestinationNode delivers nothing and A sends no
  // packets (before the source starts and after it ends).
  const keepalive = ctx.createConstantSource();
  keepalive.offset.value = 0;
  keepalive.connect(dest);
  keepalive.start();

  const tPc = now();
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  const flushToB = trickle(a, b, useMap, errors);
  const flushToA = trickle(b, a, useMap, errors);
  const remote = new Promise((ok) => {
    b.ontrack = (ev) => ok(ev.track);
  });
  const connected = (pc) =>
    new Promise((ok, fail) => {
      const check = () => {
        if (pc.connectionState === 'connected') ok(now());
        else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') fail(new Error(`connection ${pc.connectionState}`));
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
  const aUp = connected(a);
  const bUp = connected(b);
  a.addTrack(track, dest.stream);
  if (redFirst) a.getTransceivers()[0].setCodecPreferences(codecOrder(true));
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription({ type: 'offer', sdp: stripCandidates(a.localDescription.sdp) });
  await flushToB();
  if (redFirst) b.getTransceivers()[0].setCodecPreferences(codecOrder(true));
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription({ type: 'answer', sdp: stripCandidates(b.localDescription.sdp) });
  await flushToA();
  await flushToB();

  const timeout = (ms, what) => new Promise((_, fail) => setTimeout(() => fail(new Error(`timed out: ${what}; errors: ${errors.join('; ')}`)), ms));
  const [ta, tb] = await Promise.race([Promise.all([aUp, bUp]), timeout(20000, 'both connections connected')]);
  const connectedMs = Math.max(ta, tb) - tPc;
  const sentAtConnect = await outbound(a);
  const series = [];
  const stopSampling = statsEveryMs > 0 ? sampleJitterBuffer(b, statsEveryMs, series, errors) : () => undefined;

  const remoteTrack = await Promise.race([remote, timeout(5000, 'B remote track')]);
  const sink = new Audio();
  sink.muted = true;
  sink.srcObject = new MediaStream([remoteTrack]);
  await sink.play();

  const received = ctx.createMediaStreamSource(new MediaStream([remoteTrack]));
  const merger = ctx.createChannelMerger(2);
  const recorder = new AudioWorkletNode(ctx, 'recorder', {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 2,
    channelCountMode: 'explicit',
    channelInterpretation: 'discrete',
  });
  received.connect(merger, 0, 1);
  merger.connect(recorder);
  recorder.connect(ctx.destination); // outputs silence; keeps the worklet pulled

  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(dest);
  source.connect(merger, 0, 0);

  const done = new Promise((ok) => {
    recorder.port.onmessage = (e) => {
      if (e.data.chunk) chunks.push(e.data.chunk);
      if (e.data.done !== undefined) ok(e.data.done);
    };
  });
  // Everything is scheduled on the audio clock: lead, pre-roll, the source, the tail.
  const startFrame = Math.ceil((ctx.currentTime + 0.05 + Math.max(0, leadMs - preRollMs) / 1000) * RATE);
  const sourceFrame = startFrame + Math.round((preRollMs / 1000) * RATE);
  const endFrame = sourceFrame + samples.length + Math.round((tailMs / 1000) * RATE);
  recorder.port.postMessage({ start: startFrame, end: endFrame });
  source.start(sourceFrame / RATE);
  const totalMs = ((endFrame - ctx.currentTime * RATE) / RATE) * 1000;
  await Promise.race([done, timeout(totalMs + 15000, 'recording to finish (audio clock stalled?)')]);
  stopSampling();
  const sender = { start: sentAtConnect, end: await outbound(a) };

  const stats = {};
  const report = await b.getStats();
  let inbound = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s;
  });
  if (!inbound) throw new Error('B has no inbound-rtp audio stats');
  const codec = inbound.codecId ? report.get(inbound.codecId) : null;
  for (const k of ['packetsReceived', 'packetsLost', 'concealedSamples', 'totalSamplesReceived', 'fecPacketsReceived', 'fecPacketsDiscarded', 'jitterBufferDelay', 'jitterBufferEmittedCount', 'jitterBufferTargetDelay', 'concealmentEvents', 'silentConcealedSamples', 'insertedSamplesForDeceleration', 'removedSamplesForAcceleration', 'jitter']) {
    stats[k] = typeof inbound[k] === 'number' ? inbound[k] : null;
  }
  stats.jitterBufferMs = inbound.jitterBufferEmittedCount ? (1000 * inbound.jitterBufferDelay) / inbound.jitterBufferEmittedCount : null;
  stats.mimeType = codec?.mimeType ?? null;
  stats.sdpFmtpLine = codec?.sdpFmtpLine ?? null;
  stats.clockRate = codec?.clockRate ?? null;
  stats.channels = codec?.channels ?? null;
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remoteC = report.get(pair.remoteCandidateId);
    stats.candidatePair = `${local?.address}:${local?.port} (${local?.candidateType}) -> ${remoteC?.address}:${remoteC?.port} (${remoteC?.candidateType})`;
    stats.currentRoundTripTimeMs = typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
  }

  source.disconnect();
  keepalive.stop();
  received.disconnect();
  a.close();
  b.close();
  sink.srcObject = null;
  await ctx.close();
  const frames = chunks.reduce((s, c) => s + c.length / 2, 0);
  const answerSdp = a.remoteDescription.sdp;
  return { connectedMs, stats, frames, expectedFrames: endFrame - startFrame, sendFrames: samples.length, preRollFrames: sourceFrame - startFrame, errors, sender, series, answerSdp };
}

/** Chunk i as base64 of interleaved little-endian int16. */
function chunkB64(i) {
  const f = chunks[i];
  const pcm = new Int16Array(f.length);
  for (let k = 0; k < f.length; k++) pcm[k] = Math.max(-32768, Math.min(32767, Math.round(f[k] * 32768)));
  const bytes = new Uint8Array(pcm.buffer);
  let s = '';
  for (let k = 0; k < bytes.length; k += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
  return btoa(s);
}

window.bench = { run, chunkB64, chunkCount: () => chunks.length, ready: true };
