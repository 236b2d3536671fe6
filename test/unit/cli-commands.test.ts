/**
 * src/cli/app.ts loads only the module of a command named first on the command line, found by its
 * first word: that word must be the one yargs matches, or the named command would be unknown.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { COMMANDS } from '../../src/cli/app.js';

describe('cli: commands loaded by their first word', () => {
  it('each entry loads the command its name says, and every command is listed once', async () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
    for (const entry of COMMANDS) {
      const command = await entry.load(io);
      const forms = (Array.isArray(command.command) ? command.command : [command.command]) as string[];
      assert.ok(forms.some((form) => form.split(' ')[0] === entry.name), `${entry.name}: its module's command is ${JSON.stringify(command.command)}`);
    }
    assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length);
  });
});
