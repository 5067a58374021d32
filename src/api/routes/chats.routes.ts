/**
 * /chats: create, read, send messages, interrupt, and the SSE stream. Handlers only read the
 * validated input, call the chat service and shape the response.
 */
import Router from '@koa/router';
import type { AppDeps } from '../app';
import { createChat, getChat, interruptChat, listMessages, sendMessage, type Actor } from '../../chat/chat.service';
import { toChatDto } from '../../chat/dto';
import { ValidationError } from '../../errors';
import { streamChat } from '../../stream/chat-stream';
import { parseEventId } from '../../stream/cursor';
import { SseWriter } from '../sse';
import { input, validate } from '../middleware/validate';
import { chatIdParams, createChatBody, listMessagesQuery, sendMessageBody, streamQuery } from './chats.schema';

export function chatsRouter(deps: AppDeps): Router {
  const router = new Router({ prefix: '/chats' });
  const actor = (ctx: { state: { actor?: Actor } }): Actor => ctx.state.actor!;

  const createSchemas = { body: createChatBody };
  router.post('/', validate(createSchemas), async (ctx) => {
    ctx.status = 201;
    ctx.body = await createChat(deps, actor(ctx), input(ctx, createSchemas).body);
  });

  const getSchemas = { params: chatIdParams };
  router.get('/:id', validate(getSchemas), async (ctx) => {
    ctx.body = toChatDto(await getChat(deps, actor(ctx), input(ctx, getSchemas).params.id));
  });

  const listSchemas = { params: chatIdParams, query: listMessagesQuery };
  router.get('/:id/messages', validate(listSchemas), async (ctx) => {
    const { params, query } = input(ctx, listSchemas);
    ctx.body = await listMessages(deps, actor(ctx), params.id, { beforeId: query.before_id, limit: query.limit });
  });

  const sendSchemas = { params: chatIdParams, body: sendMessageBody };
  router.post('/:id/messages', validate(sendSchemas), async (ctx) => {
    const { params, body } = input(ctx, sendSchemas);
    ctx.body = await sendMessage(deps, actor(ctx), params.id, body);
  });

  const interruptSchemas = { params: chatIdParams };
  router.post('/:id/interrupt', validate(interruptSchemas), async (ctx) => {
    ctx.body = await interruptChat(deps, actor(ctx), input(ctx, interruptSchemas).params.id);
  });

  const streamSchemas = { params: chatIdParams, query: streamQuery };
  router.get('/:id/stream', validate(streamSchemas), async (ctx) => {
    const { params, query } = input(ctx, streamSchemas);
    const chat = await getChat(deps, actor(ctx), params.id);
    const lastEventId = ctx.get('Last-Event-ID') || undefined;
    const fromHeader = parseEventId(lastEventId);
    if (lastEventId !== undefined && !fromHeader)
      throw new ValidationError('Invalid Last-Event-ID.', undefined, 'invalid_cursor');
    const cursor = fromHeader ?? { messageId: query.after_id ?? 0, counter: 0 };
    const sse = new SseWriter(ctx, { heartbeatMs: deps.sseHeartbeatMs });
    await streamChat(deps, chat.id, cursor, {
      send: (id, type, data) => sse.send(id, type, data),
      onClose: (handler) => sse.onClose(handler),
    });
  });

  return router;
}
