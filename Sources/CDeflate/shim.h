// The system's libdeflate (Debian: libdeflate-dev), for report files stored and sent as zlib
// streams: it writes and reads the same format as zlib, about twice as fast.
#include <libdeflate.h>
