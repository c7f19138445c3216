//! Stored answers to requests sent with an `Idempotency-Key`: a retry gets the first answer
//! back instead of performing the action again, also after a restart.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::read::ms;
use super::{StoreResult, Writes};

/// The first answer given to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Writes<'_> {
    /// The answer stored for (org, token, key) since `newer_than`, if any.
    pub fn idempotent_answer(
        &self,
        org: &str,
        token: &str,
        key: &str,
        newer_than: DateTime<Utc>,
    ) -> StoreResult<Option<StoredAnswer>> {
        Ok(self
            .conn
            .query_row(
                "SELECT request_hash, status, body FROM idempotency_keys
                 WHERE org = ?1 AND token = ?2 AND key = ?3 AND at_ms >= ?4",
                params![org, token, key, ms(newer_than)],
                |r| {
                    Ok(StoredAnswer {
                        request_hash: r.get(0)?,
                        status: r.get(1)?,
                        body: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Stores the first answer to a key (replacing an expired one).
    pub fn store_idempotent_answer(
        &mut self,
        org: &str,
        token: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> StoreResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency_keys
                 (org, token, key, request_hash, status, body, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                org,
                token,
                key,
                answer.request_hash,
                answer.status,
                answer.body,
                ms(Utc::now())
            ],
        )?;
        Ok(())
    }

    /// Deletes answers stored before `older_than`; returns how many.
    pub fn prune_idempotency_keys(&mut self, older_than: DateTime<Utc>) -> StoreResult<usize> {
        Ok(self.conn.execute(
            "DELETE FROM idempotency_keys WHERE at_ms < ?1",
            [ms(older_than)],
        )?)
    }
}
