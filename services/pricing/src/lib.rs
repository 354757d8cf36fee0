//! Pricing: tariffs and the priced session with its breakdown.
