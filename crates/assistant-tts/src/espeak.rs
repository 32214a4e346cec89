//! Every call into `libespeak-ng`.
//!
//! espeak-ng keeps global state (the current voice, its dictionaries), so the
//! library is initialized once per process and used through a [`Mutex`]:
//! [`Espeak::lock`] hands out exclusive access. The library is initialized
//! with `espeakINITIALIZE_DONT_EXIT` so that missing data is an error, not a
//! call to `exit()` inside the library.

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::TtsError;

mod sys {
    use std::ffi::{c_char, c_int, c_void};

    /// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`: no audio thread.
    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    /// Return errors instead of calling `exit()`.
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    /// Input text is UTF-8.
    pub const CHARS_UTF8: c_int = 1;
    /// `phonememode` bit 1: phoneme names as IPA.
    pub const PHONEMES_IPA: c_int = 0x02;
    /// `espeak_ERROR::EE_OK`.
    pub const EE_OK: c_int = 0;

    #[link(name = "espeak-ng")]
    unsafe extern "C" {
        pub fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_TextToPhonemes(textptr: *mut *const c_void, textmode: c_int, phonememode: c_int)
        -> *const c_char;
        pub fn espeak_Info(path_data: *mut *const c_char) -> *const c_char;
    }
}

/// Exclusive access to the process's espeak-ng.
#[derive(Debug)]
pub struct Espeak {
    voice: Option<String>,
    sample_rate: u32,
}

/// One clause as espeak-ng phonemized it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClausePhonemes {
    /// IPA phonemes of the clause (words separated by spaces).
    pub phonemes: String,
    /// Bytes of the input consumed by the end of this clause. espeak-ng reads
    /// past the terminator and the spaces after it, into the first code point
    /// of the next clause; the caller recovers the terminator from this.
    pub consumed: usize,
}

static ESPEAK: OnceLock<Result<Mutex<Espeak>, String>> = OnceLock::new();

impl Espeak {
    /// Initializes espeak-ng on first use and locks it.
    ///
    /// # Errors
    /// [`TtsError::EspeakInit`] if espeak-ng cannot find or read its data.
    pub fn lock() -> Result<MutexGuard<'static, Self>, TtsError> {
        let cell = ESPEAK.get_or_init(|| {
            // SAFETY: called once (OnceLock) before any other espeak call; a
            // null path selects the data folder compiled into the library.
            let rate = unsafe {
                sys::espeak_Initialize(
                    sys::AUDIO_OUTPUT_SYNCHRONOUS,
                    0,
                    std::ptr::null(),
                    sys::INITIALIZE_DONT_EXIT,
                )
            };
            if rate <= 0 {
                Err(format!(
                    "espeak_Initialize returned {rate} (data folder {})",
                    data_path()
                ))
            } else {
                Ok(Mutex::new(Self {
                    voice: None,
                    sample_rate: rate.unsigned_abs(),
                }))
            }
        });
        match cell {
            // A panic while holding the lock cannot leave espeak half-updated
            // in a way that matters to us: the next call sets the voice again.
            Ok(mutex) => Ok(mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)),
            Err(reason) => Err(TtsError::EspeakInit { reason: reason.clone() }),
        }
    }

    /// The espeak-ng version string, e.g. `1.51`.
    #[must_use]
    pub fn version(&self) -> String {
        // SAFETY: espeak is initialized (we hold the lock); espeak_Info accepts
        // a null out-pointer and returns a static NUL-terminated string.
        let ptr = unsafe { sys::espeak_Info(std::ptr::null_mut()) };
        if ptr.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated, static for the library's lifetime.
        unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
    }

    /// The sample rate of espeak-ng's own synthesizer (unused by Piper voices,
    /// reported for diagnostics).
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Selects a voice such as `en-us` (Piper's `espeak.voice`).
    ///
    /// # Errors
    /// [`TtsError::EspeakVoice`] if espeak-ng has no such voice.
    pub fn set_voice(&mut self, voice: &str) -> Result<(), TtsError> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let unknown = || TtsError::EspeakVoice {
            voice: voice.to_owned(),
        };
        let name = CString::new(voice).map_err(|_| unknown())?;
        // SAFETY: espeak is initialized (we hold the lock); `name` is a valid
        // NUL-terminated string that outlives the call.
        let status = unsafe { sys::espeak_SetVoiceByName(name.as_ptr()) };
        if status != sys::EE_OK {
            self.voice = None;
            return Err(unknown());
        }
        self.voice = Some(voice.to_owned());
        Ok(())
    }

    /// Phonemizes `text` with the current voice, clause by clause, in IPA.
    ///
    /// # Errors
    /// [`TtsError::NulInText`] if `text` contains a NUL byte;
    /// [`TtsError::EspeakVoice`] if no voice was selected.
    pub fn clauses(&mut self, text: &str) -> Result<Vec<ClausePhonemes>, TtsError> {
        if self.voice.is_none() {
            return Err(TtsError::EspeakVoice { voice: String::new() });
        }
        let owned = CString::new(text).map_err(|e| TtsError::NulInText { at: e.nul_position() })?;
        let base = owned.as_ptr();
        let mut cursor: *const c_void = base.cast();
        let mut out = Vec::new();
        while !cursor.is_null() {
            // SAFETY: espeak is initialized with a voice (we hold the lock);
            // `cursor` points into `owned`, which is NUL-terminated and alive
            // for the whole loop; espeak advances it within the string or sets
            // it to null at the end.
            let phonemes = unsafe { sys::espeak_TextToPhonemes(&mut cursor, sys::CHARS_UTF8, sys::PHONEMES_IPA) };
            let consumed = if cursor.is_null() {
                text.len()
            } else {
                // SAFETY: both pointers are into the same allocation, `owned`.
                let offset = unsafe { cursor.cast::<c_char>().offset_from(base) };
                usize::try_from(offset).unwrap_or(text.len()).min(text.len())
            };
            let phonemes = if phonemes.is_null() {
                String::new()
            } else {
                // SAFETY: espeak returns a NUL-terminated string in its own
                // buffer, valid until the next call; we copy it at once.
                unsafe { CStr::from_ptr(phonemes) }.to_string_lossy().into_owned()
            };
            out.push(ClausePhonemes { phonemes, consumed });
        }
        Ok(out)
    }
}

