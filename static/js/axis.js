// The time axis under the player and under the shared-link strip: labels at round times, as many
// as the width holds without touching (a 3-hour file on a phone gets a few, not a pile-up).
import { clock, h } from './format.js';

// Candidate steps between labels, in seconds: the first one whose labels fit is used.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
export const CHAR_PX = 8; // a generous width of one character of the axis's 12-px monospace font
export const GAP_PX = 16; // at least this much room between one label's end and the next label

/** The labels for `duration` seconds over `widthPx` pixels: [{t, x, label}], each left-aligned at x. */
export function axisTicks(duration, widthPx, charPx = CHAR_PX) {
  if (!(duration > 0) || !(widthPx > 0)) return [];
  const labelPx = clock(duration).length * charPx;
  const room = labelPx + GAP_PX;
  const step = STEPS.find((s) => (s / duration) * widthPx >= room) ?? Math.ceil(duration);
  const ticks = [];
  for (let i = 0; ; i += 1) {
    const t = i * step;
    const x = (t / duration) * widthPx;
    if (t > duration + 1e-9 || x + labelPx > widthPx) break;
    ticks.push({ t, x, label: clock(t) });
  }
  return ticks;
}

/** Draw the axis into `container` now and again whenever its width changes. */
export function renderAxis(container, duration) {
  container._axisObserver?.disconnect();
  container.classList.add('time-axis');
  const draw = () => {
    const ticks = axisTicks(duration, container.clientWidth);
    container.replaceChildren(...ticks.map((tick) => {
      const el = h('span', { class: 'axis-tick', text: tick.label, dataset: { t: String(tick.t) } });
      el.style.left = `${(tick.t / duration) * 100}%`;
      return el;
    }));
  };
  draw();
  if (typeof ResizeObserver === 'function') {
    let width = container.clientWidth;
    container._axisObserver = new ResizeObserver(() => {
      if (container.clientWidth !== width) {
        width = container.clientWidth;
        draw();
      }
    });
    container._axisObserver.observe(container);
  }
}

export function clearAxis(container) {
  container._axisObserver?.disconnect();
  container._axisObserver = null;
  container.replaceChildren();
}
