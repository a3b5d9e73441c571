// The admin API the dashboard reads (docs/http.md, "Call analytics"), always with the admin
// token as a bearer header, never in a URL. The figure shapes mirror
// crates/server/src/analytics/report.rs; the timeline events are protocol v1's own types,
// generated from the Rust ones.

import type { CallTimeline, DevicePlatform } from '../src/generated/protocol';

export interface Percentiles {
  samples: number;
  p50: number | null;
  p95: number | null;
}

export interface Figures {
  calls: number;
  timelines: number;
  push_delivery_ms: Percentiles;
  time_to_report_ms: Percentiles;
  lock_screen_answers: { attempted: number; succeeded: number; rate: number | null };
  accept_to_first_audio_ms: Percentiles;
  ended: { connection_lost: number; media_failed: number; failed: number };
  call_time_s: { good: number; fair: number; poor: number };
  poor_share: number | null;
}

export interface GroupReport {
  from_ms: number;
  to_ms: number;
  total: Figures;
  platforms: Partial<Record<DevicePlatform, Figures>>;
}

export interface AnalyticsReport extends GroupReport {
  bucket_ms?: number;
  series?: GroupReport[];
}

export interface CallDevice {
  device_id: string;
  reached_via: string;
  reached_at_ms: number;
  rang_at_ms: number | null;
  push_outcome: string | null;
}

export interface CallRecord {
  call_id: string;
  caller_user: string;
  caller_device: string;
  callee_user: string;
  state: 'ringing' | 'active' | 'ended';
  invited_at_ms: number;
  first_ring_at_ms: number | null;
  accepted_at_ms: number | null;
  answered_device: string | null;
  ended_at_ms: number | null;
  end_reason: string | null;
  ended_by_device: string | null;
  devices: CallDevice[];
}

export interface ListedCall extends CallRecord {
  timelines: { device_id: string; platform: DevicePlatform; direction: 'incoming' | 'outgoing' }[];
}

export type StoredTimeline = CallTimeline & {
  device_id: string;
  uploaded_at_ms: number;
  invited_at_ms: number;
};

/** The token was refused (401), or the admin API is off (403 admin_disabled). */
export class AuthError extends Error {}

export class Api {
  constructor(private readonly token: string) {}

  private async get<T>(path: string): Promise<T> {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` } });
    if (response.status === 401 || response.status === 403) {
      const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
      throw new AuthError(body?.error?.message ?? `HTTP ${response.status}`);
    }
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  analytics(fromMs: number, toMs: number, bucketMs: number): Promise<AnalyticsReport> {
    return this.get(`/v1/admin/analytics?from=${fromMs}&to=${toMs}&bucket_ms=${bucketMs}`);
  }

  async calls(fromMs: number, toMs: number, limit = 50): Promise<ListedCall[]> {
    const body = await this.get<{ calls: ListedCall[] }>(
      `/v1/admin/calls?from=${fromMs}&to=${toMs}&limit=${limit}`,
    );
    return body.calls;
  }

  timelines(callId: string): Promise<{ call: CallRecord; timelines: StoredTimeline[] }> {
    return this.get(`/v1/admin/calls/${encodeURIComponent(callId)}/timelines`);
  }
}
