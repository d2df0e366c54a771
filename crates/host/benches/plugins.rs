//! The same matching rule natively, as a WebAssembly plugin and as a rhai script, at 0 to
//! 10,000 candidates: the fixed cost of a call and the cost per candidate.
//!
//! `cargo bench -p gongjian-host --bench plugins` (results in BENCHMARKS.md).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gongjian_host::plugin::{builtin, rhai::RhaiRuntime, wasm::WasmRuntime, Compiled, Limits};

#[path = "../../../tests/support/example_plugins.rs"]
mod example_plugins;
#[path = "support/street.rs"]
mod street;

use street::street;

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
        Compiled::Rhai(
            runtime
                .compile(&example_plugins::rhai_source(name))
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
