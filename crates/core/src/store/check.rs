//! The invariant checker behind `gongjian check`: reads a database, in one snapshot and
//! without writing, and lists every row that breaks an invariant the service keeps — with the
//! ids involved, so an operator can look at them after a restore or an incident.
//!
//! Each invariant is a query that returns the rows breaking it, as `subject` (the row at
//! fault), `related` (another row involved, or none) and `detail`. The same SQL runs on
//! SQLite and PostgreSQL.

use std::fmt;

use sqlx::{AnyConnection, Connection, Executor, Row};

use crate::store::db::Backend;

/// Order statuses in which an order still stands for its demand.
const LIVE: &str = "('offered', 'accepted', 'in_progress', 'unassigned')";

/// One row that breaks an invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant, e.g. `demand_has_one_live_order`.
    pub invariant: &'static str,
    /// The row at fault: `demand <id>`, `order <id>`, `volunteer <id>`…
    pub subject: String,
    /// Another row involved, if any.
    pub related: Option<String>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.invariant, self.subject, self.detail)?;
        if let Some(r) = &self.related {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// How many invariants were checked.
    pub checked: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// An invariant: its name, what it means, and the query returning the rows that break it.
struct Invariant {
    name: &'static str,
    query: String,
}

fn invariants() -> Vec<Invariant> {
    let mut all = vec![
        Invariant {
            name: "demand_has_one_live_order",
            query: format!(
                "SELECT 'demand ' || o.demand_id AS subject, 'order ' || o.id AS related, \
                 'one of several live orders; this one is ' || o.status AS detail \
                 FROM service_orders o WHERE o.status IN {LIVE} AND o.demand_id IN \
                 (SELECT demand_id FROM service_orders WHERE status IN {LIVE} \
                  GROUP BY demand_id HAVING COUNT(*) > 1)"
            ),
        },
        Invariant {
            name: "demand_status_matches_its_order",
            query: format!(
                "SELECT 'demand ' || d.id AS subject, 'order ' || o.id AS related, \
                 'the demand is ' || d.status || ' while its order is ' || o.status AS detail \
                 FROM demands d JOIN service_orders o ON o.demand_id = d.id \
                 WHERE (o.status IN ('offered', 'unassigned') AND d.status <> 'dispatched') \
                 OR (o.status IN ('accepted', 'in_progress') AND d.status <> 'in_progress') \
                 OR (o.status = 'completed' AND d.status <> 'completed') \
                 UNION ALL \
                 SELECT 'demand ' || d.id, CAST(NULL AS TEXT), \
                 'the demand is ' || d.status || ' but has no live order' \
                 FROM demands d WHERE d.status IN ('dispatched', 'in_progress') AND NOT EXISTS \
                 (SELECT 1 FROM service_orders o WHERE o.demand_id = d.id AND o.status IN {LIVE}) \
                 UNION ALL \
                 SELECT 'demand ' || d.id, CAST(NULL AS TEXT), \
                 'the demand is completed but none of its orders is' \
                 FROM demands d WHERE d.status = 'completed' AND NOT EXISTS \
                 (SELECT 1 FROM service_orders o WHERE o.demand_id = d.id AND o.status = 'completed')"
            ),
        },
        Invariant {
            name: "accepted_offer_matches_assignee",
            query: "SELECT 'order ' || o.id AS subject, 'offer ' || f.id AS related, \
                 'an accepted offer to ' || f.candidate_id || ' on an order that is ' || o.status \
                 || ', assigned to ' || COALESCE(o.assignee_id, 'nobody') AS detail \
                 FROM order_offers f JOIN service_orders o ON o.id = f.order_id \
                 WHERE f.status = 'accepted' AND (o.assignee_id IS NULL OR o.assignee_id <> f.candidate_id \
                 OR o.status IN ('offered', 'unassigned')) \
                 UNION ALL \
                 SELECT 'order ' || f.order_id, 'offer ' || f.id, \
                 'accepted through an offer of an earlier round than the last' \
                 FROM order_offers f WHERE f.status = 'accepted' AND EXISTS (SELECT 1 FROM order_offers g \
                 WHERE g.order_id = f.order_id AND g.offered_at > f.offered_at) \
                 UNION ALL \
                 SELECT 'order ' || o.id, CAST(NULL AS TEXT), \
                 'assigned to ' || o.assignee_id || ' without an accepted offer to them' \
                 FROM service_orders o WHERE o.assignee_id IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM order_offers f WHERE f.order_id = o.id AND f.status = 'accepted' \
                  AND f.candidate_id = o.assignee_id) \
                 UNION ALL \
                 SELECT 'order ' || o.id, CAST(NULL AS TEXT), \
                 'the order is ' || o.status || ' but has no assignee' \
                 FROM service_orders o WHERE o.assignee_id IS NULL \
                 AND o.status IN ('accepted', 'in_progress', 'completed')"
                .to_string(),
        },
        Invariant {
            name: "open_offers_only_on_offered_orders",
            query: "SELECT 'order ' || o.id AS subject, 'offer ' || f.id AS related, \
                 'an open offer on an order that is ' || o.status AS detail \
                 FROM order_offers f JOIN service_orders o ON o.id = f.order_id \
                 WHERE f.status = 'open' AND o.status <> 'offered' \
                 UNION ALL \
                 SELECT 'order ' || o.id, CAST(NULL AS TEXT), \
                 'offered, but no offer is open' FROM service_orders o WHERE o.status = 'offered' \
                 AND NOT EXISTS (SELECT 1 FROM order_offers f WHERE f.order_id = o.id AND f.status = 'open')"
                .to_string(),
        },
        // The outbox: a delivery is made when its notification is fanned out, in the same
        // transaction; a pending one has its next attempt set; a delivered one was settled by
        // its last attempt, answered 2xx (a redelivery numbers its attempts from 1 again).
        Invariant {
            name: "delivery_follows_fan_out",
            query: "SELECT 'delivery ' || d.id AS subject, 'notification ' || n.id AS related, \
                 'a delivery of a notification not fanned out' AS detail \
                 FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id \
                 WHERE n.fanned_out_at IS NULL"
                .to_string(),
        },
        Invariant {
            name: "delivery_state_agrees_with_attempts",
            query: "SELECT 'delivery ' || d.id AS subject, CAST(NULL AS TEXT) AS related, \
                 'pending with no next attempt' AS detail \
                 FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at IS NULL \
                 UNION ALL \
                 SELECT 'delivery ' || d.id, CAST(NULL AS TEXT), \
                 'delivered, but attempt ' || CAST(d.attempts AS TEXT) || ' was not answered 2xx' \
                 FROM webhook_deliveries d WHERE d.status = 'delivered' AND NOT EXISTS \
                 (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id \
                 AND a.attempt = d.attempts AND a.status_code BETWEEN 200 AND 299)"
                .to_string(),
        },
        Invariant {
            name: "capacity_within_bounds",
            query: "SELECT 'resource ' || id AS subject, CAST(NULL AS TEXT) AS related, \
                 'capacity left ' || CAST(capacity_left AS TEXT) || ' of ' || CAST(capacity AS TEXT) AS detail \
                 FROM resources WHERE capacity_left < 0 OR capacity_left > capacity"
                .to_string(),
        },
        // Accepting takes one unit of capacity, cancelling an accepted order gives it back,
        // and a new capacity moves what is left by as much: what is taken is what the orders
        // that took it hold.
        Invariant {
            name: "capacity_taken_by_orders",
            query: "SELECT 'resource ' || r.id AS subject, CAST(NULL AS TEXT) AS related, \
                 CAST(r.capacity - r.capacity_left AS TEXT) || ' of its capacity taken, but ' \
                 || CAST(COALESCE(o.n, 0) AS TEXT) || ' orders took it' AS detail \
                 FROM resources r LEFT JOIN (SELECT assignee_id, COUNT(*) AS n FROM service_orders \
                 WHERE assignee_kind = 'resource' AND status IN ('accepted', 'in_progress', 'completed') \
                 GROUP BY assignee_id) o ON o.assignee_id = r.id \
                 WHERE r.capacity - r.capacity_left <> COALESCE(o.n, 0)"
                .to_string(),
        },
        // A volunteer may hold more than the limit only when the limit was lowered after the
        // orders were accepted: every accept counts under the limit of its day, so orders
        // accepted since the volunteer's record last changed must fit under today's.
        Invariant {
            name: "volunteer_within_order_limit",
            query: "SELECT 'volunteer ' || v.id AS subject, CAST(NULL AS TEXT) AS related, \
                 'holds ' || CAST(o.n AS TEXT) || ' open orders; the limit is ' \
                 || CAST(v.max_open_orders AS TEXT) AS detail \
                 FROM volunteers v JOIN (SELECT assignee_id, COUNT(*) AS n, MAX(accepted_at) AS last \
                 FROM service_orders WHERE assignee_kind = 'volunteer' AND status IN ('accepted', 'in_progress') \
                 GROUP BY assignee_id) o ON o.assignee_id = v.id \
                 WHERE o.n > v.max_open_orders AND o.last >= v.updated_at"
                .to_string(),
        },
        Invariant {
            name: "candidate_load_matches_orders",
            query: "SELECT 'candidate ' || cl.candidate_id AS subject, 'street ' || cl.street_id AS related, \
                 'recorded ' || CAST(cl.open_orders AS TEXT) || ' open, ' || CAST(cl.completed_orders AS TEXT) \
                 || ' completed, ' || CAST(cl.service_minutes AS TEXT) || ' minutes; the orders say ' \
                 || CAST(COALESCE(o.open_orders, 0) AS TEXT) || ', ' || CAST(COALESCE(o.completed_orders, 0) AS TEXT) \
                 || ', ' || CAST(COALESCE(o.minutes, 0) AS TEXT) \
                 || '; last order ' || COALESCE(cl.last_order_at, 'none') || ' against ' || COALESCE(o.last, 'none') \
                 || '; rating ' || COALESCE(CAST(cl.average_rating AS TEXT), 'none') || ' against ' \
                 || COALESCE(CAST(o.rating AS TEXT), 'none') AS detail \
                 FROM candidate_loads cl LEFT JOIN (SELECT street_id, assignee_id, \
                 SUM(CASE WHEN status IN ('accepted', 'in_progress') THEN 1 ELSE 0 END) AS open_orders, \
                 SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed_orders, \
                 COALESCE(SUM(service_minutes), 0) AS minutes, MAX(accepted_at) AS last, \
                 CAST(AVG(rating) AS DOUBLE PRECISION) AS rating \
                 FROM service_orders WHERE assignee_id IS NOT NULL GROUP BY street_id, assignee_id) o \
                 ON o.street_id = cl.street_id AND o.assignee_id = cl.candidate_id \
                 WHERE COALESCE(o.open_orders, 0) <> cl.open_orders \
                 OR COALESCE(o.completed_orders, 0) <> cl.completed_orders \
                 OR COALESCE(o.minutes, 0) <> cl.service_minutes \
                 OR o.last IS DISTINCT FROM cl.last_order_at \
                 OR ABS(COALESCE(o.rating, -1.0) - COALESCE(cl.average_rating, -1.0)) > 0.000001 \
                 UNION ALL \
                 SELECT DISTINCT 'candidate ' || o.assignee_id, 'street ' || o.street_id, \
                 'has orders but no record in the candidate pool' FROM service_orders o \
                 WHERE o.assignee_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM candidate_loads cl \
                 WHERE cl.street_id = o.street_id AND cl.candidate_id = o.assignee_id)"
                .to_string(),
        },
    ];
    // The events a status implies: how the row got there.
    let events: [(&str, &str, &str); 11] = [
        (
            "demand",
            "'open', 'dispatched', 'in_progress', 'completed', 'cancelled'",
            "filed",
        ),
        (
            "demand",
            "'dispatched', 'in_progress', 'completed'",
            "dispatched",
        ),
        ("demand", "'in_progress', 'completed'", "accepted"),
        ("demand", "'completed'", "completed"),
        ("demand", "'cancelled'", "cancelled"),
        (
            "order",
            "'offered', 'accepted', 'in_progress', 'completed', 'cancelled', 'unassigned'",
            "offered",
        ),
        (
            "order",
            "'accepted', 'in_progress', 'completed'",
            "accepted",
        ),
        ("order", "'in_progress', 'completed'", "started"),
        ("order", "'completed'", "completed"),
        ("order", "'cancelled'", "cancelled"),
        ("order", "'unassigned'", "unassigned"),
    ];
    let mut implied = Vec::new();
    for (kind, statuses, action) in events {
        let table = if kind == "demand" {
            "demands"
        } else {
            "service_orders"
        };
        implied.push(format!(
            "SELECT '{kind} ' || t.id AS subject, CAST(NULL AS TEXT) AS related, \
             'the {kind} is ' || t.status || ' but has no {action} event' AS detail \
             FROM {table} t WHERE t.status IN ({statuses}) AND NOT EXISTS \
             (SELECT 1 FROM events e WHERE e.subject_kind = '{kind}' AND e.subject_id = t.id \
              AND e.action = '{action}')"
        ));
    }
    implied.push(
        "SELECT 'order ' || t.id AS subject, CAST(NULL AS TEXT) AS related, \
         'rated but has no rated event' AS detail FROM service_orders t WHERE t.rating IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.subject_kind = 'order' AND e.subject_id = t.id \
         AND e.action = 'rated')"
            .to_string(),
    );
    all.push(Invariant {
        name: "status_has_its_events",
        query: implied.join(" UNION ALL "),
    });
    all
}

/// Checks every invariant through `conn`, as it sees the database.
pub async fn check(conn: &mut AnyConnection) -> Result<Report, sqlx::Error> {
    let all = invariants();
    let mut report = Report {
        checked: all.len() + 2,
        violations: vec![],
    };
    for inv in &all {
        let rows = sqlx::query(&inv.query).fetch_all(&mut *conn).await?;
        for r in rows {
            report.violations.push(Violation {
                invariant: inv.name,
                subject: r.try_get("subject")?,
                related: r.try_get("related")?,
                detail: r.try_get("detail")?,
            });
        }
    }
    // The figures: checked in Rust, as their facts are computed there.
    let (stale, wrong) = crate::store::figures::audit(conn)
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("auditing the figures: {e}")))?;
    for (invariant, found) in [
        ("figures_facts_are_current", stale),
        ("figures_rollups_add_up", wrong),
    ] {
        for detail in found {
            let (subject, detail) = detail.split_once(": ").unwrap_or(("figures", &detail));
            report.violations.push(Violation {
                invariant,
                subject: subject.to_string(),
                related: None,
                detail: detail.to_string(),
            });
        }
    }
    Ok(report)
}

