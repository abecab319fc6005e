//! Password hashing and API-key secrets.

use anyhow::Context;
use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::user::{Password, PasswordHash};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};

const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 32;
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// An argon2id hash (the crate's defaults: OWASP's 19 MiB, 2 passes) in PHC format.
pub fn hash_password(password: &Password) -> anyhow::Result<PasswordHash> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_buffer = [0_u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buffer)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut output = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password.expose().as_bytes(),
        salt_bytes,
        &mut output,
    )
    .context("failed to hash a password")?;
    let hash = argon2::password_hash::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` matches `hash`. A malformed stored hash matches nothing.
pub fn verify_password(password: &str, hash: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::password_hash::PasswordHash::new(&hash.0) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buffer = [0_u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let mut output = vec![0_u8; expected.len()];
    argon2_into(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt,
        &mut output,
    )
    .is_ok()
        && Output::new(&output).is_ok_and(|actual| actual == expected)
}

thread_local! {
    /// The argon2 working memory of this thread, kept between hashes (19 MiB with the
    /// default parameters): allocating and freeing it per hash fragments the heap.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `output`, in this thread's kept working memory.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
) -> anyhow::Result<()> {
    let blocks_needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < blocks_needed {
            blocks.resize(blocks_needed, Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, output, &mut blocks[..blocks_needed])
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
}

/// A new key's public prefix (12 lower-case letters and digits) and secret (32 letters and
/// digits, about 190 bits), both from the operating system's CSPRNG.
pub fn new_api_key() -> (String, String) {
    (
        random_string(LOWER_ALNUM, PREFIX_LEN),
        random_string(ALNUM, SECRET_LEN),
    )
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// The lower-case hex SHA-256 of `secret`: what is stored for an API key.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hex`, compared in constant time so that the time
/// taken says nothing about how much of the digest matched.
/// Whether two secrets are equal, compared in constant time (over their digests, so the
/// lengths tell nothing either).
pub fn digest_matches_plain(sent: &str, expected: &str) -> bool {
    digest_matches(sent, &hex::encode(Sha256::digest(expected.as_bytes())))
}

pub fn digest_matches(secret: &str, stored_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hex) else {
        return false;
    };
    let actual = Sha256::digest(secret.as_bytes());
    if stored.len() != actual.len() {
        return false;
    }
    let diff = stored
        .iter()
        .zip(actual.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = Password::parse("a long enough password".to_owned()).unwrap();
        let ours = hash_password(&password).unwrap();
        let parsed = argon2::password_hash::PasswordHash::new(&ours.0).unwrap();
        assert!(Argon2::default()
            .verify_password(b"a long enough password", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"a long enough password", &salt)
            .unwrap();
        let theirs = PasswordHash(theirs.to_string());
        assert!(verify_password("a long enough password", &theirs));
        assert!(!verify_password("another password", &theirs));
        assert!(!verify_password(
            "a long enough password",
            &PasswordHash("junk".into())
        ));
    }

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let password = Password::parse("correct horse battery".to_owned()).unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.0.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password(
            "anything",
            &PasswordHash("not a phc string".to_owned())
        ));
        let again = hash_password(&password).unwrap();
        assert_ne!(hash, again, "salts must differ");
    }

    #[test]
    fn api_keys_have_the_documented_shape_and_differ() {
        let (prefix, secret) = new_api_key();
        assert_eq!(prefix.len(), 12);
        assert!(prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(secret.len(), 32);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_api_key(), new_api_key());
        let rendered = domain::api_key::PresentedKey::render(&prefix, &secret);
        let parsed = domain::api_key::PresentedKey::parse(&rendered).unwrap();
        assert_eq!((parsed.prefix, parsed.secret), (prefix, secret));
    }

    #[test]
    fn a_digest_matches_its_secret_only() {
        let digest = sha256_hex("s3cret");
        assert_eq!(digest.len(), 64);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(digest_matches("s3cret", &digest));
        assert!(digest_matches("s3cret", &digest.to_uppercase()));
        assert!(!digest_matches("s3cret!", &digest));
        assert!(!digest_matches("s3cret", &digest[..62]));
        assert!(!digest_matches("s3cret", "not hex"));
    }
}
