//! The generating thread: the only code that calls llama.cpp, through
//! llama-cpp-2's safe API (no `unsafe` here).
//!
//! One thread per loaded model owns the model, its context (KV cache) and
//! a record of the tokens that cache holds. Requests are served one at a
//! time, in order; each is templated, tokenized, matched against the cache
//! (only the new tail is evaluated, in `n_batch` chunks), then sampled
//! token by token until an end-of-generation token, a stop sequence,
//! `max_tokens` or the end of the context — or until its reply is dropped.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assistant_core::{Clock, Token, TurnId};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use super::backend::Piece;
use super::text::{StopMatcher, Utf8Assembler};
use super::{EmbeddedConfig, ModelInfo, TemplateSource, requested_context};
use crate::error::Endpoint;
use crate::{GenerationOptions, LlmError, Message, Role, ServerStats};

/// Sampling defaults where `[llm.options]` says nothing: llama.cpp's own
/// (`llama-server`'s) defaults, so the two answer alike.
const DEFAULT_TEMPERATURE: f32 = 0.8;
const DEFAULT_TOP_P: f32 = 0.95;
const DEFAULT_TOP_K: i32 = 40;
const DEFAULT_MIN_P: f32 = 0.05;
/// llama.cpp's "pick a random seed".
const RANDOM_SEED: u32 = u32::MAX;
/// Room kept for the reply when fitting a prompt into the context, when
/// `max_tokens` is not set (and at most half the context).
const DEFAULT_REPLY_ROOM: u32 = 512;

/// One request for the thread.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) turn: TurnId,
    pub(crate) messages: Vec<Message>,
    pub(crate) options: GenerationOptions,
    pub(crate) clock: Clock,
    pub(crate) out: mpsc::Sender<Piece>,
}

/// A loaded model and the thread serving it. Dropping it ends the thread
/// once the request in hand is done (a reply keeps the engine alive, so
/// that is only ever a cancelled one).
#[derive(Debug)]
pub(crate) struct Engine {
    jobs: Option<std_mpsc::Sender<Job>>,
    info: ModelInfo,
    generated: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    server: Endpoint,
}

