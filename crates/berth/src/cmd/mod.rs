//! One module per group of verbs.

pub mod build;
pub mod commit;
pub mod compose;
pub mod container;
pub mod cp;
pub mod exec;
pub mod extra;
pub mod health;
pub mod images;
pub mod inspect;
pub mod isolation;
pub mod logs;
pub mod manage;
pub mod network;
pub mod progress;
pub mod ps;
pub mod registry;
pub mod resources;
pub mod runflags;
pub mod stats;
pub mod sysdf;
pub mod system;
pub mod update;
pub mod volume;
