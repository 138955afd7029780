//! Volumes: bind, anonymous, named, tmpfs.
//!
//! Not yet implemented: filled by a later issue.
