// Batch mode's pure rules (static/js/folder.js): which files of a folder are sent, what the page says
// about the rest, how a batch over the upload limit is cut into requests, and reading a dropped folder.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  PART_OVERHEAD, REQUEST_OVERHEAD, chooseBatchFiles, droppedFiles, filesUnder, isBatchMedia, isHidden, pathOf,
  planRequests, skippedNote,
} from '../../static/js/folder.js';

const item = (path, size = 100, type = '') => ({ file: new File([new Uint8Array(size)], path.split('/').at(-1), { type }), path });

test('hidden files and system clutter are recognised anywhere in the path', () => {
  for (const path of ['.DS_Store', 'Album/.DS_Store', 'Album/._01 Intro.mp3', '.git/song.mp3', '__MACOSX/Album/a.mp3', 'Album/Thumbs.db']) {
    assert.equal(isHidden(path), true, path);
  }
  for (const path of ['Album/01 Intro.mp3', 'song.mp3', 'My.Album/track.flac']) assert.equal(isHidden(path), false, path);
});

test('in a batch only audio or video goes, by type or by extension', () => {
  assert.equal(isBatchMedia('a.mp3', ''), true);
  assert.equal(isBatchMedia('clip.MOV', ''), true);
  assert.equal(isBatchMedia('voice', 'audio/ogg'), true);
  assert.equal(isBatchMedia('film', 'video/mp4'), true);
  assert.equal(isBatchMedia('cover.jpg', 'image/jpeg'), false);
  assert.equal(isBatchMedia('README', ''), false); // a lone file the server may judge; in a folder, clutter
  assert.equal(isBatchMedia('tracks.m3u', 'audio/x-mpegurl'), false); // a playlist: browsers call it audio
  assert.equal(isBatchMedia('Album.cue', ''), false);
});

test('a folder is sorted by path, numbers as numbers, and the rest is skipped with its reason', () => {
  const { send, skipped } = chooseBatchFiles([
    item('Album/10 Outro.mp3'), item('Album/2 Song.flac'), item('Album/.DS_Store'), item('Album/cover.jpg', 100, 'image/jpeg'),
    item('Album/1 Intro.mp3'), item('Album/empty.wav', 0), item('Album/notes.txt', 10, 'text/plain'),
  ]);
  assert.deepEqual(send.map(pathOf), ['Album/1 Intro.mp3', 'Album/2 Song.flac', 'Album/10 Outro.mp3']);
  assert.deepEqual(skipped, [
    { path: 'Album/.DS_Store', reason: 'hidden' }, { path: 'Album/cover.jpg', reason: 'not-media' },
    { path: 'Album/empty.wav', reason: 'empty' }, { path: 'Album/notes.txt', reason: 'not-media' },
  ]);
  assert.equal(skippedNote(skipped),
    'Skipped 4 files: “Album/cover.jpg” (not audio or video), “Album/empty.wav” (empty), '
    + '“Album/notes.txt” (not audio or video) and 1 hidden or system file.');
  assert.equal(skippedNote([]), '');
  assert.equal(skippedNote([{ path: '.DS_Store', reason: 'hidden' }]), 'Skipped 1 file: 1 hidden or system file.');
  const many = ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt'].map((path) => ({ path, reason: 'not-media' }));
  assert.match(skippedNote(many), /^Skipped 5 files: “a.txt” .*“c.txt” \(not audio or video\) and 2 more that are not audio or video\.$/);
});

test('a picked file keeps its folder path (webkitRelativePath) when it has one', () => {
  const file = new File(['x'], 'a.mp3');
  Object.defineProperty(file, 'webkitRelativePath', { value: 'Mix/a.mp3' });
  assert.equal(pathOf({ file }), 'Mix/a.mp3');
  assert.equal(pathOf({ file, path: 'Other/a.mp3' }), 'Other/a.mp3');
  assert.equal(pathOf({ file: new File(['x'], 'b.mp3') }), 'b.mp3');
});

