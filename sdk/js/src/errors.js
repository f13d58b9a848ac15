// Errors the SDK throws. One class for every HTTP refusal, so callers branch on `status`
// (401, 403, 404, 409, 429, ...) and show `detail`, the server's own explanation.

/** The server answered with a status of 400 or more. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status
   * @param {string} detail the server's `detail` (or the body text when it sent no JSON)
   * @param {{method?: string, url?: string, body?: unknown, headers?: Headers}} [info]
   */
  constructor(status, detail, info = {}) {
    super(`${info.method ?? 'HTTP'} ${info.url ?? ''} -> ${status}: ${detail}`.replace('  ', ' '));
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.method = info.method;
    this.url = info.url;
    this.body = info.body;
    this.headers = info.headers;
  }

  /** Seconds the server asked us to wait (429/503 `Retry-After`), or undefined. */
  get retryAfter() {
    const value = this.headers?.get?.('Retry-After');
    if (value == null) return undefined;
    const seconds = Number(value);
    return Number.isFinite(seconds) ? seconds : undefined;
  }
}

/** The request never got an HTTP answer (refused connection, DNS, timeout, abort). */
export class ConnectionError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'ConnectionError';
  }
}
