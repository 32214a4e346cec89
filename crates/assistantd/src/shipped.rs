//! The files assistantd ships, compiled into the binary: `models.lock`, the
//! profiles of `configs/` and the voices of `voices/`.
//!
//! So the binary works wherever it is installed (`cargo install --path
//! crates/assistantd`, a package), not only in its checkout. A user's own
//! files override these: a profile or voice of the same name in
//! `$XDG_CONFIG_HOME/assistantd/` (`~/.config/assistantd/`), a lock file
//! given by `--lock` or `ASSISTANTD_MODELS_LOCK`. Messages about a built-in
//! file name it as `built-in:<path in the repository>`.

use std::path::PathBuf;

/// `models.lock` at build time.
pub const MODELS_LOCK: &str = include_str!("../../../models.lock");

/// The shipped profiles, by name.
pub const PROFILES: &[(&str, &str)] = &[("jarvis", include_str!("../../../configs/jarvis.toml"))];

/// The shipped voices' metadata, by name.
pub const VOICES: &[(&str, &str)] = &[
    (
        "en_GB-alan-medium",
        include_str!("../../../voices/en_GB-alan-medium.toml"),
    ),
    (
        "en_US-amy-medium",
        include_str!("../../../voices/en_US-amy-medium.toml"),
    ),
    (
        "en_US-joe-medium",
        include_str!("../../../voices/en_US-joe-medium.toml"),
    ),
    (
        "en_US-lessac-medium",
        include_str!("../../../voices/en_US-lessac-medium.toml"),
    ),
];

/// How a built-in file is named in messages: `built-in:<repository path>`.
#[must_use]
pub fn path(repository_path: &str) -> PathBuf {
    PathBuf::from(format!("built-in:{repository_path}"))
}

/// The user's configuration folder: `$XDG_CONFIG_HOME/assistantd`, else
/// `~/.config/assistantd`.
#[must_use]
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("assistantd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_is_compiled_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let on_disk = |dir: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
                .expect("the folder")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect();
            names.sort();
            names
        };
        let names = |list: &[(&str, &str)]| -> Vec<String> { list.iter().map(|(n, _)| (*n).to_owned()).collect() };
        assert_eq!(names(PROFILES), on_disk("configs"), "configs/*.toml and PROFILES");
        assert_eq!(names(VOICES), on_disk("voices"), "voices/*.toml and VOICES");
        for (dir, list) in [("configs", PROFILES), ("voices", VOICES)] {
            for (name, text) in list {
                assert_eq!(
                    std::fs::read_to_string(root.join(format!("{dir}/{name}.toml"))).expect("on disk"),
                    *text,
                    "{dir}/{name}.toml"
                );
            }
        }
        assert_eq!(
            std::fs::read_to_string(root.join("models.lock")).expect("on disk"),
            MODELS_LOCK
        );
    }
}
