//! The room every controller stands on, and that knows nothing of
//! organizations or workspaces: shared caches (`informer`), writing children
//! exactly and deleting only what carries an owner's marks (`apply`), the
//! writes to the reconciled object itself (`writes`), Events and backoff
//! (`report`), the generic reconcile driver (`pipeline`), leader election
//! and metrics. Arrows point down only: controllers use the runtime, never
//! the other way round.

pub mod apply;
pub mod compare;
pub mod error;
pub mod informer;
pub mod leader;
pub mod metrics;
mod owner_index;
pub mod pipeline;
pub mod record;
mod record_table;
pub mod report;
pub mod throttle;
pub mod writes;

pub use error::{Error, Result};
pub use informer::{Cacheable, Informer};
