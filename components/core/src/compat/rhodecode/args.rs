//! A legacy call's `args`, read the way RhodeCode reads them. Its command-line client sends every value as
//! a string (`active:false` arrives as `"false"`, `userid:5` as `"5"`), so booleans and ids accept strings,
//! and an all-digit string names an id, as RhodeCode's lookups do.

use crate::domain::accounts::Ref;
use serde_json::{Map, Value as Json};

/// The arguments of one call.
#[derive(Debug, Clone, Default)]
pub struct Args(Map<String, Json>);

impl Args {
    /// The `args` object (RhodeCode reads anything else as no arguments).
    pub fn new(args: Map<String, Json>) -> Self {
        Self(args)
    }

    /// Refuses arguments the method does not take, as Kallithea does: ``Unknown `x` arg in JSON DATA``.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        let unknown: Vec<String> =
            self.0.keys().filter(|name| !known.contains(&name.as_str())).map(|name| format!("`{name}`")).collect();
        if unknown.is_empty() { Ok(()) } else { Err(format!("Unknown {} arg in JSON DATA", unknown.join(", "))) }
    }

    /// A given (non-null) argument.
    fn given(&self, name: &str) -> Option<&Json> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    fn required<T>(name: &str, value: Option<T>) -> Result<T, String> {
        value.ok_or_else(|| format!("Missing non optional `{name}` arg in JSON DATA"))
    }

    /// An id or a name (an integer, or a string: all digits = an id).
    pub fn opt_reference(&self, name: &str) -> Result<Option<Ref>, String> {
        match self.given(name) {
            None => Ok(None),
            Some(Json::Number(number)) => {
                number.as_i64().map(|id| Some(Ref::Id(id))).ok_or_else(|| format!("`{name}` must be an id or a name"))
            }
            Some(Json::String(text)) if !text.is_empty() => Ok(Some(Ref::parse(text))),
            Some(_) => Err(format!("`{name}` must be an id or a name")),
        }
    }

    /// A required id or name.
    pub fn reference(&self, name: &str) -> Result<Ref, String> {
        Self::required(name, self.opt_reference(name)?)
    }

    /// An optional string.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.given(name) {
            None => Ok(None),
            Some(Json::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    }

    /// A required string.
    pub fn string(&self, name: &str) -> Result<String, String> {
        Self::required(name, self.opt_string(name)?)
    }

    /// An optional boolean: `true`/`false`, or the strings and numbers RhodeCode's `str2bool` reads.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        let invalid = || format!("`{name}` must be a boolean (true/false)");
        match self.given(name) {
            None => Ok(None),
            Some(Json::Bool(flag)) => Ok(Some(*flag)),
            Some(Json::Number(number)) => match number.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(invalid()),
            },
            Some(Json::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "y" | "t" | "1" => Ok(Some(true)),
                "false" | "no" | "off" | "n" | "f" | "0" => Ok(Some(false)),
                _ => Err(invalid()),
            },
            Some(_) => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Json) -> Args {
        Args::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn strings_from_the_command_line_read_as_ids_and_booleans() {
        let given = args(json!({"userid": "5", "repoid": "render", "n": 7, "active": "false", "admin": "1"}));
        assert_eq!(given.reference("userid"), Ok(Ref::Id(5)));
        assert_eq!(given.reference("repoid"), Ok(Ref::Name("render".into())));
        assert_eq!(given.reference("n"), Ok(Ref::Id(7)));
        assert_eq!(given.opt_bool("active"), Ok(Some(false)));
        assert_eq!(given.opt_bool("admin"), Ok(Some(true)));
        assert_eq!(given.opt_bool("private"), Ok(None));
    }

    #[test]
    fn missing_wrong_and_unknown_arguments_are_refused_in_rhodecodes_words() {
        let given = args(json!({"active": "maybe", "name": 3, "extra": 1, "other": null}));
        assert_eq!(given.reference("repoid"), Err("Missing non optional `repoid` arg in JSON DATA".into()));
        assert_eq!(given.string("other"), Err("Missing non optional `other` arg in JSON DATA".into()));
        assert!(given.opt_bool("active").unwrap_err().contains("`active` must be a boolean"));
        assert!(given.opt_string("name").unwrap_err().contains("`name` must be a string"));
        assert_eq!(given.only(&["active", "name", "other"]), Err("Unknown `extra` arg in JSON DATA".into()));
        assert_eq!(given.only(&["active", "name", "extra", "other"]), Ok(()));
    }
}
