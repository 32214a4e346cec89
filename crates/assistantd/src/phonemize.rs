//! `assistantd phonemize`: the phonemes and ids a Piper voice is fed.
//!
//! A debugging aid for users (why does the voice say that?) and the command
//! the parity check against `piper-phonemize` 1.1.0 runs
//! (`scripts/tts/check_parity`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use assistant_tts::espeak::Espeak;
use assistant_tts::phonemize::{PhonemeIdMap, phoneme_ids, phonemize};
use assistant_tts::voice::VoiceConfig;
use serde::Serialize;

use crate::models::LocationArgs;
use crate::voices::VoiceEntry;

/// What to phonemize and how (the command line of `assistantd phonemize`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PhonemizeArgs {
    /// The text; `-` (or nothing) reads standard input.
    pub text: Option<String>,
    /// Read the text from this file.
    #[arg(long, conflicts_with = "text")]
    pub file: Option<PathBuf>,
    /// A Piper voice config (.onnx.json): its espeak voice and phoneme-id map.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A voice by name (`assistantd voices`): its installed config, verified
    /// against models.lock, instead of --config.
    #[arg(long, conflicts_with = "config")]
    pub voice: Option<String>,
    /// Where models.lock and the installed models are.
    #[command(flatten)]
    pub models: LocationArgs,
    /// The espeak-ng voice (default: the config's, else en-us).
    #[arg(long)]
    pub espeak_voice: Option<String>,
    /// Each input line is its own text (numbered from 1).
    #[arg(long)]
    pub lines: bool,
    /// One JSON object per sentence: line, sentence, phonemes, ids.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row<'a> {
    line: usize,
    sentence: usize,
    phonemes: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [i64]>,
}

/// Runs the command.
///
/// # Errors
/// If the input cannot be read (invalid UTF-8 is named with its offset),
/// the config is invalid, or espeak-ng fails.
pub fn run(args: &PhonemizeArgs, out: &mut dyn Write) -> Result<()> {
    let input = read_input(args)?;
    let config = match (&args.voice, &args.config) {
        (Some(name), _) => {
            let (lock, store) = args.models.resolve()?.open()?;
            Some(VoiceEntry::find(name)?.read_config(&lock, &store)?)
        }
        (None, Some(path)) => Some(VoiceConfig::read(path)?),
        (None, None) => None,
    };
    let map: Option<&PhonemeIdMap> = config.as_ref().map(|c| &c.phoneme_id_map);
    let mut espeak = Espeak::lock()?;
    let texts: Vec<&str> = if args.lines {
        input.lines().collect()
    } else {
        vec![input.as_str()]
    };
    let mut warned = BTreeSet::new();
    for (index, text) in texts.iter().enumerate() {
        let sentences = match (&args.espeak_voice, &config) {
            (Some(voice), _) => phonemize(&mut espeak, text, voice)?,
            (None, Some(config)) => config.phonemize(&mut espeak, text)?,
            (None, None) => phonemize(&mut espeak, text, "en-us")?,
        };
        for (number, sentence) in sentences.iter().enumerate() {
            let phonemes: String = sentence.iter().collect();
            let ids = map.map(|m| phoneme_ids(sentence, m)).transpose()?;
            if let Some(ids) = &ids {
                for missing in &ids.missing {
                    if warned.insert(*missing) {
                        eprintln!(
                            "assistantd: phoneme {missing:?} (U+{:04X}) is not in the voice's phoneme_id_map; skipped",
                            u32::from(*missing)
                        );
                    }
                }
            }
            let row = Row {
                line: index + 1,
                sentence: number,
                phonemes: &phonemes,
                ids: ids.as_ref().map(|i| i.ids.as_slice()),
            };
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&row)?)?;
            } else {
                match row.ids {
                    Some(ids) => writeln!(out, "{:>4}.{:<2} {phonemes}\n        {ids:?}", row.line, row.sentence)?,
                    None => writeln!(out, "{:>4}.{:<2} {phonemes}", row.line, row.sentence)?,
                }
            }
        }
    }
    Ok(())
}

fn read_input(args: &PhonemizeArgs) -> Result<String> {
    let (bytes, what) = match (&args.file, args.text.as_deref()) {
        (Some(file), _) => (
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
            file.display().to_string(),
        ),
        (None, Some(text)) if text != "-" => return Ok(text.to_owned()),
        _ => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("cannot read standard input")?;
            (buf, "standard input".to_owned())
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{what} is not UTF-8 text (invalid byte at offset {}); convert it, e.g. `iconv -f latin1 -t utf-8`",
            e.utf8_error().valid_up_to()
        )
    })
}
