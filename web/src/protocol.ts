// Signaling protocol v1 as the browser speaks it: the message shapes of docs/protocol.md
// (sections 5 and 6), the end reasons of section 7 and the checks a client does on frames it
// receives. The server is the authority; this file only keeps the page from acting on a frame
// it misread.

import type { CallId, IceServer, IceServers, ServerMessage, Welcome } from './generated/protocol';

// The message shapes are generated from the Rust types (crates/proto/tests/typescript.rs); the
// suite fails when this copy and the Rust types part.
export type {
  CallId,
  ClientMessage,
  DeviceId,
  EndReason,
  ServerMessage,
  Welcome,
} from './generated/protocol';

/** Fresh TURN credentials before the previous ones expire (protocol.md 6.10). */
export type IceServersUpdate = { type: 'ice_servers' } & IceServers;

/** Close codes after which reconnecting cannot help (protocol.md 3.9). */
export const FINAL_CLOSE_CODES = new Set([4401, 4406, 4409]);

const ID = /^[0-9a-f]{32}$/;
/** protocol.md 2.4: at most 8 servers of 1-8 URLs. */
const MAX_ICE_SERVERS = 8;
const MAX_ICE_URLS = 8;

/** A fresh call id: 128 bits from the platform's secure generator, as 32 lowercase hex. */
export function newCallId(): CallId {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/**
 * Checks an `ice_servers` list from the server: RTCIceServer objects whose `urls` are stun:,
 * turn: or turns: strings. Absent is an empty list; anything else malformed is `null`, so the
 * page never hands RTCPeerConnection a list it would throw on.
 */
export function parseIceServers(value: unknown): IceServer[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ICE_SERVERS) return null;
  const servers: IceServer[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) return null;
    const s = item as Record<string, unknown>;
    const urls = s.urls;
    if (!Array.isArray(urls) || urls.length === 0 || urls.length > MAX_ICE_URLS) return null;
    if (!urls.every((u) => typeof u === 'string' && /^(stun|turns?):/i.test(u))) return null;
    const turn = urls.some((u) => /^turns?:/i.test(u as string));
    const { username, credential } = s;
    if (username !== undefined && typeof username !== 'string') return null;
    if (credential !== undefined && typeof credential !== 'string') return null;
    if (turn && (username === undefined || credential === undefined)) return null;
    const server: IceServer = { urls: urls as string[] };
    if (username !== undefined) server.username = username;
    if (credential !== undefined) server.credential = credential;
    servers.push(server);
  }
  return servers;
}

/**
 * Parses one text frame from the server. Frames that are not JSON objects with a known `type`
 * and well-formed ids are dropped (`null`): a newer server may send types this page does not
 * know (protocol.md 2.5).
 */
export function parseServerFrame(text: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const m = value as Record<string, unknown>;
  const callOk = m.call_id === undefined || isId(m.call_id);
  switch (m.type) {
    case 'welcome': {
      if (!isId(m.device_id) || typeof m.user !== 'string') return null;
      // A malformed ICE list must not cost the session: use no ICE servers instead.
      const iceServers = parseIceServers(m.ice_servers) ?? [];
      return { ...(m as unknown as Welcome), type: 'welcome', ice_servers: iceServers };
    }
    case 'ice_servers': {
      const iceServers = parseIceServers(m.ice_servers);
      return iceServers === null ? null : { ...(m as unknown as IceServersUpdate), ice_servers: iceServers };
    }
    case 'calling':
    case 'incoming':
    case 'ended':
    case 'timeline_stored':
      return isId(m.call_id) ? (m as unknown as ServerMessage) : null;
    case 'ringing':
    case 'accepted':
      return isId(m.call_id) && isId(m.device_id) ? (m as unknown as ServerMessage) : null;
    case 'offer':
    case 'answer':
      return isId(m.call_id) && isId(m.from_device) && typeof m.sdp === 'string'
        ? (m as unknown as ServerMessage)
        : null;
    case 'candidate':
      return isId(m.call_id) && isId(m.from_device) && typeof m.candidate === 'string'
        ? (m as unknown as ServerMessage)
        : null;
    case 'pong':
      return m as unknown as ServerMessage;
    case 'error':
      return typeof m.code === 'string' && callOk ? (m as unknown as ServerMessage) : null;
    default:
      return null;
  }
}

/** What the user sees for an end reason, from this device's point of view. */
export function describeEnd(reason: string, endedHere: boolean, role: 'caller' | 'callee'): string {
  switch (reason) {
    case 'answered_elsewhere':
      return 'Answered on another device';
    case 'declined_elsewhere':
      return 'Declined on another device';
    case 'cancelled':
      return endedHere ? 'Call cancelled' : 'Missed call (caller hung up)';
    case 'no_answer':
      return role === 'caller' ? 'No answer' : 'Missed call';
    case 'busy':
      return role === 'caller' ? 'Busy' : 'Declined (busy)';
    case 'declined':
      return endedHere ? 'Call declined' : 'Call declined by the other side';
    case 'hangup':
      return endedHere ? 'Call ended' : 'The other side hung up';
    case 'connection_lost':
      return 'Connection lost';
    case 'glare':
      return 'Calls crossed; continuing with the other call';
    case 'unavailable':
      return 'Not reachable: no devices';
    case 'media_failed':
      return 'Call failed: no media connection';
    default:
      return `Call ended (${reason})`;
  }
}

/**
 * The `RTCIceCandidateInit` for a relayed `candidate` (protocol.md 4.13). ringwire sessions are
 * BUNDLEd, so a candidate with neither `sdp_mid` nor `sdp_m_line_index` is for m-line 0;
 * `addIceCandidate` would reject it without one of them. End-of-candidates (`""`) stays bare.
 */
export function candidateInit(m: {
  candidate: string;
  sdp_mid?: string | null;
  sdp_m_line_index?: number | null;
  username_fragment?: string | null;
}): RTCIceCandidateInit {
  const init: RTCIceCandidateInit = { candidate: m.candidate };
  if (m.candidate === '') return init;
  if (typeof m.sdp_mid === 'string') init.sdpMid = m.sdp_mid;
  if (typeof m.sdp_m_line_index === 'number') init.sdpMLineIndex = m.sdp_m_line_index;
  if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) init.sdpMLineIndex = 0;
  if (typeof m.username_fragment === 'string') init.usernameFragment = m.username_fragment;
  return init;
}

/** In-band control messages on the `ringwire-control` data channel (crates/core/src/inband.rs). */
export type InbandMessage = { type: 'accept' | 'hangup'; call_id: CallId };

export function parseInband(text: string): InbandMessage | null {
  if (text.length > 512) return null;
  try {
    const m = JSON.parse(text) as Record<string, unknown>;
    if ((m.type === 'accept' || m.type === 'hangup') && isId(m.call_id)) {
      return { type: m.type, call_id: m.call_id };
    }
  } catch {
    // not ours: a newer peer
  }
  return null;
}
