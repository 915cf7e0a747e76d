// Copy the pinned front-end builds from node_modules into static/vendor/.
// Run with `npm run vendor` after `npm ci`. The page loads these files only
// (no CDN), so it works offline.
import { copyFileSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modules = join(root, 'node_modules');
const vendor = join(root, 'static', 'vendor');

// [package, source path inside the package, destination inside static/vendor]
const FILES = [
  ['bootstrap', 'dist/css/bootstrap.min.css', 'bootstrap/bootstrap.min.css'],
  ['bootstrap', 'dist/css/bootstrap.min.css.map', 'bootstrap/bootstrap.min.css.map'],
  ['bootstrap', 'dist/js/bootstrap.bundle.min.js', 'bootstrap/bootstrap.bundle.min.js'],
  ['bootstrap', 'dist/js/bootstrap.bundle.min.js.map', 'bootstrap/bootstrap.bundle.min.js.map'],
  ['bootstrap', 'LICENSE', 'bootstrap/LICENSE'],
  ['wavesurfer.js', 'dist/wavesurfer.esm.js', 'wavesurfer/wavesurfer.esm.js'],
  ['wavesurfer.js', 'dist/plugins/regions.esm.js', 'wavesurfer/plugins/regions.esm.js'],
  ['wavesurfer.js', 'dist/plugins/timeline.esm.js', 'wavesurfer/plugins/timeline.esm.js'],
  ['wavesurfer.js', 'dist/plugins/hover.esm.js', 'wavesurfer/plugins/hover.esm.js'],
  ['wavesurfer.js', 'LICENSE', 'wavesurfer/LICENSE'],
];

function packageVersion(name) {
  const pkg = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
  return pkg.version;
}

if (!existsSync(modules)) {
  console.error('node_modules/ is missing: run `npm ci` first.');
  process.exit(1);
}

rmSync(vendor, { recursive: true, force: true });
let missing = 0;
for (const [pkg, src, dest] of FILES) {
  const from = join(modules, pkg, src);
  const to = join(vendor, dest);
  if (!existsSync(from)) {
    console.error(`missing: ${pkg}/${src}`);
    missing += 1;
    continue;
  }
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
if (missing) process.exit(1);

for (const pkg of ['bootstrap', 'wavesurfer.js']) {
  console.log(`vendored ${pkg}@${packageVersion(pkg)}`);
}
console.log(`-> ${vendor}`);
