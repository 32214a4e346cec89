//! GGUF headers: what a language-model file says it is, read without
//! loading it.
//!
//! A GGUF file starts with `GGUF`, a version (2 or 3), the tensor count and
//! a table of typed key/value metadata (`general.architecture`,
//! `<arch>.context_length`, the tokenizer's vocabulary, the chat
//! template…), then the tensors. [`Gguf::read`] reads the table only: arrays
//! are skipped over and kept as their element type and length, so a 262k
//! token vocabulary costs a seek per string, not a copy. Lengths are checked
//! against the file's size, so a corrupt or truncated header is an error,
//! never a huge allocation or a panic.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use crate::ModelsError;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    Unsigned(u64),
    /// Any signed integer type.
    Signed(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string (invalid UTF-8 is replaced).
    String(String),
    /// An array, kept as its element type's name and its length.
    Array {
        /// The element type (`string`, `f32`, `i32`, …).
        element: &'static str,
        /// How many elements.
        len: u64,
    },
}

/// A GGUF file's header.
#[derive(Clone, Debug, PartialEq)]
pub struct Gguf {
    /// The file read.
    pub path: PathBuf,
    /// The format version (2 or 3).
    pub version: u32,
    /// How many tensors the file holds.
    pub tensor_count: u64,
    /// The metadata, by key.
    pub metadata: BTreeMap<String, Value>,
}

impl Gguf {
    /// Reads the header of the GGUF file at `path`.
    ///
    /// # Errors
    /// [`ModelsError::Io`] if it cannot be read; [`ModelsError::BadFile`]
    /// if it is not a GGUF file or its header is cut short or corrupt.
    pub fn read(path: &Path) -> Result<Self, ModelsError> {
        let file = std::fs::File::open(path).map_err(ModelsError::io(path))?;
        let size = file.metadata().map_err(ModelsError::io(path))?.len();
        let mut reader = Reader {
            inner: BufReader::new(file),
            size,
        };
        Self::parse(&mut reader)
            .map_err(|reason| ModelsError::BadFile {
                path: path.to_path_buf(),
                reason,
            })
            .map(|(version, tensor_count, metadata)| Self {
                path: path.to_path_buf(),
                version,
                tensor_count,
                metadata,
            })
    }

    fn parse<R: Read + Seek>(r: &mut Reader<R>) -> Result<(u32, u64, BTreeMap<String, Value>), String> {
        let mut magic = [0_u8; 4];
        r.bytes(&mut magic)?;
        if &magic != b"GGUF" {
            return Err(format!(
                "it is not a GGUF file (it starts with {magic:02x?}, not \"GGUF\")"
            ));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(format!("GGUF version {version} is not supported (2 and 3 are)"));
        }
        let tensor_count = r.u64()?;
        let kv_count = r.u64()?;
        // Each pair takes at least 12 bytes (key length and value type).
        if kv_count > r.size / 12 {
            return Err(format!(
                "the header claims {kv_count} metadata entries, more than the file can hold"
            ));
        }
        let mut metadata = BTreeMap::new();
        for index in 0..kv_count {
            let key = r.string().map_err(|e| format!("metadata entry {index}: {e}"))?;
            let kind = r.u32()?;
            let value = r.value(kind).map_err(|e| format!("metadata {key:?}: {e}"))?;
            metadata.insert(key, value);
        }
        Ok((version, tensor_count, metadata))
    }

