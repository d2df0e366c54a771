//! Builds the example plugins for WebAssembly. Shared by the test suite and the benchmarks.

use std::{path::PathBuf, process::Command, sync::OnceLock};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the example plugins for WebAssembly once per test run, adding the wasm target to
/// the toolchain when it is missing, and returns the directory holding the `.wasm` files.
pub fn wasm_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output();
        let has_target = installed
            .as_ref()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "wasm32-unknown-unknown")
            })
            .unwrap_or(false);
        if !has_target {
            let status = Command::new("rustup")
                .args(["target", "add", "wasm32-unknown-unknown"])
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "cannot add the wasm32-unknown-unknown target with rustup"
            );
        }
        // A target directory of its own, so this build does not wait on the one running us.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"))
            .join("plugins");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-unknown-unknown",
                "--manifest-path",
            ])
            .arg(root().join("plugins/Cargo.toml"))
            // From the plugins workspace, so its .cargo/config.toml applies.
            .current_dir(root().join("plugins"))
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the example plugins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-unknown-unknown/release")
    })
}

pub fn wasm_bytes(name: &str) -> Vec<u8> {
    std::fs::read(wasm_dir().join(format!("{name}.wasm"))).unwrap()
}

/// The source of an example rhai rule, by name (`plugins/rhai/NAME.rhai`).
pub fn rhai_source(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("plugins/rhai/{name}.rhai"))).unwrap()
}
