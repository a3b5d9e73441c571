// How figures read on the page: durations in ms or s, shares as percentages, unknowns as "–".

export const UNKNOWN = '–';

export function ms(value: number | null): string {
  if (value === null) return UNKNOWN;
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(2)} s`;
}

export function percent(value: number | null): string {
  return value === null ? UNKNOWN : `${(value * 100).toFixed(1)}%`;
}

export function count(value: number): string {
  return String(value);
}

export function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

export function clock(unixMs: number): string {
  return new Date(unixMs).toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** `+1.25 s` from `originMs`. */
export function offset(atMs: number, originMs: number): string {
  const d = (atMs - originMs) / 1000;
  return `${d < 0 ? '−' : '+'}${Math.abs(d).toFixed(2)} s`;
}
