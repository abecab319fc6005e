//! The reference the read-path benchmark compares with: a bare actix-web server (no
//! middleware, no state) answering `GET /api/v1/drones/{id}` with a fixed 400-byte JSON
//! body, on as many workers as the machine has cores, as `nimbusfleet serve` does. What it
//! serves per second is what the framework can do on this machine; `bench/drone-get.sh`
//! reports NimbusFleet's figures as a ratio of it, measured in the same run.
//!
//!   reference --bind 127.0.0.1:18180

use actix_web::{get, web, App, HttpResponse, HttpServer};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18180")]
    bind: String,
}

/// A drone as the API answers it, padded to 400 bytes.
fn body() -> String {
    let mut body = String::from(
        r#"{"id":"0190e1d2-7c3a-7b4e-9f10-2a3b4c5d6e7f","serial":"B-1","name":"Bench 1","model":"X","status":"active","max_altitude_m":120.0,"max_speed_mps":20.0,"endurance_min":40,"created_at":"2026-12-01T00:00:00Z","updated_at":"2026-12-01T00:00:00Z","version":1,"notes":""#,
    );
    while body.len() < 398 {
        body.push('x');
    }
    body.push_str("\"}");
    body
}

#[get("/api/v1/drones/{id}")]
async fn drone(_id: web::Path<String>, body: web::Data<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.get_ref().clone())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let body = web::Data::new(body());
    HttpServer::new(move || App::new().app_data(body.clone()).service(drone))
        .bind(&args.bind)?
        .run()
        .await
}
