// Rendering one analysis: the headline, the genre bars, the style tags, the genre guide, the static
// timeline, the pictures and the features. Everything is built with DOM calls (no innerHTML).
import { apiUrl } from './api.js';
import { clearAxis, renderAxis } from './axis.js';
import { artistList, portrait } from './faces.js';
import { clock, duration, fixed, h, isNum, modelLabel, ms, pct, rgba, textOn } from './format.js';

const FALLBACK_COLORS = ['#4f8ef7', '#f0cc5a', '#e07b39', '#d45ad8', '#a07cff', '#2bb3a3', '#a3adb8', '#ff7aa8', '#3fbf5f', '#e5484d'];
const GUIDE_COUNT = 3;
const TAG_COUNT = 8;
export const ELECTRONIC = 'electronic';
// The electronic styles card shows when electronic is the top genre, or in the top three with at least this share.
const ELECTRONIC_RANK = 3;
const ELECTRONIC_MIN_SHARE = 0.15;
// Used when genres.json has no colour for a style.
const STYLE_COLORS = {
  Trance: '#9db4ff', House: '#f5a65b', Breakbeat: '#ef6f6c', Downtempo: '#5fc9b3',
  Techno: '#5b8def', Jungle: '#7ccf5a', Hardcore: '#d06ad8',
};

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

  /** What genres.json says about one electronic style ("House", ...), or null. */
  style(name) {
    const styles = this.entry(ELECTRONIC)?.styles;
    const e = styles && typeof styles === 'object' ? styles[name] : null;
    return e && typeof e === 'object' ? e : null;
  }

  styleLabel(name) {
    const label = this.style(name)?.name;
    return typeof label === 'string' && label ? label : String(name ?? '');
  }

  styleColor(name) {
    const c = this.style(name)?.color;
    if (typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c)) return c;
    return STYLE_COLORS[name] || this.color(`style:${name}`);
  }

  /** The guide the electronic details come from: {name, url} with an http(s) url, or null. */
  electronicGuide() {
    const g = this.entry(ELECTRONIC)?.guide;
    if (!g || typeof g !== 'object' || typeof g.url !== 'string' || !/^https?:\/\//i.test(g.url)) return null;
    return { name: typeof g.name === 'string' && g.name ? g.name : 'the guide', url: g.url };
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

/** Was only the start of the file analysed (the server's cap)? */
export function partlyAnalysed(data) {
  return isNum(data?.analyzed_s) && isNum(data?.duration_s)
    && (data.capped === true || data.analyzed_s < data.duration_s - 0.5);
}

/** "3:32" for a file analysed whole; "first 10:00 of 3:00:08 analysed" when the server stopped early. */
export function lengthNote(data) {
  if (partlyAnalysed(data)) return `first ${clock(data.analyzed_s)} of ${clock(data.duration_s)} analysed`;
  return isNum(data?.duration_s) ? clock(data.duration_s) : '';
}

export function renderSummary(data, book, els) {
  const ranked = sortedGenres(data);
  const top = data.genre ?? ranked[0]?.genre;
  const confidence = isNum(data.confidence) ? data.confidence : ranked[0]?.probability;
  const color = book.color(top);

  els.topGenre.textContent = top ? book.label(top) : 'Unknown';
  els.topPortrait?.replaceChildren(...(top ? [portrait(top, book.label(top), 'top-portrait')] : []));
  els.topGenre.style.setProperty('--genre-color', color);
  els.topConfidence.textContent = `${pct(confidence)} confident`;
  els.topConfidence.style.backgroundColor = color;
  els.topConfidence.style.color = textOn(color);
  els.filename.textContent = data.filename || 'Untitled';
  const segs = Array.isArray(data.segments) ? data.segments.length : 0;
  const bits = [];
  const length = lengthNote(data);
  if (length) bits.push(length);
  bits.push(`${segs} segment${segs === 1 ? '' : 's'}`);
  els.meta.textContent = ` · ${bits.join(' · ')}`;
  els.result.style.setProperty('--genre-color', color);
  els.result.style.setProperty('--genre-glow', rgba(color, 0.18));
}

/** One labelled percentage bar (a genre or a style), as in the "All genres" list. */
function probabilityRow(dataset, label, color, probability, top) {
  const value = isNum(probability) ? probability * 100 : 0;
  const bar = h('div', { class: 'progress-bar' });
  bar.style.width = `${Math.max(0, Math.min(100, value))}%`;
  bar.style.backgroundColor = color;
  return h('li', { class: `genre-row${top ? ' is-top' : ''}`, dataset: { ...dataset, probability: String(probability) } },
    h('div', { class: 'genre-row-head' },
      h('span', { class: 'genre-name' }, swatch(color), label),
      h('span', { class: 'genre-pct font-monospace', text: pct(probability) })),
    h('div', {
      class: 'progress genre-progress', role: 'progressbar',
      'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100',
      'aria-valuenow': isNum(probability) ? fixed(probability, 1, 2) : '0', 'aria-valuetext': pct(probability),
    }, bar));
}

export function renderBars(data, book, list) {
  list.replaceChildren(...sortedGenres(data).map((g, i) =>
    probabilityRow({ genre: g.genre }, book.label(g.genre), book.color(g.genre), g.probability, i === 0)));
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
    body.append(h('div', { class: 'd-flex align-items-center gap-2 mb-2' },
      portrait(g.genre, book.label(g.genre), 'guide-portrait'),
      h('h3', { class: 'h5 mb-0 genre-card-title flex-grow-1', text: book.label(g.genre) }), badge));
    if (info) {
      if (info.description) body.append(h('p', { class: 'genre-description', text: info.description }));
      if (Array.isArray(info.traits) && info.traits.length) {
        body.append(h('h4', { class: 'guide-label', text: 'Listen for' }),
          h('ul', { class: 'traits list-unstyled d-flex flex-wrap gap-1' },
            info.traits.map((t) => h('li', { class: 'trait', text: t }))));
      }
      if (Array.isArray(info.artists) && info.artists.length) {
        body.append(h('h4', { class: 'guide-label', text: 'Artists to start with' }),
          artistList(info.artists, color));
      }
    } else {
      body.append(h('p', { class: 'text-body-secondary mb-0', text: 'No guide for this genre yet.' }));
    }
    const card = h('article', { class: 'card genre-card h-100', dataset: { genre: g.genre } }, body);
    card.style.setProperty('--genre-color', color);
    container.append(h('div', { class: 'col-12 col-md-6 col-lg-4' }, card));
  }
}

/** Is electronic among the leading genres: the top one, or in the top three with a real share? */
export function electronicLeads(data) {
  const ranked = sortedGenres(data);
  const i = ranked.findIndex((g) => g.genre === ELECTRONIC);
  if (i < 0) return false;
  if (i === 0 || data?.genre === ELECTRONIC) return true;
  return i < ELECTRONIC_RANK && isNum(ranked[i].probability) && ranked[i].probability >= ELECTRONIC_MIN_SHARE;
}

// Vowel-less words that are abbreviations, not acronyms: these get title case too.
const NOT_ACRONYMS = new Set(['MR', 'MRS', 'DR', 'JR', 'ST', 'VS']);

/**
 * "LARRY HEARD feat. X" -> "Larry Heard feat. X": names the guide wrote in capitals, in title case.
 * Only the case changes, never the spelling. Text mostly in lower case is shown as given, and so are
 * words with a lower-case letter ("feat.", "UFOs"), short words without vowels (DJ, MC, KLF), words
 * with digits (SL2) and Roman numerals (II, IV).
 */
export function titleCase(text) {
  const s = String(text ?? '');
  const upper = (s.match(/\p{Lu}/gu) || []).length;
  const lower = (s.match(/\p{Ll}/gu) || []).length;
  if (upper <= lower) return s;
  return s.replace(/[\p{L}\p{N}'’]+/gu, (word) => {
    if (/\p{Ll}/u.test(word) || /\p{N}/u.test(word) || /^[IVX]{2,}$/.test(word)) return word;
    if (word.length <= 5 && !/[AEIOUYÀ-ÖØ-Ý]/.test(word) && !NOT_ACRONYMS.has(word)) return word;
    const low = word.toLowerCase();
    return low.charAt(0).toUpperCase() + low.slice(1);
  });
}

/** "like Larry Heard – Can You Feel It (1986)"; '' when the entry names no track. */
function likeTrack(n) {
  const artist = typeof n.artist === 'string' ? titleCase(n.artist.trim()) : '';
  const title = typeof n.title === 'string' ? titleCase(n.title.trim()) : '';
  const track = [artist, title].filter(Boolean).join(' – ');
  if (!track) return '';
  return `like ${track}${isNum(n.year) ? ` (${n.year})` : ''}`;
}

/**
 * The electronic styles card: the 7 styles as bars, the top style described, and the genres of
 * Ishkur's guide that sound closest. Shown only when electronic leads and the analysis has the block.
 */
export function renderElectronic(data, book, els) {
  const block = data?.electronic && typeof data.electronic === 'object' ? data.electronic : null;
  const styles = (Array.isArray(block?.styles) ? block.styles : [])
    .filter((s) => s && typeof s.style === 'string' && isNum(s.probability))
    .sort((a, b) => b.probability - a.probability);
  const nearest = (Array.isArray(block?.nearest) ? block.nearest : [])
    .filter((n) => n && (typeof n.name === 'string' || typeof n.genre === 'string'));
  for (const el of [els.styles, els.about, els.nearest, els.guide]) el.replaceChildren();
  const show = Boolean(block) && electronicLeads(data) && (styles.length > 0 || nearest.length > 0);
  els.card.hidden = !show;
  if (!show) return;
  els.card.style.setProperty('--electronic-color', book.color(ELECTRONIC));

  els.stylesBlock.hidden = styles.length === 0;
  els.styles.append(...styles.map((s, i) =>
    probabilityRow({ style: s.style }, book.styleLabel(s.style), book.styleColor(s.style), s.probability, i === 0)));

  const top = styles[0];
  const info = top ? book.style(top.style) : null;
  if (info && (info.description || info.artists?.length)) {
    els.about.append(h('div', { class: 'd-flex align-items-center gap-2 mb-1' },
      portrait(top.style, book.styleLabel(top.style), 'style-portrait'),
      h('h4', { class: 'h6 mb-0' }, 'About ', book.styleLabel(top.style))));
    if (info.description) els.about.append(h('p', { class: 'small mb-2', text: info.description }));
    if (Array.isArray(info.artists) && info.artists.length) {
      els.about.append(h('h5', { class: 'guide-label mt-2', text: 'Artists to start with' }),
        artistList(info.artists, book.styleColor(top.style)));
    }
  }
  els.about.hidden = els.about.childElementCount === 0;

  els.nearestBlock.hidden = nearest.length === 0;
  els.nearest.append(...nearest.map((n) => {
    const name = typeof n.name === 'string' && n.name ? n.name : book.label(n.genre);
    const facts = [n.aka, n.decade].filter((x) => typeof x === 'string' && x.trim()).join(', ');
    const track = likeTrack(n);
    const style = typeof n.style === 'string' && n.style ? n.style : null;
    const chip = style ? h('span', { class: 'style-chip', text: book.styleLabel(style) }) : null;
    if (chip) chip.style.setProperty('--style-color', book.styleColor(style));
    const dataset = { genre: n.genre ?? '', style: style ?? '', similarity: String(n.similarity) };
    const item = h('li', { class: 'nearest-item', dataset },
      h('div', { class: 'nearest-head' },
        h('span', { class: 'nearest-name' },
          h('span', { class: 'fw-semibold', text: name }),
          facts ? h('span', { class: 'nearest-facts text-body-secondary', text: ` (${facts})` }) : null),
        h('span', { class: 'nearest-sim font-monospace' },
          pct(n.similarity, 0), h('span', { class: 'nearest-sim-label', text: ' similar' }))),
      track || chip
        ? h('div', { class: 'nearest-track small text-body-secondary' }, chip, track ? h('span', { text: track }) : null)
        : null);
    if (style) item.style.setProperty('--style-color', book.styleColor(style));
    return item;
  }));

  const guide = book.electronicGuide();
  if (guide) {
    const link = h('a', { href: guide.url, target: '_blank', rel: 'noopener noreferrer', class: 'artist-link' },
      guide.name, h('span', { class: 'visually-hidden', text: ' (opens in a new tab)' }));
    els.guide.append('Genres and reference tracks from ', link, '.');
  }
  els.guide.hidden = !guide;
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
  clearAxis(axis);
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
  renderAxis(axis, total);
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
    ? (f.spectral_centroid_hz >= 1000 ? `${fixed(f.spectral_centroid_hz, 2, -3)} kHz` : `${Math.round(f.spectral_centroid_hz)} Hz`)
    : '—', 'brightness: where the energy sits'));
  items.push(feature('RMS level', isNum(f.rms)
    ? `${fixed(f.rms, 3)}${f.rms > 0 ? ` (${fixed(20 * Math.log10(f.rms), 1)} dBFS)` : ''}` : '—', 'average loudness'));
  items.push(feature('Zero-crossing rate', isNum(f.zero_crossing_rate) ? fixed(f.zero_crossing_rate, 3) : '—',
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
  items.push(feature('Processing time', ms(t.total), parts.join(' · ')));
  dl.append(...items);

  const model = data.model && typeof data.model === 'object' ? data.model : {};
  const bits = [];
  if (model.name) bits.push(`Classified by ${modelLabel(model.name)} (${[model.name, model.version && `version ${model.version}`].filter(Boolean).join(', ')})`);
  if (model.tags_from && model.tags_from !== model.name) bits.push(`style tags from ${modelLabel(model.tags_from)}`);
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
