//! Device credentials. A key reads `nfk_<public id>_<secret>`; only a SHA-256 digest of the
//! secret is stored (the secret has 190 random bits, so a slow hash adds nothing but cost on
//! the ingest path).

use chrono::{DateTime, Utc};

use crate::ids::{ApiKeyId, DroneId, OrgId};

pub const KEY_PREFIX: &str = "nfk_";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub drone_id: DroneId,
    pub name: String,
    /// The public part shown in lists so a user can tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// A presented key split into its public id and secret; the result of parsing the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub prefix: String,
    pub secret: String,
}

impl PresentedKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(KEY_PREFIX)?;
        let (prefix, secret) = rest.split_once('_')?;
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        (plain(prefix) && plain(secret)).then(|| Self {
            prefix: prefix.to_owned(),
            secret: secret.to_owned(),
        })
    }

    pub fn render(prefix: &str, secret: &str) -> String {
        format!("{KEY_PREFIX}{prefix}_{secret}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_splits_into_prefix_and_secret() {
        let key = PresentedKey::parse("nfk_ab12_SECRET99").unwrap();
        assert_eq!(key.prefix, "ab12");
        assert_eq!(key.secret, "SECRET99");
        assert_eq!(
            PresentedKey::render("ab12", "SECRET99"),
            "nfk_ab12_SECRET99"
        );
        for bad in ["", "nfk_", "nfk_ab12", "nfk__x", "xx_ab_cd", "nfk_a-b_c"] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad} accepted");
        }
    }
}
