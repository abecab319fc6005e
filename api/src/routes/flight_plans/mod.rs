//! `/flight-plans`: planning, approval and the life of a flight.

mod dto;
mod handlers;

pub use dto::*;
pub use handlers::*;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_plans)
        .service(create_plan)
        .service(get_plan)
        .service(update_plan)
        .service(transition_plan);
}
