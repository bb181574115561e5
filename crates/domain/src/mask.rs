//! Masking of personal data for logs and screens.
//!
//! "Logs never hold a full phone number, email or secret" (README, design notes). The
//! masked form keeps just enough to tell two contacts apart when debugging a delivery
//! (`+8210****5678`, `k***@example.com`): the country and carrier prefix, the last four
//! digits, the first letter of the mailbox and the mail domain (which decides channel
//! independence, so operators need to see it).

/// Digits always left visible at the end of a number.
const KEEP_LAST: usize = 4;
/// Digits always hidden, however short the number.
const MIN_HIDDEN: usize = 4;

/// Masks a phone number: `+821012345678` → `+8210****5678`, `010-1234-5678` → `010-****-5678`.
///
/// Keeps the `+`, the country code and the next two digits (or, for a national number, the
/// first three digits), every separator, and the last four digits; each other digit becomes
/// `*`. At least four digits are always hidden, so a short or odd input loses its prefix before
/// it shows more than it should. Text without digits is returned as `***`.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if digits == 0 {
        return "***".to_owned();
    }
    let international = phone.trim_start().starts_with('+');
    let wanted_prefix = if international {
        country_code_len(phone) + 2
    } else {
        3
    };
    mask_digits(phone, wanted_prefix)
}

/// Masks an email address: `kim@example.com` → `k***@example.com`.
///
/// The first character of the mailbox and the whole domain stay; input without an `@` is
/// treated as all mailbox and becomes `***`.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Masks every email-like and phone-like substring of a free-text line (a log message, a
/// provider's error body), leaving the rest untouched.
///
/// Phone-like means, outside an email address and not glued to a letter or digit:
/// `+` followed by 8–15 digits (single spaces, `-`, `.` or parentheses between them);
/// a run starting with `0` of 9–11 digits (Korean national numbers, landlines included);
/// or 11–12 unbroken digits starting with `82` (E.164 that lost its `+`). Dates, times, ids
/// and epoch milliseconds stay readable.
pub fn mask_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest_start = 0;
    for (start, end) in email_spans(line) {
        out.push_str(&mask_phones_in(&line[rest_start..start]));
        out.push_str(&mask_email(&line[start..end]));
        rest_start = end;
    }
    out.push_str(&mask_phones_in(&line[rest_start..]));
    out
}

