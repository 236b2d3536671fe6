import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { ContractInvalidError, ExitCode } from '../../src/core/errors.js';
import { contractSchema, parseContract, PREFIX, renderContract, type Contract } from '../../src/core/contract.js';
import { toolNames } from '../../src/tools/index.js';

const P = PREFIX;

function invalid(annotations: Record<string, string>): string[] {
  try {
    parseContract(annotations, 'chart demo 1.0.0');
  } catch (err) {
    assert.ok(err instanceof ContractInvalidError, `expected ContractInvalidError, got ${String(err)}`);
    assert.equal(err.code, ExitCode.contractInvalid);
    assert.match(err.message, /^chart demo 1\.0\.0: invalid schema-rollback annotations/);
    return err.problems;
  }
  assert.fail('expected the annotations to be refused');
}

describe('contract: parsing Chart.yaml annotations', () => {
  it('returns undefined for a chart without any schema-rollback.io annotation', () => {
    assert.equal(parseContract({ 'artifacthub.io/license': 'MIT' }, 'x'), undefined);
  });

  it('reads the one-track shorthand (alembic) into a track named main', () => {
    const c = parseContract(
      {
        [`${P}tool`]: 'alembic',
        [`${P}revision`]: 'f43d21f9cdb8',
        [`${P}workload`]: 'deployment/{{ .Fullname }}-backend',
        [`${P}container`]: 'backend',
        [`${P}database-url-env`]: 'DATABASE_URL',
        [`${P}stop`]: 'deployment/{{ .Fullname }}-backend, deployment/{{ .Fullname }}-worker',
        [`${P}command`]: 'poetry run alembic downgrade {{ .Revision }}',
      },
      'x',
    );
    assert.deepEqual(c, {
      contract: 'v1',
      tracks: [
        { name: 'main', tool: 'alembic', revision: 'f43d21f9cdb8', command: ['poetry', 'run', 'alembic', 'downgrade', '{{ .Revision }}'] },
      ],
      run: {
        workload: 'deployment/{{ .Fullname }}-backend',
        container: 'backend',
        databaseUrlEnv: 'DATABASE_URL',
        stop: ['deployment/{{ .Fullname }}-backend', 'deployment/{{ .Fullname }}-worker'],
      },
    });
  });

  it('keeps revisions exactly as written: 0010 stays "0010", 13 stays "13"', () => {
    const one = parseContract({ [`${P}tool`]: 'alembic', [`${P}revision`]: '0010' }, 'x');
    assert.equal(one?.tracks[0]?.revision, '0010');
    const two = parseContract(
      { [`${P}tracks`]: '- {name: core, tool: golang-migrate, revision: 0013}\n- {name: vector, tool: golang-migrate, revision: 3, table: vector_schema_migrations}' },
      'x',
    );
    assert.deepEqual(
      two?.tracks.map((t) => t.revision),
      ['0013', '3'],
    );
    assert.equal(two?.tracks[1]?.table, 'vector_schema_migrations');
  });

  it('reads a two-track list (golang-migrate core + vector, the kagent case) from block YAML', () => {
    const c = parseContract(
      {
        [`${P}tracks`]: [
          '- name: core',
          '  tool: golang-migrate',
          '  revision: "13"',
          '- name: vector',
          '  tool: golang-migrate',
          '  revision: "3"',
          '  table: vector_schema_migrations',
          '  command: ["/app/kagent", "migrate", "goto", "{{ .Revision }}", "--track", "{{ .Track }}"]',
        ].join('\n'),
        [`${P}stop`]: '- deployment/{{ .Release.Name }}-controller',
      },
      'x',
    );
    assert.equal(c?.tracks.length, 2);
    assert.deepEqual(c?.tracks[1]?.command, ['/app/kagent', 'migrate', 'goto', '{{ .Revision }}', '--track', '{{ .Track }}']);
    assert.deepEqual(c?.run.stop, ['deployment/{{ .Release.Name }}-controller']);
  });

  it('lists every problem at once, each naming the field', () => {
    const problems = invalid({
      [`${P}tracks`]: '- {name: Core, tool: flyway, revision: "1"}\n- {name: b, tool: alembic}',
      [`${P}stop`]: 'pod/x',
    });
    assert.deepEqual(problems.sort(), [
      'run.stop[0]: "pod/x" does not match ^(deployment|deploy|statefulset|sts|daemonset|ds)/[^/\\s]([^/]*[^/\\s])?$',
      'tracks[0].name: "Core" does not match ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
      'tracks[0].tool: "flyway" is not one of "alembic", "golang-migrate", "goose", "dbmate", "sql-migrate", "node-pg-migrate"',
      'tracks[1].revision: is required',
    ]);
  });

  it('refuses an unknown key under the prefix (a typo must not be ignored)', () => {
    const problems = invalid({ [`${P}tool`]: 'alembic', [`${P}revison`]: 'abc' });
    assert.ok(problems.some((p) => p.startsWith(`${P}revison: unknown annotation`)), problems.join('\n'));
  });

  it('refuses mixing the shorthand with a tracks list', () => {
    const problems = invalid({ [`${P}tool`]: 'alembic', [`${P}revision`]: 'a', [`${P}tracks`]: '- {name: a, tool: alembic, revision: b}' });
    assert.ok(problems.some((p) => p.includes('cannot be combined')), problems.join('\n'));
  });

  it('refuses malformed YAML with the key in the message', () => {
    const problems = invalid({ [`${P}tracks`]: '- {name: core, tool: [' });
    assert.ok(problems[0]?.startsWith(`${P}tracks: not valid YAML`), problems.join('\n'));
  });

  it('refuses duplicate track names and unknown placeholders', () => {
    const problems = invalid({
      [`${P}tracks`]: '- {name: a, tool: alembic, revision: x, command: "alembic downgrade {{ .Rev }}"}\n- {name: a, tool: alembic, revision: y}',
      [`${P}workload`]: 'deployment/{{ .Values.name }}',
    });
    assert.ok(problems.some((p) => p.includes('duplicate track name "a"')));
    assert.ok(problems.some((p) => p.startsWith('tracks[0].command: unknown placeholder {{ .Rev }}')));
    assert.ok(problems.some((p) => p.startsWith('run: unknown placeholder {{ .Values.name }}')));
  });

  it('refuses a contract version it does not know', () => {
    const problems = invalid({ [`${P}contract`]: 'v2', [`${P}tool`]: 'alembic', [`${P}revision`]: 'a' });
    assert.deepEqual(problems, ['contract: "v2" is not one of "v1"']);
  });

  it('refuses annotations that carry only run settings and no track', () => {
    const problems = invalid({ [`${P}workload`]: 'deployment/x' });
    assert.ok(problems.some((p) => p.startsWith('no track')), problems.join('\n'));
  });
});

