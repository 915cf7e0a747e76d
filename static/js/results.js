// Rendering one analysis: the headline, the genre bars, the style tags, the genre guide, the static
// timeline, the pictures and the features. Everything is built with DOM calls (no innerHTML).
import { apiUrl } from './api.js';
import { clock, duration, h, isNum, modelLabel, ms, pct, rgba, textOn } from './format.js';

const FALLBACK_COLORS = ['#4f8ef7', '#f0cc5a', '#e07b39', '#d45ad8', '#a07cff', '#2bb3a3', '#a3adb8', '#ff7aa8', '#3fbf5f', '#e5484d'];
const GUIDE_COUNT = 3;
const TAG_COUNT = 8;

/** Colours and display names for genres, from GET /api/genres, with fallbacks for unknown names. */
export class GenreBook {
  constructor(info) {
    this.info = info && typeof info === 'object' ? info : {};
    this.extra = new Map();
  }

  entry(genre) {
    const e = this.info[genre];
    return e && typeof e === 'object' ? e : null;
  }

  label(genre) {
    const name = this.entry(genre)?.name;
    if (typeof name === 'string' && name) return name;
    const s = String(genre ?? '').replace(/[_-]+/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  color(genre) {
    const c = this.entry(genre)?.color;
    if (typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c)) return c;
    if (!this.extra.has(genre)) {
      let hash = 0;
      for (const ch of String(genre)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
      this.extra.set(genre, FALLBACK_COLORS[hash % FALLBACK_COLORS.length]);
    }
    return this.extra.get(genre);
  }
}

/** The genres of an analysis, sorted high to low, tolerant of odd input. */
export function sortedGenres(data) {
  const list = Array.isArray(data?.genres) ? data.genres.filter((g) => g && typeof g.genre === 'string') : [];
  return [...list].sort((a, b) => (b.probability ?? 0) - (a.probability ?? 0));
}

function swatch(color) {
  const s = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  s.style.backgroundColor = color;
  return s;
}

export function renderSummary(data, book, els) {
  const ranked = sortedGenres(data);
  const top = data.genre ?? ranked[0]?.genre;
  const confidence = isNum(data.confidence) ? data.confidence : ranked[0]?.probability;
  const color = book.color(top);

  els.topGenre.textContent = top ? book.label(top) : 'Unknown';
  els.topGenre.style.setProperty('--genre-color', color);
  els.topConfidence.textContent = `${pct(confidence)} confident`;
  els.topConfidence.style.backgroundColor = color;
  els.topConfidence.style.color = textOn(color);
  els.filename.textContent = data.filename || 'Untitled';
  const segs = Array.isArray(data.segments) ? data.segments.length : 0;
  const bits = [];
  if (isNum(data.duration_s)) bits.push(clock(data.duration_s));
  bits.push(`${segs} segment${segs === 1 ? '' : 's'}`);
  els.meta.textContent = ` · ${bits.join(' · ')}`;
  els.result.style.setProperty('--genre-color', color);
  els.result.style.setProperty('--genre-glow', rgba(color, 0.18));
}

export function renderBars(data, book, list) {
  list.replaceChildren();
  sortedGenres(data).forEach((g, i) => {
    const color = book.color(g.genre);
    const value = isNum(g.probability) ? g.probability * 100 : 0;
    const bar = h('div', { class: 'progress-bar' });
    bar.style.width = `${Math.max(0, Math.min(100, value))}%`;
    bar.style.backgroundColor = color;
    const row = h('li', { class: `genre-row${i === 0 ? ' is-top' : ''}`, dataset: { genre: g.genre, probability: String(g.probability) } },
      h('div', { class: 'genre-row-head' },
        h('span', { class: 'genre-name' }, swatch(color), book.label(g.genre)),
        h('span', { class: 'genre-pct font-monospace', text: pct(g.probability) })),
      h('div', {
        class: 'progress genre-progress', role: 'progressbar',
        'aria-label': book.label(g.genre), 'aria-valuemin': '0', 'aria-valuemax': '100',
        'aria-valuenow': value.toFixed(1), 'aria-valuetext': pct(g.probability),
      }, bar));
    list.append(row);
  });
}

export function renderGuide(data, book, container) {
  container.replaceChildren();
  const leaders = sortedGenres(data).slice(0, GUIDE_COUNT);
  for (const g of leaders) {
    const info = book.entry(g.genre);
    const color = book.color(g.genre);
    const body = h('div', { class: 'card-body' });
    const badge = h('span', { class: 'badge rounded-pill genre-pct-badge', text: pct(g.probability) });
    badge.style.backgroundColor = color;
    badge.style.color = textOn(color);
    body.append(h('div', { class: 'd-flex align-items-start justify-content-between gap-2 mb-2' },
      h('h3', { class: 'h5 mb-0 genre-card-title', text: book.label(g.genre) }), badge));
    if (info) {
      if (info.description) body.append(h('p', { class: 'genre-description', text: info.description }));
      if (Array.isArray(info.traits) && info.traits.length) {
        body.append(h('h4', { class: 'guide-label', text: 'Listen for' }),
          h('ul', { class: 'traits list-unstyled d-flex flex-wrap gap-1' },
            info.traits.map((t) => h('li', { class: 'trait', text: t }))));
      }
      if (Array.isArray(info.artists) && info.artists.length) {
        body.append(h('h4', { class: 'guide-label', text: 'Artists to start with' }),
          h('ul', { class: 'artists list-unstyled mb-0' },
            info.artists.map((a) => h('li', {},
              a.url
                ? h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', class: 'artist-link' },
                  a.name, h('span', { class: 'visually-hidden', text: ' (Wikipedia, opens in a new tab)' }))
                : a.name))));
      }
    } else {
      body.append(h('p', { class: 'text-body-secondary mb-0', text: 'No guide for this genre yet.' }));
    }
    const card = h('article', { class: 'card genre-card h-100', dataset: { genre: g.genre } }, body);
    card.style.setProperty('--genre-color', color);
    container.append(h('div', { class: 'col-12 col-md-6 col-lg-4' }, card));
  }
}

export function renderLegend(data, book, list) {
  list.replaceChildren();
  const segs = Array.isArray(data.segments) ? data.segments : [];
  const counts = new Map();
  for (const s of segs) counts.set(s.genre, (counts.get(s.genre) || 0) + 1);
  [...counts.entries()].sort((a, b) => b[1] - a[1]).forEach(([genre, n]) => {
    list.append(h('li', { class: 'legend-item', dataset: { genre } },
      swatch(book.color(genre)), `${book.label(genre)} `,
      h('span', { class: 'text-body-secondary', text: `${n}/${segs.length}` })));
  });
}

/** The timeline without audio: segments as a coloured strip over the duration, with a time axis. */
export function renderStrip(data, book, strip, axis) {
  strip.replaceChildren();
  axis.replaceChildren();
  const segs = Array.isArray(data.segments) ? data.segments : [];
  const total = isNum(data.analyzed_s) && data.analyzed_s > 0 ? data.analyzed_s
    : Math.max(0, ...segs.map((s) => s.end_s || 0));
  if (!total) return;
  for (const s of segs) {
    const label = `${clock(s.start_s)}–${clock(s.end_s)}: ${book.label(s.genre)} ${pct(s.probability, 0)}`;
    const el = h('div', { class: 'strip-segment', role: 'listitem', title: label, 'aria-label': label, dataset: { genre: s.genre } });
    el.style.left = `${(s.start_s / total) * 100}%`;
    el.style.width = `${(Math.max(0, Math.min(s.end_s, total) - s.start_s) / total) * 100}%`;
    el.style.backgroundColor = book.color(s.genre);
    strip.append(el);
  }
  const ticks = 5;
  for (let i = 0; i < ticks; i++) {
    const t = (total * i) / (ticks - 1);
    const tick = h('span', { class: 'strip-tick', text: clock(t) });
    tick.style.left = `${(i / (ticks - 1)) * 100}%`;
    axis.append(tick);
  }
}

function feature(term, value, note) {
  return h('div', { class: 'feature' },
    h('dt', { text: term }),
    h('dd', {}, h('span', { class: 'feature-value', text: value }), note ? h('span', { class: 'feature-note', text: note }) : null));
}

export function renderFeatures(data, dl, modelLine) {
  dl.replaceChildren();
  const f = data.features && typeof data.features === 'object' ? data.features : {};
  const items = [];
  items.push(feature('Tempo', isNum(f.tempo_bpm) ? `${Math.round(f.tempo_bpm)} BPM` : '—', 'estimated beats per minute'));
  items.push(feature('Spectral centroid', isNum(f.spectral_centroid_hz)
    ? (f.spectral_centroid_hz >= 1000 ? `${(f.spectral_centroid_hz / 1000).toFixed(2)} kHz` : `${Math.round(f.spectral_centroid_hz)} Hz`)
    : '—', 'brightness: where the energy sits'));
  items.push(feature('RMS level', isNum(f.rms)
    ? `${f.rms.toFixed(3)}${f.rms > 0 ? ` (${(20 * Math.log10(f.rms)).toFixed(1)} dBFS)` : ''}` : '—', 'average loudness'));
  items.push(feature('Zero-crossing rate', isNum(f.zero_crossing_rate) ? f.zero_crossing_rate.toFixed(3) : '—',
    'noisiness: how often the wave crosses zero'));

  let analysed = '—';
  let note = '';
  if (isNum(data.analyzed_s)) {
    analysed = duration(data.analyzed_s);
    if (isNum(data.duration_s) && data.analyzed_s < data.duration_s - 0.05) {
      note = `of ${duration(data.duration_s)}: the file was analysed up to the server's cap`;
    } else {
      note = 'the whole file';
    }
  }
  items.push(feature('Audio analysed', analysed, note));

  const t = data.timing_ms && typeof data.timing_ms === 'object' ? data.timing_ms : {};
  const parts = ['decode', 'features', 'inference'].filter((k) => isNum(t[k])).map((k) => `${k} ${ms(t[k])}`);
  if (isNum(t.inference) && isNum(t.musicnn)) parts[parts.length - 1] += ` (musicnn ${ms(t.musicnn)})`;
  items.push(feature('Processing time', ms(t.total), parts.join(' · ')));
  dl.append(...items);

  const model = data.model && typeof data.model === 'object' ? data.model : {};
  const bits = [];
  if (model.name) bits.push(`Classified by ${modelLabel(model.name)} (${[model.name, model.version && `version ${model.version}`].filter(Boolean).join(', ')})`);
  const heard = model.musicnn_segments;
  if (isNum(heard) && heard > 0) bits.push(`musicnn heard ${heard} segment${heard === 1 ? '' : 's'}`);
  modelLine.textContent = bits.length ? `${bits.join(' · ')}.` : '';
}

/** The strongest MSD style tags as pills; the block is hidden when the analysis has none. */
export function renderTags(data, block, list, count = TAG_COUNT) {
  const tags = Array.isArray(data?.tags) ? data.tags.filter((t) => t && typeof t.tag === 'string' && isNum(t.probability)) : [];
  const top = [...tags].sort((a, b) => b.probability - a.probability).slice(0, count);
  list.replaceChildren(...top.map((t) => {
    const pill = h('span', { class: 'badge rounded-pill tag-pill' },
      `${t.tag} `, h('span', { class: 'tag-pct', text: pct(t.probability, 0) }));
    pill.style.setProperty('--tag-p', `${Math.max(0, Math.min(100, t.probability * 100))}%`);
    return h('li', { dataset: { tag: t.tag, probability: String(t.probability) } }, pill);
  }));
  block.hidden = top.length === 0;
}

/**
 * Load the analysis pictures: the visible tab first, then the rest one at a time (the server draws
 * each on its first request). A spinner shows until each has loaded.
 */
export class PictureLoader {
  constructor(imgs) {
    this.imgs = imgs;
    this.generation = 0;
  }

