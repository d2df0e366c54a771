//! `gongjian plugin check` and `gongjian plugin run`: develop a rule offline, against the
//! contract, before uploading it.

use std::path::Path;

use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec, RequestBuilder};
use serde_json::json;

use super::host::{sample_request, PluginHost, PluginKind, PluginSettings};
use crate::cli::PluginCommand;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn kind_of(path: &Path, bytes: &[u8]) -> anyhow::Result<PluginKind> {
    if bytes.starts_with(b"\0asm") {
        Ok(PluginKind::Wasm)
    } else if path.extension().is_some_and(|e| e == "rhai") {
        Ok(PluginKind::Rhai)
    } else {
        anyhow::bail!(
            "{} is neither WebAssembly nor a .rhai script",
            path.display()
        )
    }
}

fn config_text(path: Option<&Path>) -> anyhow::Result<String> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    let text = String::from_utf8(read(path)?)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
    anyhow::ensure!(
        value.is_object(),
        "{}: the configuration must be a JSON object",
        path.display()
    );
    Ok(value.to_string())
}

fn json_file<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn run(command: PluginCommand, settings: PluginSettings) -> anyhow::Result<()> {
    // Offline: nothing is cached on disk.
    let host = PluginHost::new(PluginSettings {
        cache_dir: None,
        ..settings
    });
    match command {
        PluginCommand::Check {
            file,
            plugin_config,
        } => {
            let bytes = read(&file)?;
            let kind = kind_of(&file, &bytes)?;
            let config = config_text(plugin_config.as_deref())?;
            host.validate(kind, &bytes, &config)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let sample = sample_request(&config, host.settings().max_results);
            println!(
                "ok: {} is a {kind} plugin for contract {}; it ranked the sample request of {} candidates",
                file.display(),
                gongjian_plugin_sdk::CONTRACT_VERSION,
                sample.candidate_count
            );
            Ok(())
        }
        PluginCommand::Run {
            file,
            demand,
            candidates,
            plugin_config,
            max_results,
        } => {
            let bytes = read(&file)?;
            let kind = kind_of(&file, &bytes)?;
            let config = config_text(plugin_config.as_deref())?;
            let demand: DemandSpec = json_file(&demand)?;
            let candidates: Vec<CandidateSpec> = json_file(&candidates)?;
            let mut b = RequestBuilder::new(
                "local",
                &demand,
                &config,
                crate::domain::now().unix_timestamp(),
                max_results,
            );
            for c in &candidates {
                b.push(c);
            }
            let request = b.finish();
            let plugin = host
                .compile(kind, &bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (result, log) = plugin.rank(&request);
            for line in &log.lines {
                eprintln!("log: {line}");
            }
            let ranked = result.map_err(|f| anyhow::anyhow!("{}: {f}", file.display()))?;
            let out: Vec<_> = ranked
                .iter()
                .map(|r| json!({"candidate": r.candidate, "score": r.score, "reason": r.reason}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "ranked": out }))?
            );
            Ok(())
        }
    }
}
