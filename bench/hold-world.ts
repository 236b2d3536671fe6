// scratch: start the kagent world and keep it up; writes /tmp/world.env
import { writeFileSync } from 'node:fs';
import { helm4 } from '../test/harness/plugin.js';
import { startKagentWorld } from '../test/harness/world.js';
const world = await startKagentWorld(helm4, 'hsr-hold-', 'ai');
const env = { ...world.plugin.env };
const lines = Object.entries(env).map(([k, v]) => `export ${k}='${String(v).replace(/'/g, `'\\''`)}'`);
lines.push(`export HELM='${world.plugin.helmBin}'`);
writeFileSync('/tmp/world.env', lines.join('\n') + '\n');
console.log('ready');
process.on('SIGTERM', async () => { await world.close(); process.exit(0); });
setInterval(() => {}, 1 << 30);
