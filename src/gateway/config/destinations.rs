//! `[[gateway.destinations]]`: the places an org's calls can be transferred to by name
//! ("Sales desk"), numbers or SIP URIs; and the check on people's own phones.

use serde::{Deserialize, Serialize};

use crate::core::action::valid_destination;
use crate::core::protocol::Destination;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub org: String,
    /// What supervisors pick in the transfer dialog; unique within the org.
    pub name: String,
    /// E.164 (`+15550001111`) or a SIP URI (`sip:desk@pbx.example.com`).
    pub to: String,
}

/// Refuses a destination list with a bad address or a name used twice in an org.
pub fn validate(list: &[DestinationConfig]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for d in list {
        let at = format!("[[gateway.destinations]] {:?}", d.name);
        anyhow::ensure!(!d.name.trim().is_empty(), "{at}: name must not be empty");
        anyhow::ensure!(!d.org.trim().is_empty(), "{at}: org must not be empty");
        anyhow::ensure!(
            valid_destination(&d.to),
            "{at}: to {:?} must be an E.164 number such as +15550001111 or a sip: URI",
            d.to
        );
        anyhow::ensure!(
            seen.insert((d.org.as_str(), d.name.to_lowercase())),
            "{at}: the name is used twice in org {:?}",
            d.org
        );
    }
    Ok(())
}

/// The org's destinations, in config order.
pub fn for_org(list: &[DestinationConfig], org: &str) -> Vec<Destination> {
    list.iter()
        .filter(|d| d.org == org)
        .map(|d| Destination {
            name: d.name.clone(),
            to: d.to.trim().to_string(),
        })
        .collect()
}

/// The org's destination called `name` (case-insensitive).
pub fn find(list: &[DestinationConfig], org: &str, name: &str) -> Option<Destination> {
    let name = name.trim();
    for_org(list, org)
        .into_iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(org: &str, name: &str, to: &str) -> DestinationConfig {
        DestinationConfig {
            org: org.into(),
            name: name.into(),
            to: to.into(),
        }
    }

    #[test]
    fn names_are_per_org_and_addresses_checked() {
        let list = vec![
            d("acme", "Sales desk", "+15550002222"),
            d("acme", "Billing", "sip:billing@pbx.example.com"),
            d("globex", "Sales desk", "+15550003333"),
        ];
        validate(&list).unwrap();
        assert_eq!(
            find(&list, "acme", "sales DESK").unwrap().to,
            "+15550002222"
        );
        assert_eq!(find(&list, "globex", "Billing"), None);
        assert_eq!(for_org(&list, "acme").len(), 2);
        let dup = vec![
            d("acme", "A", "+15550002222"),
            d("acme", "a", "+15550002223"),
        ];
        assert!(validate(&dup).unwrap_err().to_string().contains("twice"));
        let bad = vec![d("acme", "A", "555-0100")];
        assert!(validate(&bad).unwrap_err().to_string().contains("E.164"));
    }
}
