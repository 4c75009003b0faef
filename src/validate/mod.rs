//! Row validation.
