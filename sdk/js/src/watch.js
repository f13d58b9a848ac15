// tasks.watch: follow one task live and call back on each change until it ends.
//
// Why events trigger a fresh GET instead of being delivered themselves: an event says *that*
// the task changed (task_update, task_completed, ...), while the callback wants the whole
// task (status, progress, result, logs) in the same shape `tasks.get` returns. Events are
// durable and numbered, so a dropped connection resumes after the last seen seq and no
// change is missed. Transports: the WebSocket API when the runtime has a global WebSocket
// (Node 22+, browsers), else Server-Sent Events read with fetch (Node 18+).

import { ApiError, ConnectionError } from './errors.js';

/** Statuses after which a task never changes again. */
export const FINAL_STATUSES = Object.freeze(['completed', 'failed', 'cancelled', 'rejected']);
const FINAL = new Set(FINAL_STATUSES);
const WS_AUTH_REFUSED = 1008;

/** What counts as a change worth a callback (not the clock-derived fields). */
function fingerprint(task) {
  return JSON.stringify([task?.status, task?.progress, task?.result, task?.error,
    task?.logs?.length, task?.assigned_agent, task?.started_at, task?.completed_at,
    task?.attempts, task?.priority]);
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

export class TaskWatch {
  /**
   * @param {import('./http.js').Http} http
   * @param {(id: string, signal?: AbortSignal) => Promise<object>} getTask
   * @param {string} taskId
   * @param {(task: object) => void} callback
   * @param {{transport?: 'auto'|'websocket'|'sse', onError?: (error: Error) => void,
   *          maxReconnects?: number, signal?: AbortSignal}} [options]
   */
  constructor(http, getTask, taskId, callback, options = {}) {
    if (typeof callback !== 'function') throw new TypeError('watch(id, callback): callback must be a function');
    this.http = http;
    this.getTask = getTask;
    this.taskId = String(taskId);
    this.callback = callback;
    this.onError = options.onError;
    this.maxReconnects = options.maxReconnects ?? 5;
    const wanted = options.transport ?? 'auto';
    const hasWebSocket = typeof globalThis.WebSocket === 'function';
    if (wanted === 'websocket' && !hasWebSocket) {
      throw new TypeError('this runtime has no global WebSocket (Node 22+ has one; Node 20 needs '
        + '--experimental-websocket); use transport "sse"');
    }
    /** @type {'websocket'|'sse'} */
    this.transport = wanted === 'auto' ? (hasWebSocket ? 'websocket' : 'sse') : wanted;
    this.controller = new AbortController();
    this.stopped = false;
    this.lastSeq = undefined;
    this.lastPrint = undefined;
    this.latest = undefined;
    this.refreshing = undefined;
    this.dirty = false;
    this.socket = undefined;
    this.finished = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this.finished.catch(() => {}); // reported through onError; never an unhandled rejection
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => this.stop());
      else options.signal.addEventListener('abort', () => this.stop(), { once: true });
    }
    this._run().catch((error) => this._fail(error));
  }

  /** Stop watching; `finished` resolves with the last task seen (or undefined). */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.abort();
    this._closeSocket();
    this._resolve(this.latest);
  }

  _fail(error) {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.abort();
    this._closeSocket();
    this._reject(error);
    if (this.onError) this.onError(error);
    else console.error(`tasks.watch(${this.taskId}) stopped:`, error?.message ?? error);
  }

  _closeSocket() {
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState <= 1) socket.close(1000, 'watch stopped');
  }

  /** GET the task (one request at a time; changes seen meanwhile trigger one more). */
  refresh() {
    if (this.stopped) return Promise.resolve();
    if (this.refreshing) {
      this.dirty = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        for (;;) {
          this.dirty = false;
          const task = await this.getTask(this.taskId, this.controller.signal);
          if (this.stopped) return;
          this._deliver(task);
          if (!this.dirty || this.stopped) return;
        }
      } finally {
        this.refreshing = undefined; // same turn as the last `dirty` check: no change is lost
      }
    })().catch((error) => {
      if (error?.name !== 'AbortError') this._fail(error);
    });
    return this.refreshing;
  }

  _deliver(task) {
    this.latest = task;
    const print = fingerprint(task);
    if (print !== this.lastPrint) {
      this.lastPrint = print;
      try {
        this.callback(task);
      } catch (error) {
        this._fail(error);
        return;
      }
    }
    if (FINAL.has(task?.status) && !this.stopped) {
      this.stopped = true;
      this.controller.abort();
      this._closeSocket();
      this._resolve(task);
    }
  }

  async _run() {
    let failures = 0;
    while (!this.stopped) {
      const before = this.lastSeq;
      try {
        if (this.transport === 'websocket') await this._websocket();
        else await this._sse();
      } catch (error) {
        if (this.stopped || error?.name === 'AbortError') return;
        if (!(error instanceof ConnectionError)) throw error; // 4xx and the like: final
        if (this.lastSeq !== before) failures = 0;
        failures += 1;
        if (failures > this.maxReconnects) throw error;
        await sleep(Math.min(250 * 2 ** failures, 5000), this.controller.signal);
        continue;
      }
      if (this.lastSeq !== before) failures = 0;
      if (!this.stopped) {
        failures += 1; // the server ended the stream (restart, dropped subscriber): resume
        if (failures > this.maxReconnects) {
          throw new ConnectionError(`the event stream for task ${this.taskId} kept closing`);
        }
        await sleep(Math.min(250 * 2 ** failures, 5000), this.controller.signal);
      }
    }
  }

  // -- Server-Sent Events over fetch ----------------------------------------------------

  async _sse() {
    const query = { task_id: this.taskId };
    if (this.lastSeq !== undefined) query.after = this.lastSeq;
    const response = await this.http.stream('/events/stream', { query, signal: this.controller.signal });
    // the server subscribes before it answers, so nothing after this GET can be missed
    await this.refresh();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let frame = { id: undefined, event: undefined, data: [] };
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (error?.name === 'AbortError' || this.stopped) return;
          throw new ConnectionError(`event stream interrupted: ${error?.message ?? error}`, { cause: error });
        }
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        let newline;
        while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
          if (line === '') {
            if (frame.data.length || frame.event) {
              const done = this._onSseFrame(frame);
              if (done) return;
            }
            frame = { id: undefined, event: undefined, data: [] };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') frame.data.push(value);
          else if (field === 'event') frame.event = value;
          else if (field === 'id') frame.id = value;
        }
        if (this.stopped) return;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** One SSE frame; true when the stream should be reopened (the server dropped us). */
  _onSseFrame(frame) {
    if (frame.event === 'subscription.dropped') {
      try {
        this.lastSeq = JSON.parse(frame.data.join('\n')).resume_after ?? this.lastSeq;
      } catch { /* keep the last seq */ }
      return true;
    }
    if (frame.id !== undefined && /^\d+$/.test(frame.id)) this.lastSeq = Number(frame.id);
    this.refresh();
    return false;
  }

  // -- WebSocket ----------------------------------------------------------------------

  _websocket() {
    return new Promise((resolve, reject) => {
      const url = `${this.http.baseUrl.replace(/^http/, 'ws')}/ws`;
      let socket;
      try {
        socket = new globalThis.WebSocket(url);
      } catch (error) {
        reject(new ConnectionError(`cannot open ${url}: ${error?.message ?? error}`, { cause: error }));
        return;
      }
      this.socket = socket;
      let authenticated = false;
      let settled = false;
      const settle = (error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
      const subscribe = () => {
        const message = { type: 'subscribe', channel: 'task_events', task_id: this.taskId };
        if (this.lastSeq !== undefined) message.after = this.lastSeq;
        socket.send(JSON.stringify(message));
      };
      socket.addEventListener('open', () => {
        socket.send(JSON.stringify({ type: 'auth', token: this.http.apiKey ?? '' }));
      });
      socket.addEventListener('message', (event) => {
        let message;
        try {
          message = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data));
        } catch {
          return;
        }
        switch (message.type) {
          case 'auth_ok':
            authenticated = true;
            subscribe();
            break;
          case 'subscribed':
            this.refresh();
            break;
          case 'subscription_dropped':
            if (message.resume_after !== undefined) this.lastSeq = message.resume_after;
            subscribe();
            break;
          case 'error':
            // before auth: the credential was refused; after: a subscribe was refused
            settle(new ApiError(authenticated ? 400 : 401, message.detail ?? 'refused',
              { method: 'WS', url }));
            socket.close(1000);
            break;
          default:
            if (typeof message.seq === 'number') this.lastSeq = message.seq;
            if (message.task_id === this.taskId || message.payload?.task_id === this.taskId) this.refresh();
        }
      });
      socket.addEventListener('close', (event) => {
        if (this.socket === socket) this.socket = undefined;
        if (this.stopped) settle();
        else if (event.code === WS_AUTH_REFUSED && !authenticated) {
          settle(new ApiError(401, event.reason || 'WebSocket authentication refused', { method: 'WS', url }));
        } else settle(new ConnectionError(`WebSocket closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`));
      });
      socket.addEventListener('error', () => {
        // a 'close' event always follows and settles the promise
      });
    });
  }
}
