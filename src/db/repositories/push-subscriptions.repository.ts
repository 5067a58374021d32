/**
 * Web push subscriptions (`push_subscriptions`): stored by the API when a browser subscribes, read
 * by the worker when a turn ends, and deleted by their owner or when the push service says they are
 * gone. Every owner-facing query is scoped to the owner.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, PushSubscriptionRow } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export interface NewPushSubscription {
  userId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  expiresAt: Date | null;
}

/**
 * Stores the subscription for `userId`. The endpoint is unique: when it is already stored (the same
 * browser subscribing again, possibly signed in as another user) its row takes the new owner and
 * keys. `inserted` tells a new row from a replaced one.
 */
export async function upsertPushSubscription(
  db: Db,
  sub: NewPushSubscription,
): Promise<PushSubscriptionRow & { inserted: boolean }> {
  return (
    db
      .insertInto('push_subscriptions')
      .values({
        user_id: sub.userId,
        endpoint: sub.endpoint,
        p256dh: sub.p256dh,
        auth: sub.auth,
        expires_at: sub.expiresAt,
      })
      .onConflict((oc) =>
        oc.column('endpoint').doUpdateSet((eb) => ({
          user_id: eb.ref('excluded.user_id'),
          p256dh: eb.ref('excluded.p256dh'),
          auth: eb.ref('excluded.auth'),
          expires_at: eb.ref('excluded.expires_at'),
          updated_at: sql<Date>`now()`,
        })),
      )
      .returningAll()
      // xmax is 0 on a row version an INSERT created (PostgreSQL's usual "inserted or updated" test).
      .returning(sql<boolean>`xmax = 0`.as('inserted'))
      .executeTakeFirstOrThrow()
  );
}

/** Deletes the user's subscriptions beyond the `keep` most recently stored. Returns how many went. */
export async function trimPushSubscriptions(db: Db, userId: string, keep: number): Promise<number> {
  const result = await db
    .deleteFrom('push_subscriptions')
    .where('user_id', '=', userId)
    .where('id', 'not in', (eb) =>
      eb
        .selectFrom('push_subscriptions')
        .select('id')
        .where('user_id', '=', userId)
        .orderBy('updated_at', 'desc')
        .orderBy('id', 'desc')
        .limit(keep),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The user's subscriptions that have not expired, oldest first. */
export async function listLivePushSubscriptions(db: Db, userId: string): Promise<PushSubscriptionRow[]> {
  return db
    .selectFrom('push_subscriptions')
    .selectAll()
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .orderBy('created_at')
    .execute();
}

/** Deletes the user's subscription `id`. Returns false when the user has no such subscription. */
export async function deletePushSubscriptionOfUser(db: Db, userId: string, id: string): Promise<boolean> {
  const result = await db
    .deleteFrom('push_subscriptions')
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Deletes the user's subscription with `endpoint`. Returns false when the user has none with it. */
export async function deletePushSubscriptionOfUserByEndpoint(
  db: Db,
  userId: string,
  endpoint: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom('push_subscriptions')
    .where('endpoint', '=', endpoint)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Deletes a subscription the push service reported gone (404 or 410): it will never deliver again. */
export async function deleteGonePushSubscription(db: Db, id: string): Promise<void> {
  await db.deleteFrom('push_subscriptions').where('id', '=', id).execute();
}
