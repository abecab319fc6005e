use actix_web::{http::header, web, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::openapi::ApiDoc;

/// `/api-docs/openapi.json` and the Swagger UI at `/docs/` (served from files built into the
/// binary, so it works without internet).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/docs", web::get().to(|| async { redirect("/docs/") }))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", ApiDoc::openapi()));
}

fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to))
        .finish()
}
