"""PESQ-WB (ITU-T P.862.2) of one degraded recording against its reference, for `ringwire bench
quality`. Both files are 48 kHz 16-bit WAVs; the first channel is used. The degraded signal is
resampled to 16 kHz, aligned to the reference by cross-correlation (the call's delay and any
leading silence), cut to the reference's length, and scored with the `pesq` package.

Usage: python3 pesq_score.py REFERENCE.wav DEGRADED.wav  ->  {"pesq_wb": 4.1, "offset_ms": 812.3}
"""

import json
import sys

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly


def load16k(path):
    rate, data = wavfile.read(path)
    if data.ndim > 1:
        data = data[:, 0]
    if rate != 48000:
        raise SystemExit(json.dumps({"error": f"{path}: {rate} Hz, expected 48000"}))
    return resample_poly(data.astype(np.float64) / 32768.0, 1, 3)


def main():
    ref, deg = load16k(sys.argv[1]), load16k(sys.argv[2])
    if len(deg) < len(ref) // 2 or not np.any(deg):
        print(json.dumps({"error": "the degraded recording is silent or too short"}))
        sys.exit(1)
    corr = correlate(deg, ref, mode="full", method="fft")
    lag = int(np.argmax(corr)) - (len(ref) - 1)
    lag = max(lag, 0)
    cut = deg[lag : lag + len(ref)]
    if len(cut) < len(ref):
        cut = np.concatenate([cut, np.zeros(len(ref) - len(cut))])
    score = pesq(16000, ref.astype(np.float32), cut.astype(np.float32), "wb")
    print(json.dumps({"pesq_wb": float(score), "offset_ms": lag * 1000.0 / 16000}))


if __name__ == "__main__":
    main()
