//! The plugin runtimes on their own: every example plugin, every fault kind in both runtimes,
//! and the checks on what plugins return. `cargo test -p gongjian-plugin-runtime`.

#[path = "support/compiled_plugins.rs"]
mod compiled_plugins;
#[path = "support/example_plugins.rs"]
mod example_plugins;

use compiled_plugins::{rhai, rhai_runtime, wasm, wasm_runtime};
use example_plugins::{rhai_source, wasm_bytes};
use gongjian_plugin_runtime::{
    builtin, host::run_rank, rhai::RhaiRuntime, wasm::WasmRuntime, Compiled, Fault, Hook, Limits,
};
use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, OwnedRequest, RequestBuilder},
    CandidateKind, Ranked, Urgency,
};

fn volunteer(grid: &str, community: &str) -> CandidateSpec {
    CandidateSpec {
        home_grid: grid.into(),
        community: community.into(),
        ..CandidateSpec::default()
    }
}

fn demand(category: &str, label: &str) -> DemandSpec {
    DemandSpec {
        category: category.into(),
        category_label: label.into(),
        grid: "g1".into(),
        community: "c1".into(),
        filed_at: 1_000,
        ..DemandSpec::default()
    }
}

fn request(d: &DemandSpec, config: &str, candidates: &[CandidateSpec]) -> OwnedRequest {
    let mut b = RequestBuilder::new("shixi", d, config, 1_000_000, 10);
    for c in candidates {
        b.push(c);
    }
    b.finish()
}

fn order(r: &[Ranked]) -> Vec<u32> {
    r.iter().map(|x| x.candidate).collect()
}

#[track_caller]
fn ok(plugin: &Compiled, req: &OwnedRequest) -> Vec<Ranked> {
    let (result, _log) = plugin.rank(req);
    result.unwrap_or_else(|f| panic!("the plugin failed: {f}"))
}

/// A varied street: candidates of every shape.
fn street() -> Vec<CandidateSpec> {
    let mut out = vec![];
    for i in 0..40u32 {
        let mut c = volunteer(&format!("g{}", i % 4), &format!("c{}", i % 2));
        c.labels = vec![["维修", "陪护", "义诊", "书法"][i as usize % 4].into()];
        c.party_member = i % 3 == 0;
        c.team = Some(format!("队{}", i % 5));
        c.open_orders = i % 4;
        c.availability_fits = i % 7 != 0;
        c.average_rating = (i % 2 == 0).then_some(3.0 + (i % 3) as f32);
        c.last_order_at = if i % 6 == 0 {
            0
        } else {
            1_000_000 - i64::from(i) * 3_600
        };
        c.completed_orders = i;
        out.push(c);
    }
    for (i, (cat, owner)) in [
        ("medical", "hospital"),
        ("repair", "property_manager"),
        ("medical", "school"),
    ]
    .iter()
    .enumerate()
    {
        out.push(CandidateSpec {
            kind: CandidateKind::Resource,
            owned_by_unit: true,
            category: Some(cat.to_string()),
            owner_kind: Some(owner.to_string()),
            capacity_left: 5 * (i as u32 + 1),
            ..CandidateSpec::default()
        });
    }
    out
}

#[test]
fn the_default_rule_gives_the_same_answer_natively_as_webassembly_and_in_rhai() {
    let plugin = wasm("default_rule");
    let script = rhai(&rhai_source("default-rule"));
    for (category, label) in [
        ("repair", "维修服务"),
        ("medical", "医疗健康"),
        ("elderly_care", "养老助老"),
        ("legal", "法律服务"),
    ] {
        for config in ["", r#"{"party_member": 3, "rating": 2.5}"#] {
            let req = request(&demand(category, label), config, &street());
            let native = builtin(&req).unwrap();
            assert!(!native.is_empty());
            assert_eq!(ok(plugin, &req), native, "{category} {config}");
            assert_eq!(ok(&script, &req), native, "rhai: {category} {config}");
        }
    }
}

