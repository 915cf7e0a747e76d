// Batch mode: several files sent as one job (or a few jobs, when together they exceed the upload
// limit), shown in a queue table that follows every file until it is analysed. The job ids stay in
// the address (?job=ID, repeated), so a reload shows the table again and polling resumes.
import { ApiError, UPLOAD_TIMEOUT_MS, apiUrl, getJSON } from './api.js';
import { chooseBatchFiles, pathOf, planRequests, skippedNote } from './folder.js';
import { mergeSummaries, renderChart, renderLikeList, renderPlaylists, rowMatches } from './explore.js';
import { h } from './format.js';
import { STATE_TEXT, csvLinks, makeRow, showRowState, summaryText } from './jobs-table.js';

const POLL_MS = 1000;
const RETRY_POLL_MS = 3000; // after a failed poll (the connection dropped, the server restarted)
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

let els = null;
let opts = null;
let groups = []; // one per request / job: {jobId, rows, body, xhr, timer, csv}
let session = 0; // a new batch replaces the table; answers for the old one are then ignored
let filter = null; // the chart's bar in force ({kind: 'genre'|'style', value}): the table shows only those files

/**
 * `elements`: {section, summary, note, alert, csv, cancel, table, glance (the chart), playlists};
 * `options`: {maxMb (the upload limit), kept (how long the server keeps a batch: "for 7 days"), labelOf(genre),
 * ready (a promise: labelOf knows the names), onOpen(analysisId, file, name), onError(title, message)}.
 */
export function initJobs(elements, options) {
  els = elements;
  opts = options;
  els.cancel.addEventListener('click', cancelUploads);
}

/** The job ids in the page address (?job=ID, possibly repeated), or [] when there are none. */
export function jobsInAddress() {
  return new URLSearchParams(window.location.search).getAll('job').flatMap((v) => v.split(',')).filter(Boolean);
}

// ---------------------------------------------------------------------------- starting and resuming

function reset() {
  session += 1;
  for (const g of groups) {
    g.xhr?.abort();
    clearTimeout(g.timer);
  }
  groups = [];
  els.table.querySelectorAll('tbody').forEach((b) => b.remove());
  els.csv.replaceChildren();
  filter = null;
  els.glance.replaceChildren();
  els.glance.hidden = true;
  els.playlists.replaceChildren();
  els.playlists.hidden = true;
  els.note.hidden = true;
  els.alert.hidden = true;
  els.summary.textContent = '';
  els.section.hidden = false;
}

/** Send `items` ({file, path}) as a batch; `folder` says they came from a folder. */
export function startBatch(items, { model = '', folder = false } = {}) {
  const { send, skipped } = chooseBatchFiles(items);
  if (!send.length) {
    opts.onError(folder ? 'No audio in that folder' : 'No audio files among these',
      skippedNote(skipped) || 'There were no files in it.');
    return;
  }
  reset();
  const { requests, tooLarge } = planRequests(send, opts.maxMb * 1024 * 1024);
  const notes = [skippedNote(skipped)];
  if (requests.length > 1) {
    notes.push(`Together the files are over the upload limit of ${opts.maxMb} MB, `
      + `so they are sent in ${requests.length} parts, one after the other; each part has its own CSV.`);
  }
  showNote(notes.filter(Boolean).join(' '));
  for (const request of requests) {
    const body = addBody();
    groups.push({ jobId: null, body, model, rows: request.map((item) => addRow(body, pathOf(item), item.file)) });
  }
  for (const g of groups) g.rows.forEach((row) => setRow(row, 'waiting'));
  if (tooLarge.length) {
    const body = addBody();
    const rows = tooLarge.map((item) => addRow(body, pathOf(item), item.file));
    groups.push({ jobId: null, body, rows, gaveUp: true });
    rows.forEach((row) => setRow(row, 'failed',
      { message: `Larger than the upload limit of ${opts.maxMb} MB, so it was not sent.` }));
  }
  els.section.scrollIntoView({ block: 'nearest' });
  sendNext();
}

/** Show the jobs named in the address again and follow them until they are done. */
export function resumeJobs(ids) {
  const valid = ids.filter((id) => ID_PATTERN.test(id));
  if (!valid.length) {
    opts.onError('This link is not valid', 'The batch id in the address is malformed.');
    return;
  }
  reset();
  groups = valid.map((jobId) => ({ jobId, body: addBody(), rows: [] }));
  renderCsvLinks();
  summarise();
  groups.forEach((g) => poll(g, session));
}

// ---------------------------------------------------------------------------- sending

/** Start the first request that has not been sent yet, one at a time (they share the connection). */
function sendNext() {
  els.cancel.hidden = !groups.some((g) => !g.jobId && !g.gaveUp);
  if (groups.some((g) => g.xhr)) return;
  const next = groups.find((g) => !g.jobId && !g.gaveUp && !g.timer);
  if (next) send(next, session);
  summarise();
}

