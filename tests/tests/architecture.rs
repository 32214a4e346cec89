//! The architecture cannot rot silently: the crate graph, the code map in
//! ARCHITECTURE.md and the crate docs are checked here.

use assistant_tests::architecture::{self, Graph};
use assistant_tests::workspace_root;

fn graph() -> Graph {
    architecture::workspace_graph(&workspace_root().join("Cargo.toml")).expect("cargo metadata runs")
}

#[test]
fn the_workspace_keeps_the_dependency_rules() {
    let g = graph();
    assert!(g.len() >= 8, "expected every crate, got {:?}", g.keys());
    let broken = architecture::violations(&g);
    assert!(broken.is_empty(), "dependency rules broken:\n{}", broken.join("\n"));
}

#[test]
fn a_stage_importing_another_stage_is_caught() {
    let mut g = graph();
    g.get_mut("assistant-asr")
        .expect("asr crate")
        .push("assistant-tts".into());
    let broken = architecture::violations(&g);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0].starts_with("assistant-asr depends on assistant-tts"),
        "{broken:?}"
    );
}

#[test]
fn the_vocabulary_crate_importing_a_stage_is_caught() {
    let mut g = graph();
    g.get_mut("assistant-core")
        .expect("core crate")
        .push("assistant-trace".into());
    let broken = architecture::violations(&g);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("assistant-core depends on assistant-trace")),
        "{broken:?}"
    );
}

#[test]
fn engines_stay_with_their_owner_crate() {
    let mut g = graph();
    g.get_mut("assistant-trace").expect("trace crate").push("ort".into());
    g.get_mut("assistant-tts").expect("tts crate").push("reqwest".into());
    let broken = architecture::violations(&g);
    assert!(
        broken.contains(&"assistant-trace depends on ort: only assistant-tts may use it".to_owned()),
        "{broken:?}"
    );
    assert!(
        broken.contains(
            &"assistant-tts depends on reqwest: only assistant-llm and assistant-models may use it".to_owned()
        ),
        "{broken:?}"
    );
}

#[test]
fn the_pipeline_may_use_stages_but_no_stage_the_pipeline() {
    let mut g = graph();
    g.get_mut("assistant-pipeline")
        .expect("pipeline crate")
        .extend(["assistant-tts".into(), "assistant-models".into()]);
    assert!(architecture::violations(&g).is_empty(), "the pipeline wires stages");
    g.get_mut("assistant-tts")
        .expect("tts crate")
        .push("assistant-pipeline".into());
    g.get_mut("assistant-pipeline")
        .expect("pipeline crate")
        .push("assistantd".into());
    let broken = architecture::violations(&g);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("assistant-tts depends on assistant-pipeline"))
            && broken
                .iter()
                .any(|b| b.starts_with("assistant-pipeline depends on assistantd")),
        "{broken:?}"
    );
}

#[test]
fn the_model_store_may_not_reach_into_a_stage() {
    let mut g = graph();
    g.get_mut("assistant-models")
        .expect("models crate")
        .push("assistant-asr".into());
    let broken = architecture::violations(&g);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("assistant-models depends on assistant-asr")),
        "{broken:?}"
    );
}

#[test]
fn an_unmapped_crate_is_caught() {
    let mut g = graph();
    g.insert("assistant-extra".into(), vec![]);
    let broken = architecture::violations(&g);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("assistant-extra is not in the code map")),
        "{broken:?}"
    );
}

#[test]
fn architecture_md_maps_every_crate() {
    let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    for package in graph().keys() {
        assert!(
            doc.contains(&format!("`{package}`")),
            "ARCHITECTURE.md does not map `{package}`"
        );
    }
}

#[test]
fn every_crate_says_why_it_exists() {
    let root = workspace_root();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let lib = dir.join("src/lib.rs");
        let main = dir.join("src/main.rs");
        let file = if lib.is_file() { lib } else { main };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let docs = text.lines().take_while(|l| l.starts_with("//!")).count();
        assert!(
            docs >= 3,
            "{} needs a //! crate doc that says why the crate exists",
            file.display()
        );
    }
}
