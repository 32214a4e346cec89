//! Conversion of captured audio to the recognizer's 16 kHz.
//!
//! The streaming recognizer and the Silero VAD both run at
//! [`ASR_SAMPLE_RATE`] (16 kHz mono), while capture devices run at 44.1 or
//! 48 kHz and WAV files come at anything from 8 to 96 kHz. sherpa-onnx can
//! resample internally, but it would do so separately in each consumer (VAD and
//! recognizer), with its own filter and its own unreported delay. Instead the
//! listening stage resamples once, here, in Rust, with
//! [rubato](https://docs.rs/rubato), and every consumer sees the same 16 kHz
//! samples on the same timeline.
//!
//! # Timing rule
//!
//! Output sample `k` corresponds to input time `k / 16000` seconds. The
//! resampler's filter delay is compensated (its first delay samples are
//! dropped, and [`Resampler::flush`] emits the tail), so an onset at input
//! time `t` appears at output index `round(t * 16000)`, give or take one
//! sample (the tests allow ±2). Over a whole stream (every
//! [`Resampler::push`] followed by one [`Resampler::flush`]) the output
//! holds exactly `round(total_input * 16000 / input_rate)` samples, with
//! halves rounding up, however the input was split into calls. 16 kHz input
//! passes through untouched: no filter, no delay, nothing but appending to
//! the output.
//!
//! # Which rubato resampler, and why
//!
//! The ratio is fixed (the device's nominal rate to 16 kHz; clock drift
//! between capture and recognition does not exist because the recognizer
//! has no clock of its own), so this uses rubato's synchronous FFT resampler,
//! [`rubato::Fft`] with a Blackman-Harris² anti-aliasing window and
//! [`rubato::FixedSync::Both`]. It is the fastest of rubato's
//! band-limited resamplers and as clean as the asynchronous sinc one; the
//! asynchronous resamplers only earn their cost when the ratio must change
//! while running, and the polynomial one skips the anti-aliasing filter,
//! which folds 8–24 kHz room noise into the speech band. Fixing both block
//! sizes means the resampler always transforms the same blocks of the input,
//! whatever sizes the capture frames arrive in, so the output is bit-for-bit
//! independent of the chunking.
//!
//! The FFT block is the smallest one that yields at least 20 ms (320
//! samples) of output. Its delay, compensated as above, is half a block:
//! 10 ms for 8, 22.05, 24, 32, 44.1, 48, 88.2, 96 and 192 kHz, 20 ms for
//! 11.025 kHz. A sample therefore leaves [`Resampler::push`] at most one
//! block plus half a block (30 ms at 48 kHz) after it entered. The delay
//! dropped is the filter's centre rounded to a whole output sample; where
//! that centre falls between samples (odd blocks, e.g. 11.025 and 22.05 kHz)
//! the timeline is up to 0.4 of a sample off. Measured impulse peaks lie
//! within 0.85 of a sample of `t * 16000` at every rate from 1 to 384 kHz.
//!
//! Measured quality: a 1 kHz tone keeps its level to within 0.001 % at
//! every rate from 8 to 384 kHz. The passband is flat to 7.4 kHz and 2 dB
//! down at 7.6 kHz; 7.9 kHz comes out 66 dB down, and 8 kHz and above more
//! than 140 dB down, so nothing above the 8 kHz Nyquist limit aliases into
//! the speech band. Rates that share only a small common divisor with
//! 16 000 (say 12 345 Hz) need longer blocks, at worst one second, and so
//! more latency, but they still resample correctly.

use std::fmt;

use assistant_core::audio::ASR_SAMPLE_RATE;
use rubato::Resampler as _;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use thiserror::Error;

/// The lowest input rate [`Resampler::new`] accepts, in Hz. Far below any
/// real audio; at a few hertz the FFT blocks shrink to a sample or two and
/// the timing rule no longer holds.
pub const MIN_INPUT_RATE: u32 = 1_000;

/// The highest input rate [`Resampler::new`] accepts, in Hz.
pub const MAX_INPUT_RATE: u32 = 384_000;

/// The least output an FFT block must yield: 20 ms at 16 kHz.
const MIN_BLOCK_OUT: usize = ASR_SAMPLE_RATE as usize / 50;