#[test]
fn same_day_keeps_urgent_demands_close() {
    let plugin = wasm("same_day");
    let cands = [
        volunteer("g9", "c9"),
        volunteer("g2", "c1"),
        volunteer("g1", "c1"),
        {
            let mut busy = volunteer("g1", "c1");
            busy.open_orders = 3;
            busy
        },
    ];
    let normal = ok(plugin, &request(&demand("repair", "维修服务"), "", &cands));
    assert_eq!(order(&normal), [2, 1, 0]);
    assert!(normal[0].reason.starts_with("同网格"), "{normal:?}");
    let mut urgent = demand("repair", "维修服务");
    urgent.urgency = Urgency::Critical;
    assert_eq!(order(&ok(plugin, &request(&urgent, "", &cands))), [2, 1]);
    assert_eq!(
        order(&ok(
            plugin,
            &request(&urgent, r#"{"urgent_max_distance": 0}"#, &cands)
        )),
        [2]
    );
}

#[test]
fn fair_rotation_prefers_whoever_waited_longest() {
    let plugin = wasm("fair_rotation");
    let mk = |last: i64, done: u32| CandidateSpec {
        labels: vec!["维修".into()],
        last_order_at: last,
        completed_orders: done,
        ..volunteer("g1", "c1")
    };
    let cands = [
        mk(999_000, 1),
        mk(0, 9),
        mk(500_000, 3),
        mk(500_000, 1),
        CandidateSpec {
            labels: vec!["书法".into()],
            ..mk(0, 0)
        },
    ];
    let got = ok(plugin, &request(&demand("repair", "维修服务"), "", &cands));
    assert_eq!(
        order(&got),
        [1, 3, 2, 0],
        "never served, then longest idle, fewer completed first; no skill, no order"
    );
    assert!(got[0].reason.contains("尚未接单"));
    let all = ok(
        plugin,
        &request(
            &demand("repair", "维修服务"),
            r#"{"skills_only": false}"#,
            &cands,
        ),
    );
    assert_eq!(all.len(), 5);
}

#[test]
fn rhai_elderly_care_goes_to_party_members_of_the_grid() {
    let plugin = &rhai(&rhai_source("elderly-party-members"));
    let party = |grid: &str, community: &str| CandidateSpec {
        party_member: true,
        ..volunteer(grid, community)
    };
    let cands = [
        volunteer("g1", "c1"),
        party("g2", "c1"),
        party("g1", "c1"),
        volunteer("g9", "c9"),
    ];
    let got = ok(
        plugin,
        &request(&demand("elderly_care", "养老助老"), "", &cands),
    );
    assert_eq!(order(&got), [2, 1, 0, 3]);
    assert_eq!(got[0].reason, "党员 同网格 在办 0/3");
    let other = ok(plugin, &request(&demand("repair", "维修服务"), "", &cands));
    assert_eq!(
        order(&other)[..2],
        [0, 2],
        "outside elderly care, party membership does not count"
    );
    let cfg = ok(
        plugin,
        &request(
            &demand("elderly_care", "养老助老"),
            r#"{"party_bonus": 0}"#,
            &cands,
        ),
    );
    assert_eq!(order(&cfg)[..2], [0, 2]);
}

#[test]
fn rhai_medical_goes_to_the_co_building_hospital() {
    let plugin = &rhai(&rhai_source("medical-to-hospital"));
    let got = ok(
        plugin,
        &request(&demand("medical", "医疗健康"), "", &street()),
    );
    assert_eq!(
        got[0].candidate, 40,
        "the hospital's resource first: {got:?}"
    );
    assert!(got[0].reason.starts_with("共建医院资源"));
    assert!(
        got[1..].iter().all(|r| r.reason.starts_with("医护志愿者")),
        "{got:?}"
    );
}

#[test]
fn rhai_team_balance_spreads_load() {
    let plugin = &rhai(&rhai_source("team-balance"));
    let member = |team: &str, open: u32| CandidateSpec {
        team: Some(team.into()),
        open_orders: open,
        ..volunteer("g1", "c1")
    };
    let cands = [
        member("A", 2),
        member("A", 1),
        member("B", 0),
        member("B", 1),
        member("C", 0),
    ];
    let got = ok(plugin, &request(&demand("repair", "维修服务"), "", &cands));
    assert_eq!(order(&got), [4, 2, 3, 1, 0], "{got:?}");
    assert_eq!(got[0].reason, "C 在办 0 · 本人 0");
    let capped = ok(
        plugin,
        &request(
            &demand("repair", "维修服务"),
            r#"{"max_team_share": 0.5}"#,
            &cands,
        ),
    );
    assert_eq!(order(&capped), [4, 2, 3], "team A holds 3 of 4 open orders");
}

/// A runtime whose deadline no case but a deliberate loop can reach, even on a loaded
/// machine: a case that runs into memory, stack or output bounds is stopped by that bound
/// and nothing else, so its fault names the limit it hit whatever else the machine is doing.
fn patient_wasm_runtime() -> &'static WasmRuntime {
    static RT: std::sync::OnceLock<WasmRuntime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        WasmRuntime::new(Limits {
            timeout: std::time::Duration::from_secs(600),
            ..Limits::default()
        })
        .unwrap()
    })
}

