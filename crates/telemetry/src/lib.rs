//! Tracing for every Joule service: structured logs (text or JSON), spans that carry W3C trace
//! context across NATS messages and gRPC calls, and OTLP export when an endpoint is configured.
//!
//! This crate owns the process-wide subscriber and propagator; it knows nothing about NATS or tonic
//! types beyond the `http` header map, so the bus and the gRPC layers stay independent of it.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
    /// Text through the test harness's capture, so passing tests stay quiet.
    TestCapture,
}

/// Keeps the tracer provider alive; flushes spans when dropped.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Flush what is buffered; an exporter that is gone cannot be helped here.
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber and the W3C trace-context propagator.
///
/// Spans always get trace ids (so logs and messages correlate) even when `otlp_endpoint` is `None`;
/// they are exported only when it is set.
pub fn init(
    service_name: &str,
    otlp_endpoint: Option<&str>,
    format: LogFormat,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service_name.to_owned());

    let filter = EnvFilter::try_from_env("JOULE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn,h2=warn,tower=warn"));
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::TestCapture => tracing_subscriber::fmt::layer().with_test_writer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { provider })
}

/// The W3C trace-context headers (`traceparent`, `tracestate`) of the current span.
pub fn current_trace_headers() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MapInjector(&mut headers))
    });
    headers
}

/// Makes `span` a child of the trace described by `headers` (as produced by [`current_trace_headers`]).
pub fn set_parent_from_headers(span: &tracing::Span, headers: &HashMap<String, String>) {
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(headers)));
    // Only fails when the span is disabled; then there is nothing to link.
    let _ = span.set_parent(cx);
}

/// Copies the current trace context into HTTP/gRPC request headers.
pub fn inject_http_headers(headers: &mut http::HeaderMap) {
    for (k, v) in current_trace_headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(k),
            http::HeaderValue::try_from(v),
        ) {
            headers.insert(name, value);
        }
    }
}

/// Parents `span` on the trace context found in HTTP/gRPC request headers.
pub fn set_parent_from_http(span: &tracing::Span, headers: &http::HeaderMap) {
    let map = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), headers.get(k)?.to_str().ok()?.to_owned())))
        .collect();
    set_parent_from_headers(span, &map);
}

/// A span for a gRPC server method, parented on the caller's trace context.
pub fn grpc_server_span<T>(method: &'static str, request: &tonic::Request<T>) -> tracing::Span {
    let span = tracing::info_span!("grpc", rpc.method = method);
    let map = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|k| {
            Some((
                k.to_owned(),
                request.metadata().get(k)?.to_str().ok()?.to_owned(),
            ))
        })
        .collect();
    set_parent_from_headers(&span, &map);
    span
}

/// A tonic client interceptor that sends the caller's trace context with every call.
#[derive(Clone, Copy, Default)]
pub struct TracePropagation;

impl tonic::service::Interceptor for TracePropagation {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (k, v) in current_trace_headers() {
            if let (Ok(key), Ok(value)) = (
                tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                tonic::metadata::MetadataValue::try_from(v.as_str()),
            ) {
                request.metadata_mut().insert(key, value);
            }
        }
        Ok(request)
    }
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a HashMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
