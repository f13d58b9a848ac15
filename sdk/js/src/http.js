// One place that talks HTTP: headers, timeouts, JSON in and out, errors as ApiError.

import { ApiError, ConnectionError } from './errors.js';
import { toQuery } from './case.js';

const DEFAULT_TIMEOUT_MS = 30_000;

export class Http {
  /**
   * @param {{apiKey?: string, baseUrl: string, timeoutMs?: number, fetch?: typeof fetch,
   *          headers?: Record<string, string>}} options
   */
  constructor({ apiKey, baseUrl, timeoutMs = DEFAULT_TIMEOUT_MS, fetch: fetchImpl, headers = {} }) {
    if (!baseUrl) throw new TypeError('baseUrl is required, e.g. "http://localhost:8000/api/v1"');
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.apiKey = apiKey;
    this.timeoutMs = timeoutMs;
    this.fetch = fetchImpl ?? globalThis.fetch;
    if (typeof this.fetch !== 'function') {
      throw new TypeError('no fetch: use Node 18+ or pass { fetch } to the client');
    }
    this.extraHeaders = headers;
  }

  url(path, query) {
    return `${this.baseUrl}${path}${query ? toQuery(query) : ''}`;
  }

  headers(extra = {}) {
    const headers = { Accept: 'application/json', ...this.extraHeaders, ...extra };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  /**
   * Send a request; resolve with the decoded JSON body (undefined for 204).
   * @param {string} method
   * @param {string} path relative to baseUrl, starting with '/'
   * @param {{query?: object, body?: unknown, signal?: AbortSignal, timeoutMs?: number}} [options]
   */
  async request(method, path, { query, body, signal, timeoutMs } = {}) {
    const url = this.url(path, query);
    const limit = timeoutMs ?? this.timeoutMs;
    const signals = [signal, limit ? AbortSignal.timeout(limit) : undefined].filter(Boolean);
    const init = {
      method,
      headers: this.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signals.length > 1 ? anySignal(signals) : signals[0],
    };
    let response;
    try {
      response = await this.fetch(url, init);
    } catch (error) {
      if (error?.name === 'TimeoutError') {
        throw new ConnectionError(`${method} ${url}: no answer within ${limit} ms`, { cause: error });
      }
      if (error?.name === 'AbortError') throw error;
      throw new ConnectionError(`${method} ${url}: ${error?.cause?.message ?? error?.message ?? error}`,
        { cause: error });
    }
    return decode(response, method, url);
  }

  /** Open a streaming GET (SSE); the caller reads `response.body`. */
  async stream(path, { query, signal, headers = {} } = {}) {
    const url = this.url(path, query);
    let response;
    try {
      response = await this.fetch(url, {
        method: 'GET',
        headers: this.headers({ Accept: 'text/event-stream', ...headers }),
        signal,
      });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new ConnectionError(`GET ${url}: ${error?.cause?.message ?? error?.message ?? error}`,
        { cause: error });
    }
    if (!response.ok) await decode(response, 'GET', url); // throws ApiError
    return response;
  }
}

async function decode(response, method, url) {
  if (response.status === 204) return undefined;
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const detail = typeof data?.detail === 'string' ? data.detail
      : data?.detail !== undefined ? JSON.stringify(data.detail)
      : text.slice(0, 500) || response.statusText;
    throw new ApiError(response.status, detail, { method, url, body: data ?? text, headers: response.headers });
  }
  return data;
}

/** AbortSignal.any for Node 18/19, which lack it. */
function anySignal(signals) {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(signals);
  const controller = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}
