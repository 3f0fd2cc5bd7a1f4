//! Load balancing: per worker, per cluster, allocation-free per pick.

pub mod round_robin;

pub use round_robin::RoundRobin;
