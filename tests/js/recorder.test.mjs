// The microphone recorder's pure helpers: what it says when it cannot record, the meter, the format and the name.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_S, MIN_S, meterLevel, micProblem, recordingName, recordingType } from '../../static/js/recorder.js';

const ready = { secure: true, mediaDevices: true, mediaRecorder: true };
const named = (name, message = '') => Object.assign(new Error(message), { name });

test('a denied permission, a missing or busy microphone each get a clear message', () => {
  assert.equal(micProblem(ready), null);
  assert.equal(micProblem(ready, named('NotAllowedError')).title, 'Microphone access is blocked');
  assert.match(micProblem(ready, named('NotAllowedError')).message, /Allow this page to use the microphone/);
  assert.equal(micProblem(ready, named('SecurityError')).title, 'Microphone access is blocked');
  assert.equal(micProblem(ready, named('NotFoundError')).title, 'No microphone found');
  assert.match(micProblem(ready, named('NotFoundError')).message, /Connect a microphone/);
  assert.equal(micProblem(ready, named('OverconstrainedError')).title, 'No microphone found');
  assert.equal(micProblem(ready, named('NotReadableError')).title, 'The microphone is busy');
  assert.deepEqual(micProblem(ready, named('WeirdError', 'it broke')), { title: 'Recording did not start', message: 'it broke' });
});

test('a page that cannot record at all says why before asking for the microphone', () => {
  assert.equal(micProblem({ ...ready, secure: false }).title, 'Recording needs a secure page');
  assert.equal(micProblem({ ...ready, mediaRecorder: false }).title, 'This browser cannot record');
  assert.equal(micProblem({ ...ready, mediaDevices: false }, named('NotAllowedError')).title, 'This browser cannot record');
});

test('the meter reads the level on a 60-dB scale', () => {
  assert.equal(meterLevel(new Float32Array(256)), 0);
  assert.equal(meterLevel(new Float32Array(256).fill(1)), 1);
  assert.ok(Math.abs(meterLevel(new Float32Array(256).fill(0.1)) - 40 / 60) < 1e-6); // -20 dBFS
  assert.equal(meterLevel(new Float32Array(256).fill(1e-4)), 0); // -80 dBFS: below the scale
  assert.equal(meterLevel([]), 0);
});

test('WebM/Opus first; the name says when and what', () => {
  assert.equal(recordingType(() => true), 'audio/webm;codecs=opus');
  assert.equal(recordingType((t) => t.startsWith('audio/ogg')), 'audio/ogg;codecs=opus');
  assert.equal(recordingType(() => { throw new Error('no'); }), '');
  const when = new Date(2026, 10, 30, 14, 5, 9);
  assert.equal(recordingName(when, 'audio/webm'), 'recording 2026-11-30 14.05.09.webm');
  assert.equal(recordingName(when, 'audio/ogg'), 'recording 2026-11-30 14.05.09.ogg');
  assert.ok(MIN_S === 10 && MAX_S === 30);
});
