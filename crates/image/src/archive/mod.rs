//! Image tarballs: `docker save` / `docker load`.
//!
//! - [`save()`]: docker-archive writer (what `docker save` writes, `docker load` reads).
//! - [`load()`]: docker-archive and OCI image layout reader, safe against hostile
//!   tarballs (no path escapes, links only inside the archive, every blob verified, nothing
//!   recorded unless complete).

mod extract;
mod load;
mod save;

pub use load::{load, LoadedImage};
pub use save::{check, resolve, save, SaveItem};
