// Waveform peaks computed by the server (GET /analyses/<id>/peaks.json): the player draws long files
// from them instead of decoding the whole file in the browser, and the shared-link view draws its
// waveform with them edge to edge, so it lines up with the segment strip under it.
import { getJSON } from './api.js';

/** Files longer than this (or analysed only in part) are drawn from the server's peaks. */
export const PEAKS_AFTER_S = 600;

/** Should the player draw this analysis from the server's peaks rather than decode the file? */
export function wantsServerPeaks(data) {
  const length = Number(data?.duration_s);
  return Boolean(data?.capped) || (Number.isFinite(length) && length > PEAKS_AFTER_S);
}

/** {duration_s, peaks} of an analysis; rejects (ApiError) when the server has none. */
export async function fetchPeaks(id, { signal } = {}) {
  const data = await getJSON(`/analyses/${encodeURIComponent(id)}/peaks.json`, { signal });
  const peaks = Array.isArray(data?.peaks) ? data.peaks.filter((v) => typeof v === 'number' && Number.isFinite(v)) : [];
  if (!peaks.length || !(data.duration_s > 0)) throw new Error('The server sent no waveform for this analysis.');
  return { duration: data.duration_s, peaks };
}

/** The loudest peak over each of `columns` equal parts of `peaks` (columns may exceed the peaks). */
export function columnPeaks(peaks, columns) {
  const out = new Float32Array(Math.max(0, columns));
  const n = peaks.length;
  for (let c = 0; c < columns && n; c += 1) {
    const from = Math.floor((c * n) / columns);
    const to = Math.max(from + 1, Math.floor(((c + 1) * n) / columns));
    let max = 0;
    for (let i = from; i < to && i < n; i += 1) max = Math.max(max, Math.abs(peaks[i]));
    out[c] = max;
  }
  return out;
}

/**
 * Draw `peaks` as a mirrored waveform filling the canvas's box from its left edge to its right edge
 * (sharp on high-density screens), scaled so the loudest peak reaches the top. Redrawn on resize.
 */
export function drawPeaks(canvas, peaks, color) {
  canvas._peaksObserver?.disconnect();
  const draw = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const columns = columnPeaks(peaks, width);
    const top = columns.reduce((m, v) => Math.max(m, v), 0) || 1;
    const middle = height / 2;
    ctx.fillStyle = color;
    for (let x = 0; x < width; x += 1) {
      const half = (columns[x] / top) * middle;
      if (half > 0) ctx.fillRect(x, middle - half, 1, Math.max(1, 2 * half));
    }
    canvas.dataset.drawn = 'true';
  };
  draw();
  if (typeof ResizeObserver === 'function') {
    let size = `${canvas.clientWidth}x${canvas.clientHeight}`;
    canvas._peaksObserver = new ResizeObserver(() => {
      const now = `${canvas.clientWidth}x${canvas.clientHeight}`;
      if (now !== size) {
        size = now;
        draw();
      }
    });
    canvas._peaksObserver.observe(canvas);
  }
}
