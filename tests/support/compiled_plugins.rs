//! Compiled example plugins for tests, through the plugin runtimes directly. Shared by the
//! runtime's tests and the host's.

use std::sync::OnceLock;

use gongjian_plugin_runtime::{rhai::RhaiRuntime, wasm::WasmRuntime, Compiled, Limits};

use super::example_plugins::wasm_bytes;

pub fn wasm_runtime() -> &'static WasmRuntime {
    static RT: OnceLock<WasmRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        WasmRuntime::new(Limits {
            timeout: std::time::Duration::from_millis(100),
            ..Limits::default()
        })
        .unwrap()
    })
}

pub fn rhai_runtime() -> RhaiRuntime {
    RhaiRuntime::new(Limits {
        timeout: std::time::Duration::from_millis(200),
        ..Limits::default()
    })
}

/// A compiled example plugin, compiled once per test run.
pub fn wasm(name: &str) -> &'static Compiled {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<String, &'static Compiled>>> =
        OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry(name.to_string()).or_insert_with(|| {
        Box::leak(Box::new(Compiled::Wasm(
            wasm_runtime().compile(&wasm_bytes(name)).unwrap(),
        )))
    })
}

pub fn rhai(source: &str) -> Compiled {
    Compiled::Rhai(rhai_runtime().compile(source).unwrap())
}
