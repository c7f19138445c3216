//! `--latency-report FILE`: how long a stream event waits between arriving in the console
//! and the frame that shows it being flushed to the terminal. A debugging aid for
//! benchmarks: samples are kept in memory (bounded) and summarised as JSON at exit.

use std::time::{Duration, Instant};

/// Samples beyond this are dropped (4 bytes each: at most 8 MB).
const MAX_SAMPLES: usize = 2_000_000;

#[derive(Debug, Default)]
pub struct Latency {
    /// Arrival times of events that changed the screen and wait for a frame.
    waiting: Vec<Instant>,
    /// Microseconds from arrival to flush, one per event shown.
    samples: Vec<u32>,
    frames: u64,
}

impl Latency {
    /// An event arrived that the next frame shows.
    pub fn received(&mut self, at: Instant) {
        self.waiting.push(at);
    }

    /// A frame was flushed: every waiting event is on screen now.
    pub fn flushed(&mut self, at: Instant) {
        self.frames += 1;
        for t in self.waiting.drain(..) {
            if self.samples.len() < MAX_SAMPLES {
                let us = at.saturating_duration_since(t).as_micros();
                self.samples.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
        }
    }

    /// `{"events":N,"frames":F,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..}`.
    pub fn report(&self) -> String {
        let mut s = self.samples.clone();
        s.sort_unstable();
        let ms = |us: u32| Duration::from_micros(u64::from(us)).as_secs_f64() * 1000.0;
        let pct = |p: f64| -> f64 {
            if s.is_empty() {
                return 0.0;
            }
            let i = ((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1;
            ms(s[i])
        };
        serde_json::json!({
            "events": s.len(),
            "frames": self.frames,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": s.last().map(|&m| ms(m)).unwrap_or(0.0),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_waiting_event_counts_once_at_the_next_flush() {
        let mut l = Latency::default();
        let t0 = Instant::now();
        l.received(t0);
        l.received(t0 + Duration::from_millis(2));
        l.flushed(t0 + Duration::from_millis(4));
        l.flushed(t0 + Duration::from_millis(9));
        let r: serde_json::Value = serde_json::from_str(&l.report()).unwrap();
        assert_eq!(r["events"], 2);
        assert_eq!(r["frames"], 2);
        assert_eq!(r["p50_ms"], 2.0);
        assert_eq!(r["max_ms"], 4.0);
    }
}
