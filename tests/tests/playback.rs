//! Playback through a real sound server: a private PulseAudio with a null
//! sink (`assistant_tests::pulse`), recorded from the sink's monitor.
//!
//! Each test starts its own server and runs its body in a child process
//! that has `PULSE_SERVER` set (the variable is per process). Time is only
//! compared to itself (event order, sample counts, recorded lengths with a
//! tolerance of the device buffer), never to a wall-clock limit.

use std::time::{Duration, Instant};

use assistant_audio::playback::{OutputSettings, PlaybackError, PlaybackEvent, Speaker};
use assistant_core::{Clock, SpeechChunk, Timestamp, TurnId};
use assistant_tests::pulse::{self, Pulse, Recording};

const RATE: u32 = 22_050;

/// Runs `body` in a child process talking to a fresh private server.
fn with_pulse(test: &str, body: impl FnOnce()) {
    if pulse::is_child() {
        body();
        return;
    }
    let Some(server) = Pulse::start(test) else { return };
    assert!(
        pulse::in_child(test, &server.env()),
        "{test} failed in its child process"
    );
}

fn tone(hz: f32, seconds: f32) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    (0..n)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / RATE as f32).sin())
        .collect()
}

fn chunk(turn: u64, clause: u32, samples: Vec<f32>) -> SpeechChunk {
    SpeechChunk {
        turn: TurnId(turn),
        clause,
        sample_rate: RATE,
        samples,
        synthesized_at: Timestamp::ZERO,
    }
}

/// Power of `hz` in `samples` (Goertzel), normalised by length.
fn power_at(samples: &[f32], hz: f32) -> f32 {
    (assistant_tests::tone_power(samples, f64::from(hz), RATE) / (samples.len().max(1) as f64).powi(2)) as f32
}

/// The first and one past the last sample louder than silence, in 10 ms
/// windows.
fn sounding(samples: &[f32]) -> Option<(usize, usize)> {
    let window = RATE as usize / 100;
    let loud: Vec<bool> = samples
        .chunks(window)
        .map(|w| w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32 > 1e-4)
        .collect();
    let first = loud.iter().position(|&l| l)?;
    let last = loud.iter().rposition(|&l| l)?;
    Some((first * window, (last + 1) * window))
}

