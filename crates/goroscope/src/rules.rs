//! `goroscope rules`: the Prometheus alerting and recording rules for the
//! agent's metrics, with every threshold a named setting.
//!
//! The files under `deploy/prometheus/` are this module's output with the
//! defaults (a test keeps them equal), so a threshold is overridden with
//! `goroscope rules --set NAME=VALUE` rather than by editing YAML by hand,
//! and the promtool unit tests of the shipped files test this generator.
//!
//! Every alert aggregates `without` the agent's own labels rather than `by`
//! a fixed list: whatever identifies a target where it is scraped (`job`,
//! `instance`, `target`, a target's extra labels) stays on the alert.

use std::fmt::Write as _;

/// What a setting's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A non-negative decimal number.
    Number,
    /// A Prometheus duration (`30s`, `5m`, `1h`).
    Duration,
    /// A label-value regular expression (RE2, fully anchored by
    /// Prometheus); no `"` or `\` so it can sit in a quoted matcher.
    Regex,
    /// A label matcher list, as inside `{...}`.
    Selector,
}

/// One overridable threshold.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    kind: Kind,
    pub help: &'static str,
}

const fn setting(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        kind,
        help,
    }
}

/// Every setting, in the order `--help` and README list them.
pub const SETTINGS: &[Setting] = &[
    setting("pileup_goroutines", "10000", Kind::Number,
        "GoroscopeGoroutinePileup: goroutines of one target above this..."),
    setting("pileup_growth_per_minute", "10", Kind::Number,
        "...and growing faster than this many a minute (linear fit over pileup_window)..."),
    setting("pileup_window", "15m", Kind::Duration, "...measured over this window..."),
    setting("pileup_for", "10m", Kind::Duration, "...for this long."),
    setting("blocked_quantile", "0.99", Kind::Number,
        "GoroscopeGoroutinesBlockedTooLong: this quantile of the wait-time histogram..."),
    setting("blocked_seconds", "300", Kind::Number, "...above this many seconds..."),
    setting("blocked_classes", "mutex|rwmutex|semaphore|chan_send|waitgroup", Kind::Regex,
        "...in these block classes (idle waits such as chan_receive of a worker pool are normal)..."),
    setting("blocked_window", "15m", Kind::Duration, "...over dumps in this window..."),
    setting("blocked_for", "10m", Kind::Duration, "...for this long."),
    setting("leak_min_score", "0.5", Kind::Number,
        "GoroscopeLeakSuspect: a signature the agent flags with at least this score (0-1)..."),
    setting("leak_for", "10m", Kind::Duration, "...for this long."),
    setting("leak_proven_for", "0m", Kind::Duration,
        "GoroscopeLeakProven: goroutines in the goroutineleak profile for this long."),
    setting("unbounded_growth_per_minute", "5", Kind::Number,
        "GoroscopeSignatureGrowingWithoutBound: a top-K signature growing faster than this many a minute..."),
    setting("unbounded_min_goroutines", "100", Kind::Number, "...holding at least this many goroutines..."),
    setting("unbounded_window", "30m", Kind::Duration, "...measured over this window..."),
    setting("unbounded_for", "30m", Kind::Duration, "...for this long."),
    setting("target_down_for", "5m", Kind::Duration,
        "GoroscopeTargetDown: the agent cannot collect a target for this long."),
    setting("scrape_errors", "5", Kind::Number,
        "GoroscopeScrapeErrors: more failed collections of one kind than this..."),
    setting("scrape_errors_window", "15m", Kind::Duration, "...in this window."),
    setting("agent_selector", "job=\"goroscope\"", Kind::Selector,
        "GoroscopeAgentDown: the agent's own scrape (`up{...}`), selected by these matchers..."),
    setting("agent_down_for", "5m", Kind::Duration, "...down for this long."),
    setting("pause_window", "15m", Kind::Duration,
        "GoroscopeDumpPauseOverBudget: dumps taken in this window while their estimated pause exceeds the budget."),
    setting("over_budget_for", "1h", Kind::Duration,
        "GoroscopeDumpsSkippedOverBudget: dumps refused for the budget throughout this long."),
];

