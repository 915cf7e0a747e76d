// The "Model" section: test numbers from GET /api/model, the table comparing the selectable models,
// the model <select> of the upload form and the pre-generated report-card pictures.
import { getJSON } from './api.js';
import { fixed, h, isNum, modelLabel, pct } from './format.js';
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

// The optional electronic and cross-collection figures of the default model's metrics, in the order shown.
// `value` and `count` are paths into card.metrics; `lower` marks figures where less is better.
const GENERALISATION = [
  { value: ['electronic', 'recall_test'], count: ['electronic', 'tracks_test'],
    label: 'Electronic tracks called electronic (artist-disjoint test)' },
  { value: ['electronic', 'false_positive_rate_test'], count: ['electronic', 'non_electronic_tracks_test'], lower: true,
    label: 'Non-electronic test tracks called electronic' },
  { value: ['electronic', 'reencoded_gtzan_called_electronic'], lower: true,
    label: 'GTZAN test tracks re-encoded like the electronic clips, called electronic' },
  { value: ['styles', 'test', 'track_accuracy'], count: ['styles', 'test', 'tracks'], f1: ['styles', 'test', 'macro_f1'],
    label: 'Electronic style accuracy (7 styles, artist-disjoint test)' },
  { value: ['cross_source', 'unseen_style_called_electronic'],
    label: 'Electronic styles never trained on, still called electronic' },
  { value: ['cross_source', 'hiphop_other_source', 'share'], count: ['cross_source', 'hiphop_other_source', 'tracks'],
    label: 'Hip-hop from another collection, called hip-hop' },
  { value: ['cross_source', 'disco_other_source', 'share'], count: ['cross_source', 'disco_other_source', 'tracks'],
    label: 'Disco from another collection, called disco' },
  { value: ['cross_source', 'rock_family_other_source', 'share'], count: ['cross_source', 'rock_family_other_source', 'tracks'],
    label: 'Rock-family clips from another collection, called rock or metal' },
  { value: ['test_gtzan10', 'track_accuracy'], count: ['test_gtzan10', 'tracks'],
    label: 'The 10 GTZAN genres (test tracks)' },
];

const at = (obj, path) => path.reduce((o, key) => (o && typeof o === 'object' ? o[key] : undefined), obj);

// What the outside collection (metrics.outside_dev, one entry per genre) holds, in the page's words.
const OUTSIDE_LABELS = {
  rock: 'Alternative and indie rock from another collection, called rock',
  classical: 'Baroque, chamber and early music from another collection, called classical',
};

/** The figures of the outside collection: one per genre, each a path into the metrics like GENERALISATION's. */
function outsideFigures(metrics) {
  const outside = at(metrics, ['outside_dev']);
  if (!outside || typeof outside !== 'object') return [];
  return Object.keys(outside).sort().map((genre) => ({
    value: ['outside_dev', genre, 'share'], count: ['outside_dev', genre, 'tracks'], chosenWith: true,
    label: OUTSIDE_LABELS[genre] || `${genre} from another collection, called ${genre}`,
  }));
}

/** The "Electronic music and generalisation" card: the figures present, each with a plain label; hidden if none. */
export function renderGeneralisation(metrics, card, list) {
  const rows = [];
  for (const f of [...GENERALISATION, ...outsideFigures(metrics)]) {
    const value = at(metrics, f.value);
    if (!isNum(value)) continue;
    const count = f.count ? at(metrics, f.count) : undefined;
    const f1 = f.f1 ? at(metrics, f.f1) : undefined;
    const notes = [];
    if (isNum(count)) notes.push(`${count} track${count === 1 ? '' : 's'}`);
    if (isNum(f1)) notes.push(`macro-F1 ${fixed(f1, 2)}`);
    if (f.lower) notes.push('lower is better');
    if (f.chosenWith) notes.push('used to choose the model, so a little optimistic');
    rows.push(h('div', { class: 'figure-row', dataset: { figure: f.value.join('.'), value: String(value) } },
      h('dt', { class: 'figure-label', text: f.label }),
      h('dd', { class: 'figure-value font-monospace', text: pct(value) }),
      notes.length ? h('dd', { class: 'figure-note', text: notes.join(' · ') }) : null));
  }
  list.replaceChildren(...rows);
  card.hidden = rows.length === 0;
}

