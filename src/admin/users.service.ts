/**
 * Identity management: users, their API tokens and groups. Tokens are random secrets
 * shown once at creation and stored only as SHA-256 digests. Expiry takes effect at once; a
 * revocation on the next request to the API process that revoked it, and within a few seconds on
 * the others (authentication remembers live tokens that long, see TokenAuthenticator).
 */
import type { Kysely } from 'kysely';
import type { Database, UserRole, UserRow } from '../db/database';
import {
  addGroupMember,
  findGroupById,
  insertGroup,
  removeGroupMember,
  type GroupRow,
} from '../db/repositories/groups.repository';
import {
  findApiToken,
  findUserById,
  insertApiToken,
  insertUser,
  listUsers,
  revokeApiToken,
} from '../db/repositories/users.repository';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { generateToken, hashToken } from '../security/tokens';
import type { Actor } from '../security/actor';

/** A user as the API shows it. */
export interface UserDto {
  id: string;
  username: string;
  name: string;
  role: UserRole;
  created_at: string;
  updated_at: string;
}

/** A freshly created API token: the only response that ever carries `token`. */
export interface CreatedTokenDto {
  id: string;
  user_id: string;
  name: string;
  token: string;
  created_at: string;
  expires_at: string | null;
}

/** A group as the API shows it. */
export interface GroupDto {
  id: string;
  name: string;
  display_name: string;
  created_at: string;
  updated_at: string;
}

interface IdentityDeps {
  db: Kysely<Database>;
}

const isUniqueViolation = (err: unknown): boolean => (err as { code?: string }).code === '23505';

/** Maps a users row to its wire shape. */
export function toUserDto(row: UserRow): UserDto {
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    role: row.role,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** Maps a groups row to its wire shape. */
export function toGroupDto(row: GroupRow): GroupDto {
  return {
    id: row.id,
    name: row.name,
    display_name: row.display_name,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

async function requireUser(db: Kysely<Database>, id: string): Promise<UserRow> {
  const user = await findUserById(db, id);
  if (!user) throw new NotFoundError('user');
  return user;
}

/** The authenticated caller. Throws NotFoundError when the user vanished after authentication. */
export async function getCurrentUser(deps: IdentityDeps, actor: Actor): Promise<UserDto> {
  return toUserDto(await requireUser(deps.db, actor.id));
}

/** Creates a user. Throws ConflictError `username_taken` when the username is in use. */
export async function createUser(
  deps: IdentityDeps,
  input: { username: string; name?: string; role: UserRole },
): Promise<UserDto> {
  try {
    return toUserDto(await insertUser(deps.db, { username: input.username, name: input.name ?? '', role: input.role }));
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError('username_taken', 'A user with this username already exists.');
    throw err;
  }
}

/** Every user, by username. */
export async function getUsers(deps: IdentityDeps): Promise<UserDto[]> {
  return (await listUsers(deps.db)).map(toUserDto);
}

/**
 * Issues an API token for the user and returns it once. Throws NotFoundError for an unknown user
 * and ValidationError when `expires_at` is not in the future.
 */
export async function createToken(
  deps: IdentityDeps,
  userId: string,
  input: { name?: string; expires_at?: Date },
  now: Date = new Date(),
): Promise<CreatedTokenDto> {
  if (input.expires_at && input.expires_at.getTime() <= now.getTime()) {
    throw new ValidationError('The request is invalid.', [
      { path: 'expires_at', message: 'The expiry must be in the future.' },
    ]);
  }
  await requireUser(deps.db, userId);
  const token = generateToken();
  const row = await insertApiToken(deps.db, {
    userId,
    name: input.name ?? '',
    tokenHash: hashToken(token),
    expiresAt: input.expires_at ?? null,
  });
  return {
    id: row.id,
    user_id: userId,
    name: row.name,
    token,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
  };
}

/**
 * Revokes a token; the next request with it gets 401. Admins may revoke any token, members only
 * their own: someone else's token is reported as not found, so members cannot probe token ids.
 * Revoking an already revoked token succeeds and keeps the first revocation time.
 */
export async function revokeToken(deps: IdentityDeps, actor: Actor, tokenId: string): Promise<void> {
  const token = await findApiToken(deps.db, tokenId);
  if (!token || (actor.role !== 'admin' && token.user_id !== actor.id)) throw new NotFoundError('token');
  await revokeApiToken(deps.db, tokenId);
}

/** Creates a group. Throws ConflictError `group_exists` when the name is in use. */
export async function createGroup(
  deps: IdentityDeps,
  input: { name: string; display_name?: string },
): Promise<GroupDto> {
  try {
    return toGroupDto(await insertGroup(deps.db, { name: input.name, displayName: input.display_name ?? '' }));
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError('group_exists', 'A group with this name already exists.');
    throw err;
  }
}

async function requireGroupAndUser(db: Kysely<Database>, groupId: string, userId: string): Promise<void> {
  if (!(await findGroupById(db, groupId))) throw new NotFoundError('group');
  await requireUser(db, userId);
}

/** Adds the user to the group (idempotent). Throws NotFoundError for an unknown group or user. */
export async function addUserToGroup(deps: IdentityDeps, groupId: string, userId: string): Promise<void> {
  await requireGroupAndUser(deps.db, groupId, userId);
  await addGroupMember(deps.db, groupId, userId);
}

/** Removes the user from the group (idempotent). Throws NotFoundError for an unknown group or user. */
export async function removeUserFromGroup(deps: IdentityDeps, groupId: string, userId: string): Promise<void> {
  await requireGroupAndUser(deps.db, groupId, userId);
  await removeGroupMember(deps.db, groupId, userId);
}
