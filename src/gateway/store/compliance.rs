//! The do-not-call list and the compliance report's audit scan (migration 6).

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};

use super::read::{ms, parse};
use super::{Reads, StoreResult, Writes};
use crate::core::compliance::DncEntry;
use crate::core::model::AuditEntry;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<DncEntry> {
    Ok(DncEntry {
        number: r.get(0)?,
        source: r.get(1)?,
        reason: r.get(2)?,
        added_by: r.get(3)?,
        added_at: at(r.get(4)?),
    })
}

impl Reads<'_> {
    /// The entry for an E.164 number, if it is on the org's list.
    pub fn dnc_get(&self, org: &str, number: &str) -> StoreResult<Option<DncEntry>> {
        Ok(self
            .conn
            .query_row(
                "SELECT number, source, reason, added_by, added_ms FROM dnc
                 WHERE org = ?1 AND number = ?2",
                params![org, number],
                entry,
            )
            .optional()?)
    }

    /// The org's list, by number.
    pub fn dnc_list(&self, org: &str) -> StoreResult<Vec<DncEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT number, source, reason, added_by, added_ms FROM dnc
             WHERE org = ?1 ORDER BY number",
        )?;
        let rows = stmt.query_map([org], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Audit entries whose action starts with "compliance_", oldest first, in [from, to).
    pub fn compliance_decisions(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, data FROM audit_log WHERE org = ?1 AND at_ms >= ?2 AND at_ms < ?3
               AND json_extract(data, '$.action') LIKE 'compliance\\_%' ESCAPE '\\'
             ORDER BY id",
        )?;
        let rows = stmt.query_map(params![org, ms(from), ms(to)], |r| {
            let id: i64 = r.get(0)?;
            let mut e: AuditEntry = parse(r.get(1)?)?;
            e.id = id;
            Ok(e)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Writes<'_> {
    /// Adds or replaces entries (same number: the newest source wins). One transaction.
    pub fn dnc_put(&mut self, org: &str, entries: &[DncEntry]) -> StoreResult<()> {
        let tx = self.conn.transaction()?;
        for e in entries {
            tx.execute(
                "INSERT INTO dnc (org, number, source, reason, added_by, added_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(org, number) DO UPDATE SET source = excluded.source,
                     reason = excluded.reason, added_by = excluded.added_by,
                     added_ms = excluded.added_ms",
                params![
                    org,
                    e.number,
                    e.source,
                    e.reason,
                    e.added_by,
                    ms(e.added_at)
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a number; false when it was not on the list.
    pub fn dnc_remove(&mut self, org: &str, number: &str) -> StoreResult<bool> {
        Ok(self.conn.execute(
            "DELETE FROM dnc WHERE org = ?1 AND number = ?2",
            [org, number],
        )? > 0)
    }
}
