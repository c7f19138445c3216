//! Per-org provider credentials set through the API (`PUT
//! /api/integrations/{name}/credentials`), stored encrypted at rest: AES-256-GCM under a key
//! from the `CALLWATCH_CREDENTIALS_KEY` environment variable (base64 of 32 bytes), a random
//! nonce per write, and the row's org and integration as associated data so a ciphertext
//! cannot be moved to another integration. Never returned by the API, never logged.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::gateway::config::IntegrationConfig;

pub const KEY_ENV: &str = "CALLWATCH_CREDENTIALS_KEY";

/// What may be stored for an integration; each present field replaces the config file's.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The provider's API key (`api_key`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// The webhook secret / auth token (`secret`).
    #[serde(default)]
    pub secret: Option<String>,
}

// Hand-written so a credential never lands in a log line through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Names of the fields present (what the API says it stored).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.api_key.is_some() {
            out.push("api_key");
        }
        if self.secret.is_some() {
            out.push("secret");
        }
        out
    }

    /// The integration's settings with these credentials in place.
    pub fn apply(&self, config: &IntegrationConfig) -> IntegrationConfig {
        let mut c = config.clone();
        if let Some(k) = &self.api_key {
            c.api_key = Some(k.clone());
        }
        if let Some(s) = &self.secret {
            c.secret = s.clone();
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("no credentials key: set {KEY_ENV} to the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")]
    NoKey,
    #[error("{KEY_ENV} is not the base64 of 32 bytes")]
    BadKey,
    #[error("stored credentials of integration {0:?} cannot be decrypted with this key")]
    Undecryptable(String),
}

pub struct Vault {
    cipher: Aes256Gcm,
}

impl Vault {
    /// The vault of the key in the environment; `Ok(None)` when the variable is unset.
    pub fn from_env() -> Result<Option<Vault>, VaultError> {
        match std::env::var(KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Vault::from_base64(v.trim()).map(Some),
            _ => Ok(None),
        }
    }

    pub fn from_base64(key: &str) -> Result<Vault, VaultError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| VaultError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Vault { cipher })
    }

    fn aad(org: &str, integration: &str) -> Vec<u8> {
        format!("callwatch-credentials/{org}/{integration}").into_bytes()
    }

    /// (nonce, ciphertext) of the credentials of `integration` in `org`.
    pub fn seal(&self, org: &str, integration: &str, creds: &Credentials) -> (Vec<u8>, Vec<u8>) {
        let nonce: [u8; 12] = rand::random();
        let plain = serde_json::to_vec(creds).unwrap_or_default();
        let aad = Self::aad(org, integration);
        // Encryption fails only for inputs beyond AES-GCM's size limit (64 GiB).
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        (nonce.to_vec(), sealed)
    }

    pub fn open(
        &self,
        org: &str,
        integration: &str,
        nonce: &[u8],
        sealed: &[u8],
    ) -> Result<Credentials, VaultError> {
        let fail = || VaultError::Undecryptable(integration.to_string());
        if nonce.len() != 12 {
            return Err(fail());
        }
        let aad = Self::aad(org, integration);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| fail())?;
        serde_json::from_slice(&plain).map_err(|_| fail())
    }
}

/// Stored rows: (org, integration, nonce, sealed).
pub type SealedRow = (String, String, Vec<u8>, Vec<u8>);

/// Opens every stored row. Rows without a key, or that the key cannot open, stop the
/// gateway: running on the config file's older keys would fail later and less clearly.
pub fn open_all(
    rows: &[SealedRow],
    vault: Option<&Vault>,
) -> Result<std::collections::HashMap<(String, String), Credentials>, VaultError> {
    let mut out = std::collections::HashMap::new();
    if rows.is_empty() {
        return Ok(out);
    }
    let vault = vault.ok_or(VaultError::NoKey)?;
    for (org, integration, nonce, sealed) in rows {
        let creds = vault.open(org, integration, nonce, sealed)?;
        out.insert((org.clone(), integration.clone()), creds);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn sealed_credentials_open_only_for_their_integration_and_key() {
        let vault = Vault::from_base64(KEY).unwrap();
        let creds = Credentials {
            api_key: Some("key_live_123".into()),
            secret: None,
        };
        let (nonce, sealed) = vault.seal("acme", "retell", &creds);
        assert!(!sealed
            .windows(b"key_live_123".len())
            .any(|w| w == b"key_live_123"));
        assert_eq!(
            vault.open("acme", "retell", &nonce, &sealed),
            Ok(creds.clone())
        );
        assert!(vault.open("globex", "retell", &nonce, &sealed).is_err());
        assert!(vault.open("acme", "vapi", &nonce, &sealed).is_err());
        let other = Vault::from_base64("AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        assert!(other.open("acme", "retell", &nonce, &sealed).is_err());
        assert!(!format!("{creds:?}").contains("key_live_123"));
        assert_eq!(
            Vault::from_base64("c2hvcnQ=").err(),
            Some(VaultError::BadKey)
        );
    }
}
