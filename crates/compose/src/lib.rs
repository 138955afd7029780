//! Compose projects as a client of the Docker Engine API sees them (like docker compose v2):
//! the compose-spec model ([`model`]), variable interpolation ([`interpolate`]), `.env`
//! files ([`envfile`]), normalisation and merge of several files ([`normalize`], [`merge`]),
//! loading and validation ([`project`], [`validate`]), the API bodies with docker compose's
//! labels and names ([`convert`]), and the reconcile planner ([`plan`]).
//!
//! The reconcile loop itself (talking to the daemon) lives in the `berth` CLI
//! (`berth compose`), which drives berthd and dockerd alike.

pub mod convert;
pub mod envfile;
pub mod error;
pub mod interpolate;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod plan;
pub mod project;
pub mod units;
pub mod validate;

pub use error::{ComposeError, Result};
pub use project::{load, Options, Project};