test('a batch within the limit is one request; over it, several in order; a file over it alone is not sent', () => {
  const MB = 1024 * 1024;
  const files = [item('a.mp3', 3 * MB), item('b.mp3', 3 * MB), item('c.mp3', 3 * MB)];
  assert.deepEqual(planRequests(files, 50 * MB).requests.map((r) => r.map(pathOf)), [['a.mp3', 'b.mp3', 'c.mp3']]);

  const { requests, tooLarge } = planRequests([...files, item('huge.wav', 11 * MB), item('d.mp3', 1 * MB)], 10 * MB);
  assert.deepEqual(requests.map((r) => r.map(pathOf)), [['a.mp3', 'b.mp3', 'c.mp3'], ['d.mp3']]);
  assert.deepEqual(tooLarge.map(pathOf), ['huge.wav']);

  // every request's body (files + part headers + the request's own framing) stays under the limit
  for (const request of planRequests(files, 7 * MB).requests) {
    const body = request.reduce((sum, i) => sum + i.file.size + PART_OVERHEAD + 3 * pathOf(i).length, REQUEST_OVERHEAD);
    assert.ok(body <= 7 * MB, `${body} > ${7 * MB}`);
  }
  assert.deepEqual(planRequests(files, 7 * MB).requests.map((r) => r.length), [2, 1]);
  assert.deepEqual(planRequests([], 10 * MB), { requests: [], tooLarge: [] });
});

// Fake FileSystemEntry objects, as webkitGetAsEntry() gives for a dropped folder.
function fileEntry(fullPath) {
  const name = fullPath.split('/').at(-1);
  return { isFile: true, isDirectory: false, name, fullPath, file: (ok) => ok(new File(['x'], name)) };
}
function dirEntry(fullPath, children) {
  return {
    isFile: false, isDirectory: true, fullPath,
    createReader() {
      const pieces = [children.slice(0, 2), children.slice(2), []]; // readEntries hands out pieces, then []
      return { readEntries: (ok) => ok(pieces.shift() ?? []) };
    },
  };
}

test('a dropped folder is walked to its last file, sub-folders too', async () => {
  const tree = dirEntry('/Album', [
    fileEntry('/Album/1.mp3'), fileEntry('/Album/.DS_Store'), fileEntry('/Album/2.mp3'),
    dirEntry('/Album/Bonus', [fileEntry('/Album/Bonus/3.mp3')]),
  ]);
  const found = await filesUnder(tree);
  assert.deepEqual(found.map((f) => f.path), ['Album/1.mp3', 'Album/.DS_Store', 'Album/2.mp3', 'Album/Bonus/3.mp3']);
  assert.ok(found.every((f) => f.file instanceof File));
  const broken = { isFile: true, fullPath: '/x.mp3', file: (ok, fail) => fail(new Error('gone')) };
  assert.deepEqual(await filesUnder(broken), []);
});

test('a drop of plain files stays plain; a drop with a folder is read as a folder', async () => {
  const plainItem = (name) => ({ kind: 'file', getAsFile: () => new File(['x'], name), webkitGetAsEntry: () => fileEntry(`/${name}`) });
  const plain = await droppedFiles({ items: [plainItem('a.mp3'), plainItem('b.mp3')], files: [] });
  assert.equal(plain.folder, false);
  assert.deepEqual(plain.items.map((i) => i.path), ['a.mp3', 'b.mp3']);

  const folderItem = { kind: 'file', getAsFile: () => null, webkitGetAsEntry: () => dirEntry('/Mix', [fileEntry('/Mix/x.mp3')]) };
  const mixed = await droppedFiles({ items: [folderItem, plainItem('c.mp3')], files: [] });
  assert.equal(mixed.folder, true);
  assert.deepEqual(mixed.items.map((i) => i.path), ['Mix/x.mp3', 'c.mp3']);

  const text = { kind: 'string', getAsFile: () => null };
  assert.deepEqual(await droppedFiles({ items: [text], files: [] }), { items: [], folder: false });
});

test('the line above the batch table counts what is done, failed and still to go', async () => {
  const { summaryText } = await import('../../static/js/jobs-table.js');
  assert.equal(summaryText(['done', 'failed', 'done']), '3 files: 2 done, 1 failed. All finished.');
  assert.equal(summaryText(['uploading', 'queued', 'done']), '3 files: 1 done, 2 to go.');
  assert.equal(summaryText(['running']), '1 file: 0 done, 1 to go.');
  assert.equal(summaryText([]), 'Loading the batch…');
  assert.equal(summaryText([], true), 'This batch is no longer available.');
});
