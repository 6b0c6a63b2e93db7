//! Named choices: a closed set of values a user picks by name (`--format json`,
//! `--optimizer adamw`). The library lists the names once ([`Choice::CHOICES`], written with
//! the [`choices!`](crate::choices) macro, which also gives `Display` and `FromStr`); the
//! command line turns the list into its possible values.

/// A closed set of values with the names that select them.
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// Every accepted name and the value it selects. A value's first name is its canonical
    /// one (printed by `Display`); later names of the same value are aliases.
    const CHOICES: &'static [(&'static str, Self)];

    /// One line of help for the names that have one (`--help` lists them).
    const HELP: &'static [(&'static str, &'static str)] = &[];

    /// The canonical name of `self`.
    fn choice_name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .expect("every value has a name")
    }

    /// The value a name selects (exact match, aliases included).
    fn from_choice_name(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// A name that selects no value of a [`Choice`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not one of: {expected}")]
pub struct UnknownChoice {
    pub given: String,
    pub expected: String,
}

/// Canonical names of `T`, comma-separated.
pub fn names<T: Choice>() -> String {
    let mut out: Vec<&str> = vec![];
    for (n, v) in T::CHOICES {
        if v.choice_name() == *n {
            out.push(n);
        }
    }
    out.join(", ")
}

/// Implements [`Choice`], `Display` and `FromStr` for an enum from its list of names, each
/// with an optional line of help:
/// `choices!(Format { "table" => Format::Table; "Aligned text", "json" => Format::Json });`
#[macro_export]
macro_rules! choices {
    ($ty:ty { $($name:literal => $val:expr $(; $help:literal)?),+ $(,)? }) => {
        impl $crate::util::choice::Choice for $ty {
            const CHOICES: &'static [(&'static str, Self)] = &[$(($name, $val)),+];
            const HELP: &'static [(&'static str, &'static str)] = &[$($(($name, $help),)?)+];
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::util::choice::Choice::choice_name(*self))
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $crate::util::choice::UnknownChoice;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                <$ty as $crate::util::choice::Choice>::from_choice_name(s).ok_or_else(|| {
                    $crate::util::choice::UnknownChoice {
                        given: s.to_string(),
                        expected: $crate::util::choice::names::<$ty>(),
                    }
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Shade {
        Light,
        Dark,
    }
    crate::choices!(Shade {
        "light" => Shade::Light; "Pale",
        "dark" => Shade::Dark,
        "black" => Shade::Dark,
    });

    #[test]
    fn names_parse_print_and_aliases_resolve() {
        assert_eq!("light".parse::<Shade>(), Ok(Shade::Light));
        assert_eq!("black".parse::<Shade>(), Ok(Shade::Dark));
        assert_eq!(Shade::Dark.to_string(), "dark");
        assert_eq!(names::<Shade>(), "light, dark");
        let e = "grey".parse::<Shade>().unwrap_err();
        assert_eq!(e.to_string(), "'grey' is not one of: light, dark");
        assert!(
            "Light".parse::<Shade>().is_err(),
            "names are case-sensitive"
        );
        assert_eq!(Shade::HELP, &[("light", "Pale")]);
    }
}
