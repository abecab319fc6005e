//! `/drones`: the fleet register.

mod dto;
mod handlers;

pub use dto::*;
pub use handlers::*;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_drones)
        .service(create_drone)
        .service(get_drone)
        .service(update_drone)
        .service(delete_drone);
}
