/**
 * Route declarations of /push: the VAPID public key a browser subscribes with, and the caller's push
 * subscriptions. The subscription body is exactly what a browser's `PushSubscription.toJSON()` gives,
 * validated strictly (an https endpoint, keys of the right decoded length, a public key on the P-256
 * curve) so that nothing is stored that a push could not be encrypted to.
 */
import { z } from 'zod';
import { isAuthSecret, isP256PublicKey } from '../../push/keys';
import { defineRoute } from '../openapi';
import { idParams, timestamp } from './common.schema';

/** Longest endpoint accepted; push services' URLs are a few hundred characters. */
export const MAX_ENDPOINT_CHARS = 2048;

/** True for an absolute https URL without credentials or fragment: what push services hand out. */
function isPushEndpoint(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' && !!url.hostname && !url.username && !url.password && !url.hash;
  } catch {
    return false;
  }
}

const endpoint = z
  .string()
  .max(MAX_ENDPOINT_CHARS, `The endpoint must be at most ${MAX_ENDPOINT_CHARS} characters.`)
  .refine(isPushEndpoint, 'The endpoint must be an https URL without credentials or fragment.')
  .describe('The push service URL of the subscription (https).');

export const pushSubscriptionBody = z.strictObject({
  endpoint,
  expirationTime: z
    .number()
    .int()
    .nonnegative()
    .nullable()
    .optional()
    .describe('When the subscription expires, in milliseconds since the epoch; null when it does not.'),
  keys: z.strictObject({
    p256dh: z
      .string()
      .refine(isP256PublicKey, 'keys.p256dh must be a base64url P-256 public key (65 bytes, uncompressed).')
      .describe('The browser’s P-256 public key, base64url.'),
    auth: z
      .string()
      .refine(isAuthSecret, 'keys.auth must be a base64url secret of 16 bytes.')
      .describe('The browser’s authentication secret, base64url.'),
  }),
});

export const pushSubscriptionIdParams = idParams('push subscription');

export const unsubscribeQuery = z.object({
  endpoint: endpoint.describe('The endpoint of the subscription to delete.'),
});

export const pushSubscriptionSchema = z
  .object({
    id: z.uuid().describe('The id DELETE /push/subscriptions/{id} takes.'),
    endpoint: z.string(),
    expiration_time: timestamp.nullable(),
    created_at: timestamp,
    updated_at: timestamp.describe('When the subscription was last stored (a browser re-subscribing updates it).'),
  })
  .meta({ id: 'PushSubscription' });

const disabled = {
  description:
    'Web push is off: the server has no VAPID keys (`push_disabled`). Not a fault; the client should not retry.',
};

const tag = 'Push';

/** The web push routes. */
export const pushApi = {
  vapidPublicKey: defineRoute({
    operationId: 'getVapidPublicKey',
    method: 'get',
    path: '/push/vapid-public-key',
    summary: 'Get the VAPID public key',
    description:
      'The `applicationServerKey` a browser passes to `pushManager.subscribe()`. Subscriptions are bound to ' +
      'it: when the server’s key changes, browsers must subscribe again.',
    tag,
    access: 'user',
    schemas: {},
    responses: {
      200: {
        description: '`{public_key}`.',
        schema: z.object({ public_key: z.string().describe('Uncompressed P-256 public key, base64url.') }),
      },
      501: disabled,
    },
  }),
  subscribe: defineRoute({
    operationId: 'createPushSubscription',
    method: 'post',
    path: '/push/subscriptions',
    summary: 'Subscribe a browser to web push',
    description:
      'The body is the browser’s `PushSubscription` as JSON. When a root chat’s turn finishes (or fails), every ' +
      'subscription of its owner receives `{chat_id, title, body, status}`, encrypted to the subscription’s keys. ' +
      'The same endpoint again replaces the stored subscription, also for another user. Each user keeps at most ' +
      '20 subscriptions; the least recently stored go first.',
    tag,
    access: 'user',
    schemas: { body: pushSubscriptionBody },
    responses: {
      201: { description: 'Stored.', schema: pushSubscriptionSchema },
      200: {
        description: 'The endpoint was already stored; its keys and owner were updated.',
        schema: pushSubscriptionSchema,
      },
      501: disabled,
    },
  }),
  unsubscribe: defineRoute({
    operationId: 'deletePushSubscription',
    method: 'delete',
    path: '/push/subscriptions/:id',
    summary: 'Delete a push subscription',
    description: 'Only the owner can delete a subscription; anyone else gets 404. Works while web push is off.',
    tag,
    access: 'user',
    schemas: { params: pushSubscriptionIdParams },
    responses: {
      204: { description: 'Deleted.' },
      404: { description: 'The caller has no such subscription (`push_subscription_not_found`).' },
    },
  }),
  unsubscribeByEndpoint: defineRoute({
    operationId: 'deletePushSubscriptionByEndpoint',
    method: 'delete',
    path: '/push/subscriptions',
    summary: 'Delete a push subscription by endpoint',
    description:
      'For a browser that knows its endpoint but not the id (`?endpoint=<url-encoded endpoint>`). Only the owner ' +
      'can delete a subscription; anyone else gets 404.',
    tag,
    access: 'user',
    schemas: { query: unsubscribeQuery },
    responses: {
      204: { description: 'Deleted.' },
      404: { description: 'The caller has no subscription with this endpoint (`push_subscription_not_found`).' },
    },
  }),
};
