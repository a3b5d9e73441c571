// The ITU-T G.107 E-model and the call-quality estimate built on it: a port of
// crates/media/src/quality/emodel.rs and `CallQuality::estimate` (crates/media/src/quality/mod.rs),
// formula for formula, so the browser's MOS and the native engine's MOS are the same number for
// the same figures. Read the Rust for the derivation; each function here names its G.107
// equation as the Rust does. Only delay, loss and the codec vary; every other G.107 parameter
// stays at its Table 1 default (R = 93.2 for a perfect connection), and the one-way delay `Ta`
// also stands for the talker-echo delay `T` and half the listener-echo round trip.

/** G.107 Table 1 defaults that the model keeps fixed. */
const SLR = 8.0; // send loudness rating, dB
const RLR = 2.0; // receive loudness rating, dB
const STMR = 15.0; // sidetone masking rating, dB
const LSTR = 18.0; // listener sidetone rating, dB
const DS = 3.0; // D-value of the telephone, send side
const TELR = 65.0; // talker echo loudness rating, dB
const WEPL = 110.0; // weighted echo path loss, dB
const QDU = 1.0; // quantisation distortion units
const NC = -70.0; // circuit noise, dBm0p
const NFOR = -64.0; // noise floor at the receive side, dBmp
const PS = 35.0; // room noise at the send side, dB(A)
const PR = 35.0; // room noise at the receive side, dB(A)
const A = 0.0; // advantage factor

/** What varies between calls: delay, loss and the codec's impairment figures. */
export interface EModelInput {
  /** Mean one-way delay `Ta`, mouth to ear, ms. */
  oneWayDelayMs: number;
  /** Packet loss `Ppl`, percent (0-100). */
  packetLossPct: number;
  /** Burst ratio `BurstR`: 1 for random loss. */
  burstRatio: number;
  /** The codec's equipment impairment factor `Ie` at zero loss. */
  ie: number;
  /** The codec's packet-loss robustness factor `Bpl`. */
  bpl: number;
}

/** Opus with in-band FEC (the native sender's default): our assumption, as in the Rust. */
export const OPUS_FEC = { ie: 0.0, bpl: 30.0 } as const;

/** Opus lookahead in VOIP mode, ms. */
export const OPUS_LOOKAHEAD_MS = 6.5;

/** The transmission rating R (93.2 for G.107's default connection). */
export function rFactor(input: EModelInput): number {
  const ta = sanitize(input.oneWayDelayMs, 0, 10_000);
  const base = basic(ta);
  return base.ro - base.is - delayImpairment(ta) - ieEff(input) + A;
}

/** MOS (1-4.5) from R, G.107 Annex B (B-4). */
export function mosFromR(r: number): number {
  if (Number.isNaN(r) || r <= 0) return 1.0;
  if (r >= 100) return 4.5;
  return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6;
}

/** Effective equipment impairment `Ie-eff` (7-29). */
export function ieEff(input: EModelInput): number {
  const ie = sanitize(input.ie, 0, 95);
  const ppl = sanitize(input.packetLossPct, 0, 100);
  const burst = sanitize(input.burstRatio, 1, 100);
  const bpl = sanitize(input.bpl, 1, 1000);
  return ie + ((95.0 - ie) * ppl) / (ppl / burst + bpl);
}

/** The delay impairment `Id = Idte + Idle + Idd` (7-18) for `Ta = T = Tr/2`. */
export function delayImpairment(taMs: number): number {
  const ta = sanitize(taMs, 0, 10_000);
  const base = basic(ta);
  return talkerEcho(base, ta) + listenerEcho(base, 2.0 * ta) + idd(ta);
}

/** Impairment by pure delay `Idd` (7-27, 7-28): 0 up to 100 ms. */
export function idd(taMs: number): number {
  if (Number.isNaN(taMs) || taMs <= 100) return 0.0;
  const x = Math.log2(taMs / 100.0);
  return 25.0 * ((1.0 + x ** 6) ** (1 / 6) - 3.0 * (1.0 + (x / 3.0) ** 6) ** (1 / 6) + 2.0);
}

/** Clamps to a range; NaN becomes the low end (garbage in must not make R NaN). */
function sanitize(v: number, lo: number, hi: number): number {
  return Number.isNaN(v) ? lo : Math.min(Math.max(v, lo), hi);
}

interface Basic {
  ro: number;
  is: number;
  no: number;
}

