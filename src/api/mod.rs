//! The Cartevo HTTP client.
