//! The softphone's outputs: the live status line, and the call report (text or one JSON
//! object) built from the engine's end-of-call summary plus what the recording contains.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ringwire_core::{CallSummary, Direction, QualityChange, Report};
use ringwire_media::CallQuality;
use serde_json::{json, Value};

fn ms(d: Option<Duration>) -> Value {
    d.map(|d| json!((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0))
        .unwrap_or(Value::Null)
}

/// One line, redrawn in place on stderr.
pub fn status_line(
    state: &str,
    talk: Option<Duration>,
    quality: Option<&CallQuality>,
    verdict: Option<&QualityChange>,
) {
    let clock = talk
        .map(|t| format!("{:02}:{:02}", t.as_secs() / 60, t.as_secs() % 60))
        .unwrap_or_else(|| "--:--".into());
    let q = quality
        .map(|q| {
            format!(
                "rtt {} ms  loss {:.1}%  jitter {:.1} ms  MOS {:.2}",
                q.rtt_ms
                    .map(|r| format!("{r:.0}"))
                    .unwrap_or_else(|| "-".into()),
                q.loss_pct,
                q.jitter_ms,
                q.mos
            )
        })
        .unwrap_or_default();
    // The verdict as a person would read it: "poor (network loss; added redundancy)".
    let v = verdict
        .map(|v| {
            let name = |value: serde_json::Value| value.as_str().unwrap_or("?").replace('_', " ");
            let mut text = name(json!(v.verdict));
            let detail: Vec<String> = [
                v.cause.map(|c| name(json!(c))),
                v.action.map(|a| name(json!(a))),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !detail.is_empty() {
                text = format!("{text} ({})", detail.join("; "));
            }
            format!("  {text}")
        })
        .unwrap_or_default();
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{state:<12} {clock}  {q}{v}");
    let _ = err.flush();
}

/// The dominant frequency of a recorded WAV file, skipping its first half second (the
/// jitter buffer's start and any concealment live there).
pub fn heard_hz(path: &Path) -> Option<f64> {
    let mut reader = hound::WavReader::open(path).ok()?;
    let rate = reader.spec().sample_rate;
    let samples: Vec<i16> = reader.samples::<i16>().filter_map(Result::ok).collect();
    let skip = (rate / 2) as usize;
    if samples.len() < skip + rate as usize / 4 {
        return None;
    }
    Some(ringwire_media::device::analysis::dominant_frequency(
        &samples[skip..],
        rate,
    ))
}

/// The report of one ended call as JSON. `quality` is `null` when no audio arrived (there is
/// no MOS to give), and `end_reason` is `{"kind":"media_failed",...}` when the call was
/// answered but its media never connected.
/// The report of an ended call. `verdicts` are the quality verdict changes seen, each with the
/// time since the call started.
pub fn call_report(
    ended: &Report,
    heard_hz: Option<f64>,
    dtmf_received: &str,
    verdicts: &[(Duration, QualityChange)],
) -> Value {
    let Report::Ended {
        call_id,
        direction,
        reason,
        ended_locally,
        callkit,
        summary,
    } = ended
    else {
        return json!({"ok": false, "error": "the call did not end"});
    };
    let CallSummary {
        invite_to_ringing,
        accept_to_first_audio,
        ring_time,
        talk_time,
        total,
        preconnected,
        media_connected,
        quality,
        frames_sent,
        frames_sent_with_dred,
        frames_decoded,
        frames_recovered_fec,
        frames_recovered_red,
        frames_recovered_dred,
        frames_concealed,
        frames_inserted,
        frame_sources,
        compressed_ms,
        expanded_ms,
        above_clean_delay_ms,
        selected_pair,
        gathering_failures,
        turn_allocations,
    } = summary.as_ref();
    // A good call was answered, ended for a protocol reason, had a media path and played
    // audio from the far end. A call that "lasted" with nothing heard is a failure, never an ok.
    let ok = talk_time.is_some()
        && reason.as_protocol().is_some()
        && *media_connected
        && *frames_decoded > 0;
    let mut report = json!({
        "ok": ok,
        "call_id": call_id.to_string(),
        "direction": match direction { Direction::Outgoing => "outgoing", Direction::Incoming => "incoming" },
        "end_reason": reason,
        "ended_locally": ended_locally,
        "callkit_end_reason": callkit,
        "invite_to_ringing_ms": ms(*invite_to_ringing),
        "accept_to_first_audio_ms": ms(*accept_to_first_audio),
        "ring_ms": ms(*ring_time),
        "talk_ms": ms(*talk_time),
        "total_ms": ms(Some(*total)),
        "preconnected": preconnected,
        "media_connected": media_connected,
        "frames": {
            "sent": frames_sent,
            "sent_with_dred": frames_sent_with_dred,
            "decoded": frames_decoded,
            "recovered_fec": frames_recovered_fec,
            "recovered_red": frames_recovered_red,
            "recovered_dred": frames_recovered_dred,
            "concealed": frames_concealed,
            "inserted": frames_inserted,
            "sources": frame_sources,
        },
        "compressed_ms": compressed_ms,
        "expanded_ms": expanded_ms,
        "above_clean_delay_ms": above_clean_delay_ms,
        "quality": quality,
        "verdicts": verdicts
            .iter()
            .map(|(at, v)| {
                let mut entry = json!(v);
                entry["at_ms"] = json!(at.as_millis() as u64);
                entry
            })
            .collect::<Vec<_>>(),
        "heard_hz": heard_hz,
        "dtmf_received": dtmf_received,
        "selected_pair": selected_pair,
        "gathering_failures": gathering_failures,
        "turn_allocations": turn_allocations,
    });
    if *direction == Direction::Incoming {
        // Measured from our own `incoming` to our own `ringing`: always 0, so not reported.
        if let Some(fields) = report.as_object_mut() {
            fields.remove("invite_to_ringing_ms");
        }
    }
    report
}

/// The same report for people, on `out`.
pub fn print_text(report: &Value, out: &mut dyn std::io::Write) {
    let get = |k: &str| report.get(k).cloned().unwrap_or(Value::Null);
    eprintln!();
    let _ = writeln!(
        out,
        "call {}  ({})",
        get("call_id").as_str().unwrap_or("?"),
        get("direction").as_str().unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "  ended:               {} {}",
        get("end_reason"),
        if get("ended_locally") == Value::Bool(true) {
            "(here)"
        } else {
            "(remote)"
        }
    );
    if let Some(ms) = report.get("invite_to_ringing_ms") {
        let _ = writeln!(out, "  invite → ringing:    {ms} ms");
    }
    let _ = writeln!(
        out,
        "  accept → 1st audio:  {} ms",
        get("accept_to_first_audio_ms")
    );
    let _ = writeln!(out, "  talk time:           {} ms", get("talk_ms"));
    let _ = writeln!(out, "  pre-connected:       {}", get("preconnected"));
    let _ = writeln!(out, "  frames:              {}", get("frames"));
    if let Some(q) = report.get("quality").filter(|q| !q.is_null()) {
        let _ = writeln!(out, "  quality:             {q}");
    }
    if let Some(hz) = get("heard_hz").as_f64() {
        let _ = writeln!(out, "  heard:               {hz:.0} Hz");
    }
    if let Some(keys) = get("dtmf_received").as_str().filter(|k| !k.is_empty()) {
        let _ = writeln!(out, "  DTMF received:       {keys}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_core::{CallEndReason, MediaFailure};
    use ringwire_proto::{CallId, EndReason};

    fn ended(reason: CallEndReason, summary: CallSummary) -> Report {
        Report::Ended {
            call_id: CallId::from_bytes([1; 16]),
            direction: Direction::Outgoing,
            reason,
            ended_locally: true,
            callkit: None,
            summary: Box::new(summary),
        }
    }

    #[test]
    fn a_call_without_media_is_not_ok_and_has_no_mos() {
        // Issue 16: 4 s of "talk", nothing sent or decoded, then a hangup.
        let summary = CallSummary {
            talk_time: Some(Duration::from_millis(4003)),
            ..CallSummary::default()
        };
        let reason = CallEndReason::MediaFailed {
            cause: MediaFailure::IceFailed,
            ended_by: Some(EndReason::Hangup),
        };
        let report = call_report(&ended(reason, summary), None, "", &[]);
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["quality"], Value::Null);
        assert_eq!(report["media_connected"], false);
        assert_eq!(report["end_reason"]["kind"], "media_failed");
        assert_eq!(report["end_reason"]["cause"], "ice_failed");
    }

    #[test]
    fn a_call_with_media_and_audio_is_ok() {
        let summary = CallSummary {
            talk_time: Some(Duration::from_secs(4)),
            media_connected: true,
            frames_sent: 200,
            frames_decoded: 198,
            ..CallSummary::default()
        };
        let report = call_report(
            &ended(CallEndReason::protocol(EndReason::Hangup), summary.clone()),
            None,
            "",
            &[],
        );
        assert_eq!(report["ok"], true, "{report}");
        let silent = CallSummary {
            frames_decoded: 0,
            ..summary
        };
        let report = call_report(
            &ended(CallEndReason::protocol(EndReason::Hangup), silent),
            None,
            "",
            &[],
        );
        assert_eq!(report["ok"], false, "nothing heard is not a good call");
    }
}
