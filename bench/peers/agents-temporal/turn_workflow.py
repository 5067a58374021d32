"""The agents peer's workflow (bench S11): one Temporal workflow per turn.

It runs one OpenAI Agents SDK agent over the thread's prior items plus the new user message, as the
SDK's conversation samples do (result.to_input_list() + the next message), and returns the answer
with the thread's items for the next turn. Under OpenAIAgentsPlugin the model call runs as the
plugin's activity, which returns the whole model response: the answer is complete when it arrives.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agents import Agent, ModelSettings, Runner


@workflow.defn
class AgentTurn:
    @workflow.run
    async def run(self, thread_id: str, model: str, items: list) -> dict:
        agent = Agent(
            name="Assistant",
            instructions="You are a helpful assistant.",
            model=model,
            # The thread id lets the bench count provider calls per turn (the fake records headers).
            model_settings=ModelSettings(extra_headers={"X-Chatd-Chat-Id": thread_id}),
        )
        result = await Runner.run(agent, items)
        return {"answer": str(result.final_output), "items": result.to_input_list()}
