/**
 * The cost of the model calls a turn makes beside its steps: the title of a new chat and compaction
 * summaries. Each call is stored as a usage record (chat_usage_records) with its tokens and cost, so it
 * counts towards the owner's spend and shows in cost reports like the steps' assistant messages do.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import { findSiblingModelConfig, insertUsageRecord } from '../db/repositories/usage.repository';
import type { Usage } from '../llm/types';
import { tokenColumns } from '../messages/rows';
import { calculateCostMicros, parsePrices, type ModelPrices } from '../turn/cost';
import type { TurnMetrics } from '../turn/metrics';
import type { ResolvedModel } from '../turn/models';
import type { TurnBudget } from './turn-budget';

export interface SideCallDeps {
  db: Kysely<Database>;
  log: Logger;
  budget?: TurnBudget;
  /** Told the tokens and cost of each recorded call (README "Operations"). */
  metrics?: Pick<TurnMetrics, 'modelUsage'>;
}

/** The config whose prices a call on `model` is charged at: `modelConfigId` null means unpriced. */
export interface SideCallPricing {
  modelConfigId: string | null;
  prices: ModelPrices | null;
}

/**
 * The prices of a call the worker made on `calledModel` for a chat on `chatModel`: the chat's own
 * config when it is the same model; else a live config of the same provider for that model (the cheap
 * title model, when the deployment configured it); else none, and the call is recorded unpriced.
 */
export async function pricingFor(
  db: Kysely<Database>,
  chatModel: ResolvedModel,
  calledModel: string,
): Promise<SideCallPricing> {
  if (calledModel === chatModel.model) return { modelConfigId: chatModel.modelConfigId, prices: chatModel.prices };
  const sibling = await findSiblingModelConfig(db, chatModel.modelConfigId, calledModel);
  return sibling
    ? { modelConfigId: sibling.id, prices: parsePrices(sibling.options) }
    : { modelConfigId: null, prices: null };
}

/**
 * Stores one side call's usage and adds its cost to the owner's spend as the budget knows it. Best
 * effort: a failure is logged, never thrown, so it cannot fail the title or the compaction it belongs to.
 */
export async function recordSideCall(
  deps: SideCallDeps,
  call: {
    chatId: string;
    ownerId: string;
    kind: 'title' | 'compaction';
    model: string;
    pricing: SideCallPricing | (() => Promise<SideCallPricing>);
    usage: Usage;
  },
): Promise<void> {
  try {
    const pricing = typeof call.pricing === 'function' ? await call.pricing() : call.pricing;
    const cost = calculateCostMicros(call.usage, pricing.prices);
    await insertUsageRecord(deps.db, {
      chat_id: call.chatId,
      kind: call.kind,
      model_config_id: pricing.modelConfigId,
      model: call.model,
      ...tokenColumns(call.usage),
      total_cost_micros: cost,
    });
    deps.budget?.add(call.ownerId, cost);
    deps.metrics?.modelUsage({ model: call.model, kind: call.kind, usage: call.usage, costMicros: cost });
  } catch (err) {
    deps.log.warn({ err, chatId: call.chatId, kind: call.kind }, 'could not record the cost of a side call');
  }
}
