"""The agents peer's Temporal worker (bench S11): the AgentTurn workflow and the plugin's model activity.

The plugin is configured as it ships (ModelActivityParameters defaults: start_to_close 60 s, no
heartbeat timeout, the default retry policy; the default OpenAIProvider with client retries off);
the only choice made here is the wire API: Chat Completions, the one chatd's bench provider uses.
Tracing exports are off (no network).

Env: TEMPORAL_ADDRESS, PEER_TASK_QUEUE, OPENAI_BASE_URL, OPENAI_API_KEY.
"""

import asyncio
import os

from agents import set_default_openai_api, set_tracing_disabled
from temporalio.client import Client
from temporalio.openai_agents import OpenAIAgentsPlugin
from temporalio.worker import Worker

from turn_workflow import AgentTurn


async def main() -> None:
    set_tracing_disabled(True)
    set_default_openai_api("chat_completions")
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], plugins=[OpenAIAgentsPlugin()])
    worker = Worker(client, task_queue=os.environ["PEER_TASK_QUEUE"], workflows=[AgentTurn])
    print("agents peer worker polling", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
