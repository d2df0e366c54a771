//! The published plugin contract cannot change by accident. `wit/matcher.wit` only ever adds
//! interfaces and worlds; each one published is pinned here by the hash of its text (comments
//! and layout aside). Changing a pinned item fails this test: publish a new version instead.

use sha2::{Digest, Sha256};

const CONTRACT: &str = include_str!("../crates/plugin-sdk/wit/matcher.wit");

/// Each published interface and world, the version that published it, and its hash.
const PUBLISHED: &[(&str, &str, &str)] = &[
    (
        "interface ranking",
        "1.0.0",
        "5231c0042e8c810b05ea71758bfb3770ba511bbcbc53f44b42790bf6946e7634",
    ),
    (
        "world ranker",
        "1.0.0",
        "5a2c006d7738cc40ec48b9eceb01a0c73074b1f0f716a8f2a89ca50c7698241b",
    ),
    (
        "interface triage",
        "1.1.0",
        "4c56567756853d9080ca5b8be87671907b88ea837ff4723e158b18b7bd84f2d4",
    ),
    (
        "interface points",
        "1.1.0",
        "3c5ca59c73c9d463ed7adc2fdb5ba34943ee3bcd9432e4da218e1f5a4a2472d0",
    ),
    (
        "world matcher",
        "1.1.0",
        "74695d32bcfcec2849d9e50e9afafdc19127cbd9fa7e766bf5d3d7d24021330f",
    ),
    (
        "interface packed-ranking",
        "1.2.0",
        "c380b9b2b08c4aebaccb4993e717b0bac8a9753bff4692effa8502fc68a67e0a",
    ),
    (
        "world plugin",
        "1.2.0",
        "8fb114dfbe33847d5ba3f8ca1f4948a1b1e5b8dab31c9085d4698ba2cc0b8aa8",
    ),
];

/// The text of the item that `head` opens, without comments, whitespace collapsed.
fn item(head: &str) -> String {
    let start = CONTRACT
        .lines()
        .position(|l| l.starts_with(&format!("{head} {{")))
        .unwrap_or_else(|| panic!("the contract has no `{head}`"));
    let mut out = Vec::new();
    for line in CONTRACT.lines().skip(start) {
        let code = line.split("//").next().unwrap().trim();
        if !code.is_empty() {
            out.push(code.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if line == "}" {
            break;
        }
    }
    out.join("\n")
}

fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn every_published_interface_and_world_is_unchanged() {
    let mut changed = vec![];
    for (head, version, pinned) in PUBLISHED {
        let now = hash(&item(head));
        if now != *pinned {
            changed.push(format!(
                "{head} (published in {version}) now hashes to {now}"
            ));
        }
    }
    assert!(
        changed.is_empty(),
        "published contract items changed:\n{}",
        changed.join("\n")
    );
}

#[test]
fn the_contract_names_the_version_the_sdk_reports() {
    let package = format!(
        "package gongjian:matcher@{};",
        gongjian_plugin_sdk::CONTRACT_VERSION
    );
    assert!(CONTRACT.lines().any(|l| l == package), "{package}");
    // Every item of the file is pinned: a new one is published with its version.
    let heads: Vec<&str> = CONTRACT
        .lines()
        .filter(|l| l.starts_with("interface ") || l.starts_with("world "))
        .map(|l| l.trim_end_matches(" {"))
        .collect();
    let pinned: Vec<&str> = PUBLISHED.iter().map(|(h, _, _)| *h).collect();
    assert_eq!(heads.len(), pinned.len(), "{heads:?}");
    for h in heads {
        assert!(pinned.contains(&h), "`{h}` is not pinned");
    }
}
