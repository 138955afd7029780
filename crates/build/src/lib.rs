//! Dockerfile parser and image builder (the classic `docker build`).
//!
//! - [`parser`]: the Dockerfile language (directives, continuations, heredocs, exec/shell form);
//! - [`shell`]: Docker's word expansion (`$VAR`, `${VAR:-d}`, quotes);
//! - [`ignore`]: `.dockerignore` matching;
//! - with the `builder` feature: [`context`] (the tar context), [`cache`] (the persistent layer
//!   cache), [`stages`] (the stage DAG) and [`builder`] (running the steps).

pub mod error;
pub mod ignore;
pub mod parser;
pub mod shell;

#[cfg(feature = "builder")]
pub mod builder;
#[cfg(feature = "builder")]
pub mod cache;
#[cfg(feature = "builder")]
pub mod context;
#[cfg(feature = "builder")]
mod copy;
#[cfg(feature = "builder")]
mod run;
#[cfg(feature = "builder")]
pub mod stages;

#[cfg(feature = "builder")]
pub use builder::{build, BuildOptions, Event};
pub use error::{BuildError, Result};
