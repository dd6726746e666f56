//! Demo portfolio generator.
