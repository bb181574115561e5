//! Personal data at rest: AES-256-GCM ciphertext plus a keyed hash (HMAC-SHA256) for look-ups.
//!
//! The key comes from `MEOKTONG_DATA_KEY` (base64 of 32 random bytes). With SQLite and no
//! variable, a key is generated once into a 0600 file beside the database. Ciphertexts carry
//! the id of the key that made them (`k1.<kid>.<base64>`), so a key can be rotated: set the new
//! key in `MEOKTONG_DATA_KEY` and the old one in `MEOKTONG_DATA_KEY_PREVIOUS`; both decrypt.
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const DATA_KEY_ENV: &str = "MEOKTONG_DATA_KEY";
pub const PREVIOUS_DATA_KEY_ENV: &str = "MEOKTONG_DATA_KEY_PREVIOUS";

#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    #[error(
        "{DATA_KEY_ENV} is required with PostgreSQL (base64 of 32 random bytes, e.g. `openssl rand -base64 32`); every replica and command must share it"
    )]
    Missing,
    #[error("{0} is not base64 of exactly 32 bytes")]
    Malformed(String),
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
}

struct KeyMaterial {
    id: String,
    cipher: Aes256Gcm,
    hash_key: [u8; 32],
}

impl KeyMaterial {
    fn new(raw: &[u8; 32]) -> Self {
        let digest = Sha256::digest(raw);
        let id = hex::encode(&digest[..4]);
        // Separate sub-keys for encryption and hashing, derived from the one data key.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(raw).expect("HMAC takes any key length");
        mac.update(b"meoktong lookup hash v1");
        let hash_key: [u8; 32] = mac.finalize().into_bytes().into();
        KeyMaterial {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(raw)),
            hash_key,
        }
    }
}

/// Encrypts, decrypts and hashes personal data. Cheap to clone behind an `Arc`.
pub struct Crypto {
    current: KeyMaterial,
    previous: Option<KeyMaterial>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

/// Where the key came from, so the caller can warn.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    ExistingFile(PathBuf),
    GeneratedFile(PathBuf),
}

fn decode_key(name: &str, value: &str) -> Result<[u8; 32], DataKeyError> {
    let bytes = B64
        .decode(value.trim())
        .map_err(|_| DataKeyError::Malformed(name.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| DataKeyError::Malformed(name.to_string()))
}

impl Crypto {
    pub fn from_key(raw: &[u8; 32]) -> Crypto {
        Crypto {
            current: KeyMaterial::new(raw),
            previous: None,
        }
    }

    /// A key being rotated in: `current` encrypts, both decrypt.
    pub fn rotating(current: &[u8; 32], previous: &[u8; 32]) -> Crypto {
        Crypto {
            current: KeyMaterial::new(current),
            previous: Some(KeyMaterial::new(previous)),
        }
    }

    /// Loads the key as the contract says. `sqlite_db` is the database file when on SQLite.
    pub fn load(sqlite_db: Option<&Path>) -> Result<(Crypto, KeySource), DataKeyError> {
        let previous = match std::env::var(PREVIOUS_DATA_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                Some(KeyMaterial::new(&decode_key(PREVIOUS_DATA_KEY_ENV, &v)?))
            }
            _ => None,
        };
        if let Ok(v) = std::env::var(DATA_KEY_ENV)
            && !v.trim().is_empty()
        {
            let key = decode_key(DATA_KEY_ENV, &v)?;
            return Ok((
                Crypto {
                    current: KeyMaterial::new(&key),
                    previous,
                },
                KeySource::Environment,
            ));
        }
        let Some(db) = sqlite_db else {
            return Err(DataKeyError::Missing);
        };
        let path = key_file_for(db);
        let file_err = |message: String| DataKeyError::File {
            path: path.display().to_string(),
            message,
        };
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
            let key = decode_key(&path.display().to_string(), &text)?;
            return Ok((
                Crypto {
                    current: KeyMaterial::new(&key),
                    previous,
                },
                KeySource::ExistingFile(path),
            ));
        }
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut OsRng, &mut key);
        write_private_file(&path, &B64.encode(key)).map_err(|e| file_err(e.to_string()))?;
        Ok((
            Crypto {
                current: KeyMaterial::new(&key),
                previous,
            },
            KeySource::GeneratedFile(path),
        ))
    }

    /// `k1.<key id>.<base64(nonce || ciphertext)>`.
    pub fn encrypt(&self, plaintext: &str) -> String {
        // Nonces from the thread's CSPRNG (ChaCha, seeded and reseeded from the OS): a
        // system call per message showed up in large fan-outs.
        let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        // Encryption with a valid key and a fresh nonce cannot fail for in-memory data.
        let ct = self
            .current
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("k1.{}.{}", self.current.id, B64.encode(blob))
    }

    pub fn encrypt_bytes(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        let ct = self
            .current
            .cipher
            .encrypt(&nonce, plaintext)
            .unwrap_or_default();
        let mut blob = self.current.id.as_bytes().to_vec();
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        blob
    }

    pub fn decrypt_bytes(&self, blob: &[u8]) -> Result<Vec<u8>, String> {
        if blob.len() < 8 + 12 {
            return Err("ciphertext too short".into());
        }
        let (kid, rest) = blob.split_at(8);
        let key = self.key_by_id(std::str::from_utf8(kid).map_err(|_| "bad key id")?)?;
        let (nonce, ct) = rest.split_at(12);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| "cannot decrypt (wrong key?)".to_string())
    }

    fn key_by_id(&self, kid: &str) -> Result<&KeyMaterial, String> {
        if kid == self.current.id {
            return Ok(&self.current);
        }
        match &self.previous {
            Some(p) if p.id == kid => Ok(p),
            _ => Err(format!(
                "data encrypted with unknown key {kid}; set {PREVIOUS_DATA_KEY_ENV}"
            )),
        }
    }

    pub fn decrypt(&self, text: &str) -> Result<String, String> {
        let mut parts = text.splitn(3, '.');
        let (Some("k1"), Some(kid), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not a Meoktong ciphertext".into());
        };
        let key = self.key_by_id(kid)?;
        let blob = B64
            .decode(b64)
            .map_err(|_| "ciphertext is not base64".to_string())?;
        if blob.len() < 12 {
            return Err("ciphertext too short".into());
        }
        let (nonce, ct) = blob.split_at(12);
        let plain = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| "cannot decrypt (wrong key?)".to_string())?;
        String::from_utf8(plain).map_err(|_| "decrypted data is not UTF-8".into())
    }

    /// Keyed hash for equality look-ups (an inbound SMS's From, a user's email).
    pub fn hash(&self, value: &str) -> String {
        hash_with(&self.current.hash_key, value)
    }

    /// Every hash a stored row may carry while a rotation is under way.
    pub fn lookup_hashes(&self, value: &str) -> Vec<String> {
        let mut v = vec![self.hash(value)];
        if let Some(p) = &self.previous {
            v.push(hash_with(&p.hash_key, value));
        }
        v
    }
}

