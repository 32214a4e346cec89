//! `[llm]`, `[llm.options]` and `[llm.embedded]`: the model server or the
//! embedded model, the conversation and generation settings. The schema
//! and its checks (run when the profile is parsed), the command-line
//! overrides ([`LlmOverrides`]) and their resolution into the thinking
//! stage's [`ThinkConfig`] ([`Profile::think_config`]: the backend's
//! default URL, the API key read from its variable, timeouts, retries and
//! options, the embedded model found in the store and verified), together.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use assistant_models::{Lock, Store};
use serde::Deserialize;

use super::Profile;

/// `[llm]`: the model server and the conversation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSection {
    /// `"ollama"` (`/api/chat`), `"openai"` (any OpenAI-compatible server),
    /// `"embedded"` (`[llm.embedded]`, in this process) or `"auto"` (the
    /// server when it answers, else the embedded model).
    pub backend: BackendName,
    /// The server's base URL; default: Ollama's or llama.cpp's usual local address.
    pub url: Option<String>,
    /// The model name.
    pub model: Option<String>,
    /// The environment variable holding the API key (sent as a Bearer token).
    pub api_key_env: Option<String>,
    /// The API key itself, for servers whose key is no secret (LM Studio's
    /// "lm-studio"); prefer `api_key_env` for real ones.
    pub api_key: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// History kept for context, in characters (oldest exchanges dropped first).
    pub history_chars: usize,
    /// Ollama's `keep_alive`: how long the model stays loaded ("30m", "-1" = forever).
    pub keep_alive: Option<String>,
    /// Load the model when the daemon starts.
    pub warm_up: bool,
    /// Seconds to establish the connection.
    pub connect_timeout_s: f32,
    /// Seconds from the request to the first token.
    pub first_token_timeout_s: f32,
    /// Seconds allowed between two tokens.
    pub idle_timeout_s: f32,
    /// Seconds the warm-up (model load) may take.
    pub warm_up_timeout_s: f32,
    /// Tries for a request whose connection fails before the reply begins.
    pub connect_attempts: u32,
    /// Spoken when the server cannot be reached or fails mid-reply; `""`
    /// says nothing (the log always says what went wrong).
    pub failure_notice: String,
    /// Generation settings.
    pub options: LlmOptions,
    /// The in-process model.
    pub embedded: EmbeddedSection,
}

/// `[llm.embedded]`: the GGUF model run in this process.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedSection {
    /// models.lock names (`llm/…`) or paths to `.gguf` files (relative to
    /// the profile), in order of preference: the first installed is used.
    pub models: Vec<String>,
    /// A llama.cpp built-in chat template for a GGUF that has none.
    pub chat_template: Option<String>,
    /// Threads; 0: one per core.
    pub threads: u32,
    /// Prompt tokens per llama.cpp call (`n_batch`).
    pub batch: u32,
}

impl Default for EmbeddedSection {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            chat_template: None,
            threads: 0,
            batch: 512,
        }
    }
}

/// `backend` in `[llm]`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// Ollama's own API.
    #[default]
    Ollama,
    /// The OpenAI-compatible API (llama.cpp, LM Studio, vLLM, …).
    Openai,
    /// The GGUF model of `[llm.embedded]`, run in this process by llama.cpp.
    Embedded,
    /// The configured server when it answers, otherwise the embedded model.
    Auto,
}

/// `[llm.options]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmOptions {
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Longest reply, in tokens.
    pub max_tokens: Option<u32>,
    /// Context window, in tokens (Ollama and the embedded model).
    pub num_ctx: Option<u32>,
    /// Strings that end the reply.
    pub stop: Vec<String>,
}

impl LlmOptions {
    /// The same settings as the thinking stage takes them.
    fn generation(&self) -> assistant_llm::GenerationOptions {
        assistant_llm::GenerationOptions {
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            max_tokens: self.max_tokens,
            num_ctx: self.num_ctx,
            stop: self.stop.clone(),
        }
    }
}

