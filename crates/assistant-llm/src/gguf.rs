//! GGUF headers: what a language-model file says it is, read without
//! loading it, and whether the file holds all of its tensors.
//!
//! A GGUF file starts with `GGUF`, a version (2 or 3), the tensor count and
//! a table of typed key/value metadata (`general.architecture`,
//! `<arch>.context_length`, the tokenizer's vocabulary, the chat
//! template…), then a table of tensor infos (name, shape, ggml type, offset)
//! and, aligned to `general.alignment`, the tensors' data. [`Gguf::read`]
//! reads both tables only: arrays are skipped over and kept as their element
//! type and length, so a 262k token vocabulary costs a seek per string, not
//! a copy. Lengths are checked against the file's size, so a corrupt or
//! truncated header is an error, never a huge allocation or a panic.
//!
//! A file whose download stopped part-way usually has a whole header and
//! only part of its data, and llama.cpp reports that as a bare "failed to
//! load model". [`Gguf::check_complete`] compares where the tensors end
//! with the file's size, so the daemon can say what is wrong and how to fix
//! it before llama.cpp sees the file. It is separate from [`Gguf::read`]
//! because callers that only want the metadata have no use for the data.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// A GGUF file that cannot be read, or is not what it says.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file cannot be opened or read.
    #[error("cannot read {}: {error}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file is not a GGUF file, or is corrupt or cut short.
    #[error("{}: {reason}", .path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and the fix.
        reason: String,
    },
}

impl GgufError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |error| Self::Io { path, error }
    }
}

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
    /// The file's size in bytes when it was read: what
    /// [`Gguf::check_complete`] holds the tensors' extent against.
    pub file_size: u64,
    /// Where the data section starts, in bytes from the start of the file:
    /// just after the tensor-info table, rounded up to `general.alignment`
    /// (32 when absent). Tensor offsets count from here.
    pub data_offset: u64,
    /// Where the tensors' data ends, in bytes from the start of the file:
    /// the largest `data_offset + offset + size` over the tensors, each
    /// size computed from the tensor's shape and ggml type
    /// (`data_offset` itself when there are no tensors). `None` when a
    /// tensor has a ggml type whose size this reader does not know (newer
    /// than the ggml vendored by `llama-cpp-sys-2`, or one ggml removed):
    /// then only [`Gguf::last_tensor_start`] can be checked.
    pub tensors_end: Option<u64>,
    /// Where the last tensor's data starts, in bytes from the start of the
    /// file: the largest `data_offset + offset` over the tensors
    /// (`data_offset` when there are none). The weaker check
    /// [`Gguf::check_complete`] falls back on when `tensors_end` is `None`.
    pub last_tensor_start: u64,
}

/// The metadata key that sets the data section's alignment.
const ALIGNMENT_KEY: &str = "general.alignment";
/// The alignment when `general.alignment` is absent (ggml's
/// `GGUF_DEFAULT_ALIGNMENT`).
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's `GGML_MAX_DIMS`: a tensor has at most 4 dimensions.
const MAX_DIMS: usize = 4;
/// GGUF's value type number for `u32`.
const TYPE_U32: u32 = 4;

