// The timeline's pure helpers: the thinned time axis, peaks per pixel column, and what the header
// says about how much of a file was analysed.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.window = { location: { search: '', href: 'http://127.0.0.1/', origin: 'http://127.0.0.1' } };
globalThis.document = { querySelector: () => null };
const { CHAR_PX, GAP_PX, axisTicks } = await import('../../static/js/axis.js');
const { PEAKS_AFTER_S, columnPeaks, wantsServerPeaks } = await import('../../static/js/peaks.js');
const { lengthNote, partlyAnalysed } = await import('../../static/js/results.js');

function assertReadable(ticks, duration, width) {
  const labelPx = (t) => t.label.length * CHAR_PX;
  for (const [a, b] of ticks.slice(1).map((t, i) => [ticks[i], t])) {
    assert.ok(a.x + labelPx(a) + GAP_PX <= b.x + 1e-9, `${a.label} runs into ${b.label} (${duration} s over ${width} px)`);
  }
  for (const t of ticks) assert.ok(t.x >= 0 && t.x + labelPx(t) <= width + 1e-9, `${t.label} leaves the axis`);
}

test('axis labels never touch, whatever the length and the width', () => {
  for (const duration of [2.5, 12, 30, 212.4, 600, 3600, 3 * 3600 + 8, 24 * 3600]) {
    for (const width of [300, 358, 390, 800, 1280, 2560]) {
      const ticks = axisTicks(duration, width);
      assert.ok(ticks.length >= 1, `${duration} s over ${width} px has no label`);
      assert.equal(ticks[0].label, '0:00');
      assertReadable(ticks, duration, width);
    }
  }
});

test('axis labels sit at round times and use the room they have', () => {
  assert.deepEqual(axisTicks(600, 800).map((t) => t.label), ['0:00', '1:00', '2:00', '3:00', '4:00', '5:00', '6:00', '7:00', '8:00', '9:00']);
  assert.deepEqual(axisTicks(3 * 3600 + 8, 390).map((t) => t.label), ['0:00', '1:00:00', '2:00:00']);
  assert.deepEqual(axisTicks(12, 800).map((t) => t.t), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const threeHours = axisTicks(3 * 3600 + 8, 1280);
  assert.ok(threeHours.length >= 5 && threeHours.every((t) => t.t % 900 === 0), threeHours.map((t) => t.label).join(' '));
  assert.deepEqual(axisTicks(0, 800), []);
  assert.deepEqual(axisTicks(60, 0), []);
});

test('peaks per pixel column: the loudest bin of each column, spread when there are fewer bins', () => {
  assert.deepEqual([...columnPeaks([0.1, -0.5, 0.2, 0.9], 2)].map((v) => +v.toFixed(2)), [0.5, 0.9]);
  assert.deepEqual([...columnPeaks([0.25, 0.75], 4)], [0.25, 0.25, 0.75, 0.75]);
  assert.equal(columnPeaks([], 3).length, 3);
});

test('long or partly analysed files are drawn from the server, and the header says how much was analysed', () => {
  assert.equal(wantsServerPeaks({ duration_s: 212, analyzed_s: 212, capped: false }), false);
  assert.equal(wantsServerPeaks({ duration_s: PEAKS_AFTER_S + 1, analyzed_s: PEAKS_AFTER_S + 1 }), true);
  assert.equal(wantsServerPeaks({ duration_s: 30, analyzed_s: 20, capped: true }), true);
  const threeHours = { duration_s: 10808.2, analyzed_s: 600, capped: true };
  assert.equal(partlyAnalysed(threeHours), true);
  assert.equal(lengthNote(threeHours), 'first 10:00 of 3:00:08 analysed');
  assert.equal(lengthNote({ duration_s: 212.4, analyzed_s: 212.4, capped: false }), '3:32');
  assert.equal(lengthNote({}), '');
});
