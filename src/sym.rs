//! Exact counts that may depend on unbound symbols (a dynamic batch `N`, a sequence length).
//! A `Count` is a polynomial with integer coefficients over named symbols, computed with checked
//! 128-bit arithmetic: an overflow poisons the value instead of wrapping, and the analysis turns
//! a poisoned count into an error naming the node.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::{Add, Mul, Sub};

/// A product of symbols with their powers, sorted by name (the empty monomial is the constant).
type Monomial = Vec<(String, u32)>;

/// The terms of a polynomial: no zero coefficient, at least one monomial with a symbol.
type Terms = BTreeMap<Monomial, i128>;

/// A constant that fits 64 bits is held inline (no allocation, 16 bytes in all: most counts of a
/// bound model are such constants); a wider constant or a polynomial in a box; an overflowed
/// computation as its own state. The form is canonical (a constant is never a `Poly`, a
/// constant within `i64` never `Wide`), so equality is structural.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Int(i64),
    Wide(Box<i128>),
    Poly(Box<Terms>),
    Overflow,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Count(Repr);

impl Default for Count {
    fn default() -> Self {
        Count::zero()
    }
}

impl Count {
    pub fn zero() -> Self {
        Count(Repr::Int(0))
    }
    pub fn int(v: i128) -> Self {
        match i64::try_from(v) {
            Ok(v) => Count(Repr::Int(v)),
            Err(_) => Count(Repr::Wide(Box::new(v))),
        }
    }
    pub fn sym(name: &str) -> Self {
        let mut t = Terms::new();
        t.insert(vec![(name.to_string(), 1)], 1);
        Count(Repr::Poly(Box::new(t)))
    }
    pub fn poisoned() -> Self {
        Count(Repr::Overflow)
    }
    /// The canonical form of a term map: a constant inline, else the polynomial.
    fn from_terms(mut t: Terms) -> Self {
        t.retain(|_, c| *c != 0);
        match t.len() {
            0 => Count::zero(),
            1 if t.contains_key(&Vec::new()) => Count::int(t[&Vec::new()]),
            _ => Count(Repr::Poly(Box::new(t))),
        }
    }
    /// The terms as a map (a constant is the empty monomial); None when overflowed.
    fn terms(&self) -> Option<std::borrow::Cow<'_, Terms>> {
        use std::borrow::Cow;
        match &self.0 {
            Repr::Poly(t) => Some(Cow::Borrowed(t)),
            Repr::Overflow => None,
            _ => match self.as_int() {
                Some(0) | None => Some(Cow::Owned(Terms::new())),
                Some(v) => Some(Cow::Owned(Terms::from([(Vec::new(), v)]))),
            },
        }
    }
    /// True when some step of the computation overflowed 128-bit integers.
    pub fn overflowed(&self) -> bool {
        matches!(self.0, Repr::Overflow)
    }
    pub fn is_zero(&self) -> bool {
        matches!(self.0, Repr::Int(0))
    }
    /// The value when no symbol is left.
    pub fn as_int(&self) -> Option<i128> {
        match &self.0 {
            Repr::Int(v) => Some(*v as i128),
            Repr::Wide(v) => Some(**v),
            _ => None,
        }
    }
    /// Symbols this count depends on.
    pub fn symbols(&self) -> Vec<String> {
        let Repr::Poly(t) = &self.0 else {
            return vec![];
        };
        let mut v: Vec<String> = t
            .keys()
            .flat_map(|m| m.iter().map(|(s, _)| s.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// Substitutes the bound symbols by their values; unbound ones stay.
    pub fn bind(&self, values: &HashMap<String, i64>) -> Count {
        let Repr::Poly(t) = &self.0 else {
            return self.clone();
        };
        let mut out = Count::zero();
        for (mono, coef) in t.iter() {
            let mut term = Count::int(*coef);
            for (s, p) in mono {
                let factor = match values.get(s) {
                    Some(v) => Count::int(*v as i128),
                    None => Count::sym(s),
                };
                for _ in 0..*p {
                    term = &term * &factor;
                }
            }
            out = &out + &term;
        }
        out
    }
    /// Exact division by a positive constant, when every coefficient is divisible.
    pub fn div_exact(&self, d: i128) -> Option<Count> {
        if d == 0 {
            return None;
        }
        match &self.0 {
            Repr::Int(_) | Repr::Wide(_) => {
                let v = self.as_int()?;
                (v % d == 0).then(|| Count::int(v / d))
            }
            Repr::Poly(t) => {
                let mut out = Terms::new();
                for (m, c) in t.iter() {
                    if c % d != 0 {
                        return None;
                    }
                    out.insert(m.clone(), c / d);
                }
                Some(Count::from_terms(out))
            }
            Repr::Overflow => None,
        }
    }
    /// Product of several counts (an element count from a shape).
    pub fn product<'a>(items: impl IntoIterator<Item = &'a Count>) -> Count {
        items.into_iter().fold(Count::int(1), |acc, x| &acc * x)
    }
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Count>) -> Count {
        items.into_iter().fold(Count::zero(), |acc, x| &acc + x)
    }
    /// Serialises as an integer when constant, else as the expression string.
    pub fn to_json(&self) -> serde_json::Value {
        match self.as_int() {
            Some(v) if v >= 0 && v <= u64::MAX as i128 => serde_json::Value::from(v as u64),
            Some(v) if v < 0 && v >= i64::MIN as i128 => serde_json::Value::from(v as i64),
            _ => serde_json::Value::String(self.to_string()),
        }
    }
    /// A float for ratios and human units (symbols taken as 1).
    pub fn approx(&self) -> f64 {
        match &self.0 {
            // `+ 0.0` turns the −0.0 of an empty sum into 0.0
            Repr::Int(0) | Repr::Overflow => 0.0,
            Repr::Int(v) => *v as f64 + 0.0,
            Repr::Wide(v) => **v as f64 + 0.0,
            Repr::Poly(t) => t.values().map(|c| *c as f64).sum::<f64>() + 0.0,
        }
    }
}

