/**
 * Request schemas of the chat routes. They validate every input edge and also generate the
 * OpenAPI document, so they carry the descriptions clients read.
 */
import { z } from 'zod';
import { chatInputPartSchema } from '../../chat/message-parts';

export const chatIdParams = z.object({ id: z.uuid({ message: 'Invalid chat id.' }) });

const labels = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((l) => Object.keys(l).length <= 50, 'At most 50 labels.')
  .describe('Arbitrary key/value labels, filterable in listings.');

export const createChatBody = z.strictObject({
  content: z.array(chatInputPartSchema).min(1, 'Content is required.').max(100).describe('The first user message.'),
  model_config_id: z.uuid().optional().describe('Model config to use; the default one when omitted.'),
  labels: labels.optional(),
});

export const sendMessageBody = z.strictObject({
  content: z.array(chatInputPartSchema).min(1, 'Content is required.').max(100),
  busy_behavior: z
    .enum(['queue', 'interrupt'])
    .default('queue')
    .describe('When a turn is running: queue the message, or queue it and interrupt the turn.'),
});

/** Cursors are message ids: positive integers within JavaScript's safe range. */
export const messageCursor = z.coerce
  .number({ message: 'Invalid cursor.' })
  .int('Invalid cursor.')
  .positive('Invalid cursor.')
  .max(Number.MAX_SAFE_INTEGER, 'Invalid cursor.');

export const listMessagesQuery = z.object({
  before_id: messageCursor.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const streamQuery = z.object({
  after_id: messageCursor.optional().describe('Resume after this message id (or send Last-Event-ID).'),
  access_token: z.string().optional(),
});
