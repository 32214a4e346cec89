//! The assistant end to end, as a user runs it: `assistantd run` against a
//! private PulseAudio, spoken to through a virtual microphone and recorded
//! at its speakers.
//!
//! The room (`assistant_tests::pulse::ROOM`) is one stereo null sink: the
//! daemon's speakers are its left channel, the test's voice its right, and
//! the daemon's microphone hears the right channel only. One recording of
//! the room holds both, sample-aligned, so what the daemon did is measured
//! on the recording: when the reply went silent after someone talked over
//! it, and whether the reply heard is the audio the daemon synthesized.
//!
//! Real components throughout: the sherpa-onnx recognizer (with the
//! project's synthetic tone transducer, since no streaming ASR weights can
//! be had here) gated by the real Silero VAD, the real `en_US-joe-medium`
//! voice, the real llama.cpp server (llama-cpp-python) serving the real
//! Gemma 3 270M. The fault cases use the protocol-faithful fake Ollama,
//! which can die mid-reply on cue.
//!
//! The questions are `gated_short.wav` from the synthetic fixtures: a
//! whispered "psst hey" (which Silero hears as speech) over tones the
//! transducer reads as "hello stop three".

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assistant_tests::pulse::{self, Pulse, ROOM_MIC, ROOM_SPEAKER, Recording};
use serde_json::Value;

/// The recording's rate: the voice's, so reply.wav compares sample for sample.
const RATE: u32 = 22_050;

/// A running `assistantd run`, its JSON log collected line by line.
struct Daemon {
    child: Child,
    /// Each line with the moment it was read.
    log: Arc<Mutex<Vec<(Instant, Value)>>>,
    /// The room's recording, saved when a wait fails.
    room: Option<pulse::Tap>,
}

