//! The callee's time zone from the number: the country code, and for the NANP (+1) the area
//! code. Where a country spans several zones and the number does not say which, every
//! candidate is returned and the window must be open in all of them (the cautious reading).
//! Zones are chrono-tz's (IANA tz data); only the mapping number -> zone is ours.

use chrono_tz::Tz;

/// Where a number rings, as far as the number tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// ISO region ("DE"), or "US-CA" style for NANP area codes we know the state of.
    pub region: String,
    /// Candidate zones; empty when the number tells nothing usable.
    pub zones: Vec<Tz>,
}

/// NANP area codes by state/province and zone. Codes not listed fall back to every zone of
/// their country (so an unlisted US code is only called when it is allowed coast to coast).
const NANP: &[(&str, Tz, &[u16])] = &[
    (
        "US-NY",
        Tz::America__New_York,
        &[
            212, 315, 347, 516, 518, 585, 607, 631, 646, 716, 718, 845, 914, 917, 929, 934,
        ],
    ),
    (
        "US-NJ",
        Tz::America__New_York,
        &[201, 551, 609, 732, 848, 856, 862, 908, 973],
    ),
    (
        "US-MA",
        Tz::America__New_York,
        &[339, 351, 413, 508, 617, 774, 781, 857, 978],
    ),
    (
        "US-PA",
        Tz::America__New_York,
        &[215, 267, 272, 412, 484, 570, 610, 717, 724, 814, 878],
    ),
    (
        "US-FL",
        Tz::America__New_York,
        &[
            239, 305, 321, 352, 386, 407, 561, 727, 754, 772, 786, 813, 863, 904, 941, 954,
        ],
    ),
    (
        "US-GA",
        Tz::America__New_York,
        &[229, 404, 470, 478, 678, 706, 762, 770, 912],
    ),
    ("US-MD", Tz::America__New_York, &[240, 301, 410, 443, 667]),
    ("US-CT", Tz::America__New_York, &[203, 475, 860, 959]),
    ("US-DC", Tz::America__New_York, &[202]),
    ("US-NH", Tz::America__New_York, &[603]),
    (
        "US-OH",
        Tz::America__New_York,
        &[216, 220, 234, 330, 380, 419, 440, 513, 567, 614, 740, 937],
    ),
    (
        "US-IL",
        Tz::America__Chicago,
        &[
            217, 224, 309, 312, 331, 618, 630, 708, 773, 779, 815, 847, 872,
        ],
    ),
    (
        "US-TX",
        Tz::America__Chicago,
        &[
            210, 214, 254, 281, 325, 346, 361, 409, 430, 432, 469, 512, 682, 713, 726, 737, 806,
            817, 830, 832, 903, 936, 940, 956, 972, 979,
        ],
    ),
    (
        "US-MN",
        Tz::America__Chicago,
        &[218, 320, 507, 612, 651, 763, 952],
    ),
    ("US-CO", Tz::America__Denver, &[303, 719, 720, 970]),
    ("US-UT", Tz::America__Denver, &[385, 435, 801]),
    ("US-MT", Tz::America__Denver, &[406]),
    ("US-AZ", Tz::America__Phoenix, &[480, 520, 602, 623, 928]),
    (
        "US-CA",
        Tz::America__Los_Angeles,
        &[
            209, 213, 279, 310, 323, 341, 408, 415, 424, 442, 510, 530, 559, 562, 619, 626, 628,
            650, 657, 661, 669, 707, 714, 747, 760, 805, 818, 820, 831, 858, 909, 916, 925, 949,
            951,
        ],
    ),
    (
        "US-WA",
        Tz::America__Los_Angeles,
        &[206, 253, 360, 425, 509, 564],
    ),
    ("US-OR", Tz::America__Los_Angeles, &[458, 503, 541, 971]),
    ("US-NV", Tz::America__Los_Angeles, &[702, 725, 775]),
    ("US-AK", Tz::America__Anchorage, &[907]),
    ("US-HI", Tz::Pacific__Honolulu, &[808]),
    (
        "CA-ON",
        Tz::America__Toronto,
        &[
            226, 249, 289, 343, 365, 416, 437, 519, 548, 613, 647, 705, 807, 905,
        ],
    ),
    (
        "CA-QC",
        Tz::America__Toronto,
        &[367, 418, 438, 450, 514, 579, 581, 819, 873],
    ),
    ("CA-BC", Tz::America__Vancouver, &[236, 250, 604, 672, 778]),
    ("CA-AB", Tz::America__Edmonton, &[368, 403, 587, 780, 825]),
];

/// Zones of the contiguous US plus Alaska and Hawaii, for US codes not in [`NANP`].
const US_ZONES: &[Tz] = &[
    Tz::America__New_York,
    Tz::America__Chicago,
    Tz::America__Denver,
    Tz::America__Phoenix,
    Tz::America__Los_Angeles,
    Tz::America__Anchorage,
    Tz::Pacific__Honolulu,
];

