/**
 * /chats: create, list, read, update, pin and archive chats; mark them read; send, list and edit
 * messages; control the queue; interrupt; the stored git diff of the chat's workspace; and the two SSE streams (one chat,
 * and the caller's lifecycle feed). Handlers only read the validated input, call the chat service
 * or the stream, and shape the response.
 */
import Router from '@koa/router';
import {
  createChat,
  deleteQueuedMessageById,
  editMessage,
  getChat,
  getChatDto,
  interruptChat,
  listMessages,
  markChatRead,
  promoteQueuedMessage,
  sendMessage,
  updateChatSettings,
} from '../../chat/chat.service';
import { listChats } from '../../chat/chat-list';
import { getChatDiff } from '../../workspaces/diff-status';
import { PayloadTooLargeError, ValidationError } from '../../errors';
import type { ChatInputPart } from '../../messages/parts';
import { ChatStreamHub, createStreamStore } from '../../stream/chat-stream';
import { parseEventId } from '../../stream/cursor';
import { streamWatch } from '../../stream/watch-stream';
import type { ChatStreamEnd, StreamGuard, WatchStreamEnd } from '../limits/streams';
import { actor } from '../middleware/auth';
import { idempotent, storeInTransaction } from '../middleware/idempotency';
import { mountRoute } from '../openapi';
import { chatsApi } from './chats.schema';
import type { AppDeps } from '../deps';

/**
 * The chat router (mounted after authentication); declarations live in chats.schema.ts. Its two
 * streams start through `streams`: a slot per stream, and a final `stream_end` when the token goes.
 */
export function chatsRouter(deps: AppDeps, streams: StreamGuard): Router {
  const router = new Router();
  const sseOptions = { heartbeatMs: deps.sseHeartbeatMs, maxBufferedBytes: deps.sseMaxBufferedBytes };
  // One per app: a chat's clients share one bus subscription, one read per hint and one encoding per event.
  const chatStreams = new ChatStreamHub({ bus: deps.bus, store: createStreamStore(deps.db), log: deps.log });

  const withinLimit = messageSizeCheck(deps.maxMessageBytes);

  // With an Idempotency-Key the response is stored in the transaction that creates the chat / the message.
  mountRoute(
    router,
    chatsApi.create,
    idempotent(deps, async (ctx, { body }) => {
      withinLimit(body.content);
      ctx.body = await createChat(deps, actor(ctx), body, storeInTransaction(ctx, 201));
      ctx.status = 201;
    }),
  );

  mountRoute(router, chatsApi.list, async (ctx, { query }) => {
    ctx.body = await listChats(deps, actor(ctx), {
      archived: query.archived,
      labels: query.label,
      cursor: query.cursor,
      afterId: query.after_id,
      limit: query.limit,
    });
  });

  mountRoute(router, chatsApi.watch, (ctx) => {
    const sse = streams.start(ctx, sseOptions, (reason) => ({ kind: 'stream_end', reason }) satisfies WatchStreamEnd);
    // First on the wire, so a client knows the feed is live before any chat changes.
    sse.comment('ping');
    streamWatch(deps.bus, actor(ctx).id, sse);
  });

  mountRoute(router, chatsApi.get, async (ctx, { params }) => {
    ctx.body = await getChatDto(deps, actor(ctx), params.id);
  });

  mountRoute(router, chatsApi.update, async (ctx, { params, body }) => {
    ctx.body = await updateChatSettings(deps, actor(ctx), params.id, body);
  });

  mountRoute(router, chatsApi.listMessages, async (ctx, { params, query }) => {
    ctx.body = await listMessages(deps, actor(ctx), params.id, { beforeId: query.before_id, limit: query.limit });
  });

  mountRoute(
    router,
    chatsApi.sendMessage,
    idempotent(deps, async (ctx, { params, body }) => {
      withinLimit(body.content);
      ctx.body = await sendMessage(deps, actor(ctx), params.id, body, storeInTransaction(ctx, 200));
    }),
  );

  mountRoute(router, chatsApi.editMessage, async (ctx, { params, body }) => {
    withinLimit(body.content);
    ctx.body = await editMessage(deps, actor(ctx), params.id, params.messageId, body);
  });

  mountRoute(router, chatsApi.deleteQueued, async (ctx, { params }) => {
    await deleteQueuedMessageById(deps, actor(ctx), params.id, params.queuedId);
    ctx.status = 204;
  });

  mountRoute(router, chatsApi.promoteQueued, async (ctx, { params, body }) => {
    ctx.body = await promoteQueuedMessage(deps, actor(ctx), params.id, params.queuedId, body);
  });

  mountRoute(router, chatsApi.markRead, async (ctx, { params, body }) => {
    ctx.body = await markChatRead(deps, actor(ctx), params.id, body);
  });

  mountRoute(router, chatsApi.interrupt, async (ctx, { params }) => {
    ctx.body = await interruptChat(deps, actor(ctx), params.id);
  });

  mountRoute(router, chatsApi.diff, async (ctx, { params }) => {
    ctx.body = await getChatDiff(deps, actor(ctx), params.id);
  });

  mountRoute(router, chatsApi.stream, async (ctx, { params, query }) => {
    const chat = await getChat(deps, actor(ctx), params.id);
    const lastEventId = ctx.get('Last-Event-ID') || undefined;
    const fromHeader = parseEventId(lastEventId);
    if (lastEventId !== undefined && !fromHeader) {
      throw new ValidationError('Invalid Last-Event-ID.', undefined, 'invalid_cursor');
    }
    const cursor = fromHeader ?? { messageId: query.after_id ?? 0, counter: 0 };
    const sse = streams.start(
      ctx,
      sseOptions,
      (reason) => ({ type: 'stream_end', chat_id: chat.id, reason }) satisfies ChatStreamEnd,
    );
    await chatStreams.stream(chat.id, cursor, sse);
  });

  return router;
}

/**
 * The exact message limit: the UTF-8 bytes of a message's text parts, summed, at most `maxBytes`
 * (CHATD_MAX_MESSAGE_BYTES); more is a 413 before anything is read or written.
 */
function messageSizeCheck(maxBytes: number): (content: readonly ChatInputPart[]) => void {
  return (content) => {
    let bytes = 0;
    for (const part of content) if (part.type === 'text') bytes += Buffer.byteLength(part.text, 'utf8');
    if (bytes > maxBytes) {
      throw new PayloadTooLargeError(`The message is ${bytes} bytes; at most ${maxBytes} bytes are accepted.`);
    }
  };
}
