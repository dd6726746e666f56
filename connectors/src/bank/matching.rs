//! Payment matching (to come).
