//! A private PulseAudio server with a null sink, for tests that play audio.
//!
//! Each [`Pulse`] is its own `pulseaudio` process with its own socket in a
//! temporary folder, so tests never touch a desktop's sound server. Clients
//! reach it through `PULSE_SERVER` ([`Pulse::env`]): ALSA's `default` device
//! (which is what cpal, and so rodio, opens) is PulseAudio's ALSA plugin on a
//! Debian machine with `pulseaudio` installed, and that plugin reads it.
//! Because the variable is per process, a test that plays in-process runs
//! itself again as a child with the variable set ([`in_child`]).
//!
//! What the sink plays is recorded from its monitor with `parec`
//! ([`Pulse::record`]), as float samples at a rate of the test's choosing.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The null sink every [`Pulse`] makes its default.
pub const SINK: &str = "assistantd_test_speakers";

/// A second null sink standing in for the microphone: what is played into
/// it ([`feed_mic`]) is heard from its monitor, [`MIC_SOURCE`], the
/// server's default source.
pub const MIC_SINK: &str = "assistantd_test_mic";

/// The microphone's source (the monitor of [`MIC_SINK`]).
pub const MIC_SOURCE: &str = "assistantd_test_mic.monitor";

/// A room for the daemon's end-to-end test, in which the speaker and the
/// microphone are recorded together, on one clock: the null sink
/// [`ROOM`] is stereo; what the daemon plays into [`ROOM_SPEAKER`] lands on
/// its left channel, what a test plays into [`ROOM_FEED`] ([`feed_room`])
/// on its right, and [`ROOM_MIC`] hears the right channel only. Recording
/// the room's monitor ([`Recording::room`]) therefore gives the reply and
/// the person talking over it sample-aligned, so barge-in's reaction can be
/// measured on the recording itself.
pub const ROOM: &str = "assistantd_test_room";

/// The room's speakers (its left channel), a remap sink.
pub const ROOM_SPEAKER: &str = "assistantd_test_room_speaker";

/// Where a test speaks into the room (its right channel), a remap sink.
pub const ROOM_FEED: &str = "assistantd_test_room_feed";

/// The room's microphone: a remap source hearing only the right channel.
pub const ROOM_MIC: &str = "assistantd_test_room_mic";

/// The `load-module` arguments of the room's microphone (see
/// [`unplug_room_mic`]).
const ROOM_MIC_MODULE: [&str; 2] = [
    "module-remap-source",
    "source_name=assistantd_test_room_mic master=assistantd_test_room.monitor channels=1 channel_map=mono master_channel_map=front-right remix=no",
];

/// A running private PulseAudio server. Dropping it stops the server.
#[derive(Debug)]
pub struct Pulse {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Pulse {
    /// Starts a server, or returns `None` after a [`crate::skip`] when
    /// `pulseaudio` is not installed (`scripts/bootstrap` installs it).
    ///
    /// # Panics
    /// If `pulseaudio` is installed but the server does not come up, or it
    /// is not installed and [`crate::require_all`] holds.
    #[must_use]
    pub fn start(test: &str) -> Option<Self> {
        if which("pulseaudio").is_none() || which("parec").is_none() {
            return crate::skip(
                test,
                "pulseaudio and parec are not installed (Debian: apt-get install pulseaudio pulseaudio-utils; scripts/bootstrap does)",
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("assistantd-pulse-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot make a folder for PulseAudio: {e}"));
        let mut pulse = Self { dir, child: None };
        pulse.launch();
        Some(pulse)
    }

    fn launch(&mut self) {
        let child = spawn_server(self.dir.path(), &self.socket());
        self.child = Some(child);
        wait_ready(&self.env());
    }

    /// The server's socket.
    #[must_use]
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("native")
    }

    /// The environment a client needs to reach this server (and only it).
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.dir.path().display().to_string();
        let pid = self.child.as_ref().map(|c| c.id().to_string()).unwrap_or_default();
        vec![
            ("ASSISTANTD_TEST_PULSE_PID", pid),
            ("PULSE_SERVER", format!("unix:{}", self.socket().display())),
            ("PULSE_SINK", SINK.to_owned()),
            // Keep libpulse from touching the real user's configuration.
            ("PULSE_CLIENTCONFIG", format!("{home}/client.conf")),
            ("XDG_RUNTIME_DIR", home.clone()),
        ]
    }

