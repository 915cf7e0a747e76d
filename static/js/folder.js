// Batches of files: what a dropped folder holds, which of its files the page sends, and how a batch
// too large for one request is cut into several (each one job on the server).
import { MEDIA_EXTENSIONS, extensionOf } from './files.js';

/** Where a file sits inside a dropped or picked folder ("Album/01 Intro.mp3"), else its name. */
export function pathOf(item) {
  const file = item?.file ?? item;
  return item?.path || file?.webkitRelativePath || file?.name || '';
}

/** Hidden files and system clutter: ".DS_Store", "._song.mp3", anything under ".git/" or "__MACOSX/". */
export function isHidden(path) {
  return String(path ?? '').split(/[\\/]/).some((part) => part.startsWith('.') || part === '__MACOSX' || part === 'Thumbs.db' || part === 'desktop.ini');
}

// Files of a music folder that browsers call audio but hold none: playlists and CD sheets.
const PLAYLISTS = ['m3u', 'm3u8', 'pls', 'cue', 'xspf', 'wpl', 'asx'];

/** Stricter than mayBeMedia(): in a batch only what the browser or the extension calls audio or video goes. */
export function isBatchMedia(name, type) {
  const t = String(type ?? '').toLowerCase();
  const ext = extensionOf(name);
  if (PLAYLISTS.includes(ext)) return false;
  return t.startsWith('audio/') || t.startsWith('video/') || MEDIA_EXTENSIONS.includes(ext);
}

/**
 * Split `items` ({file, path}) into what is sent and what is skipped ({path, reason}: 'hidden',
 * 'not-media' or 'empty'). What is sent keeps the order of its paths, numbers in names counted as numbers.
 */
export function chooseBatchFiles(items) {
  const send = [];
  const skipped = [];
  for (const item of items) {
    const path = pathOf(item);
    if (isHidden(path)) skipped.push({ path, reason: 'hidden' });
    else if (!isBatchMedia(item.file.name, item.file.type)) skipped.push({ path, reason: 'not-media' });
    else if (item.file.size === 0) skipped.push({ path, reason: 'empty' });
    else send.push(item);
  }
  const order = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  send.sort((a, b) => order.compare(pathOf(a), pathOf(b)));
  return { send, skipped };
}

const REASONS = { 'not-media': 'not audio or video', empty: 'empty' };

/** One sentence about what was skipped (a few names, then a count), or '' when nothing was. */
export function skippedNote(skipped) {
  if (!skipped.length) return '';
  const named = skipped.filter((s) => s.reason !== 'hidden');
  const hidden = skipped.length - named.length;
  const parts = named.slice(0, 3).map((s) => `“${s.path}” (${REASONS[s.reason] || s.reason})`);
  if (named.length > 3) parts.push(`${named.length - 3} more that are not audio or video`);
  if (hidden) parts.push(`${hidden} hidden or system file${hidden === 1 ? '' : 's'}`);
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0];
  const n = skipped.length;
  return `Skipped ${n} file${n === 1 ? '' : 's'}: ${list}.`;
}

/** Bytes a multipart request adds around each file (headers of its part) and around them all. */
export const PART_OVERHEAD = 512;
export const REQUEST_OVERHEAD = 16 * 1024;

/**
 * Cut `items` into requests whose bodies each stay under `maxBytes`, keeping their order. A file
 * that cannot fit in any request is returned in `tooLarge` and is not sent. Returns {requests, tooLarge}.
 */
export function planRequests(items, maxBytes) {
  const budget = maxBytes - REQUEST_OVERHEAD;
  const cost = (item) => item.file.size + PART_OVERHEAD + 3 * pathOf(item).length;
  const requests = [];
  const tooLarge = [];
  let current = [];
  let used = 0;
  for (const item of items) {
    const c = cost(item);
    if (c > budget) {
      tooLarge.push(item);
      continue;
    }
    if (current.length && used + c > budget) {
      requests.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += c;
  }
  if (current.length) requests.push(current);
  return { requests, tooLarge };
}

// ---------------------------------------------------------------------------- reading a drop

/** All entries of a directory (readEntries hands them out in pieces until it returns none). */
function readAll(reader) {
  return new Promise((resolve, reject) => {
    const all = [];
    const next = () => reader.readEntries((entries) => {
      if (!entries.length) resolve(all);
      else {
        all.push(...entries);
        next();
      }
    }, reject);
    next();
  });
}

/** The files under a FileSystemEntry, as {file, path}; unreadable entries are left out. */
export async function filesUnder(entry) {
  if (entry.isFile) {
    try {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      return [{ file, path: entry.fullPath.replace(/^\/+/, '') || file.name }];
    } catch {
      return [];
    }
  }
  if (!entry.isDirectory) return [];
  let children;
  try {
    children = await readAll(entry.createReader());
  } catch {
    return [];
  }
  const nested = await Promise.all(children.map(filesUnder));
  return nested.flat();
}

/**
 * What was dropped: {items: [{file, path}], folder: true if a folder was among them}. The entries
 * must be taken during the drop event itself, so call this synchronously from the handler.
 */
export function droppedFiles(dataTransfer) {
  const list = [...(dataTransfer?.items || [])].filter((i) => i.kind === 'file');
  const entries = list.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
  const plain = list.map((i) => i.getAsFile());
  const folder = entries.some((e) => e?.isDirectory);
  if (!folder) {
    const files = plain.some(Boolean) ? plain.filter(Boolean) : [...(dataTransfer?.files || [])];
    return Promise.resolve({ items: files.map((file) => ({ file, path: file.name })), folder: false });
  }
  return Promise.all(entries.map((entry, i) => {
    if (entry) return filesUnder(entry);
    return plain[i] ? [{ file: plain[i], path: plain[i].name }] : [];
  })).then((nested) => ({ items: nested.flat(), folder: true }));
}
