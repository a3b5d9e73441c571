//! 16-bit PCM WAV reading and writing for the Chromium baseline (node side). `readWav` returns
//! the interleaved samples as Int16Array with rate and channel count; `writeWav` writes
//! interleaved Int16 samples. No resampling, no float conversion beyond what callers do.

import { readFileSync, writeFileSync } from 'node:fs';

export function parseWav(buffer) {
  const b = Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let off = 12;
  let fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      fmt = {
        format: b.readUInt16LE(off + 8),
        channels: b.readUInt16LE(off + 10),
        rate: b.readUInt32LE(off + 12),
        bits: b.readUInt16LE(off + 22),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.format !== 1 || fmt.bits !== 16) throw new Error(`not 16-bit PCM (format ${fmt.format}, ${fmt.bits} bits)`);
      const end = Math.min(b.length, off + 8 + size);
      const count = Math.floor((end - off - 8) / 2);
      const samples = new Int16Array(count);
      for (let i = 0; i < count; i++) samples[i] = b.readInt16LE(off + 8 + i * 2);
      return { samples, rate: fmt.rate, channels: fmt.channels };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

export const readWav = (path) => parseWav(readFileSync(path));

/** Writes interleaved 16-bit samples (Int16Array or Buffer of LE int16) as a PCM WAV. */
export function writeWav(path, data, rate, channels) {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + bytes.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(bytes.length, 40);
  writeFileSync(path, Buffer.concat([header, bytes]));
}
