//! Capture on a private PulseAudio server: the microphone is the monitor of
//! a null sink that the test plays into with `pacat` (a real record stream
//! through cpal's PulseAudio host, as a desktop microphone would be).
//! Each test runs its body in a child process with `PULSE_SERVER` set.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use assistant_audio::capture::{CaptureError, CaptureEvent, InputSettings, Microphone};
use assistant_core::{AudioFrame, Clock};
use assistant_tests::pulse::{self, Pulse};

fn run_in_child(test: &str) {
    let Some(pulse) = Pulse::start(test) else { return };
    assert!(pulse::in_child(test, &pulse.env()), "the child failed");
}

fn tone(hz: f64, seconds: f64, rate: u32) -> Vec<f32> {
    (0..(seconds * f64::from(rate)) as usize)
        .map(|i| (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// Frames received until `until` returns true for the frames so far, or
/// `limit` passes (then the test fails, naming `what`).
fn collect(mic: &Microphone, limit: Duration, what: &str, until: impl Fn(&[AudioFrame]) -> bool) -> Vec<AudioFrame> {
    let deadline = Instant::now() + limit;
    let mut frames = Vec::new();
    while !until(&frames) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what} within {limit:?} ({} frames came)",
            frames.len()
        );
        match mic.frames().recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(frame) => frames.push(frame),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!("the microphone closed while waiting for {what}"),
        }
    }
    frames
}

#[test]
fn the_microphone_delivers_20_ms_frames_stamped_in_order() {
    let test = "the_microphone_delivers_20_ms_frames_stamped_in_order";
    if !pulse::is_child() {
        return run_in_child(test);
    }
    let clock = Clock::start();
    let mic = Microphone::open(&InputSettings::default(), clock).expect("the default source opens");
    let rate = mic.sample_rate();
    assert!(
        mic.device().contains("assistantd_test_mic") || mic.device().contains("Monitor"),
        "{}",
        mic.device()
    );
    let feeder = pulse::feed_mic(&[], &tone(440.0, 1.0, 48_000), 48_000);
    let frames = collect(&mic, Duration::from_secs(10), "a second of the tone", |f| {
        f.iter().filter(|f| rms(&f.samples) > 0.2).count() >= 40
    });
    drop(feeder);

    let len = assistant_core::audio::frame_samples(rate);
    assert!(
        frames.iter().all(|f| f.sample_rate == rate && f.samples.len() == len),
        "every frame is 20 ms"
    );
    // A frame's stamp carries its callback's delivery delay, which a busy
    // machine stretches by tens of ms now and then: every gap must be
    // positive (in order), and the typical one 20 ms.
    let mut gaps: Vec<f64> = frames
        .windows(2)
        .map(|pair| pair[1].captured_at.since_epoch().as_secs_f64() - pair[0].captured_at.since_epoch().as_secs_f64())
        .collect();
    assert!(gaps.iter().all(|&g| g > 0.0), "frames stamped out of order: {gaps:?}");
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(
        (0.018..0.022).contains(&median),
        "frames 20 ms apart on the clock, not {:.1} ms (median)",
        median * 1e3
    );
    let span = frames[frames.len() - 1].captured_at.since_epoch().as_secs_f64()
        - frames[0].captured_at.since_epoch().as_secs_f64();
    let expected = (frames.len() - 1) as f64 * 0.020;
    assert!(
        (span - expected).abs() < 0.1,
        "stamps drift: {span:.3} s for {expected:.3} s of audio"
    );
    let latest = frames[frames.len() - 1].captured_at;
    assert!(latest <= clock.now(), "no frame is stamped in the future");

    let loud: Vec<f32> = frames
        .iter()
        .filter(|f| rms(&f.samples) > 0.2)
        .flat_map(|f| f.samples.iter().copied())
        .collect();
    let at = |hz| assistant_tests::tone_power(&loud, hz, rate);
    assert!(
        at(440.0) > 100.0 * at(880.0) && at(440.0) > 100.0 * at(220.0),
        "the 440 Hz tone came through"
    );
    assert_eq!((mic.overruns(), mic.dropped_frames()), (0, 0), "nothing lost");
}

#[test]
fn a_vanished_sound_server_is_reported_and_the_microphone_comes_back() {
    let test = "a_vanished_sound_server_is_reported_and_the_microphone_comes_back";
    if !pulse::is_child() {
        return run_in_child(test);
    }
    let mic = Microphone::open(&InputSettings::default(), Clock::start()).expect("opens");
    collect(&mic, Duration::from_secs(10), "the first frames", |f| f.len() >= 5);

    pulse::kill_inherited_server();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lost = false;
    while !lost {
        assert!(Instant::now() < deadline, "the loss was not reported within 10 s");
        lost = mic.events().any(|e| matches!(e, CaptureEvent::Lost { .. }));
        let _ = mic.frames().recv_timeout(Duration::from_millis(50));
    }
    assert_eq!(mic.losses(), 1);

    let _server = pulse::restart_inherited_server();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut reopened = false;
    while !reopened {
        assert!(
            Instant::now() < deadline,
            "the microphone did not come back within 15 s"
        );
        reopened = mic.events().any(|e| matches!(e, CaptureEvent::Opened { .. }));
        let _ = mic.frames().recv_timeout(Duration::from_millis(50));
    }
    let feeder = pulse::feed_mic(&[], &tone(440.0, 1.0, 48_000), 48_000);
    collect(
        &mic,
        Duration::from_secs(10),
        "the tone after the server came back",
        |f| f.iter().any(|f| rms(&f.samples) > 0.2),
    );
    drop(feeder);
}

#[test]
fn an_unknown_input_is_refused_with_the_ones_there_are() {
    let test = "an_unknown_input_is_refused_with_the_ones_there_are";
    if !pulse::is_child() {
        return run_in_child(test);
    }
    let settings = InputSettings {
        device: Some("no-such-microphone".into()),
        ..InputSettings::default()
    };
    let err = Microphone::open(&settings, Clock::start()).expect_err("no such device");
    assert!(matches!(err, CaptureError::DeviceNotFound { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("no audio input device named 'no-such-microphone'") && message.contains("assistantd devices"),
        "{message}"
    );
    let inputs = assistant_audio::devices::list(assistant_audio::devices::Direction::Input).expect("inputs listed");
    let default: Vec<_> = inputs.iter().filter(|d| d.is_default).collect();
    assert_eq!(default.len(), 1, "{inputs:?}");
    let by_id = InputSettings {
        device: Some(default[0].id.clone()),
        ..InputSettings::default()
    };
    let mic = Microphone::open(&by_id, Clock::start()).expect("the default input, by id");
    collect(
        &mic,
        Duration::from_secs(10),
        "frames from the device named by id",
        |f| !f.is_empty(),
    );
}
