/**
 * The admin's approval policy for the built-in tools (docs/tool-approval.md "Policy"), stored as one site
 * config value that the model step reads through its settings cache (src/turn/step-settings.ts).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { getSiteConfig, putSiteConfig } from '../db/repositories/configs.repository';
import { asBuiltInPolicy, TOOL_APPROVAL_KEY, type BuiltInApprovalPolicy } from '../turn/tool-approval-policy';

export async function getBuiltInApprovalPolicy(db: Kysely<Database>): Promise<BuiltInApprovalPolicy> {
  return asBuiltInPolicy(await getSiteConfig(db, TOOL_APPROVAL_KEY));
}

/** Replaces the policy (validated at the edge); running turns apply it from their next step. */
export async function setBuiltInApprovalPolicy(
  db: Kysely<Database>,
  policy: BuiltInApprovalPolicy,
): Promise<BuiltInApprovalPolicy> {
  await putSiteConfig(db, TOOL_APPROVAL_KEY, policy);
  return policy;
}
