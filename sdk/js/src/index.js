// @agent-orchestration/sdk: the public face. Everything a caller needs is exported here.
export { AgentOrchestrationClient } from './client.js';
export { ApiError, ConnectionError } from './errors.js';
export { FINAL_STATUSES, TaskWatch } from './watch.js';
