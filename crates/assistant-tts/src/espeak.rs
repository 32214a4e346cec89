//! Every call into `libespeak-ng`.
//!
//! The library is the one Piper voices were trained with: rhasspy's espeak-ng
//! fork (1.52-dev) from the PyPI wheel `piper-phonemize` 1.1.0, which
//! scripts/bootstrap unpacks into `.native/piper-phonemize-1.1.0/` with its
//! `espeak-ng-data` (both pinned in scripts/native.lock). Debian's espeak-ng
//! 1.51 phonemizes some text differently (a stress rule for clause-final
//! words such as "one", and older dictionaries), and lacks
//! `espeak_TextToPhonemesWithTerminator`, the call that tells which
//! punctuation ended a clause. With the fork, both are exactly Piper's.
//!
//! espeak-ng keeps global state (the current voice, its dictionaries), so the
//! library is initialized once per process and used through a [`Mutex`]:
//! [`Espeak::lock`] hands out exclusive access. The library is initialized
//! with `espeakINITIALIZE_DONT_EXIT` so that missing data is an error, not a
//! call to `exit()` inside the library.

use std::ffi::{CStr, CString, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::TtsError;

mod sys {
    use std::ffi::{c_char, c_int, c_void};

    /// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`: no audio thread.
    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    /// Return errors instead of calling `exit()`.
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    /// Input encoding detected (UTF-8 unless invalid), as Piper passes.
    pub const CHARS_AUTO: c_int = 0;
    /// `phonememode` bit 1: phoneme names as IPA.
    pub const PHONEMES_IPA: c_int = 0x02;
    /// `espeak_ERROR::EE_OK`.
    pub const EE_OK: c_int = 0;

    #[link(name = "espeak-ng")]
    unsafe extern "C" {
        pub fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_TextToPhonemesWithTerminator(
            textptr: *mut *const c_void,
            textmode: c_int,
            phonememode: c_int,
            terminator: *mut c_int,
        ) -> *const c_char;
        pub fn espeak_Info(path_data: *mut *const c_char) -> *const c_char;
    }
}

/// Exclusive access to the process's espeak-ng.
#[derive(Debug)]
pub struct Espeak {
    voice: Option<String>,
    sample_rate: u32,
    data: PathBuf,
}

/// One clause as espeak-ng phonemized it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClausePhonemes {
    /// IPA phonemes of the clause (words separated by spaces).
    pub phonemes: String,
    /// How the clause ended: espeak-ng's `CLAUSE_*` bits (punctuation and
    /// intonation in the low 20 bits, [`CLAUSE_TYPE_SENTENCE`] if it ends a
    /// sentence).
    pub terminator: i32,
}

/// `terminator` bit: the clause ends a sentence.
pub const CLAUSE_TYPE_SENTENCE: i32 = 0x0008_0000;
/// `terminator & 0xFFFFF` for a full stop.
pub const CLAUSE_PERIOD: i32 = 40 | CLAUSE_TYPE_SENTENCE;
/// `terminator & 0xFFFFF` for a question mark.
pub const CLAUSE_QUESTION: i32 = 40 | 0x2000 | CLAUSE_TYPE_SENTENCE;
/// `terminator & 0xFFFFF` for an exclamation mark.
pub const CLAUSE_EXCLAMATION: i32 = 45 | 0x3000 | CLAUSE_TYPE_SENTENCE;
/// `terminator & 0xFFFFF` for a comma.
pub const CLAUSE_COMMA: i32 = 20 | 0x1000 | CLAUSE_TYPE_CLAUSE;
/// `terminator & 0xFFFFF` for a colon.
pub const CLAUSE_COLON: i32 = 30 | CLAUSE_TYPE_CLAUSE;
/// `terminator & 0xFFFFF` for a semicolon.
pub const CLAUSE_SEMICOLON: i32 = 30 | 0x1000 | CLAUSE_TYPE_CLAUSE;
/// `terminator` bit: the clause ends inside a sentence.
const CLAUSE_TYPE_CLAUSE: i32 = 0x0004_0000;

static ESPEAK: OnceLock<Result<Mutex<Espeak>, String>> = OnceLock::new();

