// Page controller: upload (drag and drop, picker, checks, progress), shareable links, results.
// Two or more files, or a folder, go to the batch mode of jobs.js instead.
import { ApiError, getJSON, uploadFile } from './api.js';
import { ACCEPT, mayBeMedia } from './files.js';
import { droppedFiles } from './folder.js';
import { bytes, keptFor, pct } from './format.js';
import { initJobs, jobsInAddress, resumeJobs, startBatch } from './jobs.js';
import { initModel, renderModelChoice } from './model.js';
import { drawPeaks, fetchPeaks, wantsServerPeaks } from './peaks.js';
import { initRecording } from './record-ui.js';
import {
  GenreBook, PictureLoader, lengthNote, partlyAnalysed, renderBars, renderElectronic, renderFeatures, renderGuide,
  renderLegend, renderStrip, renderSummary, renderTags,
} from './results.js';

const $ = (id) => document.getElementById(id);
const MAX_MB = Number(document.body.dataset.maxUploadMb) || 50;
// How long the server keeps a shared result and a batch (RESULT_TTL_S, JOB_TTL_S), in words
const RESULT_KEPT = keptFor(Number(document.body.dataset.resultTtlS));
const BATCH_KEPT = keptFor(Number(document.body.dataset.jobTtlS));
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const els = {
  form: $('upload-form'),
  dropzone: $('dropzone'),
  input: $('file-input'),
  folderInput: $('folder-input'),
  folderButton: $('folder-btn'),
  modelChoice: $('model-choice'),
  modelSelect: $('model-select'),
  modelNote: $('model-select-note'),
  record: {
    button: $('record-btn'),
    length: $('record-length'),
    panel: $('recording'),
    countdown: $('record-countdown'),
    stop: $('record-stop'),
    cancel: $('record-cancel'),
    level: $('record-level'),
    levelBar: $('record-level-bar'),
    stopNote: $('record-stop-note'),
  },
  status: $('status'),
  statusText: $('status-text'),
  statusProgress: $('status-progress'),
  statusBar: $('status-bar'),
  cancel: $('cancel-btn'),
  error: $('error'),
  errorTitle: $('error-title'),
  errorMessage: $('error-message'),
  errorClose: $('error-close'),
  result: $('result'),
  resultTitle: $('result-title'),
  topGenre: $('top-genre'),
  topPortrait: $('top-portrait'),
  topConfidence: $('top-confidence'),
  filename: $('result-filename'),
  meta: $('result-meta'),
  shareUrl: $('share-url'),
  copyLink: $('copy-link'),
  copyStatus: $('copy-status'),
  player: $('player'),
  playerNote: $('player-note'),
  waveform: $('waveform'),
  playBtn: $('play-btn'),
  timeCurrent: $('time-current'),
  timeTotal: $('time-total'),
  playerLoading: $('player-loading'),
  nowGenre: $('now-genre'),
  staticTimeline: $('static-timeline'),
  staticNote: $('static-note'),
  staticWave: $('static-wave'),
  staticWaveError: $('static-wave-error'),
  strip: $('segment-strip'),
  stripAxis: $('strip-axis'),
  legend: $('legend'),
  bars: $('genre-bars'),
  tagsBlock: $('tags-block'),
  tags: $('style-tags'),
  guide: $('genre-guide'),
  electronic: {
    card: $('electronic'),
    stylesBlock: $('electronic-styles-block'),
    styles: $('electronic-styles'),
    about: $('electronic-about'),
    nearestBlock: $('electronic-nearest-block'),
    nearest: $('electronic-nearest'),
    guide: $('electronic-guide'),
  },
  features: $('features'),
  announcer: $('announcer'),
  featuresModel: $('features-model'),
  waveformTimeline: $('waveform-timeline'),
};

for (const el of document.querySelectorAll('[data-max-mb]')) el.textContent = String(MAX_MB);

const genresPromise = getJSON('/api/genres').catch(() => ({}));
let labelBook = new GenreBook({}); // genre names for the batch table, until genres.json arrives
genresPromise.then((info) => { labelBook = new GenreBook(info); });
const pictures = new PictureLoader(document.querySelectorAll('.analysis-img'));
let player = null;
let currentUpload = null;
let currentLoad = null; // the AbortController of a shared analysis being loaded
let generation = 0;

// ---------------------------------------------------------------------------- status + errors

