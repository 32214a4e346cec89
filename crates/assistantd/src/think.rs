//! Choosing what thinks, once, at start-up: the profile's model server,
//! the embedded model, or (`backend = "auto"`) the server if it answers and
//! the embedded model otherwise.
//!
//! `auto` exists so that a newcomer without Ollama still gets an assistant
//! that talks, and a user whose server is down is not left with silence.
//! The probe is one quick request (no retries): Ollama's `GET /api/version`
//! at `[llm] url`; a server that answers it with 404 is asked the
//! OpenAI-compatible `GET /v1/models` instead, so `auto` finds llama-server
//! or LM Studio at the same URL. Whatever it picks is said in one log line,
//! with the reason.

use std::time::Duration;

use anyhow::{Result, bail};
use assistant_llm::{Backend, Client, LlmError, ServerConfig};

use crate::profile::ThinkConfig;

/// The probe's limits: a local server answers in milliseconds.
const PROBE_CONNECT: Duration = Duration::from_secs(1);
const PROBE_ANSWER: Duration = Duration::from_secs(3);

/// What was chosen, and why (the log line's text).
#[derive(Debug)]
pub struct Chosen {
    /// The client to use.
    pub client: Client,
    /// "the Ollama server at … answers and has model 'llama3.2'", or "the
    /// Ollama server at … does not answer (connection refused): using the
    /// embedded model llm/…".
    pub why: String,
}

/// The thinking stage's client for `think`, probing the server first
/// when the backend is `auto`. Logs the choice (and the embedded model's
/// note: a base model, a first choice not installed) in one line each.
///
/// # Errors
/// If the client cannot be made, or `auto` finds neither a server nor an
/// installed embedded model.
pub async fn connect(think: &ThinkConfig) -> Result<Chosen> {
    let Some(fallback) = &think.fallback else {
        let client = Client::new(think.server.clone())?;
        if think.server.backend == Backend::Embedded
            && let Some(note) = &think.embedded_note
        {
            tracing::warn!("llm: {note}");
        }
        let why = format!("{} (the profile's backend)", client.endpoint());
        return Ok(Chosen { client, why });
    };
    match probe(&think.server).await {
        Ok((server, answer)) => {
            let why = format!("backend auto: {answer}; using it");
            tracing::info!("llm: {why}");
            Ok(Chosen {
                client: Client::new(server)?,
                why,
            })
        }
        Err(reason) => {
            let embedded = match fallback {
                Ok(embedded) => embedded,
                Err(none) => bail!(
                    "backend auto: the model server {reason}, and there is no embedded model to use instead: {none}"
                ),
            };
            let client = Client::new(embedded.clone())?;
            let why = format!(
                "backend auto: the model server {reason}; using the embedded model {}",
                embedded.model
            );
            tracing::warn!("llm: {why}");
            if let Some(note) = &think.embedded_note {
                tracing::warn!("llm: {note}");
            }
            Ok(Chosen { client, why })
        }
    }
}

/// Whether a server answers at `server.url` and has the model: the
/// configuration to use (Ollama's, or the OpenAI-compatible one) and what
/// it answered; else why not, worded to follow "the model server".
async fn probe(server: &ServerConfig) -> Result<(ServerConfig, String), String> {
    let mut quick = server.clone();
    quick.retry.attempts = 1;
    quick.timeouts.connect = quick.timeouts.connect.min(PROBE_CONNECT);
    quick.timeouts.first_token = quick.timeouts.first_token.min(PROBE_ANSWER);
    let at = |config: &ServerConfig| config.url.clone();
    let ollama = Client::new(quick.clone()).map_err(|e| e.to_string())?;
    let chosen = match ollama.version().await {
        Ok(_) => quick,
        Err(LlmError::Http { status: 404, .. }) => {
            let mut openai = quick.clone();
            openai.backend = Backend::OpenAi;
            let client = Client::new(openai.clone()).map_err(|e| e.to_string())?;
            match client.list_models().await {
                Ok(_) | Err(LlmError::Http { status: 404, .. }) => openai,
                Err(e) => {
                    return Err(format!(
                        "at {} answers neither Ollama's API nor the OpenAI-compatible one ({})",
                        at(&openai),
                        short(&e)
                    ));
                }
            }
        }
        Err(e) => return Err(format!("at {} does not answer ({})", at(&quick), short(&e))),
    };
    let client = Client::new(chosen.clone()).map_err(|e| e.to_string())?;
    match client.check_model().await {
        Ok(()) => {
            let mut config = server.clone();
            config.backend = chosen.backend;
            Ok((
                config,
                format!("{} answers and has model '{}'", client.endpoint(), chosen.model),
            ))
        }
        Err(e @ LlmError::ModelNotFound { .. }) => Err(format!("at {} answers but {e}", at(&chosen))),
        Err(e) => Err(format!("at {} does not answer ({})", at(&chosen), short(&e))),
    }
}

/// The heart of an error, for a one-line reason.
fn short(error: &LlmError) -> String {
    match error {
        LlmError::Connect { reason, .. } => reason.clone(),
        LlmError::ConnectTimeout { after, .. } => format!("no connection within {} ms", after.as_millis()),
        LlmError::RequestTimeout { after, .. } => format!("no answer within {} ms", after.as_millis()),
        other => other.to_string(),
    }
}
