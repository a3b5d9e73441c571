// The signaling connection: one WebSocket to `/v1/ws`, `hello` first, reconnect with
// exponential backoff and jitter (protocol.md 3.8), call actions kept while the socket is down
// and sent after the next `welcome`. It knows nothing about calls beyond their ids: the
// caller of `connect` says which calls to name in `hello.calls`.

import {
  type CallId,
  type ClientMessage,
  FINAL_CLOSE_CODES,
  parseServerFrame,
  type ServerMessage,
  type Welcome,
} from './protocol';

export interface SignalingEvents {
  /** `welcome` arrived: the session is up (again). */
  onWelcome(welcome: Welcome): void;
  /** Any other server message. */
  onMessage(message: ServerMessage): void;
  /** The socket closed; `final` means the client will not reconnect (bad token, replaced). */
  onDown(info: { final: boolean; code: number; error?: string }): void;
}

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Call actions a user took while offline, resent after `welcome`; more is a stuck client. */
const MAX_PENDING = 32;
const CALL_ACTIONS = new Set(['invite', 'ringing', 'accept', 'decline', 'busy', 'cancel', 'hangup']);

export class Signaling {
  private ws: WebSocket | null = null;
  private backoffMs = BACKOFF_START_MS;
  private retryTimer: number | undefined;
  private stopped = false;
  private lastError: string | undefined;
  private pending: ClientMessage[] = [];
  private ready = false;

  constructor(
    private readonly url: string,
    private readonly events: SignalingEvents,
    /** The calls this device shows, asked for in every `hello` (at most 32). */
    private readonly knownCalls: () => CallId[],
  ) {}

  get connected(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.ws?.close(1000, 'signed out');
    this.ws = null;
    this.ready = false;
  }

  /**
   * Sends now if the session is up. Otherwise call actions wait for the next `welcome` and
   * relays are dropped: the server queues no relays, and ICE restarts after a reconnect.
   */
  send(message: ClientMessage): void {
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    } else if (CALL_ACTIONS.has(message.type) && this.pending.length < MAX_PENDING) {
      this.pending.push(message);
    }
  }

  private open(): void {
    this.lastError = undefined;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      const calls = this.knownCalls().slice(0, 32);
      ws.send(JSON.stringify({ type: 'hello', versions: [1], client: 'ringwire-web/0.1', calls }));
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const message = parseServerFrame(event.data);
      if (!message) return;
      if (message.type === 'welcome') {
        this.ready = true;
        this.backoffMs = BACKOFF_START_MS;
        this.events.onWelcome(message);
        const pending = this.pending;
        this.pending = [];
        for (const m of pending) this.send(m);
        return;
      }
      if (message.type === 'error' && !message.call_id && !message.ref_type) {
        // Connection-level errors precede a close; remember why for `onDown`.
        this.lastError = message.code;
      }
      this.events.onMessage(message);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      const final = this.stopped || FINAL_CLOSE_CODES.has(event.code);
      this.events.onDown({ final, code: event.code, error: this.lastError });
      if (!final) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const jitter = 0.8 + Math.random() * 0.4;
    const delay = Math.round(this.backoffMs * jitter);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = window.setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}
