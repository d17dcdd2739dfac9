// The real @actions/cache against `ghrun cache serve`, for the native actions/cache test:
//   node native_cross.js save KEY PATH...     prints "saved <id>" (or "save failed: <why>")
//   node native_cross.js restore KEY PATH...  prints "restored <key>" or "miss"
// Env: ACTIONS_RESULTS_URL + ACTIONS_CACHE_SERVICE_V2=true (4.x) or ACTIONS_CACHE_URL (3.x),
// ACTIONS_RUNTIME_TOKEN, GITHUB_WORKSPACE; NODE_PATH holds the installed package.
'use strict';
const cache = require('@actions/cache');

async function main() {
  const [op, key, ...paths] = process.argv.slice(2);
  if (op === 'save') {
    try {
      console.log(`saved ${await cache.saveCache(paths, key)}`);
    } catch (e) {
      console.log(`save failed: ${e.message}`);
      process.exit(1);
    }
  } else {
    const got = await cache.restoreCache(paths, key);
    console.log(got ? `restored ${got}` : 'miss');
  }
}
main().catch((e) => {
  console.log(`error: ${e.stack}`);
  process.exit(1);
});
