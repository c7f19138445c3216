//! Cleaning of untrusted text where it enters the App (once): every string the gateway,
//! a provider or a caller can influence goes through `core::sanitize` here.

use std::collections::BTreeMap;

use crate::core::model::{Analytics, AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::core::protocol::{DestinationList, Snapshot};
use crate::core::sanitize::{clean, clean_in_place};

pub fn text(s: &str) -> String {
    clean(s).into_owned()
}

fn opt(s: &mut Option<String>) {
    if let Some(s) = s {
        clean_in_place(s);
    }
}

pub fn call(c: &mut Call) {
    for s in [
        &mut c.id,
        &mut c.org,
        &mut c.integration,
        &mut c.provider,
        &mut c.provider_call_id,
        &mut c.from,
        &mut c.to,
    ] {
        clean_in_place(s);
    }
    for s in [
        &mut c.lead.id,
        &mut c.lead.name,
        &mut c.campaign,
        &mut c.assistant,
        &mut c.intent,
        &mut c.outcome,
        &mut c.recording_url,
        &mut c.summary,
        &mut c.queue_item_id,
    ] {
        opt(s);
    }
    if let Some(t) = &mut c.takeover {
        clean_in_place(&mut t.by);
        clean_in_place(&mut t.reason);
        opt(&mut t.notes);
        opt(&mut t.phone);
    }
    for a in &mut c.alerts {
        clean_in_place(&mut a.kind);
        clean_in_place(&mut a.message);
    }
}

pub fn entry(e: &mut TranscriptEntry) {
    clean_in_place(&mut e.id);
    clean_in_place(&mut e.call_id);
    clean_in_place(&mut e.text);
}

pub fn audit(a: &mut AuditEntry) {
    clean_in_place(&mut a.actor);
    clean_in_place(&mut a.action);
    opt(&mut a.call_id);
    opt(&mut a.queue_item_id);
    opt(&mut a.reason);
    opt(&mut a.error);
}

pub fn queue_item(q: &mut QueueItem) {
    for s in [&mut q.id, &mut q.org, &mut q.phone_number] {
        clean_in_place(s);
    }
    for s in [
        &mut q.lead.id,
        &mut q.lead.name,
        &mut q.campaign,
        &mut q.script,
        &mut q.call_id,
        &mut q.last_result,
    ] {
        opt(s);
    }
}

fn counts(m: &mut BTreeMap<String, u64>) {
    if m.keys().all(|k| crate::core::sanitize::is_clean(k)) {
        return;
    }
    let old = std::mem::take(m);
    for (k, v) in old {
        *m.entry(text(&k)).or_insert(0) += v;
    }
}

pub fn analytics(a: &mut Analytics) {
    counts(&mut a.intents);
    counts(&mut a.outcomes);
    let groups = std::mem::take(&mut a.groups);
    for (k, mut g) in groups {
        analytics(&mut g);
        a.groups.insert(text(&k), g);
    }
}

pub fn destinations(list: &mut DestinationList) {
    for d in &mut list.destinations {
        clean_in_place(&mut d.name);
        clean_in_place(&mut d.to);
    }
    opt(&mut list.my_phone);
}

pub fn snapshot(s: &mut Snapshot) {
    clean_in_place(&mut s.org);
    for c in &mut s.calls {
        call(&mut c.call);
        for e in &mut c.transcript {
            entry(e);
        }
    }
    for q in &mut s.queue {
        queue_item(q);
    }
    analytics(&mut s.analytics);
}