impl Gguf {
    /// Reads the header of the GGUF file at `path`: its metadata and its
    /// tensor-info table. A file cut short in its data section still reads;
    /// [`Gguf::check_complete`] tells.
    ///
    /// # Errors
    /// [`GgufError::Io`] if it cannot be read; [`GgufError::BadFile`]
    /// if it is not a GGUF file or its header is cut short or corrupt
    /// (including a tensor whose shape does not fit its ggml type's blocks,
    /// or a `general.alignment` that is not a power of two).
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        let file = std::fs::File::open(path).map_err(GgufError::io(path))?;
        let size = file.metadata().map_err(GgufError::io(path))?.len();
        let mut reader = Reader {
            inner: BufReader::new(file),
            size,
        };
        Self::parse(path, &mut reader).map_err(|reason| GgufError::BadFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn parse<R: Read + Seek>(path: &Path, r: &mut Reader<R>) -> Result<Self, String> {
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
            // llama.cpp refuses any other type here, so this reader does too.
            if key == ALIGNMENT_KEY && kind != TYPE_U32 {
                let name = TYPE_NAMES
                    .get(kind as usize)
                    .copied()
                    .unwrap_or("value of unknown type");
                return Err(format!("{ALIGNMENT_KEY} is a {name}, not a u32: the file is corrupt"));
            }
            let value = r.value(kind).map_err(|e| format!("metadata {key:?}: {e}"))?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get(ALIGNMENT_KEY) {
            Some(Value::Unsigned(alignment)) => *alignment,
            _ => DEFAULT_ALIGNMENT,
        };
        if !alignment.is_power_of_two() {
            return Err(format!(
                "{ALIGNMENT_KEY} is {alignment}, not a power of two: the file is corrupt"
            ));
        }

        // Each tensor info takes at least 24 bytes (name length, dimension
        // count, type, offset); checked before the loop so that a corrupt
        // count fails at once instead of after reading the whole file.
        let left = r.size.saturating_sub(r.position()?);
        if tensor_count > left / 24 {
            return Err(format!(
                "the header claims {tensor_count} tensors, more than the file can hold"
            ));
        }
        // Both relative to the data section until its start is known.
        let mut end = Some(0_u64);
        let mut last_start = 0_u64;
        for index in 0..tensor_count {
            let name = r.string().map_err(|e| format!("tensor {index}: {e}"))?;
            let (offset, bytes) = r
                .tensor_extent()
                .map_err(|e| format!("tensor {index} ({name:?}): {e}"))?;
            last_start = last_start.max(offset);
            end = match (end, bytes) {
                (Some(end), Some(bytes)) => {
                    let this = offset.checked_add(bytes).ok_or_else(|| {
                        format!("tensor {index} ({name:?}): its offset {offset} plus its {bytes} bytes overflow")
                    })?;
                    Some(end.max(this))
                }
                _ => None,
            };
        }

        let table_end = r.position()?;
        // ggml pads the header only when there is data to align.
        let data_offset = if tensor_count == 0 {
            table_end
        } else {
            table_end.checked_next_multiple_of(alignment).ok_or_else(overflow)?
        };
        let tensors_end = match end {
            Some(end) => Some(data_offset.checked_add(end).ok_or_else(overflow)?),
            None => None,
        };
        let last_tensor_start = data_offset.checked_add(last_start).ok_or_else(overflow)?;
        Ok(Self {
            path: path.to_path_buf(),
            version,
            tensor_count,
            metadata,
            file_size: r.size,
            data_offset,
            tensors_end,
            last_tensor_start,
        })
    }

    /// Checks that the file is long enough to hold all of its tensors, as
    /// it was when [`Gguf::read`] read it. When a tensor's ggml type is
    /// unknown ([`Gguf::tensors_end`] is `None`), only checks that every
    /// tensor starts inside the file.
    ///
    /// # Errors
    /// [`GgufError::BadFile`] if the file is shorter than its tensors
    /// need: its download was cut short, and fetching it again is the fix.
    pub fn check_complete(&self) -> Result<(), GgufError> {
        let needs = match self.tensors_end {
            Some(end) if end > self.file_size => format!("its tensors end at {end} bytes"),
            None if self.last_tensor_start >= self.file_size => {
                format!("a tensor starts at byte {}", self.last_tensor_start)
            }
            _ => return Ok(()),
        };
        Err(GgufError::BadFile {
            path: self.path.clone(),
            reason: format!(
                "it is cut short: the file is {} bytes, but {needs}; the download was probably \
                 interrupted: fetch it again (`assistantd models fetch`) or download it again",
                self.file_size
            ),
        })
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

/// The error for a header whose offsets do not fit in 64 bits.
fn overflow() -> String {
    "its offsets overflow 64 bits: the file is corrupt".to_owned()
}

/// How ggml stores a tensor type: in blocks of `block` elements taking
/// `size` bytes each, so a tensor of `n` elements takes `n / block * size`
/// bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GgmlType {
    /// ggml's name for it (`q4_K`, …), for error messages.
    name: &'static str,
    /// Elements per block (ggml's `blck_size`).
    block: u64,
    /// Bytes per block (ggml's `type_size`).
    size: u64,
}

impl GgmlType {
    /// The storage of ggml type number `kind`, or `None` for a number the
    /// vendored ggml does not define or no longer loads (4, 5, 31–33 and
    /// 36–38 were removed; its `GGML_TYPE_COUNT` is 43).
    ///
    /// The table comes from ggml's `type_traits` (`.blck_size`,
    /// `.type_size`) in `ggml/src/ggml.c` of the llama.cpp vendored by
    /// `llama-cpp-sys-2` 0.1.161, with the numbers of `enum ggml_type` in
    /// `ggml/include/ggml.h` and the block sizes of `ggml/src/ggml-common.h`
    /// (`QK_K` = 256; each block struct's size is pinned there by a
    /// `static_assert`, and each was checked by compiling that header and
    /// printing `sizeof`). The test
    /// `the_type_table_follows_ggml_commons_static_asserts` restates those
    /// asserts.
    const fn of(kind: u32) -> Option<Self> {
        let (name, block, size) = match kind {
            0 => ("f32", 1, 4),
            1 => ("f16", 1, 2),
            2 => ("q4_0", 32, 18),
            3 => ("q4_1", 32, 20),
            6 => ("q5_0", 32, 22),
            7 => ("q5_1", 32, 24),
            8 => ("q8_0", 32, 34),
            9 => ("q8_1", 32, 36),
            10 => ("q2_K", 256, 84),
            11 => ("q3_K", 256, 110),
            12 => ("q4_K", 256, 144),
            13 => ("q5_K", 256, 176),
            14 => ("q6_K", 256, 210),
            15 => ("q8_K", 256, 292),
            16 => ("iq2_xxs", 256, 66),
            17 => ("iq2_xs", 256, 74),
            18 => ("iq3_xxs", 256, 98),
            19 => ("iq1_s", 256, 50),
            20 => ("iq4_nl", 32, 18),
            21 => ("iq3_s", 256, 110),
            22 => ("iq2_s", 256, 82),
            23 => ("iq4_xs", 256, 136),
            24 => ("i8", 1, 1),
            25 => ("i16", 1, 2),
            26 => ("i32", 1, 4),
            27 => ("i64", 1, 8),
            28 => ("f64", 1, 8),
            29 => ("iq1_m", 256, 56),
            30 => ("bf16", 1, 2),
            34 => ("tq1_0", 256, 54),
            35 => ("tq2_0", 256, 66),
            39 => ("mxfp4", 32, 17),
            40 => ("nvfp4", 64, 36),
            41 => ("q1_0", 128, 18),
            42 => ("q2_0", 64, 18),
            _ => return None,
        };
        Some(Self { name, block, size })
    }
}

/// The bytes a tensor of shape `dims` and ggml type `kind` takes, or
/// `None` if the type is unknown. The checks are llama.cpp's own, so a file
/// that passes here does not fail there on its shapes.
fn tensor_bytes(dims: &[u64], kind: u32) -> Result<Option<u64>, String> {
    // ggml counts elements in an `i64`.
    let elements = dims
        .iter()
        .try_fold(1_u64, |n, &d| {
            i64::try_from(d).ok()?;
            n.checked_mul(d)
        })
        .filter(|&n| i64::try_from(n).is_ok())
        .ok_or_else(|| format!("its shape {dims:?} has more elements than ggml can count: the file is corrupt"))?;
    let Some(ty) = GgmlType::of(kind) else {
        return Ok(None);
    };
    // ggml stores a tensor row by row, each row a whole number of blocks;
    // that also makes the element count a multiple of the block size.
    let row = dims.first().copied().unwrap_or(1);
    if row % ty.block != 0 {
        return Err(format!(
            "its rows of {row} elements (shape {dims:?}) are not a whole number of {} blocks of {}: \
             the file is corrupt",
            ty.name, ty.block
        ));
    }
    let bytes = (elements / ty.block)
        .checked_mul(ty.size)
        .ok_or_else(|| format!("its shape {dims:?} of {} takes more bytes than 64 bits count", ty.name))?;
    Ok(Some(bytes))
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

    /// The rest of a tensor info, after its name: the tensor's offset in
    /// the data section and, if its ggml type is known, its size in bytes.
    fn tensor_extent(&mut self) -> Result<(u64, Option<u64>), String> {
        let n_dims = self.u32()?;
        let n = usize::try_from(n_dims).map_err(|e| e.to_string())?;
        if n > MAX_DIMS {
            return Err(format!(
                "it has {n_dims} dimensions, more than ggml's {MAX_DIMS}: the file is corrupt"
            ));
        }
        let mut dims = [1_u64; MAX_DIMS];
        for dim in &mut dims[..n] {
            *dim = self.u64()?;
        }
        let kind = self.u32()?;
        let offset = self.u64()?;
        Ok((offset, tensor_bytes(&dims[..n], kind)?))
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

    /// A tensor info: name, shape, ggml type number, offset in the data
    /// section.
    type Info<'a> = (&'a str, &'a [u64], u32, u64);

    /// An f32 [4, 2] (32 bytes) at 0, then a q8_0 [64] (two 34-byte
    /// blocks) at 32: the data section holds 100 bytes.
    const TWO: [Info<'static>; 2] = [("a.weight", &[4, 2], 0, 0), ("b.weight", &[64], 8, 32)];
    const TWO_END: u64 = 32 + 2 * 34;

    /// A GGUF v3 header, up to the end of its tensor-info table: an
    /// architecture, a context length, a template, a three-token
    /// vocabulary, `extra` metadata (key, GGUF type number, encoded value),
    /// then `tensors`.
    fn header_with(extra: &[(&str, u32, &[u8])], tensors: &[Info<'_>]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3_u32.to_le_bytes());
        b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(4 + extra.len() as u64).to_le_bytes()); // metadata entries
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
        for (key, kind, value) in extra {
            string(&mut b, key);
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(value);
        }
        for (name, dims, kind, offset) in tensors {
            string(&mut b, name);
            b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in *dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
        }
        b
    }

    /// The test header with the [`TWO`] tensors.
    fn header() -> Vec<u8> {
        header_with(&[], &TWO)
    }

    /// `header` padded to `alignment`, then `data` zero bytes.
    fn file(header: &[u8], alignment: u64, data: u64) -> Vec<u8> {
        let start = (header.len() as u64).next_multiple_of(alignment);
        let mut b = header.to_vec();
        b.resize(usize::try_from(start + data).expect("small"), 0);
        b
    }

    fn parse(bytes: &[u8]) -> Result<Gguf, String> {
        Gguf::parse(
            Path::new("x.gguf"),
            &mut Reader::over(std::io::Cursor::new(bytes.to_vec()), bytes.len() as u64),
        )
    }

    #[test]
    fn a_header_reads_into_typed_metadata() {
        let gguf = parse(&header()).expect("valid");
        assert_eq!((gguf.version, gguf.tensor_count), (3, 2));
        assert_eq!(gguf.architecture(), Some("llama"));
        assert_eq!(gguf.context_length(), Some(2048));
        assert_eq!(gguf.vocabulary_size(), Some(3));
        assert_eq!(gguf.chat_template(), Some("{{ messages }}"));
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let good = header();
        for cut in [0, 3, 8, 20, 30, good.len() - 30, good.len() - 1] {
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

    #[test]
    fn two_tensors_end_where_their_types_say_and_a_cut_file_is_reported() {
        let header = header();
        let data_offset = (header.len() as u64).next_multiple_of(32);
        let full = file(&header, 32, TWO_END);
        let gguf = parse(&full).expect("valid");
        assert_eq!(gguf.data_offset, data_offset);
        assert_eq!(gguf.tensors_end, Some(data_offset + TWO_END));
        assert_eq!(gguf.last_tensor_start, data_offset + 32);
        assert_eq!(gguf.file_size, full.len() as u64);
        gguf.check_complete().expect("the whole file");

        // One byte short: the header still reads, the data does not fit.
        let cut = parse(&full[..full.len() - 1]).expect("the header is whole");
        let err = cut.check_complete().expect_err("cut by a byte").to_string();
        let (size, end) = (full.len() - 1, data_offset + TWO_END);
        assert!(
            err.starts_with("x.gguf: it is cut short")
                && err.contains(&format!("the file is {size} bytes, but its tensors end at {end} bytes"))
                && err.contains("fetch it again (`assistantd models fetch`) or download it again"),
            "{err}"
        );
        // The header alone, without even the padding, reads too.
        let bare = parse(&header).expect("the header is whole");
        assert_eq!(bare.data_offset, data_offset);
        assert!(bare.check_complete().is_err());
    }

    #[test]
    fn a_file_without_tensors_has_no_padding_and_is_complete() {
        let header = header_with(&[], &[]);
        let gguf = parse(&header).expect("valid");
        assert_eq!(gguf.data_offset, header.len() as u64);
        assert_eq!(gguf.tensors_end, Some(header.len() as u64));
        gguf.check_complete().expect("nothing is missing");
    }

    #[test]
    fn an_unknown_type_falls_back_to_checking_offsets() {
        // 4 (`Q4_2`) was removed from ggml; 99 was never defined.
        for unknown in [4, 99] {
            let tensors = [TWO[0], ("c.weight", &[64][..], unknown, 32)];
            let header = header_with(&[], &tensors);
            let data_offset = (header.len() as u64).next_multiple_of(32);
            let gguf = parse(&file(&header, 32, 33)).expect("valid");
            assert_eq!(gguf.tensors_end, None, "type {unknown}");
            assert_eq!(gguf.last_tensor_start, data_offset + 32);
            gguf.check_complete().expect("the last tensor starts inside the file");

            let short = parse(&file(&header, 32, 32)).expect("the header is whole");
            let err = short
                .check_complete()
                .expect_err("the last tensor starts at the end")
                .to_string();
            assert!(
                err.contains(&format!(
                    "the file is {} bytes, but a tensor starts at byte {}",
                    data_offset + 32,
                    data_offset + 32
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn the_alignment_must_be_a_u32_power_of_two() {
        for bad in [48_u32, 0, 3] {
            let bytes = header_with(&[("general.alignment", 4, &bad.to_le_bytes())], &TWO);
            let err = parse(&bytes).expect_err("not a power of two");
            assert!(
                err.contains(&format!("general.alignment is {bad}, not a power of two")),
                "{err}"
            );
        }
        let wide = header_with(&[("general.alignment", 10, &64_u64.to_le_bytes())], &TWO);
        assert!(
            parse(&wide)
                .expect_err("u64")
                .contains("general.alignment is a u64, not a u32")
        );

        let header = header_with(&[("general.alignment", 4, &256_u32.to_le_bytes())], &TWO);
        let data_offset = (header.len() as u64).next_multiple_of(256);
        assert_ne!(
            data_offset,
            (header.len() as u64).next_multiple_of(32),
            "the test must tell 256 from 32"
        );
        let gguf = parse(&file(&header, 256, TWO_END)).expect("valid");
        assert_eq!(gguf.data_offset, data_offset);
        assert_eq!(gguf.tensors_end, Some(data_offset + TWO_END));
        gguf.check_complete().expect("complete");
    }

    #[test]
    fn a_huge_tensor_count_is_an_error_not_an_allocation() {
        for count in [1_u64 << 60, u64::MAX, 3] {
            let mut bytes = header();
            bytes[8..16].copy_from_slice(&count.to_le_bytes());
            let err = parse(&bytes).expect_err("more tensors than the file holds");
            assert!(
                err.contains(&format!("claims {count} tensors, more than the file can hold"))
                    || err.contains("cut short"),
                "{count}: {err}"
            );
        }
        let mut name = header();
        // The first tensor's name length, just after the metadata.
        let at = header_with(&[], &[]).len();
        name[at..at + 8].copy_from_slice(&(1_u64 << 62).to_le_bytes());
        let err = parse(&name).expect_err("huge name");
        assert!(
            err.contains("tensor 0: a length of") && err.contains("past the end"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_tensor_shapes_are_errors_not_panics() {
        let cases: [(Info<'_>, &str); 6] = [
            (("five", &[1, 1, 1, 1, 1], 0, 0), "5 dimensions, more than ggml's 4"),
            (("row", &[33], 8, 0), "rows of 33 elements"),
            // 32 elements in all, but rows of 16 cannot be whole q8_0 blocks.
            (("rows", &[16, 2], 8, 0), "rows of 16 elements"),
            (("many", &[u64::MAX, 2], 0, 0), "more elements than ggml can count"),
            (("negative", &[1 << 63], 0, 0), "more elements than ggml can count"),
            (("far", &[64], 8, u64::MAX), "overflow"),
        ];
        for ((name, dims, kind, offset), expected) in cases {
            let err = parse(&header_with(&[], &[(name, dims, kind, offset)])).expect_err(name);
            assert!(
                err.contains(&format!("tensor 0 ({name:?})")) && err.contains(expected),
                "{err}"
            );
        }
        // Rows of whole blocks take exactly their blocks' bytes.
        assert_eq!(tensor_bytes(&[256, 3], 12), Ok(Some(3 * 144)));
        assert_eq!(tensor_bytes(&[], 0), Ok(Some(4)), "a scalar");
        assert_eq!(tensor_bytes(&[0, 5], 12), Ok(Some(0)));
    }

    /// The `static_assert`s of `ggml/src/ggml-common.h` (llama-cpp-sys-2
    /// 0.1.161), restated: each block's size from its fields, with
    /// `ggml_half` = 2 bytes, `QK_K` = 256 and `K_SCALE_SIZE` = 12.
    #[test]
    fn the_type_table_follows_ggml_commons_static_asserts() {
        const H: u64 = 2; // sizeof(ggml_half)
        const QK_K: u64 = 256;
        const K_SCALE_SIZE: u64 = 12;
        let expected: [(u32, &str, u64, u64); 35] = [
            (0, "f32", 1, 4),
            (1, "f16", 1, 2),
            (2, "q4_0", 32, H + 32 / 2),
            (3, "q4_1", 32, 2 * H + 32 / 2),
            (6, "q5_0", 32, H + 4 + 32 / 2),
            (7, "q5_1", 32, 2 * H + 4 + 32 / 2),
            (8, "q8_0", 32, H + 32),
            (9, "q8_1", 32, 2 * H + 32),
            (10, "q2_K", QK_K, 2 * H + QK_K / 16 + QK_K / 4),
            (11, "q3_K", QK_K, H + QK_K / 4 + QK_K / 8 + 12),
            (12, "q4_K", QK_K, 2 * H + K_SCALE_SIZE + QK_K / 2),
            (13, "q5_K", QK_K, 2 * H + K_SCALE_SIZE + QK_K / 2 + QK_K / 8),
            (14, "q6_K", QK_K, H + QK_K / 16 + 3 * QK_K / 4),
            (15, "q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2),
            (16, "iq2_xxs", QK_K, H + QK_K / 8 * 2),
            (17, "iq2_xs", QK_K, H + QK_K / 8 * 2 + QK_K / 32),
            (18, "iq3_xxs", QK_K, H + 3 * (QK_K / 8)),
            (19, "iq1_s", QK_K, H + QK_K / 8 + QK_K / 16),
            (20, "iq4_nl", 32, H + 32 / 2),
            (21, "iq3_s", QK_K, H + 13 * (QK_K / 32) + QK_K / 64),
            (22, "iq2_s", QK_K, H + QK_K / 4 + QK_K / 16),
            (23, "iq4_xs", QK_K, H + 2 + QK_K / 64 + QK_K / 2),
            (24, "i8", 1, 1),
            (25, "i16", 1, 2),
            (26, "i32", 1, 4),
            (27, "i64", 1, 8),
            (28, "f64", 1, 8),
            (29, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
            (30, "bf16", 1, 2),
            (34, "tq1_0", QK_K, H + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5),
            (35, "tq2_0", QK_K, H + QK_K / 4),
            (39, "mxfp4", 32, 1 + 32 / 2),
            (40, "nvfp4", 64, (64 / 16) + 64 / 2),
            (41, "q1_0", 128, H + 128 / 8),
            (42, "q2_0", 64, H + 64 / 4),
        ];
        for (kind, name, block, size) in expected {
            assert_eq!(GgmlType::of(kind), Some(GgmlType { name, block, size }), "type {kind}");
        }
        // Every other number up to GGML_TYPE_COUNT (43) and past it is one
        // ggml removed or never defined.
        for kind in 0..64 {
            if !expected.iter().any(|e| e.0 == kind) {
                assert_eq!(GgmlType::of(kind), None, "type {kind}");
            }
        }
    }

    #[test]
    fn the_real_stories_gguf_holds_exactly_its_tensors() {
        let test = "the_real_stories_gguf_holds_exactly_its_tensors";
        let Some(data) = assistant_tests::shared_data(test) else {
            return;
        };
        let path = data.join("llm/stories260K.gguf");
        let gguf = Gguf::read(&path).expect("a valid GGUF");
        assert_eq!(gguf.file_size, 1_185_376, "MANIFEST.md's size");
        let alignment = gguf.unsigned("general.alignment").unwrap_or(32);
        let end = gguf.tensors_end.expect("every type is in the table");
        assert!(end <= gguf.file_size, "{end} > {}", gguf.file_size);
        assert!(
            gguf.file_size - end < alignment,
            "the file ends at most an alignment's padding after its last tensor: {end} vs {}",
            gguf.file_size
        );
        assert_eq!(gguf.data_offset % alignment, 0);
        gguf.check_complete().expect("the real file is whole");

        // A copy one byte short of its last tensor still reads, and is reported.
        let bytes = std::fs::read(&path).expect("read");
        let dir = tempfile::tempdir().expect("tempdir");
        let cut_path = dir.path().join("stories260K.gguf");
        let cut = usize::try_from(end - 1).expect("small");
        std::fs::write(&cut_path, &bytes[..cut]).expect("write");
        let cut = Gguf::read(&cut_path).expect("the header is whole");
        assert_eq!((cut.tensors_end, cut.data_offset), (gguf.tensors_end, gguf.data_offset));
        let err = cut.check_complete().expect_err("cut short").to_string();
        assert!(
            err.contains(&format!(
                "the file is {} bytes, but its tensors end at {end} bytes",
                end - 1
            )),
            "{err}"
        );
    }
}
