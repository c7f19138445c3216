//! Changes between two versions of a record (a call, the analytics) as a JSON merge patch
//! (RFC 7396): the gateway computes them for stream clients that asked for deltas
//! (docs/PROTOCOL.md, "Deltas"), clients apply them to the version they hold.
//!
//! A patch is an object of the fields that changed, each with its new value; an object
//! value is itself a patch of that field's fields; `null` clears a field (absent and `null`
//! read the same for the optional fields of the model); anything else (arrays, numbers,
//! strings) replaces the field's value whole.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

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

/// `current` with `changes` (a patch's fields) applied. Fails when the result is not a valid
/// record (a patch meant for another version or another kind of record).
pub fn apply<T: Serialize + DeserializeOwned>(
    current: &T,
    changes: &Map<String, Value>,
) -> Result<T, String> {
    let mut value = serde_json::to_value(current).map_err(|e| e.to_string())?;
    let Value::Object(fields) = &mut value else {
        return Err("only records with fields take a delta".into());
    };
    merge_fields(fields, changes);
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
