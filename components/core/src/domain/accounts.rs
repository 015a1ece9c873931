//! Account rules (SPEC §2, docs/accounts.md): what makes a username, email, password, name, group name
//! or token name valid, and the lifetimes of sessions and one-time codes.

use crate::error::{ApiError, FieldError};

/// Shortest and longest username.
pub const USERNAME_LEN: (usize, usize) = (3, 40);
/// Shortest password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest password, in bytes (argon2 accepts more; nobody needs more, and it bounds the work).
pub const PASSWORD_MAX: usize = 1024;
/// Longest email address (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest first/last name, group description.
pub const TEXT_MAX: usize = 200;
/// Longest group or token name.
pub const NAME_MAX: usize = 100;

/// A login session lives this long (seconds): 7 days.
pub const SESSION_TTL: i64 = 7 * 24 * 3600;
/// Activation, password-reset and email-change codes expire after this long (seconds): 24 hours.
pub const CODE_TTL: i64 = 24 * 3600;
/// `last_used_at` of a token is written at most this often (seconds).
pub const LAST_USED_GRANULARITY: i64 = 60;

/// Collects field errors and turns them into one 422 `validation_failed`.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of one check.
    pub fn check(&mut self, field: &str, result: Result<(), String>) -> &mut Self {
        if let Err(message) = result {
            self.0.push(FieldError::new(field, message));
        }
        self
    }

    /// Ok when every check passed, else a 422 listing every failure.
    pub fn finish(&mut self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let errors = std::mem::take(&mut self.0);
        let detail = match errors.as_slice() {
            [one] => format!("invalid value for `{}`: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Err(ApiError::Validation { detail, errors })
    }
}

/// 3–40 characters of `[A-Za-z0-9_.-]`, not all digits (so `/users/{id|username}` is unambiguous).
pub fn username(value: &str) -> Result<(), String> {
    let (min, max) = USERNAME_LEN;
    if value.len() < min || value.len() > max {
        return Err(format!("must be {min} to {max} characters long"));
    }
    if !value.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        return Err("may contain only letters, digits, `_`, `.` and `-`".into());
    }
    if value.bytes().all(|c| c.is_ascii_digit()) {
        return Err("must not be all digits".into());
    }
    Ok(())
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no whitespace or controls.
pub fn email(value: &str) -> Result<(), String> {
    let plausible = value.len() <= EMAIL_MAX
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if plausible { Ok(()) } else { Err("must be a valid email address".into()) }
}

/// At least 8 characters, at most 1024 bytes.
pub fn password(value: &str) -> Result<(), String> {
    if value.chars().count() < PASSWORD_MIN {
        return Err(format!("must be at least {PASSWORD_MIN} characters long"));
    }
    if value.len() > PASSWORD_MAX {
        return Err(format!("must be at most {PASSWORD_MAX} bytes long"));
    }
    Ok(())
}

/// Free text (first/last name, description): at most 200 characters, no control characters.
pub fn text(value: &str) -> Result<(), String> {
    if value.chars().count() > TEXT_MAX {
        return Err(format!("must be at most {TEXT_MAX} characters long"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A token name: 1–100 characters, not blank, no control characters.
pub fn token_name(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters long"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A group name: 1–100 characters of `[A-Za-z0-9_.-]` and spaces, not all digits (addressable by id or
/// name), not starting or ending with a space.
pub fn group_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > NAME_MAX {
        return Err(format!("must be 1 to {NAME_MAX} characters long"));
    }
    if !value.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b' ')) {
        return Err("may contain only letters, digits, spaces, `_`, `.` and `-`".into());
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err("must not start or end with a space".into());
    }
    if value.bytes().all(|c| c.is_ascii_digit()) {
        return Err("must not be all digits".into());
    }
    Ok(())
}

/// How a path segment addresses a user or group: all digits = id, anything else = name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Id(i64),
    Name(String),
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Id(id) => write!(f, "{id}"),
            Ref::Name(name) => f.write_str(name),
        }
    }
}

impl Ref {
    /// Parses `/users/{id|username}` and `/groups/{id|name}` segments.
    pub fn parse(segment: &str) -> Ref {
        match segment.parse::<i64>() {
            Ok(id) if segment.bytes().all(|c| c.is_ascii_digit()) => Ref::Id(id),
            _ => Ref::Name(segment.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["ada", "a.b-c_d", "x1y", "007bond", &"a".repeat(40)] {
            assert_eq!(username(ok), Ok(()), "{ok}");
        }
        for bad in ["ab", &"a".repeat(41), "12345", "ada lovelace", "ada@x", "ädä", ""] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_passwords_and_names() {
        assert!(email("ada@example.org").is_ok());
        for bad in ["ada", "@x.org", "ada@", "ada@host", "a b@x.org", "a@b@c.org", "ada@.org", "ada@x.org."] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(password("12345678").is_ok());
        assert!(password("ünïcödé").is_err(), "7 characters");
        assert!(password("ünïcödé!").is_ok(), "8 characters, more bytes");
        assert!(password(&"x".repeat(1025)).is_err());
        assert!(text("Ada").is_ok() && text("").is_ok());
        assert!(text("a\u{0}").is_err() && text(&"x".repeat(201)).is_err());
        assert!(token_name("ci").is_ok());
        assert!(token_name("  ").is_err() && token_name(&"x".repeat(101)).is_err());
        assert!(group_name("Data Science").is_ok() && group_name("ops-1").is_ok());
        for bad in ["", "42", " x", "x ", "a/b", &"x".repeat(101)] {
            assert!(group_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refs_split_ids_from_names() {
        assert_eq!(Ref::parse("42"), Ref::Id(42));
        assert_eq!(Ref::parse("ada"), Ref::Name("ada".into()));
        assert_eq!(Ref::parse("+42"), Ref::Name("+42".into()));
        assert_eq!(Ref::parse("-1"), Ref::Name("-1".into()));
        assert_eq!(Ref::parse("99999999999999999999"), Ref::Name("99999999999999999999".into()));
    }

    #[test]
    fn checks_collect_every_failure() {
        assert!(Checks::new().check("a", Ok(())).finish().is_ok());
        let error = Checks::new().check("a", Err("bad".into())).check("b", Err("worse".into())).finish().unwrap_err();
        match error {
            ApiError::Validation { errors, detail } => {
                assert_eq!(errors.len(), 2);
                assert_eq!(detail, "2 fields are invalid");
            }
            other => panic!("{other:?}"),
        }
        let one = Checks::new().check("password", Err("too short".into())).finish().unwrap_err();
        assert_eq!(one, ApiError::invalid_field("password", "too short"));
    }
}
