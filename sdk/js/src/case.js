// camelCase inputs (`agentId`, as the seed's example writes them) -> the API's snake_case.
//
// Only the SDK's own parameter names are converted: free-form user data (`payload`,
// `metadata`, `result`) goes to the server exactly as given, since its keys are the
// caller's vocabulary, not ours.

const OPAQUE = new Set(['payload', 'metadata', 'result', 'parameters', 'context']);

/** `agentId` -> `agent_id`; names already in snake_case stay as they are. */
export function snake(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** A copy of `input` with its keys (and nested option objects' keys) in snake_case. */
export function toSnake(input) {
  if (Array.isArray(input)) return input.map(toSnake);
  if (input === null || typeof input !== 'object' || input instanceof Date) return input;
  const out = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const name = snake(key);
    out[name] = OPAQUE.has(name) ? value : toSnake(value);
  }
  return out;
}

/** Query parameters: snake_case names, Dates as ISO strings, arrays repeated. */
export function toQuery(params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      query.append(snake(key), item instanceof Date ? item.toISOString() : String(item));
    }
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}