describe('contract: rendering', () => {
  const cases: Array<[string, Contract]> = [
    ['one track', { contract: 'v1', tracks: [{ name: 'main', tool: 'alembic', revision: '0008' }], run: { stop: [] } }],
    [
      'two tracks with commands and run settings',
      {
        contract: 'v1',
        tracks: [
          { name: 'core', tool: 'golang-migrate', revision: '13' },
          { name: 'vector', tool: 'golang-migrate', revision: '3', table: 'vector_schema_migrations', command: ['migrate', 'goto', '{{ .Revision }}'] },
        ],
        run: { workload: 'deployment/{{ .Fullname }}', container: 'controller', databaseUrlEnv: 'PG_URL', stop: ['deployment/a', 'sts/b'] },
      },
    ],
  ];
  for (const [name, contract] of cases) {
    it(`round-trips ${name}`, () => {
      const annotations = renderContract(contract);
      for (const value of Object.values(annotations)) assert.equal(typeof value, 'string');
      assert.deepEqual(parseContract(annotations, 'x'), contract);
    });
  }

  it('quotes revisions in a tracks list so Helm and YAML readers keep them strings', () => {
    const a = renderContract(cases[1]![1]);
    const tracks = parseYaml(a[`${P}tracks`]!) as Array<{ revision: unknown }>;
    assert.deepEqual(tracks.map((t) => t.revision), ['13', '3']);
  });
});

describe('contract: JSON Schema', () => {
  it('names exactly the tools the plugin implements', () => {
    const defs = contractSchema.$defs!;
    assert.deepEqual([...(defs['track']!.properties!['tool']!.enum as string[])].sort(), [...toolNames].sort());
  });
});
