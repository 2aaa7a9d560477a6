//! The one integration test binary: CLI behaviour (`cli`, `cli_input`), rendered units
//! checked by the real tools (`render`), and end-to-end runs against the project's test bed:
//! `testbed`, `remote`, `deploy`, `commands`, `units`, `speed`, `sizing`, `limits`,
//! `failed_release`, `faults` (network, app and signal faults), `secrets`, `operations`
//! (hooks, history, lock wait), `release_command`, and `zero_downtime` under the POST load
//! of `load`.

mod cli;
mod cli_input;
mod commands;
mod deploy;
mod env;
mod failed_release;
mod faults;
mod limits;
mod load;
mod operations;
mod release_command;
mod remote;
mod render;
mod scale;
mod secrets;
mod sizing;
mod speed;
mod support;
mod testbed;
mod units;
mod zero_downtime;
