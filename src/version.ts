/** chatd's version, from package.json (sent as `User-Agent: chatd/<version>` to providers). */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Walks up from this file: package.json sits one level up from src/, two from dist/src/. */
function readVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'chatd' && pkg.version) return pkg.version;
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
