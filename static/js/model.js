// The "Model" section: test numbers from GET /api/model, the table comparing the selectable models,
// the model <select> of the upload form and the pre-generated report-card pictures.
import { getJSON } from './api.js';
import { h, isNum, modelLabel, pct } from './format.js';
import { loadImage } from './results.js';

function stat(label, value, note) {
  return h('div', { class: 'col-6 col-md-3' },
    h('div', { class: 'stat-tile h-100' },
      h('div', { class: 'stat-value', text: value }),
      h('div', { class: 'stat-label', text: label }),
      note ? h('div', { class: 'stat-note', text: note }) : null));
}

/** The selectable models of a card: well-formed entries only, in the server's order. */
export function modelsOf(card) {
  return Array.isArray(card?.models) ? card.models.filter((m) => m && typeof m.name === 'string' && m.name) : [];
}

export async function initModel({ stats, statsCaption, compare, compareRows, footer, gallery, galleryEmpty }) {
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
  const models = modelsOf(card);
  if (card?.name && models.length > 1) {
    statsCaption.textContent = `The default model, ${modelLabel(card.name)}, on the test split:`;
    statsCaption.hidden = false;
  }
  renderComparison(models, compare, compareRows);
  const name = [card?.name, card?.version].filter(Boolean).join(' ');
  const n = Array.isArray(card?.genres) ? card.genres.length : null;
  if (name) footer.textContent = `Model: ${name}${n ? ` · ${n} genres` : ''}`;
  return card;
}

/** One table row per model: track accuracy and macro-F1 on the valid and test splits. */
function renderComparison(models, compare, rows) {
  const split = (m, key) => (m.metrics?.[key] && typeof m.metrics[key] === 'object' ? m.metrics[key] : {});
  const number = (value, text) => h('td', { class: 'text-end font-monospace', text: isNum(value) ? text(value) : '' });
  rows.replaceChildren(...models.map((m) => {
    const valid = split(m, 'valid');
    const test = split(m, 'test');
    return h('tr', { class: m.default ? 'is-default' : null, dataset: { model: m.name } },
      h('th', { scope: 'row' },
        h('span', { class: 'fw-semibold', text: modelLabel(m.name) }),
        m.default ? h('span', { class: 'badge rounded-pill default-badge ms-2', text: 'default' }) : null,
        m.description ? h('span', { class: 'd-block small text-body-secondary fw-normal', text: m.description }) : null),
      number(valid.track_accuracy, pct),
      number(valid.macro_f1, (v) => v.toFixed(2)),
      number(test.track_accuracy, pct),
      number(test.macro_f1, (v) => v.toFixed(2)));
  }));
  compare.hidden = models.length === 0;
}

/** Fill the upload form's model <select> (default first); hidden unless there is a choice. */
export function renderModelChoice(card, { wrapper, select, note }) {
  const models = modelsOf(card);
  const ordered = [...models.filter((m) => m.default), ...models.filter((m) => !m.default)];
  select.replaceChildren(...ordered.map((m) => h('option', {
    value: m.name, selected: m.default, text: `${modelLabel(m.name)}${m.default ? ' (default)' : ''}`,
  })));
  const describe = () => {
    note.textContent = models.find((m) => m.name === select.value)?.description || '';
  };
  select.addEventListener('change', describe);
  describe();
  wrapper.hidden = models.length < 2;
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