/// Replaces the digits of `s` between the first `wanted_prefix` and the last [`KEEP_LAST`]
/// with `*`, shrinking the visible parts so that at least [`MIN_HIDDEN`] digits are hidden.
fn mask_digits(s: &str, wanted_prefix: usize) -> String {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let (prefix, suffix) = if digits >= KEEP_LAST + MIN_HIDDEN {
        (
            wanted_prefix.min(digits - KEEP_LAST - MIN_HIDDEN),
            KEEP_LAST,
        )
    } else {
        (0, digits.saturating_sub(MIN_HIDDEN))
    };
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= prefix || seen > digits - suffix {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Length of the country calling code of an international number, from libphonenumber's
/// tables, or 2 when it cannot tell (the common case, and Korea's).
fn country_code_len(phone: &str) -> usize {
    phonenumber::parse(None, phone)
        .map(|n| n.code().value().to_string().len())
        .unwrap_or(2)
}

/// Byte ranges of email-like substrings: a mailbox of `[A-Za-z0-9._%+-]`, an `@`, and a
/// domain of `[A-Za-z0-9.-]` that contains a dot.
fn email_spans(line: &str) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (at, _) in line.match_indices('@') {
        if spans.last().is_some_and(|&(_, end)| at < end) {
            continue;
        }
        let floor = spans.last().map_or(0, |&(_, end)| end);
        let mut start = at;
        while start > floor && local(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        // A sentence-ending dot is not part of the domain.
        while end > at + 1 && bytes[end - 1] == b'.' {
            end -= 1;
        }
        let dom = &line[at + 1..end];
        if start < at && dom.contains('.') && !dom.starts_with('.') {
            spans.push((start, end));
        }
    }
    spans
}

/// Masks phone-like runs in text that holds no email address.
fn mask_phones_in(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // `%2B` is a `+` in a logged form body (`To=%2B8210…`).
        let encoded_plus = i >= 3 && bytes[i - 3..i].eq_ignore_ascii_case(b"%2B");
        let glued = i > 0
            && !encoded_plus
            && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let starts = bytes[i] == b'+' || bytes[i] == b'(' || bytes[i].is_ascii_digit();
        if glued || !starts {
            i += 1;
            continue;
        }
        let end = run_end(bytes, i);
        let run = &text[i..end];
        let glued_after = end < bytes.len() && bytes[end].is_ascii_alphanumeric();
        if let Some(prefix) = phone_prefix(run, encoded_plus).filter(|_| !glued_after) {
            out.push_str(&text[copied..i]);
            out.push_str(&mask_digits(run, prefix));
            copied = end;
        }
        // Skip the whole run either way, so a tail of a long id is never taken for a number.
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// If `run` looks like a phone number, how many leading digits may stay visible.
fn phone_prefix(run: &str, encoded_plus: bool) -> Option<usize> {
    let digits: String = run.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    if run.contains('+') || encoded_plus {
        (8..=15)
            .contains(&n)
            .then(|| country_code_len(&format!("+{digits}")) + 2)
    } else if digits.starts_with('0') {
        (9..=11).contains(&n).then_some(3)
    } else {
        let unbroken = n == run.len();
        (unbroken && digits.starts_with("82") && (11..=12).contains(&n)).then_some(4)
    }
}

/// End of the number-shaped run starting at `start`: digits with single separators between
/// them, an optional leading `+` and parentheses.
fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    if bytes[i] == b'+' {
        i += 1;
    }
    let mut end = i;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() || b == b')' {
            i += 1;
            end = i;
        } else if b == b'('
            || (matches!(b, b' ' | b'-' | b'.')
                && bytes
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_digit() || *n == b'('))
        {
            i += 1;
        } else {
            break;
        }
    }
    // A lone `+` or `(` is a run of one character, so the caller moves on.
    end.max(start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phones() {
        assert_eq!(mask_phone("+821012345678"), "+8210****5678");
        assert_eq!(mask_phone("+15005550006"), "+150****0006");
        assert_eq!(mask_phone("010-1234-5678"), "010-****-5678");
        assert_eq!(mask_phone("+82 10-1234-5678"), "+82 10-****-5678");
        assert_eq!(mask_phone("12345"), "****5");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_phone("12345678"), "****5678");
        assert_eq!(mask_phone(""), "***");
    }

    #[test]
    fn emails() {
        assert_eq!(mask_email("kim@example.com"), "k***@example.com");
        assert_eq!(mask_email("@example.com"), "***@example.com");
        assert_eq!(mask_email("김사장@example.com"), "김***@example.com");
        assert_eq!(mask_email("not-an-email"), "***");
    }

    #[test]
    fn text_masks_numbers_and_addresses_only() {
        let line = "sms to +821012345678 failed (code 30003) at 2024-10-15 15:20:00, \
                    fallback kim.lee+shop@hanmail.net. backup 010-9876-5432, store 02-123-4567; \
                    incident 1665812345678 id=42";
        assert_eq!(
            mask_text(line),
            "sms to +8210****5678 failed (code 30003) at 2024-10-15 15:20:00, \
             fallback k***@hanmail.net. backup 010-****-5432, store 0*-***-4567; \
             incident 1665812345678 id=42"
        );
    }

    #[test]
    fn text_edge_cases() {
        assert_eq!(mask_text(""), "");
        assert_eq!(mask_text("no pii here"), "no pii here");
        assert_eq!(mask_text("To=%2B821012345678&"), "To=%2B8210****5678&");
        assert_eq!(mask_text("From 821012345678."), "From 8210****5678.");
        assert_eq!(mask_text("전화 01012345678로"), "전화 010****5678로");
        assert_eq!(mask_text("a@b"), "a@b");
        assert_eq!(
            mask_text("uuid 550e8400-e29b-41d4"),
            "uuid 550e8400-e29b-41d4"
        );
        assert_eq!(mask_text("+1 (415) 555-2671"), "+1 (41*) ***-2671");
    }

    proptest! {
        #[test]
        fn masked_phone_hides_the_middle(mid in "[0-9]{4}", last in "[0-9]{4}") {
            let e164 = format!("+8210{mid}{last}");
            let masked = mask_phone(&e164);
            prop_assert_eq!(&masked, &format!("+8210****{last}"));
            // The subscriber number never appears whole (its middle digits may coincide with
            // the `+8210` prefix, e.g. mid = "8210", so that alone proves nothing).
            let subscriber = format!("{}{}", mid, last);
            prop_assert!(!masked.contains(&subscriber[..]));
            prop_assert_eq!(&masked[5..9], "****");
        }

        #[test]
        fn text_never_keeps_a_full_number(
            before in "[a-z가-힣 ,:=]{0,20}",
            mid in "[0-9]{4}",
            last in "[0-9]{4}",
            after in "[a-z가-힣 ,:=]{0,20}",
            style in 0usize..4,
        ) {
            let number = match style {
                0 => format!("+8210{mid}{last}"),
                1 => format!("010-{mid}-{last}"),
                2 => format!("010{mid}{last}"),
                _ => format!("+82 10 {mid} {last}"),
            };
            let line = format!("{before} {number} {after}");
            let masked = mask_text(&line);
            prop_assert!(!masked.contains(&number[..]), "{} -> {}", line, masked);
            let subscriber = format!("{mid}{last}");
            prop_assert!(!masked.contains(&subscriber[..]));
            prop_assert!(masked.contains("****"), "{} -> {}", line, masked);
            prop_assert!(masked.starts_with(&before[..]));
            prop_assert!(masked.ends_with(&after[..]));
        }

        #[test]
        fn text_never_keeps_an_email(user in "[a-z0-9._]{2,12}", host in "[a-z]{1,10}") {
            let email = format!("{user}@{host}.com");
            let masked = mask_text(&format!("contact <{email}>"));
            prop_assert!(!masked.contains(&email[..]));
            let tail = format!("***@{host}.com>");
            prop_assert!(masked.ends_with(&tail[..]));
        }

        #[test]
        fn mask_text_never_panics(s in "\\PC{0,60}") {
            let _ = mask_text(&s);
        }
    }
}
