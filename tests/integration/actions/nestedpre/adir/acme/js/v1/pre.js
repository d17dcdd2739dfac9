const fs = require('fs');
const tag = process.env.INPUT_TAG;
console.log(`stage pre ${tag} comp-env=[${process.env.COMP_ENV || ''}] ` +
    `step-env=[${process.env.STEP_ENV || ''}] repo=[${process.env.GITHUB_ACTION_REPOSITORY}]`);
fs.appendFileSync(process.env.GITHUB_STATE, `from_pre=p-${tag}\n`);
