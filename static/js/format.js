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

const MODEL_LABELS = { student: 'musicnn, distilled', musicnn: 'musicnn head', mfcc_cnn: 'MFCC CNN', ensemble: 'Ensemble' };

/** "mfcc_cnn" -> "MFCC CNN"; unknown names are shown as they are. */
export function modelLabel(name) {
  return MODEL_LABELS[name] || String(name ?? '');
}

/**
 * The one rounding rule of the page (and of docs/api.md): a number is rounded half away from zero on
 * its shortest decimal spelling (the digits JSON carries: 0.7765 is "0.7765", not the binary
 * 0.77649999...), after moving the decimal point `shift` places right. So fixed(0.7765, 1, 2) is
 * "77.7" where (0.7765 * 100).toFixed(1) says "77.6", and fixed(1.005, 2) is "1.01". In Python:
 * Decimal(repr(x)).scaleb(shift).quantize(Decimal(10) ** -digits, rounding=ROUND_HALF_UP).
 */
export function fixed(value, digits = 0, shift = 0) {
  if (!isNum(value)) return '—';
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(Math.abs(value)));
  if (!m) return value.toFixed(digits); // not reached: String() of a finite number always matches
  const [, whole, fraction = '', exponent = '0'] = m;
  // |value| = int(whole + fraction) * 10^(exponent - fraction.length); scaled by 10^(shift + digits)
  let units = BigInt(whole + fraction);
  const power = Number(exponent) - fraction.length + shift + digits;
  if (power >= 0) {
    units *= 10n ** BigInt(power);
  } else {
    const divisor = 10n ** BigInt(-power);
    const rest = units % divisor;
    units /= divisor;
    if (rest * 2n >= divisor) units += 1n; // half away from zero (the sign is put back below)
  }
  const text = units.toString().padStart(digits + 1, '0');
  const shown = digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return value < 0 && units !== 0n ? `-${shown}` : shown;
}

/** A probability as a percentage: 0.7765 -> "77.7 %" (no-break space; the rule of fixed()). */
export function pct(p, digits = 1) {
  return isNum(p) ? `${fixed(p, digits, 2)}\u00a0%` : '—';
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

const PERIODS = [['day', 86400], ['hour', 3600], ['minute', 60]];

/**
 * How long the server keeps something, from its setting in seconds (JOB_TTL_S, RESULT_TTL_S):
 * 604800 -> "for 7 days", 129600 -> "for 36 hours", 5400 -> "for 90 minutes". The unit is the largest
 * that the period is a whole one of or at least two of; at most one decimal. Without a usable setting
 * (a copy of the page served elsewhere): "for a limited time".
 */
export function keptFor(seconds) {
  if (!isNum(seconds) || seconds <= 0) return 'for a limited time';
  const [unit, size] = PERIODS.find(([, s]) => seconds >= 2 * s || seconds === s) || ['second', 1];
  const count = Math.round((seconds / size) * 10) / 10;
  return `for ${count} ${unit}${count === 1 ? '' : 's'}`;
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
