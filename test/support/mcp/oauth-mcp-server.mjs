// An OAuth-protected MCP server for tests: a real OAuth 2 authorization server (oauth2-mock-server: the
// authorization code flow with PKCE, refresh tokens, a JWKS) and in front of it an MCP server (the SDK's
// McpServer over stateless streamable HTTP) that accepts only bearer tokens whose signature verifies
// against that JWKS, that have not expired and that were not revoked. It publishes protected resource
// metadata naming the authorization server, so clients can discover it. Both listen on 127.0.0.1 and
// free ports. Run as a child process (the packages are ESM-only): node oauth-mcp-server.mjs [ttl seconds].
// Prints one JSON line {"mcpUrl", "issuer", "controlUrl"}. Control routes on the MCP server's origin:
// GET /__stats (grants by type, refused refreshes, 401s, tool calls), POST /__revoke (every token seen so
// far is refused from now on), POST /__ttl?seconds=N (lifetime of the tokens issued next).
/* global process, fetch, Buffer, URL */
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { OAuth2Server } from 'oauth2-mock-server';
import { z } from 'zod';

let ttl = Number(process.argv[2] ?? 3600);
const stats = { grants: {}, refreshRefused: 0, unauthorized: 0, calls: 0 };
const refreshTokens = new Set();
const seenTokens = new Set();
const revoked = new Set();

const oauth = new OAuth2Server();
await oauth.issuer.keys.generate('RS256');
oauth.service.on('beforeTokenSigning', (token) => {
  token.payload.exp = token.payload.iat + ttl;
  // Without an id, two tokens issued within one second would be the same token.
  token.payload.jti = randomUUID();
});
oauth.service.on('beforeResponse', (response, req) => {
  const grant = req.body?.grant_type;
  // The mock accepts any refresh token; a real server accepts only the ones it issued.
  if (grant === 'refresh_token' && !refreshTokens.has(req.body.refresh_token)) {
    stats.refreshRefused++;
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'Unknown refresh token.' };
    return;
  }
  stats.grants[grant] = (stats.grants[grant] ?? 0) + 1;
  response.body.expires_in = ttl;
  if (response.body.refresh_token) refreshTokens.add(response.body.refresh_token);
});
await oauth.start(0, '127.0.0.1');
const issuer = oauth.issuer.url;

const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** The token's claims when it is one of the authorization server's, unexpired and not revoked. */
async function verifyToken(token) {
  const [header, payload, signature] = token.split('.');
  if (!signature || revoked.has(token)) return null;
  const { kid } = decode(header);
  const { keys } = await (await fetch(`${issuer}/jwks`)).json();
  const jwk = keys.find((key) => key.kid === kid);
  if (!jwk) return null;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  if (!verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return null;
  const claims = decode(payload);
  if (claims.iss !== issuer || claims.exp * 1000 <= Date.now()) return null;
  seenTokens.add(token);
  return claims;
}

function mcpServer(claims) {
  const server = new McpServer({ name: 'oauth-test-server', version: '1.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Echoes the message back, with the user the token was issued to.',
      inputSchema: { message: z.string() },
    },
    async ({ message }) => {
      stats.calls++;
      return { content: [{ type: 'text', text: `Echo: ${message} (as ${claims.sub})` }] };
    },
  );
  return server;
}

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const http = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const origin = `http://127.0.0.1:${http.address().port}`;
  const handle = async () => {
    if (url.pathname.startsWith('/.well-known/oauth-protected-resource')) {
      return json(res, 200, { resource: `${origin}/mcp`, authorization_servers: [issuer] });
    }
    if (url.pathname === '/__stats') return json(res, 200, stats);
    if (url.pathname === '/__revoke' && req.method === 'POST') {
      for (const token of seenTokens) revoked.add(token);
      return json(res, 200, { revoked: revoked.size });
    }
    if (url.pathname === '/__ttl' && req.method === 'POST') {
      ttl = Number(url.searchParams.get('seconds'));
      return json(res, 200, { ttl });
    }
    if (url.pathname !== '/mcp') return json(res, 404, { error: 'not found' });
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const claims = match ? await verifyToken(match[1]) : null;
    if (!claims) {
      stats.unauthorized++;
      return json(
        res,
        401,
        { error: 'invalid_token' },
        {
          'www-authenticate': `Bearer error="invalid_token", resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
        },
      );
    }
    if (req.method !== 'POST') return json(res, 405, { error: 'stateless server: POST only' });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    const server = mcpServer(claims);
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
  handle().catch((err) => {
    if (!res.headersSent) json(res, 500, { error: String(err) });
  });
});
http.listen(0, '127.0.0.1', () => {
  const origin = `http://127.0.0.1:${http.address().port}`;
  process.stdout.write(`${JSON.stringify({ mcpUrl: `${origin}/mcp`, issuer, controlUrl: origin })}\n`);
});
