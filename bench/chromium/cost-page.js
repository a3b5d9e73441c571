//! One side of one call of the `cost` mode: one RTCPeerConnection, audio only (Chromium's
//! default Opus), a 440 Hz OscillatorNode → MediaStreamAudioDestinationNode track as the
//! microphone, remote audio played through an <audio> element (not muted, autoplay). Signaling
//! is brokered by node between the two browsers: local candidates go out through the exposed
//! `benchSignal` binding, remote ones come in through `bench.candidate()`.

let pc = null;
let ctx = null;
const pending = [];

async function init() {
  ctx = new AudioContext();
  await ctx.resume();
  const osc = ctx.createOscillator();
  osc.frequency.value = 440;
  const gain = ctx.createGain();
  gain.gain.value = 0.3;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  pc = new RTCPeerConnection();
  pc.addTrack(dest.stream.getAudioTracks()[0], dest.stream);
  pc.onicecandidate = (ev) => {
    if (ev.candidate?.candidate) {
      void window.benchSignal({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid, sdpMLineIndex: ev.candidate.sdpMLineIndex, usernameFragment: ev.candidate.usernameFragment });
    }
  };
  pc.ontrack = (ev) => {
    const audio = document.getElementById('remote');
    audio.srcObject = new MediaStream([ev.track]);
    audio.play().catch((e) => console.warn('bench: playback blocked', e.message));
  };
}

async function flush() {
  for (const c of pending.splice(0)) await pc.addIceCandidate(c).catch((e) => console.warn('bench: candidate', e.message));
}

window.bench = {
  ready: true,
  async offer() {
    await init();
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription.sdp;
  },
  async answer(sdp) {
    await init();
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await flush();
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription.sdp;
  },
  async accept(sdp) {
    await pc.setRemoteDescription({ type: 'answer', sdp });
    await flush();
  },
  async candidate(c) {
    if (pc?.remoteDescription) await pc.addIceCandidate(c).catch((e) => console.warn('bench: candidate', e.message));
    else pending.push(c);
  },
  state: () => pc?.connectionState ?? 'new',
  playing: () => {
    const a = document.getElementById('remote');
    return !!a.srcObject && !a.paused;
  },
};
