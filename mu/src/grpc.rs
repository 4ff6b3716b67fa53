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

/// The tonic server for `api`.
pub fn service(api: Arc<Api>) -> MessengerServer<Service> {
    MessengerServer::new(Service { api }).max_decoding_message_size(16 << 20)
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
        let r = req.into_inner();
        if let Some(ip) = &r.client_ip {
            self.api.wallets.check(ip).map_err(|e| e.grpc())?;
        }
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
        let pid = target(req.into_inner().item.into())?;
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
        let pid = target(req.into_inner().item.into())?;
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