    /// The string value of `key`.
    #[must_use]
    pub fn string(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The integer value of `key` (any integer type, if not negative).
    #[must_use]
    pub fn unsigned(&self, key: &str) -> Option<u64> {
        match self.metadata.get(key) {
            Some(Value::Unsigned(v)) => Some(*v),
            Some(Value::Signed(v)) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The length of the array `key`.
    #[must_use]
    pub fn array_len(&self, key: &str) -> Option<u64> {
        match self.metadata.get(key) {
            Some(Value::Array { len, .. }) => Some(*len),
            _ => None,
        }
    }

    /// `general.architecture` (`llama`, `gemma3`, …).
    #[must_use]
    pub fn architecture(&self) -> Option<&str> {
        self.string("general.architecture")
    }

    /// The context length the model was trained for (`<arch>.context_length`).
    #[must_use]
    pub fn context_length(&self) -> Option<u64> {
        self.unsigned(&format!("{}.context_length", self.architecture()?))
    }

    /// The chat template the file carries (`tokenizer.chat_template`), if any.
    #[must_use]
    pub fn chat_template(&self) -> Option<&str> {
        self.string("tokenizer.chat_template")
    }

    /// The vocabulary size (`tokenizer.ggml.tokens`).
    #[must_use]
    pub fn vocabulary_size(&self) -> Option<u64> {
        self.array_len("tokenizer.ggml.tokens")
    }
}

/// Little-endian reads bounded by the file's size.
struct Reader<R> {
    inner: BufReader<R>,
    size: u64,
}

/// GGUF's value types, by their number in the format.
const TYPE_NAMES: [&str; 13] = [
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
];

impl<R: Read + Seek> Reader<R> {
    fn bytes(&mut self, out: &mut [u8]) -> Result<(), String> {
        self.inner.read_exact(out).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "the header is cut short (truncated file?)".to_owned(),
            _ => e.to_string(),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut b = [0_u8; N];
        self.bytes(&mut b)?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn position(&mut self) -> Result<u64, String> {
        self.inner.stream_position().map_err(|e| e.to_string())
    }

    /// A length that must fit in what is left of the file.
    fn length(&mut self, unit: u64) -> Result<u64, String> {
        let len = self.u64()?;
        let left = self.size.saturating_sub(self.position()?);
        if len.saturating_mul(unit) > left {
            return Err(format!(
                "a length of {len} runs past the end of the file ({left} bytes left)"
            ));
        }
        Ok(len)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.length(1)?;
        let mut bytes = vec![0_u8; usize::try_from(len).map_err(|e| e.to_string())?];
        self.bytes(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn skip(&mut self, bytes: u64) -> Result<(), String> {
        let offset = i64::try_from(bytes).map_err(|e| e.to_string())?;
        self.inner.seek_relative(offset).map_err(|e| e.to_string())?;
        if self.position()? > self.size {
            return Err("the header runs past the end of the file".into());
        }
        Ok(())
    }

    fn value(&mut self, kind: u32) -> Result<Value, String> {
        Ok(match kind {
            0 => Value::Unsigned(u64::from(self.array::<1>()?[0])),
            1 => Value::Signed(i64::from(i8::from_le_bytes(self.array()?))),
            2 => Value::Unsigned(u64::from(u16::from_le_bytes(self.array()?))),
            3 => Value::Signed(i64::from(i16::from_le_bytes(self.array()?))),
            4 => Value::Unsigned(u64::from(self.u32()?)),
            5 => Value::Signed(i64::from(i32::from_le_bytes(self.array()?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.array()?))),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => {
                let element = self.u32()?;
                let name = *TYPE_NAMES
                    .get(element as usize)
                    .ok_or_else(|| format!("an array of unknown type {element}"))?;
                let width = match element {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    10..=12 => 8,
                    8 => 8, // at least the length of each string
                    _ => return Err(format!("an array of {name}s is not supported")),
                };
                let len = self.length(width)?;
                if element == 8 {
                    for _ in 0..len {
                        let n = self.length(1)?;
                        self.skip(n)?;
                    }
                } else {
                    self.skip(len * width)?;
                }
                Value::Array { element: name, len }
            }
            10 => Value::Unsigned(self.u64()?),
            11 => Value::Signed(i64::from_le_bytes(self.array()?)),
            12 => Value::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown value type {other}")),
        })
    }
}

impl<R: Read + Seek> Reader<R> {
    #[cfg(test)]
    fn over(inner: R, size: u64) -> Self {
        Self {
            inner: BufReader::new(inner),
            size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A GGUF v3 header with an architecture, a context length, a template
    /// and a three-token vocabulary.
    fn header() -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3_u32.to_le_bytes());
        b.extend_from_slice(&7_u64.to_le_bytes()); // tensors
        b.extend_from_slice(&4_u64.to_le_bytes()); // metadata entries
        string(&mut b, "general.architecture");
        b.extend_from_slice(&8_u32.to_le_bytes());
        string(&mut b, "llama");
        string(&mut b, "llama.context_length");
        b.extend_from_slice(&4_u32.to_le_bytes());
        b.extend_from_slice(&2048_u32.to_le_bytes());
        string(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&9_u32.to_le_bytes());
        b.extend_from_slice(&8_u32.to_le_bytes());
        b.extend_from_slice(&3_u64.to_le_bytes());
        for t in ["<s>", "</s>", "hi"] {
            string(&mut b, t);
        }
        string(&mut b, "tokenizer.chat_template");
        b.extend_from_slice(&8_u32.to_le_bytes());
        string(&mut b, "{{ messages }}");
        b
    }

    fn parse(bytes: &[u8]) -> Result<(u32, u64, BTreeMap<String, Value>), String> {
        Gguf::parse(&mut Reader::over(
            std::io::Cursor::new(bytes.to_vec()),
            bytes.len() as u64,
        ))
    }

    #[test]
    fn a_header_reads_into_typed_metadata() {
        let (version, tensors, metadata) = parse(&header()).expect("valid");
        let gguf = Gguf {
            path: PathBuf::from("x.gguf"),
            version,
            tensor_count: tensors,
            metadata,
        };
        assert_eq!((gguf.version, gguf.tensor_count), (3, 7));
        assert_eq!(gguf.architecture(), Some("llama"));
        assert_eq!(gguf.context_length(), Some(2048));
        assert_eq!(gguf.vocabulary_size(), Some(3));
        assert_eq!(gguf.chat_template(), Some("{{ messages }}"));
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let good = header();
        for cut in [0, 3, 8, 20, 30, good.len() - 1] {
            let err = parse(&good[..cut]).expect_err("truncated");
            assert!(
                err.contains("cut short") || err.contains("past the end") || err.contains("more than the file"),
                "cut at {cut}: {err}"
            );
        }
        let mut not = good.clone();
        not[..4].copy_from_slice(b"GGML");
        assert!(parse(&not).expect_err("magic").contains("not a GGUF file"));
        let mut huge = good.clone();
        // The first key's length: 2^60 bytes.
        huge[24..32].copy_from_slice(&(1_u64 << 60).to_le_bytes());
        assert!(parse(&huge).expect_err("huge").contains("past the end"));
        let mut v1 = good;
        v1[4..8].copy_from_slice(&1_u32.to_le_bytes());
        assert!(parse(&v1).expect_err("v1").contains("version 1"));
    }
}
