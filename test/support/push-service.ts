/**
 * FakePushService: a push service for tests, as a browser vendor runs one (RFC 8030). A real HTTPS
 * server on 127.0.0.1 (with a throwaway self-signed certificate that this process is told to trust)
 * that accepts POSTed push messages, checks their VAPID authorization (RFC 8292: an ES256 JWT for this
 * origin, signed with the key in `k=`), and decrypts the aes128gcm payload (RFC 8291) with the
 * subscription's private key and auth secret, as the browser would. `newSubscription()` gives what a
 * browser's `PushSubscription.toJSON()` gives; `answer()` makes the service refuse (404, 410, …).
 */
import { execFileSync } from 'node:child_process';
import { createECDH, createPublicKey, randomBytes, randomUUID, verify, type ECDH } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { decrypt } from 'http_ece';
import { until } from './wait';

/** A browser's subscription: the JSON it sends to chatd, and the private half it keeps. */
export interface BrowserSubscription {
  id: string;
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  ecdh: ECDH;
  auth: Buffer;
}

/** One message the service accepted (or refused with `answer()`), decrypted. */
export interface ReceivedPush {
  subscriptionId: string;
  /** The status the service answered. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The decrypted payload, parsed as JSON. */
  payload: any;
  /** `k=` of the Authorization header: the sender's VAPID public key (base64url). */
  vapidKey: string;
  /** The verified JWT claims (`aud`, `exp`, `sub`). */
  claims: { aud: string; exp: number; sub: string };
}

/** A self-signed certificate for 127.0.0.1, made with the openssl command line. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-push-cert-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    // prettier-ignore
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class FakePushService {
  readonly received: ReceivedPush[] = [];
  /** Requests the service could not verify or decrypt (a test expecting none asserts it stays empty). */
  readonly rejected: string[] = [];
  private readonly subscriptions = new Map<string, BrowserSubscription>();
  private readonly answers = new Map<string, number>();
  private readonly previousCas: string[];

  private constructor(
    private readonly server: https.Server,
    readonly origin: string,
    cert: string,
  ) {
    // web-push sends with Node's default agent: trust our certificate in this process only.
    this.previousCas = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...this.previousCas, cert]);
  }

  static async start(): Promise<FakePushService> {
    const { key, cert } = selfSignedCertificate();
    const server = https.createServer({ key, cert });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const service = new FakePushService(server, `https://127.0.0.1:${port}`, cert);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => service.handle(req, res));
    return service;
  }

  /** A new browser subscription on this service: a fresh P-256 key pair and 16-byte auth secret. */
  newSubscription(): BrowserSubscription {
    const id = randomUUID();
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const sub: BrowserSubscription = {
      id,
      json: {
        endpoint: `${this.origin}/push/${id}`,
        expirationTime: null,
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
      },
      ecdh,
      auth,
    };
    this.subscriptions.set(id, sub);
    return sub;
  }

  /** From now on, messages to `subscriptionId` are answered with `status` (after being decrypted). */
  answer(subscriptionId: string, status: number): void {
    this.answers.set(subscriptionId, status);
  }

  /** The messages received for one subscription. */
  receivedBy(subscriptionId: string): ReceivedPush[] {
    return this.received.filter((r) => r.subscriptionId === subscriptionId);
  }

  /** Waits for a received message matching `predicate`. */
  waitFor(predicate: (push: ReceivedPush) => boolean, what = 'a push', timeoutMs = 30_000): Promise<ReceivedPush> {
    return until(
      async () => this.received.find(predicate),
      what,
      timeoutMs,
      async () => JSON.stringify({ received: this.received.map((r) => r.payload), rejected: this.rejected }),
    );
  }

  async close(): Promise<void> {
    tls.setDefaultCACertificates(this.previousCas);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const push = this.accept(req, Buffer.concat(chunks));
        this.received.push(push);
        res.writeHead(push.status, push.status === 201 ? { Location: `${this.origin}/message/${randomUUID()}` } : {});
        res.end();
      } catch (err) {
        this.rejected.push((err as Error).message);
        res.writeHead(400).end((err as Error).message);
      }
    });
  }

  /** Verifies and decrypts one request as a push service and a browser would; throws what is wrong. */
  private accept(req: IncomingMessage, body: Buffer): ReceivedPush {
    const match = /^\/push\/([0-9a-f-]{36})$/.exec(req.url ?? '');
    const sub = match ? this.subscriptions.get(match[1]!) : undefined;
    if (req.method !== 'POST' || !sub) throw new Error(`unknown subscription: ${req.method} ${req.url}`);
    if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('payload is not aes128gcm');
    if (!/^\d+$/.test(String(req.headers.ttl))) throw new Error('no TTL header');
    const { vapidKey, claims } = this.verifyVapid(String(req.headers.authorization ?? ''));
    const plaintext = decrypt(body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.auth });
    return {
      subscriptionId: sub.id,
      status: this.answers.get(sub.id) ?? 201,
      headers: req.headers,
      payload: JSON.parse(plaintext.toString('utf8')),
      vapidKey,
      claims,
    };
  }

  /** `Authorization: vapid t=<jwt>, k=<key>`: an ES256 JWT for this origin, signed by `k`. */
  private verifyVapid(header: string): { vapidKey: string; claims: ReceivedPush['claims'] } {
    const match = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(header);
    if (!match) throw new Error(`no VAPID authorization: ${header}`);
    const [jwt, vapidKey] = [match[1]!, match[2]!];
    const [head, payload, signature] = jwt.split('.') as [string, string, string];
    const point = Buffer.from(vapidKey, 'base64url');
    const key = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33, 65).toString('base64url'),
      },
      format: 'jwk',
    });
    const signed = verify(
      'sha256',
      Buffer.from(`${head}.${payload}`),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature, 'base64url'),
    );
    if (!signed) throw new Error('the VAPID JWT signature does not verify');
    if (JSON.parse(Buffer.from(head, 'base64url').toString()).alg !== 'ES256') throw new Error('JWT is not ES256');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as ReceivedPush['claims'];
    if (claims.aud !== this.origin) throw new Error(`JWT audience ${claims.aud} is not ${this.origin}`);
    if (!(claims.exp * 1000 > Date.now())) throw new Error('the VAPID JWT expired');
    return { vapidKey, claims };
  }
}
