// The "Model" section: test numbers from GET /api/model and the pre-generated report-card pictures.
import { getJSON } from './api.js';
import { h, isNum, pct } from './format.js';
import { loadImage } from './results.js';

function stat(label, value, note) {
  return h('div', { class: 'col-6 col-md-3' },
    h('div', { class: 'stat-tile h-100' },
      h('div', { class: 'stat-value', text: value }),
      h('div', { class: 'stat-label', text: label }),
      note ? h('div', { class: 'stat-note', text: note }) : null));
}

export async function initModel({ stats, footer, gallery, galleryEmpty }) {
  loadGallery(gallery, galleryEmpty);
  let card;
  try {
    card = await getJSON('/api/model');
  } catch (e) {
    stats.replaceChildren(h('p', { class: 'col-12 text-body-secondary', text: `Model details are not available right now (${e.message})` }));
    return null;
  }
  const test = card?.metrics?.test && typeof card.metrics.test === 'object' ? card.metrics.test : {};
  const tiles = [];
  if (isNum(test.track_accuracy)) tiles.push(stat('Track accuracy', pct(test.track_accuracy), 'whole songs, test split'));
  if (isNum(test.segment_accuracy)) tiles.push(stat('Segment accuracy', pct(test.segment_accuracy), 'single 3-second slices'));
  if (isNum(test.macro_f1)) tiles.push(stat('Macro-F1', test.macro_f1.toFixed(2), 'averaged over genres'));
  if (isNum(test.tracks)) tiles.push(stat('Test tracks', String(test.tracks), 'never seen in training'));
  if (tiles.length) {
    stats.replaceChildren(...tiles);
  } else {
    stats.replaceChildren(h('p', { class: 'col-12 text-body-secondary', text: 'No test results are recorded for this model yet.' }));
  }
  const name = [card?.name, card?.version].filter(Boolean).join(' ');
  const n = Array.isArray(card?.genres) ? card.genres.length : null;
  if (name) footer.textContent = `Model: ${name}${n ? ` · ${n} genres` : ''}`;
  return card;
}

/** Show each report-card picture once it has loaded; hide the ones that don't exist (yet). */
async function loadGallery(gallery, empty) {
  const figures = [...gallery.querySelectorAll('.metric-figure')];
  const results = await Promise.all(figures.map(async (fig) => {
    const img = fig.querySelector('img');
    const src = img?.dataset.src;
    if (!src) return false;
    const ok = await loadImage(img, src);
    fig.hidden = !ok;
    return ok;
  }));
  empty.hidden = results.some(Boolean);
}
