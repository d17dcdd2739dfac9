// Drives the real @actions/cache against `ghrun cache serve`: 3.x speaks the v1 REST API,
// 4.x with ACTIONS_CACHE_SERVICE_V2 the Twirp API and Azure blob uploads.
// Env: ACTIONS_CACHE_URL or ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN, GITHUB_WORKSPACE (cwd), CACHE_STORE (the store).
// Prints one line per check; exits 1 when any check fails.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const cache = require('@actions/cache');

const ws = process.env.GITHUB_WORKSPACE;
let failed = 0;
const warnings = [];
const origWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  const s = String(chunk);
  if (s.startsWith('::warning::') || s.startsWith('::error::')) warnings.push(s.trim());
  return origWrite(chunk, ...rest);
};

function check(cond, what) {
  if (cond) {
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}`);
  }
}

function writeTree(root, seed) {
  fs.rmSync(root, {recursive: true, force: true});
  const files = {};
  for (let d = 0; d < 4; d++) {
    for (let f = 0; f < 6; f++) {
      const rel = path.join(`pkg${d}`, `lib`, `file${f}.js`);
      const data = `// ${seed} ${d} ${f}\n` + 'x'.repeat(100 * f + d);
      fs.mkdirSync(path.join(root, path.dirname(rel)), {recursive: true});
      fs.writeFileSync(path.join(root, rel), data);
      files[rel] = data;
    }
  }
  const big = crypto.randomBytes(3 * 1024 * 1024 + 12345); // incompressible: several chunks
  fs.writeFileSync(path.join(root, 'big.bin'), big);
  files['big.bin'] = big;
  fs.mkdirSync(path.join(root, '.bin'), {recursive: true});
  fs.symlinkSync('../pkg0/lib/file1.js', path.join(root, '.bin', 'tool'));
  return files;
}

function sameTree(root, files) {
  for (const [rel, data] of Object.entries(files)) {
    const p = path.join(root, rel);
    if (!fs.existsSync(p)) return `${rel} missing`;
    if (!Buffer.from(data).equals(fs.readFileSync(p))) return `${rel} differs`;
  }
  const link = path.join(root, '.bin', 'tool');
  if (fs.readlinkSync(link) !== '../pkg0/lib/file1.js') return 'symlink differs';
  return null;
}

async function main() {
  process.chdir(ws);
  const small = {uploadChunkSize: 1024 * 1024, uploadConcurrency: 4};
  const filesA = writeTree(path.join(ws, 'deps'), 'A');

  check(cache.isFeatureAvailable(), 'the cache service is configured');
  const id = await cache.saveCache(['deps'], 'deps-linux-aaa', small);
  check(id > 0 && warnings.length === 0, `save with 1 MiB chunks, 4 in parallel (id ${id})`);

  const miss = await cache.restoreCache(['deps'], 'other-key', ['nothing-']);
  check(miss === undefined, 'miss for an unknown key');

  fs.rmSync(path.join(ws, 'deps'), {recursive: true, force: true});
  const hit = await cache.restoreCache(['deps'], 'deps-linux-aaa');
  check(hit === 'deps-linux-aaa', `exact hit (${hit})`);
  check(sameTree(path.join(ws, 'deps'), filesA) === null, 'restored files are byte-exact');

  fs.rmSync(path.join(ws, 'deps'), {recursive: true, force: true});
  const partial = await cache.restoreCache(['deps'], 'deps-linux-bbb', ['deps-linux-', 'deps-']);
  check(partial === 'deps-linux-aaa', `restore-key prefix match (${partial})`);
  check(sameTree(path.join(ws, 'deps'), filesA) === null, 'restore-key files are byte-exact');

  const otherPaths = await cache.restoreCache(['deps', 'more'], 'deps-linux-aaa');
  check(otherPaths === undefined, 'a different path set (version) misses');

  const again = await cache.saveCache(['deps'], 'deps-linux-aaa', small);
  check(again === -1, `saving an existing key is refused (${again})`);

  // A newer entry wins a prefix match.
  const filesB = writeTree(path.join(ws, 'deps'), 'B');
  const id2 = await cache.saveCache(['deps'], 'deps-linux-ccc');
  check(id2 > 0 && warnings.length === 0, 'second save (default chunking)');
  fs.rmSync(path.join(ws, 'deps'), {recursive: true, force: true});
  const newest = await cache.restoreCache(['deps'], 'deps-linux-zzz', ['deps-linux-']);
  check(newest === 'deps-linux-ccc', `newest prefix match wins (${newest})`);
  check(sameTree(path.join(ws, 'deps'), filesB) === null, 'newest entry is byte-exact');

  check(warnings.length === 0, `no warnings from the toolkit so far (${warnings.join(' | ')})`);

  // Corrupt every archive in the store: a restore reports a miss, never extracts.
  const blobs = path.join(process.env.CACHE_STORE, 'blobs');
  for (const b of fs.readdirSync(blobs)) {
    const fd = fs.openSync(path.join(blobs, b), 'r+');
    fs.writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, 100);
    fs.closeSync(fd);
  }
  fs.rmSync(path.join(ws, 'deps'), {recursive: true, force: true});
  const corrupt = await cache.restoreCache(['deps'], 'deps-linux-ccc');
  check(corrupt === undefined && !fs.existsSync(path.join(ws, 'deps')),
        'a corrupt archive is a miss and nothing is extracted');
  // The corrupt entry was dropped, so the key can be saved again.
  writeTree(path.join(ws, 'deps'), 'C');
  const id3 = await cache.saveCache(['deps'], 'deps-linux-ccc');
  check(id3 > 0, 'a dropped corrupt key can be saved again');

  process.stdout.write = origWrite;
  process.exit(failed ? 1 : 0);
}

main().catch(e => {
  console.log(`not ok - exception: ${e.stack || e}`);
  process.exit(1);
});
