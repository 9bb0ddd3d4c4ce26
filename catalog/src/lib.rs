//! sluice-catalog: the Glue-shaped catalog of the lake's tables and the crawler that fills it.
//!
//! This crate is where the catalog model, its SQLite store and the crawler live; it depends on
//! `sluice-engine` for object stores and readers. It has no public API yet: `sluice crawl` and the
//! catalog-backed SQL provider are the next pieces of work.