/// Why a [`Resampler`] could not be created.
#[derive(Debug, Error)]
pub enum ResampleError {
    /// The input rate is zero, below [`MIN_INPUT_RATE`] or above [`MAX_INPUT_RATE`].
    #[error("unsupported input sample rate {rate} Hz: expected {MIN_INPUT_RATE} to {MAX_INPUT_RATE} Hz")]
    UnsupportedRate {
        /// The rejected rate, in Hz.
        rate: u32,
    },
    /// rubato refused to build the resampler for this rate.
    #[error("cannot resample {rate} Hz to {ASR_SAMPLE_RATE} Hz: {source}")]
    Construction {
        /// The input rate, in Hz.
        rate: u32,
        /// rubato's reason.
        #[source]
        source: rubato::ResamplerConstructionError,
    },
}

/// Streaming conversion of mono `f32` audio at any rate to 16 kHz.
///
/// Feed it with [`push`](Self::push) in chunks of any size and end each
/// stream with [`flush`](Self::flush), which also makes it ready for the
/// next stream. The output follows the [timing rule](self#timing-rule).
/// After construction it never allocates, apart from growing the caller's
/// output vector.
pub struct Resampler {
    input_rate: u32,
    /// `None` for 16 kHz input, which passes through.
    fft: Option<FftStage>,
}

/// The state of a real (non-pass-through) conversion.
struct FftStage {
    resampler: rubato::Fft<f32>,
    /// One FFT block of input, filled up to `filled`.
    block_in: Vec<f32>,
    filled: usize,
    /// The output of one FFT block.
    block_out: Vec<f32>,
    /// The resampler's delay, in output samples.
    delay: usize,
    /// How many leading output samples of this stream are still to be dropped.
    to_skip: usize,
    /// Input samples received in this stream.
    consumed: u64,
    /// Output samples emitted in this stream.
    emitted: u64,
}

impl Resampler {
    /// Create a resampler from `input_rate` Hz to 16 kHz.
    ///
    /// # Errors
    ///
    /// [`ResampleError::UnsupportedRate`] when `input_rate` is 0 or outside
    /// [`MIN_INPUT_RATE`]..=[`MAX_INPUT_RATE`]; [`ResampleError::Construction`]
    /// if rubato rejects the configuration.
    pub fn new(input_rate: u32) -> Result<Self, ResampleError> {
        if !(MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&input_rate) {
            return Err(ResampleError::UnsupportedRate { rate: input_rate });
        }
        if input_rate == ASR_SAMPLE_RATE {
            return Ok(Self { input_rate, fft: None });
        }
        let rate_in = input_rate as usize;
        let rate_out = ASR_SAMPLE_RATE as usize;
        let gcd = gcd(rate_in, rate_out);
        // rubato's blocks are whole multiples of (rate_in / gcd) input and
        // (rate_out / gcd) output samples; take the fewest that reach MIN_BLOCK_OUT.
        let multiples = MIN_BLOCK_OUT.div_ceil(rate_out / gcd);
        let chunk_in = multiples * (rate_in / gcd);
        let resampler = rubato::Fft::<f32>::new_custom(
            rate_in,
            rate_out,
            chunk_in,
            1,
            1,
            rubato::WindowFunction::BlackmanHarris2,
            rubato::FixedSync::Both,
        )
        .map_err(|source| ResampleError::Construction {
            rate: input_rate,
            source,
        })?;
        // rubato centres its anti-aliasing filter on input sample
        // `fft_size_in / 2` of each block. Its `output_delay()` is
        // `fft_size_out / 2`, which is up to 0.75 of a sample early when the
        // block is odd (and far off for one-sample blocks), so take the centre
        // itself, rounded to the nearest output sample.
        let (fft_in, fft_out) = (resampler.fft_size_in(), resampler.fft_size_out());
        let delay = ((fft_in / 2) * fft_out + fft_in / 2) / fft_in;
        Ok(Self {
            input_rate,
            fft: Some(FftStage {
                block_in: vec![0.0; resampler.input_frames_next()],
                filled: 0,
                block_out: vec![0.0; resampler.output_frames_next()],
                delay,
                to_skip: delay,
                consumed: 0,
                emitted: 0,
                resampler,
            }),
        })
    }

