//! The part of JSON the native codecs read and write — numbers, strings,
//! `true`, `false`, `null` and arrays — written byte for byte as serde_json
//! writes the same Rust values, so that native and serde encodings agree.
//! Reading is strict JSON (whitespace allowed between tokens) and bounded:
//! stored data is not trusted.

use super::{decode_err, CacheError};
use crate::cache::float_text::json_number;

/// Deepest nesting read; tracked keys are small.
const MAX_DEPTH: usize = 32;

/// Append `s` as a JSON string, escaped as serde_json does.
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// Append bytes: a JSON string when they are UTF-8, else an array of
/// numbers.
pub(super) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => write_str(out, s),
        Err(_) => {
            out.push(b'[');
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b.to_string().as_bytes());
            }
            out.push(b']');
        }
    }
}

/// A finite `f64` as serde_json writes it (`2.5`, `1.0`, `1e+16`).
///
/// # Errors
///
/// [`CacheError::Encode`] for NaN and infinities, which JSON cannot hold.
pub(super) fn f64_text(f: f64) -> Result<String, CacheError> {
    json_number(f).ok_or_else(|| CacheError::Encode(format!("{f} has no JSON form")))
}

/// `text` as one JSON integer, parsed as `T` (`None` when it is not an
/// integer or does not fit).
pub(super) fn parse_int<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    let text = trim(text);
    let mut scan = Scan::new(text);
    let integral = scan.number()? && scan.at_end();
    if !integral {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `text` as one JSON number.
pub(super) fn parse_f64(text: &[u8]) -> Option<f64> {
    let text = trim(text);
    let mut scan = Scan::new(text);
    scan.number()?;
    if !scan.at_end() {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `text` as `true` or `false`.
pub(super) fn parse_bool(text: &[u8]) -> Option<bool> {
    match trim(text) {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

/// Whether `text` is `null`.
pub(super) fn is_null(text: &[u8]) -> bool {
    trim(text) == b"null"
}

/// `text` as one JSON string.
pub(super) fn parse_str(text: &[u8]) -> Option<String> {
    let mut scan = Scan::new(trim(text));
    let s = scan.string()?;
    scan.at_end().then_some(s)
}

/// `text` as bytes written by [`write_bytes`]: a string or an array of
/// numbers 0 to 255.
pub(super) fn parse_bytes(text: &[u8]) -> Option<Vec<u8>> {
    if let Some(s) = parse_str(text) {
        return Some(s.into_bytes());
    }
    split_array(text)?
        .into_iter()
        .map(parse_int::<u8>)
        .collect()
}

/// The items of a JSON array, each as its own text (validated JSON).
pub(super) fn split_array(text: &[u8]) -> Option<Vec<&[u8]>> {
    let mut scan = Scan::new(trim(text));
    let items = scan.array_items()?;
    scan.at_end().then_some(items)
}

fn trim(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !is_space(*b))
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_space(*b))
        .map_or(start, |e| e + 1);
    text.get(start..end).unwrap_or_default()
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A cursor over JSON text. Every method returns `None` on invalid input.
struct Scan<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a [u8]) -> Scan<'a> {
        Scan { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.pos == self.text.len()
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number; `Some(true)` when it is an integer (no fraction or
    /// exponent).
    fn number(&mut self) -> Option<bool> {
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut integral = true;
        if self.eat(b'.') {
            integral = false;
            (self.digits() > 0).then_some(())?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            integral = false;
            let _ = self.eat(b'+') || self.eat(b'-');
            (self.digits() > 0).then_some(())?;
        }
        Some(integral)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }

    /// A string, decoded.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"').then_some(())?;
        let mut out = Vec::new();
        loop {
            match self.bump()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => match self.bump()? {
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'/' => out.push(b'/'),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let mut code = self.hex4()?;
                        if (0xd800..0xdc00).contains(&code) {
                            (self.eat(b'\\') && self.eat(b'u')).then_some(())?;
                            let low = self.hex4()?;
                            (0xdc00..0xe000).contains(&low).then_some(())?;
                            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                        }
                        let c = char::from_u32(code)?;
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    _ => return None,
                },
                b if b < 0x20 => return None,
                b => out.push(b),
            }
        }
    }

    /// Any value, skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'[' => self.array(depth),
            b'{' => self.object(depth),
            b't' | b'f' | b'n' => {
                let rest = self.text.get(self.pos..)?;
                let word: &[u8] = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| rest.starts_with(w))?;
                self.pos += word.len();
                Some(())
            }
            _ => self.number().map(drop),
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.items(depth, b'[', b']', |scan, depth| scan.value(depth))
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        self.items(depth, b'{', b'}', |scan, depth| {
            scan.skip_space();
            scan.string()?;
            scan.skip_space();
            scan.eat(b':').then_some(())?;
            scan.value(depth)
        })
    }

    /// `open item (, item)* close`, or `open close`.
    fn items(
        &mut self,
        depth: usize,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Scan<'a>, usize) -> Option<()>,
    ) -> Option<()> {
        (depth < MAX_DEPTH && self.eat(open)).then_some(())?;
        self.skip_space();
        if self.eat(close) {
            return Some(());
        }
        loop {
            item(self, depth + 1)?;
            self.skip_space();
            if self.eat(close) {
                return Some(());
            }
            self.eat(b',').then_some(())?;
        }
    }

    /// An array, as the texts of its items.
    fn array_items(&mut self) -> Option<Vec<&'a [u8]>> {
        let mut items = Vec::new();
        self.items(0, b'[', b']', |scan, depth| {
            scan.skip_space();
            let start = scan.pos;
            scan.value(depth)?;
            items.push(scan.text.get(start..scan.pos)?);
            Some(())
        })?;
        Some(items)
    }
}

