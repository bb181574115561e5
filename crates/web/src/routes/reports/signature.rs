//! The signature of an evidence sheet: an HMAC-SHA256 with the data key over every byte of the
//! document before its last line, which carries the signature:
//!
//! ```text
//! …the sheet…
//! <!-- meoktong-evidence-signature v1 3f9a…(64 hex) -->
//! ```
//!
//! One changed byte anywhere above that line, or in the signature itself, fails the check.
//! Why HMAC with the data key and not Ed25519: the sheet is checked where the key already is —
//! `meoktong evidence verify FILE` on the server and the public check page — so no second
//! secret has to be made, stored, rotated and backed up; the key ring's previous key still
//! verifies sheets signed before a rotation. The price: nobody can check a sheet offline
//! without us (an Ed25519 public key would allow that), which the claim handler does not need
//! while our check page is up. See README, design notes.
use meoktong_storage::Crypto;

const MARK: &str = "<!-- meoktong-evidence-signature v1 ";
const END: &str = " -->\n";
/// Separates this use of the key from its other keyed hashes.
const CONTEXT: &str = "evidence-sheet:v1:";

/// The document with its signature line appended.
pub fn sign(crypto: &Crypto, document: &str) -> String {
    let mac = crypto.hash(&format!("{CONTEXT}{document}"));
    format!("{document}{MARK}{mac}{END}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by our key (or the previous one) and unchanged.
    Genuine,
    /// Signed, but something changed since (or signed by another key).
    Altered,
    /// Not a signed sheet.
    Unsigned,
}

/// Checks a file as downloaded.
pub fn verify(crypto: &Crypto, file: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(file) else {
        return Verdict::Altered;
    };
    let Some(at) = text.rfind(MARK) else {
        return Verdict::Unsigned;
    };
    let (document, line) = text.split_at(at);
    let Some(mac) = line
        .strip_prefix(MARK)
        .and_then(|rest| rest.strip_suffix(END))
    else {
        return Verdict::Altered;
    };
    if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Verdict::Altered;
    }
    let expected = crypto.lookup_hashes(&format!("{CONTEXT}{document}"));
    if expected
        .iter()
        .any(|e| crate::auth::session::same_secret(e, mac))
    {
        Verdict::Genuine
    } else {
        Verdict::Altered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_sheet_verifies_and_any_changed_byte_fails() {
        let c = Crypto::from_key(&[7u8; 32]);
        let doc = "<html><body>먹통분식 · 카카오톡 2022년 10월 15일</body></html>\n";
        let signed = sign(&c, doc);
        assert_eq!(verify(&c, signed.as_bytes()), Verdict::Genuine);
        let bytes = signed.as_bytes();
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] ^= 0x01;
            assert_ne!(
                verify(&c, &changed),
                Verdict::Genuine,
                "byte {i} changed must fail"
            );
        }
        assert_eq!(verify(&c, doc.as_bytes()), Verdict::Unsigned);
        let other = Crypto::from_key(&[8u8; 32]);
        assert_eq!(verify(&other, signed.as_bytes()), Verdict::Altered);
        let rotated = Crypto::rotating(&[8u8; 32], &[7u8; 32]);
        assert_eq!(
            verify(&rotated, signed.as_bytes()),
            Verdict::Genuine,
            "the previous key still verifies during a rotation"
        );
    }
}
