//! SQLite plans a statement once, whatever values are bound to it.
//!
//! sqlx keeps each statement prepared and, before every execution, clears its bindings and
//! binds the new values. SQLite marks a statement as expired when the bindings it was planned
//! with are cleared, if its plan looked at a bound value: the pattern of a `LIKE`, or, since
//! the bundled SQLite keeps STAT4 samples once the planner's statistics are gathered, a value
//! compared with an indexed column. An expired statement is parsed and planned again on its
//! next step. That happened to a filing's notifications (their `LIKE` on the endpoints' event
//! types) on every filing, on SQLite's one writer; measured in BENCHMARKS.md.
//!
//! The query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) makes the planner
//! ignore bound values, so a prepared statement keeps its plan. Nothing here loses by it: each
//! `LIKE` of this store starts with a wildcard, which no index serves, and the statistics still
//! steer every plan through their averages. sqlx offers no way to set it on a connection, so
//! it is set by an automatic extension, which SQLite runs on every connection the process
//! opens from then on.

use std::{
    ffi::{c_char, c_int},
    sync::Once,
};

use libsqlite3_sys as ffi;

/// Has every SQLite connection opened after this call plan statements without looking at their
/// bound values. Idempotent; call it before opening connections.
pub fn plan_without_bound_values() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `stable_plans` has the signature SQLite calls an automatic extension with,
        // and lives as long as the process.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(stable_plans)) };
        if rc != ffi::SQLITE_OK {
            tracing::warn!(
                rc,
                "cannot register SQLite's plan setting: statements whose plan looks at a bound \
                 value will be planned again on every execution"
            );
        }
    });
}

/// Run by SQLite on each new connection.
unsafe extern "C" fn stable_plans(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let mut set: c_int = 0;
    // SAFETY: `db` is the connection being opened; this option takes an int (1: on) and a
    // pointer to an int that receives the setting now in force.
    let rc = unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            &mut set as *mut c_int,
        )
    };
    if rc != ffi::SQLITE_OK || set != 1 {
        tracing::warn!(
            rc,
            set,
            "SQLite did not take the plan setting on a connection"
        );
    }
    // A connection opens whether or not the setting took: it only saves work.
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use std::{ffi::CString, ptr};

    use super::*;

    /// A raw connection to a fresh in-memory database.
    struct Conn(*mut ffi::sqlite3);

    impl Conn {
        fn open() -> Conn {
            let mut db = ptr::null_mut();
            let name = CString::new(":memory:").unwrap();
            // SAFETY: a valid name and out-pointer; the handle is closed on drop.
            let rc = unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) };
            assert_eq!(rc, ffi::SQLITE_OK);
            Conn(db)
        }

        /// How many times a statement with a bound `LIKE` pattern was planned again over
        /// three executions, each clearing the bindings and binding a new pattern as sqlx does.
        fn replans_of_a_bound_like(&self) -> c_int {
            let sql = CString::new("SELECT 1 WHERE 'order.offered' LIKE ?1").unwrap();
            let mut stmt = ptr::null_mut();
            // SAFETY: the connection is open; the statement is finalized below.
            unsafe {
                let rc = ffi::sqlite3_prepare_v3(
                    self.0,
                    sql.as_ptr(),
                    -1,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &mut stmt,
                    ptr::null_mut(),
                );
                assert_eq!(rc, ffi::SQLITE_OK);
                for pattern in ["%order%", "%demand%", "%offered%"] {
                    ffi::sqlite3_reset(stmt);
                    ffi::sqlite3_clear_bindings(stmt);
                    let p = CString::new(pattern).unwrap();
                    ffi::sqlite3_bind_text(stmt, 1, p.as_ptr(), -1, ffi::SQLITE_TRANSIENT());
                    let rc = ffi::sqlite3_step(stmt);
                    assert!(rc == ffi::SQLITE_ROW || rc == ffi::SQLITE_DONE);
                }
                let replans = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
                ffi::sqlite3_finalize(stmt);
                replans
            }
        }

        /// Sets the planner stability guarantee (1 on, 0 off; -1 leaves it) and returns the
        /// setting in force.
        fn stable_plans(&self, to: c_int) -> c_int {
            let mut set: c_int = -1;
            // SAFETY: the connection is open; `set` receives the setting.
            unsafe {
                ffi::sqlite3_db_config(
                    self.0,
                    ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
                    to,
                    &mut set as *mut c_int,
                );
            }
            set
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: opened by `open`, closed once.
            unsafe { ffi::sqlite3_close(self.0) };
        }
    }

    #[test]
    fn a_statement_keeps_its_plan_when_its_values_change() {
        // Why the setting is needed: without it, each new pattern has the statement planned
        // again.
        let without = Conn::open();
        assert_eq!(without.stable_plans(0), 0);
        assert_eq!(without.replans_of_a_bound_like(), 3);

        // Every connection opened once it is registered has it.
        plan_without_bound_values();
        let with = Conn::open();
        assert_eq!(with.stable_plans(-1), 1);
        assert_eq!(with.replans_of_a_bound_like(), 0);
    }
}
