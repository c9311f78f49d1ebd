// The system's zlib (Debian: zlib1g-dev), for gzip exports read as they stream: libdeflate,
// which the report files use, inflates whole buffers only.
#include <zlib.h>