impl Default for LlmSection {
    fn default() -> Self {
        Self {
            backend: BackendName::Ollama,
            url: None,
            model: None,
            api_key_env: None,
            api_key: None,
            system_prompt: None,
            history_chars: 8_000,
            keep_alive: Some("30m".into()),
            warm_up: true,
            connect_timeout_s: 2.0,
            first_token_timeout_s: 10.0,
            idle_timeout_s: 10.0,
            warm_up_timeout_s: 120.0,
            connect_attempts: 3,
            failure_notice: "Sorry, I cannot reach the language model right now.".into(),
            options: LlmOptions::default(),
            embedded: EmbeddedSection::default(),
        }
    }
}

impl LlmSection {
    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        let file = path.display();
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("first_token_timeout_s", self.first_token_timeout_s),
            ("idle_timeout_s", self.idle_timeout_s),
            ("warm_up_timeout_s", self.warm_up_timeout_s),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= 3600.0) {
                bail!("{file}: llm.{name} = {value} must be a number of seconds above 0 (at most 3600)");
            }
        }
        if let Some(t) = self
            .options
            .temperature
            .filter(|t| !(t.is_finite() && (0.0..=5.0).contains(t)))
        {
            bail!("{file}: llm.options.temperature = {t} must be between 0 and 5");
        }
        if let Some(p) = self.options.top_p.filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 1.0)) {
            bail!("{file}: llm.options.top_p = {p} must be above 0 and at most 1");
        }
        if self.options.max_tokens == Some(0) {
            bail!("{file}: llm.options.max_tokens must be at least 1 (leave it out for the server's default)");
        }
        if self.api_key.is_some() && self.api_key_env.is_some() {
            bail!("{file}: llm.api_key and llm.api_key_env are both set; keep one (api_key_env for a real secret)");
        }
        if self.history_chars == 0 {
            bail!("{file}: llm.history_chars must be at least 1 (the question itself is always sent)");
        }
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("{file}: llm.url = {url:?} must start with http:// or https://");
        }
        if self.options.num_ctx == Some(0) {
            bail!("{file}: llm.options.num_ctx must be at least 1 token (leave it out for the default)");
        }
        if self.embedded.batch == 0 {
            bail!("{file}: llm.embedded.batch must be at least 1 token (512 is llama.cpp's default)");
        }
        if matches!(self.backend, BackendName::Embedded | BackendName::Auto) && self.embedded.models.is_empty() {
            bail!(
                "{file}: llm.backend = \"{}\" needs [llm.embedded] models, e.g. models = [\"llm/qwen2.5-0.5b-instruct-q4_k_m\"]",
                if self.backend == BackendName::Auto {
                    "auto"
                } else {
                    "embedded"
                }
            );
        }
        Ok(())
    }
}

/// Command-line overrides of a profile's `[llm]`.
#[derive(Clone, Debug, Default)]
pub struct LlmOverrides {
    /// The protocol.
    pub backend: Option<BackendName>,
    /// The server's base URL.
    pub url: Option<String>,
    /// The model: the server's name for it, or (embedded) a models.lock
    /// name or a `.gguf` path in place of `[llm.embedded] models`.
    pub model: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// A scripted responder instead of the profile's server (`--llm
    /// scripted:TEXT`): the same reply every turn, at a set pace, for
    /// measuring the other stages anywhere.
    pub scripted: Option<assistant_llm::Script>,
}

/// Everything the thinking stage needs, resolved.
#[derive(Debug)]
pub struct ThinkConfig {
    /// The server, protocol, model, timeouts and options (for the embedded
    /// backend: the GGUF and its settings).
    pub server: assistant_llm::ServerConfig,
    /// `backend = "auto"`: the embedded model to use when the server does
    /// not answer, or why there is none; `None` for the other backends.
    pub fallback: Option<Result<assistant_llm::ServerConfig, String>>,
    /// Said in one line when the embedded model is used: that the
    /// profile's first choice is not installed, or that the model is a
    /// base model (its GGUF has no chat template).
    pub embedded_note: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// The history budget, in characters.
    pub history_chars: usize,
    /// Whether to load the model at start-up.
    pub warm_up: bool,
    /// Spoken when a reply fails; `None` for silence.
    pub failure_notice: Option<String>,
}