fn hash_with(key: &[u8; 32], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `meoktong.db` → `meoktong.db.key`.
pub fn key_file_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db.with_file_name(name)
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hash_are_stable() {
        let c = Crypto::from_key(&[7u8; 32]);
        let ct = c.encrypt("+821012345678");
        assert!(ct.starts_with("k1."));
        assert!(!ct.contains("1012345678"));
        assert_eq!(c.decrypt(&ct).as_deref(), Ok("+821012345678"));
        assert_ne!(c.encrypt("x"), c.encrypt("x"), "fresh nonce each time");
        assert_eq!(c.hash("a"), c.hash("a"));
        assert_ne!(c.hash("a"), c.hash("b"));
        let bytes = c.encrypt_bytes(b"pdf");
        assert_eq!(c.decrypt_bytes(&bytes).as_deref(), Ok(&b"pdf"[..]));
    }

    #[test]
    fn another_key_cannot_decrypt_but_a_previous_key_can() {
        let old = Crypto::from_key(&[1u8; 32]);
        let ct = old.encrypt("secret");
        let new = Crypto::from_key(&[2u8; 32]);
        assert!(new.decrypt(&ct).is_err());
        let rotating = Crypto {
            current: KeyMaterial::new(&[2u8; 32]),
            previous: Some(KeyMaterial::new(&[1u8; 32])),
        };
        assert_eq!(rotating.decrypt(&ct).as_deref(), Ok("secret"));
        assert!(rotating.lookup_hashes("v").contains(&old.hash("v")));
    }

    #[test]
    fn key_file_is_generated_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("mk-key-{}", std::process::id()));
        let db = dir.join("m.db");
        // Only meaningful when the variable is absent in the test environment.
        if std::env::var(DATA_KEY_ENV).is_ok() {
            return;
        }
        let (a, src) = Crypto::load(Some(&db)).expect("generate");
        assert!(matches!(src, KeySource::GeneratedFile(_)));
        let (b, src2) = Crypto::load(Some(&db)).expect("reuse");
        assert!(matches!(src2, KeySource::ExistingFile(_)));
        assert_eq!(a.hash("x"), b.hash("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file_for(&db))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