function showStatus(text, { progress = null, cancellable = false } = {}) {
  els.status.hidden = false;
  els.statusProgress.hidden = false;
  els.statusText.textContent = text;
  els.cancel.hidden = !cancellable;
  const bar = els.statusBar;
  if (progress === null) {
    bar.classList.add('progress-bar-striped', 'progress-bar-animated');
    bar.style.width = '100%';
    els.statusProgress.removeAttribute('aria-valuenow');
    els.statusProgress.setAttribute('aria-valuetext', text);
  } else {
    const value = Math.round(progress * 100);
    bar.classList.remove('progress-bar-striped', 'progress-bar-animated');
    bar.style.width = `${value}%`;
    els.statusProgress.setAttribute('aria-valuenow', String(value));
    els.statusProgress.setAttribute('aria-valuetext', `${value}%`);
  }
  document.body.classList.add('is-busy');
}

function hideStatus() {
  els.status.hidden = true;
  document.body.classList.remove('is-busy');
}

const ERROR_TITLES = {
  400: 'The upload was not accepted',
  404: 'Not found',
  413: 'That file is too large',
  415: 'Not an audio file we can read',
  422: 'This audio cannot be analysed',
  0: 'Connection problem',
};

function showError(title, message) {
  els.errorTitle.textContent = title;
  els.errorMessage.textContent = message;
  els.error.hidden = false;
}

function showApiError(err, fallbackTitle = 'Something went wrong') {
  if (err instanceof ApiError) {
    showError(ERROR_TITLES[err.status] || (err.status >= 500 ? 'The server ran into a problem' : fallbackTitle), err.message);
  } else {
    showError(fallbackTitle, err?.message || String(err));
  }
}

function hideError() {
  els.error.hidden = true;
}

els.errorClose.addEventListener('click', () => {
  hideError();
  els.input.focus();
});

// ---------------------------------------------------------------------------- choosing a file

els.input.accept = ACCEPT;

/** {title, message} saying why the browser won't send this file, or null if it looks fine. */
function checkFile(file) {
  if (!mayBeMedia(file.name, file.type)) {
    return {
      title: 'Not an audio file',
      message: `“${file.name}” does not look like an audio file (your browser calls it ${file.type}). `
        + 'Choose a song or a recording: MP3, WAV, FLAC, OGG/Opus, M4A/AAC, WebM, or a video such as MP4 or 3GP.',
    };
  }
  if (file.size === 0) return { title: 'Empty file', message: `“${file.name}” is empty.` };
  if (file.size > MAX_MB * 1024 * 1024) {
    return {
      title: 'That file is too large',
      message: `“${file.name}” is ${bytes(file.size)}; the limit is ${MAX_MB} MB. Try a shorter excerpt or a compressed format such as MP3.`,
    };
  }
  return null;
}

async function analyseFile(file) {
  microphone.cancel();
  hideError();
  const problem = checkFile(file);
  if (problem) {
    showError(problem.title, problem.message);
    return;
  }
  currentUpload?.abort();
  const gen = ++generation;
  const name = file.name;
  showStatus(`Uploading “${name}” (${bytes(file.size)})… 0%`, { progress: 0, cancellable: true });
  const upload = uploadFile(file, {
    model: els.modelChoice.hidden ? '' : els.modelSelect.value,
    onProgress: (p) => {
      if (gen === generation) showStatus(`Uploading “${name}”… ${Math.round(p * 100)}%`, { progress: p, cancellable: true });
    },
    onUploaded: () => {
      if (gen === generation) showStatus(`Analysing “${name}”…`, { cancellable: true });
    },
  });
  currentUpload = upload;
  try {
    const data = await upload.promise;
    if (gen !== generation) return;
    hideStatus();
    setShareLink(data.id);
    await showResult(data, file, gen);
  } catch (err) {
    if (gen !== generation) return;
    hideStatus();
    if (err instanceof ApiError && err.code === 'aborted') {
      showStatusMessage('Upload cancelled.');
      return;
    }
    showApiError(err, 'The upload failed');
  } finally {
    if (currentUpload === upload) currentUpload = null;
  }
}

function showStatusMessage(text) {
  // A quiet, announced note without a progress bar (e.g. "Upload cancelled.")
  els.status.hidden = false;
  els.statusText.textContent = text;
  els.cancel.hidden = true;
  els.statusProgress.hidden = true;
  setTimeout(() => {
    if (els.statusText.textContent === text) els.status.hidden = true;
    els.statusProgress.hidden = false;
  }, 2500);
}

els.cancel.addEventListener('click', () => {
  if (currentUpload) currentUpload.abort();
  else {
    generation += 1; // loading a shared analysis: stop its request and ignore any answer
    currentLoad?.abort();
    hideStatus();
  }
});

const chosenModel = () => (els.modelChoice.hidden ? '' : els.modelSelect.value);

/** One file: analysed right here, as always. Two or more, or a folder: a batch (jobs.js). */
function analyseFiles(items, { folder = false } = {}) {
  if (!items.length) return;
  if (items.length === 1 && !folder) {
    analyseFile(items[0].file);
    return;
  }
  microphone.cancel();
  hideError();
  startBatch(items, { model: chosenModel(), folder });
}

