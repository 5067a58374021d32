/**
 * Identity helpers for e2e tests: create a user through the admin API and give it a token, with a
 * unique username so tests never depend on each other's rows.
 */
import { randomUUID } from 'node:crypto';
import type { TestApp } from './app';

export interface TestUser {
  id: string;
  username: string;
  token: string;
  tokenId: string;
}

/** Creates a user (member by default) and an API token for it, as the bootstrap admin. */
export async function createTestUser(app: TestApp, role: 'admin' | 'member' = 'member'): Promise<TestUser> {
  const username = `${role}-${randomUUID().slice(0, 8)}`;
  const user = await app.request('POST', '/users', { username, name: `Test ${role}`, role });
  if (user.status !== 201) throw new Error(`user setup failed: ${JSON.stringify(user.body)}`);
  const token = await app.request('POST', `/users/${user.body.id}/tokens`, { name: 'test' });
  if (token.status !== 201) throw new Error(`token setup failed: ${JSON.stringify(token.body)}`);
  return { id: user.body.id, username, token: token.body.token, tokenId: token.body.id };
}
