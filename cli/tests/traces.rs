//! Traces across the units: `ao devnet --separate` (each unit its own binary, as its own
//! OpenTelemetry service) exports to a real OTLP receiver in this test process (the OTLP trace
//! service on tonic for gRPC, or `POST /v1/traces` decoded with the OTLP protobufs), and one token Transfer must give ONE trace
//! holding the MU's ingress, the SU's scheduling, the CU's evaluation with the loader call inside
//! it, the gateway's upload of the Debit-Notice, and the pushed Credit-Notice's scheduling and
//! evaluation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::Value;

mod common;

use common::{Ao, Devnet};

/// Longest wait for the whole crank's spans to reach the receiver.
const TRACE_TIMEOUT: Duration = Duration::from_secs(120);

/// One span as received.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

/// The OTLP trace service: keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Got>>>);

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

impl Receiver {
    /// Keep the spans of one export request.
    fn take(&self, req: ExportTraceServiceRequest) {
        let mut got = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(&kv.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(Got {
                        service: service.clone(),
                        name: s.name,
                        trace_id: hex::encode(&s.trace_id),
                        span_id: hex::encode(&s.span_id),
                        parent: hex::encode(&s.parent_span_id),
                        attrs: s
                            .attributes
                            .iter()
                            .map(|kv| (kv.key.clone(), text(&kv.value)))
                            .collect(),
                    });
                }
            }
        }
    }

    /// Serve the OTLP trace service over `protocol` (`grpc` or `http/protobuf`) on a free
    /// loopback port; its address.
    async fn serve(&self, protocol: &str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        if protocol == "grpc" {
            let server = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .serve_with_incoming(ao_runtime::grpc_incoming(listener));
            tokio::spawn(server);
        } else {
            let me = self.clone();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let me = me.clone();
                    async move {
                        use prost::Message;
                        match ExportTraceServiceRequest::decode(body) {
                            Ok(req) => {
                                me.take(req);
                                let ok = ExportTraceServiceResponse {
                                    partial_success: None,
                                };
                                (axum::http::StatusCode::OK, ok.encode_to_vec())
                            }
                            Err(e) => (
                                axum::http::StatusCode::BAD_REQUEST,
                                e.to_string().into_bytes(),
                            ),
                        }
                    }
                }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        addr
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.take(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Start `ao devnet --separate` on `dir` exporting traces to `receiver`; the child and its
/// JSON line.
fn devnet(dir: &std::path::Path, receiver: SocketAddr, protocol: &str) -> (Devnet, Value) {
    let endpoint = format!("http://{receiver}");
    common::start_devnet(
        dir,
        true,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            // A service name set by hand is replaced by each unit's own.
            ("OTEL_SERVICE_NAME", "not-a-unit"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
            // Batches every 100 ms instead of 5 s, so the test waits less.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        &[],
    )
}

/// The spans of the trace that holds `root`, once `complete` says it has all it needs.
fn find_trace(
    receiver: &Receiver,
    root: impl Fn(&Got) -> bool,
    complete: impl Fn(&[Got]) -> bool,
) -> Vec<Got> {
    let deadline = Instant::now() + TRACE_TIMEOUT;
    loop {
        let spans = receiver.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let trace: Vec<Got> = match spans.iter().find(|s| root(s)) {
            Some(r) => spans
                .iter()
                .filter(|s| s.trace_id == r.trace_id)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        if !trace.is_empty() && complete(&trace) {
            return trace;
        }
        if Instant::now() > deadline {
            let summary: Vec<String> = trace
                .iter()
                .map(|s| format!("{} {} {:?}", s.service, s.name, s.attrs.get("ao.action")))
                .collect();
            panic!(
                "no complete trace within {TRACE_TIMEOUT:?}; {} spans received; the Transfer's \
                 trace has {summary:#?}",
                spans.len()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The spans of `trace` whose parent is not in it.
fn roots(trace: &[Got]) -> Vec<&Got> {
    let ids: std::collections::HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    trace
        .iter()
        .filter(|s| !ids.contains(s.parent.as_str()))
        .collect()
}

fn has(trace: &[Got], service: &str, name: &str, action: &str) -> bool {
    trace.iter().any(|s| {
        s.service == service
            && s.name == name
            && s.attrs.get("ao.action").map(String::as_str) == Some(action)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transfer_is_one_trace_across_the_units_over_grpc() {
    one_transfer_is_one_trace("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transfer_is_one_trace_across_the_units_over_http_protobuf() {
    one_transfer_is_one_trace("http/protobuf").await;
}

async fn one_transfer_is_one_trace(protocol: &str) {
    let receiver = Receiver::default();
    let addr = receiver.serve(protocol).await;

    let dir = tempfile::tempdir().expect("tmp");
    let (devnet, v) = devnet(&dir.path().join("net"), addr, protocol);
    let ao = Ao::new(&v, dir.path());
    let ao = move |args: &[&str]| ao.run(args);
    let (token, bob) = tokio::task::spawn_blocking(move || {
        let token = ao(&["spawn", "--name", "coin"]);
        let bob = ao(&["spawn", "--name", "bob"]);
        let out = ao(&[
            "send",
            &token,
            "--action",
            "Eval",
            "--data",
            "Blueprint('token'); Balances[Owner] = '1000'; return Balances[Owner]",
            "--wait",
        ]);
        assert!(out.contains("1000"), "{out}");
        let out = ao(&[
            "send",
            &token,
            "--action",
            "Transfer",
            "--tag",
            &format!("Recipient={bob}"),
            "--tag",
            "Quantity=250",
            "--wait",
        ]);
        assert!(out.contains("Credit-Notice"), "{out}");
        (token, bob)
    })
    .await
    .expect("ao");

    let receiver2 = receiver.clone();
    let token2 = token.clone();
    let trace = tokio::task::spawn_blocking(move || {
        find_trace(
            &receiver2,
            |s| {
                s.name == "mu.ingress"
                    && s.attrs.get("ao.action").map(String::as_str) == Some("Transfer")
                    && s.attrs.get("ao.process.id") == Some(&token2)
            },
            |t| {
                has(t, "ao-cu", "cu.evaluate", "Credit-Notice")
                    && has(t, "ao-cu", "cu.evaluate", "Transfer")
                    && t.iter().any(|s| s.service == "ao-gateway")
                    && roots(t).len() == 1
            },
        )
    })
    .await
    .expect("find");

    for s in &trace {
        eprintln!(
            "{} {} {} <- {} {:?}",
            s.service,
            s.name,
            s.span_id,
            s.parent,
            s.attrs.get("ao.action")
        );
    }
    // MU ingress, SU scheduling, CU evaluation of the Transfer, on the token process.
    assert!(has(&trace, "ao-mu", "mu.ingress", "Transfer"));
    assert!(has(&trace, "ao-su", "su.schedule", "Transfer"));
    let eval = trace
        .iter()
        .find(|s| s.name == "cu.evaluate" && s.attrs["ao.action"] == "Transfer")
        .expect("evaluation");
    assert_eq!(eval.attrs["ao.process.id"], token);
    assert!(eval.attrs.contains_key("ao.nonce"), "{eval:?}");
    assert!(eval.attrs.contains_key("ao.gas_used"), "{eval:?}");
    // The loader call inside the evaluation.
    let loader = trace
        .iter()
        .find(|s| s.name == "cu.loader" && s.parent == eval.span_id)
        .unwrap_or_else(|| panic!("no loader span under {eval:?}"));
    assert_eq!(
        loader.attrs["ao.module.format"],
        "wasm32-unknown-emscripten2"
    );
    // The pushed Credit-Notice: the MU's push, its scheduling and evaluation on bob.
    assert!(has(&trace, "ao-mu", "mu.push", "Credit-Notice"));
    assert!(has(&trace, "ao-su", "su.schedule", "Credit-Notice"));
    let credit = trace
        .iter()
        .find(|s| s.name == "cu.evaluate" && s.attrs["ao.action"] == "Credit-Notice")
        .expect("credit evaluation");
    assert_eq!(credit.attrs["ao.process.id"], bob);
    // The gRPC hops as RPC server spans, the HTTP ones as HTTP server spans.
    assert!(trace.iter().any(|s| s.service == "ao-su"
        && s.attrs.get("rpc.system").map(String::as_str) == Some("grpc")
        && s.name == "ao.scheduler.v1.Scheduler/Schedule"));
    assert!(
        trace
            .iter()
            .any(|s| s.service == "ao-mu" && s.attrs.contains_key("http.request.method"))
    );
    // Every span of the four services is in this one trace; each has a parent in it but the
    // root (the MU's HTTP request).
    let roots = roots(&trace);
    assert_eq!(roots.len(), 1, "{roots:#?}");
    assert_eq!(roots[0].service, "ao-mu");
    for service in ["ao-mu", "ao-su", "ao-cu", "ao-gateway"] {
        assert!(
            trace.iter().any(|s| s.service == service),
            "no {service} span"
        );
    }
    drop(devnet);
}
