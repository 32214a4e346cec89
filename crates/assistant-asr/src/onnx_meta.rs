//! Reads the metadata of an ONNX file without loading it.
//!
//! Why this exists: sherpa-onnx trusts a transducer's files. A tokens file
//! with fewer symbols than the decoder's vocabulary is accepted, and the
//! first out-of-range token then throws a C++ exception out of
//! `GetOnlineStreamResult`, which kills the process; an encoder without the
//! metadata sherpa reads ends the process too. So the ASR stage checks the
//! files first, and for that it needs the `metadata_props` of each model.
//! Those are a top-level repeated field of the ONNX `ModelProto`, readable
//! by walking the protobuf wire format and seeking past everything else (the
//! graph, which holds the weights): a few reads, even for a 70 MB encoder.
//! The wire format is stable and tiny, so a protobuf code generator and the
//! ONNX schema would be more code than this.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// `ModelProto.ir_version`.
const IR_VERSION: u64 = 1;
/// `ModelProto.graph`.
const GRAPH: u64 = 7;
/// `ModelProto.metadata_props`.
const METADATA_PROPS: u64 = 14;
/// A metadata entry larger than this is not metadata.
const MAX_ENTRY: u64 = 1 << 20;

/// What an ONNX file says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnnxMetadata {
    /// The `metadata_props` key/value pairs.
    pub props: BTreeMap<String, String>,
}

impl OnnxMetadata {
    /// The value of `key` as a positive integer, if it is one.
    #[must_use]
    pub fn positive(&self, key: &str) -> Option<u64> {
        self.props.get(key)?.trim().parse().ok().filter(|&v| v > 0)
    }
}

/// Reads the metadata of the ONNX model at `path`.
///
/// # Errors
/// A message saying why the file is not a readable ONNX model (an I/O
/// error, a protobuf structure that does not parse, or no graph).
pub fn read(path: &Path) -> Result<OnnxMetadata, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut reader = BufReader::new(file);
    let mut meta = OnnxMetadata::default();
    let (mut ir_version, mut graph) = (false, false);
    let mut at = 0_u64;
    while at < len {
        let tag = varint(&mut reader, &mut at)?;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                varint(&mut reader, &mut at)?;
                ir_version |= field == IR_VERSION;
            }
            1 => skip(&mut reader, &mut at, 8, len)?,
            5 => skip(&mut reader, &mut at, 4, len)?,
            2 => {
                let size = varint(&mut reader, &mut at)?;
                if size > len - at {
                    return Err(format!(
                        "field {field} claims {size} bytes, but only {} remain",
                        len - at
                    ));
                }
                if field == METADATA_PROPS && size <= MAX_ENTRY {
                    let mut entry = vec![0_u8; usize::try_from(size).map_err(|e| e.to_string())?];
                    reader.read_exact(&mut entry).map_err(|e| e.to_string())?;
                    at += size;
                    let (key, value) = string_pair(&entry)?;
                    meta.props.insert(key, value);
                } else {
                    graph |= field == GRAPH;
                    skip(&mut reader, &mut at, size, len)?;
                }
            }
            other => return Err(format!("protobuf wire type {other} at byte {at} is not used by ONNX")),
        }
    }
    if !(ir_version && graph) {
        return Err("it has no ir_version or no graph".into());
    }
    Ok(meta)
}

fn varint(reader: &mut impl Read, at: &mut u64) -> Result<u64, String> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0_u8];
        reader
            .read_exact(&mut byte)
            .map_err(|_| format!("the file ends inside a varint at byte {at}"))?;
        *at += 1;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("a varint longer than 10 bytes ends at byte {at}"))
}

fn skip(reader: &mut (impl Read + Seek), at: &mut u64, size: u64, len: u64) -> Result<(), String> {
    if size > len - *at {
        return Err(format!("the file ends inside a field at byte {at}"));
    }
    let offset = i64::try_from(size).map_err(|e| e.to_string())?;
    reader.seek(SeekFrom::Current(offset)).map_err(|e| e.to_string())?;
    *at += size;
    Ok(())
}

/// Parses a `StringStringEntryProto` (key = 1, value = 2).
fn string_pair(mut bytes: &[u8]) -> Result<(String, String), String> {
    let (mut key, mut value) = (String::new(), String::new());
    let mut at = 0_u64;
    while !bytes.is_empty() {
        let tag = varint(&mut bytes, &mut at)?;
        if tag & 7 != 2 {
            return Err("a metadata entry holds a non-string field".into());
        }
        let size = usize::try_from(varint(&mut bytes, &mut at)?).map_err(|e| e.to_string())?;
        let text = bytes.get(..size).ok_or("a metadata entry is truncated")?;
        let text = String::from_utf8_lossy(text).into_owned();
        bytes = &bytes[size..];
        match tag >> 3 {
            1 => key = text,
            2 => value = text,
            _ => {}
        }
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, number << 3 | wire);
        if wire == 2 {
            put_varint(&mut out, payload.len() as u64);
        }
        out.extend_from_slice(payload);
        out
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn entry(key: &str, value: &str) -> Vec<u8> {
        let mut e = field(1, 2, key.as_bytes());
        e.extend(field(2, 2, value.as_bytes()));
        field(METADATA_PROPS, 2, &e)
    }

    fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.onnx");
        std::fs::write(&path, bytes).expect("write");
        (dir, path)
    }

    #[test]
    fn reads_metadata_around_a_large_graph() {
        let mut model = Vec::new();
        put_varint(&mut model, IR_VERSION << 3);
        put_varint(&mut model, 8);
        model.extend(field(2, 2, b"pytorch"));
        model.extend(field(GRAPH, 2, &vec![0xAB; 300_000]));
        model.extend(entry("vocab_size", "500"));
        model.extend(entry("model_type", "zipformer2"));
        let (_dir, path) = write(&model);
        let meta = read(&path).expect("parses");
        assert_eq!(meta.positive("vocab_size"), Some(500));
        assert_eq!(meta.props.get("model_type").map(String::as_str), Some("zipformer2"));
        assert_eq!(meta.positive("model_type"), None);
    }

    #[test]
    fn text_and_truncated_files_are_not_onnx() {
        let (_dir, path) = write(b"<blk> 0\n\xe2\x96\x81one 1\n");
        assert!(read(&path).is_err());
        let mut model = Vec::new();
        put_varint(&mut model, IR_VERSION << 3);
        put_varint(&mut model, 8);
        let mut graph = field(GRAPH, 2, &[0; 100]);
        graph.truncate(50);
        model.extend(graph);
        let (_dir, path) = write(&model);
        let err = read(&path).expect_err("truncated");
        assert!(err.contains("remain"), "{err}");
        let (_dir, path) = write(&[]);
        assert!(read(&path).is_err(), "an empty file has no graph");
    }
}
