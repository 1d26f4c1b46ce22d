// A TCP proxy between a pg client and a real PostgreSQL server that cuts or drops traffic on cue, for fault-injection tests.

import * as net from 'node:net';
import type { ClientConfig } from 'pg';
import { parse, type ConnectionOptions } from 'pg-connection-string';

/**
 * One message the client sent, as the proxy parsed it from the v3 frontend protocol (PostgreSQL docs,
 * 55.7 "Message Formats"): the startup packet and its kin have no type byte (`type` is `''`), every
 * later message is a type byte and an int32 length that counts itself.
 */
export interface FrontendMessage {
  /** `Q` (simple query), `P` (Parse), `B`, `E`, `S`, `X` (Terminate)…, `''` for an untyped packet (startup, SSLRequest, CancelRequest). */
  type: string;
  /** The whole message as sent (type byte and length included). */
  raw: Buffer;
  /** For `Q`: the query text; for `P`: the statement text. Undefined for other messages. */
  query?: string;
  /** Which client connection it came on: 1 for the first accepted, and so on. */
  connection: number;
}

/** Decides whether a message is the one a fault waits for. */
export type MessagePredicate = (m: FrontendMessage) => boolean;

/** What happens to the server side of a connection when a fault cuts the client side. */
export interface CutOptions {
  /**
   * `end` (default): the proxy sends FIN to the server after the bytes it forwarded, so the backend
   * reads the message (if forwarded) and then end-of-file, and exits after it (rolling back an open
   * transaction). `keep`: the server side stays open and silent until `close()`, like a client whose
   * host vanished: the backend keeps its session (and an open transaction) until it notices.
   */
  server?: 'end' | 'keep';
}

/** A fault armed with `cutAfterForwarding`, `dropThenCut` or `holdRepliesAfter`. */
interface Fault {
  match: MessagePredicate;
  action: 'cut-after' | 'drop-cut' | 'hold';
  server: 'end' | 'keep';
  fired: (m: FrontendMessage) => void;
}

// Untyped packet codes (PostgreSQL docs, 55.7): SSLRequest and GSSENCRequest are answered by one
// byte, and a startup packet follows; a CancelRequest is the whole conversation.
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** One client connection and its server connection. */
class Pair {
  private buffer = Buffer.alloc(0);
  /** The next client packet has no type byte (the startup, or the one after an SSLRequest). */
  private untyped = true;
  /** After an accepted SSL/GSS request the bytes are encrypted: passed on without parsing. */
  private opaque = false;
  private awaitingEncryptionAnswer = false;
  /** Set once a fault stopped the server's bytes from reaching the client (and the client's from reaching the server). */
  holding = false;
  /** Set once a fault cut the client side: the server side is then the fault's to end or keep. */
  private cut = false;
  closed = false;

  constructor(
    readonly id: number,
    readonly client: net.Socket,
    readonly server: net.Socket,
    private readonly onMessage: (pair: Pair, m: FrontendMessage) => 'forward' | 'stop',
  ) {
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    server.on('data', (chunk: Buffer) => {
      if (this.awaitingEncryptionAnswer) {
        this.awaitingEncryptionAnswer = false;
        if (chunk[0] === 0x53 || chunk[0] === 0x47) this.opaque = true; // 'S' / 'G': encryption follows
      }
      if (!this.holding && !client.destroyed) client.write(chunk);
    });
    // A close on one side is passed on as a close (FIN, after the bytes already written), unless a
    // fault has taken over the connection.
    server.on('end', () => {
      if (!this.holding) client.end();
    });
    client.on('end', () => {
      if (!this.cut && !this.holding) server.end();
    });
    server.on('close', () => {
      this.closed = true;
      if (!this.holding) client.destroy();
    });
    client.on('close', () => {
      if (!this.cut && !this.holding) server.end();
    });
    client.on('error', () => undefined);
    server.on('error', () => undefined);
  }

  /** Destroys both sides at once. */
  destroy(): void {
    this.closed = true;
    this.client.destroy();
    this.server.destroy();
  }

  /** Cuts the client side now; the server side is ended after what was written (`end`) or left open (`keep`). */
  cutClient(server: 'end' | 'keep'): void {
    this.holding = true;
    this.cut = true;
    this.client.destroy();
    if (server === 'end') this.server.end();
  }

