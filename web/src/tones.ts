// Call progress tones made with WebAudio, so the page ships no audio files: the caller hears
// ringback while the far end rings, the callee hears a ring while a call is incoming, and a
// keypad press plays its DTMF pair locally. Browsers only let audio start after a user gesture;
// a ring that cannot start is silent, the screen still shows the call.

type Tone = 'ringback' | 'ring' | null;

/** Frequencies and cadence: ringback as in ITU-T E.180 (425 Hz, 1 s on, 4 s off); ring faster. */
const PATTERNS = {
  ringback: { freqs: [425], onS: 1.0, periodS: 5.0 },
  ring: { freqs: [440, 480], onS: 0.8, periodS: 2.4 },
} as const;

/** DTMF (ITU-T Q.23): a key sounds its row's and its column's frequency together. */
const KEYPAD = '123456789*0#';
const DTMF_ROWS = [697, 770, 852, 941];
const DTMF_COLUMNS = [1209, 1336, 1477];
const KEY_S = 0.1;

export class Tones {
  private ctx: AudioContext | null = null;
  private playing: Tone = null;
  private stopCurrent: (() => void) | null = null;

  set(tone: Tone): void {
    if (tone === this.playing) return;
    this.stopCurrent?.();
    this.stopCurrent = null;
    this.playing = tone;
    if (!tone) return;
    try {
      this.stopCurrent = this.start(this.context(), PATTERNS[tone]);
    } catch (error) {
      console.debug('ringwire: tones unavailable', error);
    }
  }

  /** The local feedback of a keypad press; the far end gets the key as an RTP event. */
  key(digit: string): void {
    const i = KEYPAD.indexOf(digit);
    if (i < 0) return;
    try {
      const ctx = this.context();
      const gain = ctx.createGain();
      gain.gain.value = 0.05;
      gain.connect(ctx.destination);
      const t = ctx.currentTime;
      for (const f of [DTMF_ROWS[Math.floor(i / 3)], DTMF_COLUMNS[i % 3]]) {
        const o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.onended = () => gain.disconnect();
        o.start(t);
        o.stop(t + KEY_S);
      }
    } catch (error) {
      console.debug('ringwire: tones unavailable', error);
    }
  }

  private context(): AudioContext {
    this.ctx ??= new AudioContext();
    void this.ctx.resume().catch(() => undefined);
    return this.ctx;
  }

  private start(ctx: AudioContext, p: { freqs: readonly number[]; onS: number; periodS: number }): () => void {
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const oscillators = p.freqs.map((f) => {
      const o = ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      return o;
    });
    const level = 0.15 / p.freqs.length;
    // Schedule cadences a minute ahead; a call rings at most 45 s by default.
    const t0 = ctx.currentTime + 0.05;
    for (let t = t0; t < t0 + 60; t += p.periodS) {
      gain.gain.setValueAtTime(level, t);
      gain.gain.setValueAtTime(0, t + p.onS);
    }
    return () => {
      for (const o of oscillators) o.stop();
      gain.disconnect();
    };
  }
}
