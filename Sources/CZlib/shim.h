// The system's zlib (Debian: zlib1g-dev), for the store's compressed report files.
#include <zlib.h>
