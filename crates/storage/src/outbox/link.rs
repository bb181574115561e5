//! Alert-link tokens (`/a/{token}`): made, stored as a keyed hash and a time-ordered locator,
//! and looked up.
use crate::Db;
use crate::entity::notices;
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// What is stored of an alert-link token: its keyed hash, and its locator when it has one
/// ([`link_token_locator`]).
#[derive(Debug, Clone)]
pub struct LinkKey {
    pub hash: String,
    pub locator: Option<String>,
}

impl LinkKey {
    pub fn of(crypto: &crate::Crypto, token: &str) -> LinkKey {
        LinkKey {
            hash: crypto.hash(token),
            locator: link_token_locator(token).map(str::to_string),
        }
    }
}

/// Replaces a notice's link token (its keyed hash and locator).
pub async fn set_link_token(
    db: &Db,
    crypto: &crate::Crypto,
    notice_id: i64,
    token: &str,
) -> Result<(), StorageError> {
    let key = LinkKey::of(crypto, token);
    notices::Entity::update_many()
        .col_expr(notices::Column::TokenHash, key.hash.into())
        .col_expr(notices::Column::TokenLocator, key.locator.into())
        .filter(notices::Column::Id.eq(notice_id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Base-32 digits in ASCII order (Crockford's alphabet, lower case): a locator sorts as its
/// time does, in byte order and in the usual collations alike.
const LOCATOR_DIGITS: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters of a locator: 50 bits of milliseconds (until the year 37,648).
const LOCATOR_LEN: usize = 10;
/// Random bytes after the locator (128 bits: unguessable).
const SECRET_BYTES: usize = 16;
/// Their URL-safe base64 length.
const SECRET_LEN: usize = 22;

/// A new alert-link token: a locator made from `now` (ms), then 128 random bits in URL-safe
/// base64 — 32 characters. The locator only finds the notice's row (through an index that
/// grows at one end, like the notices themselves); the token is checked against its keyed
/// hash, so knowing the time of a notice does not help to guess its link.
pub fn new_link_token(now: i64) -> String {
    use base64::Engine;
    let mut out = String::with_capacity(LOCATOR_LEN + SECRET_LEN);
    let t = u64::try_from(now).unwrap_or_default();
    for i in (0..LOCATOR_LEN).rev() {
        out.push(char::from(LOCATOR_DIGITS[((t >> (5 * i)) & 31) as usize]));
    }
    let mut secret = [0u8; SECRET_BYTES];
    // The thread's CSPRNG (ChaCha, seeded and reseeded from the OS).
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(secret, &mut out);
    out
}

/// The locator of a token made by [`new_link_token`]; `None` for any other string (links
/// made before tokens had one are found by their hash alone).
pub fn link_token_locator(token: &str) -> Option<&str> {
    (token.len() == LOCATOR_LEN + SECRET_LEN)
        .then(|| token.get(..LOCATOR_LEN))
        .flatten()
        .filter(|l| l.bytes().all(|b| LOCATOR_DIGITS.contains(&b)))
}

/// The notice behind an alert-link token, whatever its expiry (the caller decides). Every key
/// a row may carry during a key rotation is tried.
pub async fn notice_by_link_token(
    db: &Db,
    crypto: &crate::Crypto,
    token: &str,
) -> Result<Option<notices::Model>, StorageError> {
    let hashes = crypto.lookup_hashes(token);
    let q = notices::Entity::find().filter(notices::Column::TokenHash.is_in(hashes));
    let q = match link_token_locator(token) {
        Some(locator) => q.filter(notices::Column::TokenLocator.eq(locator)),
        // Same condition as the partial index `ux_notices_token_legacy`, so it is used.
        None => q.filter(notices::Column::TokenLocator.is_null()),
    };
    Ok(q.one(&db.conn).await?)
}

/// A notice's alert-link token read back from the messages rendered for it: only the token's
/// keyed hash is stored, but every message carries the link `{public_url}/a/{token}`. The
/// candidate is checked against the notice's hash (every key of a rotation), so a link that
/// is not this notice's is never returned.
pub fn link_token_in(
    crypto: &crate::Crypto,
    public_url: &str,
    token_hash: &str,
    sent: &[crate::entity::outbox::Model],
) -> Option<String> {
    let prefix = format!("{}/a/", public_url.trim_end_matches('/'));
    sent.iter()
        .flat_map(|m| [Some(&m.body), m.html.as_ref()])
        .flatten()
        .flat_map(|text| {
            text.match_indices(&prefix)
                .map(|(at, _)| &text[at + prefix.len()..])
        })
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect::<String>()
        })
        .find(|t| !t.is_empty() && crypto.lookup_hashes(t).iter().any(|h| h == token_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_a_locator_that_sorts_by_time() {
        let a = new_link_token(1_765_000_000_000);
        let b = new_link_token(1_765_000_000_001);
        let c = new_link_token(1_765_000_100_000);
        assert_eq!(a.len(), 32);
        let (la, lb, lc) = (
            link_token_locator(&a).unwrap_or_default(),
            link_token_locator(&b).unwrap_or_default(),
            link_token_locator(&c).unwrap_or_default(),
        );
        assert!(la < lb && lb < lc, "{la} {lb} {lc}");
        assert_ne!(a[10..], b[10..], "the secret part is random");
        assert!(
            a.bytes()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == b'-' || ch == b'_'),
            "URL-safe: {a}"
        );
    }

    #[test]
    fn other_strings_have_no_locator() {
        for t in [
            "",
            "abc",
            "tok-0123456789abcdef0123456789ab",
            // the 22-character tokens made before locators
            "q83jdK_2mZsl0PqL9xYv1A",
            // right length, a character outside the locator's alphabet
            "0000000i00AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(link_token_locator(t), None, "{t}");
        }
    }
}
