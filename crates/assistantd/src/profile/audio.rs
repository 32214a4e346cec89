//! `[audio]`: which microphone and output device, and how much each
//! buffers. The schema, its checks (run when the profile is parsed) and the
//! capture settings it resolves to, together; the output device and buffer
//! are read by the commands that open it.

use std::path::Path;

use anyhow::{Result, bail};
use serde::Deserialize;

/// `[audio]`: which sound devices, and how much buffering.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSection {
    /// The microphone by name or id (`assistantd devices` lists them);
    /// absent: the system default.
    pub input_device: Option<String>,
    /// How much audio the microphone delivers at a time, in milliseconds:
    /// the capture latency.
    pub input_buffer_ms: u32,
    /// The output device by name or id (`assistantd devices` lists them);
    /// absent: the system default.
    pub output_device: Option<String>,
    /// The output buffer, in milliseconds: the delay from the assistant to
    /// the speaker, and the shortest time barge-in takes to be heard.
    pub output_buffer_ms: u32,
}

impl Default for AudioSection {
    fn default() -> Self {
        Self {
            input_device: None,
            input_buffer_ms: 20,
            output_device: None,
            output_buffer_ms: 50,
        }
    }
}

impl AudioSection {
    /// The range `output_buffer_ms` must lie in.
    pub const BUFFER_MS: std::ops::RangeInclusive<u32> = 5..=1000;

    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        for (key, value, safe) in [
            ("input_buffer_ms", self.input_buffer_ms, 20),
            ("output_buffer_ms", self.output_buffer_ms, 50),
        ] {
            if !Self::BUFFER_MS.contains(&value) {
                bail!(
                    "{}: audio.{key} = {value} must be between {} and {} ({safe} is a safe default)",
                    path.display(),
                    Self::BUFFER_MS.start(),
                    Self::BUFFER_MS.end()
                );
            }
        }
        for (key, device) in [
            ("input_device", &self.input_device),
            ("output_device", &self.output_device),
        ] {
            if device.as_deref().is_some_and(|d| d.trim().is_empty()) {
                bail!(
                    "{}: audio.{key} is empty; remove it for the default device, or name one from `assistantd devices`",
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// The microphone settings.
    #[must_use]
    pub fn input(&self) -> assistant_audio::capture::InputSettings {
        assistant_audio::capture::InputSettings {
            device: self.input_device.clone(),
            buffer: std::time::Duration::from_millis(u64::from(self.input_buffer_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Profile;
    use super::super::tests::assert_refused;

    #[test]
    fn audio_settings_default_and_are_checked() {
        let profile = Profile::parse("[asr]\ntransducer = \"t\"\n", Path::new("p.toml")).expect("no [audio]");
        assert_eq!(profile.audio.output_device, None);
        assert_eq!(profile.audio.output_buffer_ms, 50);
        assert_eq!(
            profile.audio.input(),
            assistant_audio::capture::InputSettings::default()
        );
        let text = "[asr]\ntransducer = \"t\"\n[audio]\noutput_device = \"pulse\"\noutput_buffer_ms = 20\ninput_device = \"mic\"\ninput_buffer_ms = 10\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("a device");
        assert_eq!(profile.audio.output_device.as_deref(), Some("pulse"));
        assert_eq!(profile.audio.output_buffer_ms, 20);
        let input = profile.audio.input();
        assert_eq!(
            (input.device.as_deref(), input.buffer),
            (Some("mic"), std::time::Duration::from_millis(10))
        );
        assert_refused(
            "audio",
            "",
            &[
                ("output_buffer_ms = 0", "audio.output_buffer_ms = 0"),
                ("output_device = \" \"", "audio.output_device is empty"),
                ("input_buffer_ms = 5000", "audio.input_buffer_ms = 5000"),
                ("input_device = \"\"", "audio.input_device is empty"),
            ],
        );
    }
}
