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