els.input.addEventListener('change', () => {
  analyseFiles([...(els.input.files || [])].map((file) => ({ file, path: file.name })));
  els.input.value = ''; // choosing the same file again fires change again
});

els.folderButton.addEventListener('click', () => els.folderInput.click());
els.folderInput.addEventListener('change', () => {
  const files = [...(els.folderInput.files || [])];
  analyseFiles(files.map((file) => ({ file, path: file.webkitRelativePath || file.name })), { folder: true });
  els.folderInput.value = '';
});

// Drag and drop: the whole window accepts a dropped file; the zone lights up.
let dragDepth = 0;
const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
window.addEventListener('dragenter', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth += 1;
  document.body.classList.add('is-dragging');
});
window.addEventListener('dragover', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) document.body.classList.remove('is-dragging');
});
window.addEventListener('drop', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  document.body.classList.remove('is-dragging');
  droppedFiles(e.dataTransfer).then(({ items, folder }) => analyseFiles(items, { folder }));
});

// ---------------------------------------------------------------------------- recording

const microphone = initRecording(els.record, {
  onStart: hideError,
  onFile: (file) => analyseFile(file),
  onError: (title, message) => showError(title, message),
});

// ---------------------------------------------------------------------------- share link

function pageUrlFor(id) {
  const url = new URL(window.location.href);
  const api = url.searchParams.get('api');
  url.search = '';
  url.hash = '';
  url.searchParams.set('analysis', id);
  if (api) url.searchParams.set('api', api);
  return url;
}

function setShareLink(id) {
  if (!id) return;
  const url = pageUrlFor(id);
  history.replaceState({ analysis: id }, '', url);
  els.shareUrl.value = url.href;
  els.copyStatus.textContent = '';
}

els.copyLink.addEventListener('click', async () => {
  const text = els.shareUrl.value;
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    els.shareUrl.focus();
    els.shareUrl.select();
    try { ok = document.execCommand('copy'); } catch { ok = false; }
  }
  els.copyStatus.textContent = ok ? 'Link copied.' : 'Press Ctrl+C (⌘C) to copy the selected link.';
  els.copyLink.querySelector('.copy-label').textContent = ok ? 'Copied' : 'Copy link';
  setTimeout(() => { els.copyLink.querySelector('.copy-label').textContent = 'Copy link'; }, 2000);
});

els.shareUrl.addEventListener('focus', () => els.shareUrl.select());

// ---------------------------------------------------------------------------- results

