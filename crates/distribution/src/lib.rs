//! Registry client and server (OCI distribution spec v1.1).
//!
//! - [`server`]: a registry server library ([`server::serve`], [`server::spawn`]).
//! - [`client`]: [`client::pull`] and [`client::push`] between a registry and an
//!   [`image::ImageStore`], with auth ([`auth`]), platform selection and progress events
//!   ([`progress`]).

#![warn(missing_docs)]

pub mod auth;
pub mod client;
pub mod error;
pub mod platform;
pub mod progress;
pub mod server;

pub use client::{login, pull, push, ClientOptions};
pub use error::{DistributionError, ServerError};
pub use progress::{Progress, ProgressFn};
