//! Exact counts that may depend on unbound symbols (a dynamic batch `N`, a sequence length).
//! A `Count` is a polynomial with integer coefficients over named symbols, computed with checked
//! 128-bit arithmetic: an overflow poisons the value instead of wrapping, and the analysis turns
//! a poisoned count into an error naming the node.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::{Add, Mul, Sub};

/// A product of symbols with their powers, sorted by name (the empty monomial is the constant).
type Monomial = Vec<(String, u32)>;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Count {
    terms: BTreeMap<Monomial, i128>,
    overflow: bool,
}

impl Count {
    pub fn zero() -> Self {
        Count::default()
    }
    pub fn int(v: i128) -> Self {
        let mut c = Count::zero();
        if v != 0 {
            c.terms.insert(Vec::new(), v);
        }
        c
    }
    pub fn sym(name: &str) -> Self {
        let mut c = Count::zero();
        c.terms.insert(vec![(name.to_string(), 1)], 1);
        c
    }
    pub fn poisoned() -> Self {
        Count {
            terms: BTreeMap::new(),
            overflow: true,
        }
    }
    /// True when some step of the computation overflowed 128-bit integers.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
    pub fn is_zero(&self) -> bool {
        !self.overflow && self.terms.is_empty()
    }
    /// The value when no symbol is left.
    pub fn as_int(&self) -> Option<i128> {
        if self.overflow {
            return None;
        }
        match self.terms.len() {
            0 => Some(0),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }
    /// Symbols this count depends on.
    pub fn symbols(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .terms
            .keys()
            .flat_map(|m| m.iter().map(|(s, _)| s.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// Substitutes the bound symbols by their values; unbound ones stay.
    pub fn bind(&self, values: &HashMap<String, i64>) -> Count {
        if self.overflow {
            return self.clone();
        }
        let mut out = Count::zero();
        for (mono, coef) in &self.terms {
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
        if self.overflow || d == 0 {
            return None;
        }
        let mut out = Count::zero();
        for (m, c) in &self.terms {
            if c % d != 0 {
                return None;
            }
            out.terms.insert(m.clone(), c / d);
        }
        Some(out)
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
        self.terms.values().map(|c| *c as f64).sum::<f64>() + 0.0
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
        if self.overflow || rhs.overflow {
            return Count::poisoned();
        }
        let mut out = self.clone();
        for (m, c) in &rhs.terms {
            let e = out.terms.entry(m.clone()).or_insert(0);
            match e.checked_add(*c) {
                Some(v) => *e = v,
                None => return Count::poisoned(),
            }
            if *e == 0 {
                out.terms.remove(m);
            }
        }
        out
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
        if self.overflow || rhs.overflow {
            return Count::poisoned();
        }
        let mut out = Count::zero();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &rhs.terms {
                let Some(c) = ca.checked_mul(*cb) else {
                    return Count::poisoned();
                };
                let e = out.terms.entry(mono_mul(ma, mb)).or_insert(0);
                match e.checked_add(c) {
                    Some(v) => *e = v,
                    None => return Count::poisoned(),
                }
            }
        }
        out.terms.retain(|_, c| *c != 0);
        out
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
        if self.overflow {
            return write!(f, "<overflow>");
        }
        if self.terms.is_empty() {
            return write!(f, "0");
        }
        let mut terms: Vec<(&Monomial, &i128)> = self.terms.iter().collect();
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
}