/// Settings with values; built from the defaults and `--set`s.
#[derive(Debug, Clone)]
pub struct Values(Vec<(&'static str, String)>);

impl Default for Values {
    fn default() -> Self {
        Values(
            SETTINGS
                .iter()
                .map(|s| (s.name, s.default.to_string()))
                .collect(),
        )
    }
}

impl Values {
    /// Applies one `NAME=VALUE`, checking the value's form.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (name, value) = assignment.split_once('=').ok_or_else(|| {
            format!("--set {assignment}: expected NAME=VALUE (see `goroscope rules --list`)")
        })?;
        let (name, value) = (name.trim(), value.trim());
        let s = SETTINGS.iter().find(|s| s.name == name).ok_or_else(|| {
            format!("--set {assignment}: no setting {name:?} (see `goroscope rules --list`)")
        })?;
        check(s.kind, value).map_err(|why| format!("--set {assignment}: {why}"))?;
        if let Some(slot) = self.0.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value.to_string();
        }
        Ok(())
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

fn check(kind: Kind, v: &str) -> Result<(), String> {
    match kind {
        Kind::Number => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 && !v.starts_with('+') => Ok(()),
            _ => Err(format!("{v:?} is not a non-negative number")),
        },
        Kind::Duration => {
            // Prometheus durations: one or more number+unit pairs.
            let mut rest = v;
            let mut ok = !v.is_empty();
            while !rest.is_empty() && ok {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let unit = ["ms", "y", "w", "d", "h", "m", "s"]
                    .into_iter()
                    .find(|u| rest[digits..].starts_with(u));
                match unit {
                    Some(u) if digits > 0 => rest = &rest[digits + u.len()..],
                    _ => ok = false,
                }
            }
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{v:?} is not a Prometheus duration such as 30s, 5m or 1h30m"
                ))
            }
        }
        Kind::Regex | Kind::Selector if v.contains('\n') => Err("no line breaks".into()),
        Kind::Regex if v.contains('"') || v.contains('\\') => {
            Err("a block-class regex needs no quotes or backslashes".into())
        }
        Kind::Regex | Kind::Selector if v.is_empty() => Err("empty".into()),
        Kind::Regex | Kind::Selector => Ok(()),
    }
}

/// Which rules to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Alerts,
    Recording,
}

