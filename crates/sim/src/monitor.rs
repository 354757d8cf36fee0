//! Milestones of a fleet run, found in periodic samples of its gauges: when every charger was
//! connected and ready, the steady phase used for throughput, and each outage (connections
//! dropping, e.g. a gateway restart) with the time until all chargers were back.
//!
//! Fed with samples rather than reading clocks itself, so it works the same for one process and
//! for the sum over worker processes, and is tested with made-up times.

use serde::{Deserialize, Serialize};

use crate::stats::Progress;

/// One outage: connections fell below the fleet size after all had been ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// Seconds after the start when the drop was first seen.
    pub dropped_at_s: f64,
    /// The fewest connections seen during the outage.
    pub lowest_connected: u64,
    /// Seconds from the drop until every charger was connected again.
    pub reconnected_after_s: Option<f64>,
    /// Seconds from the drop until every charger was ready again (its first call answered).
    pub ready_after_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Milestones {
    pub all_connected_s: Option<f64>,
    pub all_ready_s: Option<f64>,
    /// Steady phase: from all ready to the end of the configured duration, with the calls answered
    /// at both ends.
    pub steady: Option<Steady>,
    pub outages: Vec<Outage>,
    pub peak_connected: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Steady {
    pub from_s: f64,
    pub to_s: f64,
    pub answered: u64,
}

impl Steady {
    pub fn per_second(&self) -> Option<f64> {
        let secs = self.to_s - self.from_s;
        (secs > 0.0).then(|| self.answered as f64 / secs)
    }
}

/// What a new sample changed, to print as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    AllConnected { at_s: f64 },
    AllReady { at_s: f64 },
    Dropped { at_s: f64, connected: u64 },
    Reconnected { after_s: f64 },
    ReadyAgain { after_s: f64 },
}

pub struct Tracker {
    fleet: u64,
    /// The configured run time; samples after it belong to the wind-down.
    duration_s: f64,
    milestones: Milestones,
    steady_start: Option<(f64, u64)>,
}

impl Tracker {
    pub fn new(fleet: u64, duration_s: f64) -> Self {
        Self {
            fleet,
            duration_s,
            milestones: Milestones::default(),
            steady_start: None,
        }
    }

    pub fn observe(&mut self, at_s: f64, p: Progress) -> Vec<Event> {
        let mut events = Vec::new();
        let m = &mut self.milestones;
        m.peak_connected = m.peak_connected.max(p.connected);
        let full = self.fleet > 0;
        if full && m.all_connected_s.is_none() && p.connected >= self.fleet {
            m.all_connected_s = Some(at_s);
            events.push(Event::AllConnected { at_s });
        }
        if full && m.all_ready_s.is_none() && p.ready >= self.fleet {
            m.all_ready_s = Some(at_s);
            self.steady_start = Some((at_s, p.answered));
            events.push(Event::AllReady { at_s });
        }
        if let Some((from_s, answered_from)) = self.steady_start
            && m.steady.is_none()
            && at_s >= self.duration_s
        {
            m.steady = Some(Steady {
                from_s,
                to_s: at_s,
                answered: p.answered.saturating_sub(answered_from),
            });
        }
        // Outages count only once all were ready, and not during the wind-down.
        if m.all_ready_s.is_none() || at_s >= self.duration_s {
            return events;
        }
        match m.outages.last_mut() {
            Some(o) if o.ready_after_s.is_none() => {
                o.lowest_connected = o.lowest_connected.min(p.connected);
                if o.reconnected_after_s.is_none() && p.connected >= self.fleet {
                    let after_s = at_s - o.dropped_at_s;
                    o.reconnected_after_s = Some(after_s);
                    events.push(Event::Reconnected { after_s });
                }
                if p.ready >= self.fleet {
                    let after_s = at_s - o.dropped_at_s;
                    o.ready_after_s = Some(after_s);
                    events.push(Event::ReadyAgain { after_s });
                }
            }
            _ if p.connected < self.fleet => {
                m.outages.push(Outage {
                    dropped_at_s: at_s,
                    lowest_connected: p.connected,
                    reconnected_after_s: None,
                    ready_after_s: None,
                });
                events.push(Event::Dropped {
                    at_s,
                    connected: p.connected,
                });
            }
            _ => {}
        }
        events
    }

