const tag = process.env.INPUT_TAG;
console.log(`stage post ${tag} state=[${process.env.STATE_from_pre || ''}/` +
    `${process.env.STATE_from_main || ''}] comp-env=[${process.env.COMP_ENV || ''}]`);
