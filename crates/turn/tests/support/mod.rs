//! Test support for `coturn.rs`: a coturn process ([`coturn`]) and a driver over real sockets
//! ([`driver`]).

mod coturn;
mod driver;

pub use coturn::{has_ipv6, Coturn};
pub use driver::{run_binding, Driver, Via};
