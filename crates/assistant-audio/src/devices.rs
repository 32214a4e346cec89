//! The audio devices the sound system offers, and finding one by name.
//!
//! Playback and capture both take a device by its id (`host:device`) or its
//! human-readable name, compared exactly and then without case, and both
//! list the others when the name matches none. [`locate`] finds the device
//! a setting names (or the default) and asks for its format without
//! opening a stream, which is what `assistantd doctor` reports.

use cpal::traits::{DeviceTrait as _, HostTrait as _};

/// Which way the audio flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Microphones and monitors.
    Input,
    /// Speakers and sinks.
    Output,
}

impl Direction {
    /// "input" or "output", for messages.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
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
        available.push(entry(id, label));
    }
    Err(Lookup::NotFound(joined(available)))
}

/// A device in a list of those available: its id, which is unique, and
/// its name, which may not be ("pulseaudio:mic.monitor (Monitor of Null Output)").
fn entry(id: String, label: String) -> String {
    if label.is_empty() || label == id {
        id
    } else {
        format!("{id} ({label})")
    }
}

/// "a, b, c", or "none".
fn joined(names: Vec<String>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A device found by [`locate`]: there, and able to say what format a
/// stream on it would have. No stream was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The device.
    pub device: AudioDevice,
    /// The sound system it was found through ("PulseAudio", "ALSA", …):
    /// ALSA means no PulseAudio or PipeWire server answered.
    pub host: &'static str,
    /// Its default rate, in Hz.
    pub sample_rate: u32,
    /// Its default channel count.
    pub channels: u16,
}

/// Why [`locate`] has no device to give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// No device is called that.
    #[error("no audio {direction} device named '{name}' (available: {available})")]
    NotFound {
        /// Which way.
        direction: Direction,
        /// The name asked for.
        name: String,
        /// The devices there are, comma-separated ("none" if none), each
        /// as "id (name)".
        available: String,
    },
    /// The sound system has no default device of that direction.
    #[error("no default audio {direction} device (available: {available})")]
    NoDefault {
        /// Which way.
        direction: Direction,
        /// The devices there are, comma-separated ("none" if none).
        available: String,
    },
    /// The device is listed but cannot tell its format (the sound server
    /// behind it is gone, or the hardware is busy or unplugged).
    #[error("the audio {direction} device '{device}' cannot be used ({reason})")]
    Unusable {
        /// Which way.
        direction: Direction,
        /// The device's name.
        device: String,
        /// The sound system's words.
        reason: String,
    },
    /// The sound system could not list its devices.
    #[error("cannot list the audio {direction} devices: {reason}")]
    Unavailable {
        /// Which way.
        direction: Direction,
        /// The sound system's words.
        reason: String,
    },
}

/// The device of `direction` that `name` names (an id or a name, as
/// [`list`] shows them), or the system default for `None`, with its
/// default format. Nothing is opened for streaming, so this is safe to call
/// while the daemon holds the device.
///
/// # Errors
/// [`Missing`], saying which of its cases holds.
pub fn locate(direction: Direction, name: Option<&str>) -> Result<Located, Missing> {
    let host = cpal::default_host();
    let default = match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    };
    let default_id = default.as_ref().and_then(|d| d.id().ok()).map(|id| id.to_string());
    let device = match name {
        Some(name) => find(&host, direction, name).map_err(|e| match e {
            Lookup::NotFound(available) => Missing::NotFound {
                direction,
                name: name.to_owned(),
                available,
            },
            Lookup::Unavailable(reason) => Missing::Unavailable { direction, reason },
        })?,
        None => match default {
            Some(device) => device,
            None => {
                let listed = devices(&host, direction).map_err(|e| match e {
                    Lookup::NotFound(available) => Missing::NoDefault { direction, available },
                    Lookup::Unavailable(reason) => Missing::Unavailable { direction, reason },
                })?;
                let available = listed
                    .iter()
                    .map(|d| {
                        let (id, label) = describe(d);
                        entry(id, label)
                    })
                    .collect();
                return Err(Missing::NoDefault {
                    direction,
                    available: joined(available),
                });
            }
        },
    };
    let (id, label) = describe(&device);
    let config = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(|e| Missing::Unusable {
        direction,
        device: if label.is_empty() { id.clone() } else { label.clone() },
        reason: e.to_string().trim_end_matches('.').to_owned(),
    })?;
    Ok(Located {
        device: AudioDevice {
            is_default: default_id.as_deref() == Some(id.as_str()),
            id,
            name: label,
        },
        host: host.id().name(),
        sample_rate: config.sample_rate(),
        channels: config.channels(),
    })
}

/// A device's name for messages.
pub(crate) fn name_of(device: &cpal::Device) -> String {
    describe(device).1
}
