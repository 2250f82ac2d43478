//! Image resolution: reference normalisation, registry pulls and the local cache.
