//! The PostgreSQL store's queries ([`ReadOps`]), on the same pooled connection type as its
//! transactions (`super`).

use super::*;

impl ReadOps for PgWrites<'_> {
    fn ingest_seen(&self, org: &str, integration: &str, event_id: &str) -> StoreResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM ingest_event_ids WHERE org = $1 AND integration = $2 AND event_id = $3",
                &[&org, &integration, &event_id],
            )?
            .is_some())
    }

    fn sealed_credentials(&self) -> StoreResult<Vec<SealedRow>> {
        self.query(
            "SELECT org, integration, nonce, sealed FROM provider_credentials",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
    }

    fn list_webhooks(&self, org: &str, limit: usize) -> StoreResult<Vec<WebhookRecord>> {
        self.query(
            "SELECT id, at_ms, integration, provider, event, payload, ok, error FROM webhook_log
             WHERE org = $1 ORDER BY id DESC LIMIT $2",
            &[&org, &int(limit)],
        )?
        .iter()
        .map(|r| {
            Ok(WebhookRecord {
                id: r.try_get(0)?,
                at: at(r.try_get(1)?),
                integration: r.try_get(2)?,
                provider: r.try_get(3)?,
                event: r.try_get(4)?,
                payload: r.try_get(5)?,
                ok: r.try_get(6)?,
                error: r.try_get(7)?,
            })
        })
        .collect()
    }

    fn webhook_counts(&self) -> StoreResult<(u64, u64)> {
        let row = self.query(
            "SELECT COUNT(*) FILTER (WHERE ok), COUNT(*) FILTER (WHERE NOT ok) FROM webhook_log",
            &[],
        )?;
        let row = row
            .first()
            .ok_or_else(|| StoreError::Task("no count row".into()))?;
        Ok((
            row.try_get::<_, i64>(0)? as u64,
            row.try_get::<_, i64>(1)? as u64,
        ))
    }

    fn load_active(&self) -> StoreResult<Vec<LiveCall>> {
        let calls: Vec<Call> =
            parse_all(&self.query("SELECT data FROM calls WHERE state != 'ended'", &[])?)?;
        let mut out = Vec::with_capacity(calls.len());
        for call in calls {
            let entries = self
                .query(
                    "SELECT data, utterance_id FROM transcript_entries WHERE call_id = $1
                     ORDER BY position",
                    &[&call.id],
                )?
                .iter()
                .map(|r| Ok((parse(r, 0)?, r.try_get(1)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            out.push((call, entries));
        }
        Ok(out)
    }

    fn load_open_queue(&self) -> StoreResult<Vec<QueueItem>> {
        parse_all(&self.query(
            "SELECT data FROM queue_items WHERE state IN ('pending', 'scheduled', 'dialing')
             ORDER BY created_ms",
            &[],
        )?)
    }

    fn get_call(&self, org: &str, id: &str) -> StoreResult<Option<Call>> {
        self.query_opt(
            "SELECT data FROM calls WHERE org = $1 AND id = $2",
            &[&org, &id],
        )?
        .map(|r| parse(&r, 0))
        .transpose()
    }

    fn find_call_by_provider(
        &self,
        org: &str,
        integration: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<Call>> {
        self.query_opt(
            "SELECT data FROM calls WHERE org = $1 AND integration = $2 AND provider_call_id = $3",
            &[&org, &integration, &provider_call_id],
        )?
        .map(|r| parse(&r, 0))
        .transpose()
    }

    fn transcript(&self, call_id: &str) -> StoreResult<Vec<TranscriptEntry>> {
        parse_all(&self.query(
            "SELECT data FROM transcript_entries WHERE call_id = $1 ORDER BY position",
            &[&call_id],
        )?)
    }

    fn find_utterance(
        &self,
        call_id: &str,
        utterance_id: &str,
    ) -> StoreResult<Option<TranscriptEntry>> {
        self.query_opt(
            "SELECT data FROM transcript_entries WHERE call_id = $1 AND utterance_id = $2",
            &[&call_id, &utterance_id],
        )?
        .map(|r| parse(&r, 0))
        .transpose()
    }

    fn transcript_len(&self, call_id: &str) -> StoreResult<u32> {
        let rows = self.query(
            "SELECT COUNT(*) FROM transcript_entries WHERE call_id = $1",
            &[&call_id],
        )?;
        let n: i64 = match rows.first() {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn list_calls(
        &self,
        org: &str,
        filter: &CallFilter,
    ) -> StoreResult<(Vec<Call>, Option<Cursor>)> {
        let mut sql = String::from("SELECT data, created_ms, id FROM calls WHERE org = $1");
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(org.to_string())];
        let next_arg = |args: &mut Vec<Box<dyn ToSql + Sync + Send>>,
                        v: Box<dyn ToSql + Sync + Send>| {
            args.push(v);
            format!("${}", args.len())
        };
        match filter.status.as_deref() {
            None | Some("") | Some("all") => {}
            Some("active") => sql.push_str(" AND state != 'ended'"),
            Some(state) => {
                let p = next_arg(&mut args, Box::new(state.to_string()));
                sql.push_str(&format!(" AND state = {p}"));
            }
        }
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let p = next_arg(&mut args, Box::new(q.to_string()));
            sql.push_str(&format!(
                " AND (search_tsv @@ plainto_tsquery('simple', {p})
                   OR id IN (SELECT t.call_id FROM transcript_entries t
                             WHERE t.org = $1 AND t.text_tsv @@ plainto_tsquery('simple', {p})))"
            ));
        }
        if let Some(from) = filter.from {
            let p = next_arg(&mut args, Box::new(ms(from)));
            sql.push_str(&format!(" AND created_ms >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = next_arg(&mut args, Box::new(ms(to)));
            sql.push_str(&format!(" AND created_ms < {p}"));
        }
        if let Some((c_ms, c_id)) = &filter.cursor {
            let pm = next_arg(&mut args, Box::new(*c_ms));
            let pi = next_arg(&mut args, Box::new(c_id.clone()));
            sql.push_str(&format!(
                " AND (created_ms < {pm} OR (created_ms = {pm} AND id < {pi}))"
            ));
        }
        let pl = next_arg(&mut args, Box::new(int(filter.limit + 1)));
        sql.push_str(&format!(" ORDER BY created_ms DESC, id DESC LIMIT {pl}"));
        let refs: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let mut rows: Vec<(Call, i64, String)> = self
            .query(&sql, &refs)?
            .iter()
            .map(|r| Ok((parse(r, 0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<StoreResult<_>>()?;
        let next = if rows.len() > filter.limit {
            rows.truncate(filter.limit);
            rows.last().map(|(_, m, id)| (*m, id.clone()))
        } else {
            None
        };
        Ok((rows.into_iter().map(|(c, _, _)| c).collect(), next))
    }

    fn calls_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Call>> {
        parse_all(&self.query(
            "SELECT data FROM calls WHERE org = $1 AND created_ms >= $2 AND created_ms < $3",
            &[&org, &ms(from), &ms(to)],
        )?)
    }

    fn get_queue_item(&self, org: &str, id: &str) -> StoreResult<Option<QueueItem>> {
        self.query_opt(
            "SELECT data FROM queue_items WHERE org = $1 AND id = $2",
            &[&org, &id],
        )?
        .map(|r| parse(&r, 0))
        .transpose()
    }

    fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>> {
        let sql = if all {
            "SELECT data FROM queue_items WHERE org = $1 ORDER BY created_ms DESC LIMIT $2"
        } else {
            "SELECT data FROM queue_items WHERE org = $1 AND state IN ('pending', 'scheduled', 'dialing')
             ORDER BY created_ms DESC LIMIT $2"
        };
        parse_all(&self.query(sql, &[&org, &int(limit)])?)
    }

    fn list_audit(
        &self,
        org: &str,
        call_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.query(
            "SELECT id, data FROM audit_log WHERE org = $1 AND ($2::TEXT IS NULL OR call_id = $2)
             ORDER BY id DESC LIMIT $3",
            &[&org, &call_id, &int(limit)],
        )?
        .iter()
        .map(audit)
        .collect()
    }

    fn dnc_get(&self, org: &str, number: &str) -> StoreResult<Option<DncEntry>> {
        self.query_opt(
            "SELECT number, source, reason, added_by, added_ms FROM dnc
             WHERE org = $1 AND number = $2",
            &[&org, &number],
        )?
        .map(|r| dnc(&r))
        .transpose()
    }

    fn dnc_list(&self, org: &str) -> StoreResult<Vec<DncEntry>> {
        self.query(
            "SELECT number, source, reason, added_by, added_ms FROM dnc
             WHERE org = $1 ORDER BY number",
            &[&org],
        )?
        .iter()
        .map(dnc)
        .collect()
    }

    fn compliance_decisions(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.query(
            "SELECT id, data FROM audit_log WHERE org = $1 AND at_ms >= $2 AND at_ms < $3
               AND action LIKE 'compliance\\_%'
             ORDER BY id",
            &[&org, &ms(from), &ms(to)],
        )?
        .iter()
        .map(audit)
        .collect()
    }

    fn epoch(&self) -> StoreResult<String> {
        Ok(self
            .query_opt("SELECT value FROM stream_meta WHERE key = 'epoch'", &[])?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or_default())
    }

    fn stream_seqs(&self) -> StoreResult<Vec<(String, u64)>> {
        self.query("SELECT org, seq FROM stream_seq", &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
    }

    fn events_after(&self, org: &str, since: u64, limit: usize) -> StoreResult<Vec<LoggedEvent>> {
        self.query(
            "SELECT seq, utterance, event FROM events WHERE org = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
            &[&org, &i64::try_from(since).unwrap_or(i64::MAX), &int(limit)],
        )?
        .iter()
        .map(|r| {
            Ok(LoggedEvent {
                seq: r.try_get::<_, i64>(0)? as u64,
                utterance: r.try_get(1)?,
                event: parse(r, 2)?,
            })
        })
        .collect()
    }
}
