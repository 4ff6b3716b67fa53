//! What can go wrong loading or running a module: typed, so the CU can answer 422 for a module
//! it cannot run and record an evaluation `Error` for a message that failed.

/// A module could not be loaded or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// `Module-Format` is not one AO defines.
    #[error("unknown Module-Format {0:?}")]
    UnknownFormat(String),
    /// `Input-Encoding` / `Output-Encoding` other than `JSON-1`.
    #[error("{tag} {value:?} is not supported (only JSON-1 is)")]
    UnknownEncoding {
        /// Which tag.
        tag: String,
        /// Its value.
        value: String,
    },
    /// The bytes are not a wasm module Wasmer accepts (truncated, invalid, memory64).
    #[error("the module does not compile: {0}")]
    Compile(String),
    /// The module imports something the format's host does not provide.
    #[error(
        "the module imports {module}.{name} {signature}, which the {format} host does not provide"
    )]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// Its wasm signature.
        signature: String,
        /// The format.
        format: String,
    },
    /// The module lacks an export the format's ABI calls.
    #[error("the module does not export {0}, which the {1} ABI needs")]
    MissingExport(String, String),
    /// Instantiation or start-up (constructors, `main`) failed.
    #[error("the module failed to start: {0}")]
    Start(String),
    /// A snapshot larger than the memory can grow to.
    #[error("the memory snapshot is {size} bytes; this process may grow to {max} bytes")]
    SnapshotTooLarge {
        /// Snapshot size.
        size: usize,
        /// Largest memory allowed.
        max: u64,
    },
    /// The module's reply is not the `{"ok": ..., "response": ...}` JSON the ABI defines.
    #[error("the module returned invalid JSON: {0}")]
    BadReply(String),
    /// The message or environment is not JSON.
    #[error("the message or environment is not JSON: {0}")]
    BadInput(String),
}
