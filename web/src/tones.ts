// Call progress tones made with WebAudio, so the page ships no audio files: the caller hears
// ringback while the far end rings, the callee hears a ring while a call is incoming. Browsers
// only let audio start after a user gesture; a ring that cannot start is silent, the screen
// still shows the call.

type Tone = 'ringback' | 'ring' | null;

/** Frequencies and cadence: ringback as in ITU-T E.180 (425 Hz, 1 s on, 4 s off); ring faster. */
const PATTERNS = {
  ringback: { freqs: [425], onS: 1.0, periodS: 5.0 },
  ring: { freqs: [440, 480], onS: 0.8, periodS: 2.4 },
} as const;

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
      this.ctx ??= new AudioContext();
      void this.ctx.resume().catch(() => undefined);
      this.stopCurrent = this.start(this.ctx, PATTERNS[tone]);
    } catch (error) {
      console.debug('ringwire: tones unavailable', error);
    }
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
