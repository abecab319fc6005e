//! Small cross-cutting middleware.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;

/// Echoes the request id that `TracingLogger` put on the request span as `x-request-id`, so a
/// user can quote it and an operator find the matching log lines.
pub async fn add_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = id {
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
    }
    Ok(res)
}

/// While the process drains before stopping, every answer closes its connection: a load
/// balancer's kept-alive connections to this replica are retired before the listener
/// closes, so no request races a closing connection.
pub async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<actix_web::web::Data<crate::state::Observability>>()
        .is_some_and(|o| o.draining.load(std::sync::atomic::Ordering::Acquire));
    let mut res = next.call(req).await?;
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(res)
}

/// The dashboard's Content-Security-Policy: its own scripts, workers and API only; map tiles
/// from any HTTPS server (the tile URL is a user setting); inline styles, which Leaflet and
/// uPlot set on their elements.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; \
style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; connect-src 'self'; \
font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Swagger UI at `/docs/`: its bundled files and the OpenAPI document.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
/// API answers are data, never documents to render.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Security headers on every answer: no MIME sniffing, no referrer, no framing, a
/// Content-Security-Policy fitting what the path serves, and HSTS when the service is
/// reached over TLS (`server.behind_tls`).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let csp = match req.path() {
        p if p.starts_with("/api/") || p.starts_with("/health") || p == "/metrics" => API_CSP,
        p if p.starts_with("/docs") || p.starts_with("/api-docs") => DOCS_CSP,
        _ => DASHBOARD_CSP,
    };
    let tls = req
        .app_data::<actix_web::web::Data<crate::state::Limits>>()
        .is_some_and(|l| l.behind_tls);
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let set = |headers: &mut actix_web::http::header::HeaderMap,
               name: &'static str,
               value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "content-security-policy", csp);
    if tls {
        set(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    Ok(res)
}

/// The header that carries a read-after token: answered on a successful write when the
/// installation has read replicas, sent back by the client on later requests.
pub const READ_AFTER: &str = "nimbus-read-after";

/// Read-your-writes over read replicas (see `infra::consistency`): each request runs in a
/// consistency scope — `GET` and `HEAD` may read replicas, anything else reads and writes
/// primaries — and a successful write is answered with a token naming the WAL positions it
/// wrote, which makes later reads of the same caller wait for a replica to reach them (or
/// read the primary). Streamed bodies are read inside the same scope. Without replicas this
/// passes requests through.
pub async fn read_your_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let key = req
        .app_data::<actix_web::web::Data<crate::state::Auth>>()
        .and_then(|auth| auth.read_after.clone());
    let Some(key) = key else {
        let res = next.call(req).await?;
        return Ok(res.map_body(|_, inner| Scoped { scope: None, inner }));
    };
    let read = matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    let presented = req
        .headers()
        .get(READ_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let scope = infra::consistency::Scope::new(read, key, presented);
    let mut res = scope.run(next.call(req)).await?;
    if !read && res.status().is_success() {
        if let Some(token) = scope.token().await {
            if let Ok(value) = HeaderValue::from_str(&token) {
                res.headers_mut()
                    .insert(HeaderName::from_static(READ_AFTER), value);
            }
        }
    }
    Ok(res.map_body(|_, inner| Scoped {
        scope: Some(scope),
        inner,
    }))
}

pin_project_lite::pin_project! {
    /// A response body polled inside its request's consistency scope, so that the reads of
    /// a streamed answer (exports, replays) follow the same rules as the handler's.
    pub struct Scoped<B> {
        scope: Option<std::sync::Arc<infra::consistency::Scope>>,
        #[pin]
        inner: B,
    }
}

impl<B: MessageBody> MessageBody for Scoped<B> {
    type Error = B::Error;

    fn size(&self) -> actix_web::body::BodySize {
        self.inner.size()
    }

    // Answers held in memory stay on actix-web's fast path for complete bodies.
    fn try_into_bytes(self) -> Result<actix_web::web::Bytes, Self> {
        let Scoped { scope, inner } = self;
        inner
            .try_into_bytes()
            .map_err(|inner| Scoped { scope, inner })
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        let this = self.project();
        match this.scope {
            Some(scope) => scope.run_sync(|| this.inner.poll_next(cx)),
            None => this.inner.poll_next(cx),
        }
    }
}