    /// Starts recording what the sink plays, mono `f32` at `rate`; returns
    /// once the recorder is connected and receiving.
    ///
    /// # Panics
    /// If `parec` cannot start or receives nothing within 10 s.
    #[must_use]
    pub fn record(&self, rate: u32) -> Recording {
        Recording::start(&self.env(), rate)
    }

    /// Kills the server, as if the sound server crashed or the device
    /// vanished.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The folder the server keeps its state in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `parec` recording in progress.
#[derive(Debug)]
pub struct Recording {
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
    bytes: Arc<Mutex<Vec<u8>>>,
    rate: u32,
    channels: u16,
}

/// A handle on a [`Recording`] in progress, to save what it holds so far
/// (a failing test leaves the room's audio behind for a person to hear).
#[derive(Debug, Clone)]
pub struct Tap {
    bytes: Arc<Mutex<Vec<u8>>>,
    rate: u32,
    channels: u16,
}

impl Tap {
    /// Writes what was recorded so far to `path` as a float WAV.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), hound::Error> {
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        let spec = hound::WavSpec {
            channels: self.channels,
            sample_rate: self.rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut writer = hound::WavWriter::create(path, spec)?;
        for b in bytes.chunks_exact(4) {
            writer.write_sample(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
        }
        writer.finalize()
    }
}

impl Recording {
    /// Starts recording the test sink's monitor, mono `f32` at `rate`, with
    /// `env` on top of this process's environment (empty in a child that
    /// inherited [`Pulse::env`]); returns once `parec` is receiving.
    ///
    /// # Panics
    /// If `parec` cannot start or receives nothing within 10 s.
    #[must_use]
    pub fn start(env: &[(&'static str, String)], rate: u32) -> Self {
        Self::device(env, &format!("{SINK}.monitor"), 1, rate)
    }

    /// Records the [`ROOM`] in stereo: left the daemon's speakers, right
    /// what was fed to its microphone ([`Recording::channel`] splits them).
    ///
    /// # Panics
    /// As [`Recording::start`].
    #[must_use]
    pub fn room(env: &[(&'static str, String)], rate: u32) -> Self {
        Self::device(env, &format!("{ROOM}.monitor"), 2, rate)
    }

    fn device(env: &[(&'static str, String)], device: &str, channels: u16, rate: u32) -> Self {
        let mut child = Command::new("parec")
            .arg(format!("--device={device}"))
            .args(["--format=float32le", "--raw", "--latency-msec=10"])
            .arg(format!("--channels={channels}"))
            .arg(format!("--rate={rate}"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start parec: {e}"));
        let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("parec has no stdout"));
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        let reader = std::thread::spawn(move || {
            let mut buf = [0_u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut all) = sink.lock() {
                    all.extend_from_slice(&buf[..n]);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while bytes.lock().map(|b| b.is_empty()).unwrap_or(true) {
            assert!(Instant::now() < deadline, "parec received nothing within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        Self {
            child,
            reader: Some(reader),
            bytes,
            rate,
            channels,
        }
    }

    /// Channel `index` of an interleaved stereo recording ([`Recording::room`]).
    #[must_use]
    pub fn channel(samples: &[f32], index: usize) -> Vec<f32> {
        samples.iter().skip(index).step_by(2).copied().collect()
    }

    /// Samples recorded so far (interleaved, for a stereo recording).
    #[must_use]
    pub fn samples(&self) -> Vec<f32> {
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// A handle to save what this recording holds so far.
    #[must_use]
    pub fn tap(&self) -> Tap {
        Tap {
            bytes: Arc::clone(&self.bytes),
            rate: self.rate,
            channels: self.channels,
        }
    }

    /// The recording's rate.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Stops recording and returns everything recorded.
    #[must_use]
    pub fn stop(mut self) -> Vec<f32> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.samples()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pulseaudio` with its state in `home`, listening on `socket`,
/// with the speakers' and the microphone's null sinks.
fn spawn_server(home: &Path, socket: &Path) -> Child {
    let _ = std::fs::remove_file(socket);
    Command::new("pulseaudio")
        .args([
            "--daemonize=no",
            "-n",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disallow-exit",
            "--log-target=stderr",
            "--log-level=error",
        ])
        .arg(format!(
            "--load=module-native-protocol-unix socket={} auth-anonymous=1",
            socket.display()
        ))
        .arg(format!(
            "--load=module-null-sink sink_name={SINK} rate=48000 channels=2"
        ))
        .arg(format!(
            "--load=module-null-sink sink_name={MIC_SINK} rate=48000 channels=1"
        ))
        .arg(format!("--load=module-null-sink sink_name={ROOM} rate=48000 channels=2"))
        .arg(format!(
            "--load=module-remap-sink sink_name={ROOM_SPEAKER} master={ROOM} channels=1 channel_map=mono master_channel_map=front-left remix=no"
        ))
        .arg(format!(
            "--load=module-remap-sink sink_name={ROOM_FEED} master={ROOM} channels=1 channel_map=mono master_channel_map=front-right remix=no"
        ))
        .arg(format!("--load={}", ROOM_MIC_MODULE.join(" ")))
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("PULSE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start pulseaudio: {e}"))
}

/// Waits until the server at `env` answers, then makes the test sink and
/// the microphone its defaults.
fn wait_ready(env: &[(&'static str, String)]) {
    let pactl = |args: &[&str]| {
        Command::new("pactl")
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pactl(&["info"]) {
        assert!(Instant::now() < deadline, "pulseaudio did not come up within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pactl(&["set-default-sink", SINK]), "pactl set-default-sink failed");
    assert!(
        pactl(&["set-default-source", MIC_SOURCE]),
        "pactl set-default-source failed"
    );
}

/// Plays `samples` (mono `f32` at `rate`) into the microphone's sink, from
/// a child that inherited [`Pulse::env`] (or with `env` on top). The
/// `pacat` process exits once it has played them; dropping the returned
/// guard stops it sooner and reaps it.
///
/// # Panics
/// If `pacat` cannot start.
#[must_use]
pub fn feed_mic(env: &[(&'static str, String)], samples: &[f32], rate: u32) -> ChildGuard {
    feed(env, MIC_SINK, samples, rate)
}

/// Plays `samples` (mono `f32` at `rate`) into the room's microphone side
/// ([`ROOM_FEED`]), with `env` on top of this process's environment. As
/// [`feed_mic`].
///
/// # Panics
/// If `pacat` cannot start.
#[must_use]
pub fn feed_room(env: &[(&'static str, String)], samples: &[f32], rate: u32) -> ChildGuard {
    feed(env, ROOM_FEED, samples, rate)
}

/// Removes the room's microphone from the server, as a USB microphone
/// pulled out; [`plug_room_mic`] puts it back under the same name.
///
/// # Panics
/// If `pactl` fails.
pub fn unplug_room_mic(env: &[(&'static str, String)]) {
    let modules = pactl_output(env, &["list", "short", "modules"]);
    let index = modules
        .lines()
        .find(|l| l.contains(&format!("source_name={ROOM_MIC}")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the room's microphone is not loaded:\n{modules}"))
        .to_owned();
    pactl_output(env, &["unload-module", &index]);
}

/// Loads the room's microphone again (see [`unplug_room_mic`]).
///
/// # Panics
/// If `pactl` fails.
pub fn plug_room_mic(env: &[(&'static str, String)]) {
    pactl_output(env, &["load-module", ROOM_MIC_MODULE[0], ROOM_MIC_MODULE[1]]);
}

fn pactl_output(env: &[(&'static str, String)], args: &[&str]) -> String {
    let out = Command::new("pactl")
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run pactl: {e}"));
    assert!(
        out.status.success(),
        "pactl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn feed(env: &[(&'static str, String)], device: &str, samples: &[f32], rate: u32) -> ChildGuard {
    use std::io::Write as _;
    let mut child = Command::new("pacat")
        .arg("--playback")
        .arg(format!("--device={device}"))
        // A quarter second buffered in the server: a feeder starved of CPU
        // on a busy machine must not cut gaps into the voice (the whisper
        // in pieces is no speech to the VAD). What the daemon heard and
        // when is measured on the room's recording, not from this process.
        .args(["--format=float32le", "--channels=1", "--raw", "--latency-msec=250"])
        .arg(format!("--rate={rate}"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start pacat: {e}"));
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    ChildGuard(child)
}

/// Starts a new server where the one a child was given listened (same
/// socket, same state folder), as a sound server that comes back after a
/// crash; it stops when the returned process is killed or the test ends.
///
/// # Panics
/// Outside a child given [`Pulse::env`], or if the server does not come up.
#[must_use]
pub fn restart_inherited_server() -> ChildGuard {
    let socket = std::env::var("PULSE_SERVER")
        .ok()
        .and_then(|s| s.strip_prefix("unix:").map(PathBuf::from))
        .unwrap_or_else(|| panic!("no PULSE_SERVER: not a child of a Pulse test"));
    let home = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no XDG_RUNTIME_DIR: not a child of a Pulse test"));
    let child = spawn_server(&home, &socket);
    wait_ready(&[]);
    ChildGuard(child)
}

/// A process started for a test ([`restart_inherited_server`],
/// [`feed_mic`]); dropping it stops it and reaps it.
#[derive(Debug)]
pub struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills the server a child was given (see [`Pulse::env`]), from inside
/// the child: the sound server vanishes under a playing stream.
pub fn kill_inherited_server() {
    if let Some(pid) = std::env::var("ASSISTANTD_TEST_PULSE_PID")
        .ok()
        .filter(|p| !p.is_empty())
    {
        let _ = Command::new("kill").args(["-9", &pid]).status();
    }
}

/// Whether this process is the child [`in_child`] started.
#[must_use]
pub fn is_child() -> bool {
    std::env::var_os("ASSISTANTD_TEST_CHILD").is_some()
}

/// Runs the test `name` of the current test binary again in a child process
/// with `env` set, and returns whether it passed (its output is passed
/// through). A child that ran no test (a renamed test, a wrong filter)
/// did not pass. In the child, [`is_child`] is true.
///
/// # Panics
/// If the child cannot be started.
#[must_use]
pub fn in_child(name: &str, env: &[(&'static str, String)]) -> bool {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("ASSISTANTD_TEST_CHILD", "1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot re-run {name}: {e}"));
    // Prefixed, so that the child's own "test result" line is not counted
    // twice by whoever sums the runner's output.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().chain(String::from_utf8_lossy(&out.stderr).lines()) {
        if line.starts_with("SKIP ") {
            crate::report_skip(&format!("  [child] {line}"));
        } else {
            eprintln!("  [child] {line}");
        }
    }
    let ran = child_tests_run(&stdout);
    if ran == Some(0) || ran.is_none() {
        eprintln!("the child process for {name} ran no test: is the name exact?");
        return false;
    }
    out.status.success()
}

/// How many tests a test binary's output says it runs (`running N tests`),
/// if it says.
fn child_tests_run(stdout: &str) -> Option<u32> {
    stdout.lines().find_map(|line| {
        let rest = line.strip_prefix("running ")?;
        let (count, what) = rest.split_once(' ')?;
        what.starts_with("test").then(|| count.parse().ok())?
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_that_ran_nothing_is_told_apart() {
        let ran = "\nrunning 1 test\ntest x ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out; finished in 0.2s\n";
        assert_eq!(super::child_tests_run(ran), Some(1));
        let failed = "\nrunning 1 test\ntest x ... FAILED\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored\n";
        assert_eq!(super::child_tests_run(failed), Some(1), "a failure is a test that ran");
        let none = "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 10 filtered out; finished in 0.00s\n";
        assert_eq!(super::child_tests_run(none), Some(0));
        assert_eq!(super::child_tests_run("error: no such test binary"), None);
    }
}