  private fromClient(chunk: Buffer): void {
    if (this.closed || this.holding) return;
    if (this.opaque) {
      this.server.write(chunk);
      return;
    }
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerLength = this.untyped ? 4 : 5;
      if (this.buffer.length < headerLength) return;
      const length = this.untyped ? this.buffer.readInt32BE(0) : 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < length) return;
      const raw = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      const message = this.parse(raw);
      if (this.onMessage(this, message) === 'stop') return;
      if (this.closed) return;
      this.server.write(raw);
      if (this.holding) return;
      if (this.opaque) {
        if (this.buffer.length > 0) this.server.write(this.buffer);
        this.buffer = Buffer.alloc(0);
        return;
      }
    }
  }

  private parse(raw: Buffer): FrontendMessage {
    if (this.untyped) {
      const code = raw.length >= 8 ? raw.readInt32BE(4) : 0;
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) this.awaitingEncryptionAnswer = true;
      else this.untyped = false;
      return { type: '', raw, connection: this.id };
    }
    const type = String.fromCharCode(raw[0]);
    const m: FrontendMessage = { type, raw, connection: this.id };
    if (type === 'Q') m.query = cString(raw, 5);
    else if (type === 'P') m.query = cString(raw, raw.indexOf(0, 5) + 1);
    return m;
  }
}

function cString(buf: Buffer, from: number): string {
  const end = buf.indexOf(0, from);
  return buf.toString('utf8', from, end === -1 ? buf.length : end);
}

/**
 * A real TCP proxy (node:net) on 127.0.0.1 in front of a PostgreSQL server, for tests that need the
 * network to fail at a chosen moment. It parses just enough of the frontend protocol to recognise
 * client messages (the startup packet, then type byte + int32 length); server bytes pass through
 * untouched. It is a fault injector, not a mock: everything else is the real server.
 *
 * ```ts
 * const proxy = await FaultProxy.start({ host: '127.0.0.1', port: 5432 });
 * const session = await PostgresSession.connect(proxy.clientConfig(db.clientConfig));
 * const cut = proxy.cutAfterForwarding(FaultProxy.query(/^COMMIT$/i)); // the server commits, the client never hears
 * await session.executeCell('COMMIT;');
 * await cut; // resolves with the message once the fault has happened
 * await proxy.close();
 * ```
 *
 * Each armed fault fires once, on the first matching message of any connection (open or opened later),
 * and only for the faults armed before that message arrived. New connections (such as the one a test
 * or the engine opens to look at the outcome) are served normally unless `refuseNew(true)`.
 */