/** `Ro`, `Is` and `No` at the default parameters (7-2 to 7-16); `t` enters only `STMRo`. */
function basic(t: number): Basic {
  const olr = SLR + RLR;
  const nos = PS - SLR - DS - 100.0 + 0.004 * (PS - olr - DS - 14.0) ** 2;
  const pre = PR + 10.0 * Math.log10(1.0 + 10 ** ((10.0 - LSTR) / 10.0));
  const nor = RLR - 121.0 + pre + 0.008 * (pre - 35.0) ** 2;
  const nfo = NFOR + RLR;
  const no = 10.0 * Math.log10(10 ** (NC / 10.0) + 10 ** (nos / 10.0) + 10 ** (nor / 10.0) + 10 ** (nfo / 10.0));
  const ro = 15.0 - 1.5 * (SLR + no);
  const xolr = olr + 0.2 * (64.0 + no - RLR);
  const iolr = 20.0 * ((1.0 + (xolr / 8.0) ** 8) ** (1 / 8) - xolr / 8.0);
  const stmro = -10.0 * Math.log10(10 ** (-STMR / 10.0) + Math.exp(-t / 4.0) * 10 ** (-TELR / 10.0));
  const ist =
    12.0 * (1.0 + ((stmro - 13.0) / 6.0) ** 8) ** (1 / 8) -
    28.0 * (1.0 + ((stmro + 1.0) / 19.4) ** 35) ** (1 / 35) -
    13.0 * (1.0 + ((stmro - 3.0) / 33.0) ** 13) ** (1 / 13) +
    29.0;
  const q = 37.0 - 15.0 * Math.log10(QDU);
  const g = 1.07 + 0.258 * q + 0.0602 * q * q;
  const y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
  const z = 46.0 / 30.0 - g / 40.0;
  const iq = 15.0 * Math.log10(1.0 + 10 ** y + 10 ** z);
  return { ro, is: iolr + ist + iq, no };
}

/** Talker echo `Idte` (7-19 to 7-22) for echo delay `t` ms. */
function talkerEcho(base: Basic, t: number): number {
  const roe = -1.5 * (base.no - RLR);
  const terv = TELR - 40.0 * Math.log10((1.0 + t / 10.0) / (1.0 + t / 150.0)) + 6.0 * Math.exp(-0.3 * t * t);
  const re = 80.0 + 2.5 * (terv - 14.0);
  const d = roe - re;
  return (d / 2.0 + Math.sqrt((d * d) / 4.0 + 100.0) - 1.0) * (1.0 - Math.exp(-t));
}

/** Listener echo `Idle` (7-25, 7-26) for the round trip `tr` ms. */
function listenerEcho(base: Basic, tr: number): number {
  const rle = 10.5 * (WEPL + 7.0) * (tr + 1.0) ** -0.25;
  const d = base.ro - rle;
  return d / 2.0 + Math.sqrt((d * d) / 4.0 + 169.0);
}

/** What is known about a call at one moment (`QualityInputs` in the Rust). */
export interface QualityInputs {
  /** Round-trip time, ms; `null` before the first measurement. */
  rttMs: number | null;
  /** Network packet loss, percent. */
  lossPct: number;
  /** The jitter buffer's playout delay, ms. */
  jitterBufferMs: number;
  /** Share of played audio that was concealed, 0-1. */
  concealmentRatio: number;
  /** Audio per packet, ms. */
  frameMs: number;
}

/**
 * R and MOS from the inputs, exactly as `CallQuality::estimate`: one-way delay = RTT/2 (0 while
 * unknown) + jitter buffer + Opus algorithmic delay (frame + lookahead) + one frame of
 * packetization; effective loss = the larger of network loss and concealment × 100; Opus with
 * FEC, random loss. Non-finite or negative inputs count as 0.
 */
export function estimate(inputs: QualityInputs): { rFactor: number; mos: number } {
  const clean = (v: number) => (Number.isFinite(v) ? Math.max(v, 0) : 0);
  const rtt = inputs.rttMs !== null && Number.isFinite(inputs.rttMs) && inputs.rttMs >= 0 ? inputs.rttMs : null;
  const lossPct = Math.min(clean(inputs.lossPct), 100);
  const concealment = Math.min(clean(inputs.concealmentRatio), 1);
  const frameMs = clean(inputs.frameMs);
  const oneWay = (rtt === null ? 0 : rtt / 2) + clean(inputs.jitterBufferMs) + (frameMs + OPUS_LOOKAHEAD_MS) + frameMs;
  const r = rFactor({
    oneWayDelayMs: oneWay,
    packetLossPct: Math.max(lossPct, concealment * 100),
    burstRatio: 1.0,
    ie: OPUS_FEC.ie,
    bpl: OPUS_FEC.bpl,
  });
  return { rFactor: r, mos: mosFromR(r) };
}
