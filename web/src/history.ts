// Call history from `GET /v1/calls` (docs/http.md), read with the device token, and how one
// record reads from this user's side: direction, the other party, outcome and talk time.

export interface CallRecord {
  call_id: string;
  caller_user: string;
  caller_device: string;
  callee_user: string;
  state: 'ringing' | 'active' | 'ended';
  invited_at_ms: number;
  accepted_at_ms: number | null;
  answered_device: string | null;
  ended_at_ms: number | null;
  end_reason: string | null;
  ended_by_device: string | null;
}

export interface HistoryEntry {
  callId: string;
  outgoing: boolean;
  other: string;
  when: Date;
  outcome: string;
  missed: boolean;
  talkSeconds: number | null;
}

export async function fetchHistory(token: string, limit = 20): Promise<HistoryEntry[]> {
  const response = await fetch(`/v1/calls?limit=${limit}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
  const body = (await response.json()) as { user: string; calls: CallRecord[] };
  return body.calls.map((r) => toEntry(body.user, r));
}

export function toEntry(me: string, r: CallRecord): HistoryEntry {
  const outgoing = r.caller_user === me;
  const talkSeconds =
    r.accepted_at_ms !== null && r.ended_at_ms !== null
      ? Math.max(0, Math.round((r.ended_at_ms - r.accepted_at_ms) / 1000))
      : null;
  const missed = !outgoing && r.accepted_at_ms === null && r.state === 'ended';
  let outcome: string;
  if (r.state !== 'ended') outcome = r.state === 'active' ? 'in progress' : 'ringing';
  else if (r.accepted_at_ms !== null) outcome = 'answered';
  else outcome = (r.end_reason ?? 'ended').replace(/_/g, ' ');
  return {
    callId: r.call_id,
    outgoing,
    other: outgoing ? r.callee_user : r.caller_user,
    when: new Date(r.invited_at_ms),
    outcome,
    missed,
    talkSeconds,
  };
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}
