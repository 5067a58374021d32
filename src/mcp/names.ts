/**
 * How MCP tools are named for the model: `<server slug>__<tool name>`. Provider APIs accept tool names
 * matching `^[a-zA-Z0-9_-]{1,64}$`, while MCP tool names may be longer or hold other characters, so a
 * tool name is made safe here and the mapping back to the server's own name is kept by the caller
 * (docs/mcp.md "Tool names"). Pure: no I/O.
 */
import { createHash } from 'node:crypto';

/** A server slug: lower-case letters, digits and `-`, at most 31 characters, so a tool keeps 31 of 64. */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,30}$/;

/** Separates the slug from the tool name; slugs cannot contain it and built-in tools never do. */
export const TOOL_SEPARATOR = '__';

/** The longest tool name providers accept. */
export const MAX_TOOL_NAME_LENGTH = 64;

const MCP_TOOL_NAME = /^[a-z0-9][a-z0-9-]{0,30}__[A-Za-z0-9_-]+$/;

/** Whether `name` has the shape of an MCP tool name (a slug, `__`, a tool). */
export function isMcpToolName(name: string): boolean {
  return MCP_TOOL_NAME.test(name);
}

/** The slug part of an MCP tool name; undefined for other names. */
export function slugOfToolName(name: string): string | undefined {
  return isMcpToolName(name) ? name.slice(0, name.indexOf(TOOL_SEPARATOR)) : undefined;
}

const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

/**
 * The names the model sees for a server's tools, by the server's own tool name. Characters providers
 * refuse become `_`; a name that would be longer than 64 characters, or that collides with another tool
 * of the server after that, is shortened and gets 8 hex digits of a hash of the original name. The result
 * depends only on the slug and the list, so every process computes the same names.
 */
export function exposedToolNames(slug: string, toolNames: readonly string[]): Map<string, string> {
  const prefix = `${slug}${TOOL_SEPARATOR}`;
  const room = MAX_TOOL_NAME_LENGTH - prefix.length;
  const plain = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const tool of toolNames) {
    const safe = tool.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
    plain.set(tool, safe);
    counts.set(safe, (counts.get(safe) ?? 0) + 1);
  }
  const exposed = new Map<string, string>();
  for (const tool of toolNames) {
    const safe = plain.get(tool)!;
    const name = safe.length <= room && counts.get(safe) === 1 ? safe : `${safe.slice(0, room - 9)}_${shortHash(tool)}`;
    exposed.set(tool, `${prefix}${name}`);
  }
  return exposed;
}
