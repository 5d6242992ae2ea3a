#include "proxy/http2/stream_memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace keel::http2 {
namespace {

// Every block starts with this header (16 bytes keep the payload aligned as
// malloc's is): the size class, or kLarge for a block malloc'ed as is.
struct alignas(16) BlockHeader {
  std::size_t size_class;
  std::size_t capacity;  // payload bytes
};
constexpr std::size_t kLarge = static_cast<std::size_t>(-1);
constexpr std::size_t kSmallest = 32;

std::size_t class_of(std::size_t size, std::size_t classes) {
  std::size_t capacity = kSmallest;
  for (std::size_t index = 0; index < classes; ++index, capacity *= 2)
    if (size <= capacity) return index;
  return kLarge;
}

BlockHeader* header_of(void* payload) { return static_cast<BlockHeader*>(payload) - 1; }

}  // namespace

StreamMemory::StreamMemory() {
  mem_.mem_user_data = this;
  mem_.malloc = [](size_t size, void* self) { return static_cast<StreamMemory*>(self)->allocate(size); };
  mem_.free = [](void* pointer, void* self) { static_cast<StreamMemory*>(self)->release(pointer); };
  mem_.calloc = [](size_t count, size_t size, void* self) -> void* {
    if (size != 0 && count > static_cast<std::size_t>(-1) / size) return nullptr;
    void* block = static_cast<StreamMemory*>(self)->allocate(count * size);
    if (block) std::memset(block, 0, count * size);
    return block;
  };
  mem_.realloc = [](void* pointer, size_t size, void* self) {
    return static_cast<StreamMemory*>(self)->reallocate(pointer, size);
  };
}

StreamMemory::~StreamMemory() {
  for (FreeBlock* head : free_) {
    while (head) {
      FreeBlock* next = head->next;
      std::free(header_of(head));
      head = next;
    }
  }
}

void* StreamMemory::allocate(std::size_t size) {
  const std::size_t size_class = class_of(size, kClasses);
  if (size_class != kLarge && free_[size_class]) {
    FreeBlock* block = free_[size_class];
    free_[size_class] = block->next;
    cached_bytes_ -= header_of(block)->capacity;
    return block;
  }
  const std::size_t capacity = size_class == kLarge ? size : kSmallest << size_class;
  auto* header = static_cast<BlockHeader*>(std::malloc(sizeof(BlockHeader) + capacity));
  if (!header) return nullptr;
  ++mallocs_;
  header->size_class = size_class;
  header->capacity = capacity;
  return header + 1;
}

void StreamMemory::release(void* pointer) {
  if (!pointer) return;
  BlockHeader* header = header_of(pointer);
  if (header->size_class == kLarge || cached_bytes_ + header->capacity > kMaxCachedBytes) {
    std::free(header);
    return;
  }
  auto* block = static_cast<FreeBlock*>(pointer);
  block->next = free_[header->size_class];
  free_[header->size_class] = block;
  cached_bytes_ += header->capacity;
}

void* StreamMemory::reallocate(void* pointer, std::size_t size) {
  if (!pointer) return allocate(size);
  if (size == 0) {
    release(pointer);
    return nullptr;
  }
  const std::size_t capacity = header_of(pointer)->capacity;
  if (size <= capacity) return pointer;
  void* grown = allocate(size);
  if (!grown) return nullptr;
  std::memcpy(grown, pointer, capacity);
  release(pointer);
  return grown;
}

}  // namespace keel::http2
