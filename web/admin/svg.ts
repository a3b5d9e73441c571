// Building SVG through the DOM: attributes only (presentation attributes and classes, no
// inline styles), so the page's Content-Security-Policy needs no 'unsafe-inline'.

const NS = 'http://www.w3.org/2000/svg';

export function el<K extends keyof SVGElementTagNameMap>(
  parent: Element,
  tag: K,
  attrs: Record<string, string | number> = {},
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

/** A `<title>` child: the browser's tooltip, and what a screen reader reads. */
export function tip(parent: SVGElement, text: string): void {
  el(parent, 'title', {}, text);
}

export function root(host: Element, width: number, height: number, label: string): SVGSVGElement {
  const svg = el(host, 'svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': label,
  });
  svg.classList.add('chart-svg');
  return svg;
}
