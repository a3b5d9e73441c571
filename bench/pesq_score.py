"""PESQ-WB (ITU-T P.862.2) of one degraded recording against its reference, for `ringwire bench
quality` and `crates/media/examples/loss_lab.sh`. Both files are 48 kHz 16-bit WAVs; the first
channel is used, resampled to 16 kHz, and scored with the `pesq` package.

Alignment, the same for every stack: an adaptive jitter buffer moves its playout delay during a
call (it grows for a loss burst, shrinks afterwards), so one global alignment would score a
receiver that moved its delay in a pause as if every later word were late. So:

1. the recording is aligned to the reference as a whole by cross-correlation (the call's delay
   and any leading silence): the global lag;
2. the reference is split into utterances on its pauses (200 ms or more below -35 dB of its
   loudest 20 ms frame);
3. each utterance gets its own lag, the best normalised cross-correlation within +-200 ms of the
   lag of the utterance before it (the first within +-400 ms of the global lag), by normalised
   cross-correlation, so a loud stretch elsewhere cannot win. A buffer moves its delay by
   up to a few frames at a time, but over a clip it can move further (80 to 240 ms is common
   under bursty loss), so the search follows the delay instead of staying around one lag;
4. each utterance's stretch of the recording (from the middle of the pause before it to the
   middle of the pause after it) is taken at its lag, and the recording re-assembled that way
   is scored against the reference, once.

A delay that moves inside an utterance (a hold in the middle of a word, time-stretching) is not
undone here; PESQ's own alignment judges it, as it would for any stack.

Usage: python3 pesq_score.py REFERENCE.wav DEGRADED.wav
  -> {"pesq_wb": 4.1, "offset_ms": 812.3, "utterances": 3, "lags_ms": [812.3, 832.3, 892.3],
      "pesq_wb_global": 3.9}
(`pesq_wb_global` is the score of the recording aligned as a whole, for comparison.)
"""

import json
import sys

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly

RATE = 16000
FRAME = RATE // 50  # 20 ms
PAUSE_DB = -35.0
MIN_PAUSE_FRAMES = 10  # 200 ms
SEARCH = RATE * 200 // 1000  # +-200 ms from the utterance before
FIRST_SEARCH = RATE * 400 // 1000  # +-400 ms from the global lag, for the first utterance


def load16k(path):
    rate, data = wavfile.read(path)
    if data.ndim > 1:
        data = data[:, 0]
    if rate != 48000:
        raise SystemExit(json.dumps({"error": f"{path}: {rate} Hz, expected 48000"}))
    return resample_poly(data.astype(np.float64) / 32768.0, 1, 3)


def global_lag(ref, deg):
    corr = correlate(deg, ref, mode="full", method="fft")
    return max(int(np.argmax(corr)) - (len(ref) - 1), 0)


def utterances(ref):
    """(start, end) sample ranges of the reference's speech, split on pauses."""
    frames = len(ref) // FRAME
    if frames == 0:
        return []
    energy = np.array([np.mean(ref[i * FRAME : (i + 1) * FRAME] ** 2) for i in range(frames)])
    peak = float(np.max(energy))
    if peak <= 0.0:
        return []
    loud = energy > peak * 10 ** (PAUSE_DB / 10)
    spans, start, quiet = [], None, 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            if start is None:
                start = i
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= MIN_PAUSE_FRAMES:
                spans.append((start, i - quiet + 1))
                start, quiet = None, 0
    if start is not None:
        spans.append((start, frames - quiet))
    return [(s * FRAME, e * FRAME) for s, e in spans]


def take(deg, start, length):
    """`length` samples of `deg` from `start`, zeros where it has none."""
    out = np.zeros(length)
    lo, hi = max(start, 0), min(start + length, len(deg))
    if hi > lo:
        out[lo - start : hi - start] = deg[lo:hi]
    return out


def utterance_lag(ref, deg, span, lag, search):
    """The lag within +-`search` of `lag` at which `deg` best matches the reference's `span`."""
    s, e = span
    seg = ref[s:e]
    window = take(deg, s + lag - search, e - s + 2 * search)
    corr = correlate(window, seg, mode="valid", method="fft")
    # Normalise by the window's energy under the segment, so a loud stretch does not win.
    power = np.convolve(window**2, np.ones(len(seg)), mode="valid")
    score = corr / np.sqrt(np.maximum(power, 1e-12))
    return lag - search + int(np.argmax(score))


def realign(ref, deg, lag):
    spans = utterances(ref)
    if len(spans) < 2:
        return take(deg, lag, len(ref)), [lag]
    lags = [utterance_lag(ref, deg, spans[0], lag, FIRST_SEARCH)]
    for span in spans[1:]:
        lags.append(utterance_lag(ref, deg, span, lags[-1], SEARCH))
    # Each utterance owns the reference from the middle of the pause before it to the middle of
    # the pause after it.
    bounds = [0] + [(spans[i][1] + spans[i + 1][0]) // 2 for i in range(len(spans) - 1)] + [len(ref)]
    out = np.concatenate(
        [take(deg, bounds[i] + lags[i], bounds[i + 1] - bounds[i]) for i in range(len(spans))]
    )
    return out, lags


def main():
    ref, deg = load16k(sys.argv[1]), load16k(sys.argv[2])
    if len(deg) < len(ref) // 2 or not np.any(deg):
        print(json.dumps({"error": "the degraded recording is silent or too short"}))
        sys.exit(1)
    lag = global_lag(ref, deg)
    aligned, lags = realign(ref, deg, lag)
    score = pesq(RATE, ref.astype(np.float32), aligned.astype(np.float32), "wb")
    whole = pesq(RATE, ref.astype(np.float32), take(deg, lag, len(ref)).astype(np.float32), "wb")
    print(
        json.dumps(
            {
                "pesq_wb": float(score),
                "offset_ms": lag * 1000.0 / RATE,
                "utterances": len(lags),
                "lags_ms": [round(l * 1000.0 / RATE, 1) for l in lags],
                "pesq_wb_global": float(whole),
            }
        )
    )


if __name__ == "__main__":
    main()
