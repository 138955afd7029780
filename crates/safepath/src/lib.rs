//! Paths confined to a root directory.
//!
//! Every path that comes from a client, an image or a build context is resolved by the kernel
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to a directory fd: `..`
//! and absolute symlink targets stop at the root, `/proc/self/fd`-style magic links are
//! refused. Nothing here checks strings. Trees are walked by fds (`openat` with `O_NOFOLLOW`)
//! so a symlink below the start point is seen, and copied, as a symlink.
//!
//! - [`Root`]: an open root directory and the lookups/creations inside it.
//! - [`tree`]: copying and removing trees by fds.

pub mod error;
pub mod root;
pub mod tree;

pub use error::{Error, Result};
pub use root::Root;