/// Countries by ISO code: every zone a number of it may ring in.
const COUNTRIES: &[(&str, &[Tz])] = &[
    (
        "CA",
        &[
            Tz::America__St_Johns,
            Tz::America__Halifax,
            Tz::America__Toronto,
            Tz::America__Winnipeg,
            Tz::America__Edmonton,
            Tz::America__Vancouver,
        ],
    ),
    ("GB", &[Tz::Europe__London]),
    ("IE", &[Tz::Europe__Dublin]),
    ("DE", &[Tz::Europe__Berlin]),
    ("FR", &[Tz::Europe__Paris]),
    ("ES", &[Tz::Europe__Madrid, Tz::Atlantic__Canary]),
    ("PT", &[Tz::Europe__Lisbon, Tz::Atlantic__Azores]),
    ("IT", &[Tz::Europe__Rome]),
    ("NL", &[Tz::Europe__Amsterdam]),
    ("BE", &[Tz::Europe__Brussels]),
    ("CH", &[Tz::Europe__Zurich]),
    ("AT", &[Tz::Europe__Vienna]),
    ("DK", &[Tz::Europe__Copenhagen]),
    ("SE", &[Tz::Europe__Stockholm]),
    ("NO", &[Tz::Europe__Oslo]),
    ("FI", &[Tz::Europe__Helsinki]),
    ("PL", &[Tz::Europe__Warsaw]),
    ("GR", &[Tz::Europe__Athens]),
    ("IL", &[Tz::Asia__Jerusalem]),
    ("AE", &[Tz::Asia__Dubai]),
    ("IN", &[Tz::Asia__Kolkata]),
    ("SG", &[Tz::Asia__Singapore]),
    ("HK", &[Tz::Asia__Hong_Kong]),
    ("CN", &[Tz::Asia__Shanghai]),
    ("JP", &[Tz::Asia__Tokyo]),
    ("KR", &[Tz::Asia__Seoul]),
    ("PH", &[Tz::Asia__Manila]),
    (
        "AU",
        &[
            Tz::Australia__Sydney,
            Tz::Australia__Brisbane,
            Tz::Australia__Adelaide,
            Tz::Australia__Darwin,
            Tz::Australia__Perth,
        ],
    ),
    ("NZ", &[Tz::Pacific__Auckland]),
    ("ZA", &[Tz::Africa__Johannesburg]),
    ("NG", &[Tz::Africa__Lagos]),
    (
        "BR",
        &[
            Tz::America__Sao_Paulo,
            Tz::America__Manaus,
            Tz::America__Rio_Branco,
        ],
    ),
    (
        "MX",
        &[
            Tz::America__Mexico_City,
            Tz::America__Cancun,
            Tz::America__Tijuana,
        ],
    ),
    ("AR", &[Tz::America__Argentina__Buenos_Aires]),
];

/// Where the E.164 number `e164` rings. A number the crate cannot place gives an empty
/// zone list: the caller decides (an explicit override, or refusing to guess).
pub fn locate(e164: &str) -> Location {
    let Ok(parsed) = phonenumber::parse(None, e164) else {
        return Location {
            region: String::new(),
            zones: Vec::new(),
        };
    };
    if parsed.code().value() == 1 {
        let national = parsed.national().value().to_string();
        if let Some(area) = national.get(..3).and_then(|a| a.parse::<u16>().ok()) {
            if let Some((region, tz, _)) = NANP.iter().find(|(_, _, codes)| codes.contains(&area)) {
                return Location {
                    region: (*region).to_string(),
                    zones: vec![*tz],
                };
            }
        }
    }
    let region = parsed
        .country()
        .id()
        .map(|id| format!("{id:?}"))
        .unwrap_or_else(|| {
            if parsed.code().value() == 1 {
                "US".into()
            } else {
                String::new()
            }
        });
    let zones = if region == "US" {
        US_ZONES.to_vec()
    } else {
        COUNTRIES
            .iter()
            .find(|(c, _)| *c == region)
            .map(|(_, z)| z.to_vec())
            .unwrap_or_default()
    };
    Location { region, zones }
}

/// An IANA zone name ("Europe/Berlin") given by hand, e.g. a queue item's `timeZone`.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        let de = locate("+49301234567");
        assert_eq!(
            (de.region.as_str(), de.zones),
            ("DE", vec![Tz::Europe__Berlin])
        );
        let gb = locate("+442079460958");
        assert_eq!(
            (gb.region.as_str(), gb.zones),
            ("GB", vec![Tz::Europe__London])
        );
        let jp = locate("+81312345678");
        assert_eq!(jp.zones, vec![Tz::Asia__Tokyo]);
        // Several zones, nothing in the number to choose: all of them.
        assert_eq!(locate("+61212345678").zones.len(), 5);
    }

    #[test]
    fn nanp_area_codes() {
        let sf = locate("+14155550100");
        assert_eq!(
            (sf.region.as_str(), sf.zones),
            ("US-CA", vec![Tz::America__Los_Angeles])
        );
        let ny = locate("+12125550100");
        assert_eq!(
            (ny.region.as_str(), ny.zones),
            ("US-NY", vec![Tz::America__New_York])
        );
        assert_eq!(locate("+13125550100").zones, vec![Tz::America__Chicago]);
        assert_eq!(locate("+16045550100").zones, vec![Tz::America__Vancouver]);
        assert_eq!(locate("+18085550100").zones, vec![Tz::Pacific__Honolulu]);
    }

    #[test]
    fn unknown_places_and_overrides() {
        assert!(locate("not a number").zones.is_empty());
        assert_eq!(parse_zone("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(
            parse_zone(" America/New_York "),
            Some(Tz::America__New_York)
        );
        assert_eq!(parse_zone("Mars/Olympus"), None);
    }
}