fn hostile_request(mode: &str) -> OwnedRequest {
    request(
        &demand("repair", "维修服务"),
        &format!(r#"{{"mode": "{mode}"}}"#),
        &[volunteer("g1", "c1"), volunteer("g2", "c1")],
    )
}

fn hostile(mode: &str) -> Result<Vec<Ranked>, Fault> {
    wasm("hostile").rank(&hostile_request(mode)).0
}

/// What a fault must look like.
type Expect = fn(&Fault) -> bool;

#[test]
fn hostile_webassembly_cannot_hurt_the_host() {
    // Only the deadline stops a loop: on the tests' runtime (100 ms) it must be a timeout.
    let fault = hostile("loop").expect_err("loop");
    assert!(matches!(fault, Fault::Timeout(_)), "loop: {fault:?}");
    assert!(fault.is_plugins());
    assert_eq!(hostile("ok").unwrap().len(), 2, "after loop");

    // Everything else runs where the deadline is out of reach, so each fault is the one its
    // own bound raises.
    let cases: &[(&str, Expect)] = &[
        (
            "error",
            |f| matches!(f, Fault::Plugin(m) if m == "the rule refuses"),
        ),
        ("trap", |f| matches!(f, Fault::Trap(_))),
        ("panic", |f| matches!(f, Fault::Trap(_))),
        // The plugin's allocator fails at the memory bound and aborts: a trap, or the
        // host's own limit on growing memory.
        ("oom", |f| matches!(f, Fault::Limit(_) | Fault::Trap(_))),
        (
            "recurse",
            // Whichever stack runs out first: the plugin's own, in its memory, or the
            // host's limit on the native stack. Either way a trap.
            |f| matches!(f, Fault::Trap(m) if m.contains("stack overflow") || m.contains("out of bounds")),
        ),
        (
            "bad-index",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("candidate 9")),
        ),
        (
            "duplicate",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("twice")),
        ),
        (
            "nan",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("NaN")),
        ),
        ("huge", |f| {
            matches!(
                f,
                Fault::InvalidOutput(_) | Fault::Limit(_) | Fault::Trap(_)
            )
        }),
        (
            "long-reason",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("reason")),
        ),
    ];
    let plugin = Compiled::Wasm(
        patient_wasm_runtime()
            .compile(&wasm_bytes("hostile"))
            .unwrap(),
    );
    for (mode, expected) in cases {
        let fault = plugin.rank(&hostile_request(mode)).0.expect_err(mode);
        assert!(expected(&fault), "{mode}: {fault:?}");
        assert!(fault.is_plugins(), "{mode}");
        // The same compiled plugin still serves the next call.
        assert_eq!(
            plugin.rank(&hostile_request("ok")).0.unwrap().len(),
            2,
            "after {mode}"
        );
    }
}

#[test]
fn an_idle_runtime_parks_its_ticker_and_the_next_looping_call_still_times_out() {
    let rt = WasmRuntime::new(Limits {
        timeout: std::time::Duration::from_millis(50),
        ..Limits::default()
    })
    .unwrap();
    let plugin = std::sync::Arc::new(Compiled::Wasm(rt.compile(&wasm_bytes("hostile")).unwrap()));
    let req = hostile_request;
    assert_eq!(plugin.rank(&req("ok")).0.unwrap().len(), 2);
    let waited = std::time::Instant::now();
    while rt.ticking() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(10),
            "the epoch ticker never parks while no call runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Without ticks a looping call would never reach its deadline: run it where a hang shows.
    let (done, finished) = std::sync::mpsc::channel();
    let (looping, looping_req) = (plugin.clone(), req("loop"));
    std::thread::spawn(move || done.send(looping.rank(&looping_req).0));
    let result = finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a looping call after the ticker parked never timed out");
    assert!(matches!(result, Err(Fault::Timeout(_))), "{result:?}");
    assert_eq!(plugin.rank(&req("ok")).0.unwrap().len(), 2);
}

