//! The `Bundler` seam: how a unit puts signed data items on Arweave.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use ao_core::DataItem;

use crate::error::Result;

/// A bundler's acknowledgement of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The item's id, as the bundler computed it (must equal ours).
    pub id: String,
    /// When the bundler accepted it, ms since the epoch, if it says.
    pub timestamp: Option<u64>,
}

/// Uploads signed data items (`POST {url}/tx/arweave`, octet-stream). Uploading the same item twice
/// is harmless: bundlers and the local gateway answer the second time as the first.
#[async_trait]
pub trait Bundler: Send + Sync {
    /// Upload one signed item.
    async fn upload(&self, item: &DataItem) -> Result<Receipt>;
}
