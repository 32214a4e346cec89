//! Incremental line framing for streamed HTTP bodies.

use thiserror::Error;

/// A line could not be framed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FramingError {
    /// One line grew past the configured limit without a line ending.
    #[error("a streamed line exceeded {limit} bytes without a line ending; the server is not sending NDJSON or SSE")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A complete line is not valid UTF-8.
    #[error("a streamed line is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
}

/// Splits a byte stream into lines, accepting `\n`, `\r\n` and lone `\r`
/// endings (SSE allows all three), whatever the chunk boundaries.
#[derive(Debug)]
pub struct LineFramer {
    pending: Vec<u8>,
    /// A `\r` ended the last chunk: a `\n` starting the next one belongs to it.
    after_cr: bool,
    limit: usize,
}

impl LineFramer {
    /// A framer that refuses lines longer than `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            pending: Vec::new(),
            after_cr: false,
            limit,
        }
    }

    /// Feeds a chunk; calls `on_line` for each completed line (without its ending).
    ///
    /// # Errors
    /// [`FramingError`] if a line is too long or not UTF-8; the framer then
    /// discards the offending line and can be fed again.
    pub fn push(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(&str)) -> Result<(), FramingError> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.append(&chunk[..end])?;
            let is_cr = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if is_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            self.emit(&mut on_line)?;
        }
        self.append(chunk)
    }

    /// Ends the stream: a final line without an ending is still a line.
    ///
    /// # Errors
    /// [`FramingError::InvalidUtf8`] if that last line is not UTF-8.
    pub fn finish(&mut self, mut on_line: impl FnMut(&str)) -> Result<(), FramingError> {
        self.after_cr = false;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.emit(&mut on_line)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), FramingError> {
        if self.pending.len() + bytes.len() > self.limit {
            self.pending.clear();
            return Err(FramingError::LineTooLong { limit: self.limit });
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    fn emit(&mut self, on_line: &mut impl FnMut(&str)) -> Result<(), FramingError> {
        let result = match std::str::from_utf8(&self.pending) {
            Ok(line) => {
                on_line(line);
                Ok(())
            }
            Err(e) => Err(FramingError::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            }),
        };
        self.pending.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = LineFramer::new(1 << 20);
        let mut lines = Vec::new();
        for chunk in chunks {
            framer.push(chunk, |l| lines.push(l.to_owned())).expect("push");
        }
        framer.finish(|l| lines.push(l.to_owned())).expect("finish");
        lines
    }

    #[test]
    fn every_line_ending_and_split_gives_the_same_lines() {
        let body = "data: {\"a\":\"héllo\"}\r\n\r\ndata: [DONE]\n{\"x\":1}\r{\"y\":\"ü\"}";
        let expected = vec![
            "data: {\"a\":\"héllo\"}",
            "",
            "data: [DONE]",
            "{\"x\":1}",
            "{\"y\":\"ü\"}",
        ];
        let bytes = body.as_bytes();
        assert_eq!(frame(&[bytes]), expected);
        // Split at every byte boundary, including inside `é`, `ü` and `\r\n`.
        for cut in 0..=bytes.len() {
            assert_eq!(frame(&[&bytes[..cut], &bytes[cut..]]), expected, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(frame(&singles), expected);
    }

    #[test]
    fn an_overlong_line_is_refused_and_the_framer_recovers() {
        let mut framer = LineFramer::new(8);
        let mut lines = Vec::new();
        let err = framer.push(b"0123456789", |l| lines.push(l.to_owned()));
        assert_eq!(err, Err(FramingError::LineTooLong { limit: 8 }));
        framer.push(b"ok\n", |l| lines.push(l.to_owned())).expect("recovers");
        assert_eq!(lines, vec!["ok"]);
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_where() {
        let mut framer = LineFramer::new(64);
        let err = framer.push(b"ab\xff\n", |_| {});
        assert_eq!(err, Err(FramingError::InvalidUtf8 { valid_up_to: 2 }));
        let mut lines = Vec::new();
        framer.push(b"fine\n", |l| lines.push(l.to_owned())).expect("recovers");
        assert_eq!(lines, vec!["fine"]);
    }
}
