// index.d.ts must declare what the package exports, and every method the client has:
// a cheap guard against the declarations drifting from the code (no TypeScript needed).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import * as sdk from '../src/index.js';

const declarations = await readFile(new URL('../index.d.ts', import.meta.url), 'utf8');

test('every export is declared', () => {
  for (const name of Object.keys(sdk)) {
    assert.match(declarations, new RegExp(`export declare (class|const|function) ${name}\\b`), name);
  }
});

test('every client method is declared on its API class', () => {
  const client = new sdk.AgentOrchestrationClient({ baseUrl: 'http://127.0.0.1:9/api/v1' });
  for (const [api, declared] of [['agents', 'AgentsApi'], ['tasks', 'TasksApi']]) {
    const body = declarations.split(`export declare class ${declared} {`)[1].split('\n}')[0];
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(client[api]))
      .filter((name) => name !== 'constructor');
    assert.ok(methods.length >= 4, api);
    for (const method of methods) assert.match(body, new RegExp(`\\n  ${method}\\(`), `${api}.${method}`);
  }
});

test('package.json points at the declarations and the ESM entry', async () => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.name, '@agent-orchestration/sdk');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.equal(pkg.exports['.'].import, './src/index.js');
  assert.deepEqual(pkg.dependencies ?? {}, {}, 'no runtime dependencies');
});
