//! How the street's figures are computed: what one demand contributes (its [`Fact`]), how
//! contributions add up ([`Tally`], with the minutes to accept and to complete kept as
//! histograms so that medians can be taken over any union of days), and how a time range
//! splits into whole local months, whole local days and the partial days at its ends
//! ([`Plan`]).

use std::collections::BTreeMap;

use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

use super::{
    end_of_local_day, format_ts, parse_instant,
    stats::{Figures, GroupBy},
    LOCAL_OFFSET,
};

/// A repeat demand: the same resident and category within this many days before.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

/// What is read about a demand to know what it contributes: the demand, its live (not
/// cancelled) order and who holds it, its escalations, and the resident's previous filing of
/// the same category.
#[derive(Debug, Clone)]
pub struct FactInputs {
    pub street: Uuid,
    pub community: Uuid,
    pub grid: Uuid,
    pub category: String,
    pub filed_at: String,
    pub window_end: Option<String>,
    pub dispatched_at: Option<String>,
    pub accepted_at: Option<String>,
    pub completed_at: Option<String>,
    pub rating: Option<i64>,
    /// The assignee when it is a volunteer.
    pub volunteer: Option<Uuid>,
    /// The unit owning the assigned resource.
    pub unit: Option<Uuid>,
    pub escalations: i64,
    pub previous_filing: Option<String>,
}

/// What one demand contributes to the figures of the day it was filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub street: Uuid,
    pub community: Uuid,
    pub grid: Uuid,
    pub category: String,
    pub volunteer: Option<Uuid>,
    pub unit: Option<Uuid>,
    pub filed_at: String,
    pub dispatched: bool,
    pub accepted: bool,
    pub completed: bool,
    /// Completed by the requested window's end, or by the end of the local day of filing.
    pub on_time: bool,
    pub rated: bool,
    /// Rated 4 or 5.
    pub satisfied: bool,
    /// The resident asked for the same category within the 30 days before.
    pub repeated: bool,
    pub escalations: i64,
    /// Whole minutes from the order's dispatch to its acceptance.
    pub accept_minutes: Option<i64>,
    /// Whole minutes from filing to completion.
    pub complete_minutes: Option<i64>,
}

/// Whole minutes from one stored instant to another (never negative).
fn minutes(from: &str, to: &str) -> Option<i64> {
    Some(((parse_instant(to)? - parse_instant(from)?).whole_seconds() / 60).max(0))
}

impl Fact {
    pub fn of(i: FactInputs) -> Fact {
        let deadline = i
            .window_end
            .as_deref()
            .and_then(parse_instant)
            .or_else(|| parse_instant(&i.filed_at).map(end_of_local_day));
        let done = i.completed_at.as_deref().and_then(parse_instant);
        let on_time = matches!((done, deadline), (Some(done), Some(by)) if done <= by);
        let repeated = match (&i.previous_filing, parse_instant(&i.filed_at)) {
            (Some(prev), Some(filed)) => {
                *prev >= format_ts(filed - Duration::days(REPEAT_WINDOW_DAYS))
            }
            _ => false,
        };
        Fact {
            accept_minutes: match (&i.dispatched_at, &i.accepted_at) {
                (Some(d), Some(a)) => minutes(d, a),
                _ => None,
            },
            complete_minutes: i
                .completed_at
                .as_deref()
                .and_then(|c| minutes(&i.filed_at, c)),
            street: i.street,
            community: i.community,
            grid: i.grid,
            category: i.category,
            volunteer: i.volunteer,
            unit: i.unit,
            dispatched: i.dispatched_at.is_some(),
            accepted: i.accepted_at.is_some(),
            completed: done.is_some(),
            on_time: done.is_some() && on_time,
            rated: i.rating.is_some(),
            satisfied: i.rating.is_some_and(|r| r >= 4),
            repeated,
            escalations: i.escalations,
            filed_at: i.filed_at,
        }
    }

    /// The groups the demand counts in, one per dimension it has (a demand no volunteer or
    /// unit holds is in no volunteer's or unit's group).
    pub fn groups(&self) -> Vec<(GroupBy, String)> {
        let mut out = vec![
            (GroupBy::Street, self.street.to_string()),
            (GroupBy::Community, self.community.to_string()),
            (GroupBy::Grid, self.grid.to_string()),
            (GroupBy::Category, self.category.clone()),
        ];
        if let Some(v) = self.volunteer {
            out.push((GroupBy::Volunteer, v.to_string()));
        }
        if let Some(u) = self.unit {
            out.push((GroupBy::Unit, u.to_string()));
        }
        out
    }

