//! `assistantd ask "question"`: one question to the configured model server
//! (or the embedded model), the reply streamed to stdout token by token.
//!
//! It is the thinking stage alone, exactly as the daemon drives it (the
//! profile's `[llm]`: server, model, system prompt, options, timeouts), so
//! it is the quickest way to check a setup: a server that is down, a model
//! that is not pulled or a wrong URL fails here with the same message the
//! daemon would log. `--json` prints one line per token with its arrival
//! time, then a summary with the time to first token and the server's own
//! figures.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use assistant_core::{Clock, TurnId};
use assistant_llm::{Client, Conversation, Finish};
use serde_json::json;

use crate::models::LocationArgs;
use crate::profile::{BackendName, LlmOverrides, Profile};

/// The command line of `assistantd ask`.
#[derive(Clone, Debug, clap::Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// The profile whose `[llm]` settings to use (a name in configs/ or a path).
    #[arg(long, default_value = "jarvis")]
    pub profile: String,
    /// Ollama's API, any OpenAI-compatible server, the embedded model
    /// (llama.cpp in this process), or auto (the server if it answers,
    /// else the embedded model).
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
    /// The server's base URL (default: the profile's, else the backend's usual local address).
    #[arg(long = "llm-url")]
    pub url: Option<String>,
    /// The model (default: the profile's): the server's name for it, or
    /// with `--backend embedded` a models.lock name (llm/…) or a .gguf file.
    #[arg(long, value_name = "NAME|PATH.gguf")]
    pub model: Option<String>,
    /// A system prompt instead of the profile's.
    #[arg(long)]
    pub system: Option<String>,
    /// The longest reply, in tokens, instead of the profile's
    /// `[llm.options] max_tokens`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Load the model first (as the daemon does at start-up) and report how
    /// long that took, so the reply's first-token time excludes the load.
    #[arg(long)]
    pub warm_up: bool,
    /// One JSON object per token (text and arrival time), then a summary.
    #[arg(long)]
    pub json: bool,
    /// Where models.lock and the installed models are (the embedded model).
    #[command(flatten)]
    pub models: LocationArgs,
}

/// What `ask` measured.
#[derive(Debug)]
pub struct Asked {
    /// How the reply ended.
    pub finish: Finish,
    /// The server that answered: "the Ollama server at http://…".
    pub server: String,
    /// With `--warm-up`: how long loading the model took.
    pub warm_up: Option<Duration>,
    /// The embedded model's load figures, when it answered.
    pub model_info: Option<assistant_llm::ModelInfo>,
}

/// Asks, streaming the reply (or JSON lines) into `out`.
///
/// # Errors
/// If the profile is invalid or the server fails in any way; the message
/// says how to fix it.
pub fn run(args: &AskArgs, out: &mut impl Write) -> Result<Asked> {
    let profile = Profile::load(&args.profile)?;
    let (lock, store) = args.models.resolve()?.open()?;
    let mut think = profile.think_config(
        &LlmOverrides {
            backend: args.backend,
            url: args.url.clone(),
            model: args.model.clone(),
            system_prompt: args.system.clone(),
            scripted: None,
        },
        &lock,
        &store,
    )?;
    if let Some(max) = args.max_tokens {
        think.server.options.max_tokens = Some(max);
        if let Some(Ok(fallback)) = think.fallback.as_mut() {
            fallback.options.max_tokens = Some(max);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client: Client = runtime.block_on(crate::think::connect(&think))?.client;
    let mut conversation = Conversation::new(think.system_prompt, think.history_chars);
    conversation.push_user(args.question.clone());
    let clock = Clock::start();
    let warm_up = if args.warm_up {
        let took = runtime.block_on(client.warm_up())?;
        if args.json {
            let info = client.model_info();
            writeln!(
                out,
                "{}",
                json!({
                    "event": "warm_up",
                    "ms": ms(took),
                    "resident_bytes": info.as_ref().and_then(|i| i.resident),
                    "file_bytes": info.as_ref().map(|i| i.file_size),
                    "context": info.as_ref().map(|i| i.context),
                })
            )?;
        }
        Some(took)
    } else {
        None
    };
    let finish = runtime.block_on(async {
        let asked = clock.now();
        let mut reply = client.chat(TurnId(1), &conversation.messages(), &clock).await?;
        while let Some(token) = reply.next().await {
            let token = token?;
            if args.json {
                let at = token.at.checked_since(asked).unwrap_or_default();
                writeln!(
                    out,
                    "{}",
                    json!({ "event": "token", "text": token.text, "at_ms": ms(at) })
                )?;
            } else {
                write!(out, "{}", token.text)?;
            }
            out.flush()?;
        }
        let finish = reply.finish().cloned().context("the reply ended without a finish")?;
        anyhow::Ok(finish)
    })?;
    if args.json {
        let server_stats = &finish.server;
        writeln!(
            out,
            "{}",
            json!({
                "event": "done",
                "reason": finish.reason,
                "tokens": finish.tokens,
                "first_token_ms": finish.time_to_first_token.map(ms),
                "elapsed_ms": ms(finish.elapsed),
                "prompt_tokens": server_stats.prompt_tokens,
                "completion_tokens": server_stats.completion_tokens,
                "server_load_ms": server_stats.load.map(ms),
                "server_prompt_eval_ms": server_stats.prompt_eval.map(ms),
                "server_eval_ms": server_stats.eval.map(ms),
                "prompt_evaluated": server_stats.prompt_evaluated,
                "prompt_cached": server_stats.prompt_cached,
            })
        )?;
    } else {
        writeln!(out)?;
    }
    Ok(Asked {
        finish,
        server: client.endpoint().to_string(),
        warm_up,
        model_info: client.model_info(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