/// Where espeak-ng looks for its data, for error messages.
fn data_path() -> String {
    let mut path: *const c_char = std::ptr::null();
    // SAFETY: espeak_Info only writes the out-pointer with a static string and
    // needs no initialization for that.
    unsafe { sys::espeak_Info(&raw mut path) };
    if path.is_null() {
        return "unknown".into();
    }
    // SAFETY: non-null, NUL-terminated, static.
    unsafe { CStr::from_ptr(path) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemizes_english_in_ipa() {
        let mut e = Espeak::lock().expect("espeak-ng initializes");
        e.set_voice("en-us").expect("en-us voice");
        let clauses = e.clauses("Hello world.").expect("phonemize");
        assert_eq!(clauses.len(), 1, "{clauses:?}");
        assert_eq!(clauses[0].phonemes, "həlˈoʊ wˈɜːld");
        assert_eq!(clauses[0].consumed, "Hello world.".len());
    }

    #[test]
    fn clause_boundaries_report_how_far_espeak_read() {
        let mut e = Espeak::lock().expect("espeak-ng initializes");
        e.set_voice("en-us").expect("en-us voice");
        let text = "One, two. Three!";
        let clauses = e.clauses(text).expect("phonemize");
        let consumed: Vec<usize> = clauses.iter().map(|c| c.consumed).collect();
        assert_eq!(clauses.len(), 3, "{clauses:?}");
        // espeak reads past each terminator and the spaces after it, into
        // the first code point of the next clause.
        assert_eq!(&text[..consumed[0]], "One, t");
        assert_eq!(&text[..consumed[1]], "One, two. T");
        assert_eq!(consumed[2], text.len());
    }

    #[test]
    fn an_unknown_voice_is_refused_by_name() {
        let mut e = Espeak::lock().expect("espeak-ng initializes");
        let err = e.set_voice("xx-nonexistent").expect_err("no such voice");
        assert!(err.to_string().contains("xx-nonexistent"), "{err}");
        assert!(e.clauses("text").is_err(), "no voice selected after a failed switch");
        e.set_voice("de").expect("German voice");
        assert!(!e.clauses("Guten Tag").expect("phonemize")[0].phonemes.is_empty());
    }

    #[test]
    fn nul_bytes_are_an_error_not_a_truncation() {
        let mut e = Espeak::lock().expect("espeak-ng initializes");
        e.set_voice("en-us").expect("en-us voice");
        match e.clauses("before\0after") {
            Err(TtsError::NulInText { at: 6 }) => {}
            other => panic!("expected NulInText at 6, got {other:?}"),
        }
    }

    #[test]
    fn reports_its_version() {
        let e = Espeak::lock().expect("espeak-ng initializes");
        assert!(e.version().starts_with("1."), "{}", e.version());
        assert!(e.sample_rate() > 0);
    }
}