impl Engine {
    /// Checks the file, starts the thread and waits until it has loaded
    /// the model and created its context. Blocking: call it off the async
    /// runtime.
    pub(crate) fn start(
        settings: &EmbeddedConfig,
        options: &GenerationOptions,
        server: Endpoint,
    ) -> Result<Self, LlmError> {
        let architecture = check_file(&settings.model)?;
        let backend = backend().map_err(|reason| LlmError::Model {
            path: settings.model.clone(),
            reason,
        })?;
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
        let generated = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("llm-embedded".into())
            .spawn({
                let settings = settings.clone();
                let options = options.clone();
                let generated = Arc::clone(&generated);
                let server = server.clone();
                move || {
                    serve(
                        backend,
                        &settings,
                        &options,
                        architecture,
                        &server,
                        &ready_tx,
                        &jobs_rx,
                        &generated,
                    )
                }
            })
            .map_err(|e| LlmError::Model {
                path: settings.model.clone(),
                reason: format!("cannot start its thread ({e})"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(info)) => Ok(Self {
                jobs: Some(jobs_tx),
                info,
                generated,
                thread: Some(thread),
                server,
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(LlmError::Model {
                path: settings.model.clone(),
                reason: "the thread loading it stopped before it was loaded (llama.cpp failed; see the log)".into(),
            }),
        }
    }

    /// What loading found.
    pub(crate) fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Tokens generated (evaluated) so far, all requests together.
    pub(crate) fn generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }

    /// Queues a request.
    pub(crate) fn submit(&self, job: Job) -> Result<(), LlmError> {
        // A refused job comes back in the error: drop it, the reply is not made.
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        match sent {
            true => Ok(()),
            false => Err(LlmError::Disconnected {
                server: self.server.clone(),
                tokens: 0,
                reason: "the embedded model's thread has stopped".into(),
            }),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// llama.cpp's backend, initialized once per process (a second
/// `llama_backend_init` is refused), its logs sent to `tracing` under the
/// target `llama-cpp-2` rather than to stderr.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| format!("llama.cpp's backend did not start ({e})"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Before llama.cpp sees the file: that it is there, is a GGUF and is
/// whole. Returns its architecture, for messages.
fn check_file(path: &Path) -> Result<String, LlmError> {
    let model_error = |reason: String| LlmError::Model {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(model_error(
                "it is not a file; set [llm.embedded] model to a .gguf file".into(),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(model_error(
                "there is no such file; install it with `assistantd models fetch NAME` (`assistantd models list` shows the llm/ models), or set [llm.embedded] model to a .gguf file".into(),
            ));
        }
        Err(e) => return Err(model_error(format!("it cannot be read ({e})"))),
    }
    let gguf = crate::gguf::Gguf::read(path).map_err(|e| model_error(bad_file_reason(e)))?;
    gguf.check_complete().map_err(|e| model_error(bad_file_reason(e)))?;
    Ok(gguf.architecture().unwrap_or("unknown").to_owned())
}

/// The reason of a [`GgufError`](crate::gguf::GgufError) without the path
/// the caller's message already names.
fn bad_file_reason(error: crate::gguf::GgufError) -> String {
    match error {
        crate::gguf::GgufError::BadFile { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// The thread's body: load, report, serve until the queue closes.
#[allow(clippy::too_many_arguments)]
fn serve(
    backend: &'static LlamaBackend,
    settings: &EmbeddedConfig,
    options: &GenerationOptions,
    architecture: String,
    server: &Endpoint,
    ready: &std_mpsc::Sender<Result<ModelInfo, LlmError>>,
    jobs: &std_mpsc::Receiver<Job>,
    generated: &AtomicU64,
) {
    let started = Instant::now();
    let resident_before = resident_bytes();
    let model_error = |reason: String| LlmError::Model {
        path: settings.model.clone(),
        reason,
    };
    let model = match LlamaModel::load_from_file(backend, &settings.model, &LlamaModelParams::default()) {
        Ok(model) => model,
        Err(e) => {
            let _ = ready.send(Err(model_error(format!(
                "llama.cpp could not load it ({e}; its architecture is \"{architecture}\": is it one this llama.cpp knows?); run with ASSISTANTD_LOG=llama-cpp-2=info for llama.cpp's own words"
            ))));
            return;
        }
    };
    let plan = match Plan::new(&model, settings, options) {
        Ok(plan) => plan,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(plan.context))
        .with_n_batch(settings.batch)
        .with_n_ubatch(settings.batch.min(512))
        .with_n_threads(i32::try_from(plan.threads).unwrap_or(i32::MAX))
        .with_n_threads_batch(i32::try_from(plan.threads).unwrap_or(i32::MAX))
        // The prompt and generation times reported with each reply.
        .with_no_perf(false);
    let ctx = match model.new_context(backend, params) {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = ready.send(Err(model_error(format!(
                "llama.cpp could not create a {}-token context for it ({e}); lower [llm.options] num_ctx, or free memory",
                plan.context
            ))));
            return;
        }
    };
    let info = ModelInfo {
        name: settings.name.clone(),
        path: settings.model.clone(),
        file_size: std::fs::metadata(&settings.model).map_or(0, |m| m.len()),
        parameters: model.n_params(),
        context: ctx.n_ctx(),
        trained_context: model.n_ctx_train(),
        template: plan.source.clone(),
        threads: plan.threads,
        load: started.elapsed(),
        resident: resident_before
            .zip(resident_bytes())
            .map(|(before, after)| after.saturating_sub(before)),
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let mut session = Session {
        model: &model,
        ctx,
        template: plan.template,
        cached: Vec::new(),
        batch: LlamaBatch::new(settings.batch as usize, 1),
        batch_size: settings.batch as usize,
        server: server.clone(),
    };
    while let Ok(job) = jobs.recv() {
        session.answer(job, generated);
    }
}

/// What the model and settings decide before a context exists.
struct Plan {
    context: u32,
    threads: u32,
    template: LlamaChatTemplate,
    source: TemplateSource,
}

impl Plan {
    fn new(model: &LlamaModel, settings: &EmbeddedConfig, options: &GenerationOptions) -> Result<Self, LlmError> {
        let trained = model.n_ctx_train();
        let context = match options.num_ctx {
            Some(asked) if trained > 0 && asked > trained => {
                return Err(LlmError::Config {
                    field: "options.num_ctx",
                    reason: format!(
                        "{asked} tokens is more context than the embedded model {} was trained for ({trained}); set it to at most {trained}",
                        settings.name
                    ),
                });
            }
            Some(0) => {
                return Err(LlmError::Config {
                    field: "options.num_ctx",
                    reason: "must be at least 1 token".into(),
                });
            }
            Some(asked) => asked,
            None if trained > 0 => requested_context(options).min(trained),
            None => requested_context(options),
        };
        let threads = settings.threads.filter(|&n| n > 0).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        });
        let (template, source) = chat_template(model, settings)?;
        Ok(Self {
            context,
            threads,
            template,
            source,
        })
    }
}

/// The GGUF's chat template if llama.cpp can apply it, else the configured
/// fallback, else an error saying what to set.
fn chat_template(
    model: &LlamaModel,
    settings: &EmbeddedConfig,
) -> Result<(LlamaChatTemplate, TemplateSource), LlmError> {
    let probe = [
        Message::system("s"),
        Message::user("u"),
        Message::assistant("a"),
        Message::user("u"),
    ];
    let works = |template: &LlamaChatTemplate| apply(model, template, &probe).is_ok();
    let own = model.chat_template(None).ok();
    let why = match &own {
        Some(template) if works(template) => return Ok((template.clone(), TemplateSource::Gguf)),
        Some(_) => "llama.cpp does not recognise the GGUF's chat template (it applies only its built-in ones)",
        None => "the GGUF has no chat template (no tokenizer.chat_template in its metadata)",
    };
    let Some(name) = &settings.chat_template else {
        return Err(LlmError::Model {
            path: settings.model.clone(),
            reason: format!(
                "{why}; set [llm.embedded] chat_template to the llama.cpp built-in template the model was trained with (chatml, gemma, llama3, phi3, mistral-v7, …)"
            ),
        });
    };
    let template = LlamaChatTemplate::new(name).ok().filter(works).ok_or_else(|| LlmError::Config {
        field: "embedded.chat_template",
        reason: format!(
            "\"{name}\" is not one of llama.cpp's built-in chat templates (chatml, gemma, llama3, phi3, mistral-v7, …; see llama.cpp's src/llama-chat.cpp)"
        ),
    })?;
    tracing::debug!(model = %settings.name, template = %name, "{why}: using the configured chat template");
    Ok((template, TemplateSource::Fallback(name.clone())))
}

/// The prompt for `messages`, ending with the assistant's turn opened.
fn apply(model: &LlamaModel, template: &LlamaChatTemplate, messages: &[Message]) -> Result<String, String> {
    let chat = messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            // C strings: a NUL byte in a transcript cannot be passed on.
            LlamaChatMessage::new(role.to_owned(), m.content.replace('\0', ""))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| format!("llama.cpp could not apply the chat template ({e})"))
}

/// The model's context and what its KV cache holds.
struct Session<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: LlamaChatTemplate,
    /// The tokens whose keys and values are in the cache, positions 0…n-1
    /// of sequence 0.
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
    batch_size: usize,
    server: Endpoint,
}

/// How a request ended inside the thread.
enum Ended {
    /// Finished: the piece to send.
    Done(Piece),
    /// The reply was dropped: nobody to tell.
    Cancelled,
}

impl Session<'_> {
    fn answer(&mut self, job: Job, generated: &AtomicU64) {
        if job.out.is_closed() {
            return; // dropped while it waited its turn
        }
        let piece = match self.generate(&job, generated) {
            Ok(Ended::Done(piece)) => piece,
            Ok(Ended::Cancelled) => {
                tracing::debug!(turn = %job.turn, "embedded reply dropped; generation stopped");
                return;
            }
            Err(error) => Piece::Failed(error),
        };
        let _ = job.out.blocking_send(piece);
    }

    fn failed(&self, tokens: u32, what: &str, detail: impl std::fmt::Display) -> LlmError {
        LlmError::Server {
            server: self.server.clone(),
            message: format!("llama.cpp failed {what} ({detail})"),
            tokens,
        }
    }

    fn generate(&mut self, job: &Job, generated: &AtomicU64) -> Result<Ended, LlmError> {
        let started = Instant::now();
        // Book what an earlier (cancelled) request left queued, then count afresh.
        self.ctx.synchronize();
        self.ctx.reset_timings();
        let n_ctx = self.ctx.n_ctx() as usize;
        let tokens = self.prompt(&job.messages, &job.options, n_ctx)?;

        // Keep the cached prefix; at least the last prompt token is
        // evaluated again, for its logits.
        let mut common = self.cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        common = common.min(tokens.len() - 1);
        if common < self.cached.len() {
            let removed = u32::try_from(common)
                .ok()
                .and_then(|from| self.ctx.clear_kv_cache_seq(Some(0), Some(from), None).ok())
                .unwrap_or(false);
            if !removed {
                self.ctx.clear_kv_cache();
                common = 0;
            }
            self.cached.truncate(common);
        }
        let cached = common;

        let rest = &tokens[common..];
        let chunks = rest.chunks(self.batch_size).count();
        for (i, chunk) in rest.chunks(self.batch_size).enumerate() {
            if job.out.is_closed() {
                return Ok(Ended::Cancelled);
            }
            self.batch.clear();
            for (j, &token) in chunk.iter().enumerate() {
                let last = i + 1 == chunks && j + 1 == chunk.len();
                let pos = i32::try_from(self.cached.len() + j).unwrap_or(i32::MAX);
                self.batch
                    .add(token, pos, &[0], last)
                    .map_err(|e| self.failed(0, "to batch the prompt", e))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.forget();
                return Err(self.failed(0, "evaluating the prompt", e));
            }
            self.cached.extend_from_slice(chunk);
        }
        let prompt_done = Instant::now();

        let vocab = self.model.vocab();
        let mut sampler = sampler(&job.options);
        let max_tokens = job.options.max_tokens.map_or(usize::MAX, |n| n as usize);
        let mut logits = self.batch.n_tokens() - 1;
        let mut utf8 = Utf8Assembler::default();
        let mut stops = StopMatcher::new(&job.options.stop);
        let mut sampled = 0_usize;
        let mut sent = 0_u32;
        let send = |text: String, sent: &mut u32| -> bool {
            if text.is_empty() {
                return true;
            }
            *sent += 1;
            let token = Token {
                turn: job.turn,
                text,
                at: job.clock.now(),
            };
            job.out.blocking_send(Piece::Token(token)).is_ok()
        };
        let reason = loop {
            if sampled >= max_tokens || self.cached.len() >= n_ctx {
                break "length";
            }
            if job.out.is_closed() {
                return Ok(Ended::Cancelled);
            }
            let token = sampler.sample(&self.ctx, logits);
            if vocab.is_eog(token) {
                break "stop";
            }
            sampled += 1;
            let text = utf8.push(&vocab.token_to_piece(token, false, None));
            let matched = stops.push(&text);
            if !send(matched.text, &mut sent) {
                return Ok(Ended::Cancelled);
            }
            if matched.stopped {
                break "stop sequence";
            }
            self.batch.clear();
            let pos = i32::try_from(self.cached.len()).unwrap_or(i32::MAX);
            self.batch
                .add(token, pos, &[0], true)
                .map_err(|e| self.failed(sent, "to batch a token", e))?;
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.forget();
                return Err(self.failed(sent, "generating", e));
            }
            self.cached.push(token);
            generated.fetch_add(1, Ordering::Relaxed);
            logits = 0;
        };
        if reason != "stop sequence" {
            let tail = utf8.finish();
            let matched = stops.push(&tail);
            let mut rest = matched.text;
            if !matched.stopped {
                rest.push_str(&stops.finish());
            }
            if !send(rest, &mut sent) {
                return Ok(Ended::Cancelled);
            }
        }
        // llama.cpp books a decode's tokens at the next synchronization:
        // without this, the last generated token would be counted as part
        // of the next request's prompt.
        self.ctx.synchronize();
        let timings = self.ctx.timings();
        let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1000.0);
        let stats = ServerStats {
            prompt_tokens: Some(tokens.len() as u64),
            completion_tokens: Some(sampled as u64),
            total: Some(started.elapsed()),
            load: None,
            prompt_eval: Some(ms(timings.t_p_eval_ms())).filter(|_| cached < tokens.len()),
            eval: Some(ms(timings.t_eval_ms())),
            prompt_evaluated: Some(u64::try_from(timings.n_p_eval()).unwrap_or(0)),
            prompt_cached: Some(cached as u64),
        };
        tracing::debug!(
            turn = %job.turn,
            prompt = tokens.len(),
            cached,
            sampled,
            prompt_ms = (prompt_done - started).as_millis() as u64,
            "embedded reply done"
        );
        Ok(Ended::Done(Piece::Done {
            reason: if reason == "stop sequence" { "stop" } else { reason },
            stats,
            at: job.clock.now(),
        }))
    }

    /// After a failed decode the cache's contents are unknown: start over.
    fn forget(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    /// The templated, tokenized prompt, with the oldest exchanges dropped
    /// until it leaves room for the reply in the context.
    fn prompt(
        &self,
        messages: &[Message],
        options: &GenerationOptions,
        n_ctx: usize,
    ) -> Result<Vec<LlamaToken>, LlmError> {
        let room = options.max_tokens.unwrap_or(DEFAULT_REPLY_ROOM) as usize;
        let room = room.min(n_ctx / 2).max(1);
        let vocab = self.model.vocab();
        let mut messages = messages.to_vec();
        let mut dropped = 0;
        loop {
            let text = apply(self.model, &self.template, &messages).map_err(|reason| LlmError::Model {
                path: self.server.url.clone().into(),
                reason,
            })?;
            let tokens = vocab.tokenize(text.as_bytes(), true, true);
            if tokens.is_empty() {
                return Err(LlmError::Model {
                    path: self.server.url.clone().into(),
                    reason: "its chat template made an empty prompt".into(),
                });
            }
            if tokens.len() + room <= n_ctx {
                if dropped > 0 {
                    tracing::info!(
                        dropped,
                        prompt = tokens.len(),
                        context = n_ctx,
                        "the conversation was longer than the embedded model's context: its oldest messages were left out"
                    );
                }
                return Ok(tokens);
            }
            // The oldest message after the system prompt, unless it is the
            // question being asked.
            let first = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
            if messages.len() <= first + 1 {
                return Err(LlmError::ContextFull {
                    server: self.server.clone(),
                    prompt_tokens: tokens.len(),
                    context: n_ctx,
                    room,
                });
            }
            messages.remove(first);
            dropped += 1;
        }
    }
}

/// The sampler chain for `options`: greedy at temperature 0, else
/// llama.cpp's usual chain (top-k, top-p, min-p, temperature, then a draw
/// seeded by `seed`, or randomly).
fn sampler(options: &GenerationOptions) -> LlamaSampler {
    let temperature = options.temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    // Seeds are 32-bit in llama.cpp; a larger one is folded, not refused.
    let seed = options
        .seed
        .map_or(RANDOM_SEED, |s| (s as u64 % u64::from(u32::MAX)) as u32);
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(DEFAULT_TOP_K),
        LlamaSampler::top_p(options.top_p.unwrap_or(DEFAULT_TOP_P), 1),
        LlamaSampler::min_p(DEFAULT_MIN_P, 1),
        LlamaSampler::temp(temperature),
        LlamaSampler::dist(seed),
    ])
}

/// The process's resident memory (Linux's `/proc/self/status` VmRSS).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
