// Talking to the genre API: base URL, JSON requests, the upload with progress.
//
// The base URL is empty (same origin) unless set by, in order of precedence:
//   ?api=https://host/prefix   in the page URL, only for an origin the page was configured with
//                               (its own, the two settings below, or <meta name="api-origins">):
//                               a crafted link must not send someone's upload to any server;
//   window.GENRE_API_BASE       set by a script loaded before this module,
//   <meta name="api-base" content="https://host/prefix">.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** An http(s) URL without its trailing slashes, or null. */
function httpUrl(text) {
  if (!text || !text.trim()) return null;
  try {
    const url = new URL(text.trim(), window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

function readBase() {
  const fromWindow = typeof window.GENRE_API_BASE === 'string' ? window.GENRE_API_BASE : '';
  const fromMeta = document.querySelector('meta[name="api-base"]')?.getAttribute('content') ?? '';
  const configured = httpUrl(fromWindow) ?? httpUrl(fromMeta);
  const query = new URLSearchParams(window.location.search).get('api');
  let chosen = configured;
  if (query !== null) {
    const asked = httpUrl(query);
    const listed = (document.querySelector('meta[name="api-origins"]')?.getAttribute('content') ?? '')
      .split(/[\s,]+/).map((o) => httpUrl(o)?.origin).filter(Boolean);
    const allowed = new Set([window.location.origin, configured?.origin, ...listed]);
    if (asked && allowed.has(asked.origin)) chosen = asked;
    else console.warn(`Ignoring ?api=${query}: not an API origin this page is configured for.`);
  }
  return chosen ? chosen.href.replace(/\/+$/, '') : '';
}

export const API_BASE = readBase();

/** Absolute URL for an API path ("/analyses/x") or a URL the API returned. */
export function apiUrl(path) {
  if (!path) return '';
  if (/^https?:\/\//i.test(path)) return path;
  if (!API_BASE) return path;
  return API_BASE + (path.startsWith('/') ? path : `/${path}`);
}

const STATUS_MESSAGES = {
  400: 'The server could not read the request.',
  404: 'Not found.',
  413: 'The file is larger than the server accepts.',
  415: 'This file is not audio the server can read.',
  422: 'The audio could not be analysed.',
  429: 'Too many requests; please wait a moment and try again.',
  500: 'The server ran into a problem. Please try again.',
  502: 'The server is not reachable right now.',
  503: 'The server is busy or restarting. Please try again in a moment.',
  504: 'The server took too long to answer.',
};

/** Build an ApiError from a status and a response body (JSON error object or anything else). */
function errorFrom(status, bodyText) {
  let code = `http_${status}`;
  let message = STATUS_MESSAGES[status] || `The server answered with status ${status}.`;
  try {
    const body = JSON.parse(bodyText);
    const err = body && body.error;
    if (err && typeof err === 'object') {
      if (typeof err.code === 'string') code = err.code;
      if (typeof err.message === 'string' && err.message.trim()) message = err.message;
    } else if (typeof err === 'string' && err.trim()) {
      message = err;
    }
  } catch {
    /* not JSON: keep the generic message */
  }
  return new ApiError(status, code, message);
}

const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.';

export async function getJSON(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(apiUrl(path), { headers: { Accept: 'application/json' }, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', NETWORK_MESSAGE);
  }
  const text = await response.text();
  if (!response.ok) throw errorFrom(response.status, text);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'bad_json', 'The server sent an answer this page cannot read.');
  }
}

/**
 * POST the file to /file-upload with real upload progress (XMLHttpRequest, because fetch has no
 * upload progress events). `model` picks the model (?model=NAME); empty = the server's default.
 * Returns {promise, abort}.
 */
export const UPLOAD_TIMEOUT_MS = 10 * 60 * 1000; // a 50-MB upload on a slow line, then the analysis

export function uploadFile(file, {
  model = '', onProgress = () => {}, onUploaded = () => {}, timeoutMs = UPLOAD_TIMEOUT_MS,
} = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', apiUrl(model ? `/file-upload?model=${encodeURIComponent(model)}` : '/file-upload'));
    xhr.timeout = timeoutMs; // never wait forever on a server that stopped answering
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.upload.addEventListener('load', () => onUploaded());
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, 'bad_json', 'The server sent an answer this page cannot read.'));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', NETWORK_MESSAGE)));
    xhr.addEventListener('timeout', () => reject(new ApiError(0, 'timeout', 'The server took too long to answer.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
