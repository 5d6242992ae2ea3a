// nghttp2's allocator for one connection: blocks recycled by size class, so
// the stream objects, frame queue items and header buffers nghttp2 allocates
// for each request come from what the previous requests freed instead of
// malloc. Worker thread only (one connection's session), hence no lock.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstddef>

namespace keel::http2 {

class StreamMemory {
 public:
  StreamMemory();
  ~StreamMemory();
  StreamMemory(const StreamMemory&) = delete;
  StreamMemory& operator=(const StreamMemory&) = delete;

  nghttp2_mem* nghttp2() { return &mem_; }

  void* allocate(std::size_t size);
  void release(void* pointer);
  void* reallocate(void* pointer, std::size_t size);

  // Blocks taken from malloc over the connection's life (a test's measure).
  std::size_t mallocs() const { return mallocs_; }

 private:
  static constexpr std::size_t kClasses = 9;          // 32 B .. 8 KiB
  static constexpr std::size_t kMaxCachedBytes = 256 * 1024;
  struct FreeBlock {
    FreeBlock* next;
  };

  nghttp2_mem mem_;
  std::array<FreeBlock*, kClasses> free_{};
  std::size_t cached_bytes_ = 0;
  std::size_t mallocs_ = 0;
};

}  // namespace keel::http2
