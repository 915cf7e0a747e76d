// The page's rule for which files it sends: whatever might have sound in it goes to the API, which judges.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ACCEPT, extensionOf, mayBeMedia } from '../../static/js/files.js';

test('videos and phone recordings are sent, as the API reads their sound', () => {
  assert.equal(mayBeMedia('holiday.mp4', 'video/mp4'), true);
  assert.equal(mayBeMedia('call.3gp', 'video/3gpp'), true);
  assert.equal(mayBeMedia('memo.amr', ''), true);
  assert.equal(mayBeMedia('clip.mov', 'video/quicktime'), true);
  assert.equal(mayBeMedia('song.mp3', 'audio/mpeg'), true);
  assert.equal(mayBeMedia('recording', ''), true); // no name, no type: the server decides
  assert.equal(mayBeMedia('track.bin', 'application/octet-stream'), true);
});

test('documents and pictures are turned away before uploading', () => {
  assert.equal(mayBeMedia('notes.txt', 'text/plain'), false);
  assert.equal(mayBeMedia('cover.jpg', 'image/jpeg'), false);
  assert.equal(mayBeMedia('paper.pdf', 'application/pdf'), false);
  assert.equal(mayBeMedia('sheet.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'), false);
  assert.equal(mayBeMedia('songs.zip', 'application/zip'), false);
  // a media extension wins over an odd type (some systems call .ogg or .webm files text or octet streams)
  assert.equal(mayBeMedia('odd.ogg', 'text/plain'), true);
});

test('the picker offers audio, video and the named extensions', () => {
  const accepted = ACCEPT.split(',');
  for (const item of ['audio/*', 'video/*', '.mp4', '.3gp', '.amr', '.mov', '.mp3', '.webm']) {
    assert.ok(accepted.includes(item), item);
  }
  assert.equal(extensionOf('A.Song.MP3'), 'mp3');
  assert.equal(extensionOf('noext'), '');
});
