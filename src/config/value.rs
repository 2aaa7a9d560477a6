//! Checks of single values that several sections share (non-empty strings, counts,
//! durations, enumerations), the [`Set`] wrapper that keeps where a value was written, and
//! [`str_newtype!`] for validated names. Each check takes a raw [`Field`] and returns the
//! value or a [`Problem`] at the value's offset. No I/O, no defaults, no merging.

use std::time::Duration;

use super::duration;
use super::raw::{self, Field, Problem};

/// A validated value and where it was written (for checks across keys).
#[derive(Debug, Clone)]
pub(super) struct Set<T> {
    pub value: T,
    pub path: String,
    pub at: usize,
}

impl<T> Set<T> {
    /// `value`, found at `field`.
    pub(super) fn at<U>(field: &Field<U>, value: T) -> Set<T> {
        Set {
            value,
            path: field.path.clone(),
            at: field.at,
        }
    }
}

/// The string-backed newtype `$name`, readable as a `str` everywhere (`as_str`, `Deref`,
/// `AsRef`, `Display`, comparison with `&str`); only its own module builds one, after its
/// check.
macro_rules! str_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
pub(super) use str_newtype;

/// Longest Procfile command, build hook or `[env]` line (`NAME=value`), in bytes. Linux
/// refuses to start a process with any one argument or environment string over
/// `MAX_ARG_STRLEN` (128 KiB) with E2BIG; 16 KiB stay for what wraps a command on the host
/// (`exec `, the upstart job's `shared/.env` prelude with its two paths).
pub const MAX_ARG_BYTES: usize = 112 * 1024;

/// A command or `[env]` line (`what`, `len` bytes) that the host could not pass to a
/// process.
pub(crate) fn too_long(what: &str, len: usize) -> Option<String> {
    (len > MAX_ARG_BYTES).then(|| {
        format!(
            "{what} is {len} bytes long; at most {MAX_ARG_BYTES} are allowed (Linux refuses \
             longer arguments and environment strings)"
        )
    })
}

/// Rejects what no path or shell word can hold; anything else (quotes, `;`, `$`) is kept
/// verbatim: quoting for the remote shell is the remote layer's job.
pub(super) fn no_control_chars(field: &Field<String>) -> Result<(), Problem> {
    if field.value.contains(['\0', '\n', '\r']) {
        return Err(Problem::new(
            field.at,
            format!("{} must not contain NUL or line breaks", field.path),
        ));
    }
    Ok(())
}

pub(super) fn non_empty(field: &Field<String>) -> Result<(), Problem> {
    if field.value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} must not be empty", field.path),
        ));
    }
    no_control_chars(field)
}

pub(super) fn at_least_one(field: &Field<i64>) -> Result<u32, Problem> {
    match u32::try_from(field.value) {
        Ok(n) if n >= 1 => Ok(n),
        _ if field.value < 1 => Err(Problem::new(
            field.at,
            format!("{} must be at least 1, got {}", field.path, field.value),
        )),
        _ => Err(Problem::new(
            field.at,
            format!(
                "{} must be at most {}, got {}",
                field.path,
                u32::MAX,
                field.value
            ),
        )),
    }
}

/// One of `valid`, else an error listing them and suggesting the nearest.
pub(super) fn one_of<T: Copy>(field: &Field<String>, valid: &[(&str, T)]) -> Result<T, Problem> {
    if let Some((_, value)) = valid.iter().find(|(name, _)| *name == field.value) {
        return Ok(*value);
    }
    let names: Vec<&str> = valid.iter().map(|(name, _)| *name).collect();
    Err(Problem::new(
        field.at,
        format!(
            "{} must be one of {}; got `{}`",
            field.path,
            names.join(", "),
            field.value
        ),
    )
    .suggest(raw::nearest(&field.value, &names)))
}

/// A duration longer than zero.
pub(super) fn positive(field: &Field<String>) -> Result<Duration, Problem> {
    let d = duration::parse(&field.value)
        .map_err(|reason| Problem::new(field.at, format!("{}: {reason}", field.path)))?;
    if d.is_zero() {
        return Err(Problem::new(
            field.at,
            format!("{} must be longer than 0", field.path),
        ));
    }
    Ok(d)
}

/// [`positive`], keeping where it was written.
pub(super) fn positive_set(field: &Field<String>) -> Result<Set<Duration>, Problem> {
    Ok(Set::at(field, positive(field)?))
}
