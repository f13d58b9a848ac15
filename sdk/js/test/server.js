// The server the tests talk to, started by tests/e2e/test_js_sdk.py (`switchboard serve`),
// and a minimal worker (claim, progress, complete) speaking the HTTP API directly.
import assert from 'node:assert/strict';

function need(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/e2e/test_js_sdk.py, `
      + 'which starts `switchboard serve` and passes its URL and keys');
  }
  return value;
}

export const BASE_URL = need('SB_BASE_URL');
/** Where the test worker (claim, progress, complete, approve) talks: SB_BASE_URL unless
 * SB_API_URL sets it apart (the SDK against a dialect, the worker on the canonical API). */
export const API_URL = process.env.SB_API_URL ?? BASE_URL;
export const ADMIN_KEY = need('SB_ADMIN_KEY');
export const AGENT_KEY = need('SB_AGENT_KEY');
export const USER_KEY = need('SB_USER_KEY');

let counter = 0;
/** A name no other test uses (tests share one server). */
export function unique(prefix) {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

async function call(method, path, body, key = AGENT_KEY) {
  const response = await fetch(`${API_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A worker for one agent of its own type: registers (active after its heartbeat), then
 * claims and reports. */
export class Worker {
  constructor(type = unique('sdk_type')) {
    this.type = type;
    this.agentId = unique('sdk_agent');
  }

  async register() {
    const { status, body } = await call('POST', '/agents/register',
      { name: `SDK test worker ${this.agentId}`, type: this.type, agent_id: this.agentId });
    assert.equal(status, 200, JSON.stringify(body));
    const beat = await call('POST', `/agents/${this.agentId}/heartbeat`, {}); // -> active
    assert.equal(beat.status, 200, JSON.stringify(beat.body));
    return this;
  }

  /** Claim the next task (long-poll up to `wait` s); the task with its lease_id. */
  async claim(wait = 10) {
    const { status, body } = await call('POST', '/tasks/claim', { agent_id: this.agentId, wait });
    assert.equal(status, 200, `claim answered ${status}: ${JSON.stringify(body)}`);
    return body.task;
  }

  async progress(task, progress) {
    const { status, body } = await call('POST', `/tasks/${task.id}/progress`,
      { progress, lease_id: task.lease_id });
    assert.equal(status, 200, JSON.stringify(body));
  }

  async complete(task, result) {
    const { status, body } = await call('POST', `/tasks/${task.id}/complete`,
      { result, lease_id: task.lease_id });
    assert.equal(status, 200, JSON.stringify(body));
  }

  async fail(task, error) {
    const { status, body } = await call('POST', `/tasks/${task.id}/fail`,
      { error, lease_id: task.lease_id });
    assert.equal(status, 200, JSON.stringify(body));
  }
}

/** Resolve when `predicate()` holds; fail after `ms` (never a silent pass). */
export async function until(predicate, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
