//! Solapi's request signature (reference/solapi: Authentication).
//!
//! `Authorization: HMAC-SHA256 apiKey=<key>, date=<ISO 8601>, salt=<random>, signature=<hex>`,
//! where the signature is the lowercase hex HMAC-SHA256 of `date + salt` keyed with the API
//! secret. Body and URL are not signed. Solapi refuses a date more than 15 minutes off and a
//! signature it has seen within 15 minutes, so every request gets a new salt.
use hmac::{Hmac, Mac};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use sha2::Sha256;

/// Characters of salt, as Solapi's SDKs send (`[0-9a-zA-Z]`; the docs allow 12–64).
pub const SALT_LEN: usize = 32;

/// The lowercase hex HMAC-SHA256 of `date + salt` with `secret`.
pub fn solapi_signature(secret: &str, date: &str, salt: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(date.as_bytes());
    mac.update(salt.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh random salt.
pub fn new_salt() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(SALT_LEN)
        .map(char::from)
        .collect()
}

/// The `Authorization` header value for a request made at `now`, with a new salt.
pub fn solapi_authorization(
    api_key: &str,
    secret: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let date = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let salt = new_salt();
    let signature = solapi_signature(secret, &date, &salt);
    format!("HMAC-SHA256 apiKey={api_key}, date={date}, salt={salt}, signature={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_date_and_salt_in_lower_hex() {
        // Computed independently: printf '%s' "2025-03-01T09:00:00+09:00abc" | openssl dgst -sha256 -hmac secret
        let sig = solapi_signature("secret", "2025-03-01T09:00:00+09:00", "abc");
        assert_eq!(
            sig,
            "b13eef92849f71a545c252cb9e794f89b8ed97247b9adb2f85ba5a892042a462"
        );
        assert_eq!(
            sig,
            solapi_signature("secret", "2025-03-01T09:00:00+09:00ab", "c")
        );
        assert_ne!(
            sig,
            solapi_signature("other", "2025-03-01T09:00:00+09:00", "abc")
        );
    }

    #[test]
    fn every_header_has_a_new_salt() {
        let now = chrono::Utc::now();
        let a = solapi_authorization("NCSKEY", "secret", now);
        let b = solapi_authorization("NCSKEY", "secret", now);
        assert_ne!(a, b);
        assert!(a.starts_with("HMAC-SHA256 apiKey=NCSKEY, date="), "{a}");
        let salt = a
            .split("salt=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("");
        assert_eq!(salt.len(), SALT_LEN);
        assert!(!a.contains("secret"));
    }
}
