// Seed 001's "JavaScript SDK" example as the seed prints it. Two syntax gaps are closed:
// the constructor's options object gets its `});`, and nothing else changes. The pytest
// test tests/e2e/test_js_sdk.py runs it against a real server, changing only the scheme,
// host and port of the base URL.
import { AgentOrchestrationClient } from '@agent-orchestration/sdk';
// Initialize client
const client = new AgentOrchestrationClient({
 apiKey: 'YOUR API KEY',
 baseUrl: 'https://api.agent-orchestration-ops.com/v1'
});
// List agents
const agents = await client.agents.list({ status: 'active' });
console.log(`Found ${agents.length} active agents`);
// Create and monitor task
const task = await client.tasks.create({
 agentId: 'agent_123',
  type: 'data_processing',
 payload: { source: 'database' },
 priority: 'medium'
});
// Real-time monitoring
client.tasks.watch(task.id, (updatedTask) => {
  console.log(`Task progress: ${updatedTask.progress}%`);
 if (updatedTask.status === 'completed') {
    console.log('Task completed:', updatedTask.result);
 }
});