    /// The rate this resampler converts from, in Hz.
    #[must_use]
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    /// Resample `input` (any number of samples) and append the 16 kHz
    /// samples that are ready to `out`.
    ///
    /// Output lags input by up to one FFT block plus the filter delay (see
    /// the [module docs](self)); [`flush`](Self::flush) emits what is left.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(stage) = &mut self.fft else {
            out.extend_from_slice(input);
            return;
        };
        stage.consumed += input.len() as u64;
        let mut rest = input;
        while !rest.is_empty() {
            let take = rest.len().min(stage.block_in.len() - stage.filled);
            let (head, tail) = rest.split_at(take);
            stage.block_in[stage.filled..stage.filled + take].copy_from_slice(head);
            stage.filled += take;
            rest = tail;
            if stage.filled == stage.block_in.len() {
                stage.process_block();
                stage.emit(out, usize::MAX);
            }
        }
    }

    /// End the stream: append the remaining output to `out`, so that the
    /// whole stream yields exactly `round(total_input * 16000 / input_rate)`
    /// samples, and reset for a new stream.
    ///
    /// The input is taken to be silent after its end, so the last samples
    /// carry the filter's natural decay rather than a cut.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let input_rate = self.input_rate;
        let Some(stage) = &mut self.fft else {
            return;
        };
        let total = output_len(stage.consumed, input_rate);
        // Pad the partial block (and, for inputs shorter than the delay,
        // whole silent blocks) until every output sample has been produced.
        while stage.emitted < total {
            stage.block_in[stage.filled..].fill(0.0);
            stage.filled = stage.block_in.len();
            stage.process_block();
            let wanted = usize::try_from(total - stage.emitted).unwrap_or(usize::MAX);
            stage.emit(out, wanted);
        }
        stage.reset();
    }
}

impl FftStage {
    /// Resample the full input block into `block_out`.
    fn process_block(&mut self) {
        let frames_in = self.block_in.len();
        let frames_out = self.block_out.len();
        let result = match (
            InterleavedSlice::new(&self.block_in[..], 1, frames_in),
            InterleavedSlice::new_mut(&mut self.block_out[..], 1, frames_out),
        ) {
            (Ok(input), Ok(mut output)) => self
                .resampler
                .process_into_buffer(&input, &mut output, None)
                .map(|_| ())
                .map_err(|error| error.to_string()),
            (Err(error), _) | (_, Err(error)) => Err(error.to_string()),
        };
        // The buffers are sized from the resampler itself, so rubato cannot
        // refuse them; should it ever, keep the timeline with silence.
        if let Err(error) = result {
            debug_assert!(false, "rubato refused a block it sized itself: {error}");
            self.block_out.fill(0.0);
        }
        self.filled = 0;
    }

    /// Append `block_out` to `out`, less the samples still to be skipped and
    /// at most `limit` samples.
    fn emit(&mut self, out: &mut Vec<f32>, limit: usize) {
        let skip = self.to_skip.min(self.block_out.len());
        self.to_skip -= skip;
        let ready = &self.block_out[skip..];
        let ready = &ready[..ready.len().min(limit)];
        out.extend_from_slice(ready);
        self.emitted += ready.len() as u64;
    }

    /// Forget the stream, keeping the buffers.
    fn reset(&mut self) {
        self.resampler.reset();
        self.filled = 0;
        self.to_skip = self.delay;
        self.consumed = 0;
        self.emitted = 0;
    }
}

impl fmt::Debug for Resampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Resampler");
        s.field("input_rate", &self.input_rate)
            .field("output_rate", &ASR_SAMPLE_RATE);
        match &self.fft {
            None => s.field("mode", &"pass-through"),
            Some(stage) => s
                .field("mode", &"rubato::Fft")
                .field("block_in", &stage.block_in.len())
                .field("block_out", &stage.block_out.len())
                .field("delay", &stage.delay)
                .field("buffered", &stage.filled)
                .field("consumed", &stage.consumed)
                .field("emitted", &stage.emitted),
        };
        s.finish()
    }
}

