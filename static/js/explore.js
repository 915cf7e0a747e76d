// The batch at a glance (jobs.js calls these): a bar chart of the batch's genres and electronic styles
// whose bars filter the table, playlist downloads, and "more like this" under a row.
// No import of api.js here (it reads the page's address when loaded): the pure rules stay testable in Node.
import { h } from './format.js';

/** The jobs' summaries (GET /jobs/<id>'s `summary`) added up: {genres: [{genre, count}], styles: [...]}. */
export function mergeSummaries(summaries) {
  const add = (key) => {
    const counts = new Map();
    for (const s of summaries) for (const e of s?.[`${key}s`] || []) counts.set(e[key], (counts.get(e[key]) || 0) + e.count);
    return [...counts].map(([name, count]) => ({ [key]: name, count }))
      .sort((a, b) => b.count - a.count || String(a[key]).localeCompare(String(b[key])));
  };
  return { genres: add('genre'), styles: add('style') };
}

/** Does a row ({genre, style}) pass the filter ({kind: 'genre'|'style', value}) or none? */
export function rowMatches(row, filter) {
  if (!filter) return true;
  return filter.kind === 'genre' ? row.genre === filter.value : row.genre === 'electronic' && row.style === filter.value;
}

/** The API path of a job's playlist for a genre or style. */
export function playlistPath(jobId, kind, value) {
  return `/jobs/${encodeURIComponent(jobId)}/playlist.m3u8?${kind}=${encodeURIComponent(value)}`;
}

/**
 * Draw the chart into `container`: one bar per genre, then per electronic style, as buttons (pressed:
 * the table shows only those files). `filter` is the one in force; `onFilter(filter or null)` on a click.
 */
export function renderChart(container, merged, { filter = null, labelOf = String, onFilter }) {
  const total = merged.genres.reduce((n, e) => n + e.count, 0);
  container.hidden = total === 0;
  if (!total) {
    container.replaceChildren();
    return;
  }
  const most = Math.max(...merged.genres.map((e) => e.count), ...merged.styles.map((e) => e.count));
  const bar = (kind, value, count, label) => {
    const pressed = filter?.kind === kind && filter.value === value;
    const fill = h('span', { class: 'glance-fill' });
    fill.style.width = `${Math.max(4, (100 * count) / most)}%`;
    const button = h('button', {
      type: 'button', class: 'glance-bar', 'aria-pressed': pressed ? 'true' : 'false',
      dataset: { kind, value },
      title: pressed ? 'Show every file again' : `Show only the ${label} files`,
    }, h('span', { class: 'glance-label', text: label }), h('span', { class: 'glance-track' }, fill),
    h('span', { class: 'glance-count', text: String(count) }));
    button.addEventListener('click', () => onFilter(pressed ? null : { kind, value }));
    return h('li', {}, button);
  };
  const groups = [h('h3', { class: 'h6 mb-1', text: 'Genres' }),
    h('ul', { class: 'glance-bars list-unstyled mb-2' }, merged.genres.map((e) => bar('genre', e.genre, e.count, labelOf(e.genre))))];
  if (merged.styles.length) {
    groups.push(h('h3', { class: 'h6 mb-1', text: 'Electronic styles' }),
      h('ul', { class: 'glance-bars list-unstyled mb-2' }, merged.styles.map((e) => bar('style', e.style, e.count, e.style))));
  }
  container.replaceChildren(...groups);
}

export const PLAYLIST_TAGS = 5; // the batch's most frequent tags that get a playlist link

/**
 * Download links: one playlist per genre and style of each job, and per its most frequent tags (numbered parts when there are several);
 * `urlOf(path)` makes an API path a link (api.js's apiUrl).
 */
export function renderPlaylists(container, jobs, { labelOf = String, urlOf = (path) => path } = {}) {
  const links = [];
  jobs.forEach(({ jobId, summary }, i) => {
    const part = jobs.length > 1 ? ` (part ${i + 1})` : '';
    for (const e of summary?.genres || []) {
      links.push(h('a', { class: 'btn btn-sm btn-outline-light batch-playlist', href: urlOf(playlistPath(jobId, 'genre', e.genre)), download: '' },
        `${labelOf(e.genre)}${part}`));
    }
    for (const e of summary?.styles || []) {
      links.push(h('a', { class: 'btn btn-sm btn-outline-light batch-playlist', href: urlOf(playlistPath(jobId, 'style', e.style)), download: '' },
        `${e.style}${part}`));
    }
    for (const e of (summary?.tags || []).slice(0, PLAYLIST_TAGS)) { // moods and the like: chill, sad, party, ...
      links.push(h('a', { class: 'btn btn-sm btn-outline-secondary batch-playlist', href: urlOf(playlistPath(jobId, 'tag', e.tag)), download: '' },
        `“${e.tag}”${part}`));
    }
  });
  container.hidden = links.length === 0;
  container.replaceChildren(...(links.length ? [h('span', { class: 'small me-1', text: 'Playlists (M3U):' }), ...links] : []));
}

/**
 * The list under a row: the nearest files of its job (`similar`: the API's list), each a button that
 * opens that file's result (`open(analysisId)`), its genre and how alike it is.
 */
export function renderLikeList(similar, { labelOf = String, open }) {
  if (!similar.length) return h('p', { class: 'small mb-0 text-body-secondary', text: 'No other file of this batch to compare with.' });
  return h('ol', { class: 'batch-like-list small mb-0' }, similar.map((item) => {
    const button = h('button', { type: 'button', class: 'btn btn-link btn-sm p-0 text-start text-break batch-like-open', dataset: { id: item.id } },
      item.filename);
    button.addEventListener('click', () => open(item.id));
    return h('li', {}, button, ' ', h('span', { class: 'text-body-secondary', text: `${labelOf(item.genre)}, ${Math.round(item.similarity * 100)}% alike` }));
  }));
}
