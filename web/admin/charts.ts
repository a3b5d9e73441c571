// Charts of the figures over time, drawn as SVG from the analytics series: one x position per
// bucket, a gap where a bucket has no value (an unknown is not a zero).

import { el, root, tip } from './svg';

const W = 560;
const H = 190;
const M = { left: 64, right: 12, top: 14, bottom: 30 };

export interface Line {
  label: string;
  /** CSS class of the line and its dots (its colour). */
  cls: string;
  values: (number | null)[];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** Bucket start times (UNIX ms). */
  starts: number[];
  bucketMs: number;
  format: (value: number) => string;
  /** A fixed top of the y axis (1 for shares); otherwise the largest value, padded. */
  max?: number;
  /** Counts: the axis ends at an even whole number, so its ticks are whole. */
  whole?: boolean;
}

function frame(host: HTMLElement, spec: ChartSpec, legend: Line[] | null) {
  const figure = document.createElement('figure');
  figure.className = 'chart';
  figure.dataset.chart = spec.id;
  const caption = document.createElement('figcaption');
  caption.textContent = spec.title;
  figure.appendChild(caption);
  if (legend) {
    const keys = document.createElement('span');
    keys.className = 'legend';
    for (const line of legend) {
      const key = document.createElement('span');
      key.className = `key ${line.cls}`;
      key.textContent = line.label;
      keys.appendChild(key);
    }
    caption.appendChild(keys);
  }
  host.appendChild(figure);
  const svg = root(figure, W, H, spec.title);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const n = Math.max(1, spec.starts.length);
  const x = (i: number) => M.left + ((i + 0.5) * plotW) / n;
  return { svg, plotW, plotH, n, x };
}

function axes(
  svg: SVGSVGElement,
  spec: ChartSpec,
  top: number,
  plotW: number,
  plotH: number,
  x: (i: number) => number,
): (v: number) => number {
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  for (const v of [0, top / 2, top]) {
    el(svg, 'line', { x1: M.left, x2: M.left + plotW, y1: y(v), y2: y(v), class: 'grid' });
    el(svg, 'text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, spec.format(v));
  }
  const n = spec.starts.length;
  const labelled = n <= 1 ? [0] : [0, Math.floor((n - 1) / 2), n - 1];
  for (const i of new Set(labelled)) {
    if (spec.starts[i] === undefined) continue;
    const when = new Date(spec.starts[i]);
    const text = spec.bucketMs >= 86_400_000
      ? when.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
      : when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    const anchor = n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle';
    const edge = anchor === 'start' ? -4 : anchor === 'end' ? 4 : 0;
    el(svg, 'text', { x: x(i) + edge, y: H - 8, 'text-anchor': anchor, class: 'tick' }, text);
  }
  return y;
}

function topOf(spec: ChartSpec, values: number[]): number {
  if (spec.max !== undefined) return spec.max;
  const largest = Math.max(0, ...values);
  if (spec.whole) return Math.max(2, Math.ceil((largest * 1.15) / 2) * 2);
  return largest > 0 ? largest * 1.15 : 1;
}

/** Lines with dots; a null breaks the line. */
export function lineChart(host: HTMLElement, spec: ChartSpec, lines: Line[]): void {
  const { svg, plotW, plotH, x } = frame(host, spec, lines);
  const known = lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
  const y = axes(svg, spec, topOf(spec, known), plotW, plotH, x);
  for (const line of lines) {
    let d = '';
    let pen = false;
    line.values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    if (d) el(svg, 'path', { d, class: `line ${line.cls}`, fill: 'none' });
    line.values.forEach((v, i) => {
      if (v === null) return;
      const dot = el(svg, 'circle', { cx: x(i), cy: y(v), r: 3, class: `dot ${line.cls}` });
      tip(dot, `${line.label} ${spec.format(v)} at ${new Date(spec.starts[i]).toLocaleString()}`);
    });
  }
  if (known.length === 0) {
    el(svg, 'text', { x: M.left + plotW / 2, y: M.top + plotH / 2, 'text-anchor': 'middle', class: 'empty' },
      'no data in this range');
  }
}

/** One bar per bucket. */
export function barChart(host: HTMLElement, spec: ChartSpec, values: number[]): void {
  const { svg, plotW, plotH, n, x } = frame(host, spec, null);
  const y = axes(svg, spec, topOf(spec, values), plotW, plotH, x);
  const width = Math.max(2, (plotW / n) * 0.7);
  values.forEach((v, i) => {
    if (v <= 0) return;
    const bar = el(svg, 'rect', {
      x: x(i) - width / 2,
      y: y(v),
      width,
      height: y(0) - y(v),
      class: 'bar',
    });
    tip(bar, `${spec.format(v)} at ${new Date(spec.starts[i]).toLocaleString()}`);
  });
}
