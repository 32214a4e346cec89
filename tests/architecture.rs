//! The dependency rules of the workspace, checked against `cargo metadata`.
//!
//! - The vocabulary crate depends on no other workspace crate.
//! - A stage crate depends on no workspace crate but the vocabulary crate:
//!   stages meet only through its message types, wired by the daemon.
//! - Each native engine is owned by one crate: `sherpa-onnx` by the ASR
//!   stage, `ort` by the TTS stage; HTTP clients only by the LLM stage.
//!
//! Test-only crates (this one) are exempt.

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
/// The crate that wires stages together.
pub const DAEMON: &str = "assistantd";
/// Packages exempt from the rules (they test everything).
pub const EXEMPT: [&str; 1] = ["assistant-tests"];

/// External crates only one workspace crate may depend on directly.
pub const OWNED: [(&str, &str); 7] = [
    ("sherpa-onnx", "assistant-asr"),
    ("ort", "assistant-tts"),
    ("reqwest", "assistant-llm"),
    ("hyper", "assistant-llm"),
    ("ureq", "assistant-llm"),
    ("cpal", "assistant-audio"),
    ("rodio", "assistant-audio"),
];

/// A workspace package and its direct dependencies (any kind: normal, dev, build).
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
                p.dependencies.iter().map(|d| d.name.clone()).collect(),
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
                p if STAGES.contains(&p) => dep == CORE,
                DAEMON => true,
                _ => false,
            };
            if !allowed {
                out.push(format!(
                    "{package} depends on {dep}: {}",
                    if package == CORE {
                        "the vocabulary crate must depend on no workspace crate".to_owned()
                    } else if STAGES.contains(&package) {
                        format!("stage crates meet only through {CORE}; move the shared type there and let {DAEMON} wire them")
                    } else {
                        format!("{package} is not a known crate; add it to tests/architecture.rs and ARCHITECTURE.md")
                    }
                ));
            }
        }
        for (external, owner) in OWNED {
            if package != owner && deps.iter().any(|d| d == external) {
                out.push(format!("{package} depends on {external}: only {owner} may use it"));
            }
        }
    }
    for expected in STAGES.iter().chain([&CORE, &DAEMON]) {
        if !graph.contains_key(*expected) {
            out.push(format!(
                "{expected} is not a workspace member but ARCHITECTURE.md names it"
            ));
        }
    }
    for package in graph.keys() {
        let known = STAGES.contains(&package.as_str())
            || [CORE, DAEMON].contains(&package.as_str())
            || EXEMPT.contains(&package.as_str());
        if !known {
            out.push(format!(
                "{package} is not in the code map; add it to tests/architecture.rs and ARCHITECTURE.md"
            ));
        }
    }
    out
}