/// `round(input_len * 16000 / input_rate)`, halves rounding up.
fn output_len(input_len: u64, input_rate: u32) -> u64 {
    let rate = u128::from(input_rate);
    let len = (u128::from(input_len) * u128::from(ASR_SAMPLE_RATE) * 2 + rate) / (2 * rate);
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;

    const RATES: [u32; 12] = [
        1_000, 8_000, 11_025, 12_345, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000, 192_000, 384_000,
    ];

    fn resample(rate: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut resampler = Resampler::new(rate).expect("supported rate");
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            resampler.push(piece, &mut out);
        }
        resampler.flush(&mut out);
        out
    }

    fn sine(rate: u32, freq: f64, amplitude: f64, seconds: f64) -> Vec<f32> {
        let len = (f64::from(rate) * seconds).round() as usize;
        (0..len)
            .map(|n| (amplitude * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// RMS of `signal` without its first and last 100 ms.
    fn inner_rms(signal: &[f32]) -> f64 {
        let inner = &signal[1600..signal.len() - 1600];
        (inner.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / inner.len() as f64).sqrt()
    }

    /// The amplitude of the `freq` component of 16 kHz `signal`, edges excluded.
    fn tone_amplitude(signal: &[f32], freq: f64) -> f64 {
        let inner = &signal[1600..signal.len() - 1600];
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &x) in inner.iter().enumerate() {
            let phase = 2.0 * PI * freq * n as f64 / f64::from(ASR_SAMPLE_RATE);
            re += f64::from(x) * phase.cos();
            im += f64::from(x) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / inner.len() as f64
    }

    fn bits(samples: &[f32]) -> Vec<u32> {
        samples.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn sixteen_khz_passes_through_untouched() {
        let input = sine(16_000, 440.0, 0.3, 0.5);
        let mut resampler = Resampler::new(16_000).expect("16 kHz");
        let mut out = Vec::new();
        resampler.push(&input[..1], &mut out);
        assert_eq!(out.len(), 1, "no delay");
        for piece in input[1..].chunks(333) {
            resampler.push(piece, &mut out);
        }
        resampler.flush(&mut out);
        assert_eq!(bits(&out), bits(&input));
        assert_eq!(resampler.input_rate(), 16_000);
    }

    #[test]
    fn zero_and_absurd_rates_are_errors_naming_the_rate() {
        for rate in [0, 1, 999, 384_001, 1_000_000, u32::MAX] {
            let error = Resampler::new(rate).expect_err("rate must be rejected");
            assert!(matches!(error, ResampleError::UnsupportedRate { rate: r } if r == rate));
            assert!(error.to_string().contains(&format!("{rate} Hz")), "{error}");
        }
        for rate in [
            1_000, 8_000, 11_025, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000, 384_000,
        ] {
            let resampler = Resampler::new(rate).expect("supported rate");
            assert_eq!(resampler.input_rate(), rate);
        }
    }

    #[test]
    fn stream_length_is_the_rounded_input_duration() {
        for rate in RATES {
            for len in [0, 1, 2, 3, 100, 959, 961, 10_007, 44_100, 48_001] {
                for chunk in [1, 7, 882, 960, 10_007] {
                    if chunk == 1 && len > 10_007 {
                        continue;
                    }
                    let input = vec![0.25_f32; len];
                    let out = resample(rate, &input, chunk);
                    let expected = ((len as f64) * 16_000.0 / f64::from(rate)).round() as usize;
                    assert_eq!(out.len(), expected, "rate {rate}, {len} samples in chunks of {chunk}");
                }
            }
        }
        assert_eq!(output_len(3, 32_000), 2, "1.5 rounds up");
        assert_eq!(output_len(1, 44_100), 0);
    }

    #[test]
    fn impulse_lands_at_its_input_time() {
        for rate in RATES {
            let len = rate as usize; // one second
            for position in [0, 1, 37, len / 7, len / 3, len - 700, len - 1] {
                let mut input = vec![0.0_f32; len];
                input[position] = 1.0;
                let out = resample(rate, &input, 960);
                let peak = out
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(index, _)| index)
                    .expect("non-empty output");
                let expected = (position as f64 * 16_000.0 / f64::from(rate)).round() as usize;
                assert!(
                    peak.abs_diff(expected) <= 2,
                    "rate {rate}: impulse at input {position} peaked at output {peak}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn onset_of_a_tone_burst_is_on_time() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let start = 0.25;
            let mut input = vec![0.0_f32; (f64::from(rate) * start) as usize];
            input.extend(sine(rate, 1_000.0, 0.5, 0.25));
            let out = resample(rate, &input, 882);
            let onset = out
                .iter()
                .position(|x| x.abs() > 0.05)
                .expect("the burst comes through");
            let expected = (start * 16_000.0) as usize;
            assert!(
                onset.abs_diff(expected) <= 2,
                "rate {rate}: onset at {onset}, expected {expected}"
            );
        }
    }

    #[test]
    fn one_khz_keeps_its_level_and_frequency() {
        let expected_rms = 0.5 / 2.0_f64.sqrt();
        for rate in [8_000, 11_025, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000] {
            let out = resample(rate, &sine(rate, 1_000.0, 0.5, 1.0), 960);
            let rms = inner_rms(&out);
            assert!(
                (rms / expected_rms - 1.0).abs() < 0.01,
                "rate {rate}: RMS {rms}, expected {expected_rms}"
            );
            let amplitude = tone_amplitude(&out, 1_000.0);
            assert!(
                (amplitude - 0.5).abs() < 0.005,
                "rate {rate}: 1 kHz amplitude {amplitude}"
            );
            // Frequency: one rising zero crossing per period, 1000 per second
            // (the 0.8 s between the excluded edges holds 800).
            let inner = &out[1600..out.len() - 1600];
            let rising = inner.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
            assert!(
                rising.abs_diff(800) <= 1,
                "rate {rate}: {rising} rising zero crossings in 0.8 s"
            );
        }
    }

    #[test]
    fn tones_above_eight_khz_are_filtered_out() {
        for (rate, freq) in [
            (48_000, 10_000.0),
            (44_100, 10_000.0),
            (22_050, 10_000.0),
            (96_000, 20_000.0),
        ] {
            let out = resample(rate, &sine(rate, freq, 0.5, 1.0), 960);
            let db = 20.0 * (inner_rms(&out) / (0.5 / 2.0_f64.sqrt())).log10();
            assert!(db < -40.0, "rate {rate}: {freq} Hz only {db:.1} dB down");
        }
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let mut input = sine(rate, 1_000.0, 0.5, 0.7);
            input
                .iter_mut()
                .enumerate()
                .for_each(|(n, x)| *x += ((n * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1);
            let whole = resample(rate, &input, input.len());
            for chunk in [1, 7, 960, 882, 10_007] {
                assert_eq!(
                    bits(&resample(rate, &input, chunk)),
                    bits(&whole),
                    "rate {rate}, chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn flush_starts_a_fresh_stream() {
        let first = sine(48_000, 300.0, 0.5, 0.3);
        let second = sine(48_000, 1_700.0, 0.4, 0.2);
        let mut resampler = Resampler::new(48_000).expect("48 kHz");
        let mut out = Vec::new();
        resampler.push(&first, &mut out);
        resampler.flush(&mut out);
        out.clear();
        resampler.push(&second, &mut out);
        resampler.flush(&mut out);
        assert_eq!(bits(&out), bits(&resample(48_000, &second, 960)));
    }

    #[test]
    fn steady_state_push_does_not_allocate() {
        for (rate, frame) in [(48_000, 960), (44_100, 882), (22_050, 441), (8_000, 160)] {
            let input = sine(rate, 1_000.0, 0.5, 2.0);
            let mut resampler = Resampler::new(rate).expect("supported rate");
            let mut out = Vec::with_capacity(64_000);
            let mut frames = input.chunks(frame);
            // Warm up: the first block sets up nothing new, but be generous.
            for piece in frames.by_ref().take(5) {
                resampler.push(piece, &mut out);
            }
            let before = counting_alloc::allocations();
            for piece in frames {
                resampler.push(piece, &mut out);
            }
            assert_eq!(counting_alloc::allocations(), before, "rate {rate}: push allocated");
        }
    }

    #[test]
    fn debug_shows_the_configuration() {
        let text = format!("{:?}", Resampler::new(48_000).expect("48 kHz"));
        assert!(
            text.contains("input_rate: 48000") && text.contains("delay: 160"),
            "{text}"
        );
        let text = format!("{:?}", Resampler::new(16_000).expect("16 kHz"));
        assert!(text.contains("pass-through"), "{text}");
    }

    /// A global allocator that counts allocations per thread, so
    /// [`steady_state_push_does_not_allocate`] is not disturbed by tests
    /// running in parallel.
    mod counting_alloc {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
        }

        struct Counting;

        // SAFETY: every method forwards to `System` with the caller's own
        // arguments, so `System`'s guarantees carry over unchanged; the
        // counter is a const-initialised thread-local `Cell` that never
        // allocates.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                count();
                // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
                unsafe { System.alloc(layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                count();
                // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
                unsafe { System.alloc_zeroed(layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                count();
                // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
                unsafe { System.realloc(ptr, layout, new_size) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;

        fn count() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }

        /// Allocations made so far by the current thread.
        pub(super) fn allocations() -> u64 {
            ALLOCATIONS.with(Cell::get)
        }
    }
}