/// An integer when constant and within JSON's integer range (u64 or i64), else the expression
/// string: the same value `to_json` builds, written without building it.
impl serde::Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.as_int() {
            Some(v) if v >= 0 && v <= u64::MAX as i128 => s.serialize_u64(v as u64),
            Some(v) if v < 0 && v >= i64::MIN as i128 => s.serialize_i64(v as i64),
            _ => s.collect_str(self),
        }
    }
}

fn mono_mul(a: &Monomial, b: &Monomial) -> Monomial {
    let mut m: BTreeMap<String, u32> = BTreeMap::new();
    for (s, p) in a.iter().chain(b.iter()) {
        *m.entry(s.clone()).or_default() += p;
    }
    m.into_iter().collect()
}

impl Add for &Count {
    type Output = Count;
    fn add(self, rhs: &Count) -> Count {
        if let (Repr::Int(a), Repr::Int(b)) = (&self.0, &rhs.0) {
            // two 64-bit values: their sum always fits 128 bits
            return Count::int(*a as i128 + *b as i128);
        }
        if let (Some(a), Some(b)) = (self.as_int(), rhs.as_int()) {
            return a.checked_add(b).map_or(Count::poisoned(), Count::int);
        }
        let (Some(a), Some(b)) = (self.terms(), rhs.terms()) else {
            return Count::poisoned();
        };
        let mut out = a.into_owned();
        for (m, c) in b.iter() {
            let e = out.entry(m.clone()).or_insert(0);
            match e.checked_add(*c) {
                Some(v) => *e = v,
                None => return Count::poisoned(),
            }
            if *e == 0 {
                out.remove(m);
            }
        }
        Count::from_terms(out)
    }
}

impl Sub for &Count {
    type Output = Count;
    fn sub(self, rhs: &Count) -> Count {
        self + &(rhs * &Count::int(-1))
    }
}

impl Mul for &Count {
    type Output = Count;
    fn mul(self, rhs: &Count) -> Count {
        if let (Repr::Int(a), Repr::Int(b)) = (&self.0, &rhs.0) {
            // two 64-bit values: their product always fits 128 bits
            return Count::int(*a as i128 * *b as i128);
        }
        if let (Some(a), Some(b)) = (self.as_int(), rhs.as_int()) {
            return a.checked_mul(b).map_or(Count::poisoned(), Count::int);
        }
        let (Some(a), Some(b)) = (self.terms(), rhs.terms()) else {
            return Count::poisoned();
        };
        let mut out = Terms::new();
        for (ma, ca) in a.iter() {
            for (mb, cb) in b.iter() {
                let Some(c) = ca.checked_mul(*cb) else {
                    return Count::poisoned();
                };
                let e = out.entry(mono_mul(ma, mb)).or_insert(0);
                match e.checked_add(c) {
                    Some(v) => *e = v,
                    None => return Count::poisoned(),
                }
            }
        }
        Count::from_terms(out)
    }
}

macro_rules! owned_ops {
    ($tr:ident, $f:ident) => {
        impl $tr for Count {
            type Output = Count;
            fn $f(self, rhs: Count) -> Count {
                (&self).$f(&rhs)
            }
        }
        impl $tr<i128> for Count {
            type Output = Count;
            fn $f(self, rhs: i128) -> Count {
                (&self).$f(&Count::int(rhs))
            }
        }
        impl $tr<i128> for &Count {
            type Output = Count;
            fn $f(self, rhs: i128) -> Count {
                self.$f(&Count::int(rhs))
            }
        }
        impl $tr<&Count> for Count {
            type Output = Count;
            fn $f(self, rhs: &Count) -> Count {
                (&self).$f(rhs)
            }
        }
    };
}
owned_ops!(Add, add);
owned_ops!(Sub, sub);
owned_ops!(Mul, mul);

impl From<i128> for Count {
    fn from(v: i128) -> Self {
        Count::int(v)
    }
}

