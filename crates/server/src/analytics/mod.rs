//! Call analytics: the timelines devices upload turned into figures an operator can use.
//!
//! - [`figures`]: one timeline's figures (pure), the one definition both outputs use;
//! - [`metrics`]: those figures as Prometheus metrics, labelled by platform, as uploads arrive;
//! - [`report`]: many timelines summed, per platform and per time bucket (pure);
//! - [`http`]: the admin endpoints `GET /v1/admin/analytics`, `GET /v1/admin/calls` and
//!   `GET /v1/admin/calls/{call_id}/timelines` (docs/http.md), which the dashboard at `/admin/`
//!   ([`crate::dashboard`]) draws.
//!
//! Uploads are stored by [`crate::timelines`].

pub mod figures;
pub mod http;
pub mod metrics;
pub mod report;
