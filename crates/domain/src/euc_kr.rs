//! Korean SMS and LMS: texts measured in EUC-KR bytes, as Korean providers (Solapi) count them.
//!
//! A domestic message is an SMS up to 90 bytes or an LMS up to 2,000 bytes with a subject of
//! at most 40 bytes; Hangul costs 2 bytes, ASCII 1. A character EUC-KR cannot carry (an emoji,
//! most symbols outside KS X 1001) makes the provider refuse the whole message (Solapi 1029),
//! so [`prepare`] replaces it first: an alert must never fail over a character.
//!
//! Bytes are counted with `encoding_rs`'s EUC-KR, which is the WHATWG (windows-949) form: every
//! modern Hangul syllable is 2 bytes, as in the providers' own counting.

/// Most bytes of an SMS.
pub const SMS_MAX_BYTES: usize = 90;
/// Most bytes of an LMS (and MMS) text.
pub const LMS_MAX_BYTES: usize = 2000;
/// Most bytes of an LMS subject.
pub const SUBJECT_MAX_BYTES: usize = 40;
/// What a character outside EUC-KR becomes.
pub const REPLACEMENT: char = '?';

/// The kind of domestic message a text is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KoreanKind {
    Sms,
    Lms,
}

impl KoreanKind {
    /// The provider's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            KoreanKind::Sms => "SMS",
            KoreanKind::Lms => "LMS",
        }
    }
}

/// A text ready for a Korean provider: only EUC-KR characters, within its kind's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KoreanMessage {
    pub kind: KoreanKind,
    pub text: String,
    /// Set for an LMS only (an SMS with a subject is refused, Solapi 1013).
    pub subject: Option<String>,
    /// EUC-KR bytes of `text`.
    pub bytes: usize,
    /// Characters replaced with [`REPLACEMENT`].
    pub replaced: usize,
    /// The text was longer than [`LMS_MAX_BYTES`] and was cut.
    pub truncated: bool,
}

/// EUC-KR bytes of one character, `None` if EUC-KR has no form for it.
pub fn char_bytes(c: char) -> Option<usize> {
    if c.is_ascii() {
        return Some(1);
    }
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(s);
    (!unmappable).then_some(bytes.len())
}

/// EUC-KR bytes of `text`, `None` if some character has no EUC-KR form.
pub fn byte_len(text: &str) -> Option<usize> {
    text.chars().map(char_bytes).sum()
}

/// EUC-KR bytes of `text` with unmappable characters counted as their replacement.
fn replaced_len(text: &str) -> usize {
    text.chars().map(|c| char_bytes(c).unwrap_or(1)).sum()
}

/// `text` with every character outside EUC-KR (and every control character but a line
/// break) replaced; returns how many were replaced. A variation selector or zero-width
/// joiner inside an emoji sequence is dropped with it, so `👍🏻` becomes one `?`.
pub fn replace_unmappable(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut replaced = 0;
    let mut after_replacement = false;
    for c in text.chars() {
        let invisible =
            matches!(c, '\u{200d}' | '\u{fe00}'..='\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}');
        if invisible && after_replacement {
            continue;
        }
        let printable = c == '\n' || !c.is_control();
        if printable && char_bytes(c).is_some() {
            out.push(c);
            after_replacement = false;
        } else if c == '\t' || c == '\r' {
            out.push(' ');
            after_replacement = false;
        } else {
            out.push(REPLACEMENT);
            replaced += 1;
            after_replacement = true;
        }
    }
    (out, replaced)
}

/// The longest prefix of `text` within `max` EUC-KR bytes (unmappable characters count one).
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let b = char_bytes(c).unwrap_or(1);
        if used + b > max {
            return &text[..i];
        }
        used += b;
    }
    text
}

/// An LMS subject from a text: its first line, cut to [`SUBJECT_MAX_BYTES`] at a word
/// boundary where there is one (`[장애] 사장님, 15:20부터 카카오톡 장애 중…` →
/// `[장애] 사장님, 15:20부터 카카오톡`). Never empty: a text without words gives `알림`.
pub fn subject_from(text: &str) -> String {
    let (clean, _) = replace_unmappable(text);
    let first = clean
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let cut = truncate_bytes(first, SUBJECT_MAX_BYTES);
    let subject = if cut.len() < first.len() {
        // Cut inside a word: back to the last space, unless that leaves almost nothing.
        match cut.rfind(' ') {
            Some(at) if replaced_len(&cut[..at]) >= SUBJECT_MAX_BYTES / 3 => &cut[..at],
            _ => cut,
        }
    } else {
        cut
    };
    let subject = subject.trim_end_matches([',', ' ', '.', ':']).trim();
    if subject.is_empty() {
        "알림".to_string()
    } else {
        subject.to_string()
    }
}

