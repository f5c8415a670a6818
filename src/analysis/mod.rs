//! Analysis: what the allocator did, reconstructed from the trace.