impl Daemon {
    fn start(args: &[String], env: &[(&'static str, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_assistantd"))
            .arg("run")
            .args(args)
            .args(["--log-format", "json"])
            .env_remove("LD_LIBRARY_PATH")
            .env(
                "ASSISTANTD_LOG",
                "warn,assistant_pipeline=debug,assistant_trace=info,assistantd=info,ort=error,assistant_audio=debug",
            )
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start assistantd: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({ "raw": line }));
                if let Ok(mut all) = lines.lock() {
                    all.push((Instant::now(), value));
                }
            }
        });
        Self { child, log, room: None }
    }

    /// Saves the room's recording if a wait fails, for a person to hear.
    fn recorded_by(mut self, room: &Recording) -> Self {
        self.room = Some(room.tap());
        self
    }

    fn lines(&self) -> Vec<Value> {
        self.log
            .lock()
            .map(|l| l.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// Waits until a clause of turn `turn` at least `min` long has just
    /// reached the speakers: its "reached the device" line was read at most
    /// 300 ms ago. Whatever talks over it next lands inside that clause, not
    /// in the pause before the next one, however the reply is cut into
    /// clauses and however slowly a busy machine runs the test. Returns the
    /// clause's index.
    fn long_clause_begins(&self, turn: u64, from: usize, min: Duration, what: &str) -> u64 {
        let min_samples = (min.as_secs_f64() * f64::from(RATE)) as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        let of_turn = |v: &Value| v["fields"]["turn"] == format!("turn-{turn}");
        loop {
            let lines: Vec<(Instant, Value)> = self.log.lock().map(|l| l.clone()).unwrap_or_default();
            let lines = lines.get(from..).unwrap_or_default();
            let long: Vec<u64> = lines
                .iter()
                .filter(|(_, v)| of_turn(v) && v["fields"]["message"] == "playing")
                .filter(|(_, v)| v["fields"]["samples"].as_u64().is_some_and(|n| n >= min_samples))
                .filter_map(|(_, v)| v["fields"]["clause"].as_u64())
                .collect();
            let begun = lines.iter().find_map(|(read, v)| {
                let clause = v["fields"]["clause"].as_u64()?;
                (of_turn(v)
                    && v["fields"]["message"] == "reached the device"
                    && long.contains(&clause)
                    && read.elapsed() <= Duration::from_millis(300))
                .then_some(clause)
            });
            if let Some(clause) = begun {
                return clause;
            }
            let over = lines.iter().any(|(_, v)| {
                of_turn(v)
                    && v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("turn over"))
            });
            assert!(
                !over && Instant::now() < deadline,
                "no clause of {what} at least {min:?} long began while the test watched:\n{}",
                self.failure()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The log as text.
    fn dump(&self) -> String {
        self.lines()
            .iter()
            .map(|l| format!("{} {} {}", l["level"], l["fields"]["turn"], l["fields"]["message"]))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// For a failure message: saves the room's recording so far (left: the
    /// daemon's speakers, right: its microphone), says where, and gives the log.
    fn failure(&self) -> String {
        let saved = self.room.as_ref().map_or_else(String::new, |room| {
            let path = std::env::temp_dir().join(format!("assistantd-e2e-{}-room.wav", self.child.id()));
            match room.save(&path) {
                Ok(()) => format!("the room's recording so far: {}\n", path.display()),
                Err(e) => format!("cannot save the room's recording: {e}\n"),
            }
        });
        saved + &self.dump()
    }

    /// Waits for a log line whose message contains `text` (and, if given,
    /// of `turn`), at or after line `from`; returns its index.
    fn wait_for(&mut self, text: &str, turn: Option<u64>, from: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.lines().iter().enumerate().skip(from).find_map(|(i, l)| {
                let message = l["fields"]["message"].as_str().unwrap_or_default();
                let turn_ok = turn.is_none_or(|t| l["fields"]["turn"] == format!("turn-{t}"));
                (message.contains(text) && turn_ok).then_some(i)
            });
            if let Some(i) = found {
                return i;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "assistantd exited ({status}) while waiting for {text:?}:\n{}",
                    self.failure()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} (turn {turn:?}) in the log within {timeout:?}:\n{}",
                self.failure()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn has(&self, text: &str, turn: u64) -> bool {
        self.lines().iter().any(|l| {
            l["fields"]["message"].as_str().unwrap_or_default().contains(text)
                && l["fields"]["turn"] == format!("turn-{turn}")
        })
    }

    /// SIGTERM; returns the exit status and how long the daemon took.
    fn terminate(mut self) -> (std::process::ExitStatus, Duration, String) {
        let pid = i32::try_from(self.child.id()).unwrap_or_else(|_| panic!("pid out of range"));
        let asked = Instant::now();
        // SAFETY: kill(2) on our own child's pid, which has not been reaped
        // (the Child is still ours), with a valid signal number.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill failed");
        let deadline = asked + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, asked.elapsed(), self.dump());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("assistantd did not exit within 10 s of SIGTERM:\n{}", self.failure());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 10 ms windows of `samples` that are louder than `floor` (RMS).
fn loud_windows(samples: &[f32], floor: f32) -> Vec<bool> {
    samples
        .chunks(RATE as usize / 100)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > floor)
        .collect()
}

/// The first 10 ms window at or after window `from` that is loud.
fn onset(samples: &[f32], from: usize, floor: f32) -> Option<usize> {
    loud_windows(samples, floor)
        .iter()
        .skip(from)
        .position(|&l| l)
        .map(|i| i + from)
}

/// The first window at or after `from` that begins `quiet` windows of silence.
fn silence(samples: &[f32], from: usize, quiet: usize) -> Option<usize> {
    let loud = loud_windows(samples, 1e-3);
    (from..loud.len().saturating_sub(quiet)).find(|&i| loud[i..i + quiet].iter().all(|l| !l))
}

fn windows(samples: usize) -> usize {
    samples / (RATE as usize / 100)
}

/// The question every turn asks: the gated fixture, at 16 kHz.
fn question() -> Vec<f32> {
    let path = assistant_tests::synthetic_assets().join("speech/gated_short.wav");
    let mut reader = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap_or(0)) / 32768.0)
        .collect()
}

/// Where the whisper starts in [`question`] (1.0 s at 16 kHz).
const WHISPER_AT: usize = 16_000;

/// The per-turn traces agree with the log and add up: one JSON line and
/// one latency line per turn; each answered turn's headline is the log's
/// "first audio" figure and the sum of its parts and the overhead; the
/// cut turn has its barge-in reaction; the Chrome trace parses, with a
/// track per stage and work on each.
fn check_traces(log: &str, trace_out: &Path, chrome_trace: &Path) {
    let text = std::fs::read_to_string(trace_out).unwrap_or_else(|e| panic!("{}: {e}", trace_out.display()));
    let turns: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a trace line is not JSON ({e}): {l}")))
        .collect();
    let outcomes: Vec<&str> = turns.iter().map(|t| t["outcome"].as_str().unwrap_or("")).collect();
    assert_eq!(outcomes, ["completed", "barge-in", "completed", "completed"], "{text}");
    for t in &turns {
        let b = &t["breakdown"];
        assistant_tests::assert_breakdown_adds_up(b);
        let headline = b["headline"].as_f64().unwrap_or_default();
        let turn = t["turn"].as_u64().unwrap_or_default();
        let logged = log
            .lines()
            .find(|l| l.contains(&format!("\"turn-{turn}\" \"first audio ")))
            .and_then(|l| l.split("first audio ").nth(1))
            .and_then(|rest| rest.split(" ms").next())
            .and_then(|ms| ms.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no first-audio line for turn {turn}"));
        assert!(
            (logged - headline).abs() <= 1.0,
            "turn {turn}: logged {logged} ms, traced {headline} ms"
        );
        assert!(
            log.contains(&format!("\"turn-{turn}\" \"latency: ")),
            "no latency line for turn {turn}"
        );
        eprintln!("turn {turn}: {b}");
    }
    assert!(
        turns[1]["breakdown"]["barge_in_reaction"].as_f64().is_some(),
        "{}",
        turns[1]
    );
    let chrome: Value = serde_json::from_str(&std::fs::read_to_string(chrome_trace).unwrap_or_default())
        .unwrap_or_else(|e| panic!("the Chrome trace is not JSON: {e}"));
    let events = chrome.as_array().cloned().unwrap_or_default();
    for stage in ["listen", "think", "speak", "play"] {
        let track = events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["args"]["name"] == stage)
            .and_then(|e| e["tid"].as_u64())
            .unwrap_or_else(|| panic!("no {stage} track"));
        assert!(
            events
                .iter()
                .any(|e| e["tid"] == track && (e["ph"] == "X" || e["ph"] == "i")),
            "nothing on the {stage} track"
        );
    }
}

/// A clause this long still sounds when talk fed at its start arrives
/// (the feeder's quarter second, the whisper's lead-in, the poll).
const LONG_CLAUSE: Duration = Duration::from_millis(1200);

/// White noise: a door, a cough; no words in it.
fn noise_burst(seconds: f32) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    (0..(seconds * 16_000.0) as usize)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.6
        })
        .collect()
}

