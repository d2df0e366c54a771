//! The default rule natively and as a WebAssembly plugin, measured in alternating rounds so
//! that both see the same machine: on a shared machine, where a run's figures drift by a fifth
//! over a minute, the ratio of two criterion benchmarks taken a minute apart drifts with it.
//! Each round times `native` then `wasm` on the same request; the report gives each side's
//! fastest and median round, and the ratios of both.
//!
//! `cargo bench -p gongjian-host --bench plugin_ratio` (results in BENCHMARKS.md).

use std::time::{Duration, Instant};

use gongjian_host::plugin::{builtin, wasm::WasmRuntime, Compiled, Limits};

#[path = "../../../tests/support/example_plugins.rs"]
#[allow(dead_code)]
mod example_plugins;
#[path = "support/street.rs"]
mod street;

/// Rounds per street size.
const ROUNDS: usize = 60;

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter on the size, e.g. `1000`.
    let only: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let wasm = Compiled::Wasm(
        WasmRuntime::new(Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        })
        .unwrap()
        .compile(&example_plugins::wasm_bytes("default_rule"))
        .unwrap(),
    );
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "candidates", "native min", "wasm min", "native med", "wasm med", "÷ (min)", "÷ (med)"
    );
    for n in [0usize, 10, 100, 1_000, 10_000] {
        if !only.is_empty() && !only.contains(&n) {
            continue;
        }
        let req = street::street(n);
        assert_eq!(wasm.rank(&req).0.unwrap(), builtin(&req).unwrap());
        // A few milliseconds of work per side and round.
        let iters = (2_000_000 / (20 * n + 100)).max(5);
        let time = |f: &dyn Fn()| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / iters as f64
        };
        let (mut native, mut plugin) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS + 3 {
            let a = time(&|| {
                std::hint::black_box(builtin(&req).unwrap());
            });
            let b = time(&|| {
                std::hint::black_box(wasm.rank(&req).0.unwrap());
            });
            // The first rounds warm up.
            if round >= 3 {
                native.push(a);
                plugin.push(b);
            }
        }
        native.sort_by(f64::total_cmp);
        plugin.sort_by(f64::total_cmp);
        let median = |v: &[f64]| v[v.len() / 2];
        println!(
            "{n:>10} {:>10.2}µs {:>10.2}µs {:>10.2}µs {:>10.2}µs {:>9.2}× {:>9.2}×",
            native[0],
            plugin[0],
            median(&native),
            median(&plugin),
            plugin[0] / native[0],
            median(&plugin) / median(&native),
        );
    }
}