    /// The run was stopped early at `at_s`: what follows is wind-down, not an outage.
    pub fn end(&mut self, at_s: f64) {
        self.duration_s = self.duration_s.min(at_s);
    }

    pub fn milestones(&self) -> &Milestones {
        &self.milestones
    }

    pub fn into_milestones(self) -> Milestones {
        self.milestones
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::AllConnected { at_s } => write!(f, "milestone all-connected at {at_s:.2} s"),
            Event::AllReady { at_s } => write!(f, "milestone all-ready at {at_s:.2} s"),
            Event::Dropped { at_s, connected } => write!(
                f,
                "milestone dropped at {at_s:.2} s ({connected} connected)"
            ),
            Event::Reconnected { after_s } => {
                write!(f, "milestone reconnected {after_s:.2} s after the drop")
            }
            Event::ReadyAgain { after_s } => {
                write!(f, "milestone ready-again {after_s:.2} s after the drop")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(connected: u64, ready: u64, answered: u64) -> Progress {
        Progress {
            connected,
            ready,
            answered,
            ..Progress::default()
        }
    }

    #[test]
    fn ramp_then_steady_phase() {
        let mut t = Tracker::new(100, 10.0);
        assert!(t.observe(0.5, p(40, 10, 10)).is_empty());
        assert_eq!(
            t.observe(1.0, p(100, 90, 190)),
            [Event::AllConnected { at_s: 1.0 }]
        );
        assert_eq!(
            t.observe(1.5, p(100, 100, 200)),
            [Event::AllReady { at_s: 1.5 }]
        );
        t.observe(9.9, p(100, 100, 5_000));
        t.observe(10.0, p(100, 100, 5_200));
        t.observe(11.0, p(0, 0, 5_300));
        let m = t.into_milestones();
        let steady = m.steady.unwrap();
        assert_eq!(
            (steady.from_s, steady.to_s, steady.answered),
            (1.5, 10.0, 5_000)
        );
        assert_eq!(steady.per_second(), Some(5_000.0 / 8.5));
        // The wind-down after the duration is not an outage.
        assert!(m.outages.is_empty());
        assert_eq!(m.peak_connected, 100);
    }

    #[test]
    fn an_outage_and_its_recovery() {
        let mut t = Tracker::new(100, 600.0);
        t.observe(1.0, p(100, 100, 100));
        assert_eq!(
            t.observe(100.0, p(30, 30, 500)),
            [Event::Dropped {
                at_s: 100.0,
                connected: 30
            }]
        );
        t.observe(101.0, p(0, 0, 500));
        assert_eq!(
            t.observe(120.0, p(100, 95, 600)),
            [Event::Reconnected { after_s: 20.0 }]
        );
        assert_eq!(
            t.observe(121.5, p(100, 100, 700)),
            [Event::ReadyAgain { after_s: 21.5 }]
        );
        // A second, small outage is tracked separately.
        t.observe(200.0, p(99, 99, 800));
        t.observe(201.0, p(100, 100, 801));
        let m = t.into_milestones();
        assert_eq!(m.outages.len(), 2);
        assert_eq!(m.outages[0].lowest_connected, 0);
        assert_eq!(m.outages[0].ready_after_s, Some(21.5));
        assert_eq!(m.outages[1].ready_after_s, Some(1.0));
    }

    #[test]
    fn an_early_stop_ends_the_steady_phase_and_is_no_outage() {
        let mut t = Tracker::new(10, 600.0);
        t.observe(1.0, p(10, 10, 10));
        t.end(30.0);
        t.observe(30.25, p(4, 4, 300));
        let m = t.into_milestones();
        assert!(m.outages.is_empty());
        assert_eq!(m.steady.unwrap().answered, 290);
    }

    #[test]
    fn drops_before_everyone_was_ready_are_not_outages() {
        let mut t = Tracker::new(10, 60.0);
        t.observe(1.0, p(8, 5, 5));
        t.observe(2.0, p(6, 5, 5));
        assert!(t.milestones().outages.is_empty());
        assert_eq!(t.milestones().all_ready_s, None);
    }
}