/// Opens the database at `url` read-only and checks it in one consistent snapshot.
pub async fn check_database(url: &str) -> anyhow::Result<Report> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    let mut conn = match backend {
        Backend::Sqlite => AnyConnection::connect(&read_only_sqlite(url)).await,
        Backend::Postgres => AnyConnection::connect(url).await,
    }
    .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let begin = match backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    conn.execute(begin).await?;
    let report = check(&mut conn).await;
    let _ = conn.execute("ROLLBACK").await;
    let _ = conn.close().await;
    Ok(report?)
}

/// A SQLite URL opened read-only: the checker never creates or writes the file.
fn read_only_sqlite(url: &str) -> String {
    let (path, query) = crate::store::db::sqlite_path_and_query(url);
    let kept: Vec<&str> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| !kv.is_empty() && !kv.starts_with("mode="))
        .collect();
    let mut out = format!("sqlite://{path}?mode=ro");
    for kv in kept {
        out.push('&');
        out.push_str(kv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_is_opened_read_only_whatever_mode_it_names() {
        assert_eq!(
            read_only_sqlite("sqlite://data/g.db"),
            "sqlite://data/g.db?mode=ro"
        );
        assert_eq!(
            read_only_sqlite("sqlite:data/g.db?mode=rwc&cache=shared"),
            "sqlite://data/g.db?mode=ro&cache=shared"
        );
    }
}
