//! The same matching rule natively, as a WebAssembly plugin and as a rhai script, at 0 to
//! 10,000 candidates: the fixed cost of a call and the cost per candidate.
//!
//! `cargo bench -p gongjian-host --bench plugins` (results in BENCHMARKS.md).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gongjian_host::plugin::{builtin, rhai::RhaiRuntime, wasm::WasmRuntime, Compiled, Limits};
use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, OwnedRequest, RequestBuilder},
    CandidateKind,
};

#[path = "../../../tests/support/example_plugins.rs"]
mod example_plugins;

/// A street of `n` candidates: four in five volunteers, the rest resources, spread over 36
/// grids in 9 communities, with a mix of skills, loads, ratings and availability.
pub fn street(n: usize) -> OwnedRequest {
    let demand = DemandSpec {
        category: "repair".into(),
        category_label: "维修服务".into(),
        tags: vec!["水管".into()],
        grid: "g-07".into(),
        community: "c-1".into(),
        ..DemandSpec::default()
    };
    let skills = [
        "维修", "陪护", "义诊", "书法", "水管", "法律", "辅导", "巡逻",
    ];
    let mut b = RequestBuilder::new("shixi", &demand, "", 1_767_000_000, 20);
    b.reserve(n);
    for i in 0..n {
        let grid = format!("g-{:02}", i % 36);
        let community = format!("c-{}", (i % 36) / 4);
        if i % 5 == 4 {
            b.push(&CandidateSpec {
                kind: CandidateKind::Resource,
                owned_by_unit: true,
                category: Some(["repair", "medical", "education"][i % 3].into()),
                owner_kind: Some("property_manager".into()),
                labels: vec![skills[i % skills.len()].into()],
                capacity_left: (i % 12) as u32,
                home_grid: grid,
                community,
                ..CandidateSpec::default()
            });
        } else {
            b.push(&CandidateSpec {
                home_grid: grid,
                community,
                team: Some(format!("队{}", i % 131)),
                labels: vec![
                    skills[i % skills.len()].into(),
                    skills[(i / 3) % skills.len()].into(),
                ],
                party_member: i % 3 == 0,
                availability_fits: i % 9 != 0,
                open_orders: (i % 4) as u32,
                max_open_orders: 3,
                average_rating: (i % 2 == 0).then_some(3.0 + (i % 3) as f32),
                ..CandidateSpec::default()
            });
        }
    }
    b.finish()
}

fn bench(c: &mut Criterion) {
    let limits = Limits {
        timeout: Duration::from_secs(10),
        rhai_operations: u64::MAX,
        ..Limits::default()
    };
    let wasm = Compiled::Wasm(
        WasmRuntime::new(limits.clone())
            .unwrap()
            .compile(&example_plugins::wasm_bytes("default_rule"))
            .unwrap(),
    );
    let runtime = RhaiRuntime::new(limits);
    let rhai = |name: &str| {
        let path = example_plugins::root().join(format!("plugins/rhai/{name}.rhai"));
        Compiled::Rhai(
            runtime
                .compile(&std::fs::read_to_string(path).unwrap())
                .unwrap(),
        )
    };
    // The rule over the whole list, and written per candidate.
    let (rhai, rhai_per_candidate) = (rhai("default-rule"), rhai("default-rule-per-candidate"));

    let mut group = c.benchmark_group("rank");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for n in [0usize, 10, 100, 1_000, 10_000] {
        let req = street(n);
        // The rule gives the same answer in every form that implements all of it.
        let expected = builtin(&req).unwrap();
        assert_eq!(wasm.rank(&req).0.unwrap(), expected);
        assert_eq!(rhai.rank(&req).0.unwrap(), expected);
        assert!(rhai_per_candidate.rank(&req).0.is_ok());
        group.throughput(Throughput::Elements(n.max(1) as u64));
        group.bench_with_input(BenchmarkId::new("native", n), &req, |b, req| {
            b.iter(|| builtin(req).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("wasm", n), &req, |b, req| {
            b.iter(|| wasm.rank(req).0.unwrap())
        });
        group.bench_with_input(BenchmarkId::new("rhai", n), &req, |b, req| {
            b.iter(|| rhai.rank(req).0.unwrap())
        });
        group.bench_with_input(BenchmarkId::new("rhai-per-candidate", n), &req, |b, req| {
            b.iter(|| rhai_per_candidate.rank(req).0.unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
