/**
 * Cost reports (GET /cost/{user}/summary, GET /cost/users): what chats cost over a window, for the
 * caller, or for an admin any user or everyone. Members asking about another user get a 404, as for
 * anything of another user's; the everyone views are admin-only (403).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import {
  costByUser,
  costSummary,
  type ChatCost,
  type CostTotals,
  type ModelCost,
  type UserCost,
} from '../db/repositories/cost.repository';
import { findUserById } from '../db/repositories/users.repository';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors';
import type { Actor } from '../security/actor';

/** Without dates a report covers the 30 days up to now. */
export const DEFAULT_REPORT_DAYS = 30;

/** A summary lists at most this many root chats, the costliest first. */
export const MAX_REPORT_CHATS = 100;

export interface CostSummaryDto extends CostTotals {
  /** Whose chats; null for everyone's. */
  user_id: string | null;
  start_date: string;
  end_date: string;
  /** Root chats with any cost or call in the window (`by_chat` lists the costliest 100). */
  chat_count: number;
  by_model: ModelCost[];
  by_chat: ChatCost[];
}

export interface CostUsersDto {
  start_date: string;
  end_date: string;
  /** Users matching the filter, over all pages. */
  count: number;
  users: UserCost[];
}

/** The window `[start, end)`: defaults to the last 30 days; a 400 unless start is before end. */
export function reportWindow(
  input: { start_date?: Date; end_date?: Date },
  now = new Date(),
): { start: Date; end: Date } {
  const end = input.end_date ?? now;
  const start = input.start_date ?? new Date(end.getTime() - DEFAULT_REPORT_DAYS * 86_400_000);
  if (start.getTime() >= end.getTime()) {
    throw new ValidationError('start_date must be before end_date.', undefined, 'invalid_date_range');
  }
  return { start, end };
}

/**
 * The cost summary of `who`: `me`, a user id (another user's: admins only, members get a 404) or `all`
 * (admins only). NotFoundError for an unknown user, ForbiddenError for a member asking for `all`.
 */
export async function getCostSummary(
  deps: { db: Kysely<Database> },
  actor: Actor,
  who: string,
  input: { start_date?: Date; end_date?: Date },
): Promise<CostSummaryDto> {
  let userId: string | null;
  if (who === 'all') {
    if (actor.role !== 'admin') throw new ForbiddenError();
    userId = null;
  } else if (who === 'me' || who === actor.id) {
    userId = actor.id;
  } else {
    if (actor.role !== 'admin' || !(await findUserById(deps.db, who))) throw new NotFoundError('user');
    userId = who;
  }
  const window = reportWindow(input);
  const summary = await costSummary(deps.db, { ...window, userId }, MAX_REPORT_CHATS);
  return {
    user_id: userId,
    start_date: window.start.toISOString(),
    end_date: window.end.toISOString(),
    ...summary.totals,
    chat_count: summary.chatCount,
    by_model: summary.byModel,
    by_chat: summary.byChat,
  };
}

/** Every user's cost in the window, costliest first (the route is admin-only). */
export async function getCostByUser(
  deps: { db: Kysely<Database> },
  input: { start_date?: Date; end_date?: Date; username?: string; limit: number; offset: number },
): Promise<CostUsersDto> {
  const window = reportWindow(input);
  const page = await costByUser(deps.db, window, {
    username: input.username ?? null,
    limit: input.limit,
    offset: input.offset,
  });
  return { start_date: window.start.toISOString(), end_date: window.end.toISOString(), ...page };
}