    /// The local day and month of filing.
    pub fn periods(&self) -> (String, String) {
        let day = parse_instant(&self.filed_at)
            .expect("stored timestamps parse")
            .to_offset(LOCAL_OFFSET)
            .date();
        (day_text(day), month_text(day))
    }
}

/// Counts of minutes: how many demands took each whole number of minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram(BTreeMap<i64, i64>);

impl Histogram {
    pub fn add(&mut self, minutes: i64, count: i64) {
        let c = self.0.entry(minutes).or_insert(0);
        *c += count;
        if *c == 0 {
            self.0.remove(&minutes);
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (m, c) in &other.0 {
            self.add(*m, *c);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The median of the values counted (the mean of the middle two when their number is
    /// even).
    pub fn median(&self) -> Option<f64> {
        let n: i64 = self.0.values().sum();
        if n <= 0 {
            return None;
        }
        // The k-th smallest value, 1-based.
        let nth = |k: i64| {
            let mut seen = 0;
            for (m, c) in &self.0 {
                seen += c;
                if seen >= k {
                    return *m as f64;
                }
            }
            unreachable!("k is at most the number of values")
        };
        Some(if n % 2 == 1 {
            nth(n / 2 + 1)
        } else {
            (nth(n / 2) + nth(n / 2 + 1)) / 2.0
        })
    }

    /// "minutes:count" pairs by minutes, space-separated.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (m, c) in &self.0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{m}:{c}"));
        }
        out
    }

    pub fn decode(text: &str) -> Option<Histogram> {
        let mut h = Histogram::default();
        for pair in text.split_ascii_whitespace() {
            let (m, c) = pair.split_once(':')?;
            h.add(m.parse().ok()?, c.parse().ok()?);
        }
        Some(h)
    }
}

/// The figures of a set of demands before rates and medians are taken; a fact counts with
/// a sign, so that a demand's change is its new fact added and its old one taken away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub received: i64,
    pub dispatched: i64,
    pub accepted: i64,
    pub completed: i64,
    pub on_time: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub repeated: i64,
    pub escalations: i64,
    pub to_accept: Histogram,
    pub to_complete: Histogram,
}

impl Tally {
    pub fn add(&mut self, f: &Fact, sign: i64) {
        self.received += sign;
        self.dispatched += sign * i64::from(f.dispatched);
        self.accepted += sign * i64::from(f.accepted);
        self.completed += sign * i64::from(f.completed);
        self.on_time += sign * i64::from(f.on_time);
        self.rated += sign * i64::from(f.rated);
        self.satisfied += sign * i64::from(f.satisfied);
        self.repeated += sign * i64::from(f.repeated);
        self.escalations += sign * f.escalations;
        if let Some(m) = f.accept_minutes {
            self.to_accept.add(m, sign);
        }
        if let Some(m) = f.complete_minutes {
            self.to_complete.add(m, sign);
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.received += o.received;
        self.dispatched += o.dispatched;
        self.accepted += o.accepted;
        self.completed += o.completed;
        self.on_time += o.on_time;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.repeated += o.repeated;
        self.escalations += o.escalations;
        self.to_accept.merge(&o.to_accept);
        self.to_complete.merge(&o.to_complete);
    }

    /// Counts nothing: what a group's row holds once its last demand has left it.
    pub fn is_zero(&self) -> bool {
        *self == Tally::default()
    }

    pub fn figures(&self, key: String, label: String) -> Figures {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        Figures {
            key,
            label,
            received: count(self.received),
            dispatched: count(self.dispatched),
            accepted: count(self.accepted),
            completed: count(self.completed),
            completion_rate: ratio(self.completed, self.received),
            on_time_rate: ratio(self.on_time, self.completed),
            rated: count(self.rated),
            satisfaction_rate: ratio(self.satisfied, self.rated),
            median_minutes_to_accept: self.to_accept.median(),
            median_minutes_to_complete: self.to_complete.median(),
            escalations: count(self.escalations),
            repeat_demands: count(self.repeated),
        }
    }
}

pub fn day_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn month_text(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

/// The instant a local day starts.
fn start_of(d: Date) -> OffsetDateTime {
    d.with_time(Time::MIDNIGHT).assume_offset(LOCAL_OFFSET)
}

/// Inclusive bounds of periods, as stored (`YYYY-MM-DD` or `YYYY-MM`).
pub type Span = (String, String);

/// How a range `[from, to)` is read: whole local months, whole local days outside them,
/// and the instants of the partial days at its ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub months: Option<Span>,
    pub days: Vec<Span>,
    /// `[from, to)` spans of instants, stored form.
    pub partial: Vec<(String, String)>,
}

impl Plan {
    pub fn of(from: OffsetDateTime, to: OffsetDateTime) -> Plan {
        let mut plan = Plan::default();
        if from >= to {
            return plan;
        }
        let local = |t: OffsetDateTime| t.to_offset(LOCAL_OFFSET);
        let first = {
            let d = local(from).date();
            if start_of(d) == from {
                d
            } else {
                d.next_day().expect("in range")
            }
        };
        // The last day that ends by `to`.
        let last = local(to).date().previous_day().expect("in range");
        if first > last {
            plan.partial.push((format_ts(from), format_ts(to)));
            return plan;
        }
        let head = start_of(first);
        if from < head {
            plan.partial.push((format_ts(from), format_ts(head)));
        }
        let tail = start_of(last.next_day().expect("in range"));
        if tail < to {
            plan.partial.push((format_ts(tail), format_ts(to)));
        }
        // Whole months: from the first month starting on or after `first` to the last month
        // ending on or before `last`.
        let month_start = if first.day() == 1 {
            first
        } else {
            next_month(first)
        };
        let after_last = last.next_day().expect("in range");
        let month_end = after_last.replace_day(1).expect("day 1 exists"); // exclusive
        if month_start < month_end {
            plan.months = Some((
                month_text(month_start),
                month_text(month_end.previous_day().expect("in range")),
            ));
            if first < month_start {
                plan.days.push((
                    day_text(first),
                    day_text(month_start.previous_day().expect("in range")),
                ));
            }
            if month_end <= last {
                plan.days.push((day_text(month_end), day_text(last)));
            }
        } else {
            plan.days.push((day_text(first), day_text(last)));
        }
        plan
    }
}

/// Where a read of a range ending at `to` may stop, asked at `now`. Nothing is filed after
/// now, so a range that reaches past it holds what the same range holds to the end of `to`'s
/// local month: read that way, this month so far is the month's one rollup row a group
/// rather than a row for each of its days and the facts of today.
pub fn read_to(to: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    if to < now {
        return to;
    }
    let day = to.to_offset(LOCAL_OFFSET).date();
    let month = start_of(day.replace_day(1).expect("day 1 exists"));
    if month == to {
        to
    } else {
        start_of(next_month(day))
    }
}

/// The first day of the month after `d`'s.
fn next_month(d: Date) -> Date {
    let first = d.replace_day(1).expect("day 1 exists");
    first
        .checked_add(Duration::days(i64::from(d.month().length(d.year()))))
        .expect("in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        parse_instant(s).unwrap()
    }

    fn span(a: &str, b: &str) -> Span {
        (a.into(), b.into())
    }

    #[test]
    fn medians_from_histograms() {
        let mut h = Histogram::default();
        assert_eq!(h.median(), None);
        for m in [3, 1, 2] {
            h.add(m, 1);
        }
        assert_eq!(h.median(), Some(2.0));
        h.add(4, 1);
        assert_eq!(h.median(), Some(2.5));
        h.add(2, 5);
        assert_eq!(h.median(), Some(2.0));
        let back = Histogram::decode(&h.encode()).unwrap();
        assert_eq!(back, h);
        h.add(2, -6);
        h.add(4, -1);
        assert_eq!(h.encode(), "1:1 3:1");
        assert_eq!(Histogram::decode("1:x"), None);
    }

    #[test]
    fn a_year_is_twelve_months() {
        // Local midnight of 1 January 2026 is 16:00 UTC the day before.
        let p = Plan::of(at("2025-12-31T16:00:00Z"), at("2026-12-31T16:00:00Z"));
        assert_eq!(p.months, Some(span("2026-01", "2026-12")));
        assert!(p.days.is_empty() && p.partial.is_empty(), "{p:?}");
    }

    #[test]
    fn ranges_split_into_months_days_and_partial_days() {
        // From 10:00 local on 3 March to 15:00 local on 2 June.
        let p = Plan::of(at("2026-03-03T02:00:00Z"), at("2026-06-02T07:00:00Z"));
        assert_eq!(p.months, Some(span("2026-04", "2026-05")));
        assert_eq!(
            p.days,
            vec![
                span("2026-03-04", "2026-03-31"),
                span("2026-06-01", "2026-06-01")
            ]
        );
        assert_eq!(
            p.partial,
            vec![
                (
                    "2026-03-03T02:00:00.000000Z".into(),
                    "2026-03-03T16:00:00.000000Z".into()
                ),
                (
                    "2026-06-01T16:00:00.000000Z".into(),
                    "2026-06-02T07:00:00.000000Z".into()
                )
            ]
        );
        // Within one day: all partial.
        let p = Plan::of(at("2026-03-03T02:00:00Z"), at("2026-03-03T05:00:00Z"));
        assert_eq!(p.partial.len(), 1);
        assert!(p.months.is_none() && p.days.is_empty());
        // Whole days inside one month.
        let p = Plan::of(at("2026-02-09T16:00:00Z"), at("2026-02-12T16:00:00Z"));
        assert_eq!(p.days, vec![span("2026-02-10", "2026-02-12")]);
        assert!(p.months.is_none() && p.partial.is_empty());
        // February whole, in a leap-free year.
        let p = Plan::of(at("2026-01-31T16:00:00Z"), at("2026-02-28T16:00:00Z"));
        assert_eq!(p.months, Some(span("2026-02", "2026-02")));
        assert!(p.days.is_empty());
        // Empty.
        assert_eq!(
            Plan::of(at("2026-01-31T16:00:00Z"), at("2026-01-31T16:00:00Z")),
            Plan::default()
        );
    }

    #[test]
    fn a_range_past_now_is_read_to_the_end_of_its_month() {
        // Now: 15:00 local on 17 June; a month so far, asked up to now or beyond.
        let now = at("2026-06-17T07:00:00Z");
        let end_of_june = at("2026-06-30T16:00:00Z");
        assert_eq!(read_to(now, now), end_of_june);
        assert_eq!(read_to(at("2026-06-20T01:00:00Z"), now), end_of_june);
        // So June, from its first, is one month's rows.
        let p = Plan::of(at("2026-05-31T16:00:00Z"), read_to(now, now));
        assert_eq!(p.months, Some(span("2026-06", "2026-06")));
        assert!(p.days.is_empty() && p.partial.is_empty(), "{p:?}");
        // A range ending before now is read as asked: its end may cut a day.
        let before = at("2026-06-17T06:59:59Z");
        assert_eq!(read_to(before, now), before);
        // One ending on a month's first (local) needs nothing more.
        assert_eq!(read_to(end_of_june, now), end_of_june);
        // Late on the last day of a month in UTC is already the next month locally.
        let late = at("2026-06-30T17:00:00Z");
        assert_eq!(read_to(late, late), at("2026-07-31T16:00:00Z"));
    }

    #[test]
    fn facts_of_a_demand() {
        let base = FactInputs {
            street: Uuid::nil(),
            community: Uuid::nil(),
            grid: Uuid::nil(),
            category: "meals".into(),
            // 23:30 local: the same-day promise ends half an hour later.
            filed_at: "2026-05-01T15:30:00.000000Z".into(),
            window_end: None,
            dispatched_at: Some("2026-05-01T15:31:00.000000Z".into()),
            accepted_at: Some("2026-05-01T15:35:59.000000Z".into()),
            completed_at: Some("2026-05-01T16:00:00.000000Z".into()),
            rating: Some(4),
            volunteer: None,
            unit: None,
            escalations: 2,
            previous_filing: Some("2026-04-01T15:30:00.000000Z".into()),
        };
        let f = Fact::of(base.clone());
        assert!(f.dispatched && f.accepted && f.completed && f.on_time);
        assert!(f.rated && f.satisfied && f.repeated);
        assert_eq!(f.accept_minutes, Some(4));
        assert_eq!(f.complete_minutes, Some(30));
        assert_eq!(f.periods(), ("2026-05-01".into(), "2026-05".into()));
        let late = Fact::of(FactInputs {
            completed_at: Some("2026-05-01T16:00:01.000000Z".into()),
            previous_filing: Some("2026-04-01T15:29:59.000000Z".into()),
            rating: Some(3),
            ..base
        });
        assert!(!late.on_time && !late.repeated && !late.satisfied && late.rated);
        assert_eq!(late.periods(), ("2026-05-01".into(), "2026-05".into()));
    }
}