impl Profile {
    /// The thinking stage's configuration: `[llm]` with `overrides` on top,
    /// the API key read from the variable `api_key_env` names, and for the
    /// embedded backend (or `auto`'s fallback) the first installed model
    /// of `[llm.embedded] models` found in `store` and verified.
    ///
    /// # Errors
    /// If no model is named, `api_key_env` names an unset variable, or the
    /// embedded backend has no installed model.
    pub fn think_config(&self, overrides: &LlmOverrides, lock: &Lock, store: &Store) -> Result<ThinkConfig> {
        use assistant_llm::ServerConfig;
        let section = self.llm.clone().unwrap_or_default();
        let failure_notice = Some(section.failure_notice.trim().to_owned()).filter(|n| !n.is_empty());
        let system_prompt = overrides
            .system_prompt
            .clone()
            .or_else(|| section.system_prompt.clone());
        if let Some(script) = &overrides.scripted {
            return Ok(ThinkConfig {
                server: ServerConfig::scripted(script.clone()),
                fallback: None,
                embedded_note: None,
                system_prompt,
                history_chars: section.history_chars,
                warm_up: section.warm_up,
                failure_notice,
            });
        }
        let backend_name = overrides.backend.unwrap_or(section.backend);
        let (server, fallback, embedded_note) = match backend_name {
            BackendName::Embedded => {
                let (server, note) = self.embedded_config(&section, overrides.model.as_deref(), lock, store)?;
                (server, None, note)
            }
            BackendName::Ollama | BackendName::Openai => {
                (self.server_config(&section, overrides, backend_name)?, None, None)
            }
            BackendName::Auto => {
                let server = self.server_config(&section, overrides, BackendName::Ollama)?;
                match self.embedded_config(&section, None, lock, store) {
                    Ok((embedded, note)) => (server, Some(Ok(embedded)), note),
                    Err(e) => (server, Some(Err(format!("{e:#}"))), None),
                }
            }
        };
        Ok(ThinkConfig {
            server,
            fallback,
            embedded_note,
            system_prompt,
            history_chars: section.history_chars,
            warm_up: section.warm_up,
            failure_notice,
        })
    }

    /// The model server's configuration. For `auto` it is Ollama's
    /// protocol; the start-up probe (`crate::think::connect`) switches to
    /// the OpenAI-compatible one if the server there speaks that instead.
    fn server_config(
        &self,
        section: &LlmSection,
        overrides: &LlmOverrides,
        backend_name: BackendName,
    ) -> Result<assistant_llm::ServerConfig> {
        use assistant_llm::{Backend, Retry, ServerConfig, Timeouts};
        let file = self.path.display();
        let url = overrides.url.clone().or_else(|| {
            if overrides.backend.is_some_and(|b| b != section.backend) {
                None
            } else {
                section.url.clone()
            }
        });
        let backend = match backend_name {
            BackendName::Openai => Backend::OpenAi,
            BackendName::Auto | BackendName::Ollama | BackendName::Embedded => Backend::Ollama,
        };
        let url = url.unwrap_or_else(|| match backend {
            Backend::Ollama => "http://127.0.0.1:11434".into(),
            _ => "http://127.0.0.1:8080".into(),
        });
        let Some(model) = overrides.model.clone().or_else(|| section.model.clone()) else {
            bail!("no model to ask: set [llm] model in {file}, or pass --model NAME");
        };
        let api_key = match &section.api_key_env {
            None => section.api_key.clone(),
            Some(var) => Some(std::env::var(var).map_err(|_| {
                anyhow::anyhow!("{file}: llm.api_key_env names the environment variable {var}, which is not set; export {var}=<your key>, or remove api_key_env")
            })?),
        };
        let secs = |s: f32| std::time::Duration::from_secs_f32(s);
        let mut server = ServerConfig::new(backend, url, model);
        server.api_key = api_key;
        server.timeouts = Timeouts {
            connect: secs(section.connect_timeout_s),
            first_token: secs(section.first_token_timeout_s),
            idle: secs(section.idle_timeout_s),
            warm_up: secs(section.warm_up_timeout_s),
        };
        server.retry = Retry {
            attempts: section.connect_attempts,
            ..Retry::default()
        };
        server.keep_alive = section.keep_alive.clone();
        server.options = section.options.generation();
        Ok(server)
    }

