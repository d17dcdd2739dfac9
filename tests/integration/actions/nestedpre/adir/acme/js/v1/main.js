const fs = require('fs');
const tag = process.env.INPUT_TAG;
console.log(`stage main ${tag} state=[${process.env.STATE_from_pre || ''}]`);
fs.appendFileSync(process.env.GITHUB_STATE, `from_main=m-${tag}\n`);
