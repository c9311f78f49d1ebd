// A hint to load a cache line before it is read: the ingest's hash tables are hundreds of
// MB and each lookup would otherwise wait on memory. Swift has no prefetch of its own.
static inline void fidelis_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
