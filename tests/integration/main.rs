//! The integration test binary: one module per area, run by `cargo test`.

mod render;