export async function initModel({
  stats, statsCaption, compare, compareRows, electronic, electronicList, footer, gallery, galleryEmpty,
}) {
  loadGallery(gallery, galleryEmpty);
  let card;
  try {
    card = await getJSON('/api/model');
  } catch (e) {
    stats.replaceChildren(h('p', { class: 'col-12 text-body-secondary', text: `Model details are not available right now (${e.message})` }));
    captionGallery(gallery, null);
    return null;
  }
  captionGallery(gallery, card?.name);
  const test = card?.metrics?.test && typeof card.metrics.test === 'object' ? card.metrics.test : {};
  const tiles = [];
  if (isNum(test.track_accuracy)) tiles.push(stat('Track accuracy', pct(test.track_accuracy), 'whole songs, test split'));
  if (isNum(test.segment_accuracy)) tiles.push(stat('Segment accuracy', pct(test.segment_accuracy), 'single 3-second slices'));
  if (isNum(test.macro_f1)) tiles.push(stat('Macro-F1', fixed(test.macro_f1, 2), 'averaged over genres'));
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
  if (electronic && electronicList) renderGeneralisation(card?.metrics, electronic, electronicList);
  renderComparison(models, compare, compareRows);
  const name = [card?.name, card?.version].filter(Boolean).join(' ');
  const n = Array.isArray(card?.genres) ? card.genres.length : null;
  if (name) footer.textContent = `Model: ${name}${n ? ` · ${n} genres` : ''}`;
  return card;
}

/**
 * One table row per model: track accuracy and macro-F1 on the valid and test splits. Each cell
 * carries its column's name (data-label), which a phone shows beside the value when the rows are
 * laid out as cards (app.css), so no column hides behind a sideways scroll.
 */
function renderComparison(models, compare, rows) {
  const split = (m, key) => (m.metrics?.[key] && typeof m.metrics[key] === 'object' ? m.metrics[key] : {});
  const heads = [...compare.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  const f1 = (v) => fixed(v, 2);
  const cell = (column, value, text) => h('td', {
    class: 'text-end font-monospace', role: 'cell', dataset: { label: heads[column] || '' }, text: isNum(value) ? text(value) : '',
  });
  rows.replaceChildren(...models.map((m) => {
    const valid = split(m, 'valid');
    const test = split(m, 'test');
    return h('tr', { class: m.default ? 'is-default' : null, role: 'row', dataset: { model: m.name } },
      h('th', { scope: 'row', role: 'rowheader' },
        h('span', { class: 'fw-semibold', text: modelLabel(m.name) }),
        m.default ? h('span', { class: 'badge rounded-pill default-badge ms-2', text: 'default' }) : null,
        m.description ? h('span', { class: 'd-block small text-body-secondary fw-normal', text: m.description }) : null),
      cell(1, valid.track_accuracy, pct),
      cell(2, valid.macro_f1, f1),
      cell(3, test.track_accuracy, pct),
      cell(4, test.macro_f1, f1));
  }));
  compare.hidden = models.length === 0;
}

/**
 * Say under each report-card picture which model it shows: its figure's data-model names the model,
 * or "default" for the test-split pictures, which training draws for the served default model.
 */
export function captionGallery(gallery, defaultName) {
  for (const fig of gallery.querySelectorAll('.metric-figure[data-model]')) {
    const caption = fig.querySelector('figcaption');
    if (!caption) continue;
    caption.querySelector('.model-tag')?.remove();
    const wanted = fig.dataset.model;
    const name = wanted === 'default' ? defaultName : wanted;
    const label = name ? modelLabel(name) : 'the default model';
    const tag = h('span', { class: 'model-tag', dataset: { model: name || '' } }, h('span', { class: 'visually-hidden', text: 'Model: ' }), label);
    caption.prepend(tag, ' ');
  }
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
