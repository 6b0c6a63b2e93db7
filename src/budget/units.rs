//! Amounts with units, parsed exactly (no floating point): `8.5G` is 8,500,000,000, `1.2e9` is
//! 1,200,000,000, `100MiB` is 104,857,600.
//!
//! | suffix | factor | suffix | factor |
//! |---|---|---|---|
//! | `k` | 10³ | `Ki` | 2¹⁰ |
//! | `M` | 10⁶ | `Mi` | 2²⁰ |
//! | `G` | 10⁹ | `Gi` | 2³⁰ |
//! | `T` | 10¹² | `Ti` | 2⁴⁰ |
//!
//! Byte limits also take an optional `B` (`100MB` = 10⁸ bytes); count limits reject it, so a
//! byte amount never lands on a FLOP limit by mistake. `K`, `m`, `g`, `t` are refused as
//! ambiguous or wrong-case rather than guessed. An amount must come to a whole number.

use std::fmt;

/// What an amount measures: a count (FLOPs, MACs, parameters) or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Bytes,
}

const UNITS_HELP: &str =
    "units are k, M, G, T (powers of 1000) and Ki, Mi, Gi, Ti (powers of 1024)";

/// A non-negative decimal `mantissa × 10^exp`, read exactly from text like `8.5`, `1.2e9`, `1500`.
fn parse_decimal(s: &str) -> Result<(u128, i32), String> {
    let (num, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("not a number".into());
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 38 {
        return Err("too many digits".into());
    }
    let mantissa: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| "not a number".to_string())?
    };
    let mut e: i32 = -(frac.len() as i32);
    if let Some(x) = exp {
        let v: i32 = x
            .parse()
            .ok()
            .filter(|v: &i32| v.abs() <= 60)
            .ok_or_else(|| format!("bad exponent '{x}'"))?;
        e += v;
    }
    Ok((mantissa, e))
}

fn pow10(e: u32) -> Option<u128> {
    10u128.checked_pow(e)
}

/// `mantissa × 10^exp × factor` when it is a whole number.
fn whole(mantissa: u128, exp: i32, factor: u128) -> Result<u128, String> {
    let v = mantissa.checked_mul(factor).ok_or("too large")?;
    if exp >= 0 {
        return pow10(exp as u32)
            .and_then(|p| v.checked_mul(p))
            .ok_or_else(|| "too large".into());
    }
    if v == 0 {
        return Ok(0);
    }
    match pow10((-exp) as u32) {
        Some(p) if v % p == 0 => Ok(v / p),
        _ => Err("does not come to a whole number".into()),
    }
}

/// The factor of a unit suffix (without a trailing `B`).
fn factor(unit: &str) -> Option<u128> {
    Some(match unit {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    })
}

/// Parses an amount (`8.5G`, `26M`, `1.2e9`, `1500`, `100MiB`); the error does not repeat the
/// input (callers say which value and where).
pub fn parse_amount(s: &str, kind: Kind) -> Result<u128, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty amount".into());
    }
    if s.starts_with('-') {
        return Err("must not be negative".into());
    }
    if s.ends_with('%') {
        return Err("a percentage is only meaningful for --max-increase".into());
    }
    // the number: digits, '.', and an exponent 'e' followed by a digit or a sign
    let b = s.as_bytes();
    let mut end = 0;
    while end < b.len() {
        let c = b[end];
        let exp_start = (c == b'e' || c == b'E')
            && end > 0
            && b.get(end + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+');
        if c.is_ascii_digit() || c == b'.' {
            end += 1;
        } else if exp_start {
            end += 2;
        } else {
            break;
        }
    }
    let (num, unit) = (&s[..end], s[end..].trim());
    if num.is_empty() {
        return Err(format!("not a number ({UNITS_HELP})"));
    }
    let (mantissa, exp) = parse_decimal(num)?;
    let (prefix, has_b) = match unit.strip_suffix('B') {
        Some(p) => (p, true),
        None => (unit, false),
    };
    if has_b && kind == Kind::Count {
        return Err(format!(
            "'{unit}' is a byte unit, and this limit counts operations or parameters ({UNITS_HELP}, without B)"
        ));
    }
    let f = match factor(prefix) {
        Some(f) => f,
        None => {
            let hint = match prefix {
                "K" => "'K' is ambiguous: use k (1000) or Ki (1024)".to_string(),
                "m" | "g" | "t" | "ki" | "mi" | "gi" | "ti" | "KI" | "MI" | "GI" | "TI" => {
                    format!("unknown unit '{unit}' (units are case-sensitive: {UNITS_HELP})")
                }
                _ => format!(
                    "unknown unit '{unit}' ({UNITS_HELP}{})",
                    if kind == Kind::Bytes {
                        ", with an optional B"
                    } else {
                        ""
                    }
                ),
            };
            return Err(hint);
        }
    };
    whole(mantissa, exp, f)
}

/// How much a total may grow against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Increase {
    /// `num / den` percent of the baseline (den a power of ten).
    Percent { num: u128, den: u128 },
    /// An absolute amount.
    Absolute(u128),
}

impl Default for Increase {
    fn default() -> Self {
        Increase::Percent { num: 0, den: 1 }
    }
}

