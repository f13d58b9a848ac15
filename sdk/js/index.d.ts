// Type declarations for @agent-orchestration/sdk (seed 001's JavaScript SDK).
// Responses keep the API's snake_case field names; inputs may be camelCase (`agentId`).

export interface ClientOptions {
  /** API key or JWT, sent as `Authorization: Bearer <apiKey>` (and as the WebSocket auth token). */
  apiKey?: string;
  /** The API base, e.g. `http://localhost:8000/api/v1`. */
  baseUrl: string;
  /** Per-request timeout in milliseconds (default 30000; 0 = none). */
  timeoutMs?: number;
  /** A fetch implementation (default: the global one, Node 18+). */
  fetch?: typeof fetch;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
}

export interface Pagination {
  page: number;
  limit: number;
  total: number;
  pages: number;
}

/** A page of results: an array that also carries `pagination`. */
export type Page<T> = T[] & { readonly pagination?: Pagination };

export type AgentStatus = 'initializing' | 'active' | 'inactive' | 'error';

export interface AgentConfiguration {
  max_concurrent_tasks?: number;
  timeout?: number;
  retry_attempts?: number;
  [key: string]: unknown;
}

export interface Agent {
  id: string;
  name: string;
  type: string;
  status: AgentStatus | string;
  configuration?: AgentConfiguration;
  environment?: string | null;
  health?: { status: string; last_check: string | null; uptime: number };
  metrics?: {
    tasks_completed: number;
    tasks_failed?: number;
    success_rate: number;
    avg_response_time: number;
    memory_usage?: number | null;
    cpu_usage?: number | null;
  };
  created_at?: string;
  updated_at?: string;
  [key: string]: unknown;
}

export interface AgentConfigurationInput {
  maxConcurrentTasks?: number;
  timeout?: number;
  retryAttempts?: number;
}

export interface CreateAgentInput {
  name: string;
  type: string;
  configuration?: AgentConfigurationInput;
  environment?: string;
  /** Choose the id instead of letting the server pick one. */
  id?: string;
  owner?: string;
}

export interface UpdateAgentInput {
  name?: string;
  configuration?: AgentConfigurationInput;
  environment?: string;
  status?: 'active' | 'inactive' | 'error';
  owner?: string | null;
}

export interface ListAgentsParams {
  status?: AgentStatus;
  type?: string;
  page?: number;
  limit?: number;
}

export type Priority = 'low' | 'medium' | 'high' | 'critical' | 'P0' | 'P1' | 'P2' | 'P3';

export interface TaskLog {
  timestamp: string;
  level: string;
  message: string;
}

export interface Task {
  id: string;
  task_id?: string;
  agent_id?: string | null;
  type: string;
  status: string;
  priority: string;
  progress?: number;
  payload?: Record<string, unknown>;
  result?: unknown;
  error?: string | null;
  logs?: TaskLog[];
  created_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  estimated_completion?: string | null;
  duration?: number | null;
  [key: string]: unknown;
}

export interface CreateTaskInput {
  agentId?: string;
  type: string;
  priority?: Priority;
  payload?: Record<string, unknown>;
  schedule?: { type: 'immediate' | 'scheduled' | 'at' | 'delayed'; at?: string; delaySeconds?: number };
  metadata?: Record<string, unknown>;
  source?: string;
  slaTarget?: number;
  idempotencyKey?: string;
  maxAttempts?: number;
}

export interface ListTasksParams {
  agentId?: string;
  status?: string;
  priority?: Priority;
  type?: string;
  createdAfter?: Date | string;
  createdBefore?: Date | string;
  page?: number;
  limit?: number;
}

export interface WatchOptions {
  /** 'auto' (default): WebSocket when the runtime has one, else Server-Sent Events. */
  transport?: 'auto' | 'websocket' | 'sse';
  /** Called once if watching fails for good (default: the error is logged with console.error). */
  onError?: (error: Error) => void;
  /** Reconnect attempts in a row before giving up (default 5). */
  maxReconnects?: number;
  /** Aborting it stops the watch. */
  signal?: AbortSignal;
}

export declare const FINAL_STATUSES: readonly string[];

export declare class TaskWatch {
  readonly taskId: string;
  readonly transport: 'websocket' | 'sse';
  /** Resolves with the final task (or the last one seen when stopped); rejects if watching failed. */
  readonly finished: Promise<Task | undefined>;
  /** Stop watching. */
  stop(): void;
}

export declare class ApiError extends Error {
  readonly name: 'ApiError';
  /** HTTP status (400, 401, 403, 404, 409, 429, ...). */
  readonly status: number;
  /** The server's explanation (`detail` of its JSON body). */
  readonly detail: string;
  readonly method?: string;
  readonly url?: string;
  readonly body?: unknown;
  readonly headers?: Headers;
  /** Seconds from `Retry-After`, when the server sent it. */
  readonly retryAfter: number | undefined;
  constructor(status: number, detail: string, info?: { method?: string; url?: string; body?: unknown; headers?: Headers });
}

export declare class ConnectionError extends Error {
  readonly name: 'ConnectionError';
}

export declare class AgentsApi {
  list(params?: ListAgentsParams): Promise<Page<Agent>>;
  get(agentId: string): Promise<Agent>;
  create(input: CreateAgentInput): Promise<Agent>;
  update(agentId: string, changes: UpdateAgentInput): Promise<Agent>;
  delete(agentId: string): Promise<{ message: string; deleted_at: string }>;
}

export declare class TasksApi {
  create(input: CreateTaskInput): Promise<Task>;
  get(taskId: string, options?: { signal?: AbortSignal }): Promise<Task>;
  list(params?: ListTasksParams): Promise<Page<Task>>;
  watch(taskId: string, callback: (task: Task) => void, options?: WatchOptions): TaskWatch;
}

export declare class AgentOrchestrationClient {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  readonly agents: AgentsApi;
  readonly tasks: TasksApi;
}
