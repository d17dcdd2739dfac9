const core = require('@actions/core');
console.log(`post state ${core.getState('from_pre')} ${core.getState('from_main')} input ${core.getInput('who')}`);
console.log(`post env step-only=[${process.env.STEP_ONLY}]`);
