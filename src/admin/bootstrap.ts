/**
 * First-start provisioning: the bootstrap admin and, when CHATD_DEFAULT_MODEL and a
 * provider key are given, a default provider and model config so a fresh install can chat.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ProviderName } from '../db/database';
import { findDefaultModelConfig, insertModelConfig, insertProvider } from '../db/repositories/model-configs.repository';
import { countUsers, insertApiToken, insertUser } from '../db/repositories/users.repository';
import { sealProviderKey } from '../security/provider-keys';
import type { SecretBox } from '../security/secrets';
import { generateToken, hashToken } from '../security/tokens';

/**
 * Creates the admin when there is no user yet. Returns the token to print once (the given one, or
 * a fresh one), or null when users already exist.
 */
export async function ensureBootstrapAdmin(
  db: Kysely<Database>,
  givenToken: string | undefined,
): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    // Serialise concurrent first starts of several processes.
    await sql`select pg_advisory_xact_lock(727001)`.execute(trx);
    if ((await countUsers(trx)) > 0) return null;
    const admin = await insertUser(trx, { username: 'admin', name: 'Administrator', role: 'admin' });
    const token = givenToken ?? generateToken();
    await insertApiToken(trx, { userId: admin.id, name: 'bootstrap', tokenHash: hashToken(token), expiresAt: null });
    return token;
  });
}

/** Seeds `provider:model` as the default model config when none exists yet. */
export async function ensureDefaultModel(
  db: Kysely<Database>,
  secrets: SecretBox,
  spec: string | undefined,
  presets: Record<'openai' | 'anthropic', { apiKey: string | undefined; baseUrl: string | undefined }>,
): Promise<string | null> {
  if (!spec) return null;
  const sep = spec.indexOf(':');
  const provider = spec.slice(0, sep) as ProviderName;
  const model = spec.slice(sep + 1);
  return db.transaction().execute(async (trx) => {
    if (await findDefaultModelConfig(trx)) return null;
    const preset = provider === 'openai-compat' ? undefined : presets[provider];
    let providerRow = await trx
      .selectFrom('chat_providers')
      .selectAll()
      .where('provider', '=', provider)
      .where('deleted', '=', false)
      .executeTakeFirst();
    providerRow ??= await insertProvider(trx, {
      provider,
      displayName: provider,
      baseUrl: preset?.baseUrl ?? null,
      apiMode: null,
      apiKey: preset?.apiKey ? sealProviderKey(secrets, preset.apiKey, preset.baseUrl ?? null) : null,
      createdBy: null,
    });
    const config = await insertModelConfig(trx, {
      providerId: providerRow.id,
      model,
      displayName: model,
      isDefault: true,
      contextLimit: 128_000,
      compressionThreshold: 70,
      options: {},
      createdBy: null,
    });
    return config.id;
  });
}
