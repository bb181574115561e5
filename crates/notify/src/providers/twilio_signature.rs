//! `X-Twilio-Signature`: how Twilio signs the callbacks it posts to us.
//!
//! Twilio computes base64(HMAC-SHA1(auth token, URL + every POST parameter's name and value,
//! names sorted, no separators)). The URL is the one Twilio was given, query string included
//! (README, HTTP and design notes: `{public_url}{path}` plus the query as received, never the
//! Host header).
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // Sorting by name, then value, keeps repeated names (MediaUrl0…) deterministic, as
    // Twilio's own validators do.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match HmacSha1::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio would send for a POST of `params` to `url`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Checks an `X-Twilio-Signature` header in constant time (`Mac::verify_slice`).
/// A header that is not base64 is simply wrong.
pub fn verify_twilio_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_value: &str,
) -> bool {
    match STANDARD.decode(header_value.trim()) {
        Ok(given) => mac(auth_token, url, params).verify_slice(&given).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(caller: &str) -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Twilio's documented example (auth token `12345`, caller +14158675310).
    #[test]
    fn reproduces_twilios_documented_example() {
        assert_eq!(
            twilio_signature("12345", URL, &params("+14158675310")),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }

    /// The older form of the example (caller +12349013030); the expected value was computed
    /// independently (Python's hmac module), since this pairing is not the documented one.
    #[test]
    fn matches_an_independent_computation() {
        assert_eq!(
            twilio_signature("12345", URL, &params("+12349013030")),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut reversed = params("+14158675310");
        reversed.reverse();
        assert_eq!(
            twilio_signature("12345", URL, &reversed),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }

    #[test]
    fn verify_accepts_the_right_signature_only() {
        let p = params("+14158675310");
        assert!(verify_twilio_signature(
            "12345",
            URL,
            &p,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_twilio_signature(
            "12346",
            URL,
            &p,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php",
            &p,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_twilio_signature(
            "12345",
            URL,
            &p[1..],
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_twilio_signature("12345", URL, &p, "not base64!"));
        assert!(!verify_twilio_signature("12345", URL, &p, ""));
    }
}