#[test]
fn webassembly_that_breaks_the_contract_is_refused_at_compile() {
    let rt = wasm_runtime();
    let err = |bytes: &[u8]| rt.compile(bytes).err().expect("refused").message;
    assert!(err(b"not wasm at all").contains("not a valid WebAssembly component"));
    // A core module with no contract embedded: not built with the SDK.
    assert!(err(b"\0asm\x01\0\0\0").contains("must export gongjian:matcher/ranking@1.0.0"));
    let mut truncated = wasm_bytes("same_day");
    truncated.truncate(truncated.len() / 2);
    assert!(err(&truncated).contains("not a valid WebAssembly module"));
    // A valid module whose embedded contract section is garbage.
    let mut forged = b"\0asm\x01\0\0\0".to_vec();
    let name = b"component-type:matcher";
    let payload = [&[name.len() as u8][..], name, &[0xff; 64]].concat();
    forged.push(0); // custom section
    forged.push(payload.len() as u8);
    forged.extend_from_slice(&payload);
    assert!(rt.compile(&forged).is_err());
}

const SCORE_OK: &str = "fn score(c, d, config) { 1.0 }";

#[test]
fn hostile_rhai_cannot_hurt_the_host() {
    let req = request(
        &demand("repair", "维修服务"),
        "",
        &[volunteer("g1", "c1"), volunteer("g2", "c1")],
    );
    let cases: &[(&str, Expect)] = &[
        ("fn score(c, d, config) { loop { } }", |f| matches!(f, Fault::Limit(m) if m.contains("operations"))),
        ("fn score(c, d, config) { let x = 0; while true { x += 1; } }", |f| matches!(f, Fault::Limit(m) if m.contains("operations"))),
        ("fn deep(n) { deep(n + 1) } fn score(c, d, config) { deep(0) }", |f| matches!(f, Fault::Limit(m) if m.contains("deep"))),
        ("fn score(c, d, config) { let s = \"x\"; loop { s += s; } }", |f| matches!(f, Fault::Limit(m) if m.contains("too large"))),
        ("fn score(c, d, config) { let a = []; loop { a.push(1); } }", |f| matches!(f, Fault::Limit(_))),
        ("fn score(c, d, config) { throw \"no volunteers today\"; }", |f| matches!(f, Fault::Plugin(m) if m.contains("no volunteers today") && m.contains("line 1"))),
        ("fn score(c, d, config) { c.no_such_field + 1 }", |f| matches!(f, Fault::Trap(_))),
        ("fn score(c, d, config) { \"high\" }", |f| matches!(f, Fault::InvalidOutput(_))),
        ("fn score(c, d, config) { 0.0 / 0.0 }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("NaN"))),
        ("fn score(c, d, config) { let r = \"\"; for i in 0..100 { r += \"长\"; } #{ score: 1, reason: r } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("reason"))),
        ("fn rank(r) { [#{candidate: 0, score: 1.0}, #{candidate: 0, score: 2.0}] }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("twice"))),
        ("fn rank(r) { [#{candidate: 7, score: 1.0}] }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("candidate 7"))),
        ("fn rank(r) { [#{candidate: -1, score: 1.0}] }", |f| matches!(f, Fault::InvalidOutput(_))),
        ("fn rank(r) { 42 }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("array"))),
        ("fn score_all(c, d, config) { let a = []; loop { a.push(c.open_orders + 1); } }", |f| matches!(f, Fault::Limit(_))),
        ("fn score_all(c, d, config) { c.open_orders / c.open_orders }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("NaN"))),
        ("fn score_all(c, d, config) { #{ score: 1.0, kept: true } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("unknown key \"kept\""))),
        ("fn score_all(c, d, config) { #{ score: 1.0, notes: 3 } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("`notes` must be a map"))),
        ("fn score_all(c, d, config) { #{ score: 1.0, notes: #{ s: c.skills } } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("note `s`"))),
        ("fn score_all(c, d, config) { #{ keep: c.party_member } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("needs a `score`"))),
        ("fn score_all(c, d, config) { c.team }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("not Texts"))),
        ("fn score_all(c, d, config) { #{ score: 1.0, keep: c.open_orders } }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("`keep` must be"))),
        ("fn score_all(c, d, config) { c.open_orders + \"x\" }", |f| matches!(f, Fault::Plugin(m) | Fault::Trap(m) if m.contains("does not combine with string") && m.contains("line 1"))),
        ("fn score_all(c, d, config) { c[5].open_orders }", |f| matches!(f, Fault::Plugin(m) | Fault::Trap(m) if m.contains("no candidate 5"))),
        ("fn score_all(c, d, config) { 1.0 } fn reason(c, d, config) { 42 }", |f| matches!(f, Fault::InvalidOutput(m) if m.contains("reason for candidate 0"))),
        ("fn score_all(c, d, config) { 1.0 } fn reason(c, d, config) { throw \"no words\" }", |f| matches!(f, Fault::Plugin(m) if m.contains("no words"))),
    ];
    // The deadline is out of reach of every case, as for WebAssembly: each fault is the one
    // its own bound raises, whatever else the machine is doing.
    let patient = RhaiRuntime::new(Limits {
        timeout: std::time::Duration::from_secs(600),
        ..Limits::default()
    });
    for (source, expected) in cases {
        let plugin = Compiled::Rhai(patient.compile(source).unwrap());
        let fault = plugin.rank(&req).0.expect_err(source);
        assert!(expected(&fault), "{source}: {fault:?}");
        assert!(fault.is_plugins(), "{source}");
    }
    assert_eq!(
        ok(&rhai(SCORE_OK), &req).len(),
        2,
        "the runtime still works"
    );

    // With no bound on operations, only the deadline stops a loop.
    let unbounded = RhaiRuntime::new(Limits {
        timeout: std::time::Duration::from_millis(100),
        rhai_operations: u64::MAX,
        ..Limits::default()
    });
    for source in [
        "fn score(c, d, config) { loop { } }",
        "fn score_all(c, d, config) { let x = 0; while true { x += 1; } }",
    ] {
        let plugin = Compiled::Rhai(unbounded.compile(source).unwrap());
        let fault = plugin.rank(&req).0.expect_err(source);
        assert!(matches!(fault, Fault::Timeout(_)), "{source}: {fault:?}");
    }

    // Columns a call keeps allocating run into their own bound before time or memory does.
    let small = RhaiRuntime::new(Limits {
        rhai_column_bytes: 64 << 10,
        ..Limits::default()
    });
    let hoarder = Compiled::Rhai(
        small
            .compile(
                "fn score_all(c, d, config) { let a = []; loop { a.push(c.open_orders + 1); } }",
            )
            .unwrap(),
    );
    let many: Vec<CandidateSpec> = (0..1_000).map(|_| volunteer("g1", "c1")).collect();
    let fault = hoarder
        .rank(&request(&demand("repair", "维修服务"), "", &many))
        .0
        .unwrap_err();
    assert!(
        matches!(&fault, Fault::Limit(m) if m.contains("column data too large")),
        "{fault:?}"
    );
    let fine = Compiled::Rhai(
        small
            .compile("fn score_all(c, d, config) { c.open_orders + 1 }")
            .unwrap(),
    );
    assert_eq!(
        ok(&fine, &request(&demand("repair", "维修服务"), "", &many)).len(),
        10,
        "the bound is per call"
    );
    assert_eq!(
        ok(&fine, &request(&demand("repair", "维修服务"), "", &many)).len(),
        10,
        "and starts afresh with the next"
    );
}

#[test]
fn rhai_refuses_imports_eval_and_bad_scripts_with_line_and_column() {
    let rt = rhai_runtime();
    let err = |src: &str| rt.compile(src).err().expect(src);
    let e = err("fn score(c, d, config) {\n    import \"secrets\" as s;\n    1\n}");
    assert_eq!(e.position.map(|p| p.0), Some(2), "{e:?}");
    let e = err("fn score(c, d, config) {\n  eval(\"1\")\n}");
    assert_eq!(e.position.map(|p| p.0), Some(2), "{e:?}");
    let e = err("fn score(c, d, config) {\n  let x = ;\n}");
    assert_eq!(e.position, Some((2, 11)), "{e:?}");
    assert!(e.message.contains("line 2, column 11"), "{e:?}");
    assert!(err("let x = 1;").message.contains("fn score"));
    assert!(err("fn score(c, d, config) { 1 } fn rank(r) { [] }")
        .message
        .contains("only one of"));
    assert!(
        err("fn score_all(c, d, config) { 1 } fn score(c, d, config) { 1 }")
            .message
            .contains("only one of")
    );
    assert!(
        err("fn score(c, d, config) { 1 } fn reason(c, d, config) { \"\" }")
            .message
            .contains("goes with fn score_all")
    );
}

#[test]
fn rhai_rules_over_the_whole_list_work_column_by_column() {
    let member = |team: &str, open: u32, party: bool| CandidateSpec {
        team: Some(team.into()),
        open_orders: open,
        party_member: party,
        labels: vec!["维修".into()],
        ..volunteer("g1", "c1")
    };
    let cands = [
        member("A", 2, false),
        member("A", 1, true),
        member("B", 0, false),
        CandidateSpec {
            kind: CandidateKind::Resource,
            category: Some("repair".into()),
            capacity_left: 4,
            ..volunteer("g2", "c2")
        },
        member("", 0, true),
    ];
    let req = request(&demand("repair", "维修服务"), r#"{"bonus": 2}"#, &cands);
    // Team load is the sum over the members; the resource has no team and no open orders.
    let plugin = &rhai(
        r#"
        fn score_all(c, d, config) {
            let team_load = sum_by(c.open_orders, c.team);
            let volunteer = c.kind == "volunteer";
            let score = 10 - pick(c.team.is_empty(), 0, team_load) * 2
                + c.party_member * config.bonus
                - min(count_by(c.team), 2);
            #{ score: score, keep: volunteer & !(c.team == "B") }
        }
        "#,
    );
    let got = ok(plugin, &req);
    // A: load 3, two members; "" holds one member (and the resource, left out by kind).
    let scores: Vec<(u32, f64)> = got.iter().map(|r| (r.candidate, r.score)).collect();
    assert_eq!(scores, [(4, 10.0), (1, 4.0), (0, 2.0)], "{got:?}");

    // Texts, lists and reductions, and a reason for each one ranked.
    let plugin = &rhai(
        r#"
        fn score_all(c, d, config) {
            let fit = c.skills.contains("维修") | c.category == d.category;
            let near = c.home_grid.is_one_of([d.grid, "g9"]);
            print(c.open_orders);
            let share = c.open_orders / c.open_orders.max();
            #{ score: fit * 1.0 + near * 0.5 + share, keep: fit, notes: #{ near: near, share: share, team: c.team, street: "石溪" } }
        }
        fn reason(c, d, config, notes) {
            `${c.kind} ${notes.team} ${fixed(c.open_orders, 1)} ${notes.near} ${notes.share} ${notes.street}`
        }
        "#,
    );
    let (result, log) = plugin.rank(&req);
    let got = result.unwrap();
    assert_eq!(order(&got), [0, 1, 2, 4, 3], "{got:?}");
    assert_eq!(got[0].score, 2.5);
    assert_eq!(got[0].reason, "volunteer A 2.0 true 1.0 石溪");
    assert_eq!(got[4].reason, "resource  0.0 false 0.0 石溪");
    assert_eq!(log.lines, ["[2.0, 1.0, 0.0, 0.0, 0.0]"]);

    // The example in the README.
    let plugin = &rhai(
        r#"
        fn score_all(c, d, config) {
            let eligible = c.has_room() & c.availability_fits;
            let near = c.serves_grid(d.grid);
            let team_load = sum_by(c.open_orders, c.team);
            let score = near * 4.0 + c.party_member * (config.party_bonus ?? 5)
                - pick(c.team == "", 0, team_load) / 10.0;
            #{ score: score, keep: eligible & c.kind == "volunteer", notes: #{ near: near, load: team_load } }
        }
        fn reason(c, d, config, notes) {
            (if notes.near { "同网格" } else { "邻近网格" }) + ` · 队内在办 ${notes.load}`
        }
        "#,
    );
    let got = ok(plugin, &request(&demand("repair", "维修服务"), "", &cands));
    let scores: Vec<(u32, f64)> = got.iter().map(|r| (r.candidate, r.score)).collect();
    assert_eq!(scores, [(4, 9.0), (1, 8.7), (2, 4.0), (0, 3.7)], "{got:?}");
    assert_eq!(got[1].reason, "同网格 · 队内在办 3.0");
}

#[test]
fn rhai_print_and_debug_go_to_a_bounded_log() {
    let plugin = &rhai("fn score(c, d, config) { print(`candidate ${c.index}`); debug(d.category); for i in 0..100 { print(i) } 1.0 }");
    let req = request(&demand("repair", "维修服务"), "", &[volunteer("g1", "c1")]);
    let (result, log) = plugin.rank(&req);
    assert!(result.is_ok());
    assert_eq!(log.lines.len(), Limits::default().log_lines);
    assert_eq!(log.lines[0], "candidate 0");
    assert!(log.lines[1].ends_with("\"repair\""), "{:?}", log.lines[1]);
}

#[test]
fn compiled_webassembly_is_cached_on_disk_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm_bytes("same_day");
    let req = request(&demand("repair", "维修服务"), "", &[volunteer("g1", "c1")]);
    {
        let rt = WasmRuntime::new(Limits::default()).unwrap();
        rt.compile_cached(&bytes, Some(dir.path())).unwrap();
    }
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    let hash = gongjian_plugin_runtime::wasm::content_hash(&bytes);
    assert!(
        name.starts_with(&hash) && name.ends_with(".cwasm"),
        "{name}"
    );
    // A new runtime (a restart) finds the artifact by content hash. Proof that it is used:
    // filed under the hash of other bytes, it is what those bytes compile to.
    let impostor = b"these bytes are not WebAssembly".to_vec();
    let renamed = name.replacen(
        &hash,
        &gongjian_plugin_runtime::wasm::content_hash(&impostor),
        1,
    );
    std::fs::copy(&files[0], dir.path().join(renamed)).unwrap();
    let rt = WasmRuntime::new(Limits::default()).unwrap();
    let plugin = Compiled::Wasm(rt.compile_cached(&impostor, Some(dir.path())).unwrap());
    assert_eq!(ok(&plugin, &req).len(), 1);
    assert!(
        rt.compile(&impostor).is_err(),
        "without the cache those bytes do not compile"
    );
}

/// A rule that takes tens of milliseconds whatever the machine: a million additions.
const SLOW_RULE: &str =
    "fn rank(r) { let x = 0; for i in 0..1000000 { x += i; } [#{candidate: 0, score: 1.0}] }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_in_place_deadline_is_made_again_under_the_plugins_own_limit() {
    let patient = RhaiRuntime::new(Limits {
        timeout: std::time::Duration::from_secs(600),
        rhai_operations: u64::MAX,
        ..Limits::default()
    });
    let plugin = std::sync::Arc::new(Compiled::Rhai(patient.compile(SLOW_RULE).unwrap()));
    let req = request(&demand("repair", "维修服务"), "", &street());
    // A new plugin has no pace yet, so its first call is made in place; stopped at the
    // in-place deadline, it is made again where it may take its whole limit.
    assert_eq!(plugin.pace().last(Hook::Rank), std::time::Duration::ZERO);
    let (_, result, _) = run_rank(plugin.clone(), req.clone()).await;
    assert_eq!(order(&result.expect("the slow rule ranks")), [0]);
    // Its pace is the whole call's, so its next calls go straight off the async runtime.
    assert!(
        plugin.pace().last(Hook::Rank) >= std::time::Duration::from_millis(3),
        "{:?}",
        plugin.pace().last(Hook::Rank)
    );
    let (_, again, _) = run_rank(plugin.clone(), req).await;
    assert_eq!(order(&again.unwrap()), [0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_call_times_out_at_the_plugins_own_limit_not_the_in_place_deadline() {
    let limit = std::time::Duration::from_millis(100);
    let unbounded = RhaiRuntime::new(Limits {
        timeout: limit,
        rhai_operations: u64::MAX,
        ..Limits::default()
    });
    let rhai = std::sync::Arc::new(Compiled::Rhai(
        unbounded
            .compile("fn score(c, d, config) { loop { } }")
            .unwrap(),
    ));
    let wasm_rt = WasmRuntime::new(Limits {
        timeout: limit,
        ..Limits::default()
    })
    .unwrap();
    let wasm = std::sync::Arc::new(Compiled::Wasm(
        wasm_rt.compile(&wasm_bytes("hostile")).unwrap(),
    ));
    let plain = request(&demand("repair", "维修服务"), "", &street());
    for (plugin, req) in [(rhai, plain), (wasm, hostile_request("loop"))] {
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let (_, result, _) = run_rank(plugin.clone(), req.clone()).await;
            assert_eq!(result, Err(Fault::Timeout(limit)));
            // It ran towards its own limit (the epoch's ticks may end it a tick early).
            assert!(started.elapsed() >= limit / 2, "{:?}", started.elapsed());
        }
    }
}
