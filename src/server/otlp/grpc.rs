//! OTLP/gRPC: the trace, logs and metrics collector services (tonic), on their own listener.
//! Same mapping and queue as OTLP/HTTP; a full queue is `UNAVAILABLE` (which exporters
//! retry), a spent rate `RESOURCE_EXHAUSTED` with when to retry, a message over the limit
//! `RESOURCE_EXHAUSTED` without, undecodable data `INVALID_ARGUMENT`.

use super::{Receiver, Signal};
use crate::error::{ApiError, ErrorCode};
use crate::server::auth::{Access, Auth, Principal};
use crate::server::ingest::ledger;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The three collector services over one [`Receiver`], with the tokens of [`Auth`].
#[derive(Clone)]
pub struct Collector {
    receiver: Arc<Receiver>,
    auth: Arc<Auth>,
}

fn status(e: ApiError) -> Status {
    // A full queue and a spent rate say when to come back (`google.rpc.RetryInfo`): OTLP
    // exporters retry RESOURCE_EXHAUSTED only when told to.
    let retry_later = |code| {
        Status::with_error_details(
            code,
            e.message.clone(),
            ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(1))),
        )
    };
    match e.code {
        ErrorCode::Overloaded => retry_later(Code::Unavailable),
        ErrorCode::TooManyRequests => retry_later(Code::ResourceExhausted),
        ErrorCode::PayloadTooLarge => Status::resource_exhausted(e.message),
        ErrorCode::BadRequest | ErrorCode::UnsupportedMediaType => Status::invalid_argument(e.message),
        ErrorCode::Unauthorized => Status::unauthenticated(e.message),
        ErrorCode::Forbidden => Status::permission_denied(e.message),
        _ => Status::internal(e.message),
    }
}

impl Collector {
    /// The bearer token in the metadata, its role and its ingest rate, as on HTTP; the
    /// token's name goes with the request, to count what it sends.
    fn authorize(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let headers = request.metadata().clone().into_headers();
        match self.auth.authorize(&headers, Access::Ingest) {
            Ok(principal) => {
                if let Some(p) = principal {
                    request.extensions_mut().insert(p);
                }
                Ok(request)
            }
            Err(e) => {
                self.receiver.count_refused(&e);
                Err(status(e))
            }
        }
    }

    /// Every signal's `Export` (authorized by [`Collector::interceptor`] before tonic decoded
    /// it): hold its size in the ingest budget, map, submit, answer with its partial success.
    async fn export<S: Signal>(&self, request: Request<S>) -> Result<Response<S::Response>, Status> {
        let source = request
            .extensions()
            .get::<Principal>()
            .map_or(ledger::ANONYMOUS.to_string(), |p| p.name.clone());
        let request = request.into_inner();
        ledger::as_source(&source, async move {
            let mut lease = self.receiver.budget().lease();
            lease.cover(request.encoded_len()).map_err(|e| {
                self.receiver.count_refused(&e);
                status(e)
            })?;
            let outcome = self.receiver.export(request).await.map_err(status)?;
            Ok(Response::new(S::response(outcome)))
        })
        .await
    }

    /// Checks the token on the request's metadata, before tonic reads and decodes its message.
    fn interceptor(&self) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        let me = self.clone();
        move |request: Request<()>| me.authorize(request)
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

/// tonic refuses a message over `max_decoding_message_size` as OUT_OF_RANGE, which OTLP
/// exporters retry; nothing else here answers OUT_OF_RANGE, so it becomes RESOURCE_EXHAUSTED
/// (without `RetryInfo`, which exporters do not retry), as a body over the limit is 413 on HTTP.
fn over_limit_is_resource_exhausted<B>(mut resp: axum::http::Response<B>) -> axum::http::Response<B> {
    let status = resp.headers_mut().get_mut("grpc-status");
    if let Some(v) = status.filter(|v| v.as_bytes() == b"11") {
        *v = axum::http::HeaderValue::from_static("8");
    }
    resp
}

/// Serves the collector services on `listener` until `shutdown` completes.
pub async fn serve(
    receiver: Arc<Receiver>,
    auth: Arc<Auth>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let limit = receiver.max_body_bytes;
    let collector = Collector { receiver, auth };
    let interceptor = collector.interceptor();
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(over_limit_is_resource_exhausted))
        .add_service(InterceptedService::new(
            TraceServiceServer::new(collector.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
            interceptor.clone(),
        ))
        .add_service(InterceptedService::new(
            LogsServiceServer::new(collector.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
            interceptor.clone(),
        ))
        .add_service(InterceptedService::new(
            MetricsServiceServer::new(collector)
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
            interceptor,
        ))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
        .await
}