function send(group, mine) {
  group.rows.forEach((row) => setRow(row, 'uploading', { progress: 0 }));
  const xhr = new XMLHttpRequest();
  group.xhr = xhr;
  xhr.open('POST', apiUrl('/jobs'));
  xhr.timeout = UPLOAD_TIMEOUT_MS;
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.upload.addEventListener('progress', (e) => {
    if (mine === session && e.lengthComputable && e.total > 0) {
      group.rows.forEach((row) => setRow(row, 'uploading', { progress: e.loaded / e.total }));
    }
  });
  xhr.upload.addEventListener('load', () => {
    if (mine === session) group.rows.forEach((row) => setRow(row, 'sent', { progress: 1 }));
  });
  xhr.addEventListener('loadend', () => {
    if (mine !== session || group.xhr !== xhr) return; // replaced by a new batch, or cancelled
    group.xhr = null;
    if (xhr.status === 202 || xhr.status === 200) {
      const data = parse(xhr.responseText);
      if (data?.id && ID_PATTERN.test(data.id)) {
        group.jobId = data.id;
        els.alert.hidden = true;
        applyJob(group, data);
        putJobsInAddress();
        renderCsvLinks();
        group.timer = setTimeout(() => poll(group, mine), POLL_MS);
      } else {
        giveUp(group, 'The server sent an answer this page cannot read.');
      }
    } else {
      refused(group, xhr, mine);
    }
    sendNext();
  });
  const form = new FormData();
  if (group.model) form.append('model', group.model);
  for (const row of group.rows) form.append('file', row.file, row.file.name);
  xhr.send(form);
}

function refused(group, xhr, mine) {
  const err = errorOf(xhr);
  if (err.status === 503 && err.code === 'queue_full') {
    // Wait as long as the server asks, then send again; refused twice, the part goes as two halves
    // (a part larger than the whole queue would never fit, and a smaller one fits into a busy queue sooner).
    const wait = Math.min(600, Math.max(1, Number.parseInt(xhr.getResponseHeader('Retry-After'), 10) || 5));
    els.alert.textContent = `${err.message} The files are sent again automatically in ${wait} s.`;
    els.alert.hidden = false;
    group.refusals = (group.refusals || 0) + 1;
    const parts = group.refusals >= 2 ? split(group) : [group];
    group.rows.forEach((row) => setRow(row, 'waiting'));
    const retry = () => {
      parts.forEach((g) => { g.timer = null; });
      if (mine === session) sendNext();
    };
    const timer = setTimeout(retry, wait * 1000);
    parts.forEach((g) => { g.timer = timer; });
  } else if ((err.status === 413 || err.code === 'too_many_files') && group.rows.length > 1) {
    split(group); // the server wants smaller requests than planned
  } else {
    giveUp(group, err.message);
  }
}

/** Send a part as two halves instead (in its place, keeping the order); returns the parts. */
function split(group) {
  group.refusals = 0;
  if (group.rows.length < 2) return [group];
  const half = Math.ceil(group.rows.length / 2);
  const second = { ...group, rows: group.rows.slice(half), xhr: null };
  group.rows = group.rows.slice(0, half);
  groups.splice(groups.indexOf(group) + 1, 0, second);
  second.rows.forEach((row) => setRow(row, 'waiting'));
  return [group, second];
}

function giveUp(group, message) {
  group.gaveUp = true;
  group.rows.forEach((row) => setRow(row, 'failed', { message }));
  summarise();
}

function cancelUploads() {
  for (const g of groups.filter((x) => !x.jobId && !x.gaveUp)) {
    clearTimeout(g.timer);
    g.timer = null;
    const xhr = g.xhr;
    g.xhr = null;
    xhr?.abort();
    giveUp(g, 'Not sent: the upload was cancelled.');
  }
  els.alert.hidden = true;
  els.cancel.hidden = true;
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The API's error ({"error": {"code", "message"}}) as an ApiError, with a fallback for anything else. */
function errorOf(xhr) {
  const e = parse(xhr.responseText)?.error;
  if (e && typeof e.message === 'string') return new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message);
  if (!xhr.status) return new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  return new ApiError(xhr.status, `http_${xhr.status}`, `The server answered with status ${xhr.status}.`);
}

// ---------------------------------------------------------------------------- polling

async function poll(group, mine) {
  group.timer = null;
  try {
    const data = await getJSON(`/jobs/${encodeURIComponent(group.jobId)}`);
    await opts.ready; // the genre names, so a row never shows a raw genre id first
    if (mine !== session) return;
    applyJob(group, data);
    if (data.status !== 'done') group.timer = setTimeout(() => poll(group, mine), POLL_MS);
  } catch (err) {
    if (mine !== session) return;
    if (err instanceof ApiError && err.status === 404) {
      showNote(`${err.message} A batch is kept on the server ${opts.kept || 'for a limited time'} after its last file `
        + 'is analysed; send the files again to analyse them.');
      group.rows.forEach((row) => setRow(row, 'failed', { message: 'This batch is no longer on the server.' }));
      group.gone = true;
      renderCsvLinks();
      summarise();
    } else {
      group.timer = setTimeout(() => poll(group, mine), RETRY_POLL_MS);
    }
  }
}

