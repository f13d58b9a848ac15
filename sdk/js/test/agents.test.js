// agents.list/get/create/update/delete against a real server, and how refusals surface.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { AgentOrchestrationClient, ApiError, ConnectionError } from '../src/index.js';
import { ADMIN_KEY, BASE_URL, USER_KEY, Worker, unique } from './server.js';
import { INVALID_INPUT } from './vocabulary.js';

const admin = new AgentOrchestrationClient({ apiKey: ADMIN_KEY, baseUrl: BASE_URL });
const user = new AgentOrchestrationClient({ apiKey: USER_KEY, baseUrl: BASE_URL });

describe('agents', () => {
  test('create (camelCase input) -> get -> update -> delete', async () => {
    const id = unique('agent');
    const created = await admin.agents.create({
      id,
      name: 'New Processing Agent',
      type: 'data_processor',
      configuration: { maxConcurrentTasks: 5, timeout: 300, retryAttempts: 3 },
      environment: 'production',
    });
    assert.equal(created.id, id);
    assert.equal(created.name, 'New Processing Agent');
    assert.equal(created.status, 'initializing');

    const fetched = await admin.agents.get(id);
    assert.equal(fetched.type, 'data_processor');
    assert.equal(fetched.configuration.max_concurrent_tasks, 5);
    assert.equal(fetched.configuration.retry_attempts, 3);
    assert.ok(fetched.health && fetched.metrics, 'health and metrics are part of an agent');

    const updated = await admin.agents.update(id, {
      name: 'Updated Agent Name',
      configuration: { maxConcurrentTasks: 15, timeout: 600 },
    });
    assert.equal(updated.name, 'Updated Agent Name');
    assert.equal(updated.configuration.max_concurrent_tasks, 15);
    assert.equal(updated.configuration.timeout, 600);

    const deleted = await admin.agents.delete(id);
    assert.equal(deleted.message, 'Agent deleted successfully');
    assert.match(deleted.deleted_at, /^\d{4}-\d\d-\d\dT/);

    await assert.rejects(admin.agents.get(id), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 404);
      assert.match(error.detail, new RegExp(id));
      return true;
    });
  });

  test('list: an array with pagination, filtered by status and type', async () => {
    const worker = await new Worker(unique('listed_type')).register(); // heartbeat: active
    const other = unique('agent');
    await admin.agents.create({ id: other, name: 'Idle', type: worker.type });

    const all = await user.agents.list({ type: worker.type });
    assert.ok(Array.isArray(all));
    assert.deepEqual(all.map((a) => a.id).sort(), [worker.agentId, other].sort());
    assert.equal(all.pagination.total, 2);
    assert.equal(all.pagination.page, 1);

    const active = await user.agents.list({ status: 'active', type: worker.type });
    assert.deepEqual(active.map((a) => a.id), [worker.agentId]);

    const firstPage = await user.agents.list({ type: worker.type, limit: 1 });
    assert.equal(firstPage.length, 1);
    assert.equal(firstPage.pagination.pages, 2);
  });

  test('refusals are ApiError with status and detail', async () => {
    await assert.rejects(user.agents.create({ name: 'x', type: 'y' }), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 403);
      assert.ok(error.detail.length > 0);
      return true;
    });
    await assert.rejects(admin.agents.create({ type: 'no_name' }), (error) => {
      assert.equal(error.status, INVALID_INPUT);
      assert.match(error.detail, /name/);
      return true;
    });
    const stranger = new AgentOrchestrationClient({ apiKey: 'not-a-key', baseUrl: BASE_URL });
    await assert.rejects(stranger.agents.list(), (error) => {
      assert.equal(error.status, 401);
      return true;
    });
  });

  test('an unreachable server is a ConnectionError, not an ApiError', async () => {
    const nowhere = new AgentOrchestrationClient({ apiKey: ADMIN_KEY, baseUrl: 'http://127.0.0.1:9/api/v1' });
    await assert.rejects(nowhere.agents.list(), ConnectionError);
  });

  test('ids are required and encoded into the path', async () => {
    assert.throws(() => admin.tasks.watch('', () => {}), TypeError);
    await assert.rejects(admin.agents.get(''), TypeError);
    await assert.rejects(admin.agents.get('a/b'), (error) => error.status === 404);
  });
});
