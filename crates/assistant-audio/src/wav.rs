//! Reading WAV files of any common layout into [`Pcm`].
//!
//! Accepts PCM 8/16/24/32-bit integer and 32-bit float, any rate, any channel
//! count. Anything else is an error that names the file, what it is, and
//! what would work.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::Pcm;

/// Why a WAV file could not be used.
#[derive(Debug, Error)]
pub enum WavError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a RIFF/WAVE file, or its header or data is damaged.
    #[error(
        "{path} is not a readable WAV file ({reason}); convert it with e.g. `sox {path} -r 16000 -c 1 -b 16 out.wav`"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A sample layout this reader does not decode.
    #[error(
        "{path} holds {bits}-bit {format} samples, which assistantd cannot read; use 8/16/24/32-bit integer PCM or 32-bit float"
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Bits per sample.
        bits: u16,
        /// "integer" or "float".
        format: &'static str,
    },
    /// The header declares zero channels or a zero sample rate.
    #[error(
        "{path} declares {channels} channel(s) at {sample_rate} Hz; a WAV needs at least one channel and a non-zero rate"
    )]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Declared channels.
        channels: u16,
        /// Declared rate.
        sample_rate: u32,
    },
}

/// Reads a whole WAV file.
///
/// # Errors
/// [`WavError`] when the file cannot be read, is not a WAV file, is truncated
/// or damaged, or holds a sample format other than those listed above.
pub fn read(path: impl AsRef<Path>) -> Result<Pcm, WavError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| WavError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Once the file is open, anything the decoder trips over (a short read
    // included) is a property of the file, not of the system.
    let malformed = |e: hound::Error| WavError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(malformed)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(WavError::BadHeader {
            path: path.to_path_buf(),
            channels: spec.channels,
            sample_rate: spec.sample_rate,
        });
    }
    let samples: Result<Vec<f32>, hound::Error> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect(),
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1_u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
        (format, bits) => {
            return Err(WavError::UnsupportedFormat {
                path: path.to_path_buf(),
                bits,
                format: match format {
                    hound::SampleFormat::Float => "float",
                    hound::SampleFormat::Int => "integer",
                },
            });
        }
    };
    Ok(Pcm {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples: samples.map_err(malformed)?,
    })
}

/// Writes `samples` (mono, at `rate`) to `path` as 16-bit PCM, the
/// format every player reads.
///
/// # Errors
/// If the file cannot be created or written.
pub fn write_mono(path: impl AsRef<Path>, rate: u32, samples: &[f32]) -> std::io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| std::io::Error::other(e.to_string());
    let mut writer = hound::WavWriter::create(path, spec).map_err(io)?;
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(v).map_err(io)?;
    }
    writer.finalize().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(
        path: &Path,
        spec: hound::WavSpec,
        f: impl FnOnce(&mut hound::WavWriter<std::io::BufWriter<std::fs::File>>),
    ) {
        let mut w = hound::WavWriter::create(path, spec).expect("create wav");
        f(&mut w);
        w.finalize().expect("finalize wav");
    }

    fn spec(channels: u16, sample_rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn reads_every_supported_layout_to_the_same_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: [(&str, hound::WavSpec); 4] = [
            ("i16.wav", spec(1, 16_000, 16, hound::SampleFormat::Int)),
            ("i24.wav", spec(1, 44_100, 24, hound::SampleFormat::Int)),
            ("i32.wav", spec(1, 8_000, 32, hound::SampleFormat::Int)),
            ("f32.wav", spec(1, 48_000, 32, hound::SampleFormat::Float)),
        ];
        for (name, s) in cases {
            let p = dir.path().join(name);
            write(&p, s, |w| {
                for v in [0.5_f32, -0.25, 0.0] {
                    match s.sample_format {
                        hound::SampleFormat::Float => w.write_sample(v).expect("write"),
                        hound::SampleFormat::Int => {
                            let full = (1_i64 << (s.bits_per_sample - 1)) as f32;
                            w.write_sample((v * full) as i32).expect("write");
                        }
                    }
                }
            });
            let pcm = read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pcm.sample_rate, s.sample_rate, "{name}");
            assert_eq!(pcm.samples, vec![0.5, -0.25, 0.0], "{name}");
        }
    }

    #[test]
    fn stereo_keeps_its_channels_until_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("stereo.wav");
        write(&p, spec(2, 44_100, 16, hound::SampleFormat::Int), |w| {
            for v in [16_384_i16, 0, 16_384, 16_384] {
                w.write_sample(v).expect("write");
            }
        });
        let pcm = read(&p).expect("read");
        assert_eq!((pcm.channels, pcm.samples.len()), (2, 4));
        assert_eq!(pcm.into_mono().samples, vec![0.25, 0.5]);
    }

    #[test]
    fn a_file_that_is_not_a_wav_names_itself_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("notes.wav");
        std::fs::write(&p, b"this is plain text, not RIFF").expect("write");
        let err = read(&p).expect_err("text is not a WAV");
        let msg = err.to_string();
        assert!(matches!(err, WavError::Malformed { .. }), "{err:?}");
        assert!(msg.contains("notes.wav") && msg.contains("sox"), "{msg}");
    }

    #[test]
    fn a_truncated_wav_is_malformed_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("cut.wav");
        write(&p, spec(1, 16_000, 16, hound::SampleFormat::Int), |w| {
            for i in 0..1000_i16 {
                w.write_sample(i).expect("write");
            }
        });
        let bytes = std::fs::read(&p).expect("read back");
        std::fs::write(&p, &bytes[..bytes.len() - 501]).expect("truncate");
        let err = read(&p).expect_err("truncated");
        assert!(matches!(err, WavError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let err = read("/nonexistent/dir/x.wav").expect_err("missing");
        assert!(matches!(err, WavError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/dir/x.wav"));
    }

    #[test]
    fn unsupported_sample_formats_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f64.wav");
        // hound cannot write 64-bit float; patch a 32-bit float header's bit depth.
        write(&p, spec(1, 16_000, 32, hound::SampleFormat::Float), |w| {
            w.write_sample(0.1_f32).expect("write");
            w.write_sample(0.2_f32).expect("write");
        });
        let mut bytes = std::fs::read(&p).expect("read back");
        // fmt chunk: bits per sample at byte 34; block align at 32.
        bytes[34] = 64;
        bytes[32] = 8;
        bytes[28..32].copy_from_slice(&(16_000_u32 * 8).to_le_bytes());
        std::fs::write(&p, &bytes).expect("patch");
        match read(&p) {
            Err(WavError::UnsupportedFormat {
                bits: 64,
                format: "float",
                ..
            }) => {}
            Err(WavError::Malformed { .. }) => {} // hound may refuse the header itself
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
