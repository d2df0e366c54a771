//! The layers of `gongjian-core` point one way: `service` → `store` → `domain`. Cargo keeps
//! the crates from forming a cycle; this test keeps the modules inside the core from forming
//! one: no file of `domain` names `store` or `service`, and no file of `store` names `service`.

use std::path::{Path, PathBuf};

fn core_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {d:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `file` that name one of `layers` of the crate, however they are reached:
/// `crate::store`, `super::store` from a sibling, or a `use crate::{…, store::…}` group.
fn names_of(file: &Path, layers: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    // Joined so that a `use crate::{` group split over lines is read as one.
    let flat = text.replace('\n', " ");
    let mut found = Vec::new();
    for layer in layers {
        for pattern in [
            format!("crate::{layer}"),
            format!("super::{layer}"),
            format!("super::super::{layer}"),
        ] {
            if flat.contains(&pattern) {
                found.push(pattern);
            }
        }
        let mut rest = flat.as_str();
        while let Some(i) = rest.find("crate::{") {
            let group = &rest[i..];
            let end = group.find("};").unwrap_or(group.len());
            let group = &group[..end];
            let named = group
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == *layer);
            if named {
                found.push(format!("{layer} in {group}}}"));
            }
            rest = &rest[i + 8..];
        }
    }
    found
}

fn assert_layer(dir: &str, forbidden: &[&str]) {
    let root = core_src().join(dir);
    let files = rust_files(&root);
    assert!(!files.is_empty(), "no Rust files under {root:?}");
    let breaches: Vec<String> = files
        .iter()
        .flat_map(|f| {
            names_of(f, forbidden)
                .into_iter()
                .map(move |n| format!("{}: {n}", f.display()))
        })
        .collect();
    assert!(
        breaches.is_empty(),
        "{dir} must not name {forbidden:?}:\n{}",
        breaches.join("\n")
    );
}

#[test]
fn domain_names_neither_store_nor_service() {
    assert_layer("domain", &["store", "service"]);
}

#[test]
fn store_does_not_name_service() {
    assert_layer("store", &["service"]);
}

/// The lines of the service files that contain one of `patterns`, as `file:line: text`.
fn service_lines_with(patterns: &[&str]) -> Vec<String> {
    rust_files(&core_src().join("service"))
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, line)| patterns.iter().any(|p| line.contains(p)))
                .map(|(n, line)| format!("{}:{}: {}", f.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every write of an operation goes through `Db::transact` or `Db::write_script` (on SQLite,
/// the group committer): no service opens a transaction on a pool itself, where it could hold
/// the one writer while it waits for something else.
#[test]
fn services_open_no_transaction_themselves() {
    let breaches = service_lines_with(&[".begin()"]);
    assert!(
        breaches.is_empty(),
        "services write through Db::transact:\n{}",
        breaches.join("\n")
    );
}

/// All SQL lives in `store`: no service runs a query or holds a statement of its own.
#[test]
fn services_hold_no_sql() {
    let breaches = service_lines_with(&[
        "sqlx::query",
        "Sql::new",
        ".fetch_",
        ".execute(",
        "\"SELECT ",
        "\"UPDATE ",
        "\"INSERT ",
        "\"DELETE ",
        "try_get(",
    ]);
    assert!(
        breaches.is_empty(),
        "SQL belongs in store:\n{}",
        breaches.join("\n")
    );
}

/// A store write keeps its own invariants: the function that changes a demand or an order
/// records its events and moves the candidate pool's counters, so no service does either by
/// hand (and none can forget to).
#[test]
fn services_neither_record_events_nor_move_counters() {
    let breaches = service_lines_with(&[
        "record_event",
        "touch_",
        "move_status",
        "use_capacity",
        "return_capacity",
    ]);
    assert!(
        breaches.is_empty(),
        "the store's writes record their events and move their counters:\n{}",
        breaches.join("\n")
    );
}

/// The checker itself must see a breach, or the tests above prove nothing.
#[test]
fn the_checker_sees_each_way_of_naming_a_layer() {
    let dir = tempfile_dir();
    for (i, text) in [
        "use crate::store::Db;",
        "use crate::{\n    domain::Urgency,\n    store::{Db, Sql},\n};",
        "fn f() { super::store::x(); }",
        "use crate::{service::intake, Error};",
    ]
    .iter()
    .enumerate()
    {
        let file = dir.join(format!("f{i}.rs"));
        std::fs::write(&file, text).unwrap();
        assert!(
            !names_of(&file, &["store", "service"]).is_empty(),
            "not seen: {text}"
        );
    }
    let clean = dir.join("clean.rs");
    std::fs::write(
        &clean,
        "use crate::{domain::Urgency, Error};\n// restore the stored form\nfn services() {}",
    )
    .unwrap();
    assert_eq!(
        names_of(&clean, &["store", "service"]),
        Vec::<String>::new()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gongjian-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