export class FaultProxy {
  /** Where clients connect: always 127.0.0.1. */
  readonly host = '127.0.0.1';
  private pairs = new Set<Pair>();
  private faults: Fault[] = [];
  private refusing = false;
  private accepted = 0;
  private observers = new Set<(m: FrontendMessage) => void>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /**
   * Listens on a free 127.0.0.1 port and forwards every connection to `target`.
   * @param target the real server: `host` is a hostname or IP (a Unix-socket directory is not supported).
   */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port, target);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  /**
   * The proxy in front of the server that `config` names: its `host` and `port`, or those of its
   * `connectionString` (default 127.0.0.1:5432).
   */
  static forConfig(config: ClientConfig): Promise<FaultProxy> {
    const fromUrl: Partial<ConnectionOptions> = config.connectionString ? parse(config.connectionString) : {};
    const host = config.host ?? fromUrl.host ?? '127.0.0.1';
    const port = Number(config.port ?? fromUrl.port ?? 5432);
    return FaultProxy.start({ host: host || '127.0.0.1', port });
  }

  /** A predicate for a simple-query (`Q`) message whose text, trimmed and without a final `;`, matches `text` (case-insensitive for a string). */
  static query(text: string | RegExp): MessagePredicate {
    return (m) => {
      if (m.type !== 'Q' || m.query === undefined) return false;
      const q = m.query.trim().replace(/;$/, '').trim();
      return typeof text === 'string' ? q.toLowerCase() === text.toLowerCase() : text.test(q);
    };
  }

  /**
   * `config` pointed at the proxy: a copy with `host` and `port` replaced; a `connectionString` is
   * turned into its parts first (it would name the server itself). TLS is not parsed (`ssl` off).
   */
  clientConfig(config: ClientConfig): ClientConfig {
    const fromUrl: Partial<ConnectionOptions> = config.connectionString ? parse(config.connectionString) : {};
    const c: ClientConfig = {
      user: fromUrl.user, password: fromUrl.password, database: fromUrl.database ?? undefined,
      ...config, host: this.host, port: this.port, ssl: false,
    };
    delete c.connectionString;
    return c;
  }

  /**
   * Calls `listener` with every client message the proxy parses (all connections, before any fault
   * looks at it), e.g. to count the queries a client sends. Returns a function that stops it.
   */
  observe(listener: (m: FrontendMessage) => void): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  /** Client connections accepted so far (refused ones included). */
  get connectionsAccepted(): number {
    return this.accepted;
  }

  /** Connections whose server side is still open (a client side cut with `server: 'keep'` counts). */
  get openConnections(): number {
    return [...this.pairs].filter((p) => !p.closed).length;
  }

  /** Cuts every open connection now, both sides (the client sees the socket close; the backend sees end-of-file). */
  cutAll(): void {
    for (const p of this.pairs) p.destroy();
  }

  /**
   * Arms a fault: the first client message matching `match` is forwarded to the server, then the client
   * side is cut at once and nothing more reaches it (e.g. a COMMIT: the server commits, the client never
   * hears back). Resolves with the message when it has happened.
   */
  cutAfterForwarding(match: MessagePredicate, opts: CutOptions = {}): Promise<FrontendMessage> {
    return this.arm(match, 'cut-after', opts.server ?? 'end');
  }

  /**
   * Arms a fault: the first client message matching `match` is NOT forwarded; the client side is cut at
   * once (e.g. a COMMIT that never reaches the server: its transaction rolls back when the backend sees
   * end-of-file, with the default `server: 'end'`). Resolves with the dropped message.
   */
  dropThenCut(match: MessagePredicate, opts: CutOptions = {}): Promise<FrontendMessage> {
    return this.arm(match, 'drop-cut', opts.server ?? 'end');
  }

  /**
   * Arms a fault: the first client message matching `match` is forwarded, and from then on nothing the
   * server sends on that connection reaches the client, nor anything more the client sends reaches the
   * server; both sockets stay open (a network black hole: the client waits for an answer that never
   * comes, until it gives up and closes the socket). Resolves with the message.
   */
  holdRepliesAfter(match: MessagePredicate): Promise<FrontendMessage> {
    return this.arm(match, 'hold', 'keep');
  }

  /** While on, new client connections are closed as soon as they are accepted (the server is unreachable); open ones are untouched. */
  refuseNew(on: boolean): void {
    this.refusing = on;
  }

  /** Stops listening and destroys every connection. Safe to call twice. */
  async close(): Promise<void> {
    this.faults = [];
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private arm(match: MessagePredicate, action: Fault['action'], server: 'end' | 'keep'): Promise<FrontendMessage> {
    return new Promise((fired) => this.faults.push({ match, action, server, fired }));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.refusing) {
      client.destroy();
      return;
    }
    // Bytes written before the server connection is up are queued by node:net.
    const server = net.connect(this.target.port, this.target.host);
    const pair = new Pair(this.accepted, client, server, (p, m) => this.onMessage(p, m));
    this.pairs.add(pair);
    server.once('close', () => this.pairs.delete(pair));
  }

  private onMessage(pair: Pair, m: FrontendMessage): 'forward' | 'stop' {
    for (const o of this.observers) o(m);
    const i = this.faults.findIndex((f) => f.match(m));
    if (i === -1) return 'forward';
    const [fault] = this.faults.splice(i, 1);
    switch (fault.action) {
      case 'cut-after':
        pair.server.write(m.raw);
        pair.cutClient(fault.server);
        break;
      case 'drop-cut':
        pair.cutClient(fault.server);
        break;
      case 'hold':
        pair.server.write(m.raw);
        pair.holding = true;
        break;
    }
    fault.fired(m);
    return 'stop';
  }
}
