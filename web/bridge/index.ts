// @ringwire/bridge: one API for a WebView UI to drive the native ringwire engine, over whichever
// transport the page runs in: WKWebView (`window.webkit.messageHandlers.ringwire`), an Android
// WebView (`@JavascriptInterface` object `window.RingwireAndroid`), or a WebSocket (development,
// tests, `ringwire bridge-host`). Native code answers by calling `window.ringwireBridge.receive`
// with each JSON message. The protocol is docs/bridge.md.
//
// The page may sleep at any time (iOS suspends a backgrounded WebView's process). The call does
// not: it lives in the engine. So the bridge re-syncs whenever the page may have slept —
// `visibilitychange`, `pageshow`, the Page Lifecycle `resume` event, a WebSocket reconnect, and
// a timer that notices the page's clock jumped — by asking for a snapshot (the truth) and the
// events it missed.

import type { BridgeEvent as EventBody } from './generated/events';

export type { CallKitEndReason, CallQuality, SelectedPair } from './generated/events';

/**
 * One event as the UI receives it: the engine's event, whose shapes are generated from the Rust
 * type (crates/ffi/tests/typescript.rs), with its sequence number.
 */
export type BridgeEvent = { type: 'event'; seq: number } & EventBody;

/** An `ended` event, as the snapshot's `recent_ended` keeps them. */
export type EndedEvent = Extract<BridgeEvent, { event: 'ended' }>;

export interface CallSnapshot {
  call_id: string;
  direction: 'incoming' | 'outgoing';
  remote_user: string;
  state: 'dialing' | 'ringing' | 'connecting' | 'active' | 'reconnecting';
  muted: boolean;
  held: boolean;
  media_connected: boolean;
}

export interface Snapshot {
  seq: number;
  signaling: { connected: boolean };
  calls: CallSnapshot[];
  recent_ended: EndedEvent[];
}

export interface Transport {
  send(text: string): void;
  /** Called with every message from native; `reconnected` after a transport came back. */
  listen(onMessage: (text: string) => void, onReconnected: () => void): void;
}

export class BridgeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

declare global {
  interface Window {
    webkit?: { messageHandlers?: { ringwire?: { postMessage(text: string): void } } };
    RingwireAndroid?: { postMessage(text: string): void };
    ringwireBridge?: { receive(text: string): void };
  }
}

/** Native shells deliver by calling `window.ringwireBridge.receive(json)`. */
class NativeTransport implements Transport {
  constructor(private readonly post: (text: string) => void) {}
  send(text: string): void {
    this.post(text);
  }
  listen(onMessage: (text: string) => void): void {
    window.ringwireBridge = { receive: onMessage };
  }
}

/** Development and tests: the bridge over a WebSocket, reconnecting with backoff. */
export class WebSocketTransport implements Transport {
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private delay = 250;
  private onMessage: (text: string) => void = () => undefined;
  private onReconnected: () => void = () => undefined;
  private opened = false;

  constructor(private readonly url: string) {}

  send(text: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
    else if (this.queue.length < 64) this.queue.push(text);
  }

  listen(onMessage: (text: string) => void, onReconnected: () => void): void {
    this.onMessage = onMessage;
    this.onReconnected = onReconnected;
    this.open();
  }

  private open(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 250;
      const queued = this.queue;
      this.queue = [];
      for (const text of queued) ws.send(text);
      if (this.opened) this.onReconnected();
      this.opened = true;
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') this.onMessage(e.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      window.setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }
}

/** The transport this page runs on: a native shell's if present, else a WebSocket. */
export function detectTransport(websocketUrl?: string): Transport {
  const ios = window.webkit?.messageHandlers?.ringwire;
  if (ios) return new NativeTransport((t) => ios.postMessage(t));
  const android = window.RingwireAndroid;
  if (android) return new NativeTransport((t) => android.postMessage(t));
  const url = websocketUrl ?? `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/bridge`;
  return new WebSocketTransport(url);
}

/** A page whose timers stop for this long was asleep. */
const SLEEP_GAP_MS = 2500;

export class RingwireBridge {
  private nextId = 1;
  private pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  private lastSeq = 0;
  private eventHandlers: ((e: BridgeEvent, replayed: boolean) => void)[] = [];
  private syncHandlers: ((s: Snapshot, reason: string) => void)[] = [];
  private lastTick = Date.now();
  private syncing: Promise<void> | null = null;

