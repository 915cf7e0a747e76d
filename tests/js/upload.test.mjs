// uploadFile against a fake XMLHttpRequest: it sets a timeout, and a timeout rejects with a clear error.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.window = { location: { search: '', href: 'http://127.0.0.1/', origin: 'http://127.0.0.1' } };
globalThis.document = { querySelector: () => null };

class FakeXHR {
  static last = null;
  constructor() {
    this.listeners = {};
    this.upload = { addEventListener: () => {} };
    this.timeout = 0;
    FakeXHR.last = this;
  }
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader() {}
  addEventListener(type, fn) { this.listeners[type] = fn; }
  send(body) { this.body = body; }
  abort() { this.listeners.abort?.(); }
}
globalThis.XMLHttpRequest = FakeXHR;
const { UPLOAD_TIMEOUT_MS, uploadFile } = await import('../../static/js/api.js');

test('an upload never waits forever: it has a timeout, and a timeout is a clear error', async () => {
  const upload = uploadFile(new File([new Uint8Array(8)], 'song.mp3'), { model: 'musicnn' });
  const xhr = FakeXHR.last;
  assert.equal(xhr.method, 'POST');
  assert.equal(xhr.url, '/file-upload?model=musicnn');
  assert.ok(xhr.timeout > 0 && xhr.timeout === UPLOAD_TIMEOUT_MS);
  xhr.listeners.timeout();
  await assert.rejects(upload.promise, (err) => err.code === 'timeout' && /too long/.test(err.message));
});

test('cancelling an upload rejects it as aborted', async () => {
  const upload = uploadFile(new File([new Uint8Array(8)], 'song.mp3'));
  upload.abort();
  await assert.rejects(upload.promise, (err) => err.code === 'aborted');
});
