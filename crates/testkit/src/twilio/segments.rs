//! `num_segments` as Twilio counts it, written independently of the domain crate's counter
//! so a test comparing the two catches a mistake in either.
//!
//! GSM-7 text: 160 septets in one segment, 153 per segment when split; the extension
//! characters take two septets. Anything else is UCS-2: 70 UTF-16 units, 67 when split.

/// GSM 03.38 basic character set.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table (escape + character: two septets each).
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

pub(crate) fn num_segments(body: &str) -> u32 {
    if body.is_empty() {
        return 1;
    }
    let septets: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (units, single, multi) = match septets {
        Some(n) => (n, 160, 153),
        None => (body.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    u32::try_from(segments).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_and_ucs2_limits() {
        assert_eq!(num_segments("hello"), 1);
        assert_eq!(num_segments(&"a".repeat(160)), 1);
        assert_eq!(num_segments(&"a".repeat(161)), 2);
        assert_eq!(num_segments(&"a".repeat(306)), 2);
        assert_eq!(num_segments(&"{".repeat(80)), 1);
        assert_eq!(num_segments(&"가".repeat(70)), 1);
        assert_eq!(num_segments(&"가".repeat(71)), 2);
        assert_eq!(num_segments(&"가".repeat(134)), 2);
        assert_eq!(num_segments(&"가".repeat(135)), 3);
    }
}
