//! SIGINT/SIGTERM: the only process-wide state of a run. The handler sets a flag; the run
//! checks it between phases and batches, lets the step in flight on each host finish (or
//! reverts it), then cleans up and unlocks (SPEC §7).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the SIGINT/SIGTERM handler: stop starting new work, revert, unlock.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Makes SIGINT and SIGTERM set [`INTERRUPTED`] instead of killing the process (once per
/// process; later calls do nothing).
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}
