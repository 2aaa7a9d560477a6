//! Procfile text -> process types (SPEC §4). Strict: every line is a `name: command`, a
//! comment or blank; anything else is an error naming its line. Pure, no I/O.

/// One `name: command` line. `index` is its position among the types (0-based), which
/// gives its port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessType {
    pub name: String,
    pub command: String,
    pub index: usize,
    /// 1-based line number in the Procfile.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Procfile:{line}: {message}")]
pub struct ProcfileError {
    pub line: usize,
    pub message: String,
}

/// Longest allowed process type name.
pub const MAX_NAME_LEN: usize = 63;

/// Parses a Procfile. Errors name the 1-based line.
pub fn parse(text: &str) -> Result<Vec<ProcessType>, ProcfileError> {
    let _ = text;
    todo!("issue 3: procfile")
}
