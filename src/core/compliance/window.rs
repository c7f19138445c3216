//! Calling windows: allowed local hours and days, evaluated in the callee's zone(s), and the
//! next allowed instant when a call is due outside them. DST gaps and repeats are resolved
//! by the tz data (a start time that does not exist that day means the first minute that
//! does).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Allowed local hours [start, end) on the listed days, e.g. 09:00-20:00 Mon-Sat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct CallingWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub days: Vec<Weekday>,
}

/// The config form: `{ start = "09:00", end = "20:00", days = ["mon", ...] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub start: String,
    pub end: String,
    #[serde(default = "all_days")]
    pub days: Vec<String>,
}

fn all_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(String::from)
        .to_vec()
}

impl TryFrom<WindowSpec> for CallingWindow {
    type Error = String;
    fn try_from(s: WindowSpec) -> Result<Self, String> {
        let time = |v: &str| {
            NaiveTime::parse_from_str(v.trim(), "%H:%M")
                .map_err(|_| format!("{v:?} is not a time of day such as \"09:00\""))
        };
        let (start, end) = (time(&s.start)?, time(&s.end)?);
        if start >= end {
            return Err(format!(
                "calling hours must start before they end ({} - {})",
                s.start, s.end
            ));
        }
        let mut days = Vec::new();
        for d in &s.days {
            let day = d
                .trim()
                .parse::<Weekday>()
                .map_err(|_| format!("{d:?} is not a day such as \"mon\""))?;
            if !days.contains(&day) {
                days.push(day);
            }
        }
        if days.is_empty() {
            return Err("calling hours need at least one day".into());
        }
        Ok(CallingWindow { start, end, days })
    }
}

impl From<CallingWindow> for WindowSpec {
    fn from(w: CallingWindow) -> Self {
        WindowSpec {
            start: w.start.format("%H:%M").to_string(),
            end: w.end.format("%H:%M").to_string(),
            days: w
                .days
                .iter()
                .map(|d| d.to_string().to_ascii_lowercase())
                .collect(),
        }
    }
}

