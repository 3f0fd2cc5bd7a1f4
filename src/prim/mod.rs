//! One of each small primitive the rest of the crate shares, so each exists
//! once with its reasoning written once: `Published` (a versioned snapshot
//! cell, how anything crosses cores), `Rng` (xorshift64*, never for secrets),
//! `Lifecycle` (draining and the health override), `FreeList` (values kept
//! for reuse, trimmed to what the load needs), `WaitList` (tasks of one
//! worker waiting for another's announcement) and `alarm` (futures bounded
//! by a deadline, on a wheel each worker thread turns). A leaf: imports
//! nothing of the crate.

pub mod alarm;
pub mod free_list;
#[cfg(test)]
pub mod fuzzing;
pub mod lifecycle;
pub mod published;
pub mod rng;
pub mod stamp;
pub mod wait_list;

pub use free_list::FreeList;
pub use lifecycle::Lifecycle;
pub use published::Published;
pub use rng::Rng;
pub use stamp::Stamp;
pub use wait_list::WaitList;
