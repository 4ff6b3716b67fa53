//! The gRPC contract between the ao-rs units, generated from the `.proto` files in `proto/ao/`.
//!
//! | `.proto` file | package | Rust module | served by | called by |
//! |---|---|---|---|---|
//! | `ao/common/v1/common.proto` | `ao.common.v1` | [`common::v1`] | (shared types) | |
//! | `ao/scheduler/v1/scheduler.proto` | `ao.scheduler.v1` | [`scheduler::v1`] | SU (`su`) | MU (schedule, assign), CU (read and tail schedules) |
//! | `ao/compute/v1/compute.proto` | `ao.compute.v1` | [`compute::v1`] | CU (`cu`) | MU (results, cron), tools |
//! | `ao/messenger/v1/messenger.proto` | `ao.messenger.v1` | [`messenger::v1`] | MU (`mu`) | tools, tests, the MU's HTTP facade |
//!
//! Each service module holds the messages plus a `*_server` module (trait + tonic service to
//! implement) and a `*_client` module (generated client), e.g.
//! [`scheduler::v1::scheduler_server::Scheduler`] and
//! [`scheduler::v1::scheduler_client::SchedulerClient`].
//!
//! Why two protocols: our units talk to each other over gRPC because it gives typed contracts,
//! server streaming (schedule tails, result pages, multi-gigabyte memory snapshots) and HTTP/2
//! connection reuse. The AO HTTP/JSON API (what aoconnect and other AO units speak) stays as a
//! thin facade in each unit for compatibility; the comments in the `.proto` files say which HTTP
//! route and JSON key every RPC and field corresponds to.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

/// Types shared by all services (`ao.common.v1`).
pub mod common {
    /// Version 1 of the shared types.
    #[allow(clippy::all, clippy::unwrap_used, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("ao.common.v1");
    }
}

/// The Scheduler Unit service (`ao.scheduler.v1`).
pub mod scheduler {
    /// Version 1 of the Scheduler service.
    #[allow(clippy::all, clippy::unwrap_used, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("ao.scheduler.v1");
    }
}

/// The Compute Unit service (`ao.compute.v1`).
pub mod compute {
    /// Version 1 of the Compute service.
    #[allow(clippy::all, clippy::unwrap_used, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("ao.compute.v1");
    }
}

/// The Messenger Unit service (`ao.messenger.v1`).
pub mod messenger {
    /// Version 1 of the Messenger service.
    #[allow(clippy::all, clippy::unwrap_used, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("ao.messenger.v1");
    }
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file above (with source comments),
/// for gRPC server reflection (e.g. `tonic-reflection`'s `register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ao_descriptor.bin"));
