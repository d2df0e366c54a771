//! `gongjian plugin check`, `run`, `triage` and `points`: develop a rule offline, against the
//! contract, before uploading it.

use std::path::Path;

use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, RequestBuilder},
    PointsRequest, TriageRequest,
};
use serde_json::json;

use super::PluginCommand;
use crate::plugin::{
    host::{sample_request, PluginHost, PluginKind, PluginSettings},
    CallLog, Compiled, Fault,
};

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

fn compile_file(host: &PluginHost, file: &Path) -> anyhow::Result<Compiled> {
    let bytes = read(file)?;
    host.compile(kind_of(file, &bytes)?, &bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// Prints a hook's log to stderr and its answer, as `{"<key>": …}`, to stdout.
fn print_outcome<T: serde::Serialize>(
    file: &Path,
    key: &str,
    result: Result<T, Fault>,
    log: CallLog,
) -> anyhow::Result<()> {
    for line in &log.lines {
        eprintln!("log: {line}");
    }
    let value = result.map_err(|f| anyhow::anyhow!("{}: {f}", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&json!({ key: value }))?);
    Ok(())
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
            let plugin = host
                .validate(kind, &bytes, &config)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let sample = sample_request(&config, host.settings().max_results);
            let hooks: Vec<&str> = [
                ("triage", plugin.has_triage()),
                ("points", plugin.has_points()),
            ]
            .iter()
            .filter(|(_, has)| *has)
            .map(|(h, _)| *h)
            .collect();
            println!(
                "ok: {} is a {kind} plugin for contract {}; it ranked the sample request of {} candidates; hooks: {}",
                file.display(),
                plugin.contract_version(),
                sample.candidate_count,
                if hooks.is_empty() {
                    "none".to_string()
                } else {
                    hooks.join(", ")
                }
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
                time::OffsetDateTime::now_utc().unix_timestamp(),
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
        PluginCommand::Triage {
            file,
            demand,
            plugin_config,
        } => {
            let plugin = compile_file(&host, &file)?;
            anyhow::ensure!(plugin.has_triage(), "{} has no triage hook", file.display());
            let mut req: TriageRequest = json_file(&demand)?;
            req.config = config_text(plugin_config.as_deref())?;
            let (result, log) = plugin.triage(&req);
            print_outcome(&file, "decision", result, log)
        }
        PluginCommand::Points {
            file,
            order,
            plugin_config,
        } => {
            let plugin = compile_file(&host, &file)?;
            anyhow::ensure!(plugin.has_points(), "{} has no points rule", file.display());
            let mut req: PointsRequest = json_file(&order)?;
            req.config = config_text(plugin_config.as_deref())?;
            let (result, log) = plugin.points(&req);
            print_outcome(&file, "award", result, log)
        }
    }
}
