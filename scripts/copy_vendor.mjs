// Copy the pinned front-end builds from node_modules into static/vendor/.
// static/vendor/ is committed: the page is served from it, so a deploy needs no npm. Regenerate it
// after changing package.json with `make vendor` (`npm ci`, then `npm run vendor`);
// tests/test_deploy.py checks that the committed files equal what this script makes from package-lock.json.
//
//   node scripts/copy_vendor.mjs [NODE_MODULES [VENDOR_DIR]]   (defaults: ./node_modules, ./static/vendor)
//
// Only what the page loads, plus each package's LICENSE. No source maps: browsers fetch them only
// when the developer tools are open, and they would be most of the bytes (923 KB of Bootstrap's).
import { copyFileSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modules = resolve(process.argv[2] ?? join(root, 'node_modules'));
const vendor = resolve(process.argv[3] ?? join(root, 'static', 'vendor'));

// [package, source path inside the package, destination inside static/vendor]
const FILES = [
  ['bootstrap', 'dist/css/bootstrap.min.css', 'bootstrap/bootstrap.min.css'],
  ['bootstrap', 'dist/js/bootstrap.bundle.min.js', 'bootstrap/bootstrap.bundle.min.js'],
  ['bootstrap', 'LICENSE', 'bootstrap/LICENSE'],
  ['wavesurfer.js', 'dist/wavesurfer.esm.js', 'wavesurfer/wavesurfer.esm.js'],
  ['wavesurfer.js', 'dist/plugins/regions.esm.js', 'wavesurfer/plugins/regions.esm.js'],
  ['wavesurfer.js', 'dist/plugins/hover.esm.js', 'wavesurfer/plugins/hover.esm.js'],
  ['wavesurfer.js', 'LICENSE', 'wavesurfer/LICENSE'],
];

function packageVersion(name) {
  const pkg = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
  return pkg.version;
}

if (!existsSync(modules)) {
  console.error(`${modules} is missing: run \`npm ci\` first.`);
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

for (const pkg of new Set(FILES.map(([name]) => name))) {
  console.log(`vendored ${pkg}@${packageVersion(pkg)}`);
}
console.log(`-> ${vendor}`);
