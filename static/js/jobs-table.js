// The rows of the batch table (jobs.js): one file each, its name, a progress bar with the same
// state in words beside it (never colour alone), and its genre once analysed.
import { fixed, h, pct } from './format.js';

export const STATE_TEXT = {
  waiting: 'Waiting to upload', uploading: 'Uploading', sent: 'Sent, waiting for the server',
  queued: 'Queued', running: 'Analysing…', done: 'Done', failed: 'Failed',
};

/**
 * A row for one file (not yet in the table); `onOpen()` when a finished row is chosen, `onLike()` when
 * its "More like this" is.
 */
export function makeRow(name, file, onOpen, onLike = () => {}) {
  const bar = h('div', { class: 'progress-bar' });
  const box = h('div', {
    class: 'progress batch-progress', role: 'progressbar', 'aria-label': `Progress of ${name}`,
    'aria-valuemin': 0, 'aria-valuemax': 100,
  }, bar);
  const open = h('button', { type: 'button', class: 'btn btn-link batch-open p-0 text-start text-break', hidden: true },
    name, h('span', { class: 'visually-hidden', text: ': show the result' }));
  const label = h('span', { class: 'batch-name text-break', text: name });
  const stateText = h('div', { class: 'batch-state small' });
  const genreCell = h('td', { class: 'batch-genre' });
  const like = h('button', { type: 'button', class: 'btn btn-link btn-sm p-0 batch-like', 'aria-expanded': 'false', hidden: true },
    'More like this', h('span', { class: 'visually-hidden', text: ` ${name}` }));
  const tr = h('tr', { class: 'batch-row' },
    h('th', { scope: 'row', class: 'batch-file' }, open, label, h('br'), like),
    h('td', { class: 'batch-status' }, box, stateText),
    genreCell);
  // what the job says about the file (analysisId, genre, confidence, style) is kept here by jobs.js
  const row = {
    name, file, tr, bar, box, stateText, genreCell, open, label, like, analysisId: null, genre: null, confidence: null, style: null,
  };
  like.addEventListener('click', (e) => {
    e.stopPropagation();
    onLike();
  });
  const show = () => {
    if (row.analysisId) onOpen();
  };
  open.addEventListener('click', (e) => {
    e.stopPropagation();
    show();
  });
  tr.addEventListener('click', show);
  return row;
}

/** Show a row's state: its bar, the words saying the same (never colour alone) and its genre. */
export function showRowState(row, state, { progress = null, message = '', cached = false } = {}, labelOf = String) {
  const { tr, bar, box } = row;
  tr.dataset.state = state;
  let width = 0;
  let text = STATE_TEXT[state];
  if (state === 'uploading' || state === 'sent') {
    width = Number(fixed(progress ?? 0, 0, 2));
    text = state === 'uploading' ? `${text} ${pct(progress ?? 0, 0)}` : text;
  } else if (state === 'done' || state === 'failed') {
    width = 100;
  }
  if (state === 'failed' && message) text = `${text}: ${message}`;
  if (state === 'done' && cached) text = `${text} (analysed before)`;
  bar.className = 'progress-bar';
  if (state === 'running') bar.classList.add('progress-bar-striped', 'progress-bar-animated');
  if (state === 'done') bar.classList.add('bg-success');
  if (state === 'failed') bar.classList.add('bg-danger');
  bar.style.width = `${state === 'running' ? 100 : width}%`;
  if (state === 'running') box.removeAttribute('aria-valuenow'); // under way, amount unknown
  else box.setAttribute('aria-valuenow', String(width));
  box.setAttribute('aria-valuetext', text);
  row.stateText.textContent = text;
  const done = state === 'done' && Boolean(row.analysisId);
  row.open.hidden = !done;
  row.label.hidden = done;
  row.like.hidden = !done;
  tr.classList.toggle('is-clickable', done);
  if (state === 'done' && row.genre) {
    row.genreCell.replaceChildren(
      h('span', { class: 'fw-semibold', text: labelOf(row.genre) }), ' ',
      h('span', { class: 'text-body-secondary text-nowrap', text: pct(row.confidence) }));
  } else {
    row.genreCell.textContent = state === 'failed' ? '—' : '';
  }
}


/** "3 files: 2 done, 1 failed. All finished." from the rows' states; `gone`: the jobs are no longer on the server. */
export function summaryText(states, gone = false) {
  const n = states.length;
  if (!n) return gone ? 'This batch is no longer available.' : 'Loading the batch…';
  const done = states.filter((s) => s === 'done').length;
  const failed = states.filter((s) => s === 'failed').length;
  const left = n - done - failed;
  return `${n} file${n === 1 ? '' : 's'}: ${done} done${failed ? `, ${failed} failed` : ''}${left ? `, ${left} to go.` : '. All finished.'}`;
}

/** One "Download CSV" link per job (numbered when there are several). */
export function csvLinks(hrefs) {
  return hrefs.map((href, i) => h('a', { class: 'btn btn-sm btn-outline-light batch-csv', href, download: '' },
    hrefs.length > 1 ? `Download CSV, part ${i + 1}` : 'Download CSV'));
}
