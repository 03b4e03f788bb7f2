//! OTLP/gRPC: the trace, logs and metrics collector services (tonic), on their own listener.
//! Same mapping and queue as OTLP/HTTP; a full queue is `UNAVAILABLE` (which exporters
//! retry), a message over the limit `RESOURCE_EXHAUSTED`, undecodable data `INVALID_ARGUMENT`.

use crate::error::{ApiError, ErrorCode};
use crate::server::auth::Access;
use crate::server::ingest::Rejection;
use crate::server::AppState;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// The three collector services over one [`AppState`].
#[derive(Clone)]
pub struct Collector {
    state: AppState,
}

fn status(e: ApiError) -> Status {
    match e.code {
        ErrorCode::Overloaded => Status::unavailable(e.message),
        ErrorCode::PayloadTooLarge | ErrorCode::TooManyRequests => Status::resource_exhausted(e.message),
        ErrorCode::BadRequest | ErrorCode::UnsupportedMediaType => Status::invalid_argument(e.message),
        ErrorCode::Unauthorized => Status::unauthenticated(e.message),
        ErrorCode::Forbidden => Status::permission_denied(e.message),
        _ => Status::internal(e.message),
    }
}

impl Collector {
    /// The bearer token in the metadata, its role and its ingest rate, as on HTTP.
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let headers = request.metadata().clone().into_headers();
        self.state
            .auth
            .authorize(&headers, Access::Ingest)
            .map(drop)
            .map_err(|e| {
                self.state.ingest.count_rejected(Rejection::of(&e), 1);
                status(e)
            })
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.authorize(&request)?;
        let o = super::export_traces(&self.state, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (o.rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: o.rejected,
                error_message: o.message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.authorize(&request)?;
        let o = super::export_logs(&self.state, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (o.rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: o.rejected,
                error_message: o.message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.authorize(&request)?;
        let o = super::export_metrics(&self.state, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (o.rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: o.rejected,
                error_message: o.message,
            }),
        }))
    }
}

/// Serves the collector services on `listener` until `shutdown` completes.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let limit = state.config.max_otlp_body_bytes;
    let collector = Collector { state };
    tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(collector.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            LogsServiceServer::new(collector.clone())
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            MetricsServiceServer::new(collector)
                .max_decoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
        .await
}
