//! Pure builders of the remote work: each function takes plain values (layout, resolved
//! config, release id, rendered units, `now`) and returns a [`Script`]. Nothing here touches
//! the network, clock, environment or disk; `remote::` runs the scripts, `deploy::` decides
//! which to run. Scripts signal outcomes with the named exit codes defined beside their
//! builders (e.g. `lock::HELD`), never with stderr text.

pub mod script;

pub use script::{Cmd, Script};