impl fmt::Display for Count {
    /// Highest degree first, constant last: `1000*N + 24`, `2*N^2 - N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match &self.0 {
            Repr::Overflow => return write!(f, "<overflow>"),
            Repr::Int(v) => return write!(f, "{v}"),
            Repr::Wide(v) => return write!(f, "{v}"),
            Repr::Poly(t) => t,
        };
        let mut terms: Vec<(&Monomial, &i128)> = t.iter().collect();
        terms.sort_by(|a, b| {
            let da: u32 = a.0.iter().map(|x| x.1).sum();
            let db: u32 = b.0.iter().map(|x| x.1).sum();
            db.cmp(&da).then(a.0.cmp(b.0))
        });
        for (i, (mono, coef)) in terms.into_iter().enumerate() {
            let neg = *coef < 0;
            let abs = coef.unsigned_abs();
            if i == 0 {
                if neg {
                    write!(f, "-")?;
                }
            } else {
                write!(f, " {} ", if neg { "-" } else { "+" })?;
            }
            let vars: Vec<String> = mono
                .iter()
                .map(|(s, p)| {
                    if *p == 1 {
                        s.clone()
                    } else {
                        format!("{s}^{p}")
                    }
                })
                .collect();
            if vars.is_empty() {
                write!(f, "{abs}")?;
            } else if abs == 1 {
                write!(f, "{}", vars.join("*"))?;
            } else {
                write!(f, "{abs}*{}", vars.join("*"))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Count({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_polynomials_highest_degree_first() {
        let n = Count::sym("N");
        let c = &(&n * 1000) + &Count::int(24);
        assert_eq!(c.to_string(), "1000*N + 24");
        let sq = &(&(&n * &n) * 2) - &n;
        assert_eq!(sq.to_string(), "2*N^2 - N");
        assert_eq!(c.to_json(), serde_json::json!("1000*N + 24"));
        assert_eq!(Count::int(7).to_json(), serde_json::json!(7));
    }

    #[test]
    fn binding_evaluates() {
        let n = Count::sym("N");
        let c = &(&n * 1000) + &Count::int(24);
        let b = HashMap::from([("N".to_string(), 8)]);
        assert_eq!(c.bind(&b).as_int(), Some(8024));
    }

    #[test]
    fn overflow_poisons_instead_of_wrapping() {
        let big = Count::int(i128::MAX / 2 + 1);
        assert!((&big * 2).overflowed());
        assert!((&(&big * 2) + &Count::int(1)).overflowed());
        assert!(!(&big + &Count::int(1)).overflowed());
    }

    #[test]
    fn cancelling_terms_vanish() {
        let n = Count::sym("N");
        assert!((&n - &n).is_zero());
        assert_eq!((&n - &n).to_json(), serde_json::json!(0));
    }

    #[test]
    fn serialises_as_the_json_value() {
        // Integers in u64 or i64 range are numbers; beyond, and polynomials, are strings.
        let n = Count::sym("N");
        let cases = [
            (Count::int(0), "0"),
            (Count::int(7), "7"),
            (Count::int(-3), "-3"),
            (
                Count::int(18_446_744_073_709_551_615),
                "18446744073709551615",
            ),
            (
                Count::int(18_446_744_073_709_551_616),
                "\"18446744073709551616\"",
            ),
            (
                Count::int(-9_223_372_036_854_775_808),
                "-9223372036854775808",
            ),
            (
                Count::int(-9_223_372_036_854_775_809),
                "\"-9223372036854775809\"",
            ),
            (&(&n * 1000) + &Count::int(24), "\"1000*N + 24\""),
            (Count::poisoned(), "\"<overflow>\""),
        ];
        for (c, text) in cases {
            assert_eq!(serde_json::to_string(&c).unwrap(), text, "{c:?}");
            assert_eq!(serde_json::to_string(&c.to_json()).unwrap(), text, "{c:?}");
        }
    }

    #[test]
    fn wide_constants_keep_128_bit_arithmetic() {
        // 2^62 fits 64 bits, 2^63 does not; the sum and products cross over and back exactly.
        let a = Count::int(1 << 62);
        let b = &a + &a;
        assert_eq!(b.as_int(), Some(1i128 << 63));
        assert_eq!((&b - &a), a);
        let sq = &b * &b;
        assert_eq!(sq.as_int(), Some(1i128 << 126));
        assert!((&sq * 2).overflowed());
        assert_eq!(
            sq.div_exact(1i128 << 64).unwrap().as_int(),
            Some(1i128 << 62)
        );
        assert_eq!(sq.to_string(), (1i128 << 126).to_string());
        assert_eq!(std::mem::size_of::<Count>(), 16);
    }

    #[test]
    fn constants_and_polynomials_compare_by_value() {
        // A polynomial whose symbols cancel is the same constant as one built directly.
        let n = Count::sym("N");
        let c = &(&(&n * 3) + &Count::int(5)) - &(&n * 3);
        assert_eq!(c, Count::int(5));
        assert_eq!(c.as_int(), Some(5));
        assert_eq!(c.symbols(), Vec::<String>::new());
        assert_eq!((&n * 6).div_exact(3), Some(&n * 2));
        assert_eq!(Count::int(7).div_exact(2), None);
        assert_eq!(c.approx(), 5.0);
        assert_eq!((&(&n * 2) + &Count::int(1)).approx(), 3.0);
    }
}
