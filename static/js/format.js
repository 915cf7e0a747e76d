// Small formatting and DOM helpers shared by the page modules.

/** Create an element: h('span', {class: 'x', text: 'hi'}, child, ...). Never uses innerHTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

const MODEL_LABELS = { ensemble: 'Ensemble', musicnn: 'musicnn head', mfcc_cnn: 'MFCC CNN' };

/** "mfcc_cnn" -> "MFCC CNN"; unknown names are shown as they are. */
export function modelLabel(name) {
  return MODEL_LABELS[name] || String(name ?? '');
}

/** 0.7134 -> "71.3%" */
export function pct(p, digits = 1) {
  return isNum(p) ? `${(p * 100).toFixed(digits)}%` : '—';
}

/** seconds -> "m:ss" (or "h:mm:ss") */
export function clock(seconds) {
  if (!isNum(seconds) || seconds < 0) return '0:00';
  const s = Math.floor(seconds + 1e-6);
  const hours = Math.floor(s / 3600);
  const mins = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${String(mins).padStart(2, '0')}:${secs}` : `${mins}:${secs}`;
}

/** seconds -> "12.4 s" / "3 min 32 s" for prose (rounded first, so 119.7 s is "2 min", never "1 min 60 s") */
export function duration(seconds) {
  if (!isNum(seconds)) return '—';
  if (Math.round(seconds * 10) < 600) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return s ? `${m} min ${s} s` : `${m} min`;
}

export function bytes(n) {
  if (!isNum(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function ms(v) {
  if (!isNum(v)) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

/** "#rrggbb" + alpha -> "rgba(r, g, b, a)" */
export function rgba(hex, alpha) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  if (!m) return `rgba(128, 128, 128, ${alpha})`;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Black or white text, whichever reads better on the given background colour. */
export function textOn(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  if (!m) return '#fff';
  const n = parseInt(m[1], 16);
  const lin = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  // contrast with black = (L + 0.05) / 0.05, with white = 1.05 / (L + 0.05)
  return (L + 0.05) / 0.05 >= 1.05 / (L + 0.05) ? '#000' : '#fff';
}
