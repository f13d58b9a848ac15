// AgentOrchestrationClient: seed 001's JavaScript SDK over the HTTP API.

import { toSnake } from './case.js';
import { Http } from './http.js';
import { TaskWatch } from './watch.js';

/** The object inside an envelope: `{data}` (seed 001), `{task}` (seed 003) or the body itself. */
function unwrap(body) {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    if (body.data !== undefined && !Array.isArray(body.data)) return body.data;
    if (body.task !== undefined) return body.task;
  }
  return body;
}

/** A list page: an array of items that also carries `pagination` (not enumerable). */
function page(body) {
  const items = Array.isArray(body) ? [...body] : Array.isArray(body?.data) ? [...body.data] : [];
  Object.defineProperty(items, 'pagination', {
    value: body?.pagination,
    enumerable: false,
  });
  return items;
}

function path(id, what) {
  if (id === undefined || id === null || id === '') throw new TypeError(`${what} id is required`);
  return encodeURIComponent(String(id));
}

class Agents {
  constructor(http) { this.http = http; }

  /** Agents, one page: `{status, type, page, limit}`. */
  async list(params = {}) {
    return page(await this.http.request('GET', '/agents', { query: params }));
  }

  async get(agentId) {
    return unwrap(await this.http.request('GET', `/agents/${path(agentId, 'agent')}`));
  }

  /** `{name, type, configuration: {maxConcurrentTasks, timeout, retryAttempts}, environment}`. */
  async create(input) {
    return unwrap(await this.http.request('POST', '/agents', { body: toSnake(input ?? {}) }));
  }

  async update(agentId, changes) {
    return unwrap(await this.http.request('PUT', `/agents/${path(agentId, 'agent')}`,
      { body: toSnake(changes ?? {}) }));
  }

  /** Resolves with `{message, deleted_at}`. */
  async delete(agentId) {
    return this.http.request('DELETE', `/agents/${path(agentId, 'agent')}`);
  }
}

class Tasks {
  constructor(http) { this.http = http; }

  /** `{agentId, type, priority, payload, schedule, ...}`; resolves with the task. */
  async create(input) {
    return unwrap(await this.http.request('POST', '/tasks', { body: toSnake(input ?? {}) }));
  }

  async get(taskId, { signal } = {}) {
    return unwrap(await this.http.request('GET', `/tasks/${path(taskId, 'task')}`, { signal }));
  }

  /** Tasks, one page: `{agentId, status, priority, type, createdAfter, createdBefore, page, limit}`. */
  async list(params = {}) {
    return page(await this.http.request('GET', '/tasks', { query: params }));
  }

  /**
   * Call `callback(task)` now and on every change until the task ends (completed, failed,
   * cancelled, rejected). Returns a handle: `stop()`, `finished` (a promise of the last
   * task), `transport` ('websocket' or 'sse').
   */
  watch(taskId, callback, options = {}) {
    path(taskId, 'task');
    return new TaskWatch(this.http, (id, signal) => this.get(id, { signal }), taskId, callback, options);
  }
}

export class AgentOrchestrationClient {
  /**
   * @param {{apiKey?: string, baseUrl: string, timeoutMs?: number, fetch?: typeof fetch,
   *          headers?: Record<string, string>}} options
   */
  constructor(options = {}) {
    this.http = new Http(options);
    this.agents = new Agents(this.http);
    this.tasks = new Tasks(this.http);
  }

  get baseUrl() { return this.http.baseUrl; }
}
