//! The dependency rules of the workspace, checked against `cargo metadata`.
//!
//! - The vocabulary crate depends on no other workspace crate.
//! - A stage crate depends on no workspace crate but the vocabulary crate:
//!   stages meet only through its message types, wired by the daemon.
//! - A service crate (the model store) obeys the same rule as a stage.
//! - The pipeline crate may depend on the vocabulary, stage and service
//!   crates; none of them depends on it (only the daemon does).
//! - Each native engine is owned by one crate: `sherpa-onnx` by the ASR
//!   stage, `ort` by the TTS stage; HTTP clients only by the LLM stage and
//!   the model store.
//!
//! Test-only crates (this one) are exempt, and any crate may take them as a
//! dev-dependency: test helpers couple no stage to another.

use std::collections::BTreeMap;

/// The vocabulary crate.
pub const CORE: &str = "assistant-core";
/// Stage crates: each may depend on [`CORE`] and on no other workspace crate.
pub const STAGES: [&str; 5] = [
    "assistant-audio",
    "assistant-asr",
    "assistant-llm",
    "assistant-tts",
    "assistant-trace",
];
/// Infrastructure crates: like stages, they may depend on [`CORE`] only.
pub const SERVICES: [&str; 1] = ["assistant-models"];
/// The pipeline crate: the logic between the stages (the chunker, the turn
/// loop). It may depend on the vocabulary, the stages and the services; no
/// stage or service depends on it.
pub const PIPELINE: &str = "assistant-pipeline";
/// The crate that wires stages together.
pub const DAEMON: &str = "assistantd";
/// Packages exempt from the rules (they test everything).
pub const EXEMPT: [&str; 1] = ["assistant-tests"];

/// External crates only the named workspace crates may depend on directly:
/// the LLM stage speaks HTTP to model servers, the model store downloads
/// model files; nothing else touches the network.
pub const OWNED: [(&str, &[&str]); 8] = [
    ("sherpa-onnx", &["assistant-asr"]),
    ("ort", &["assistant-tts"]),
    ("llama-cpp-2", &["assistant-llm"]),
    ("reqwest", &["assistant-llm", "assistant-models"]),
    ("hyper", &["assistant-llm", "assistant-models"]),
    ("ureq", &["assistant-llm", "assistant-models"]),
    ("cpal", &["assistant-audio"]),
    ("rodio", &["assistant-audio"]),
];

/// A workspace package and its direct dependencies (any kind: normal, dev,
/// build), less dev-dependencies on the [`EXEMPT`] test crates.
pub type Graph = BTreeMap<String, Vec<String>>;

/// The workspace's packages and their direct dependencies, from `cargo metadata`.
///
/// # Errors
/// If `cargo metadata` fails.
pub fn workspace_graph(manifest: &std::path::Path) -> Result<Graph, cargo_metadata::Error> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()?;
    Ok(metadata
        .workspace_packages()
        .into_iter()
        .map(|p| {
            (
                p.name.to_string(),
                p.dependencies
                    .iter()
                    .filter(|d| {
                        !(d.kind == cargo_metadata::DependencyKind::Development && EXEMPT.contains(&d.name.as_str()))
                    })
                    .map(|d| d.name.clone())
                    .collect(),
            )
        })
        .collect())
}

/// Every broken rule, as a sentence naming the crates and the fix.
#[must_use]
pub fn violations(graph: &Graph) -> Vec<String> {
    let members: Vec<&str> = graph.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    for (package, deps) in graph {
        let package = package.as_str();
        if EXEMPT.contains(&package) {
            continue;
        }
        let internal = deps.iter().map(String::as_str).filter(|d| members.contains(d));
        for dep in internal {
            let allowed = match package {
                CORE => false,
                p if STAGES.contains(&p) || SERVICES.contains(&p) => dep == CORE,
                PIPELINE => dep == CORE || STAGES.contains(&dep) || SERVICES.contains(&dep),
                DAEMON => true,
                _ => false,
            };
            if !allowed {
                out.push(format!(
                    "{package} depends on {dep}: {}",
                    if package == CORE {
                        "the vocabulary crate must depend on no workspace crate".to_owned()
                    } else if STAGES.contains(&package) || SERVICES.contains(&package) {
                        format!("stage crates meet only through {CORE}; move the shared type there and let {DAEMON} wire them")
                    } else if package == PIPELINE {
                        format!("the pipeline wires stages; only {DAEMON} (the CLI) sits above it")
                    } else {
                        format!("{package} is not a known crate; add it to tests/architecture.rs and ARCHITECTURE.md")
                    }
                ));
            }
        }
        for (external, owners) in OWNED {
            if !owners.contains(&package) && deps.iter().any(|d| d == external) {
                out.push(format!(
                    "{package} depends on {external}: only {} may use it",
                    owners.join(" and ")
                ));
            }
        }
    }
    for expected in STAGES.iter().chain(SERVICES.iter()).chain([&CORE, &PIPELINE, &DAEMON]) {
        if !graph.contains_key(*expected) {
            out.push(format!(
                "{expected} is not a workspace member but ARCHITECTURE.md names it"
            ));
        }
    }
    for package in graph.keys() {
        let name = package.as_str();
        let known = [&STAGES[..], &SERVICES[..], &[CORE, PIPELINE, DAEMON], &EXEMPT[..]]
            .iter()
            .any(|set| set.contains(&name));
        if !known {
            out.push(format!(
                "{package} is not in the code map; add it to tests/architecture.rs and ARCHITECTURE.md"
            ));
        }
    }
    out
}
