const core = require('@actions/core');
core.saveState('from_pre', 'pre-value');
console.log('pre ran for ' + core.getInput('who') + ' step-only=[' + process.env.STEP_ONLY + ']');
