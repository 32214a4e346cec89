//! The audio devices the sound system offers, and finding one by name.
//!
//! Playback and capture both take a device by its id (`host:device`) or its
//! human-readable name, compared exactly and then without case, and both
//! list the others when the name matches none.

use cpal::traits::{DeviceTrait as _, HostTrait as _};

/// Which way the audio flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Microphones and monitors.
    Input,
    /// Speakers and sinks.
    Output,
}

/// An audio device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioDevice {
    /// A stable identifier (host and device), accepted wherever a device is named.
    pub id: String,
    /// The human-readable name, also accepted.
    pub name: String,
    /// Whether this is the system default for its direction.
    pub is_default: bool,
}

/// Why a device could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No device matches; the ones there are, comma-separated ("none" if none).
    NotFound(String),
    /// The sound system could not list its devices.
    Unavailable(String),
}

fn describe(device: &cpal::Device) -> (String, String) {
    let id = device.id().map(|id| id.to_string()).unwrap_or_default();
    let name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| id.clone());
    (id, name)
}

fn devices(host: &cpal::Host, direction: Direction) -> Result<Vec<cpal::Device>, Lookup> {
    let listed = match direction {
        Direction::Input => host.input_devices().map(Iterator::collect),
        Direction::Output => host.output_devices().map(Iterator::collect),
    };
    listed.map_err(|e| Lookup::Unavailable(e.to_string()))
}

/// The devices of `direction` on the default host (PulseAudio or PipeWire
/// where a server answers, else ALSA).
///
/// # Errors
/// The sound system's message if it cannot list them.
pub fn list(direction: Direction) -> Result<Vec<AudioDevice>, String> {
    let host = cpal::default_host();
    let default = match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    };
    let default_id = default.and_then(|d| d.id().ok()).map(|id| id.to_string());
    let found = devices(&host, direction).map_err(|e| match e {
        Lookup::NotFound(_) => String::new(),
        Lookup::Unavailable(reason) => reason,
    })?;
    Ok(found
        .iter()
        .map(|device| {
            let (id, name) = describe(device);
            AudioDevice {
                is_default: default_id.as_deref() == Some(id.as_str()),
                id,
                name,
            }
        })
        .collect())
}

/// The device of `direction` called `name` (its id or its name).
pub(crate) fn find(host: &cpal::Host, direction: Direction, name: &str) -> Result<cpal::Device, Lookup> {
    let mut available = Vec::new();
    for device in devices(host, direction)? {
        let (id, label) = describe(&device);
        if id == name || label == name || id.eq_ignore_ascii_case(name) || label.eq_ignore_ascii_case(name) {
            return Ok(device);
        }
        available.push(if label.is_empty() { id } else { label });
    }
    Err(Lookup::NotFound(if available.is_empty() {
        "none".into()
    } else {
        available.join(", ")
    }))
}

/// A device's name for messages.
pub(crate) fn name_of(device: &cpal::Device) -> String {
    describe(device).1
}