/// The alerting rules, placeholders `%name%` filled from [`Values`].
const ALERTS: &str = r#"groups:
  - name: goroscope-alerts
    rules:
      - alert: GoroscopeGoroutinePileup
        expr: |
          sum without (state, block_class) (goroscope_goroutines) > %pileup_goroutines%
          and
          deriv(sum without (state, block_class) (goroscope_goroutines)[%pileup_window%:1m]) * 60 > %pileup_growth_per_minute%
        for: %pileup_for%
        labels:
          severity: critical
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: {{ $value }} goroutines and growing'
          description: >-
            Target {{ $labels.target }} (instance {{ $labels.instance }}) holds {{ $value }} goroutines,
            above %pileup_goroutines%, and gained more than %pileup_growth_per_minute% a minute over the last %pileup_window%.
            {{ with printf "topk(1, goroscope_group_goroutines{instance=%q, target=%q, signature!=\"other\"})" $labels.instance $labels.target | query }}{{ with . | first }}Largest stack signature: {{ .Labels.signature }} ({{ .Labels.top_function }}, block class {{ .Labels.block_class }}) with {{ .Value }} goroutines.{{ end }}{{ end }}
            Look at the agent's /api/v1/targets/{{ $labels.target }}/snapshot.
      - alert: GoroscopeGoroutinesBlockedTooLong
        expr: |
          histogram_quantile(%blocked_quantile%, rate(goroscope_goroutine_wait_seconds_bucket{block_class=~"%blocked_classes%"}[%blocked_window%])) > %blocked_seconds%
        for: %blocked_for%
        labels:
          severity: warning
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: goroutines blocked in {{ $labels.block_class }} for {{ $value | humanizeDuration }} (q%blocked_quantile%)'
          description: >-
            On target {{ $labels.target }} (instance {{ $labels.instance }}) the %blocked_quantile% quantile of how long
            goroutines blocked in {{ $labels.block_class }} had waited, over dumps in the last %blocked_window%,
            is {{ $value | humanizeDuration }} (threshold %blocked_seconds%s).
            {{ with printf "topk(1, goroscope_group_goroutines{instance=%q, target=%q, block_class=%q})" $labels.instance $labels.target $labels.block_class | query }}{{ with . | first }}Largest stack signature in that class: {{ .Labels.signature }} ({{ .Labels.top_function }}) with {{ .Value }} goroutines.{{ end }}{{ end }}
      - alert: GoroscopeLeakSuspect
        expr: |
          goroscope_leak_suspect_score >= %leak_min_score%
        for: %leak_for%
        labels:
          severity: warning
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: goroutines leaking in {{ $labels.top_function }}'
          description: >-
            On target {{ $labels.target }} (instance {{ $labels.instance }}) the goroutines of stack signature
            {{ $labels.signature }} ({{ $labels.top_function }}, blocked in {{ $labels.block_class }}) keep growing
            and do not drain: leak score {{ $value }}.
            {{ with printf "goroscope_leak_suspect_growth_per_minute{instance=%q, target=%q, signature=%q}" $labels.instance $labels.target $labels.signature | query }}{{ with . | first }}Growth: {{ .Value | printf "%.1f" }} goroutines a minute.{{ end }}{{ end }}
            The agent explains it at /api/v1/targets/{{ $labels.target }}/leaks.
      - alert: GoroscopeLeakProven
        expr: |
          goroscope_leak_profile_goroutines > 0
        for: %leak_proven_for%
        labels:
          severity: warning
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: {{ $value }} goroutines proven leaked'
          description: >-
            Go's goroutineleak profile of target {{ $labels.target }} (instance {{ $labels.instance }})
            lists {{ $value }} goroutines that can never be woken: the garbage collector found them blocked on
            objects nothing else can reach. Read them with
            goroscope analyze --mode leak on the target's pprof address.
      - alert: GoroscopeSignatureGrowingWithoutBound
        expr: |
          goroscope_group_goroutines{signature!="other"} >= %unbounded_min_goroutines%
          and
          deriv(goroscope_group_goroutines{signature!="other"}[%unbounded_window%]) * 60 > %unbounded_growth_per_minute%
        for: %unbounded_for%
        labels:
          severity: warning
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: {{ $labels.top_function }} keeps growing'
          description: >-
            On target {{ $labels.target }} (instance {{ $labels.instance }}) stack signature {{ $labels.signature }}
            ({{ $labels.top_function }}, block class {{ $labels.block_class }}) holds {{ $value }} goroutines and has
            grown by more than %unbounded_growth_per_minute% a minute for %unbounded_for%.
      - alert: GoroscopeTargetDown
        expr: |
          goroscope_target_up == 0
        for: %target_down_for%
        labels:
          severity: warning
        annotations:
          summary: 'goroscope cannot collect {{ $labels.target }} (agent {{ $labels.instance }})'
          description: >-
            The agent at {{ $labels.instance }} has failed to collect target {{ $labels.target }} for %target_down_for%.
            {{ with printf "topk(1, increase(goroscope_scrape_errors_total{instance=%q, target=%q}[%target_down_for%]))" $labels.instance $labels.target | query }}{{ with . | first }}Most frequent error kind: {{ .Labels.kind }}.{{ end }}{{ end }}
            The agent's /api/v1/targets shows the last error.
      - alert: GoroscopeScrapeErrors
        expr: |
          increase(goroscope_scrape_errors_total[%scrape_errors_window%]) > %scrape_errors%
        labels:
          severity: warning
        annotations:
          summary: 'goroscope: {{ $labels.kind }} errors collecting {{ $labels.target }} (agent {{ $labels.instance }})'
          description: >-
            The agent at {{ $labels.instance }} failed {{ $value | printf "%.0f" }} collections of target {{ $labels.target }}
            with {{ $labels.kind }} errors in %scrape_errors_window% (threshold %scrape_errors%). The agent's /api/v1/targets shows the last error.
      - alert: GoroscopeAgentDown
        expr: |
          up{%agent_selector%} == 0
        for: %agent_down_for%
        labels:
          severity: warning
        annotations:
          summary: 'goroscope agent {{ $labels.instance }} is down'
          description: >-
            Prometheus has not scraped the goroscope agent at {{ $labels.instance }} (job {{ $labels.job }})
            for %agent_down_for%: no goroutine metrics or leak alerts come from its targets meanwhile.
      - alert: GoroscopeDumpPauseOverBudget
        expr: |
          goroscope_dump_pause_estimate_seconds > goroscope_pause_budget_seconds
          and
          sum without (mode, reason) (increase(goroscope_collections_total{mode="dump"}[%pause_window%])) > 0
        labels:
          severity: warning
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: full dumps stop it for about {{ $value | humanizeDuration }}, over its pause budget'
          description: >-
            Full goroutine dumps of target {{ $labels.target }} (agent {{ $labels.instance }}) were taken in the
            last %pause_window% although each stops the Go program for about {{ $value | humanizeDuration }}
            (the agent's estimate from measured dumps), more than the target's pause_budget.
            With mode dump, switch to auto or profile; with mode auto this follows a jump in goroutines.
      - alert: GoroscopeDumpsSkippedOverBudget
        expr: |
          sum without (mode) (increase(goroscope_collections_total{reason="over_budget"}[%over_budget_for%])) > 0
          unless ignoring (reason)
          sum without (mode, reason) (increase(goroscope_collections_total{reason=~"dump_due|count_jump|dump_mode"}[%over_budget_for%])) > 0
        labels:
          severity: info
        annotations:
          summary: '{{ $labels.target }} on {{ $labels.instance }}: too large to dump within its pause budget'
          description: >-
            For %over_budget_for% every full dump of target {{ $labels.target }} (agent {{ $labels.instance }}) was
            refused because its estimated pause exceeds pause_budget: block classes come from profiles only
            (inferred from frames, no wait times). Raise pause_budget if the target can afford the pause.
"#;

/// The recording rules: per instance and block class (or state) sums, their
/// 5-minute averages and maxima, and job-level sums; what a central
/// Prometheus federates (README "Federation").
const RECORDING: &str = r#"groups:
  - name: goroscope-recording
    rules:
      - record: instance_block_class:goroscope_goroutines:sum
        expr: sum without (state) (goroscope_goroutines)
      - record: instance_state:goroscope_goroutines:sum
        expr: sum without (block_class) (goroscope_goroutines)
      - record: instance:goroscope_goroutines:sum
        expr: sum without (state, block_class) (goroscope_goroutines)
      - record: instance_block_class:goroscope_goroutines:avg_over_time_5m
        expr: avg_over_time(instance_block_class:goroscope_goroutines:sum[5m])
      - record: instance_block_class:goroscope_goroutines:max_over_time_5m
        expr: max_over_time(instance_block_class:goroscope_goroutines:sum[5m])
      - record: instance_state:goroscope_goroutines:avg_over_time_5m
        expr: avg_over_time(instance_state:goroscope_goroutines:sum[5m])
      - record: instance_state:goroscope_goroutines:max_over_time_5m
        expr: max_over_time(instance_state:goroscope_goroutines:sum[5m])
      - record: instance:goroscope_goroutines:avg_over_time_5m
        expr: avg_over_time(instance:goroscope_goroutines:sum[5m])
      - record: instance:goroscope_goroutines:max_over_time_5m
        expr: max_over_time(instance:goroscope_goroutines:sum[5m])
      - record: instance_block_class:goroscope_goroutine_wait_seconds:p99_rate5m
        expr: histogram_quantile(0.99, rate(goroscope_goroutine_wait_seconds_bucket[5m]))
      - record: instance:goroscope_leak_suspects:max_over_time_5m
        expr: max_over_time(goroscope_leak_suspects[5m])
      - record: job_block_class:goroscope_goroutines:sum
        expr: sum by (job, block_class) (instance_block_class:goroscope_goroutines:sum)
      - record: job_state:goroscope_goroutines:sum
        expr: sum by (job, state) (instance_state:goroscope_goroutines:sum)
      - record: job:goroscope_goroutines:sum
        expr: sum by (job) (instance:goroscope_goroutines:sum)
      - record: job:goroscope_leak_suspects:sum
        expr: sum by (job) (goroscope_leak_suspects)
      - record: job:goroscope_targets_up:sum
        expr: sum by (job) (goroscope_target_up)
      - record: job:goroscope_targets:count
        expr: count by (job) (goroscope_target_up)
"#;

/// The rules of `which` with `values` filled in, with a header saying how
/// they were made.
pub fn render(which: Which, values: &Values) -> String {
    let (template, what) = match which {
        Which::Alerts => (ALERTS, "alerts"),
        Which::Recording => (RECORDING, "recording"),
    };
    let mut out = String::new();
    let changed: Vec<String> = SETTINGS
        .iter()
        .filter(|s| values.get(s.name) != s.default)
        .map(|s| format!("{}={}", s.name, values.get(s.name)))
        .collect();
    let _ = writeln!(
        out,
        "# goroscope {what} rules for Prometheus. Made by `goroscope rules {what}{}`;",
        changed
            .iter()
            .map(|c| format!(" --set '{c}'"))
            .collect::<String>()
    );
    let _ = writeln!(
        out,
        "# change a threshold with --set NAME=VALUE rather than here (`goroscope rules --list`)."
    );
    out.push_str(&fill(template, values));
    out
}

/// Replaces every `%name%` of a known setting; a `%` elsewhere (inside
/// `printf "%q"` of a template) is left alone.
fn fill(template: &str, values: &Values) -> String {
    let mut out = template.to_string();
    for s in SETTINGS {
        out = out.replace(&format!("%{}%", s.name), values.get(s.name));
    }
    out
}

/// The `--list` table: name, default, meaning.
pub fn list() -> String {
    let width = SETTINGS.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let dwidth = SETTINGS.iter().map(|s| s.default.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in SETTINGS {
        let _ = writeln!(out, "{:width$}  {:dwidth$}  {}", s.name, s.default, s.help);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_a_setting_and_every_setting_is_used() {
        for (which, t) in [(Which::Alerts, ALERTS), (Which::Recording, RECORDING)] {
            let out = fill(t, &Values::default());
            for s in SETTINGS {
                assert!(
                    !out.contains(&format!("%{}%", s.name)),
                    "{which:?}: {}",
                    s.name
                );
            }
            // What is left of `%word%` would be a misspelt placeholder.
            let leftover =
                out.split('%').skip(1).step_by(2).find(|w| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            assert_eq!(leftover, None, "{which:?}");
        }
        for s in SETTINGS {
            let needle = format!("%{}%", s.name);
            assert!(
                ALERTS.contains(&needle) || RECORDING.contains(&needle),
                "{} unused",
                s.name
            );
        }
    }

    #[test]
    fn overrides_are_checked_and_applied() {
        let mut v = Values::default();
        v.set("leak_for=2m").expect("duration");
        v.set("pileup_goroutines = 500").expect("number");
        v.set("blocked_classes=mutex|chan_send").expect("regex");
        v.set("unbounded_window=1h30m").expect("compound duration");
        let out = render(Which::Alerts, &v);
        assert!(out.contains("for: 2m"));
        assert!(out.contains("(goroscope_goroutines) > 500"));
        assert!(out.contains(r#"block_class=~"mutex|chan_send""#));
        assert!(out.contains("--set 'leak_for=2m'"));
        for bad in [
            "leak_for=2",
            "leak_for=m",
            "leak_for=5mm",
            "pileup_goroutines=-1",
            "pileup_goroutines=lots",
            "blocked_classes=a\"b",
            "nope=1",
            "leak_for",
        ] {
            let err = v.set(bad).expect_err(bad);
            assert!(err.contains(bad.split('=').next().unwrap_or(bad)), "{err}");
        }
    }
}
