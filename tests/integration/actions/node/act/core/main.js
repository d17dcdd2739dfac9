const path = require('path');
const core = require('@actions/core');
async function run() {
  const who = core.getInput('who', { required: true });
  if (core.getState('from_pre') !== 'pre-value') core.setFailed('state from pre missing');
  if (core.getInput('event') !== 'push') core.setFailed('default not evaluated');
  core.saveState('from_main', 'main-value');
  core.setOutput('greeting', `hello ${who}`);
  core.exportVariable('EXPORTED', 'exp-value');
  core.addPath(path.join(process.env.GITHUB_ACTION_PATH, 'bin'));
  core.setSecret('s3cr3t-token');
  console.log('the token is s3cr3t-token');
  core.error('an error', { file: 'src/a.js', startLine: 3 });
  core.warning('a warning', { file: 'src/b.js', startLine: 5, startColumn: 2 });
  core.notice('a notice');
  await core.summary.addRaw('## summary from js').write();
  console.log(`env action=${process.env.GITHUB_ACTION} repo=[${process.env.GITHUB_ACTION_REPOSITORY}]`);
  if (core.getInput('fail') === 'true') core.setFailed('asked to fail');
}
run();
