//! Changes between two versions of a record (a call, the analytics) as a JSON merge patch
//! (RFC 7396): the gateway computes them for stream clients that asked for deltas
//! (docs/PROTOCOL.md, "Deltas"), clients apply them to the version they hold.
//!
//! A patch is an object of the fields that changed, each with its new value; an object
//! value is itself a patch of that field's fields; `null` clears a field (absent and `null`
//! read the same for the optional fields of the model); anything else (arrays, numbers,
//! strings) replaces the field's value whole. An array that changed only at its ends (the
//! analytics' `calls_per_minute`: its last minute counts up, a new minute pushes the oldest
//! out) may instead come as an [`ArrayEdit`] beside the patch.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A top-level array field as an edit of its previous value: drop the first `skip` items,
/// keep the next `keep`, then append `then`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrayEdit {
    pub skip: usize,
    pub keep: usize,
    pub then: Vec<Value>,
}

/// How far into the old array an edit looks for where the new one starts (a minute or a few
/// rolled over; beyond that the array goes whole).
const MAX_SKIP: usize = 8;

impl ArrayEdit {
    /// The edit that keeps the most of `old` (`None`: nothing of it can be kept).
    pub fn between(old: &[Value], new: &[Value]) -> Option<ArrayEdit> {
        let (skip, keep) = (0..=old.len().min(MAX_SKIP))
            .map(|skip| {
                let kept = old[skip..]
                    .iter()
                    .zip(new)
                    .take_while(|(o, n)| o == n)
                    .count();
                (skip, kept)
            })
            .max_by_key(|&(skip, kept)| (kept, std::cmp::Reverse(skip)))?;
        (keep > 0).then(|| ArrayEdit {
            skip,
            keep,
            then: new[keep..].to_vec(),
        })
    }

    /// The new array (`None`: `old` is too short for this edit, it was meant for another).
    pub fn apply(&self, old: &[Value]) -> Option<Vec<Value>> {
        let kept = old.get(self.skip..self.skip.checked_add(self.keep)?)?;
        Some(kept.iter().chain(&self.then).cloned().collect())
    }
}

/// The fields that changed ([`diff_fields`]), with those top-level arrays that are smaller
/// as an [`ArrayEdit`] in `edits` instead of whole in `changes`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub changes: Map<String, Value>,
    pub edits: BTreeMap<String, ArrayEdit>,
}

/// [`changes`] with arrays edited where that is smaller.
pub fn patch<T: Serialize>(old: &T, new: &T) -> Option<Patch> {
    let (Value::Object(o), Value::Object(n)) = (
        serde_json::to_value(old).ok()?,
        serde_json::to_value(new).ok()?,
    ) else {
        return None;
    };
    let mut changes = diff_fields(&o, &n);
    let mut edits = BTreeMap::new();
    for (k, v) in changes.iter() {
        let (Some(Value::Array(before)), Value::Array(after)) = (o.get(k), v) else {
            continue;
        };
        if let Some(edit) = ArrayEdit::between(before, after) {
            // Compared as encoded: the edit's `then` against the whole array.
            let (whole, edited) = (serde_json::to_string(v), serde_json::to_string(&edit));
            if let (Ok(whole), Ok(edited)) = (whole, edited) {
                if edited.len() < whole.len() {
                    edits.insert(k.clone(), edit);
                }
            }
        }
    }
    changes.retain(|k, _| !edits.contains_key(k));
    Some(Patch { changes, edits })
}

/// The patch that turns `old` into `new` (`None`: nothing changed).
pub fn diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let changes = diff_fields(o, n);
            (!changes.is_empty()).then_some(Value::Object(changes))
        }
        // `null` in a patch clears: a field that became `null` is sent as such.
        _ => (old != new).then(|| new.clone()),
    }
}

/// [`diff`] of two objects: the changed fields (empty: nothing changed).
pub fn diff_fields(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let mut changes = Map::new();
    for (k, n) in new {
        match old.get(k) {
            Some(o) => {
                if let Some(d) = diff(o, n) {
                    changes.insert(k.clone(), d);
                }
            }
            None if n.is_null() => {}
            None => {
                changes.insert(k.clone(), n.clone());
            }
        }
    }
    for (k, o) in old {
        if !o.is_null() && !new.contains_key(k) {
            changes.insert(k.clone(), Value::Null);
        }
    }
    changes
}

/// Applies a patch to a JSON value in place (RFC 7396).
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        merge_fields(t, fields);
    }
}

fn merge_fields(target: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            target.remove(k);
        } else {
            merge(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// `current` with `changes` (a patch's fields) and `edits` (of its arrays) applied. Fails
/// when the result is not a valid record (a patch meant for another version or another
/// kind of record).
pub fn apply<T: Serialize + DeserializeOwned>(
    current: &T,
    changes: &Map<String, Value>,
    edits: &BTreeMap<String, ArrayEdit>,
) -> Result<T, String> {
    let mut value = serde_json::to_value(current).map_err(|e| e.to_string())?;
    let Value::Object(fields) = &mut value else {
        return Err("only records with fields take a delta".into());
    };
    merge_fields(fields, changes);
    for (k, edit) in edits {
        let edited = match fields.get(k) {
            Some(Value::Array(old)) => edit.apply(old),
            _ => None,
        };
        let Some(new) = edited else {
            return Err(format!("the edit of {k} does not fit"));
        };
        fields.insert(k.clone(), Value::Array(new));
    }
    serde_json::from_value(value).map_err(|e| format!("the delta does not fit: {e}"))
}

/// The fields of `new` that differ from `old`, both serialised (`None`: they are not
/// records with fields, which cannot happen for the model's types).
pub fn changes<T: Serialize>(old: &T, new: &T) -> Option<Map<String, Value>> {
    match (
        serde_json::to_value(old).ok()?,
        serde_json::to_value(new).ok()?,
    ) {
        (Value::Object(o), Value::Object(n)) => Some(diff_fields(&o, &n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
