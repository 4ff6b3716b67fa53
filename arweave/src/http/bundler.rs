//! [`HttpBundler`]: the [`Bundler`] trait over a bundler's upload endpoint.

use async_trait::async_trait;
use serde::Deserialize;

use ao_core::DataItem;

use super::ClientConfig;
use super::client::{HttpClient, base_url, join};
use crate::bundler::{Bundler, Receipt};
use crate::error::{Error, Result};

/// A bundling service (Irys/Turbo-style node, or the local gateway over HTTP) that takes signed
/// data items at `POST {url}/tx/arweave` as `application/octet-stream`, as AO's SU and CU upload.
/// Uploads are retried like every other call: the item's id is its signature's hash, so a second
/// copy is the same item and bundlers answer it as the first.
#[derive(Debug, Clone)]
pub struct HttpBundler {
    client: HttpClient,
    url: String,
}

impl HttpBundler {
    /// A bundler at `url` (e.g. `https://up.arweave.net`) with its own [`HttpClient`].
    pub fn new(url: &str, config: &ClientConfig) -> Result<Self> {
        Self::with_client(HttpClient::new(config)?, url)
    }

    /// A bundler sending through `client`, sharing its pool and bound on requests in flight (an
    /// SU uploading many items should not starve its own gateway reads, or vice versa, unless it
    /// wants one bound for both).
    pub fn with_client(client: HttpClient, url: &str) -> Result<Self> {
        Ok(HttpBundler {
            client,
            url: base_url(url)?,
        })
    }

    /// The bundler's URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The acknowledgement: `id` always; `timestamp` (ms) from Irys and Turbo, as a number or a string.
#[derive(Deserialize)]
struct ReceiptJson {
    id: String,
    timestamp: Option<TimestampJson>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TimestampJson {
    Int(u64),
    Text(String),
}

#[async_trait]
impl Bundler for HttpBundler {
    async fn upload(&self, item: &DataItem) -> Result<Receipt> {
        let url = join(&self.url, "tx/arweave")?;
        let reply = self
            .client
            .post(url, "application/octet-stream", item.as_bytes().clone())
            .await?
            .success()?;
        let ack: ReceiptJson = reply.json()?;
        let ours = item.id();
        if ack.id != ours {
            // A bundler that computed another id did not store our item (or is not a bundler).
            let theirs: String = ack.id.chars().take(64).collect();
            return Err(Error::Invalid {
                url: reply.url.to_string(),
                reason: format!("bundler acknowledged id {theirs:?}, the item's id is {ours}"),
            });
        }
        let timestamp = match ack.timestamp {
            Some(TimestampJson::Int(t)) => Some(t),
            Some(TimestampJson::Text(t)) => t.trim().parse().ok(),
            None => None,
        };
        Ok(Receipt {
            id: ack.id,
            timestamp,
        })
    }
}
