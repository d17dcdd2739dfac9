// The real @actions/artifact (and @actions/cache) from inside a replayed workflow step.
// node toolkit.js upload ROOT NAME=FILE[,FILE...] [NAME=...]   uploads concurrently
// node toolkit.js list                                         "name size" per line
// node toolkit.js download NAME DIR
// node toolkit.js delete NAME
// node toolkit.js cache-save KEY PATH / cache-restore KEY RESTORE_KEY PATH
'use strict';
const path = require('path');

async function main() {
    const [cmd, ...args] = process.argv.slice(2);
    if (cmd.startsWith('cache-')) {
        const cache = require('@actions/cache');
        if (cmd === 'cache-save') {
            const id = await cache.saveCache([args[1]], args[0]);
            console.log(`saved ${args[0]} as ${id}`);
        } else {
            const hit = await cache.restoreCache([args[2]], args[0], [args[1]]);
            console.log(`restored ${hit}`);
            if (!hit) process.exit(1);
        }
        return;
    }
    const {DefaultArtifactClient} = require('@actions/artifact');
    const client = new DefaultArtifactClient();
    if (cmd === 'upload') {
        const root = args[0];
        const jobs = args.slice(1).map(async spec => {
            const [name, files] = spec.split('=');
            const list = files.split(',').map(f => path.join(root, f));
            const level = process.env.TK_LEVEL ? parseInt(process.env.TK_LEVEL) : undefined;
            const res = await client.uploadArtifact(name, list, root,
                                                    {retentionDays: 3, compressionLevel: level});
            console.log(`uploaded ${name} id=${res.id} size=${res.size}`);
        });
        await Promise.all(jobs);
    } else if (cmd === 'list') {
        const res = await client.listArtifacts();
        for (const a of res.artifacts) console.log(`artifact ${a.name} ${a.size} ${a.digest}`);
    } else if (cmd === 'download') {
        const {artifact} = await client.getArtifact(args[0]);
        const res = await client.downloadArtifact(artifact.id, {
            path: args[1], expectedHash: artifact.digest});
        console.log(`downloaded ${args[0]} to ${res.downloadPath} mismatch=${res.digestMismatch}`);
        if (res.digestMismatch) process.exit(1);
    } else if (cmd === 'delete') {
        const res = await client.deleteArtifact(args[0]);
        console.log(`deleted ${args[0]} id=${res.id}`);
    } else {
        throw new Error(`unknown command ${cmd}`);
    }
}

main().catch(e => {
    console.log(`error: ${e.message}`);
    process.exit(1);
});
