//! Compose projects on top of the engine.
//!
//! Not yet implemented: filled by a later issue.
