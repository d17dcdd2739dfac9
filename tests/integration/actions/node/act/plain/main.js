const fs = require('fs');
const v = process.env['INPUT_MY_INPUT'];
fs.appendFileSync(process.env.GITHUB_OUTPUT, `seen=${v}\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `plain_state=${v}\n`);
console.log(`plain main ${v} path=${process.env.GITHUB_ACTION_PATH.endsWith('/act/plain')}`);