/// A decode error for `text`, which is not the JSON `what`.
pub(super) fn not_a(what: &str, text: &[u8]) -> CacheError {
    let shown: String = String::from_utf8_lossy(text).chars().take(60).collect();
    decode_err(format_args!("{shown:?} is not {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n\t\u{1}\u{8}\u{c}\r/ä\u{7f}");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\"a\\\"b\\\\c\\n\\t\\u0001\\b\\f\\r/ä\u{7f}\""
        );
        assert_eq!(
            parse_str(&out).as_deref(),
            Some("a\"b\\c\n\t\u{1}\u{8}\u{c}\r/ä\u{7f}")
        );
        assert_eq!(
            parse_str(br#""\ud83d\ude00 \u00e4""#).as_deref(),
            Some("😀 ä")
        );
        for bad in [
            &br#""\ud83d""#[..],
            br#""a"#,
            b"\"\x01\"",
            br#""\x""#,
            b"\"\xff\"",
        ] {
            assert_eq!(parse_str(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bytes_are_strings_or_numbers() {
        let mut out = Vec::new();
        write_bytes(&mut out, b"ab");
        write_bytes(&mut out, &[0xff, 0]);
        assert_eq!(out, b"\"ab\"[255,0]");
        assert_eq!(parse_bytes(b"\"ab\""), Some(b"ab".to_vec()));
        assert_eq!(parse_bytes(b"[255, 0]"), Some(vec![255, 0]));
        assert_eq!(parse_bytes(b"[256]"), None);
        assert_eq!(parse_bytes(b"1"), None);
    }

    #[test]
    fn floats() {
        for (f, s) in [
            (2.5, "2.5"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-5, "0.00001"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-7"),
            (-1e300, "-1e+300"),
            (0.1, "0.1"),
        ] {
            assert_eq!(f64_text(f).unwrap(), s);
            assert_eq!(parse_f64(s.as_bytes()), Some(f));
        }
        assert!(f64_text(f64::NAN).is_err());
        assert!(f64_text(f64::INFINITY).is_err());
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(parse_int::<i32>(b"-12"), Some(-12));
        assert_eq!(parse_int::<u8>(b"256"), None);
        for bad in [&b"+1"[..], b"01", b"1.0", b"1e2", b"", b"-", b"1 2", b"0x1"] {
            assert_eq!(parse_int::<i64>(bad), None, "{bad:?}");
        }
        assert_eq!(parse_f64(b"1E+2"), Some(100.0));
        for bad in [&b"inf"[..], b"NaN", b".5", b"1.", b"1e", b"-"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_bool(b" true "), Some(true));
        assert!(is_null(b"null") && !is_null(b"nul"));
    }

    #[test]
    fn arrays_split_into_items() {
        let items = split_array(br#" [1, "a,]", [true, {"k": [null]}], -2.5e3 ] "#).unwrap();
        assert_eq!(
            items,
            [
                &b"1"[..],
                br#""a,]""#,
                br#"[true, {"k": [null]}]"#,
                b"-2.5e3"
            ]
        );
        assert_eq!(split_array(b"[]").unwrap(), Vec::<&[u8]>::new());
        for bad in [&b"[1,]"[..], b"[1", b"[1] x", b"{}", b"[tru]", b"[{1:2}]"] {
            assert_eq!(split_array(bad), None, "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(split_array(deep.as_bytes()), None);
    }
}