async function showResult(data, file, gen) {
  const book = new GenreBook(await genresPromise);
  if (gen !== generation) return;
  els.result.hidden = false;
  $('back-to-batch').hidden = $('batch').hidden; // the table of a batch is above: a way back to it
  els.result.dataset.analysisId = data.id || '';
  els.result.dataset.state = 'loading';
  renderSummary(data, book, els);
  renderBars(data, book, els.bars);
  renderTags(data, els.tagsBlock, els.tags);
  renderElectronic(data, book, els.electronic);
  renderGuide(data, book, els.guide);
  renderLegend(data, book, els.legend);
  renderFeatures(data, els.features, els.featuresModel);
  if (data.id) els.shareUrl.value = pageUrlFor(data.id).href;
  pictures.load(data.images);

  const top = book.label(data.genre ?? data.genres?.[0]?.genre);
  document.title = `${top} · ${data.filename || 'analysis'} · Music Genre Classifier`;
  els.announcer.textContent = `Analysis ready: sounds most like ${top}, ${pct(data.confidence)} confident.`;
  els.resultTitle.focus({ preventScroll: true });
  els.result.scrollIntoView({ behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth', block: 'start' });

  if (file) {
    await showPlayer(data, file, book, gen);
  } else {
    await showStaticTimeline(data, book, 'Opened from a link: the audio itself is not kept on the server, so here is its waveform. Drop the file above to listen along.');
  }
  if (gen === generation) els.result.dataset.state = 'ready';
}

async function showPlayer(data, file, book, gen) {
  els.player.hidden = false;
  els.staticTimeline.hidden = true;
  els.playerNote.hidden = true;
  try {
    if (!player) {
      const { Player } = await import('./player.js');
      player = new Player(
        { container: els.waveform, timeline: els.waveformTimeline, playBtn: els.playBtn, timeCurrent: els.timeCurrent, timeTotal: els.timeTotal, loading: els.playerLoading, nowGenre: els.nowGenre },
        { shadowCss: document.body.dataset.shadowCss },
      );
    }
    player.look.colorOf = (g) => book.color(g);
    player.look.labelOf = (g) => book.label(g);
    player.look.onUnplayable = () => showPlayerNote(
      'This browser cannot play this file; the waveform and the timeline are drawn from what the server analysed.');
    let options = {};
    if (wantsServerPeaks(data)) {
      // A long file: draw it from the server's peaks of what was analysed instead of decoding it here.
      const { duration, peaks } = await fetchPeaks(data.id);
      if (gen !== generation) return;
      options = { peaks, span: duration };
      if (partlyAnalysed(data)) {
        showPlayerNote(`Only the ${lengthNote(data)}: the player and the timeline cover that part.`);
      }
    }
    await player.load(file, data.segments, options);
  } catch (err) {
    if (gen !== generation) return;
    console.warn('player unavailable:', err);
    player?.destroy();
    await showStaticTimeline(data, book, 'This browser cannot play this file, so here is the waveform of what the server analysed.');
  }
}

function showPlayerNote(text) {
  els.playerNote.textContent = text;
  els.playerNote.hidden = false;
}

/** The timeline without the audio: the server's peaks drawn edge to edge above the segment strip. */
async function showStaticTimeline(data, book, note) {
  player?.destroy();
  els.player.hidden = true;
  els.staticTimeline.hidden = false;
  els.staticNote.textContent = partlyAnalysed(data) ? `${note} Only the ${lengthNote(data)}.` : note;
  renderStrip(data, book, els.strip, els.stripAxis);
  const canvas = els.staticWave;
  delete canvas.dataset.drawn;
  canvas.hidden = false;
  els.staticWaveError.hidden = true;
  canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
  const gen = generation;
  try {
    const { peaks } = await fetchPeaks(data.id);
    if (gen === generation) drawPeaks(canvas, peaks, '#8b95a5');
  } catch (err) {
    if (gen !== generation) return;
    console.warn('waveform unavailable:', err);
    canvas.hidden = true;
    els.staticWaveError.hidden = false;
  }
}

// ---------------------------------------------------------------------------- shared link on load

async function restoreFromLink() {
  const jobs = jobsInAddress();
  if (jobs.length) resumeJobs(jobs);
  const id = new URLSearchParams(window.location.search).get('analysis');
  if (id) await openAnalysis(id);
}

/** Show a stored analysis: a shared link, or a row of a batch (`name`; its `file` too while the page has it). */
async function openAnalysis(id, { file = null, name = '' } = {}) {
  if (!ID_PATTERN.test(id)) {
    showError('This link is not valid', 'The analysis id in the address is malformed.');
    return;
  }
  hideError();
  currentLoad?.abort();
  const gen = ++generation;
  showStatus(name ? `Loading the result for “${name}”…` : 'Loading the shared analysis…', { cancellable: true });
  const loading = new AbortController();
  currentLoad = loading;
  try {
    const data = await getJSON(`/analyses/${encodeURIComponent(id)}`, { signal: loading.signal });
    if (gen !== generation) return;
    hideStatus();
    els.shareUrl.value = pageUrlFor(id).href;
    await showResult(data, file, gen);
  } catch (err) {
    if (gen !== generation || err?.name === 'AbortError') return;
    hideStatus();
    if (err instanceof ApiError && err.status === 404) {
      showError('This analysis is no longer available',
        `${err.message} Shared results are kept ${RESULT_KEPT}; upload the file again to analyse it.`);
    } else {
      showApiError(err, 'Could not load the shared analysis');
    }
  }
}

// Tabs: start a picture as soon as its tab is opened.
document.getElementById('picture-tabs').addEventListener('shown.bs.tab', (e) => {
  const pane = document.querySelector(e.target.dataset.bsTarget);
  const img = pane?.querySelector('.analysis-img');
  if (img && pictures.urls) pictures.loadOne(img);
});

initModel({
  stats: $('model-stats'),
  statsCaption: $('model-stats-caption'),
  compare: $('model-compare'),
  compareRows: $('model-compare-rows'),
  electronic: $('model-electronic'),
  electronicList: $('model-electronic-list'),
  footer: $('footer-model'),
  gallery: $('model-gallery'),
  galleryEmpty: $('model-gallery-empty'),
}).then((card) => renderModelChoice(card, { wrapper: els.modelChoice, select: els.modelSelect, note: els.modelNote }));
initJobs({
  section: $('batch'),
  summary: $('batch-summary'),
  note: $('batch-note'),
  alert: $('batch-alert'),
  csv: $('batch-csv'),
  cancel: $('batch-cancel'),
  table: $('batch-table'),
  glance: $('batch-glance'),
  playlists: $('batch-playlists'),
}, {
  maxMb: MAX_MB,
  kept: BATCH_KEPT,
  labelOf: (genre) => labelBook.label(genre),
  ready: genresPromise,
  onOpen: (id, file, name) => openAnalysis(id, { file, name }),
  onError: showError,
});
restoreFromLink();
