//! cartevo-enroll: bulk enrollment of customers and their KYC documents into the Cartevo API.

pub mod api;
pub mod customer;
pub mod input;
pub mod journal;
pub mod sandbox;
pub mod validate;
pub mod report;
pub mod status;
