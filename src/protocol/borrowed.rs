//! A string field that borrows from the frame. serde borrows a bare `Cow<str>` field marked
//! `#[serde(borrow)]`, but a `Cow` inside an `Option` is always copied: four small heap
//! allocations per data message (`from`, `group`, `fromUserId`, `dataType`) before this type.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// A JSON string as it was in the frame when it has no escapes, unescaped (owned) otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireStr<'a>(pub Cow<'a, str>);

impl Deref for WireStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

struct WireStrVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for WireStrVisitor<'a> {
    type Value = WireStr<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(WireStr(Cow::Borrowed(s)))
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(WireStr(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(WireStr(Cow::Owned(s)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(WireStrVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Fields<'a> {
        #[serde(borrow)]
        plain: Option<WireStr<'a>>,
        #[serde(borrow)]
        escaped: Option<WireStr<'a>>,
    }

    #[test]
    fn plain_strings_borrow_and_escaped_ones_are_unescaped() {
        let fields: Fields<'_> =
            serde_json::from_str(r#"{"plain":"general","escaped":"a\"b\u00e9"}"#).unwrap();
        assert!(matches!(fields.plain.unwrap().0, Cow::Borrowed("general")));
        assert_eq!(&*fields.escaped.unwrap(), "a\"bé");
    }

    #[test]
    fn other_values_are_refused() {
        assert!(serde_json::from_str::<Fields<'_>>(r#"{"plain":1}"#).is_err());
    }
}
