//! Errors in words: the one place an error's chain of causes is flattened.
//!
//! Many library errors (reqwest's, cpal's) say only the outermost thing in
//! their `Display` ("error sending request") and keep the useful part ("connection
//! refused") in their sources. Stage errors carry the whole chain as text, so a
//! message names the real cause however it is printed.

use std::error::Error;

/// `error` and each of its sources, joined by `": "`.
#[must_use]
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn every_cause_is_named_once() {
        let inner = Layer("connection refused", None);
        let middle = Layer("tcp connect error", Some(Box::new(inner)));
        let outer = Layer("error sending request", Some(Box::new(middle)));
        assert_eq!(
            chain(&outer),
            "error sending request: tcp connect error: connection refused"
        );
        let repeats = Layer("open failed: busy", Some(Box::new(Layer("busy", None))));
        assert_eq!(chain(&repeats), "open failed: busy");
        assert_eq!(chain(&Layer("alone", None)), "alone");
    }
}