/** Bring a group's rows up to date with the job's JSON (making them on the first answer after a reload). */
function applyJob(group, job) {
  group.csv = job.results_csv || `/jobs/${group.jobId}/results.csv`;
  for (const f of Array.isArray(job.files) ? job.files : []) {
    const index = Number.isInteger(f.index) ? f.index : job.files.indexOf(f);
    let row = group.rows[index];
    if (!row) {
      row = addRow(group.body, f.filename || `File ${index + 1}`, null);
      group.rows[index] = row;
    }
    row.analysisId = f.analysis_id || null;
    row.genre = f.genre;
    row.confidence = f.confidence;
    row.style = f.style?.style || null;
    const state = STATE_TEXT[f.status] ? f.status : 'queued';
    setRow(row, state, { message: f.error?.message, cached: f.cached });
  }
  group.summary = job.summary || null;
  summarise();
  renderGlance();
}

// ---------------------------------------------------------------------------- the batch at a glance

function renderGlance() {
  const live = groups.filter((g) => g.jobId && !g.gone);
  renderChart(els.glance, mergeSummaries(live.map((g) => g.summary)), {
    filter,
    labelOf: opts.labelOf,
    onFilter: (chosen) => {
      filter = chosen;
      renderGlance();
    },
  });
  renderPlaylists(els.playlists, live.filter((g) => g.summary).map((g) => ({ jobId: g.jobId, summary: g.summary })),
    { labelOf: opts.labelOf, urlOf: apiUrl });
  for (const row of groups.flatMap((g) => g.rows).filter(Boolean)) {
    row.tr.hidden = !rowMatches(row, filter);
    if (row.likeTr) row.likeTr.hidden = row.tr.hidden;
  }
}

/** Open (or close) the list of the files most like this row's, under it. */
async function toggleLike(group, row) {
  if (row.likeTr) {
    row.likeTr.remove();
    row.likeTr = null;
    row.like.setAttribute('aria-expanded', 'false');
    return;
  }
  const cell = h('td', { colspan: 3, class: 'batch-like-cell' }, h('span', { class: 'small', text: 'Finding similar files…' }));
  row.likeTr = h('tr', { class: 'batch-like-row' }, cell);
  row.tr.after(row.likeTr);
  row.like.setAttribute('aria-expanded', 'true');
  const mine = session;
  try {
    const data = await getJSON(`/analyses/${encodeURIComponent(row.analysisId)}/similar?n=5&job=${encodeURIComponent(group.jobId)}`);
    if (mine !== session || !row.likeTr) return;
    cell.replaceChildren(h('span', { class: 'small fw-semibold', text: `Most like ${row.name}:` }),
      renderLikeList(Array.isArray(data.similar) ? data.similar : [], { labelOf: opts.labelOf, open: openAnalysisRow }));
  } catch (err) {
    if (mine === session && row.likeTr) cell.replaceChildren(h('span', { class: 'small text-danger', text: err.message }));
  }
}

/** Open the result of the batch's file with this analysis id, as choosing its row does. */
function openAnalysisRow(analysisId) {
  const row = groups.flatMap((g) => g.rows).find((r) => r?.analysisId === analysisId);
  if (row) row.choose();
}

// ---------------------------------------------------------------------------- the table

function addBody() {
  const body = h('tbody', { class: 'batch-rows' });
  els.table.append(body);
  return body;
}

function addRow(body, name, file) {
  const choose = () => {
    els.table.querySelectorAll('.batch-row.is-open').forEach((r) => {
      r.classList.remove('is-open');
      r.removeAttribute('aria-current');
    });
    row.tr.classList.add('is-open');
    row.tr.setAttribute('aria-current', 'true');
    opts.onOpen(row.analysisId, row.file, row.name);
  };
  const row = makeRow(name, file, choose, () => toggleLike(groups.find((g) => g.rows.includes(row)), row));
  row.choose = choose;
  body.append(row.tr);
  return row;
}

const setRow = (row, state, details) => showRowState(row, state, details, opts.labelOf);

/** The line above the table; only written when it changes, since it is read out. */
function summarise() {
  const text = summaryText(groups.flatMap((g) => g.rows).filter(Boolean).map((r) => r.tr.dataset.state),
    groups.length > 0 && groups.every((g) => g.gone));
  if (els.summary.textContent !== text) els.summary.textContent = text;
}

function showNote(text) {
  els.note.textContent = text;
  els.note.hidden = !text;
}

function renderCsvLinks() {
  els.csv.replaceChildren(...csvLinks(groups.filter((g) => g.jobId && !g.gone)
    .map((g) => apiUrl(g.csv || `/jobs/${g.jobId}/results.csv`))));
}

/** ?job=ID for each job sent so far (and ?api= if set), so a reload shows this table again. */
function putJobsInAddress() {
  const url = new URL(window.location.href);
  const api = url.searchParams.get('api');
  url.search = '';
  url.hash = '';
  for (const g of groups) if (g.jobId) url.searchParams.append('job', g.jobId);
  if (api) url.searchParams.set('api', api);
  history.replaceState({ jobs: groups.map((g) => g.jobId).filter(Boolean) }, '', url);
}