impl CallingWindow {
    /// "09:00-20:00 Mon,Tue,..." for reasons shown to people.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        format!(
            "{}-{} {}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M"),
            days.join(",")
        )
    }

    pub fn is_open(&self, zone: Tz, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&zone);
        let time = local.time();
        self.days.contains(&local.weekday()) && self.start <= time && time < self.end
    }

    /// The first instant >= `t` at which the window is open in `zone`.
    pub fn next_open_in(&self, zone: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(zone, t) {
            return Some(t);
        }
        let today = t.with_timezone(&zone).date_naive();
        (0..=8)
            .filter_map(|n| today.checked_add_signed(Duration::days(n)))
            .filter(|d| self.days.contains(&d.weekday()))
            .filter_map(|d| self.opening(zone, d))
            .find(|open| *open > t)
    }

    /// When the window opens on local date `day`: its start, or the first minute after it
    /// that exists (a spring-forward gap), or the earlier of a repeated hour.
    fn opening(&self, zone: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
        let mut local = day.and_time(self.start);
        let end = day.and_time(self.end);
        while local < end {
            match zone.from_local_datetime(&local) {
                LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => return Some(a.min(b).with_timezone(&Utc)),
                LocalResult::None => local += Duration::minutes(1),
            }
        }
        None
    }

    /// The first instant >= `t` at which the window is open in every zone of `zones`, or
    /// `None` when their windows never overlap within a week.
    pub fn next_open(&self, zones: &[Tz], t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut at = t;
        // Each round moves to the next opening of a closed zone; overlapping windows settle
        // in a few rounds, disjoint ones run past a week and give up.
        for _ in 0..64 {
            let mut moved = false;
            for zone in zones {
                let next = self.next_open_in(*zone, at)?;
                if next > at {
                    at = next;
                    moved = true;
                }
            }
            if !moved {
                return Some(at);
            }
            if at - t > Duration::days(8) {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz::{
        America__Los_Angeles as LA, America__New_York as NY, Europe__Berlin as BERLIN,
    };

    fn window(start: &str, end: &str, days: &[&str]) -> CallingWindow {
        CallingWindow::try_from(WindowSpec {
            start: start.into(),
            end: end.into(),
            days: days.iter().map(|d| d.to_string()).collect(),
        })
        .expect("valid window")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn open_inside_closed_outside() {
        let w = window("09:00", "21:00", &["mon", "tue", "wed", "thu", "fri"]);
        // Tue 2026-11-17 15:00 UTC = 10:00 New York, 07:00 Los Angeles.
        assert!(w.is_open(NY, utc("2026-11-17T15:00:00Z")));
        assert!(!w.is_open(LA, utc("2026-11-17T15:00:00Z")));
        assert_eq!(
            w.next_open_in(NY, utc("2026-11-17T15:00:00Z")),
            Some(utc("2026-11-17T15:00:00Z"))
        );
        assert_eq!(
            w.next_open_in(LA, utc("2026-11-17T15:00:00Z")),
            Some(utc("2026-11-17T17:00:00Z"))
        );
        // The end is exclusive: 21:00 sharp is closed.
        assert!(!w.is_open(NY, utc("2026-11-18T02:00:00Z")));
    }

    #[test]
    fn across_midnight_and_the_weekend() {
        let w = window("09:00", "21:00", &["mon", "tue", "wed", "thu", "fri"]);
        // Fri 2026-11-20 23:30 in New York (Sat 04:30 UTC) -> Mon 09:00 EST.
        assert_eq!(
            w.next_open_in(NY, utc("2026-11-21T04:30:00Z")),
            Some(utc("2026-11-23T14:00:00Z"))
        );
        // 00:10 local on a Tuesday -> 09:00 the same local day.
        assert_eq!(
            w.next_open_in(NY, utc("2026-11-17T05:10:00Z")),
            Some(utc("2026-11-17T14:00:00Z"))
        );
    }

    #[test]
    fn across_dst_changes() {
        let w = window(
            "09:00",
            "20:00",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        );
        // New York springs forward on 2026-03-08: 09:00 that day is EDT (13:00 UTC), the
        // day before EST (14:00 UTC).
        assert_eq!(
            w.next_open_in(NY, utc("2026-03-07T02:00:00Z")),
            Some(utc("2026-03-07T14:00:00Z"))
        );
        assert_eq!(
            w.next_open_in(NY, utc("2026-03-08T02:00:00Z")),
            Some(utc("2026-03-08T13:00:00Z"))
        );
        // Falls back on 2026-11-01: 09:00 is EST again (14:00 UTC).
        assert_eq!(
            w.next_open_in(NY, utc("2026-11-01T03:00:00Z")),
            Some(utc("2026-11-01T14:00:00Z"))
        );
        // Berlin springs forward on 2026-03-29: 09:00 CEST = 07:00 UTC.
        assert_eq!(
            w.next_open_in(BERLIN, utc("2026-03-28T22:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z"))
        );
        // 19:30 EDT on the Saturday before fall-back = 23:30 UTC: open.
        assert!(w.is_open(NY, utc("2026-10-31T23:30:00Z")));
    }

    #[test]
    fn a_start_inside_the_spring_forward_gap_opens_at_the_first_real_minute() {
        let w = window("02:30", "05:00", &["sun"]);
        // 02:30 does not exist in New York on 2026-03-08; 03:00 EDT (07:00 UTC) does.
        assert_eq!(
            w.next_open_in(NY, utc("2026-03-08T05:00:00Z")),
            Some(utc("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn every_zone_must_be_open() {
        let w = window("09:00", "20:00", &["mon", "tue", "wed", "thu", "fri"]);
        // 09:00 New York is 06:00 in Los Angeles: both are open from 09:00 LA (17:00 UTC).
        assert_eq!(
            w.next_open(&[NY, LA], utc("2026-11-17T14:00:00Z")),
            Some(utc("2026-11-17T17:00:00Z"))
        );
        // A one-hour window never overlaps across three hours.
        let short = window("09:00", "10:00", &["mon"]);
        assert_eq!(
            short.next_open(&[NY, LA], utc("2026-11-17T14:00:00Z")),
            None
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        let bad = |s: &str, e: &str, d: &[&str]| {
            CallingWindow::try_from(WindowSpec {
                start: s.into(),
                end: e.into(),
                days: d.iter().map(|x| x.to_string()).collect(),
            })
            .is_err()
        };
        assert!(bad("21:00", "09:00", &["mon"]));
        assert!(bad("9am", "17:00", &["mon"]));
        assert!(bad("09:00", "17:00", &["someday"]));
        assert!(bad("09:00", "17:00", &[]));
    }
}
