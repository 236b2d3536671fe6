import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createProgress, formatDuration, progressFor, timestamp } from '../../src/cli/progress.js';
import { redactStreams } from '../../src/cli/safe-output.js';
import { inStep, type StepEvent } from '../../src/core/steps.js';

/** A stream that keeps what is written; a terminal when isTTY is set. */
function capture(isTTY = false): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const stream = Object.assign(new EventEmitter(), {
    isTTY,
    columns: 120,
    rows: 40,
    write: (chunk: string | Uint8Array) => (chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()), true),
    text: () => chunks.join(''),
  });
  return stream as unknown as NodeJS.WriteStream & { text: () => string };
}

/** A clock that moves only when told. */
function clock(startIso: string) {
  let t = Date.parse(startIso);
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

describe('progress: the plain renderer (CI logs, pipes)', () => {
  it('writes a timestamped line when a step starts and when it ends, with what it found and how long it took', () => {
    const out = capture();
    const c = clock('2026-12-04T22:51:14.250Z');
    const p = createProgress(out, { terminal: false, colour: true, now: c.now });
    p.start('track core: down 13 -> 8');
    c.advance(2100);
    p.end('track core: down 13 -> 8', 'ok', 'verified at 8');
    p.start('connecting to the database');
    c.advance(61_000);
    p.end('connecting to the database', 'ok');
    p.start('helm upgrade kagent fixtures/kagent --version 0.8.0');
    c.advance(400);
    p.end('helm upgrade kagent fixtures/kagent --version 0.8.0', 'failed');
    assert.equal(out.text(), [
      '2026-12-04T22:51:14Z track core: down 13 -> 8',
      '2026-12-04T22:51:16Z track core: down 13 -> 8: verified at 8 (2.1s)',
      '2026-12-04T22:51:16Z connecting to the database',
      '2026-12-04T22:52:17Z connecting to the database: done (1m01s)',
      '2026-12-04T22:52:17Z helm upgrade kagent fixtures/kagent --version 0.8.0',
      '2026-12-04T22:52:17Z helm upgrade kagent fixtures/kagent --version 0.8.0: failed (0.4s)',
      '',
    ].join('\n'));
    assert.equal(p.live, false, 'lines that announce a step are still printed');
  });

  it('passes other lines through unprefixed, without a single control character (colour asked for or not)', () => {
    const out = capture();
    const p = createProgress(out, { terminal: false, colour: true });
    p.write('scaled deployment/kagent-controller 2 -> 0\n');
    p.write('  core | \u001b[32mINFO\u001b[0m  [alembic] Running downgrade\r\n  helm | \u001b]0;title\u0007Release "kagent" has been upgraded\u0008.\n');
    p.start('step \u001b[1mbold\u001b[22m');
    p.end('step \u001b[1mbold\u001b[22m', 'ok');
    assert.doesNotMatch(out.text(), /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    assert.match(out.text(), /^scaled deployment\/kagent-controller 2 -> 0\n {2}core \| INFO {2}\[alembic\] Running downgrade\n {2}helm \| Release "kagent" has been upgraded\.\n/);
    assert.match(out.text(), /Z step bold: done \(\d+\.\ds\)\n$/);
  });

  it('is what a stream that is not a terminal gets, and what TERM=dumb gets', () => {
    const c = clock('2026-12-04T22:51:14Z');
    for (const [stream, env] of [[capture(false), {}], [capture(true), { TERM: 'dumb' }]] as const) {
      const p = progressFor(stream, env, undefined);
      assert.equal(p.live, false);
      p.start('x');
      assert.match(stream.text(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ x\n$/);
    }
    assert.equal(timestamp(c.now()), '2026-12-04T22:51:14Z');
    assert.equal(formatDuration(59_960), '60.0s');
    assert.equal(formatDuration(125_000), '2m05s');
  });
});

describe('progress: the terminal renderer', () => {
  it('ends a step in a ✔ line with its duration, prints other lines above the spinner, and leaves no frame behind', () => {
    const out = capture(true);
    const c = clock('2026-12-04T22:51:14Z');
    const p = createProgress(out, { terminal: true, colour: false, now: c.now });
    assert.equal(p.live, true);
    p.start('track core: down 13 -> 8');
    p.write('  core | 13 -> 12 (000013_runtime_revision_agent_card.down.sql)\n');
    c.advance(2100);
    p.end('track core: down 13 -> 8', 'ok', 'verified at 8');
    p.start('helm upgrade kagent fixtures/kagent --version 0.8.0');
    p.end('helm upgrade kagent fixtures/kagent --version 0.8.0', 'failed');
    const text = out.text();
    assert.ok(text.indexOf('  core | 13 -> 12') < text.indexOf('✔ track core: down 13 -> 8: verified at 8 (2.1s)\n'), text);
    assert.match(text, /✖ helm upgrade kagent fixtures\/kagent --version 0\.8\.0 \(0\.0s\)\n$/);
    // Without colour: cursor moves and line clears, never an SGR colour code.
    assert.doesNotMatch(text, /\u001b\[\d+(;\d+)*m/);
  });

  it('colours the ✔ and ✖ only when colour is on; NO_COLOR, HELM_COLOR=never and --color never turn it off', () => {
    const coloured = capture(true);
    const p = progressFor(coloured, {}, undefined);
    p.start('x');
    p.end('x', 'ok');
    assert.match(coloured.text(), /\u001b\[32m✔\u001b\[39m x/);
    for (const [env, flag] of [[{ NO_COLOR: '1' }, undefined], [{ HELM_COLOR: 'never' }, undefined], [{}, 'never']] as const) {
      const plain = capture(true);
      const q = progressFor(plain, env, flag);
      q.start('x');
      q.end('x', 'ok');
      assert.match(plain.text(), /✔ x \(\d+\.\ds\)\n$/);
      assert.doesNotMatch(plain.text(), /\u001b\[\d+(;\d+)*m/, JSON.stringify(env));
    }
  });

  it('the spinner writes through the redacting stream: a secret in a step name never reaches the terminal', () => {
    const out = capture(true);
    const streams = redactStreams(capture(), out);
    streams.secrets.add('hunter2-secret');
    const p = createProgress(streams.stderr, { terminal: true, colour: false });
    p.start('connecting as hunter2-secret');
    p.end('connecting as hunter2-secret', 'ok');
    assert.doesNotMatch(out.text(), /hunter2/);
    assert.match(out.text(), /✔ connecting as \*\*\*/);
  });
});

describe('progress: steps from the core', () => {
  it('inStep tells a start and an end, failed when the work throws or when the judge says so', async () => {
    const events: StepEvent[] = [];
    assert.equal(await inStep((e) => events.push(e), 'a', async () => 1, (n) => ({ detail: `got ${n}` })), 1);
    await assert.rejects(inStep((e) => events.push(e), 'b', async () => { throw new Error('no'); }), /no/);
    await inStep((e) => events.push(e), 'c', async () => ['refusal'], (r) => ({ ok: r.length === 0 }));
    assert.deepEqual(events, [
      { type: 'step:start', step: 'a' }, { type: 'step:end', step: 'a', outcome: 'ok', detail: 'got 1' },
      { type: 'step:start', step: 'b' }, { type: 'step:end', step: 'b', outcome: 'failed' },
      { type: 'step:start', step: 'c' }, { type: 'step:end', step: 'c', outcome: 'failed' },
    ]);
  });
});