impl Espeak {
    /// Initializes espeak-ng on first use and locks it.
    ///
    /// # Errors
    /// [`TtsError::EspeakInit`] if espeak-ng cannot find or read its data.
    pub fn lock() -> Result<MutexGuard<'static, Self>, TtsError> {
        let cell = ESPEAK.get_or_init(|| {
            let home = data_home()?;
            let c_home = CString::new(home.as_os_str().as_bytes())
                .map_err(|_| format!("the data folder {} has a NUL byte in its path", home.display()))?;
            // SAFETY: called once (OnceLock) before any other espeak call;
            // `c_home` is a valid NUL-terminated path that outlives the call
            // (espeak-ng copies it).
            let rate = unsafe {
                sys::espeak_Initialize(
                    sys::AUDIO_OUTPUT_SYNCHRONOUS,
                    0,
                    c_home.as_ptr(),
                    sys::INITIALIZE_DONT_EXIT,
                )
            };
            if rate <= 0 {
                Err(format!(
                    "espeak_Initialize returned {rate} with the data in {}",
                    home.join("espeak-ng-data").display()
                ))
            } else {
                Ok(Mutex::new(Self {
                    voice: None,
                    sample_rate: rate.unsigned_abs(),
                    data: home.join("espeak-ng-data"),
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

    /// The `espeak-ng-data` folder in use.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data
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

    /// Phonemizes `text` with the current voice, clause by clause, in IPA,
    /// with how each clause ended.
    ///
    /// # Errors
    /// [`TtsError::NulInText`] if `text` contains a NUL byte;
    /// [`TtsError::EspeakVoice`] if no voice was selected.
    pub fn clauses(&mut self, text: &str) -> Result<Vec<ClausePhonemes>, TtsError> {
        if self.voice.is_none() {
            return Err(TtsError::EspeakVoice { voice: String::new() });
        }
        let owned = CString::new(text).map_err(|e| TtsError::NulInText { at: e.nul_position() })?;
        let mut cursor: *const c_void = owned.as_ptr().cast();
        let mut out = Vec::new();
        while !cursor.is_null() {
            let mut terminator: c_int = 0;
            // SAFETY: espeak is initialized with a voice (we hold the lock);
            // `cursor` points into `owned`, which is NUL-terminated and alive
            // for the whole loop; espeak advances it within the string or sets
            // it to null at the end; `terminator` is a valid out-pointer.
            let phonemes = unsafe {
                sys::espeak_TextToPhonemesWithTerminator(
                    &raw mut cursor,
                    sys::CHARS_AUTO,
                    sys::PHONEMES_IPA,
                    &raw mut terminator,
                )
            };
            let phonemes = if phonemes.is_null() {
                String::new()
            } else {
                // SAFETY: espeak returns a NUL-terminated string in its own
                // buffer, valid until the next call; we copy it at once.
                unsafe { CStr::from_ptr(phonemes) }.to_string_lossy().into_owned()
            };
            out.push(ClausePhonemes { phonemes, terminator });
        }
        Ok(out)
    }
}

/// The folder holding `espeak-ng-data`, if the application chose one.
static DATA_HOME: OnceLock<PathBuf> = OnceLock::new();

/// Chooses the folder that holds `espeak-ng-data` (the daemon passes
/// `$ESPEAK_DATA_PATH` here). Must be called before the first
/// [`Espeak::lock`]; returns `false` if a folder was already chosen.
pub fn use_data_home(dir: PathBuf) -> bool {
    DATA_HOME.set(dir).is_ok()
}

/// The folder holding `espeak-ng-data`: the one chosen with
/// [`use_data_home`], else the one scripts/bootstrap installed
/// (`ESPEAK_NG_DIR` at build time), else the executable's folder (an
/// installed copy).
fn data_home() -> Result<PathBuf, String> {
    let has_data = |dir: &Path| dir.join("espeak-ng-data").join("phontab").is_file();
    if let Some(dir) = DATA_HOME.get() {
        return if has_data(dir) {
            Ok(dir.clone())
        } else {
            Err(format!(
                "{} has no espeak-ng-data/phontab (ESPEAK_DATA_PATH must name the folder that holds espeak-ng-data); \
                 unset it to use the data scripts/bootstrap installs",
                dir.display()
            ))
        };
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let candidates: Vec<PathBuf> = option_env!("ESPEAK_NG_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(exe_dir)
        .collect();
    candidates.iter().find(|dir| has_data(dir)).cloned().ok_or_else(|| {
        let looked: Vec<String> = candidates
            .iter()
            .map(|d| d.join("espeak-ng-data").display().to_string())
            .collect();
        format!(
            "no espeak-ng-data in {}; run scripts/bootstrap (it installs Piper's espeak-ng data from the \
             piper-phonemize 1.1.0 wheel), or set ESPEAK_DATA_PATH to the folder that holds espeak-ng-data",
            looked.join(" or ")
        )
    })
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
        assert_eq!(clauses[0].terminator & 0xF_FFFF, CLAUSE_PERIOD);
    }

    #[test]
    fn each_clause_says_how_it_ended() {
        let mut e = Espeak::lock().expect("espeak-ng initializes");
        e.set_voice("en-us").expect("en-us voice");
        let clauses = e.clauses("One, two; three: four? Five! Six").expect("phonemize");
        let ends: Vec<i32> = clauses.iter().map(|c| c.terminator & 0xF_FFFF).collect();
        assert_eq!(
            ends[..5],
            [
                CLAUSE_COMMA,
                CLAUSE_SEMICOLON,
                CLAUSE_COLON,
                CLAUSE_QUESTION,
                CLAUSE_EXCLAMATION
            ],
            "{clauses:?}"
        );
        assert_eq!(clauses.len(), 6, "{clauses:?}");
        assert_ne!(
            clauses[5].terminator & CLAUSE_TYPE_SENTENCE,
            0,
            "the end of the text ends the sentence"
        );
    }

    #[test]
    fn uses_the_data_piper_was_trained_with() {
        let e = Espeak::lock().expect("espeak-ng initializes");
        assert!(e.data_dir().join("en_dict").is_file(), "{}", e.data_dir().display());
        // rhasspy's fork reports itself as a 1.52 development version.
        assert!(e.version().starts_with("1.52"), "{}", e.version());
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
