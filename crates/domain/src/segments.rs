//! SMS segment counting.
//!
//! Segments are the unit of a provider's throughput (Twilio sends about one segment a second
//! per long code), so every notice is kept within two of them. A text that is all GSM-7 is sent
//! in 7-bit septets: 160 in a single message, 153 per part once split (the user-data header
//! takes the rest). Anything else, Korean included, goes as UCS-2 code units: 70 single, 67 per
//! part.
//!
//! Counting is by packing, as the handset network does: a GSM-7 extension character (escape +
//! character, 2 septets) and a UCS-2 surrogate pair (2 units) are never split across parts, so
//! a part may carry one unit less than its capacity.

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsEncoding {
    /// The GSM 03.38 default alphabet, 7 bits a character.
    Gsm7,
    /// UTF-16 code units, 16 bits each.
    Ucs2,
}

/// The size of one SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SmsCount {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Parts the message is sent in; an empty text is still one message.
    pub segments: usize,
}

/// Units in a single-part GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Units per part of a multi-part GSM-7 message.
pub const GSM7_PART: usize = 153;
/// Units in a single-part UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// Units per part of a multi-part UCS-2 message.
pub const UCS2_PART: usize = 67;

/// The GSM 03.38 basic character set (the escape code 0x1B excluded).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each costs an escape septet plus its own.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Septets a character costs in GSM-7, or `None` if it has no GSM-7 form.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the encoding, units and segments of `text`.
pub fn count_segments(text: &str) -> SmsCount {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, costs, single, part) = match gsm {
        Some(costs) => (SmsEncoding::Gsm7, costs, GSM7_SINGLE, GSM7_PART),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            UCS2_SINGLE,
            UCS2_PART,
        ),
    };
    let units: usize = costs.iter().sum();
    let segments = if units <= single {
        1
    } else {
        pack(&costs, part)
    };
    SmsCount {
        encoding,
        units,
        segments,
    }
}

/// True when `text` is sent in at most `max_segments` parts.
pub fn fits(text: &str, max_segments: usize) -> bool {
    count_segments(text).segments <= max_segments
}

/// Parts needed when characters of the given costs are packed in order into parts of
/// `capacity` units, no character split across two parts.
fn pack(costs: &[usize], capacity: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for &cost in costs {
        if used + cost > capacity {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(text: &str) -> (SmsEncoding, usize, usize) {
        let c = count_segments(text);
        (c.encoding, c.units, c.segments)
    }

    use SmsEncoding::{Gsm7, Ucs2};

    #[test]
    fn empty_and_short() {
        assert_eq!(count(""), (Gsm7, 0, 1));
        assert_eq!(count("hello"), (Gsm7, 5, 1));
        assert_eq!(count("안녕하세요"), (Ucs2, 5, 1));
    }

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(count(&"a".repeat(160)), (Gsm7, 160, 1));
        assert_eq!(count(&"a".repeat(161)), (Gsm7, 161, 2));
        assert_eq!(count(&"a".repeat(306)), (Gsm7, 306, 2));
        assert_eq!(count(&"a".repeat(307)), (Gsm7, 307, 3));
    }

    #[test]
    fn gsm7_extension_costs_two_septets() {
        assert_eq!(count("€"), (Gsm7, 2, 1));
        assert_eq!(count("{}[]~|^\\"), (Gsm7, 16, 1));
        assert_eq!(count(&format!("{}€", "a".repeat(158))), (Gsm7, 160, 1));
        assert_eq!(count(&format!("{}{{", "a".repeat(159))), (Gsm7, 161, 2));
        assert_eq!(count("[DOWN] KakaoTalk"), (Gsm7, 18, 1));
    }

    #[test]
    fn gsm7_escape_is_never_split() {
        // 306 septets, but the `€` cannot straddle the first part's end.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(count(&text), (Gsm7, 306, 3));
        let text = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(count(&text), (Gsm7, 306, 2));
    }

    #[test]
    fn gsm7_special_letters() {
        assert_eq!(count("Ñoño è à £ ¥ § ¿ ¡ Ø Δ @ $ _"), (Gsm7, 28, 1));
        assert_eq!(count("line\nbreak\r"), (Gsm7, 11, 1));
    }

    #[test]
    fn non_gsm_characters_force_ucs2() {
        // `ç` (lower case), `á`, the backtick, curly quotes and the Korean won sign are not GSM-7.
        for s in ["ç", "á", "`", "\u{2019}", "₩", "·", "—"] {
            assert_eq!(count_segments(s).encoding, Ucs2, "{s:?}");
        }
        assert_eq!(count(&format!("{}₩", "a".repeat(69))), (Ucs2, 70, 1));
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(count(&"가".repeat(70)), (Ucs2, 70, 1));
        assert_eq!(count(&"가".repeat(71)), (Ucs2, 71, 2));
        assert_eq!(count(&"가".repeat(134)), (Ucs2, 134, 2));
        assert_eq!(count(&"가".repeat(135)), (Ucs2, 135, 3));
        assert_eq!(count(&"가".repeat(201)), (Ucs2, 201, 3));
        assert_eq!(count(&"가".repeat(202)), (Ucs2, 202, 4));
    }

    #[test]
    fn korean_notice_with_ascii_link() {
        let text = "[장애] 사장님, 15:20부터 카카오톡 장애 중입니다. https://m.example/a/abc";
        let c = count_segments(text);
        assert_eq!(c.encoding, Ucs2);
        assert_eq!(c.units, text.chars().count());
        assert_eq!(c.segments, 1);
    }

    #[test]
    fn emoji_outside_the_bmp_count_two_units() {
        assert_eq!(count("🔥"), (Ucs2, 2, 1));
        assert_eq!(count(&format!("{}🔥", "가".repeat(68))), (Ucs2, 70, 1));
        assert_eq!(count(&format!("{}🔥", "가".repeat(69))), (Ucs2, 71, 2));
        // 134 units, but the pair cannot straddle the first part's end.
        let text = format!("{}🔥{}", "가".repeat(66), "가".repeat(66));
        assert_eq!(count(&text), (Ucs2, 134, 3));
        let text = format!("{}🔥{}", "가".repeat(65), "가".repeat(67));
        assert_eq!(count(&text), (Ucs2, 134, 2));
        // BMP symbols are one unit.
        assert_eq!(count("☎"), (Ucs2, 1, 1));
    }

    #[test]
    fn fits_helper() {
        assert!(fits(&"가".repeat(134), 2));
        assert!(!fits(&"가".repeat(135), 2));
        assert!(fits(&"a".repeat(306), 2));
    }

    proptest! {
        #[test]
        fn segments_bound_units(s in "\\PC{0,400}") {
            let c = count_segments(&s);
            let (single, part) = match c.encoding {
                Gsm7 => (GSM7_SINGLE, GSM7_PART),
                Ucs2 => (UCS2_SINGLE, UCS2_PART),
            };
            prop_assert!(c.segments >= 1);
            if c.units <= single {
                prop_assert_eq!(c.segments, 1);
            } else {
                // Packing never beats the ideal and loses at most one unit a part.
                prop_assert!(c.segments >= c.units.div_ceil(part));
                prop_assert!(c.segments <= c.units.div_ceil(part - 1));
            }
        }

        #[test]
        fn ascii_letters_are_gsm7(s in "[A-Za-z0-9 .,:/]{0,300}") {
            let c = count_segments(&s);
            prop_assert_eq!(c.encoding, Gsm7);
            prop_assert_eq!(c.units, s.len());
        }
    }
}
