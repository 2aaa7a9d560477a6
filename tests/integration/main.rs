//! The one integration test binary: CLI behaviour (`cli`), rendered units checked by the real
//! tools (`render`), and end-to-end runs against the project's test bed (`testbed`, `deploy`,
//! `commands`, `units`).

mod cli;
mod commands;
mod deploy;
mod remote;
mod render;
mod support;
mod testbed;
mod units;
