// tasks.create/get/list and tasks.watch against a real server and a real (HTTP) worker.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { AgentOrchestrationClient, ApiError } from '../src/index.js';
import { ADMIN_KEY, AGENT_KEY, API_URL, BASE_URL, Worker, unique, until } from './server.js';
import { AWAITING_APPROVAL, MEDIUM, QUEUED, RUNNING } from './vocabulary.js';

const client = new AgentOrchestrationClient({ apiKey: AGENT_KEY, baseUrl: BASE_URL });
const HAS_WEBSOCKET = typeof globalThis.WebSocket === 'function';
const TRANSPORTS = ['sse', 'websocket'];

describe('tasks', () => {
  test('create (agentId, priority medium) -> get -> list', async () => {
    const worker = await new Worker().register();
    const task = await client.tasks.create({
      agentId: worker.agentId,
      type: 'data_processing',
      payload: { source: 'database', camelCaseKey: 'kept as is' },
      priority: 'medium',
      schedule: { type: 'immediate' },
    });
    assert.equal(task.agent_id, worker.agentId);
    assert.equal(task.type, 'data_processing');
    assert.equal(task.status, QUEUED);
    assert.equal(task.priority, MEDIUM);
    assert.deepEqual(task.payload, { source: 'database', camelCaseKey: 'kept as is' });

    const fetched = await client.tasks.get(task.id);
    assert.equal(fetched.id, task.id);
    assert.equal(fetched.progress, 0);

    const listed = await client.tasks.list({ agentId: worker.agentId });
    assert.deepEqual(listed.map((t) => t.id), [task.id]);
    assert.equal(listed.pagination.total, 1);
    const queued = await client.tasks.list({ agentId: worker.agentId, status: QUEUED, priority: 'medium' });
    assert.deepEqual(queued.map((t) => t.id), [task.id]);
    const running = await client.tasks.list({ agentId: worker.agentId, status: RUNNING });
    assert.deepEqual(running, []);
    const later = await client.tasks.list({ agentId: worker.agentId, createdAfter: new Date(Date.now() + 60_000) });
    assert.deepEqual(later, []);
  });

  test('get of an unknown task is ApiError 404', async () => {
    await assert.rejects(client.tasks.get('task_does_not_exist'), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 404);
      assert.match(error.detail, /task_does_not_exist/);
      return true;
    });
  });

  test('watch picks WebSocket when the runtime has one, else SSE', async () => {
    const worker = await new Worker().register();
    const task = await client.tasks.create({ agentId: worker.agentId, type: 'auto_transport' });
    const watch = client.tasks.watch(task.id, () => {});
    assert.equal(watch.transport, HAS_WEBSOCKET ? 'websocket' : 'sse');
    watch.stop();
    assert.equal((await watch.finished)?.id ?? task.id, task.id);
  });

  for (const transport of TRANSPORTS) {
    describe(`watch over ${transport}`, { skip: transport === 'websocket' && !HAS_WEBSOCKET
      ? 'no global WebSocket in this Node (22+ has one; 20 needs --experimental-websocket)' : false }, () => {
      test('calls back on each change and stops after completed', async () => {
        const worker = await new Worker().register();
        const task = await client.tasks.create({ agentId: worker.agentId, type: 'watched', priority: 'medium' });
        const seen = [];
        const watch = client.tasks.watch(task.id, (t) => seen.push({ status: t.status, progress: t.progress }),
          { transport });
        assert.equal(watch.transport, transport);
        await until(() => seen.length >= 1, 10_000, 'the first callback');
        assert.deepEqual(seen[0], { status: QUEUED, progress: 0 });

        const held = await worker.claim();
        await until(() => seen.some((s) => s.status === RUNNING), 10_000, 'the running callback');
        await worker.progress(held, 40);
        await until(() => seen.some((s) => s.progress === 40), 10_000, 'progress 40');
        await worker.progress(held, 80);
        await until(() => seen.some((s) => s.progress === 80), 10_000, 'progress 80');
        await worker.complete(held, { records_processed: 1000, success: true });

        const final = await watch.finished;
        assert.equal(final.status, 'completed');
        assert.deepEqual(final.result, { records_processed: 1000, success: true });
        assert.equal(seen.at(-1).status, 'completed');
        const progress = seen.map((s) => s.progress);
        assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes back');
        const count = seen.length;
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(seen.length, count, 'no callback after the final status');
      });

      test('a failed task ends the watch with its error', async () => {
        const worker = await new Worker().register();
        const task = await client.tasks.create({ agentId: worker.agentId, type: 'doomed' });
        const statuses = [];
        const watch = client.tasks.watch(task.id, (t) => statuses.push(t.status), { transport });
        const held = await worker.claim();
        await worker.fail(held, 'disk full');
        const final = await watch.finished;
        assert.equal(final.status, 'failed');
        assert.match(final.error, /disk full/);
        assert.equal(statuses.at(-1), 'failed');
      });

      test('a task already finished: one callback, then done', async () => {
        const worker = await new Worker().register();
        const task = await client.tasks.create({ agentId: worker.agentId, type: 'quick' });
        const held = await worker.claim();
        await worker.complete(held, { ok: true });
        const calls = [];
        const watch = client.tasks.watch(task.id, (t) => calls.push(t), { transport });
        const final = await watch.finished;
        assert.equal(final.status, 'completed');
        assert.equal(calls.length, 1);
      });

      test('stop() ends the watch: later changes call nobody', async () => {
        const worker = await new Worker().register();
        const task = await client.tasks.create({ agentId: worker.agentId, type: 'stopped' });
        const seen = [];
        const watch = client.tasks.watch(task.id, (t) => seen.push(t.status), { transport });
        await until(() => seen.length === 1, 10_000, 'the first callback');
        watch.stop();
        const last = await watch.finished;
        assert.equal(last.status, QUEUED);
        const held = await worker.claim();
        await worker.complete(held, {});
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(seen, [QUEUED]);
      });

      test('an unknown task: finished rejects with ApiError 404 and onError is told', async () => {
        let reported;
        const watch = client.tasks.watch('task_nope', () => assert.fail('no callback expected'),
          { transport, onError: (error) => { reported = error; } });
        await assert.rejects(watch.finished, (error) => error instanceof ApiError && error.status === 404);
        assert.equal(reported?.status, 404);
      });

      test('a refused credential: ApiError 401', async () => {
        const worker = await new Worker().register();
        const task = await client.tasks.create({ agentId: worker.agentId, type: 'secret' });
        const stranger = new AgentOrchestrationClient({ apiKey: 'wrong-key', baseUrl: BASE_URL });
        const watch = stranger.tasks.watch(task.id, () => {}, { transport, onError: () => {} });
        await assert.rejects(watch.finished, (error) => error instanceof ApiError && error.status === 401);
      });
    });
  }

  test('an approval gate: a P0 task waits, then runs once approved', async () => {
    const worker = await new Worker().register();
    const task = await client.tasks.create({ agentId: worker.agentId, type: 'urgent', priority: 'critical' });
    const statuses = [];
    const watch = client.tasks.watch(task.id, (t) => statuses.push(t.status));
    await until(() => statuses.length === 1, 10_000, 'the first callback');
    const admin = new AgentOrchestrationClient({ apiKey: ADMIN_KEY, baseUrl: BASE_URL });
    const approvalId = (await admin.tasks.get(task.id)).approval_id;
    assert.ok(approvalId, 'a P0 task names its approval');
    const approved = await fetch(`${API_URL}/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({}),
    });
    assert.equal(approved.status, 200, await approved.text());
    const held = await worker.claim();
    await worker.complete(held, { done: true });
    assert.equal((await watch.finished).status, 'completed');
    assert.equal(statuses[0], AWAITING_APPROVAL);
  });
});
