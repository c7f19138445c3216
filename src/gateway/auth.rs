//! Bearer tokens -> principals (name, org, role). What each role may do is the rule book's
//! (`core::action::Permission`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::core::action::Permission;
use crate::core::model::Role;
use crate::gateway::config::TokenConfig;
use crate::gateway::error::EngineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token name: the actor in the audit log.
    pub name: String,
    pub org: String,
    pub role: Role,
}

impl Principal {
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }

    /// The rule book's role check, as the engine's 403.
    pub fn require(&self, p: Permission, what: &str) -> Result<(), EngineError> {
        self.role.require(p, what).map_err(EngineError::Forbidden)
    }
}

/// Tokens are compared by their SHA-256 digests in constant time, so neither a token's
/// content nor its length leaks through timing.
pub struct TokenTable {
    entries: Vec<([u8; 32], Principal)>,
}

impl TokenTable {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        TokenTable {
            entries: tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.token.as_bytes()).into(),
                        Principal {
                            name: t.name.clone(),
                            org: t.org.clone(),
                            role: t.role,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn lookup(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        // No early exit: every entry is compared.
        for (d, p) in &self.entries {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(p.clone());
            }
        }
        found
    }
}
