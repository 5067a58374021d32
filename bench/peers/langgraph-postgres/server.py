"""LangGraph with its PostgreSQL checkpointer behind the peers' streaming protocol (bench S11).

One graph: a single model node over MessagesState, compiled with AsyncPostgresSaver on a psycopg
connection pool (setup() at start). thread_id = the client's thread; each POST /turn runs the graph
with the new user message and streams the model's tokens (stream_mode="messages") as SSE deltas.
The checkpointer persists the thread's messages after every step, so a turn is durable once its
node finished; a crash inside the model node loses that turn (nothing resumes it by itself).

Body: {thread_id, message, model?} (model overrides PEER_MODEL). Env: PEER_PORT, OPENAI_BASE_URL, OPENAI_API_KEY, PEER_MODEL, PEER_DATABASE_URL.
"""

import json
import os
from contextlib import asynccontextmanager

import uvicorn
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

model = ChatOpenAI(
    model=os.environ.get("PEER_MODEL", "fake"),
    base_url=os.environ.get("OPENAI_BASE_URL"),
    api_key=os.environ.get("OPENAI_API_KEY", "peer"),
    streaming=True,
    use_responses_api=False,
    max_retries=0,
)


async def call_model(state: MessagesState, config: RunnableConfig) -> dict:
    configurable = config["configurable"]
    # The thread id lets the bench count provider calls per turn (the fake records headers).
    response = await model.ainvoke(
        state["messages"],
        model=configurable["model"],
        extra_headers={"X-Chatd-Chat-Id": configurable["thread_id"]},
    )
    return {"messages": [response]}


def build_graph(checkpointer: AsyncPostgresSaver):
    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)


state: dict = {}


@asynccontextmanager
async def lifespan(_app: Starlette):
    pool = AsyncConnectionPool(
        conninfo=os.environ["PEER_DATABASE_URL"],
        min_size=4,
        max_size=20,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open()
    checkpointer = AsyncPostgresSaver(pool)
    await checkpointer.setup()
    state["graph"] = build_graph(checkpointer)
    try:
        yield
    finally:
        await pool.close()


def sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def turn(request: Request) -> StreamingResponse:
    body = await request.json()
    thread_id = str(body["thread_id"])
    message = str(body["message"])
    # The bench may pick the fake's knobs per turn; PEER_MODEL is the default.
    turn_model = str(body.get("model") or model.model_name)
    graph = state["graph"]

    async def frames():
        text = ""
        try:
            async for chunk, _meta in graph.astream(
                {"messages": [HumanMessage(message)]},
                config={"configurable": {"thread_id": thread_id, "model": turn_model}},
                stream_mode="messages",
            ):
                if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str) and chunk.content:
                    text += chunk.content
                    yield sse({"type": "delta", "text": chunk.content})
            yield sse({"type": "done", "text": text})
        except Exception as err:  # the protocol reports any failure as an error frame
            yield sse({"type": "error", "message": str(err)})

    return StreamingResponse(frames(), media_type="text/event-stream")


async def thread(request: Request) -> JSONResponse:
    """How many answers the checkpointer holds for the thread."""
    snapshot = await state["graph"].aget_state({"configurable": {"thread_id": request.path_params["id"]}})
    messages = snapshot.values.get("messages", []) if snapshot and snapshot.values else []
    return JSONResponse({"stored_answers": sum(1 for m in messages if isinstance(m, AIMessage))})


async def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/turn", turn, methods=["POST"]),
        Route("/thread/{id}", thread),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PEER_PORT"]), log_level="warning")
