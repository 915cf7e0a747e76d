// Unit tests of the page's pure helpers (node --test; run by tests/test_js_units.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clock, duration, fixed, keptFor, modelLabel, ms, pct, rgba, textOn } from '../../static/js/format.js';

// results.js reads the page's address when it loads (api.js): give it one.
globalThis.window = { location: { search: '', href: 'http://127.0.0.1/' } };
globalThis.document = { querySelector: () => null };
const { electronicLeads, sortedGenres, titleCase } = await import('../../static/js/results.js');

test('duration rounds before it splits minutes and seconds', () => {
  assert.equal(duration(119.7), '2 min');
  assert.equal(duration(59.96), '1 min');
  assert.equal(duration(59.94), '59.9 s');
  assert.equal(duration(212.4), '3 min 32 s');
  assert.equal(duration(12.44), '12.4 s');
  assert.equal(duration(undefined), '—');
});

test('keptFor says a retention setting in days, hours or minutes, and nothing made up without one', () => {
  assert.equal(keptFor(604800), 'for 7 days'); // JOB_TTL_S's default
  assert.equal(keptFor(2592000), 'for 30 days'); // RESULT_TTL_S's default
  assert.equal(keptFor(86400), 'for 1 day');
  assert.equal(keptFor(3 * 86400 + 12 * 3600), 'for 3.5 days');
  assert.equal(keptFor(36 * 3600), 'for 36 hours');
  assert.equal(keptFor(3600), 'for 1 hour');
  assert.equal(keptFor(5400), 'for 90 minutes');
  assert.equal(keptFor(60), 'for 1 minute');
  assert.equal(keptFor(45), 'for 45 seconds');
  for (const unknown of [0, -5, NaN, undefined, null, Infinity]) assert.equal(keptFor(unknown), 'for a limited time');
});

test('clock shows m:ss and h:mm:ss', () => {
  assert.equal(clock(0), '0:00');
  assert.equal(clock(65.9), '1:05');
  assert.equal(clock(3 * 3600 + 8), '3:00:08');
  assert.equal(clock(-1), '0:00');
});

test('percentages, milliseconds, labels', () => {
  assert.equal(pct(0.7134), '71.3\u00a0%');
  assert.equal(pct(0.5, 0), '50\u00a0%');
  assert.equal(pct(null), '—');
  assert.equal(ms(311.4), '311 ms');
  assert.equal(ms(1500), '1.50 s');
  assert.equal(modelLabel('mfcc_cnn'), 'MFCC CNN');
  assert.equal(modelLabel('other'), 'other');
});

test('colours: rgba and readable text', () => {
  assert.equal(rgba('#19c8e6', 0.5), 'rgba(25, 200, 230, 0.5)');
  assert.equal(rgba('nonsense', 1), 'rgba(128, 128, 128, 1)');
  assert.equal(textOn('#ffffff'), '#000');
  assert.equal(textOn('#000000'), '#fff');
});

test('the electronic card leads only when electronic is first, or in the top three with 15 %', () => {
  const genres = (pairs) => ({ genres: pairs.map(([genre, probability]) => ({ genre, probability })) });
  assert.equal(electronicLeads(genres([['electronic', 0.4], ['pop', 0.3]])), true);
  assert.equal(electronicLeads(genres([['pop', 0.5], ['rock', 0.2], ['electronic', 0.15]])), true);
  assert.equal(electronicLeads(genres([['pop', 0.5], ['rock', 0.3], ['electronic', 0.14]])), false);
  assert.equal(electronicLeads(genres([['pop', 0.4], ['rock', 0.2], ['jazz', 0.2], ['electronic', 0.19]])), false);
  assert.equal(electronicLeads(genres([['pop', 1]])), false);
  assert.deepEqual(sortedGenres(genres([['a', 0.1], ['b', 0.9]])).map((g) => g.genre), ['b', 'a']);
});

test('guide names in capitals are shown in title case, spelling untouched', () => {
  assert.equal(titleCase('LARRY HEARD aka MR. FINGERS'), 'Larry Heard aka Mr. Fingers');
  assert.equal(titleCase('DJ FOOD'), 'DJ Food');
  assert.equal(titleCase('Massive Attack'), 'Massive Attack');
  assert.equal(titleCase('SL2'), 'SL2');
});

// The rounding rule: half away from zero, on the decimal digits the stored value is written with.
test('a percentage is rounded half away from zero from the stored value: 0.7765 is 77.7 %', () => {
  assert.equal(pct(0.7765), '77.7\u00a0%'); // (0.7765 * 100).toFixed(1) says 77.6
  assert.equal(pct(0.0005), '0.1\u00a0%');
  assert.equal(pct(0.0004999), '0.0\u00a0%');
  assert.equal(pct(0.9995), '100.0\u00a0%');
  assert.equal(pct(0.835, 0), '84\u00a0%');
  assert.equal(pct(0.845, 0), '85\u00a0%'); // half away from zero, not to even
  assert.equal(pct(1), '100.0\u00a0%');
  assert.equal(pct(0), '0.0\u00a0%');
  assert.equal(pct(1e-7), '0.0\u00a0%');
  assert.equal(pct(5e-4), '0.1\u00a0%');
  assert.equal(pct(Number.NaN), '—');
});

test('every step of 0.0005 from 0 to 1 rounds up at the half, as exact decimals would', () => {
  // i / 2000 is a multiple of 0.05 %: with one decimal, every odd i sits exactly on a half.
  for (let i = 0; i <= 2000; i += 1) {
    const tenths = Math.ceil(i / 2); // 0.05 % * i, in tenths of a percent, halves rounded up
    const expected = `${Math.floor(tenths / 10)}.${tenths % 10}\u00a0%`;
    assert.equal(pct(i / 2000), expected, `p = ${i / 2000}`);
  }
});

test('fixed: the same rule for any number of digits, negative numbers and exponents', () => {
  assert.equal(fixed(1.005, 2), '1.01'); // 1.005.toFixed(2) says 1.00
  assert.equal(fixed(0.745, 2), '0.75');
  assert.equal(fixed(-0.745, 2), '-0.75');
  assert.equal(fixed(-0.0004, 3), '0.000'); // no "-0.000"
  assert.equal(fixed(2.5), '3');
  assert.equal(fixed(-2.5), '-3');
  assert.equal(fixed(123.456, 1), '123.5');
  assert.equal(fixed(1e21, 0), '1000000000000000000000');
  assert.equal(fixed(1.5e-7, 7), '0.0000002');
  assert.equal(fixed(0.7765, 1, 2), '77.7');
  assert.equal(fixed(undefined, 1), '—');
});