/// The VAD and the real voice, installed into a models folder.
fn models(test: &str) -> Option<tempfile::TempDir> {
    assistant_tests::daemon_models(test, Path::new(env!("CARGO_BIN_EXE_assistantd")))
}

/// The jarvis profile, pointed at the room and at `llm`, with a slower
/// endpoint (the tone transducer's "hello stop three" needs rule 2 ≥ 0.72 s
/// to stay one utterance) and a short, deterministic reply.
fn profile(dir: &Path, backend: &str, url: &str, model: &str) -> PathBuf {
    let text = std::fs::read_to_string(assistant_tests::workspace_root().join("configs/jarvis.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let edits = [
        ("backend = \"auto\"", format!("backend = \"{backend}\"")),
        ("url = \"http://127.0.0.1:11434\"", format!("url = \"{url}\"")),
        ("model = \"llama3.2\"", format!("model = \"{model}\"")),
        ("silence_after_text_s = 0.6", "silence_after_text_s = 1.2".into()),
        (
            "# input_device = \"alsa_input.usb-My_Mic-00.mono-fallback\"",
            format!("input_device = \"pulseaudio:{ROOM_MIC}\""),
        ),
        (
            "# output_device = \"pulse\"",
            format!("output_device = \"pulseaudio:{ROOM_SPEAKER}\""),
        ),
        // The speakers' buffer bounds how soon a pause is heard: the sound
        // server holds two of them (60 ms here, 100 ms with jarvis's 50).
        ("output_buffer_ms = 50", "output_buffer_ms = 30".into()),
        ("temperature = 0.7", "temperature = 0.0".into()),
        ("# seed = 42", "seed = 42".into()),
        ("max_tokens = 200", "max_tokens = 32".into()),
    ];
    let mut text = text;
    for (from, to) in edits {
        assert!(text.contains(from), "configs/jarvis.toml no longer has {from:?}");
        text = text.replacen(from, &to, 1);
    }
    let path = dir.join("e2e.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn run_args(profile: &Path, store: &Path, record: &Path) -> Vec<String> {
    let transducer = assistant_tests::synthetic_assets().join("transducer");
    [
        "--profile".into(),
        profile.display().to_string(),
        "--models-dir".into(),
        store.display().to_string(),
        "--transducer-dir".into(),
        transducer.display().to_string(),
        "--record".into(),
        record.display().to_string(),
    ]
    .into()
}

/// A text file of turn `turn`'s recorded folder.
fn recorded_text(record: &Path, turn: u64, name: &str) -> String {
    std::fs::read_dir(record)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-turn-{turn}")))
        .and_then(|folder| std::fs::read_to_string(folder.join(name)).ok())
        .unwrap_or_else(|| panic!("turn {turn} has no {name} in {}", record.display()))
}

/// The recorded turn folder of turn `n`: its reply audio and piece lengths.
fn recorded_reply(record: &Path, turn: u64) -> (Vec<f32>, Vec<usize>, Value) {
    let folder = std::fs::read_dir(record)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-turn-{turn}")))
        .unwrap_or_else(|| panic!("turn {turn} was not recorded in {}", record.display()));
    let mut reader = hound::WavReader::open(folder.join("reply.wav")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reader.spec().sample_rate, RATE);
    let audio: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap_or(0)) / 32768.0)
        .collect();
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(folder.join("turn.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("turn.json: {e}"));
    let pieces = summary["piece_samples"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).map(|n| n as usize).collect())
        .unwrap_or_default();
    (audio, pieces, summary)
}

/// How one piece of the reply was found in the recording.
#[derive(Debug)]
struct Found {
    /// Where it starts in the speaker channel.
    start: usize,
    /// Its 0.25 s windows (those with sound) that matched what was heard,
    /// of all of them.
    matched: usize,
    windows: usize,
    /// How much later its end was heard than its start implies: gaps the
    /// device played into it (underruns), in samples.
    drift: usize,
}

/// Finds each piece of `reply` in `heard` (the speaker channel), in order,
/// from window `from`. Each piece is followed window by window (0.25 s),
/// each window searched a little ahead of where the last one ended, so a
/// short dropout (the device starved on a busy machine) shifts what
/// follows instead of failing the whole piece; content and order are what
/// is checked.
fn find_pieces(heard: &[f32], reply: &[f32], pieces: &[usize], from: usize) -> Vec<Found> {
    let step = RATE as usize / 4;
    let mut at = from * (RATE as usize / 100);
    let mut offset = 0;
    let mut found = Vec::new();
    for &len in pieces {
        let piece = &reply[offset..offset + len];
        offset += len;
        let lead = piece.iter().position(|s| s.abs() > 1e-3).unwrap_or(0);
        let Some(onset) = heard[at..].iter().position(|s| s.abs() > 1e-3).map(|i| i + at) else {
            found.push(Found {
                start: at,
                matched: 0,
                windows: 1,
                drift: 0,
            });
            continue;
        };
        let start = onset.saturating_sub(lead);
        let (mut cursor, mut matched, mut windows) = (start, 0, 0);
        for window in piece.chunks(step) {
            let energy: f32 = window.iter().map(|s| s * s).sum::<f32>() / window.len() as f32;
            if energy < 1e-5 {
                cursor += window.len();
                continue;
            }
            windows += 1;
            // From 10 ms before to 150 ms after where it should be.
            let (before, after) = (RATE as usize / 100, RATE as usize * 15 / 100);
            let lo = cursor.saturating_sub(before);
            let hi = (cursor + after + window.len()).min(heard.len());
            let score = |shift: usize| {
                let x = &heard[lo + shift..lo + shift + window.len()];
                let dot: f32 = x.iter().zip(window).map(|(p, q)| p * q).sum();
                let norm = (x.iter().map(|v| v * v).sum::<f32>() * window.iter().map(|v| v * v).sum::<f32>()).sqrt();
                (dot / norm.max(f32::MIN_POSITIVE), shift)
            };
            let best_of = |shifts: &mut dyn Iterator<Item = usize>| {
                shifts
                    .map(score)
                    .fold((f32::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
            };
            // Every fourth lag, then every lag around the best of those.
            let last = (hi - lo).saturating_sub(window.len());
            let (_, coarse) = best_of(&mut (0..=last).step_by(4));
            let (best, lag) = best_of(&mut (coarse.saturating_sub(4)..=(coarse + 4).min(last)));
            if best > 0.9 {
                matched += 1;
                cursor = lo + lag + window.len();
            } else {
                cursor += window.len();
            }
        }
        found.push(Found {
            start,
            matched,
            windows,
            drift: cursor.saturating_sub(start + len),
        });
        at = cursor.min(heard.len());
    }
    found
}

/// Asserts that every piece was heard: nearly all of its windows matched.
fn assert_heard(found: &[Found], what: &str) {
    for (i, piece) in found.iter().enumerate() {
        assert!(
            piece.windows > 0 && piece.matched * 10 >= piece.windows * 9,
            "piece {i} of {what} matches what was heard in {} of {} windows: {found:?}",
            piece.matched,
            piece.windows
        );
    }
    let drift: usize = found.iter().map(|f| f.drift).sum();
    eprintln!(
        "{what}: {} piece(s) heard as synthesized, in order; {:.0} ms of dropouts",
        found.len(),
        drift as f64 * 1e3 / f64::from(RATE)
    );
}

#[test]
fn the_assistant_answers_is_interrupted_by_speech_and_not_by_a_noise() {
    let test = "the_assistant_answers_is_interrupted_by_speech_and_not_by_a_noise";
    let Some(store) = models(test) else { return };
    let Some(llm) = assistant_tests::llama_server::LlamaServer::gemma(test) else {
        return;
    };
    let Some(server) = Pulse::start(test) else { return };
    let env = server.env();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let record = dir.path().join("record");
    let profile = profile(dir.path(), "openai", &llm.url(), llm.name());
    let question = question();
    let _exclusive = llm.exclusive();

    let recording = Recording::room(&env, RATE);
    let (trace_out, chrome_trace) = (dir.path().join("trace.jsonl"), dir.path().join("trace.json"));
    let mut args = run_args(&profile, store.path(), &record);
    args.extend([
        "--trace-out".into(),
        trace_out.display().to_string(),
        "--chrome-trace".into(),
        chrome_trace.display().to_string(),
    ]);
    let mut daemon = Daemon::start(&args, &env).recorded_by(&recording);
    let mut line = daemon.wait_for("listening", None, 0, Duration::from_secs(60));
    let position = |r: &Recording| windows(r.samples().len() / 2);

    // 1. A question, answered in full.
    let asked1 = position(&recording);
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("heard: \"hello stop three\"", Some(1), line, Duration::from_secs(30));
    line = daemon.wait_for("turn over: the reply played", Some(1), line, Duration::from_secs(120));
    drop(feeding);

    // 2. A second question; a third one talks over its reply.
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("heard:", Some(2), line, Duration::from_secs(30));
    drop(feeding);
    // Talk over it while it is sounding (not between two clauses), from
    // just before the whisper: the onset is then the moment it is fed.
    daemon.long_clause_begins(2, line, LONG_CLAUSE, "the second reply");
    let barged = position(&recording);
    let feeding = pulse::feed_room(&env, &question[WHISPER_AT - 800..], 16_000);
    line = daemon.wait_for("reply cancelled (barge-in)", Some(2), line, Duration::from_secs(30));
    line = daemon.wait_for("heard:", Some(3), line, Duration::from_secs(30));
    line = daemon.wait_for("turn over: the reply played", Some(3), line, Duration::from_secs(120));
    drop(feeding);

    // 3. A fourth question; a burst of noise during its reply.
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("heard:", Some(4), line, Duration::from_secs(30));
    drop(feeding);
    daemon.long_clause_begins(4, line, LONG_CLAUSE, "the fourth reply");
    let noised = position(&recording);
    let burst = pulse::feed_room(&env, &noise_burst(0.3), 16_000);
    line = daemon.wait_for("reply paused", Some(4), line, Duration::from_secs(10));
    line = daemon.wait_for("reply resumed", Some(4), line, Duration::from_secs(10));
    daemon.wait_for("turn over: the reply played", Some(4), line, Duration::from_secs(120));
    drop(burst);
    assert!(
        !daemon.has("reply cancelled", 4),
        "the noise cancelled the reply:\n{}",
        daemon.dump()
    );

    // SIGTERM: exit status 0, promptly, nothing left behind.
    let pid = daemon.child.id();
    let (status, took, log) = daemon.terminate();
    assert!(status.success(), "exit status {status} after SIGTERM:\n{log}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon's process is still there"
    );
    eprintln!("SIGTERM to exit: {:.0} ms", took.as_secs_f64() * 1e3);
    check_traces(&log, &trace_out, &chrome_trace);
    std::thread::sleep(Duration::from_millis(300));
    let room = recording.tap();
    let audio = recording.stop();
    let speaker = Recording::channel(&audio, 0);
    let voice = Recording::channel(&audio, 1);
    room.save(&record.join("room.wav"))
        .unwrap_or_else(|e| panic!("room.wav: {e}"));
    if std::env::var_os("ASSISTANTD_E2E_KEEP").is_some() {
        eprintln!("kept the recordings in {}", dir.keep().display());
    }

    // 1: the reply heard is the audio synthesized, piece by piece, in order.
    let (reply, pieces, summary) = recorded_reply(&record, 1);
    assert_eq!(summary["ended"], "completed", "{summary}");
    assert!(!pieces.is_empty(), "{summary}");
    let spoke1 = onset(&voice, asked1, 0.01).unwrap_or_else(|| panic!("the first question is not in the recording"));
    let found = find_pieces(&speaker, &reply, &pieces, spoke1);
    assert_heard(&found, "the first reply");
    assert!(found.windows(2).all(|w| w[0].start < w[1].start), "{found:?}");

    // 2: playback stopped within 150 ms of the third question's onset, and
    // stayed silent until the third reply.
    let spoke3 = onset(&voice, barged, 0.01).unwrap_or_else(|| panic!("the barge-in is not in the recording"));
    let window = RATE as usize / 100;
    assert!(
        loud_windows(&speaker[(spoke3 - 5) * window..spoke3 * window], 1e-3)
            .iter()
            .any(|&l| l),
        "the reply was not sounding when the person spoke"
    );
    let quiet = silence(&speaker, spoke3, 100).unwrap_or_else(|| panic!("the reply never went silent"));
    let reaction_ms = (quiet - spoke3) * 10;
    eprintln!("barge-in: onset to silence on the recording: {reaction_ms} ms");
    assert!(
        reaction_ms <= 150,
        "the reply went silent {reaction_ms} ms after the person spoke"
    );
    let (_, _, cut) = recorded_reply(&record, 2);
    assert_eq!(cut["ended"], "barge-in", "{cut}");
    // The history keeps the cut reply only as far as it was heard: a
    // word-for-word beginning of what had been written, and shorter.
    let (written, heard) = (
        recorded_text(&record, 2, "reply.txt"),
        recorded_text(&record, 2, "heard.txt"),
    );
    let (written, heard): (Vec<&str>, Vec<&str>) =
        (written.split_whitespace().collect(), heard.split_whitespace().collect());
    assert!(
        heard.len() < written.len() && written.starts_with(&heard),
        "heard {heard:?} of the written {written:?}"
    );
    let (reply3, pieces3, answered) = recorded_reply(&record, 3);
    assert_eq!(answered["ended"], "completed", "{answered}");
    let after = onset(&speaker, quiet, 1e-3).unwrap_or_else(|| panic!("the third question was not answered"));
    let third = find_pieces(&speaker, &reply3, &pieces3, after);
    assert_heard(&third, "the third reply");

    // 3: the noise paused the fourth reply at once; it resumed about
    // resume_after (1.5 s) later, and played to the end.
    let (_, _, resumed) = recorded_reply(&record, 4);
    assert_eq!(resumed["ended"], "completed", "{resumed}");
    let noise = onset(&voice, noised, 0.01).unwrap_or_else(|| panic!("the noise is not in the recording"));
    let paused = silence(&speaker, noise, 50).unwrap_or_else(|| panic!("the noise did not pause the reply"));
    let pause_ms = (paused - noise) * 10;
    assert!(pause_ms <= 250, "the noise paused the reply only after {pause_ms} ms");
    let again = onset(&speaker, paused, 1e-3).unwrap_or_else(|| panic!("the reply never resumed"));
    let gap_ms = (again - paused) * 10;
    eprintln!("noise: paused {pause_ms} ms after its onset, resumed after {gap_ms} ms of silence");
    assert!(
        (1000..=2500).contains(&gap_ms),
        "the reply resumed after {gap_ms} ms of silence, expected about 1500"
    );
}

#[test]
fn a_dying_model_server_and_a_vanishing_microphone_are_survived() {
    use assistant_tests::fake_ollama::{FakeOllama, Fault, Script, ScriptedReply};
    let test = "a_dying_model_server_and_a_vanishing_microphone_are_survived";
    let Some(store) = models(test) else { return };
    let Some(server) = Pulse::start(test) else { return };
    let env = server.env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let cut = ScriptedReply::tokens(["Let me check that for you, ", "it will take ", "a moment ", "or two."])
        .with_fault(Fault::DisconnectAfter { tokens: 3 });
    let mut llm = runtime.block_on(FakeOllama::start_with(Script {
        tokens: vec!["Here I am again.".into()],
        // The first request is the warm-up (Ollama's model load).
        replies: vec![ScriptedReply::default(), cut],
        ..Script::default()
    }));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let record = dir.path().join("record");
    let profile = profile(dir.path(), "ollama", &llm.url(), "llama3.2");
    let question = question();

    let recording = Recording::room(&env, RATE);
    let mut daemon = Daemon::start(&run_args(&profile, store.path(), &record), &env).recorded_by(&recording);
    let mut line = daemon.wait_for("listening", None, 0, Duration::from_secs(60));

    // 1. The server dies mid-reply: the daemon says so, speaks its notice,
    // and keeps listening.
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("the reply failed", Some(1), line, Duration::from_secs(30));
    runtime.block_on(llm.stop());
    line = daemon.wait_for(
        "turn over: the reply failed",
        Some(1),
        line + 1,
        Duration::from_secs(30),
    );
    drop(feeding);
    let (_, pieces, failed) = recorded_reply(&record, 1);
    assert_eq!(failed["ended"], "failed", "{failed}");
    assert!(
        failed["failure"].as_str().is_some_and(|f| f.contains("127.0.0.1")),
        "the failure names the server: {failed}"
    );
    // "Let me check that for you," / "it will take a moment" (what came
    // before the break, flushed) / the notice.
    assert_eq!(
        pieces.len(),
        3,
        "the clauses spoken before the failure, then the notice: {failed}"
    );

    // 2. While it is down, a question gets the notice, not silence.
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("cannot connect", Some(2), line, Duration::from_secs(30));
    line = daemon.wait_for("turn over: the reply failed", Some(2), line, Duration::from_secs(30));
    drop(feeding);

    // 3. The server is back: the next question is answered.
    runtime.block_on(llm.restart());
    let feeding = pulse::feed_room(&env, &question, 16_000);
    line = daemon.wait_for("turn over: the reply played", Some(3), line, Duration::from_secs(60));
    drop(feeding);
    let (_, _, answered) = recorded_reply(&record, 3);
    assert_eq!(answered["ended"], "completed", "{answered}");
    // What the model was told: the first reply only as far as it was heard,
    // then the question that could not be answered, then this one.
    let chats = llm.chat_requests();
    let messages = chats.last().map(|c| c.body["messages"].clone()).unwrap_or_default();
    let said: Vec<String> = messages
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m["role"].as_str().unwrap_or(""),
                        m["content"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        said.iter()
            .any(|m| m == "assistant: Let me check that for you, it will take a moment"),
        "the cut reply is in the history as heard, without the notice: {said:#?}"
    );

    // 4. The microphone is pulled out and plugged back in.
    pulse::unplug_room_mic(&env);
    line = daemon.wait_for("lost", None, line, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    pulse::plug_room_mic(&env);
    line = daemon.wait_for("is open", None, line, Duration::from_secs(20));
    let feeding = pulse::feed_room(&env, &question, 16_000);
    daemon.wait_for("turn over: the reply played", Some(4), line, Duration::from_secs(60));
    drop(feeding);

    let (status, _, log) = daemon.terminate();
    assert!(status.success(), "exit status {status} after SIGTERM:\n{log}");
    let audio = recording.stop();
    let speaker = Recording::channel(&audio, 0);
    assert!(
        loud_windows(&speaker, 1e-3).iter().filter(|&&l| l).count() > 100,
        "the daemon's notices and replies are not in the recording"
    );
}