  constructor(private readonly transport: Transport = detectTransport()) {
    transport.listen(
      (text) => this.receive(text),
      () => void this.resync('reconnected'),
    );
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') void this.resync('visible');
    });
    window.addEventListener('pageshow', () => void this.resync('pageshow'));
    document.addEventListener('resume', () => void this.resync('resume'));
    window.setInterval(() => {
      const now = Date.now();
      if (now - this.lastTick > SLEEP_GAP_MS) void this.resync('woke');
      this.lastTick = now;
    }, 500);
  }

  /**
   * Every event, in order, each once (by `seq`). `replayed` marks events the page missed while
   * asleep, delivered after the snapshot that already reflects them: log them, do not re-apply.
   */
  onEvent(handler: (e: BridgeEvent, replayed: boolean) => void): void {
    this.eventHandlers.push(handler);
  }

  /** A fresh snapshot after the page (may have) slept; render from it. */
  onResync(handler: (s: Snapshot, reason: string) => void): void {
    this.syncHandlers.push(handler);
  }

  startCall(user: string): Promise<{ call_id: string }> {
    return this.command('start_call', { user }) as Promise<{ call_id: string }>;
  }
  answer(callId: string): Promise<unknown> {
    return this.command('answer', { call_id: callId });
  }
  decline(callId: string): Promise<unknown> {
    return this.command('decline', { call_id: callId });
  }
  end(callId: string): Promise<unknown> {
    return this.command('end', { call_id: callId });
  }
  mute(callId: string, muted: boolean): Promise<unknown> {
    return this.command('mute', { call_id: callId, muted });
  }
  hold(callId: string, held: boolean): Promise<unknown> {
    return this.command('hold', { call_id: callId, held });
  }
  /** DTMF keys (`0-9 * # A-D`, `,` pauses 2 s) as RFC 4733 events; the far end's come as `dtmf` events. */
  sendDtmf(callId: string, digits: string): Promise<unknown> {
    return this.command('dtmf', { call_id: callId, digits });
  }
  snapshot(): Promise<Snapshot> {
    return this.command('snapshot', {}) as Promise<Snapshot>;
  }

  /** Snapshot, then the events missed since the last one seen. */
  resync(reason: string): Promise<void> {
    this.syncing ??= (async () => {
      try {
        const snapshot = await this.snapshot();
        for (const h of this.syncHandlers) h(snapshot, reason);
        const missed = (await this.command('events_since', { seq: this.lastSeq })) as { events: BridgeEvent[] };
        for (const e of missed.events) this.deliver(e, true);
        if (snapshot.seq > this.lastSeq) this.lastSeq = snapshot.seq;
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  command(cmd: string, fields: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.transport.send(JSON.stringify({ id, cmd, ...fields }));
    });
  }

  private receive(text: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.type === 'response' && typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.ok(m.result);
      else {
        const e = (m.error ?? {}) as { code?: string; message?: string };
        p.fail(new BridgeError(e.code ?? 'unknown', e.message ?? 'bridge error'));
      }
    } else if (m.type === 'event' && typeof m.seq === 'number') {
      this.deliver(m as BridgeEvent, this.syncing !== null);
    }
  }

  private deliver(e: BridgeEvent, replayed: boolean): void {
    if (e.seq <= this.lastSeq) return;
    this.lastSeq = e.seq;
    for (const h of this.eventHandlers) h(e, replayed);
  }
}
