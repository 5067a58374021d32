/**
 * The production packaging: docker-compose.yml resolves to the whole stack — PostgreSQL,
 * Temporal's schema job, Temporal server on PostgreSQL, the search-attribute job, Temporal UI and
 * chatd's migrate / api / worker — wired with health and completion conditions, and the Dockerfile
 * builds a non-root image that runs bin/chatd.
 *
 * The compose file is resolved by `docker compose config` when the docker CLI has the compose
 * plugin (no Docker engine needed). Without it the test says so loudly and resolves the file itself
 * with a YAML parser already in node_modules (merge keys and `${VAR…}` interpolation included), or,
 * lacking one, checks the file text. Every mode asserts; none passes silently.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../../src/temporal/search-attributes';

const ROOT = path.resolve(__dirname, '../../..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const dockerfileText = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

/** Test values for the variables the compose file requires (`${VAR:?…}`). */
const TEST_ENV: Record<string, string> = {
  POSTGRES_PASSWORD: 'test-postgres-password',
  CHATD_DB_PASSWORD: 'test-chatd-db-password',
  TEMPORAL_DB_PASSWORD: 'test-temporal-password',
  CHATD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  CHATD_BOOTSTRAP_ADMIN_TOKEN: 'test-bootstrap-admin-token-0123456789',
};

const SERVICES = [
  'postgres',
  'chatd-db-setup',
  'temporal-schema',
  'temporal',
  'temporal-search-attributes',
  'temporal-ui',
  'chatd-migrate',
  'chatd-api',
  'chatd-worker',
  'chatd-worker-2',
] as const;

/** The worker services: each a workspace host with its own id and volume (README "Workspace hosts"). */
const WORKERS = ['chatd-worker', 'chatd-worker-2'] as const;

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string | null;
  entrypoint?: string[] | string | null;
  environment?: Record<string, string | number | null>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  ports?: Array<string | { target?: number | string }>;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
}
interface Resolved {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}
type Mode = 'docker compose config' | 'yaml parser' | 'file text';

/** Variable names the compose file interpolates; removed from the child env so it stays hermetic. */
const interpolatedNames = [...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
const requiredNames = [...new Set([...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)].map((m) => m[1]!))];

function composeEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env))
    if (key.startsWith('COMPOSE_') || interpolatedNames.includes(key)) delete env[key];
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) env[key] = value;
  return env;
}

function dockerComposeAvailable(): boolean {
  const r = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
}

/** `docker compose config --format json` with an empty env file (a developer's .env never leaks in). */
function dockerComposeConfig(env: Record<string, string | undefined>): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'chatd-compose-'));
  try {
    const envFile = path.join(dir, 'empty.env');
    writeFileSync(envFile, '');
    const r = spawnSync(
      'docker',
      ['compose', '-f', COMPOSE_FILE, '--env-file', envFile, 'config', '--format', 'json'],
      {
        cwd: ROOT,
        env: composeEnv(env),
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compose-style interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (match, name?: string, op?: string, arg?: string) => {
      if (match === '$$') return '$';
      const v = env[name!];
      const missing = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
      if (op?.endsWith('?') && missing) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      if (op?.endsWith('-') && missing) return arg ?? '';
      return v ?? '';
    },
  );
}

function interpolateDeep(node: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateDeep(n, env));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateDeep(v, env)]));
  }
  return node;
}

function loadYamlParser(): ((src: string) => unknown) | undefined {
  try {
    const req = createRequire(__filename);
    const yaml = req('js-yaml') as { load?: (src: string) => unknown };
    return typeof yaml.load === 'function' ? yaml.load : undefined;
  } catch {
    return undefined;
  }
}

