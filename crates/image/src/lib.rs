//! TODO
//!
//! Not yet implemented: filled by a later issue.
