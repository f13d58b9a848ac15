"""Seed 002's Python client, verbatim (only ``import json`` added: the seed uses
``json.loads`` without importing it), plus its "Multi-Provider Workflow" example with the
base URL and API key as arguments — the only change a user makes."""
# ruff: noqa: UP006, UP035, UP045, I001, F401

import asyncio
import json
import httpx
from typing import AsyncGenerator, Dict, List, Optional


class OrchestrationClient:
    def __init__(self, base_url: str, api_key: str):
        self.base_url = base_url
        self.api_key = api_key
        self.headers = {"Authorization": f"Bearer {api_key}"}

    async def generate_workflow(
        self,
        task: str,
        context: Optional[Dict] = None
    ) -> Dict:
        """Generate a workflow without execution."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/generate",
                json={"task": task, "context": context or {}},
                headers=self.headers
            )
            response.raise_for_status()
            return response.json()

    async def refine_workflow(
        self,
        workflow: Dict,
        requirements: List[str],
        context: Optional[Dict] = None
    ) -> Dict:
        """Refine an existing workflow."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/refine",
                json={
                    "workflow": workflow,
                    "requirements": requirements,
                    "context": context or {}
                },
                headers=self.headers
            )
            response.raise_for_status()
            return response.json()

    async def execute_workflow_stream(
        self,
        workflow: Dict,
        parameters: Optional[Dict] = None
    ) -> AsyncGenerator[Dict, None]:
        """Execute workflow with streaming updates."""
        async with httpx.AsyncClient() as client:
            async with client.stream(
                "POST",
                f"{self.base_url}/execute",
                json={
                    "workflow": workflow,
                    "parameters": parameters or {},
                    "options": {"stream": True}
                },
                headers=self.headers
            ) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line[6:])


async def create_comprehensive_deployment(base_url: str, api_key: str):
    client = OrchestrationClient(base_url, api_key)

    # Step 1: Generate initial workflow with ADK
    workflow = await client.generate_workflow(
        task="Deploy microservices with monitoring and logging",
        context={
            "services": ["api", "web", "worker"],
            "environment": "production"
        }
    )

    # Step 2: Refine with additional requirements
    refined_workflow = await client.refine_workflow(
        workflow["workflow"],
        requirements=[
            "Add Prometheus monitoring for all services",
            "Include ELK stack for centralized logging",
            "Add health checks and readiness probes",
            "Include rollback strategy for failed deployments"
        ]
    )

    # Step 3: Execute with streaming monitoring
    print("🚀 Starting deployment...")
    async for event in client.execute_workflow_stream(
        refined_workflow["workflow"],
        parameters={
            "image_tag": "v2.1.0",
            "replicas": 3,
            "monitoring_enabled": True
        }
    ):
        event_type = event.get("event", "unknown")

        if event_type == "step_start":
            print(f"▶️ Starting: {event['step']}")
        elif event_type == "step_complete":
            status = event["status"]
            duration = event["duration"]
            emoji = "✅" if status == "success" else "❌"
            print(f"{emoji} {event['step']}: {status} ({duration}s)")
        elif event_type == "execution_complete":
            print(f"🎉 Deployment complete! Status: {event['status']}")
