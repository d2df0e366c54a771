//! Which SQLite connections plan with statistics older than the database's.
//!
//! SQLite's planner picks indexes by the statistics in `sqlite_stat1`, which `PRAGMA
//! optimize` gathers ([`Db::optimize`](super::db::Db::optimize)). A connection reads them into
//! memory when it first reads the schema, and again only when the schema changes; gathering
//! statistics does not change the schema, so only the connection that gathered them sees
//! them. Every other connection keeps planning by what it read when it opened, on a new
//! database nothing at all, and then SQLite reads a demand's orders by walking the street's
//! index (every order the street ever had) rather than by the demand's: 40 ms a read at
//! 20,000 demands a street, and growing with history, though the statistics had long been
//! gathered.
//!
//! So the store notes when the statistics last changed. A reader connection opened before
//! that is closed when it is next taken from the pool, and the pool opens a fresh one, which
//! reads the statistics as they are; the committer's own connection reloads them
//! (`ANALYZE sqlite_schema`) before its next batch. Statistics change rarely (`PRAGMA
//! optimize` analyses a table again when it is ten times the size it was analysed at, or
//! gains an index), so this costs a few connections opened now and then.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

/// When the planner's statistics last changed, as far as this process has seen.
#[derive(Debug)]
pub(crate) struct Statistics {
    /// Where the clock below starts.
    base: Instant,
    /// Nanoseconds from `base` to when the statistics last changed; 0 while they have not.
    changed: AtomicU64,
    /// What the statistics said when last looked at; empty before the first look.
    last: Mutex<String>,
}

impl Statistics {
    pub(crate) fn new() -> Self {
        Statistics {
            base: Instant::now(),
            changed: AtomicU64::new(0),
            last: Mutex::new(String::new()),
        }
    }

    /// Notes what the statistics say now (`sqlite_stat1`'s rows as one string, empty while
    /// there are none); when it is not what they said last, they changed now. Before the first
    /// look they count as empty: a connection opened then read what the file held, perhaps
    /// none.
    pub(crate) fn look(&self, now: String) {
        let mut last = self
            .last
            .lock()
            .expect("the statistics' lock is never poisoned");
        if *last != now {
            *last = now;
            let at = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
            // Never 0, which means "not yet".
            self.changed.store(at.max(1), Ordering::Release);
        }
    }

    /// A mark that moves whenever the statistics change, for a connection that reloads them
    /// itself to compare with the mark it last reloaded at.
    pub(crate) fn mark(&self) -> u64 {
        self.changed.load(Ordering::Acquire)
    }

    /// Whether a connection opened `age` ago may have read the schema before the statistics
    /// last changed.
    pub(crate) fn older_than(&self, age: Duration) -> bool {
        read_before(self.mark(), self.base.elapsed().saturating_sub(age))
    }
}

/// Whether a connection opened at `opened` (from the base) may have read the statistics
/// before their change at `changed` nanoseconds (0: none yet). The change is noted after the
/// statistics are committed and read back, so a connection that read the old ones opened
/// before it; one opened in between is closed once, needlessly, and its replacement opens
/// after.
fn read_before(changed: u64, opened: Duration) -> bool {
    changed != 0 && opened < Duration::from_nanos(changed)
}

/// Whether there are statistics at all (`sqlite_stat1` exists once anything was analysed).
pub(crate) const GATHERED: &str =
    "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1')";

/// What the statistics say: every row of `sqlite_stat1`, in order, as one string.
pub(crate) const STATISTICS: &str = "SELECT COALESCE(group_concat(s, char(10)), '') FROM \
     (SELECT tbl || ' ' || COALESCE(idx, '') || ' ' || stat AS s FROM sqlite_stat1 \
      ORDER BY tbl, idx)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_opened_before_a_change_read_the_old_statistics_and_none_after() {
        let changed = Duration::from_secs(60);
        let at = |opened: Duration| read_before(changed.as_nanos() as u64, opened);
        assert!(at(Duration::ZERO));
        assert!(at(changed - Duration::from_nanos(1)));
        // A connection opened after the change is never closed for it, so the pool's
        // replacements are not closed in turn.
        assert!(!at(changed));
        assert!(!at(changed + Duration::from_millis(1)));
        // Before any change, no connection read old statistics.
        assert!(!read_before(0, Duration::ZERO));
    }

    #[test]
    fn the_mark_moves_when_what_the_statistics_say_changes() {
        // A connection opened when the pool started.
        let at_start = Duration::MAX;
        let stats = Statistics::new();
        assert_eq!(stats.mark(), 0);
        assert!(!stats.older_than(at_start));
        // No statistics yet are no change.
        stats.look(String::new());
        assert_eq!(stats.mark(), 0);
        // The first statistics are: connections opened before may have read none.
        stats.look("demands 100 1".into());
        let first = stats.mark();
        assert_ne!(first, 0);
        assert!(stats.older_than(at_start));
        stats.look("demands 100 1".into());
        assert_eq!(
            stats.mark(),
            first,
            "the same statistics again are no change"
        );
        std::thread::sleep(Duration::from_millis(1));
        stats.look("demands 1000 1".into());
        assert!(stats.mark() > first);
    }
}
