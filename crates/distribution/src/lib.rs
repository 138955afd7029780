//! Registry client and server (OCI distribution spec).
//!
//! Not yet implemented: filled by a later issue.
