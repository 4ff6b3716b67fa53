//! AO's typed views over data items, and the builders that make them.
//!
//! An ANS-104 item means nothing to AO until its tags say what it is. Each view below takes a parsed
//! [`DataItem`](crate::DataItem), checks the tags AO's units require of that kind of item, and
//! answers questions about it in AO's own words; each builder writes those tags in the order the
//! reference tools write them and signs. Views never check signatures: call
//! [`DataItem::verify`](crate::DataItem::verify) for that, before or after.
//!
//! Module map:
//! - [`process`]: [`Process`] (`Type: Process`, what `spawn` sends) and [`ProcessBuilder`].
//! - [`message`]: [`Message`] (`Type: Message`, target = process) and [`MessageBuilder`].
//! - [`module`]: [`Module`] (`Type: Module`, the wasm binary and how to run it) and [`ModuleBuilder`].
//! - [`assignment`]: [`Assignment`] (the SU's signed slot for an item) and [`AssignmentBuilder`].
//! - [`scheduler_location`]: [`SchedulerLocation`] (where an SU wallet can be reached) and its builder.
//! - [`checkpoint`]: [`Checkpoint`] (a CU's memory snapshot) and [`CheckpointBuilder`].
//! - [`attestation`]: [`Attestation`] (a CU's signed statement of one message's result and
//!   memory) and [`AttestationBuilder`]; `Result-SHA-256` over [`canonical_result`].
//! - [`registry`]: the unit-registry process's `Units` answer, read as stakes.
//! - [`receipt`]: [`Receipt`] (an MU's signed statement of an item it received or forwarded).
//! - [`hashchain`]: the SU's per-process hash chain and its verification.
//! - [`cron`]: `Cron-Interval` / `Cron-Tag-*` process tags.
//! - [`limits`]: `Memory-Limit` / `Compute-Limit` values.
//!
//! Reading rules shared by every view (see `read.rs`):
//! - Tag names are matched exactly, as the units do, with one exception kept from the reference SU
//!   (spec 7.8): `Data-Protocol` and `Type` are also found under their all-lowercase names `data-protocol`
//!   and `type` when the exact name is absent. Builders always write the exact names.
//!   [`SchedulerLocation`] is read case-insensitively throughout, like scheduler-utils.
//! - `Data-Protocol` is satisfied when any of the item's `Data-Protocol` tags is `ao` (several
//!   protocols may share one item; aoconnect checks "equals or includes").
//! - A repeated tag means its first value, except where AO defines a list (`Authority`, `Exclude`,
//!   `Extension`, `Cron-*`).
//! - Errors are [`Error::MissingTag`](crate::Error::MissingTag) or
//!   [`Error::BadTag`](crate::Error::BadTag), naming the kind of item and the tag.

pub mod assignment;
pub mod attestation;
pub mod checkpoint;
pub mod cron;
pub mod hashchain;
pub mod limits;
pub mod message;
pub mod module;
pub mod process;
mod read;
pub mod receipt;
pub mod registry;
pub mod scheduler_location;

pub use assignment::{Assignment, AssignmentBuilder};
pub use attestation::{Attestation, AttestationBuilder, canonical_result, result_sha256};
pub use checkpoint::{Checkpoint, CheckpointBuilder};
pub use cron::{Cron, Interval, parse_crons};
pub use hashchain::{BrokenLink, HashChain, Mismatch, next_hash_chain, verify_chain};
pub use limits::{Limits, parse_compute_limit, parse_memory_limit};
pub use message::{Message, MessageBuilder};
pub use module::{MODULE_FORMATS, Module, ModuleBuilder};
pub use process::{OnBoot, Process, ProcessBuilder};
pub use read::type_of;
pub use receipt::{Receipt, ReceiptBuilder, ReceiptKind};
pub use scheduler_location::{SchedulerLocation, SchedulerLocationBuilder};

