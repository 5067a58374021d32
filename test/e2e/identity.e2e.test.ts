/**
 * Identity over HTTP: users, API tokens and groups. Tokens are checked on every request,
 * so revocation and expiry must bite on the very next call; members must be refused every admin
 * route without anything being written.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { createTestUser, type TestUser } from '../support/users';
import { hashToken } from '../../src/security/tokens';

describe('identity', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const count = async (table: 'users' | 'api_tokens' | 'groups' | 'group_members'): Promise<number> => {
    const row = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(app.deps.db);
    return row.rows[0]!.n;
  };

  const me = (token: string) => app.request('GET', '/users/me', undefined, token);

  describe('authentication', () => {
    it('answers 401 without a token and with an unknown token', async () => {
      const anonymous = await fetch(`${app.url}/api/v1/users/me`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as any).error.code).toBe('unauthorized');
      const unknown = await me('chatd_not-a-real-token');
      expect(unknown.status).toBe(401);
      expect(unknown.body.error.code).toBe('unauthorized');
    });

    it('GET /users/me returns the caller', async () => {
      const res = await me(app.token);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ username: 'admin', role: 'admin' });
      expect(res.body).not.toHaveProperty('token_hash');
    });
  });

  describe('users', () => {
    it('creates a member who can then authenticate with a token issued for them', async () => {
      const username = `m-${randomUUID().slice(0, 8)}`;
      const created = await app.request('POST', '/users', { username, name: 'Mia', role: 'member' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ username, name: 'Mia', role: 'member' });

      const issued = await app.request('POST', `/users/${created.body.id}/tokens`, { name: 'laptop' });
      expect(issued.status).toBe(201);
      expect(issued.body).toMatchObject({ user_id: created.body.id, name: 'laptop', expires_at: null });
      expect(issued.body.token).toMatch(/^chatd_/);

      const who = await me(issued.body.token);
      expect(who.status).toBe(200);
      expect(who.body).toMatchObject({ id: created.body.id, role: 'member' });

      // Only the digest is stored.
      const row = await app.deps.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('id', '=', issued.body.id)
        .executeTakeFirstOrThrow();
      expect(row.token_hash.equals(hashToken(issued.body.token))).toBe(true);
      expect(JSON.stringify(row)).not.toContain(issued.body.token);

      const list = await app.request('GET', '/users');
      expect(list.status).toBe(200);
      expect(list.body.map((u: { username: string }) => u.username)).toEqual(
        expect.arrayContaining(['admin', username]),
      );
    });

    it('refuses a duplicate username with 409 username_taken', async () => {
      const username = `dup-${randomUUID().slice(0, 8)}`;
      expect((await app.request('POST', '/users', { username, role: 'member' })).status).toBe(201);
      const before = await count('users');
      const again = await app.request('POST', '/users', { username, role: 'admin' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('username_taken');
      expect(await count('users')).toBe(before);
    });

    it.each([
      ['an invalid username', { username: '-bad name', role: 'member' }],
      ['a missing role', { username: `r-${randomUUID().slice(0, 8)}` }],
      ['an unknown role', { username: `r-${randomUUID().slice(0, 8)}`, role: 'owner' }],
      ['an unknown field', { username: `r-${randomUUID().slice(0, 8)}`, role: 'member', admin: true }],
      ['a NUL in the name', { username: `r-${randomUUID().slice(0, 8)}`, role: 'member', name: 'a\u0000b' }],
    ])('refuses %s with 400 and writes nothing', async (_what, body) => {
      const before = await count('users');
      const res = await app.request('POST', '/users', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await count('users')).toBe(before);
    });

    it('answers 404 when issuing a token for an unknown user, and 400 for a malformed id', async () => {
      const before = await count('api_tokens');
      const unknown = await app.request('POST', `/users/${randomUUID()}/tokens`, {});
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('user_not_found');
      const malformed = await app.request('POST', '/users/not-a-uuid/tokens', {});
      expect(malformed.status).toBe(400);
      expect(await count('api_tokens')).toBe(before);
    });
  });

  describe('token lifecycle', () => {
    let member: TestUser;

    beforeAll(async () => {
      member = await createTestUser(app);
    });

    it('a revoked token is refused on the very next request', async () => {
      const issued = await app.request('POST', `/users/${member.id}/tokens`, { name: 'to revoke' });
      expect((await me(issued.body.token)).status).toBe(200);

      const revoked = await app.request('DELETE', `/tokens/${issued.body.id}`);
      expect(revoked.status).toBe(204);
      const after = await me(issued.body.token);
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe('unauthorized');
      // Revoking again is harmless; the member's other token still works.
      expect((await app.request('DELETE', `/tokens/${issued.body.id}`)).status).toBe(204);
      expect((await me(member.token)).status).toBe(200);
    });

    it('a member may revoke their own token, including the one in use', async () => {
      const own = await createTestUser(app);
      const res = await app.request('DELETE', `/tokens/${own.tokenId}`, undefined, own.token);
      expect(res.status).toBe(204);
      expect((await me(own.token)).status).toBe(401);
    });

    it("a member cannot revoke someone else's token: 404, and the token keeps working", async () => {
      const other = await createTestUser(app);
      const res = await app.request('DELETE', `/tokens/${other.tokenId}`, undefined, member.token);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('token_not_found');
      expect((await me(other.token)).status).toBe(200);
      expect((await app.request('DELETE', `/tokens/${randomUUID()}`)).status).toBe(404);
    });

    it('an expired token is refused', async () => {
      const expiresAt = new Date(Date.now() + 1500);
      const issued = await app.request('POST', `/users/${member.id}/tokens`, { expires_at: expiresAt.toISOString() });
      expect(issued.status).toBe(201);
      expect(issued.body.expires_at).toBe(expiresAt.toISOString());
      expect((await me(issued.body.token)).status).toBe(200);

      await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 200));
      const after = await me(issued.body.token);
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe('unauthorized');
    });

    it('refuses an expiry in the past or a malformed one and writes nothing', async () => {
      const before = await count('api_tokens');
      for (const expires_at of [new Date(Date.now() - 60_000).toISOString(), 'tomorrow', 12345]) {
        const res = await app.request('POST', `/users/${member.id}/tokens`, { expires_at });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('validation_failed');
      }
      expect(await count('api_tokens')).toBe(before);
    });
  });

  describe('groups', () => {
    it('creates a group and adds and removes members idempotently', async () => {
      const user = await createTestUser(app);
      const name = `g-${randomUUID().slice(0, 8)}`;
      const group = await app.request('POST', '/groups', { name, display_name: 'Engineering' });
      expect(group.status).toBe(201);
      expect(group.body).toMatchObject({ name, display_name: 'Engineering' });

      const members = () =>
        app.deps.db.selectFrom('group_members').select('user_id').where('group_id', '=', group.body.id).execute();
      for (let i = 0; i < 2; i++) {
        expect((await app.request('PUT', `/groups/${group.body.id}/members/${user.id}`)).status).toBe(204);
      }
      expect(await members()).toEqual([{ user_id: user.id }]);
      for (let i = 0; i < 2; i++) {
        expect((await app.request('DELETE', `/groups/${group.body.id}/members/${user.id}`)).status).toBe(204);
      }
      expect(await members()).toEqual([]);
    });

    it('refuses a duplicate group name with 409 group_exists', async () => {
      const name = `g-${randomUUID().slice(0, 8)}`;
      expect((await app.request('POST', '/groups', { name })).status).toBe(201);
      const again = await app.request('POST', '/groups', { name });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('group_exists');
    });

    it('answers 404 for an unknown group or user and 400 for malformed ids, writing nothing', async () => {
      const user = await createTestUser(app);
      const group = await app.request('POST', '/groups', { name: `g-${randomUUID().slice(0, 8)}` });
      const before = await count('group_members');
      const noGroup = await app.request('PUT', `/groups/${randomUUID()}/members/${user.id}`);
      expect(noGroup.status).toBe(404);
      expect(noGroup.body.error.code).toBe('group_not_found');
      const noUser = await app.request('PUT', `/groups/${group.body.id}/members/${randomUUID()}`);
      expect(noUser.status).toBe(404);
      expect(noUser.body.error.code).toBe('user_not_found');
      expect((await app.request('PUT', `/groups/${group.body.id}/members/nope`)).status).toBe(400);
      expect((await app.request('POST', '/groups', { name: '' })).status).toBe(400);
      expect(await count('group_members')).toBe(before);
    });
  });

  describe('admin-only routes', () => {
    it('answer 403 forbidden to a member and write nothing', async () => {
      const member = await createTestUser(app);
      const group = await app.request('POST', '/groups', { name: `g-${randomUUID().slice(0, 8)}` });
      const tables = ['users', 'api_tokens', 'groups', 'group_members'] as const;
      const before = await Promise.all(tables.map(count));
      const attempts: Array<[string, string, unknown?]> = [
        ['GET', '/users'],
        ['POST', '/users', { username: `x-${randomUUID().slice(0, 8)}`, role: 'admin' }],
        ['POST', `/users/${member.id}/tokens`, {}],
        ['POST', '/groups', { name: `g-${randomUUID().slice(0, 8)}` }],
        ['PUT', `/groups/${group.body.id}/members/${member.id}`],
        ['DELETE', `/groups/${group.body.id}/members/${member.id}`],
      ];
      for (const [method, path, body] of attempts) {
        const res = await app.request(method, path, body, member.token);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
          method,
          path,
          status: 403,
          code: 'forbidden',
        });
      }
      expect(await Promise.all(tables.map(count))).toEqual(before);
    });
  });
});
