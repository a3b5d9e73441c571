//! Init script injected into both ringwire client pages of the `setup` mode (before the client's
//! own scripts run). It wraps RTCPeerConnection so every remote audio track of the armed call
//! gets a first-audio detector (detector-worklet.js, loaded from a Blob URL since the page is the
//! server's), and `window.__bench.hook()` wraps `window.ringwire.ui.render` (called on every
//! state change) to stamp the current call's phase changes, and `phone.send` to stamp when the
//! `invite` actually leaves (after the microphone opened). Times are
//! performance.timeOrigin + performance.now(), comparable across the pages of one machine.
//!
//! Chromium quirk: a remote WebRTC track only reaches WebAudio while it also plays through an
//! HTMLAudioElement, so each detected track is also attached to a muted <audio> of our own (the
//! client attaches its own element only once media starts).
((detectorSource) => {
  const now = () => performance.timeOrigin + performance.now();
  const B = {
    generation: -1,
    firstAudio: null,
    firstAudioPeak: null,
    inviteSent: null,
    phases: [],
    tracks: 0,
    errors: [],
    ctx: null,
    ready: null,
  };
  window.__bench = B;

  B.context = () => {
    if (!B.ready) {
      B.ctx = new AudioContext({ sampleRate: 48000 });
      const url = URL.createObjectURL(new Blob([detectorSource], { type: 'text/javascript' }));
      B.ready = B.ctx.resume().then(() => B.ctx.audioWorklet.addModule(url));
    }
    return B.ready;
  };

  B.arm = (generation) => {
    B.generation = generation;
    B.firstAudio = null;
    B.firstAudioPeak = null;
    B.inviteSent = null;
    B.phases = [];
    B.tracks = 0;
    B.errors = [];
  };

  B.watch = async (track, generation) => {
    try {
      await B.context();
      if (generation !== B.generation) return;
      B.tracks += 1;
      const sink = new Audio();
      sink.muted = true;
      sink.srcObject = new MediaStream([track]);
      sink.play().catch((e) => B.errors.push(`sink play: ${e.message}`));
      const source = B.ctx.createMediaStreamSource(new MediaStream([track]));
      const node = new AudioWorkletNode(B.ctx, 'first-audio', { processorOptions: { threshold: 0.01 } });
      node.port.onmessage = (e) => {
        const t = now();
        if (generation === B.generation && B.firstAudio === null) {
          B.firstAudio = t;
          B.firstAudioPeak = e.data.peak;
        }
        source.disconnect();
        node.disconnect();
        sink.srcObject = null;
      };
      source.connect(node);
      node.connect(B.ctx.destination); // silent output; keeps the worklet pulled
      track.addEventListener('ended', () => {
        source.disconnect();
        node.disconnect();
        sink.srcObject = null;
      });
    } catch (e) {
      B.errors.push(`detector: ${e.message}`);
    }
  };

  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      const generation = B.generation;
      this.addEventListener('track', (ev) => {
        if (ev.track.kind === 'audio') void B.watch(ev.track, generation);
      });
    }
  };

  B.hook = () => {
    const phone = window.ringwire.phone;
    const send = phone.send;
    phone.send = function (message, ...rest) {
      if (message?.type === 'invite' && B.inviteSent === null) B.inviteSent = now();
      return send.call(this, message, ...rest);
    };
    const ui = window.ringwire.ui;
    const render = ui.render;
    let last = '';
    ui.render = function (...args) {
      const t = now();
      const call = window.ringwire.phone?.current;
      if (call) {
        const key = `${call.id}:${call.phase}`;
        if (key !== last) {
          last = key;
          B.phases.push({ t, id: call.id, role: call.role, phase: call.phase, endReason: call.endReason, endText: call.endText });
        }
      }
      return render.apply(this, args);
    };
  };

  B.at = (role, phase) => B.phases.find((p) => p.role === role && p.phase === phase)?.t ?? null;
})
