"""The agents peer's HTTP endpoint (bench S11), speaking the peers' protocol (README "Peers").

POST /turn starts one AgentTurn workflow (id agents-<thread>-<n>) with the thread's items so far
and waits for its result. The plugin returns the whole model response from its activity, so the
answer is sent as one delta when the workflow completes: the first token arrives with the last.
The thread's items come from the previous turn's workflow result (kept in Temporal's history); this
process holds the latest list in memory to pass it on.

Body: {thread_id, message, model?} (model overrides PEER_MODEL). Env: PEER_PORT, TEMPORAL_ADDRESS, PEER_TASK_QUEUE, PEER_MODEL.
"""

import json
import os
from contextlib import asynccontextmanager

import uvicorn
from agents import set_tracing_disabled
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.openai_agents import OpenAIAgentsPlugin

state: dict = {"threads": {}}


@asynccontextmanager
async def lifespan(_app: Starlette):
    set_tracing_disabled(True)
    state["client"] = await Client.connect(os.environ["TEMPORAL_ADDRESS"], plugins=[OpenAIAgentsPlugin()])
    yield


def sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def turn(request: Request) -> StreamingResponse:
    body = await request.json()
    thread_id = str(body["thread_id"])
    message = str(body["message"])
    # The bench may pick the fake's knobs per turn; PEER_MODEL is the default.
    turn_model = str(body.get("model") or os.environ.get("PEER_MODEL", "fake"))
    thread = state["threads"].setdefault(thread_id, {"items": [], "workflows": []})
    workflow_id = f"agents-{thread_id}-{len(thread['workflows']) + 1}"
    thread["workflows"].append(workflow_id)
    items = thread["items"] + [{"role": "user", "content": message}]

    async def frames():
        try:
            result = await state["client"].execute_workflow(
                "AgentTurn",
                args=[thread_id, turn_model, items],
                id=workflow_id,
                task_queue=os.environ["PEER_TASK_QUEUE"],
            )
            thread["items"] = result["items"]
            yield sse({"type": "delta", "text": result["answer"]})
            yield sse({"type": "done", "text": result["answer"], "workflow_id": workflow_id})
        except Exception as err:  # the protocol reports any failure as an error frame
            yield sse({"type": "error", "message": str(err)})

    return StreamingResponse(frames(), media_type="text/event-stream")


async def thread_info(request: Request) -> JSONResponse:
    """How many of the thread's turns completed in Temporal (their answers are in the histories)."""
    thread = state["threads"].get(request.path_params["id"], {"workflows": []})
    stored = 0
    for workflow_id in thread["workflows"]:
        description = await state["client"].get_workflow_handle(workflow_id).describe()
        stored += 1 if description.status == WorkflowExecutionStatus.COMPLETED else 0
    return JSONResponse({"stored_answers": stored, "workflow_ids": thread["workflows"]})


async def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/turn", turn, methods=["POST"]),
        Route("/thread/{id}", thread_info),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PEER_PORT"]), log_level="warning")