/// The message a Korean provider gets for `text`: characters outside EUC-KR replaced, an SMS
/// when it fits [`SMS_MAX_BYTES`], else an LMS with a subject from its first line, cut to
/// [`LMS_MAX_BYTES`] if it is longer still.
pub fn prepare(text: &str) -> KoreanMessage {
    let (clean, replaced) = replace_unmappable(text);
    let bytes = replaced_len(&clean);
    if bytes <= SMS_MAX_BYTES {
        return KoreanMessage {
            kind: KoreanKind::Sms,
            text: clean,
            subject: None,
            bytes,
            replaced,
            truncated: false,
        };
    }
    let truncated = bytes > LMS_MAX_BYTES;
    let text = if truncated {
        truncate_bytes(&clean, LMS_MAX_BYTES).to_string()
    } else {
        clean
    };
    KoreanMessage {
        kind: KoreanKind::Lms,
        subject: Some(subject_from(&text)),
        bytes: replaced_len(&text),
        text,
        replaced,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hangul_is_two_bytes_ascii_one() {
        assert_eq!(byte_len("가"), Some(2));
        assert_eq!(byte_len("a"), Some(1));
        assert_eq!(byte_len("[장애] DB 응답 없음"), Some(19));
        assert_eq!(
            byte_len("똠방각하"),
            Some(8),
            "syllables outside KS X 1001 too"
        );
        assert_eq!(byte_len("🔥"), None);
        assert_eq!(byte_len(""), Some(0));
    }

    #[test]
    fn exactly_90_bytes_is_an_sms_91_an_lms() {
        let ninety = format!("{}ab", "가".repeat(44));
        assert_eq!(byte_len(&ninety), Some(90));
        let m = prepare(&ninety);
        assert_eq!(
            (m.kind, m.bytes, m.subject.clone()),
            (KoreanKind::Sms, 90, None)
        );
        let ninety_one = format!("{ninety}c");
        let m = prepare(&ninety_one);
        assert_eq!(m.kind, KoreanKind::Lms);
        assert_eq!(m.bytes, 91);
        assert_eq!(m.text, ninety_one);
        let subject = m.subject.expect("an LMS has a subject");
        assert!(byte_len(&subject).expect("EUC-KR") <= SUBJECT_MAX_BYTES);
    }

    #[test]
    fn emoji_are_replaced_never_refused() {
        let m = prepare("[장애] 카카오톡 🔥 확인 👍🏻!");
        assert_eq!(m.text, "[장애] 카카오톡 ? 확인 ?!");
        assert_eq!(m.replaced, 2);
        assert_eq!(m.kind, KoreanKind::Sms);
        assert!(byte_len(&m.text).is_some());
        let (s, n) = replace_unmappable("a\tb\u{7}c\nd");
        assert_eq!((s.as_str(), n), ("a b?c\nd", 1));
    }

    #[test]
    fn the_subject_is_the_first_line_within_40_bytes() {
        let text = "[장애] 사장님, 15:20부터 카카오톡, 카카오페이 장애 중입니다. 현금 결제를 안내하세요. https://m.example/a/abcdef";
        let m = prepare(text);
        assert_eq!(m.kind, KoreanKind::Lms);
        let subject = m.subject.expect("subject");
        assert_eq!(subject, "[장애] 사장님, 15:20부터 카카오톡");
        assert!(byte_len(&subject).expect("EUC-KR") <= 40);
        assert_eq!(
            subject_from("[장애] 카카오 서비스\n둘째 줄"),
            "[장애] 카카오 서비스"
        );
        assert_eq!(subject_from("🔥🔥"), "??");
        assert_eq!(subject_from("  \n "), "알림");
        // One long word is cut, not dropped.
        assert_eq!(subject_from(&"가".repeat(30)), "가".repeat(20));
    }

    #[test]
    fn longer_than_an_lms_is_cut_to_2000_bytes() {
        let m = prepare(&"가".repeat(1200));
        assert_eq!(m.kind, KoreanKind::Lms);
        assert!(m.truncated);
        assert_eq!(m.bytes, 2000);
        assert_eq!(m.text, "가".repeat(1000));
    }

    proptest! {
        #[test]
        fn prepared_texts_are_always_sendable(s in "\\PC{0,1200}") {
            let m = prepare(&s);
            let bytes = byte_len(&m.text);
            prop_assert!(bytes.is_some(), "only EUC-KR characters");
            let bytes = bytes.unwrap_or(0);
            prop_assert_eq!(bytes, m.bytes);
            match m.kind {
                KoreanKind::Sms => {
                    prop_assert!(bytes <= SMS_MAX_BYTES);
                    prop_assert!(m.subject.is_none());
                }
                KoreanKind::Lms => {
                    prop_assert!(bytes > SMS_MAX_BYTES && bytes <= LMS_MAX_BYTES);
                    let subject = m.subject.clone().unwrap_or_default();
                    let sb = byte_len(&subject);
                    prop_assert!(sb.is_some_and(|b| b > 0 && b <= SUBJECT_MAX_BYTES));
                }
            }
        }

        #[test]
        fn mappable_texts_are_kept_as_they_are(s in "[가-힣a-zA-Z0-9 .,:/\\[\\]\n]{0,300}") {
            let m = prepare(&s);
            prop_assert_eq!(m.replaced, 0);
            prop_assert_eq!(&m.text, &s);
            prop_assert_eq!(m.kind == KoreanKind::Sms, byte_len(&s).unwrap_or(0) <= 90);
        }
    }
}