impl Increase {
    /// Parses `2%`, `0.5%` or an amount (`100M`, `1MiB`).
    pub fn parse(s: &str) -> Result<Increase, String> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => {
                let p = p.trim();
                if p.starts_with('-') {
                    return Err("must not be negative".into());
                }
                let (m, e) = parse_decimal(p)?;
                if e >= 0 {
                    let num = pow10(e as u32)
                        .and_then(|x| m.checked_mul(x))
                        .ok_or("too large")?;
                    Ok(Increase::Percent { num, den: 1 })
                } else {
                    let den = pow10((-e) as u32)
                        .filter(|_| -e <= 18)
                        .ok_or("too many decimals")?;
                    Ok(Increase::Percent { num: m, den })
                }
            }
            None => parse_amount(s, Kind::Bytes).map(Increase::Absolute),
        }
    }

    /// The largest value allowed for a total whose baseline is `old` (rounded down).
    pub fn allowed(&self, old: i128) -> i128 {
        let grow = match *self {
            Increase::Absolute(a) => i128::try_from(a).unwrap_or(i128::MAX),
            Increase::Percent { num, den } => {
                let old = old.max(0) as u128;
                match old.checked_mul(num) {
                    Some(x) => (x / den / 100).min(i128::MAX as u128) as i128,
                    None => i128::MAX,
                }
            }
        };
        old.saturating_add(grow)
    }
}

impl fmt::Display for Increase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Increase::Absolute(a) => write!(f, "+{}", group(a as i128)),
            Increase::Percent { num, den } => {
                let int = num / den;
                let frac = num % den;
                if frac == 0 {
                    write!(f, "+{int}%")
                } else {
                    let width = den.ilog10() as usize;
                    let s = format!("{frac:0width$}");
                    write!(f, "+{int}.{}%", s.trim_end_matches('0'))
                }
            }
        }
    }
}

/// An integer with thousands separators: `8,481,080,320`, `-535,680`.
pub fn group(v: i128) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part / whole` in percent with two decimals (`3.49%`), or `-` when `whole` is 0.
pub fn pct(part: i128, whole: i128) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.2}%", 100.0 * part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_and_binary() {
        let c = |s| parse_amount(s, Kind::Count);
        let b = |s| parse_amount(s, Kind::Bytes);
        assert_eq!(c("8.5G"), Ok(8_500_000_000));
        assert_eq!(c("26M"), Ok(26_000_000));
        assert_eq!(c("1.2e9"), Ok(1_200_000_000));
        assert_eq!(c("1500"), Ok(1500));
        assert_eq!(c("1.5k"), Ok(1500));
        assert_eq!(c("2Ki"), Ok(2048));
        assert_eq!(c("0"), Ok(0));
        assert_eq!(c(" 3 G "), Ok(3_000_000_000));
        assert_eq!(b("100MB"), Ok(100_000_000));
        assert_eq!(b("100MiB"), Ok(104_857_600));
        assert_eq!(b("100M"), Ok(100_000_000));
        assert_eq!(b("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(b("512B"), Ok(512));
        assert_eq!(b("1TiB"), Ok(1_099_511_627_776));
    }

    #[test]
    fn refusals() {
        let c = |s| parse_amount(s, Kind::Count).unwrap_err();
        assert!(c("100MB").contains("byte unit"), "{}", c("100MB"));
        assert!(c("8.5X").contains("unknown unit 'X'"));
        assert!(c("1K").contains("ambiguous"));
        assert!(c("1g").contains("case-sensitive"));
        assert!(c("8.5").contains("whole number"));
        assert!(c("-5").contains("negative"));
        assert!(c("2%").contains("percentage"));
        assert!(c("G").contains("not a number"));
        assert!(c("1e99").contains("exponent"));
        assert!(c("1..2").contains("not a number"));
        assert!(c("99999999999999999999999999999999999999999").contains("digits"));
    }

    #[test]
    fn increases() {
        assert_eq!(
            Increase::parse("2%"),
            Ok(Increase::Percent { num: 2, den: 1 })
        );
        assert_eq!(
            Increase::parse("0.25%"),
            Ok(Increase::Percent { num: 25, den: 100 })
        );
        assert_eq!(Increase::parse("100M"), Ok(Increase::Absolute(100_000_000)));
        assert!(Increase::parse("-1%").is_err());
        // 2% of 8,195,202,560 is 163,904,051.2: rounded down
        let two = Increase::parse("2%").unwrap();
        assert_eq!(two.allowed(8_195_202_560), 8_359_106_611);
        assert_eq!(Increase::parse("0.25%").unwrap().to_string(), "+0.25%");
        assert_eq!(two.to_string(), "+2%");
        assert_eq!(Increase::Absolute(100_000_000).to_string(), "+100,000,000");
    }

    #[test]
    fn grouping() {
        assert_eq!(group(8_481_080_320), "8,481,080,320");
        assert_eq!(group(-535_680), "-535,680");
        assert_eq!(group(999), "999");
        assert_eq!(group(0), "0");
        assert_eq!(pct(285_877_760, 8_195_202_560), "3.49%");
    }
}
