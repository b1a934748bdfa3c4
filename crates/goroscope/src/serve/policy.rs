//! When to take a full dump: the pause budget.
//!
//! A goroutine profile (debug=0) pauses the target briefly and for a fixed
//! time (Go 1.19+); a full dump (debug=2) stops the world for all of it,
//! about 1-10 us per goroutine (`shared/docs/go-runtime-formats.md` §6).
//! In `auto` mode every scrape takes a profile, and a dump is added only
//! when all of these hold:
//!
//! 1. the estimated pause — the learned cost per goroutine times the
//!    goroutine count the profile just gave — is within the pause budget;
//! 2. the last dump is at least `dump_min_interval` old (with ±10% jitter,
//!    so agents started together do not dump together), or the goroutine
//!    count jumped by `jump_factor` since the last dump;
//! 3. a draw passes `dump_probability`.
//!
//! The cost per goroutine starts at 5 us (the middle of the documented
//! range, so a target over 2,000 goroutines gets no dump before one has
//! been measured) and then follows the measured dump durations (an
//! exponentially weighted average, each dump counting for a third) minus
//! the round trip a profile of the same target took, never below 1 us
//! (the low end of the range). A dump
//! that took longer than the budget is remembered: the estimate it leaves
//! refuses the next one at that size. Every decision carries a reason,
//! exported as a metric label and logged.

use std::time::{Duration, Instant};

use super::config::{Mode, Target};

/// The prior cost of a dump per goroutine, before any was measured.
pub const PRIOR_COST_PER_GOROUTINE: Duration = Duration::from_micros(5);

/// The least cost per goroutine the policy believes, whatever was
/// measured: the low end of the documented range. A small dump can come
/// back faster than the profile it is compared with; believing "free"
/// would allow dumps of any size.
pub const MIN_COST_PER_GOROUTINE: Duration = Duration::from_micros(1);

/// Why a scrape collected what it did. Bounded: these are label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// `mode: profile`, or `auto` with no dump due.
    Scheduled,
    /// `mode: dump`.
    DumpMode,
    /// `auto`: the first dump, or the rate limit allowed the next.
    DumpDue,
    /// `auto`: the goroutine count jumped.
    CountJump,
    /// `auto`: a dump was due but its estimated pause is over the budget.
    OverBudget,
    /// `auto`: a dump was due but the sampling draw said no.
    Sampled,
    /// `auto`: the rate limit holds the next dump back.
    RateLimited,
}

impl Reason {
    /// Every reason, for documentation and bounds.
    pub const ALL: [Reason; 7] = [
        Reason::Scheduled,
        Reason::DumpMode,
        Reason::DumpDue,
        Reason::CountJump,
        Reason::OverBudget,
        Reason::Sampled,
        Reason::RateLimited,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::DumpMode => "dump_mode",
            Reason::DumpDue => "dump_due",
            Reason::CountJump => "count_jump",
            Reason::OverBudget => "over_budget",
            Reason::Sampled => "sampled_out",
            Reason::RateLimited => "rate_limited",
        }
    }
}

/// What one scrape collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Take a full dump (after the profile, in `auto`).
    pub dump: bool,
    pub reason: Reason,
    /// The pause the dump was estimated to cost.
    pub estimate: Duration,
}

/// The per-target memory of the policy.
#[derive(Debug, Clone)]
pub struct Policy {
    cost_per_goroutine: Duration,
    last_dump: Option<Instant>,
    /// Goroutines at the last dump.
    count_at_dump: u64,
    measured: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            cost_per_goroutine: PRIOR_COST_PER_GOROUTINE,
            last_dump: None,
            count_at_dump: 0,
            measured: 0,
        }
    }
}

impl Policy {
    /// The estimated stop-the-world of a dump of `goroutines`.
    pub fn estimate(&self, goroutines: u64) -> Duration {
        let nanos = self.cost_per_goroutine.as_nanos() as u64;
        Duration::from_nanos(nanos.saturating_mul(goroutines))
    }

    /// The learned cost per goroutine.
    pub fn cost_per_goroutine(&self) -> Duration {
        self.cost_per_goroutine
    }

    /// Whether a dump follows the profile that just counted `goroutines`.
    /// `jitter` and `draw` are uniform in [0, 1) (the caller's random
    /// source; tests pass fixed values).
    pub fn decide(
        &self,
        t: &Target,
        now: Instant,
        goroutines: u64,
        jitter: f64,
        draw: f64,
    ) -> Decision {
        let estimate = self.estimate(goroutines);
        let decision = |dump, reason| Decision {
            dump,
            reason,
            estimate,
        };
        match t.mode {
            Mode::Profile => return decision(false, Reason::Scheduled),
            Mode::Dump => return decision(true, Reason::DumpMode),
            Mode::Auto => {}
        }
        let jumped = self.last_dump.is_some()
            && goroutines as f64 >= self.count_at_dump.max(1) as f64 * t.jump_factor;
        // ±10% around the minimum interval.
        let min = t
            .dump_min_interval
            .mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
        let due = self
            .last_dump
            .is_none_or(|at| now.duration_since(at) >= min);
        let reason = match (due, jumped) {
            (_, true) => Reason::CountJump,
            (true, false) => Reason::DumpDue,
            (false, false) => return decision(false, Reason::RateLimited),
        };
        if estimate > t.pause_budget {
            return decision(false, Reason::OverBudget);
        }
        if draw >= t.dump_probability {
            return decision(false, Reason::Sampled);
        }
        decision(true, reason)
    }

