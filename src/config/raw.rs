//! deliver.toml as written: serde types with spans, no judgement.
