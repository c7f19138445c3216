//! Bearer tokens -> principals (name, org, role), and what each role may do.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// What a request wants to do; checked against the principal's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    TakeOver,
    Say,
    /// Pause/resume/instruct/end/summary.
    CallControl,
    Queue,
    /// Integration diagnostics (the webhook log).
    Admin,
}

impl Principal {
    pub fn may(&self, p: Permission) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor => p != Permission::Admin,
            Role::Agent => matches!(p, Permission::Read | Permission::TakeOver | Permission::Say),
            Role::Viewer => p == Permission::Read,
        }
    }

    pub fn require(&self, p: Permission, what: &str) -> Result<(), EngineError> {
        if self.may(p) {
            Ok(())
        } else {
            let role = match self.role {
                Role::Viewer => "viewer",
                Role::Agent => "agent",
                Role::Supervisor => "supervisor",
                Role::Admin => "admin",
            };
            Err(EngineError::Forbidden(format!(
                "the {role} role may not {what}"
            )))
        }
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