/// Tag names, spelled exactly as AO's units match them (case-sensitive), so that no unit of ours
/// carries its own copy of a string whose misspelling would silently make an item invisible.
pub mod tag {
    /// Marks an item as belonging to a protocol; AO items carry `ao`.
    pub const DATA_PROTOCOL: &str = "Data-Protocol";
    /// What kind of AO item this is (`Process`, `Message`, ...).
    pub const TYPE: &str = "Type";
    /// The network generation: `ao.TN.1` (legacynet) or `ao.N.1` (HyperBEAM mainnet).
    pub const VARIANT: &str = "Variant";
    /// On a process: the module it runs. On a checkpoint: the module of the process.
    pub const MODULE: &str = "Module";
    /// On a process: the wallet address of its SU.
    pub const SCHEDULER: &str = "Scheduler";
    /// On a process: an address aos trusts as a sender of pushed messages (0..n).
    pub const AUTHORITY: &str = "Authority";
    /// Memory limit of a process or module, e.g. `1-gb`.
    pub const MEMORY_LIMIT: &str = "Memory-Limit";
    /// Compute limit of a process or module, an integer.
    pub const COMPUTE_LIMIT: &str = "Compute-Limit";
    /// A cron schedule on a process, `N-unit`; on a checkpoint, the cron id evaluated last.
    pub const CRON_INTERVAL: &str = "Cron-Interval";
    /// Prefix of the tags a cron message carries: `Cron-Tag-<Name>`.
    pub const CRON_TAG_PREFIX: &str = "Cron-Tag-";
    /// What aos evaluates at boot: `Data` or a transaction id.
    pub const ON_BOOT: &str = "On-Boot";
    /// Confirmations needed before the SU assigns a base-layer transaction to this process.
    pub const SETTLEMENT_DEPTH: &str = "Settlement-Depth";
    /// Copied into module options by the CU; otherwise unused.
    pub const AVAILABILITY_TYPE: &str = "Availability-Type";
    /// Set by the MU on items it pushes for a process: the sending process.
    pub const FROM_PROCESS: &str = "From-Process";
    /// Set by the MU on pushed items: the module of the sending process.
    pub const FROM_MODULE: &str = "From-Module";
    /// Set by the MU on pushed items: the user message that started the chain.
    pub const PUSHED_FOR: &str = "Pushed-For";
    /// aos's per-process message counter.
    pub const REFERENCE: &str = "Reference";
    /// aos outbox: processes to assign the message to; the MU strips it.
    pub const ASSIGNMENTS: &str = "Assignments";
    /// On an assignment or checkpoint: the process id.
    pub const PROCESS: &str = "Process";
    /// On an assignment: the id of the assigned item.
    pub const MESSAGE: &str = "Message";
    /// On an assignment or checkpoint: the SU epoch (always 0 in practice).
    pub const EPOCH: &str = "Epoch";
    /// On an assignment or checkpoint: the slot of the item in the process's log.
    pub const NONCE: &str = "Nonce";
    /// On an assignment or checkpoint: the SU hash chain value.
    pub const HASH_CHAIN: &str = "Hash-Chain";
    /// Arweave block height (the SU pads it to 12 digits).
    pub const BLOCK_HEIGHT: &str = "Block-Height";
    /// Unix milliseconds.
    pub const TIMESTAMP: &str = "Timestamp";
    /// On an assignment: a field of the assigned transaction the CU must not load (0..n).
    pub const EXCLUDE: &str = "Exclude";
    /// On a module: the wasm flavour, one of [`MODULE_FORMATS`](super::MODULE_FORMATS).
    pub const MODULE_FORMAT: &str = "Module-Format";
    /// On a module: how messages are handed to it.
    pub const INPUT_ENCODING: &str = "Input-Encoding";
    /// On a module: how results come back.
    pub const OUTPUT_ENCODING: &str = "Output-Encoding";
    /// On a module: an extension it needs, e.g. `WeaveDrive` (0..n).
    pub const EXTENSION: &str = "Extension";
    /// On a scheduler location: the SU's base URL.
    pub const URL: &str = "Url";
    /// On a scheduler location: how long the record may be cached, in milliseconds.
    pub const TIME_TO_LIVE: &str = "Time-To-Live";
    /// MIME type of the data.
    pub const CONTENT_TYPE: &str = "Content-Type";
    /// Encoding of the data; checkpoints are `gzip`.
    pub const CONTENT_ENCODING: &str = "Content-Encoding";
    /// On a checkpoint: hex SHA-256 of the uncompressed memory.
    pub const SHA_256: &str = "SHA-256";
    /// On a checkpoint: the id of the CU boot that made it.
    pub const UNIT_IDENTIFIER: &str = "Unit-Identifier";
    /// On a checkpoint: the nonce of the last scheduled message before the snapshot.
    pub const ORDINATE: &str = "Ordinate";
    /// On a checkpoint: the id of the last assignment evaluated.
    pub const ASSIGNMENT: &str = "Assignment";
    /// On an attestation: hex SHA-256 of the canonical result.
    pub const RESULT_SHA_256: &str = "Result-SHA-256";
    /// On an attestation: hex SHA-256 of the memory after the message.
    pub const MEMORY_SHA_256: &str = "Memory-SHA-256";
    /// On a receipt: `Received` or `Forwarded`.
    pub const RECEIPT: &str = "Receipt";
    /// On a receipt: hex SHA-256 of the item received or forwarded.
    pub const ITEM_SHA_256: &str = "Item-SHA-256";
    /// On a `Forwarded` receipt: hex SHA-256 of the outbox entry (RFC 8785).
    pub const OUTBOX_SHA_256: &str = "Outbox-SHA-256";
}

/// Tag values AO gives fixed meanings to.
pub mod value {
    /// `Data-Protocol` of every AO item.
    pub const AO: &str = "ao";
    /// `Variant` of legacynet items, which every builder here writes.
    pub const VARIANT_LEGACYNET: &str = "ao.TN.1";
    /// `Variant` of HyperBEAM (mainnet) processes; the MU routes those differently.
    pub const VARIANT_MAINNET: &str = "ao.N.1";
    /// `Type` of a process.
    pub const TYPE_PROCESS: &str = "Process";
    /// `Type` of a message.
    pub const TYPE_MESSAGE: &str = "Message";
    /// `Type` of a module.
    pub const TYPE_MODULE: &str = "Module";
    /// `Type` of an assignment.
    pub const TYPE_ASSIGNMENT: &str = "Assignment";
    /// `Type` of a scheduler location record.
    pub const TYPE_SCHEDULER_LOCATION: &str = "Scheduler-Location";
    /// `Type` of a CU checkpoint.
    pub const TYPE_CHECKPOINT: &str = "Checkpoint";
    /// `Type` of a CU attestation.
    pub const TYPE_ATTESTATION: &str = "Attestation";
    /// `Type` of an MU receipt.
    pub const TYPE_RECEIPT: &str = "Receipt";
    /// `On-Boot` value telling aos to evaluate the process's own data.
    pub const ON_BOOT_DATA: &str = "Data";
    /// `Content-Encoding` of checkpoint data.
    pub const GZIP: &str = "gzip";
    /// `Content-Type` of checkpoint data.
    pub const OCTET_STREAM: &str = "application/octet-stream";
    /// `Content-Type` aoconnect adds when it supplies the data itself (a single space).
    pub const TEXT_PLAIN: &str = "text/plain";
}
