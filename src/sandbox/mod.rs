//! The local Cartevo API double.
