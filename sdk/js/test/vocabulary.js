// Everything these tests assert that differs between the API's dialects, in one place.
//
// The tests run against the canonical API (`/api/v1`, this project's own vocabulary). Seed
// 001's dialect (`/v1`) answers with the seed's words: to run the same tests there, set
// SB_DIALECT=seed001 and SB_BASE_URL to the `/v1` base (SB_API_URL keeps the test worker on
// `/api/v1`).
const seed001 = process.env.SB_DIALECT === 'seed001';

/** A task routed to its agent and waiting for a worker. Seed 001: pending. */
export const QUEUED = seed001 ? 'pending' : 'assigned';
/** A P0/P1 task waiting for its approval. Seed 001: pending. */
export const AWAITING_APPROVAL = seed001 ? 'pending' : 'awaiting_approval';
/** A task a worker holds. Seed 001: running. */
export const RUNNING = seed001 ? 'running' : 'in_progress';
/** `priority: 'medium'` as the API answers it. Seed 001: medium. */
export const MEDIUM = seed001 ? 'medium' : 'P2';
/** The status for invalid input, at every base (the seeds' tables): 400. */
export const INVALID_INPUT = 400;
