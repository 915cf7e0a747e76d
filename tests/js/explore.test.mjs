// The batch at a glance's pure rules (static/js/explore.js): several jobs' summaries added up, which rows a
// chart bar keeps, and a playlist's address.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { mergeSummaries, playlistPath, rowMatches } from '../../static/js/explore.js';

test('the summaries of a batch sent in parts add up, largest first, ties by name', () => {
  const merged = mergeSummaries([
    { genres: [{ genre: 'rock', count: 2 }, { genre: 'jazz', count: 1 }], styles: [{ style: 'House', count: 1 }] },
    null,
    { genres: [{ genre: 'jazz', count: 2 }, { genre: 'blues', count: 3 }], styles: [] },
  ]);
  assert.deepEqual(merged.genres, [{ genre: 'blues', count: 3 }, { genre: 'jazz', count: 3 }, { genre: 'rock', count: 2 }]);
  assert.deepEqual(merged.styles, [{ style: 'House', count: 1 }]);
  assert.deepEqual(mergeSummaries([]), { genres: [], styles: [] });
});

test('a genre bar keeps that genre; a style bar keeps electronic files led by that style', () => {
  const techno = { genre: 'electronic', style: 'Techno' };
  const jazz = { genre: 'jazz', style: 'Techno' }; // a style's word on a jazz track does not count
  assert.equal(rowMatches(techno, null), true);
  assert.equal(rowMatches(techno, { kind: 'genre', value: 'electronic' }), true);
  assert.equal(rowMatches(jazz, { kind: 'genre', value: 'electronic' }), false);
  assert.equal(rowMatches(techno, { kind: 'style', value: 'Techno' }), true);
  assert.equal(rowMatches(jazz, { kind: 'style', value: 'Techno' }), false);
  assert.equal(rowMatches({ genre: null, style: null }, { kind: 'genre', value: 'jazz' }), false);
});

test('a playlist path escapes the job id and the value', () => {
  assert.equal(playlistPath('abc', 'genre', 'hiphop'), '/jobs/abc/playlist.m3u8?genre=hiphop');
  assert.equal(playlistPath('a/b', 'tag', 'female vocalists'), '/jobs/a%2Fb/playlist.m3u8?tag=female%20vocalists');
});