    /// The embedded backend's configuration: the first installed of
    /// `[llm.embedded] models` (or `model`, from the command line), and
    /// the note to say when it is used (a first choice not installed, a
    /// base model).
    fn embedded_config(
        &self,
        section: &LlmSection,
        model: Option<&str>,
        lock: &Lock,
        store: &Store,
    ) -> Result<(assistant_llm::ServerConfig, Option<String>)> {
        use assistant_llm::{EmbeddedConfig, ServerConfig};
        let file = self.path.display();
        let wanted: Vec<String> = match model {
            Some(m) => vec![m.to_owned()],
            None => section.embedded.models.clone(),
        };
        if wanted.is_empty() {
            bail!(
                "no embedded model: set [llm.embedded] models in {file} (e.g. [\"llm/qwen2.5-0.5b-instruct-q4_k_m\"]), or pass --model NAME|FILE.gguf"
            );
        }
        let base = self.path.parent().unwrap_or(Path::new("."));
        let mut skipped = Vec::new();
        let mut chosen: Option<(String, PathBuf)> = None;
        for name in &wanted {
            if lock.get(name).is_ok() {
                match store.resolve(lock, name) {
                    Ok(path) => {
                        chosen = Some((name.clone(), path));
                        break;
                    }
                    Err(assistant_models::ModelsError::NotInstalled { .. }) => skipped.push(name.clone()),
                    Err(e) => return Err(e.into()),
                }
            } else if name.ends_with(".gguf") || Path::new(name).is_file() {
                let path = base.join(name);
                if path.is_file() || model.is_some() {
                    chosen = Some((name.clone(), path));
                    break;
                }
                skipped.push(name.clone());
            } else {
                let llms: Vec<&str> = lock
                    .models
                    .iter()
                    .filter(|m| m.name.starts_with("llm/"))
                    .map(|m| m.name.as_str())
                    .collect();
                bail!(
                    "{file}: the embedded model {name:?} is neither in models.lock ({}) nor a .gguf file",
                    llms.join(", ")
                );
            }
        }
        let Some((name, path)) = chosen else {
            bail!(
                "none of the embedded models of {file} is installed ({}); install one with `assistantd models fetch {}`",
                skipped.join(", "),
                skipped.first().map_or("NAME", String::as_str)
            );
        };
        let mut settings = EmbeddedConfig::new(&path);
        // A models.lock name names it; a file is named by its file name.
        if lock.get(&name).is_ok() {
            settings.name = name.clone();
        }
        let name = settings.name.clone();
        settings.chat_template = section.embedded.chat_template.clone();
        settings.threads = Some(section.embedded.threads).filter(|&n| n > 0);
        settings.batch = section.embedded.batch;
        let mut server = ServerConfig::embedded(settings);
        server.options = section.options.generation();
        let base_model = assistant_llm::gguf::Gguf::read(&path)
            .ok()
            .is_some_and(|gguf| gguf.chat_template().is_none());
        let note = match (base_model, skipped.first()) {
            (true, Some(first)) => Some(format!(
                "using the embedded model {name}, a base model (its GGUF has no chat template: it continues text rather than following instructions), because {first} is not installed; install it with `assistantd models fetch {first}`"
            )),
            (true, None) => Some(format!(
                "the embedded model {name} is a base model (its GGUF has no chat template): it continues text rather than following instructions; for real use install an instruct model such as llm/qwen2.5-0.5b-instruct-q4_k_m (`assistantd models fetch llm/qwen2.5-0.5b-instruct-q4_k_m`)"
            )),
            (false, Some(first)) => Some(format!(
                "using the embedded model {name}, because {first} is not installed; install it with `assistantd models fetch {first}`"
            )),
            (false, None) => None,
        };
        Ok((server, note))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Profile;
    use super::super::tests::assert_refused;
    use super::{BackendName, LlmOverrides, ThinkConfig};

    /// Resolves with the shipped models.lock and an empty store.
    fn resolve(profile: &Profile, overrides: &LlmOverrides) -> anyhow::Result<ThinkConfig> {
        let lock = assistant_models::Lock::parse(crate::shipped::MODELS_LOCK, Path::new("models.lock"))?;
        let empty = tempfile::tempdir()?;
        profile.think_config(overrides, &lock, &assistant_models::Store::new(empty.path()))
    }

    #[test]
    fn llm_settings_resolve_with_overrides_and_are_checked() {
        let text = "[asr]\ntransducer = \"t\"\n[llm]\nbackend = \"openai\"\nurl = \"http://127.0.0.1:9999\"\nmodel = \"m\"\nfirst_token_timeout_s = 3\n[llm.options]\ntemperature = 0.2\nmax_tokens = 64\nstop = [\"\\n\\n\"]\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("an [llm] section");
        let think = resolve(&profile, &LlmOverrides::default()).expect("resolves");
        assert_eq!(think.server.backend, assistant_llm::Backend::OpenAi);
        assert_eq!(think.server.url, "http://127.0.0.1:9999");
        assert_eq!(think.server.model, "m");
        assert_eq!(think.server.timeouts.first_token, std::time::Duration::from_secs(3));
        assert_eq!(think.server.options.max_tokens, Some(64));
        assert_eq!(think.server.options.stop, vec!["\n\n".to_owned()]);
        // Switching the backend on the command line drops the profile's URL
        // (it belongs to the other protocol) for that backend's default.
        let think = resolve(
            &profile,
            &LlmOverrides {
                backend: Some(BackendName::Ollama),
                model: Some("llama3.2".into()),
                ..LlmOverrides::default()
            },
        )
        .expect("resolves");
        assert_eq!(think.server.url, "http://127.0.0.1:11434");
        assert_eq!(think.server.model, "llama3.2");

        let bare = Profile::parse("[asr]\ntransducer = \"t\"\n", Path::new("bare.toml")).expect("no [llm]");
        let err = resolve(&bare, &LlmOverrides::default())
            .expect_err("no model")
            .to_string();
        assert!(
            err.contains("[llm] model in bare.toml") && err.contains("--model"),
            "{err}"
        );
        // A scripted responder needs no model or server, and keeps the
        // profile's prompt and notice.
        let script = assistant_llm::Script::parse("scripted(ttft=50ms):It is noon.").expect("a spec");
        let think = resolve(
            &bare,
            &LlmOverrides {
                scripted: Some(script.clone()),
                ..LlmOverrides::default()
            },
        )
        .expect("scripted resolves without a model");
        assert_eq!(think.server.backend, assistant_llm::Backend::Scripted);
        assert_eq!(think.server.script, Some(script));

        let text =
            "[asr]\ntransducer = \"t\"\n[llm]\nmodel = \"m\"\napi_key_env = \"ASSISTANTD_TEST_SURELY_UNSET_KEY\"\n";
        let literal = Profile::parse(
            "[asr]\ntransducer = \"t\"\n[llm]\nmodel = \"m\"\napi_key = \"lm-studio\"\n",
            Path::new("l.toml"),
        )
        .expect("parses");
        let think = resolve(&literal, &LlmOverrides::default()).expect("resolves");
        assert_eq!(think.server.api_key.as_deref(), Some("lm-studio"));
        let keyed = Profile::parse(text, Path::new("k.toml")).expect("parses");
        let err = resolve(&keyed, &LlmOverrides::default())
            .expect_err("unset")
            .to_string();
        assert!(
            err.contains("ASSISTANTD_TEST_SURELY_UNSET_KEY") && err.contains("not set"),
            "{err}"
        );

        assert_refused(
            "llm",
            "",
            &[
                ("idle_timeout_s = 0", "llm.idle_timeout_s = 0"),
                ("url = \"localhost:11434\"", "must start with http://"),
                ("[llm.options]\ntemperature = -1", "llm.options.temperature = -1"),
                ("backend = \"vllm\"", "unknown variant"),
                ("api_key = \"k\"\napi_key_env = \"K\"", "keep one"),
                ("backend = \"embedded\"", "needs [llm.embedded] models"),
                ("backend = \"auto\"", "needs [llm.embedded] models"),
                ("[llm.embedded]\nbatch = 0", "llm.embedded.batch must be at least 1"),
                ("[llm.options]\nnum_ctx = 0", "llm.options.num_ctx must be at least 1"),
            ],
        );
    }

    #[test]
    fn the_embedded_model_is_the_first_installed_of_the_list() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("mine.gguf"), b"GGUF").expect("written");
        let path = dir.path().join("p.toml");
        let text = "[asr]\ntransducer = \"t\"\n[llm]\nbackend = \"embedded\"\n[llm.options]\nnum_ctx = 1024\nmax_tokens = 50\n[llm.embedded]\nmodels = [\"llm/qwen2.5-0.5b-instruct-q4_k_m\", \"mine.gguf\"]\nchat_template = \"chatml\"\nthreads = 3\n";
        let profile = Profile::parse(text, &path).expect("parses");
        // Qwen is not installed in the empty store: the file next to the
        // profile is used, named by its file name, and that is said.
        let think = resolve(&profile, &LlmOverrides::default()).expect("resolves");
        assert_eq!(think.server.backend, assistant_llm::Backend::Embedded);
        assert!(think.fallback.is_none());
        let settings = think.server.embedded.as_ref().expect("embedded settings");
        assert_eq!(settings.model, dir.path().join("mine.gguf"));
        assert_eq!(settings.name, "mine.gguf");
        assert_eq!(settings.chat_template.as_deref(), Some("chatml"));
        assert_eq!(settings.threads, Some(3));
        assert_eq!(think.server.options.num_ctx, Some(1024));
        assert_eq!(think.server.options.max_tokens, Some(50));
        let note = think.embedded_note.expect("a note");
        assert!(
            note.contains("because llm/qwen2.5-0.5b-instruct-q4_k_m is not installed")
                && note.contains("assistantd models fetch llm/qwen2.5-0.5b-instruct-q4_k_m"),
            "{note}"
        );

