/**
 * Groups of users and their memberships. Groups exist for spend limits: a user's limit
 * falls back to the minimum over their groups, so membership changes must be exact and idempotent.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, GroupsTable } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** A groups row. */
export type GroupRow = Selectable<GroupsTable>;

/** Inserts a group; a duplicate name fails with the unique violation (23505) for the caller to map. */
export async function insertGroup(db: Db, group: { name: string; displayName: string }): Promise<GroupRow> {
  return db
    .insertInto('groups')
    .values({ name: group.name, display_name: group.displayName, chat_spend_limit_micros: null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The group with this id, or undefined. */
export async function findGroupById(db: Db, id: string): Promise<GroupRow | undefined> {
  return db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Adds the user to the group; adding an existing member changes nothing. */
export async function addGroupMember(db: Db, groupId: string, userId: string): Promise<void> {
  await db
    .insertInto('group_members')
    .values({ group_id: groupId, user_id: userId })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
    .execute();
}

/** Removes the user from the group; removing a non-member changes nothing. */
export async function removeGroupMember(db: Db, groupId: string, userId: string): Promise<void> {
  await db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).execute();
}
