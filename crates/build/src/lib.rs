//! Dockerfile parser and image builder.
//!
//! Not yet implemented: filled by a later issue.