        // Only missing models: the error names them and the fix.
        let only = Profile::parse(
            "[asr]\ntransducer = \"t\"\n[llm]\nbackend = \"embedded\"\n[llm.embedded]\nmodels = [\"llm/gemma-3-270m-q4_k_m\"]\n",
            &path,
        )
        .expect("parses");
        let err = format!(
            "{:#}",
            resolve(&only, &LlmOverrides::default()).expect_err("none installed")
        );
        assert!(
            err.contains("none of the embedded models")
                && err.contains("assistantd models fetch llm/gemma-3-270m-q4_k_m"),
            "{err}"
        );
        // A name that is neither pinned nor a file.
        let err = format!(
            "{:#}",
            resolve(
                &only,
                &LlmOverrides {
                    model: Some("llm/no-such-model".into()),
                    ..LlmOverrides::default()
                }
            )
            .expect_err("unknown")
        );
        assert!(
            err.contains("neither in models.lock") && err.contains("llm/gemma-3-270m-q4_k_m"),
            "{err}"
        );
        // `--model FILE.gguf` on the command line is taken as given (the
        // backend says if it is missing).
        let think = resolve(
            &only,
            &LlmOverrides {
                model: Some("/models/other.gguf".into()),
                ..LlmOverrides::default()
            },
        )
        .expect("a file from the command line");
        assert_eq!(
            think.server.embedded.map(|e| e.model),
            Some(std::path::PathBuf::from("/models/other.gguf"))
        );
    }
}
