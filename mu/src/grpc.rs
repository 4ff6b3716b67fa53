//! The `ao.messenger.v1.Messenger` gRPC service: the same operations as the HTTP API, for our
//! tools and units.

use std::sync::Arc;

use ao_proto::common::v1::{UnitInfo, UnitKind};
use ao_proto::messenger::v1::messenger_server::{Messenger, MessengerServer};
use ao_proto::messenger::v1::{
    AssignRequest, InfoRequest, MonitorRequest, MonitorResponse, SendRequest, SendResponse,
    TraceRequest, TraceResponse,
};
use tonic::{Request, Response, Status};

use crate::crank::AssignOrder;
use crate::http::Api;
use crate::ingress::{self, MuError};
use crate::{monitor, trace};

/// The service over the shared [`Api`].
pub struct Service {
    api: Arc<Api>,
}

/// Room for the protobuf framing around an item (field tags, lengths, the client address) in
/// a request's decode limit.
pub const REQUEST_OVERHEAD: usize = 4096;

/// The MU's gRPC service name, as `grpc.health.v1` reports it.
pub const SERVICE_NAME: &str = <MessengerServer<Service> as tonic::server::NamedService>::NAME;

/// The tonic server for `api`: no request larger than the largest item and its framing is
/// decoded, the same limit as the HTTP API's body.
pub fn service(api: Arc<Api>) -> MessengerServer<Service> {
    let max = api.max_item_size.saturating_add(REQUEST_OVERHEAD);
    MessengerServer::new(Service { api }).max_decoding_message_size(max)
}

impl Service {
    /// Refuse an item over the largest size, as the HTTP API answers 413.
    fn check_size(&self, item: &[u8]) -> Result<(), Status> {
        if item.len() > self.api.max_item_size {
            return Err(Status::out_of_range(format!(
                "the item is {} bytes; the largest accepted is {}",
                item.len(),
                self.api.max_item_size
            )));
        }
        Ok(())
    }

    /// Count a request against its client's per-IP limit, as the HTTP API does: the peer, or
    /// the `client_ip` a trusted proxy (`--trusted-proxy`) reports; a `client_ip` from anyone
    /// else is ignored (it would let a client pick its own bucket).
    fn check_client<T>(&self, req: &Request<T>, reported: Option<&str>) -> Result<(), Status> {
        let peer = req.remote_addr().map(|a| a.ip());
        let reported = reported.and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok());
        let client = match (peer, reported) {
            (Some(p), Some(r))
                if ao_runtime::client_ip::is_trusted(p, &self.api.trusted_proxies) =>
            {
                Some(r)
            }
            (Some(p), _) => Some(p),
            (None, _) => None,
        };
        match client {
            Some(ip) => self.api.per_ip.check(&ip.to_string()).map_err(|e| e.grpc()),
            None => Ok(()),
        }
    }
}

fn target(item: bytes::Bytes) -> Result<String, Status> {
    let item = ao_core::DataItem::parse(item)
        .map_err(|e| Status::invalid_argument(format!("not a data item: {e}")))?;
    item.target_id()
        .ok_or_else(|| Status::invalid_argument("the item has no target process"))
}

#[tonic::async_trait]
impl Messenger for Service {
    async fn send(&self, req: Request<SendRequest>) -> Result<Response<SendResponse>, Status> {
        self.check_client(&req, req.get_ref().client_ip.as_deref())?;
        let r = req.into_inner();
        self.check_size(&r.item)?;
        let t = ingress::accept(&self.api.mu, &self.api.wallets, r.item.into())
            .await
            .map_err(|e| e.grpc())?;
        Ok(Response::new(SendResponse {
            id: t.id,
            message: "Processing DataItem".into(),
            process_id: None,
        }))
    }

    async fn assign(&self, req: Request<AssignRequest>) -> Result<Response<SendResponse>, Status> {
        self.check_client(&req, req.get_ref().client_ip.as_deref())?;
        let r = req.into_inner();
        let order = AssignOrder {
            process: r.process_id,
            message: r.message_id,
            base_layer: r.base_layer,
            exclude: r.exclude,
        };
        let t = ingress::assign(&self.api.mu, order)
            .await
            .map_err(|e| e.grpc())?;
        Ok(Response::new(SendResponse {
            id: t.item_id.unwrap_or_default(),
            message: "Processing Assignment".into(),
            process_id: None,
        }))
    }

    async fn monitor(
        &self,
        req: Request<MonitorRequest>,
    ) -> Result<Response<MonitorResponse>, Status> {
        self.check_client(&req, None)?;
        let item = req.into_inner().item;
        self.check_size(&item)?;
        let pid = target(item.into())?;
        monitor::start(&self.api.mu, &pid)
            .await
            .map_err(|e| e.grpc())?;
        Ok(Response::new(MonitorResponse {
            process_id: pid,
            message: "Monitoring process".into(),
        }))
    }

    async fn unmonitor(
        &self,
        req: Request<MonitorRequest>,
    ) -> Result<Response<MonitorResponse>, Status> {
        self.check_client(&req, None)?;
        let item = req.into_inner().item;
        self.check_size(&item)?;
        let pid = target(item.into())?;
        monitor::stop(&self.api.mu, &pid)
            .await
            .map_err(|e| e.grpc())?;
        Ok(Response::new(MonitorResponse {
            process_id: pid,
            message: "Process deleted".into(),
        }))
    }

    async fn trace(&self, req: Request<TraceRequest>) -> Result<Response<TraceResponse>, Status> {
        let id = req.into_inner().message_id;
        match trace::tree(&self.api.mu.store, &id) {
            Ok(Some(root)) => Ok(Response::new(TraceResponse { root: Some(root) })),
            Ok(None) => Err(MuError::NotFound(format!("no work traced for {id}")).grpc()),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<UnitInfo>, Status> {
        Ok(Response::new(UnitInfo {
            address: self.api.mu.address.clone(),
            timestamp_ms: crate::queue::now_ms() as i64,
            kind: UnitKind::Messenger as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}
