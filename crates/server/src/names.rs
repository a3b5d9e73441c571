//! Text shown to other people (display names, device labels) must not be able to impersonate
//! someone: bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder what
//! the callee's incoming-call screen shows ("Alice\u{202E}gnp.exe"), and a name made only of
//! invisible characters shows as blank. Both are refused when the name is set.

/// Bidi embedding, override and isolate controls.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing (or as blank space) on common platforms.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'           // soft hyphen
            | '\u{034F}'         // combining grapheme joiner
            | '\u{061C}'         // Arabic letter mark
            | '\u{115F}' | '\u{1160}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180E}'
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}'
            | '\u{2800}'         // braille blank
            | '\u{3164}'         // Hangul filler
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}'         // zero-width no-break space
            | '\u{FFA0}'         // halfwidth Hangul filler
            | '\u{E0000}'..='\u{E007F}' // tags
        )
}

/// Why `text` is a spoofing risk, or `None` when it is fine to show.
pub fn spoofing_risk(text: &str) -> Option<&'static str> {
    if text.chars().any(is_bidi_control) {
        return Some(
            "must not contain bidirectional override or isolate characters (U+202A-U+202E, \
             U+2066-U+2069)",
        );
    }
    if !text.is_empty() && text.chars().all(is_invisible) {
        return Some("must contain at least one visible character");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_invisible_names_are_refused() {
        assert!(spoofing_risk("Alice Liddell 🐇").is_none());
        assert!(spoofing_risk("عليّ").is_none());
        assert!(
            spoofing_risk("Zoë\u{200D}").is_none(),
            "a joiner inside a visible name is fine"
        );
        assert!(spoofing_risk("Alice\u{202E}gnp.exe").is_some());
        assert!(spoofing_risk("\u{2067}Bob\u{2069}").is_some());
        assert!(spoofing_risk("\u{200B}\u{200B}").is_some());
        assert!(spoofing_risk("\u{3164}").is_some());
        assert!(spoofing_risk("\u{FEFF} \u{2060}").is_some());
    }
}