/** The lines of one top-level service block, for the text-only fallback. */
function serviceBlock(name: string): string {
  const lines = composeText.split('\n');
  const start = lines.findIndex((l) => l === `  ${name}:`);
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && /^ {0,2}\S/.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

const asList = (v: string[] | string | null | undefined): string[] =>
  Array.isArray(v) ? v : typeof v === 'string' ? v.split(/\s+/) : [];
const targetPorts = (svc: Service): number[] =>
  (svc.ports ?? []).map((p) => Number(typeof p === 'string' ? p.split(':').pop()!.split('/')[0] : p.target));
const envOf = (svc: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
const conditionOf = (svc: Service, dep: string): string | undefined => svc.depends_on?.[dep]?.condition;

let mode: Mode;
let resolved: Resolved | undefined;

beforeAll(() => {
  if (dockerComposeAvailable()) {
    const r = dockerComposeConfig(TEST_ENV);
    if (r.status !== 0) throw new Error(`docker compose config failed (exit ${r.status}):\n${r.stderr}`);
    mode = 'docker compose config';
    resolved = JSON.parse(r.stdout) as Resolved;
    return;
  }
  const load = loadYamlParser();
  if (load) {
    mode = 'yaml parser';
    resolved = interpolateDeep(load(composeText), TEST_ENV) as Resolved;
  } else {
    mode = 'file text';
  }
  console.warn(
    `[compose.test] the docker CLI with the compose plugin is NOT available: docker-compose.yml is checked ` +
      `with the ${mode} fallback, not by docker compose itself. Install the compose plugin for the full check.`,
  );
}, 90_000);

describe('docker-compose.yml', () => {
  it('resolves to every service of the stack', () => {
    if (resolved) {
      expect(Object.keys(resolved.services).sort()).toEqual(expect.arrayContaining([...SERVICES].sort()));
    } else {
      for (const name of SERVICES) expect(serviceBlock(name)).not.toBe('');
    }
  });

  it('uses no deprecated temporalio/auto-setup image and pins every image tag', () => {
    const images = resolved
      ? Object.values(resolved.services).flatMap((s) => (s.image ? [s.image] : []))
      : [...composeText.matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThanOrEqual(6);
    for (const image of images) {
      expect(image).not.toMatch(/auto-setup/);
      if (resolved && image.startsWith('temporalio/')) expect(image).toMatch(/^temporalio\/[a-z-]+:\d+\.\d+\.\d+$/);
    }
  });

  it("runs PostgreSQL with a healthcheck and a named volume, plus the init script for Temporal's role", () => {
    if (!resolved) {
      const block = serviceBlock('postgres');
      expect(block).toMatch(/image: postgres:1[78]/);
      expect(block).toMatch(/healthcheck:/);
      expect(block).toMatch(/deploy\/postgres/);
      return;
    }
    const pg = resolved.services.postgres!;
    expect(pg.image).toMatch(/^postgres:1[78]/);
    expect(asList(pg.healthcheck?.test).join(' ')).toMatch(/pg_isready/);
    const volumes = (pg.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    expect(volumes.some((v) => v.endsWith('/var/lib/postgresql/data') || v.includes(':/var/lib/postgresql'))).toBe(
      true,
    );
    expect(volumes.some((v) => v.includes('deploy/postgres') && v.includes('/docker-entrypoint-initdb.d'))).toBe(true);
    expect(envOf(pg).POSTGRES_PASSWORD).toBe(TEST_ENV.POSTGRES_PASSWORD);
  });

  // A superuser connection string lets whoever reads it run programs on the database server
  // (COPY … FROM PROGRAM) and rewrite any row; chatd needs neither.
  it('connects chatd as its own role, not the postgres superuser, after a one-shot job set that role up', () => {
    const script = readFileSync(path.join(ROOT, 'deploy/postgres/chatd-db-setup.sh'), 'utf8');
    expect(script).toMatch(/LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD/);
    expect(script).toMatch(/CREATE DATABASE %I OWNER %I/);
    expect(script).toMatch(/REVOKE %I FROM %I/);
    if (!resolved) {
      expect(serviceBlock('chatd-db-setup')).toMatch(/chatd-db-setup\.sh/);
      expect(composeText).toMatch(/DATABASE_URL: postgres:\/\/\$\{CHATD_DB_USER:-chatd\}:\$\{CHATD_DB_PASSWORD/);
      expect(serviceBlock('postgres')).toMatch(/POSTGRES_USER: \$\{POSTGRES_USER:-postgres\}/);
      return;
    }
    const superuser = envOf(resolved.services.postgres!).POSTGRES_USER;
    expect(superuser).toBe('postgres');
    const setup = resolved.services['chatd-db-setup']!;
    expect(conditionOf(setup, 'postgres')).toBe('service_healthy');
    expect(asList(setup.command).join(' ')).toMatch(/chatd-db-setup\.sh/);
    expect(envOf(setup)).toMatchObject({
      PGHOST: 'postgres',
      PGUSER: superuser,
      PGPASSWORD: TEST_ENV.POSTGRES_PASSWORD,
      CHATD_DB_PASSWORD: TEST_ENV.CHATD_DB_PASSWORD,
    });
    expect(conditionOf(resolved.services['chatd-migrate']!, 'chatd-db-setup')).toBe('service_completed_successfully');
    for (const name of SERVICES.filter((n) => n.startsWith('chatd-') && n !== 'chatd-db-setup')) {
      const url = new URL(envOf(resolved.services[name]!).DATABASE_URL!);
      expect({ name, user: url.username }).toEqual({ name, user: envOf(setup).CHATD_DB_USER });
      expect(url.username).not.toBe(superuser);
      expect(decodeURIComponent(url.password)).not.toBe(TEST_ENV.POSTGRES_PASSWORD);
      expect(url.pathname).toBe(`/${envOf(setup).CHATD_DB_NAME}`);
    }
  });

  it("creates Temporal's schemas in a one-shot admin-tools job before the server starts", () => {
    const script = readFileSync(path.join(ROOT, 'deploy/temporal/setup-schema.sh'), 'utf8');
    expect(script).toMatch(/temporal-sql-tool/);
    expect(script).toMatch(/--plugin postgres12/);
    expect(script).toMatch(/update-schema/);
    expect(script).toMatch(/temporal_visibility/);
    if (!resolved) {
      expect(serviceBlock('temporal-schema')).toMatch(/image: temporalio\/admin-tools:/);
      expect(serviceBlock('temporal')).toMatch(/temporal-schema:\s*\n\s*condition: service_completed_successfully/);
      return;
    }
    const job = resolved.services['temporal-schema']!;
    expect(job.image).toMatch(/^temporalio\/admin-tools:/);
    expect([...asList(job.entrypoint), ...asList(job.command)].join(' ')).toMatch(/setup-schema\.sh/);
    expect(conditionOf(job, 'postgres')).toBe('service_healthy');
    const server = resolved.services.temporal!;
    expect(conditionOf(server, 'temporal-schema')).toBe('service_completed_successfully');
    // Server and admin-tools must share a version: admin-tools carries the server's schema versions.
    expect(job.image!.split(':')[1]).toBe(server.image!.split(':')[1]);
  });

  it("configures the Temporal server for PostgreSQL through the image's variables, with a healthcheck", () => {
    if (!resolved) {
      const block = serviceBlock('temporal');
      expect(block).toMatch(/image: temporalio\/server:/);
      for (const key of ['DB', 'DB_PORT', 'POSTGRES_SEEDS', 'POSTGRES_USER', 'POSTGRES_PWD'])
        expect(composeText).toMatch(new RegExp(`\\b${key}:`));
      expect(block).toMatch(/healthcheck:/);
      return;
    }
    const server = resolved.services.temporal!;
    expect(server.image).toMatch(/^temporalio\/server:1\.(29|3\d)\./);
    const env = envOf(server);
    expect(env).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: 'postgres',
      POSTGRES_PWD: TEST_ENV.TEMPORAL_DB_PASSWORD,
    });
    expect(env.POSTGRES_USER).toBeTruthy();
    expect(env.BIND_ON_IP).toBe('0.0.0.0');
    expect(env.DYNAMIC_CONFIG_FILE_PATH).toBeTruthy();
    expect(server.healthcheck?.test).toBeDefined();
    expect(server.healthcheck?.disable).not.toBe(true);
  });

  it('registers every chatd search attribute as Keyword once the server is healthy', () => {
    const script = readFileSync(path.join(ROOT, 'deploy/temporal/register-search-attributes.sh'), 'utf8');
    expect(script).toMatch(/temporal operator search-attribute create/);
    expect(script).toMatch(/--type Keyword/);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS)) {
      expect(type).toBe('Keyword');
      expect(script).toMatch(new RegExp(`\\b${name}\\b`));
    }
    if (!resolved) {
      expect(serviceBlock('temporal-search-attributes')).toMatch(/temporal:\s*\n\s*condition: service_healthy/);
      return;
    }
    const job = resolved.services['temporal-search-attributes']!;
    expect(job.image).toMatch(/^temporalio\/admin-tools:/);
    expect([...asList(job.entrypoint), ...asList(job.command)].join(' ')).toMatch(/register-search-attributes\.sh/);
    expect(conditionOf(job, 'temporal')).toBe('service_healthy');
    expect(envOf(job).TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('serves the Temporal UI on host port 8233 (8080 inside)', () => {
    if (!resolved) {
      expect(serviceBlock('temporal-ui')).toMatch(/image: temporalio\/ui:/);
      expect(serviceBlock('temporal-ui')).toMatch(/8233.*:8080/);
      return;
    }
    const ui = resolved.services['temporal-ui']!;
    expect(ui.image).toMatch(/^temporalio\/ui:/);
    expect(envOf(ui).TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(targetPorts(ui)).toContain(8080);
    expect(JSON.stringify(ui.ports)).toMatch(/8233/);
  });

  describe.each([
    ['chatd-migrate', 'migrate'],
    ['chatd-api', 'api'],
    ['chatd-worker', 'worker'],
    ['chatd-worker-2', 'worker'],
  ])('%s', (name, command) => {
    it(`is built from the Dockerfile and runs \`chatd ${command}\` configured by environment`, () => {
      if (!resolved) {
        const block = serviceBlock(name);
        expect(block).toMatch(/build:/);
        expect(block).toMatch(new RegExp(`command: \\[["']${command}["']\\]`));
        expect(composeText).toMatch(/DATABASE_URL: postgres:\/\//);
        expect(composeText).toMatch(/TEMPORAL_ADDRESS: temporal:7233/);
        return;
      }
      const svc = resolved.services[name]!;
      expect(svc.build).toBeDefined();
      expect(asList(svc.command)).toEqual([command]);
      const env = envOf(svc);
      const url = new URL(env.DATABASE_URL!);
      expect(url.protocol).toBe('postgres:');
      expect(url.hostname).toBe('postgres');
      expect(decodeURIComponent(url.password)).toBe(TEST_ENV.CHATD_DB_PASSWORD);
      if (command !== 'migrate') {
        expect(env).toMatchObject({
          TEMPORAL_ADDRESS: 'temporal:7233',
          CHATD_STREAM_BUS: 'postgres',
          CHATD_ENCRYPTION_KEYS: TEST_ENV.CHATD_ENCRYPTION_KEYS,
        });
        for (const passthrough of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'CHATD_DEFAULT_MODEL'])
          expect(env).toHaveProperty(passthrough);
      }
    });
  });

  it('starts the api and the worker only after migrations completed and Temporal is ready', () => {
    for (const name of ['chatd-api', ...WORKERS]) {
      if (!resolved) {
        expect(serviceBlock(name)).toMatch(/chatd-migrate:\s*\n\s*condition: service_completed_successfully/);
        continue;
      }
      const svc = resolved.services[name]!;
      expect(conditionOf(svc, 'chatd-migrate')).toBe('service_completed_successfully');
      expect(conditionOf(svc, 'temporal')).toBe('service_healthy');
      expect(conditionOf(svc, 'temporal-search-attributes')).toBe('service_completed_successfully');
    }
    if (resolved) {
      expect(conditionOf(resolved.services['chatd-migrate']!, 'chatd-db-setup')).toBe('service_completed_successfully');
    }
  });

  it('exposes the api on 0.0.0.0:8080 with the bootstrap token, and checks the workers on their health server', () => {
    if (!resolved) {
      expect(serviceBlock('chatd-api')).toMatch(/CHATD_HTTP_HOST: 0\.0\.0\.0/);
      expect(serviceBlock('chatd-worker')).toMatch(/127\.0\.0\.1:9464\/readyz/);
      return;
    }
    const api = resolved.services['chatd-api']!;
    expect(envOf(api)).toMatchObject({
      CHATD_HTTP_HOST: '0.0.0.0',
      CHATD_BOOTSTRAP_ADMIN_TOKEN: TEST_ENV.CHATD_BOOTSTRAP_ADMIN_TOKEN,
    });
    expect(targetPorts(api)).toContain(8080);
    for (const name of WORKERS) {
      const check = resolved.services[name]!.healthcheck;
      expect(check?.disable).not.toBe(true);
      expect(asList(check?.test).join(' ')).toContain('http://127.0.0.1:9464/readyz');
    }
  });

  it('gives every worker a stable workspace host id of its own and its own volume for its workspaces', () => {
    const dataDir = /CHATD_DATA_DIR=(\S+)/.exec(dockerfileText)?.[1];
    expect(dataDir).toBe('/var/lib/chatd');
    if (!resolved) {
      const ids = WORKERS.map((name) => /CHATD_WORKSPACE_HOST_ID: (\S+)/.exec(serviceBlock(name))?.[1]);
      expect(new Set(ids).size).toBe(WORKERS.length);
      for (const name of WORKERS) expect(serviceBlock(name)).toMatch(new RegExp(`:${dataDir}\\b`));
      return;
    }
    const ids = new Set<string>();
    const volumes = new Set<string>();
    for (const name of WORKERS) {
      const svc = resolved.services[name]!;
      const id = envOf(svc).CHATD_WORKSPACE_HOST_ID;
      expect(id).toMatch(/^[a-z0-9][a-z0-9._-]*$/);
      ids.add(id!);
      const mounts = (svc.volumes ?? []).map((v) =>
        typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v,
      );
      const data = mounts.find((m) => m.target === dataDir);
      expect(data?.source).toBeTruthy();
      // A named volume (not a bind mount of the checkout), declared at the top level.
      expect(data!.source).not.toMatch(/^[./]/);
      expect(Object.keys(resolved.volumes ?? {})).toContain(data!.source);
      volumes.add(data!.source!);
    }
    expect(ids.size).toBe(WORKERS.length);
    expect(volumes.size).toBe(WORKERS.length);
  });

  it('ships the workspace sandbox in the image and lets the workers create its namespaces', () => {
    expect(dockerfileText).toMatch(/apt-get install[^\n]*\bbubblewrap\b[^\n]*\bsocat\b/);
    for (const name of WORKERS) {
      const block = serviceBlock(name);
      expect(block).toMatch(/user: '0:0'/);
      expect(block).toMatch(/seccomp=unconfined/);
      expect(block).toMatch(/apparmor=unconfined/);
    }
    // The API serves no workspace: it keeps the image's unprivileged user and default profiles.
    expect(serviceBlock('chatd-api')).not.toMatch(/user:|security_opt/);
  });

  it('does not tell operators to --scale the workers (replicas would share one host id)', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).not.toMatch(/docker compose up[^\n]*--scale chatd-worker/);
    expect(composeText).not.toMatch(/^\s*#.*Scale with `docker compose up -d --scale chatd-worker/m);
  });

  it('refuses to resolve without the required secrets, each documented in .env.example', () => {
    expect(requiredNames.sort()).toEqual(Object.keys(TEST_ENV).sort());
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    for (const name of requiredNames) expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    if (mode === 'docker compose config') {
      const r = dockerComposeConfig({ ...TEST_ENV, POSTGRES_PASSWORD: undefined });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/POSTGRES_PASSWORD/);
    } else if (mode === 'yaml parser') {
      const load = loadYamlParser()!;
      expect(() => interpolateDeep(load(composeText), { ...TEST_ENV, POSTGRES_PASSWORD: undefined })).toThrow(
        /POSTGRES_PASSWORD/,
      );
    }
  }, 60_000);
});

describe('Dockerfile', () => {
  const stages = dockerfileText
    .split(/^(?=FROM\s)/m)
    .filter((s) => /^FROM\s/.test(s))
    .map((s) => s.replace(/\\\n/g, ' '));
  const runtime = stages[stages.length - 1] ?? '';
  const instructions = (stage: string, keyword: string): string[] =>
    [...stage.matchAll(new RegExp(`^${keyword}\\s+(.+)$`, 'gm'))].map((m) => m[1]!.trim());

  it('is multi-stage on an official Node 24 image: npm ci + build, then production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfileText).toMatch(/node:24[\w.-]*/);
    expect(dockerfileText).toMatch(/RUN[^\n]*npm ci(?!\s+--omit)/);
    expect(dockerfileText).toMatch(/npm run build/);
    expect(dockerfileText).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=\S+ \S*dist/);
    expect(runtime).toMatch(/COPY[^\n]*\bbin\b/);
  });

  it('runs the runtime stage as a non-root user', () => {
    const users = instructions(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts bin/chatd (api by default), exposes 8080 and checks /api/v1/healthz with node, not curl', () => {
    expect(instructions(runtime, 'ENTRYPOINT')).toEqual(['["node", "bin/chatd"]']);
    expect(instructions(runtime, 'CMD')).toEqual(['["api"]']);
    expect(instructions(runtime, 'EXPOSE').join(' ')).toMatch(/\b8080\b/);
    const healthcheck = instructions(runtime, 'HEALTHCHECK').join(' ');
    expect(healthcheck).toMatch(/\/api\/v1\/healthz/);
    expect(healthcheck).toMatch(/"node"/);
    expect(healthcheck).not.toMatch(/curl|wget/);
  });

  it('keeps dependencies, build output, local data and secrets out of the build context', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', '.data', 'dist', 'coverage', '.git', 'bench/results/*.tmp', '.env']) {
      expect(ignored).toContain(entry);
    }
  });
});