  reset() {
    this.generation += 1;
    for (const img of this.imgs) {
      const frame = img.closest('.img-frame');
      frame.classList.remove('is-loaded', 'is-failed');
      frame.querySelector('.img-error')?.remove();
      img.removeAttribute('src');
      delete img.dataset.state;
    }
  }

  async load(images) {
    this.reset();
    const gen = this.generation;
    const urls = images && typeof images === 'object' ? images : {};
    this.urls = urls;
    const order = [...this.imgs].sort((a, b) => Number(isShown(b)) - Number(isShown(a)));
    for (const img of order) {
      if (gen !== this.generation) return;
      await this.loadOne(img, gen);
    }
  }

  /** Start one picture now (e.g. its tab was opened), if it hasn't started yet. */
  loadOne(img, gen = this.generation) {
    if (img.dataset.state) return img._loading || Promise.resolve();
    const url = this.urls?.[img.dataset.kind];
    if (!url) {
      fail(img, 'This picture is not available for this analysis.');
      return Promise.resolve();
    }
    img.dataset.state = 'loading';
    img._loading = loadImage(img, apiUrl(url)).then((ok) => {
      if (gen !== this.generation) return;
      if (ok) {
        img.dataset.state = 'loaded';
        img.closest('.img-frame').classList.add('is-loaded');
      } else {
        fail(img, 'The server could not draw this picture.');
      }
    });
    return img._loading;
  }
}

function isShown(img) {
  return img.closest('.tab-pane')?.classList.contains('active') ?? false;
}

function fail(img, message) {
  img.dataset.state = 'failed';
  const frame = img.closest('.img-frame');
  frame.classList.add('is-failed');
  frame.querySelector('.img-error')?.remove();
  frame.append(h('p', { class: 'img-error text-body-secondary small mb-0', text: message }));
}

export function loadImage(img, url) {
  return new Promise((resolve) => {
    const done = (ok) => {
      img.removeEventListener('load', onLoad);
      img.removeEventListener('error', onError);
      resolve(ok);
    };
    const onLoad = () => done(img.naturalWidth > 0);
    const onError = () => done(false);
    img.addEventListener('load', onLoad);
    img.addEventListener('error', onError);
    img.src = url;
  });
}