    /// Learns from a dump of `goroutines` whose request took `took`, when a
    /// profile request of the same target took `baseline` (zero if none):
    /// the difference is the dump's own work, without the HTTP round trip
    /// both pay. An upper bound of the pause either way, which is what a
    /// budget wants.
    pub fn learned(&mut self, now: Instant, goroutines: u64, took: Duration, baseline: Duration) {
        self.last_dump = Some(now);
        self.count_at_dump = goroutines;
        let work = took.saturating_sub(baseline);
        let Some(per) = work.checked_div(goroutines.clamp(1, u64::from(u32::MAX)) as u32) else {
            return;
        };
        let per = per.max(MIN_COST_PER_GOROUTINE);
        self.cost_per_goroutine = if self.measured == 0 {
            per
        } else {
            (self.cost_per_goroutine * 2 + per) / 3
        };
        self.measured += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::{parse, OtlpSettings, Settings};

    fn target(mode: &str) -> Target {
        let text = format!("targets:\n  - url: http://a:1\n    mode: {mode}\n");
        parse(
            &text,
            "t",
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect("valid")
        .targets
        .remove(0)
    }

    #[test]
    fn fixed_modes() {
        let p = Policy::default();
        let now = Instant::now();
        assert_eq!(
            p.decide(&target("profile"), now, 10, 0.5, 0.0).reason,
            Reason::Scheduled
        );
        assert!(!p.decide(&target("profile"), now, 10, 0.5, 0.0).dump);
        assert!(p.decide(&target("dump"), now, 1_000_000, 0.5, 0.0).dump);
    }

    #[test]
    fn auto_respects_budget_rate_and_jumps() {
        let t = target("auto");
        let mut p = Policy::default();
        let t0 = Instant::now();
        // Prior 5 us/goroutine, budget 10 ms: 2,000 fit, 2,001 do not.
        let d = p.decide(&t, t0, 2_000, 0.5, 0.0);
        assert!(d.dump && d.reason == Reason::DumpDue, "{d:?}");
        assert_eq!(d.estimate, Duration::from_millis(10));
        let d = p.decide(&t, t0, 2_001, 0.5, 0.0);
        assert_eq!((d.dump, d.reason), (false, Reason::OverBudget));

        // A measured dump: 1,000 goroutines in 1 ms = 1 us each.
        p.learned(t0, 1_000, Duration::from_millis(1), Duration::ZERO);
        assert_eq!(p.cost_per_goroutine(), Duration::from_micros(1));
        // 30 s later: rate limited (min 60 s +-10%).
        let d = p.decide(&t, t0 + Duration::from_secs(30), 1_000, 0.5, 0.0);
        assert_eq!((d.dump, d.reason), (false, Reason::RateLimited));
        // Unless the count doubled: a jump, within budget (3 ms).
        let d = p.decide(&t, t0 + Duration::from_secs(30), 3_000, 0.5, 0.0);
        assert_eq!((d.dump, d.reason), (true, Reason::CountJump));
        // A jump over the budget is still refused.
        let d = p.decide(&t, t0 + Duration::from_secs(30), 20_000, 0.5, 0.0);
        assert_eq!((d.dump, d.reason), (false, Reason::OverBudget));
        // Jitter moves the limit between 54 s and 66 s.
        let at = t0 + Duration::from_secs(60);
        assert!(p.decide(&t, at, 1_000, 0.0, 0.0).dump);
        assert!(!p.decide(&t, at, 1_000, 1.0, 0.0).dump);
        // The sampling draw.
        let mut sampled = t.clone();
        sampled.dump_probability = 0.25;
        let later = t0 + Duration::from_secs(120);
        assert!(p.decide(&sampled, later, 1_000, 0.5, 0.2).dump);
        let d = p.decide(&sampled, later, 1_000, 0.5, 0.3);
        assert_eq!((d.dump, d.reason), (false, Reason::Sampled));
    }

    #[test]
    fn a_dump_never_looks_free() {
        let mut p = Policy::default();
        // Faster than the profile it is compared with.
        p.learned(
            Instant::now(),
            100,
            Duration::from_millis(1),
            Duration::from_millis(3),
        );
        assert_eq!(p.cost_per_goroutine(), MIN_COST_PER_GOROUTINE);
        assert_eq!(p.estimate(10_000), Duration::from_millis(10));
    }

    #[test]
    fn a_slow_dump_raises_the_estimate() {
        let t = target("auto");
        let mut p = Policy::default();
        let t0 = Instant::now();
        p.learned(t0, 1_000, Duration::from_millis(1), Duration::ZERO);
        // The next dump was slow (21 ms, of which 1 ms is the round trip
        // a profile pays too: 20 us each): the average moves a third.
        p.learned(
            t0,
            1_000,
            Duration::from_millis(21),
            Duration::from_millis(1),
        );
        assert_eq!(p.cost_per_goroutine(), Duration::from_nanos(7_333));
        let d = p.decide(&t, t0 + Duration::from_secs(120), 1_500, 0.5, 0.0);
        assert_eq!((d.dump, d.reason), (false, Reason::OverBudget), "{d:?}");
    }
}