fn next_event(speaker: &Speaker) -> PlaybackEvent {
    speaker
        .next_event(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no playback event within 10 s"))
}

fn open(clock: Clock) -> Speaker {
    Speaker::open(&OutputSettings::default_device(RATE), clock).unwrap_or_else(|e| panic!("cannot open: {e}"))
}

/// Waits until the recording has `seconds` more audio than at the start.
fn record_for(recording: &Recording, seconds: f32) {
    let target = recording.samples().len() + (seconds * RATE as f32) as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while recording.samples().len() < target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn clauses_play_in_order_and_report_when_they_reached_the_device() {
    with_pulse("clauses_play_in_order_and_report_when_they_reached_the_device", || {
        let clock = Clock::start();
        let speaker = open(clock);
        assert_eq!(speaker.sample_rate(), RATE);
        let recording = Recording::start(&[], RATE);
        let before = clock.now();
        speaker
            .play(chunk(1, 0, tone(440.0, 0.4)))
            .unwrap_or_else(|e| panic!("{e}: {:?}", speaker.try_event()));
        speaker
            .play(chunk(1, 1, tone(1320.0, 0.3)))
            .unwrap_or_else(|e| panic!("{e}"));
        let events: Vec<PlaybackEvent> = (0..4).map(|_| next_event(&speaker)).collect();
        let after = clock.now();
        record_for(&recording, 0.3);
        let audio = recording.stop();

        let at = |e: &PlaybackEvent| match e {
            PlaybackEvent::Started { at, .. } | PlaybackEvent::Finished { at, .. } => *at,
            other => panic!("unexpected {other:?}"),
        };
        assert!(
            matches!(
                events[0],
                PlaybackEvent::Started {
                    turn: TurnId(1),
                    clause: 0,
                    ..
                }
            ),
            "{events:?}"
        );
        assert!(
            matches!(events[1], PlaybackEvent::Finished { clause: 0, samples, .. } if samples == 8820),
            "{events:?}"
        );
        assert!(
            matches!(events[2], PlaybackEvent::Started { clause: 1, .. }),
            "{events:?}"
        );
        assert!(
            matches!(events[3], PlaybackEvent::Finished { clause: 1, samples, .. } if samples == 6615),
            "{events:?}"
        );
        // The first stamp is the callback's, inside the test's own window;
        // the others follow from it at the sample rate (the device takes
        // samples in bursts, so they are a playout schedule), and the
        // second clause starts where the first ends (no gap was queued).
        assert!(
            before <= at(&events[0]) && at(&events[0]) <= after,
            "{events:?} outside {before:?}..{after:?}"
        );
        let whole = at(&events[3]).checked_since(at(&events[0])).unwrap_or_default();
        assert_eq!(
            whole,
            Duration::from_nanos((8820 + 6615) * 1_000_000_000 / u64::from(RATE))
        );
        assert_eq!(at(&events[1]), at(&events[2]));
        let first = at(&events[1]).checked_since(at(&events[0])).unwrap_or_default();
        assert_eq!(first, Duration::from_nanos(8820 * 1_000_000_000 / u64::from(RATE)));

        // What the sink played: 0.7 s of sound, 440 Hz then 1320 Hz.
        let (start, end) = sounding(&audio).unwrap_or_else(|| panic!("the sink played nothing"));
        let heard = (end - start) as f32 / RATE as f32;
        assert!((heard - 0.7).abs() < 0.03, "heard {heard} s of sound, expected 0.7 s");
        let part1 = &audio[start + 2205..start + 6615];
        let part2 = &audio[start + 9900..start + 14_000];
        assert!(
            power_at(part1, 440.0) > 100.0 * power_at(part1, 1320.0),
            "first clause is not 440 Hz"
        );
        assert!(
            power_at(part2, 1320.0) > 100.0 * power_at(part2, 440.0),
            "second clause is not 1320 Hz"
        );
    });
}

#[test]
fn stop_cuts_the_clause_and_reports_how_much_was_heard() {
    with_pulse("stop_cuts_the_clause_and_reports_how_much_was_heard", || {
        let clock = Clock::start();
        let speaker = open(clock);
        let recording = Recording::start(&[], RATE);
        speaker
            .play(chunk(1, 0, tone(440.0, 3.0)))
            .unwrap_or_else(|e| panic!("{e}"));
        speaker
            .play(chunk(1, 1, tone(660.0, 1.0)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(next_event(&speaker), PlaybackEvent::Started { clause: 0, .. }));
        std::thread::sleep(Duration::from_millis(400));
        speaker.stop_through(TurnId(1)).unwrap_or_else(|e| panic!("{e}"));
        let cut = next_event(&speaker);
        let PlaybackEvent::Interrupted {
            clause: 0, played, of, ..
        } = cut
        else {
            panic!("expected clause 0 interrupted, got {cut:?}")
        };
        assert_eq!(of, 3 * RATE as usize);
        assert!(played > 0 && played < of, "played {played} of {of}");
        let never = next_event(&speaker);
        assert!(
            matches!(never, PlaybackEvent::Interrupted { clause: 1, played: 0, of, .. } if of == RATE as usize),
            "{never:?}"
        );

        // A late chunk of the stopped turn (a play that raced the stop) is
        // dropped unheard.
        speaker
            .play(chunk(1, 2, tone(660.0, 0.5)))
            .unwrap_or_else(|e| panic!("{e}"));
        let late = next_event(&speaker);
        assert!(
            matches!(
                late,
                PlaybackEvent::Interrupted {
                    turn: TurnId(1),
                    clause: 2,
                    played: 0,
                    ..
                }
            ),
            "{late:?}"
        );

        // The next turn plays normally after the stop.
        speaker
            .play(chunk(2, 0, tone(1320.0, 0.2)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            next_event(&speaker),
            PlaybackEvent::Started { turn: TurnId(2), .. }
        ));
        assert!(matches!(
            next_event(&speaker),
            PlaybackEvent::Finished { turn: TurnId(2), .. }
        ));
        record_for(&recording, 0.3);
        let audio = recording.stop();

        // The sink heard the 440 Hz tone for as long as the event says
        // (give or take the device buffer), then the next turn's 1320 Hz,
        // possibly without a gap, and never the dropped 660 Hz clause.
        let window = RATE as usize / 100;
        let (start, _) = sounding(&audio).unwrap_or_else(|| panic!("the sink played nothing"));
        let tone_ends = audio[start..]
            .chunks(window)
            .position(|w| {
                let loud = w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32 > 1e-4;
                !(loud && power_at(w, 440.0) > power_at(w, 1320.0))
            })
            .unwrap_or(0)
            * window;
        let heard = tone_ends as f32 / RATE as f32;
        let reported = played as f32 / RATE as f32;
        assert!(
            (heard - reported).abs() < 0.1,
            "the sink heard {heard} s of the first clause, the event says {reported} s"
        );
        let after_cut = &audio[start + tone_ends..];
        assert!(power_at(after_cut, 660.0) < 1e-6, "the dropped clause was heard");
        assert!(power_at(after_cut, 1320.0) > 1e-4, "the next turn was not heard");
    });
}

#[test]
fn pause_silences_the_device_and_resume_plays_on_from_where_it_paused() {
    with_pulse(
        "pause_silences_the_device_and_resume_plays_on_from_where_it_paused",
        || {
            let clock = Clock::start();
            let speaker = open(clock);
            let pause = speaker.pause_handle();
            let recording = Recording::start(&[], RATE);
            speaker
                .play(chunk(1, 0, tone(440.0, 1.0)))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(next_event(&speaker), PlaybackEvent::Started { clause: 0, .. }));
            std::thread::sleep(Duration::from_millis(300));
            pause.pause();
            assert!(pause.is_paused());
            // Far longer than the stall limit would allow for a device that
            // stopped taking audio: a pause is no failure.
            std::thread::sleep(Duration::from_millis(700));
            assert_eq!(speaker.try_event(), None, "an event while paused");
            pause.resume();
            let finished = next_event(&speaker);
            assert!(
                matches!(finished, PlaybackEvent::Finished { clause: 0, samples, .. } if samples == RATE as usize),
                "{finished:?}"
            );
            record_for(&recording, 0.3);
            let audio = recording.stop();

            // The sink heard the whole second of tone, in two parts with a gap
            // as long as the pause (give or take a device buffer), and nothing
            // of it was lost or repeated.
            let window = RATE as usize / 100;
            let loud: Vec<bool> = audio
                .chunks(window)
                .map(|w| w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32 > 1e-4)
                .collect();
            let first = loud
                .iter()
                .position(|&l| l)
                .unwrap_or_else(|| panic!("the sink played nothing"));
            let gap_start = first + loud[first..].iter().position(|&l| !l).unwrap_or(0);
            let gap_end = gap_start + loud[gap_start..].iter().position(|&l| l).unwrap_or(0);
            let last = loud.iter().rposition(|&l| l).unwrap_or(0) + 1;
            let seconds = |windows: usize| windows as f32 / 100.0;
            let sounded = seconds(gap_start - first) + seconds(last - gap_end);
            let gap = seconds(gap_end - gap_start);
            assert!((sounded - 1.0).abs() < 0.05, "heard {sounded} s of a 1 s tone");
            assert!(
                (gap - 0.7).abs() < 0.12,
                "the pause was heard as {gap} s of silence, expected about 0.7 s"
            );
            assert!(seconds(gap_start - first) > 0.2, "paused too early");
        },
    );
}

#[test]
fn a_vanished_sound_server_is_reported_not_hung_on() {
    with_pulse("a_vanished_sound_server_is_reported_not_hung_on", || {
        let speaker = open(Clock::start());
        speaker
            .play(chunk(1, 0, tone(440.0, 5.0)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(next_event(&speaker), PlaybackEvent::Started { .. }));
        pulse::kill_inherited_server();
        let failed = next_event(&speaker);
        let PlaybackEvent::Failed(error) = failed else {
            panic!("expected a failure, got {failed:?}")
        };
        eprintln!("reported: {error}");
        assert!(matches!(error, PlaybackError::DeviceLost { .. }), "{error:?}");
        assert!(error.to_string().contains("sound server"), "{error}");
        // The speaker is closed, not stuck.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match speaker.play(chunk(2, 0, tone(440.0, 0.1))) {
                Err(PlaybackError::Closed) => break,
                other => assert!(Instant::now() < deadline, "play after failure: {other:?}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn bad_requests_are_clear_errors() {
    with_pulse("bad_requests_are_clear_errors", || {
        let mut settings = OutputSettings::default_device(RATE);
        settings.device = Some("no-such-speakers".into());
        let error = Speaker::open(&settings, Clock::start()).err();
        let Some(PlaybackError::DeviceNotFound { name, available }) = &error else {
            panic!("expected DeviceNotFound, got {error:?}")
        };
        assert_eq!(name, "no-such-speakers");
        assert!(!available.is_empty());
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("assistantd devices"), "{message}");

        let speaker = open(Clock::start());
        let mut wrong = chunk(1, 0, tone(440.0, 0.1));
        wrong.sample_rate = 16_000;
        assert_eq!(
            speaker.play(wrong),
            Err(PlaybackError::RateMismatch {
                chunk: 16_000,
                stream: RATE
            })
        );
    });
}

#[test]
fn no_sound_server_is_a_clear_error_at_open() {
    if pulse::is_child() {
        let error = Speaker::open(&OutputSettings::default_device(RATE), Clock::start()).err();
        let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(error, Some(PlaybackError::Open { .. } | PlaybackError::NoDevice)),
            "expected an open error, got {error:?}"
        );
        assert!(
            message.contains("sound server") || message.contains("PulseAudio"),
            "{message}"
        );
        return;
    }
    let Some(server) = Pulse::start("no_sound_server_is_a_clear_error_at_open") else {
        return;
    };
    let mut env = server.env();
    for (key, value) in &mut env {
        if *key == "PULSE_SERVER" {
            *value = format!("unix:{}/nothing-here", server.dir().display());
        }
    }
    assert!(pulse::in_child("no_sound_server_is_a_clear_error_at_open", &env));
}
