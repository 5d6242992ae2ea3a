// Heap allocations per proxied request in steady state, counted on keel's
// worker threads only. The counting is at the malloc level (this binary
// interposes glibc's malloc family), because Asio takes its handler and
// coroutine-frame memory with aligned_alloc, not operator new. The hot path is
// meant to allocate nothing per request: buffers are per connection or pooled
// per worker, header work uses views, Asio recycles handler and frame memory per
// thread. Several connections run at once, as under load, so memory recycled
// between interleaved exchanges is exercised too. A regression shows up here as
// a failed ceiling, long before it shows in wrk.
#include "proxy/server.hpp"
#include "proxy/worker/worker.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
thread_local bool counted_thread = false;
std::atomic<std::uint64_t> worker_allocations{0};
// Allocations by size while measuring, printed when a ceiling fails: the size
// usually tells which object it is (a coroutine frame, an operation, a buffer).
constexpr std::size_t kSizeSlots = 70000;
std::atomic<bool> recording_sizes{false};
std::atomic<std::uint32_t> allocations_by_size[kSizeSlots];

// Bytes allocated and not yet freed by worker threads (usable sizes, so malloc's
// rounding counts too; its 8-byte chunk headers do not).
std::atomic<std::int64_t> worker_live_bytes{0};

void mark_worker_thread() { counted_thread = true; }
void count(std::size_t size) {
  if (!counted_thread) return;
  worker_allocations.fetch_add(1, std::memory_order_relaxed);
  if (recording_sizes.load(std::memory_order_relaxed))
    allocations_by_size[std::min(size, kSizeSlots - 1)].fetch_add(1, std::memory_order_relaxed);
}
void* track(void* memory) {
  if (counted_thread && memory != nullptr)
    worker_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(memory)), std::memory_order_relaxed);
  return memory;
}
void untrack(void* memory) {
  if (counted_thread && memory != nullptr)
    worker_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(memory)), std::memory_order_relaxed);
}
}  // namespace

// glibc lets a program define these; every allocation in the process (operator
// new, Asio's aligned_alloc, std::string growth) comes through here.
extern "C" {
void* malloc(std::size_t size) {
  count(size);
  return track(__libc_malloc(size));
}
void* calloc(std::size_t count_of, std::size_t size) {
  count(count_of * size);
  return track(__libc_calloc(count_of, size));
}
void* realloc(void* memory, std::size_t size) {
  count(size);
  untrack(memory);
  return track(__libc_realloc(memory, size));
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count(size);
  return track(__libc_memalign(alignment, size));
}
void* memalign(std::size_t alignment, std::size_t size) {
  count(size);
  return track(__libc_memalign(alignment, size));
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  count(size);
  void* memory = track(__libc_memalign(alignment, size));
  if (memory == nullptr) return ENOMEM;
  *out = memory;
  return 0;
}
void free(void* memory) {
  untrack(memory);
  __libc_free(memory);
}
}

namespace keel::test {
namespace {

// Measured: 0 to 3 allocations in 4,000 requests (Asio's per-thread recycling
// cache settling; the buffer pool's trim). One allocation per request is 100x
// this ceiling. Lower it when the hot path gets leaner, never raise it without a
// reason in the commit message.
constexpr double kMaxAllocationsPerGet = 0.01;
constexpr double kMaxAllocationsPerPost = 0.01;
// Measured 930 bytes once parked (the connection, Asio's socket state, the
// readiness callback); 2,058 while its coroutine still waits. The target is 1 KiB.
constexpr double kMaxIdleBytesPerConnection = 1024;

using Send = std::function<TestResponse(TestClient&)>;

// Runs `send` on kConnections client connections at once (a thread each), first
// to warm up (pools, buffers, recycled handler memory), then counted.
double allocations_per_request(const std::string& address, const Send& send) {
  constexpr int kConnections = 8;
  constexpr int kWarmUp = 200;
  constexpr int kRequests = 500;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kConnections; ++i) clients.push_back(std::make_unique<TestClient>(address));
  const auto run = [&](int count) {
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (auto& client : clients) {
      threads.emplace_back([&, c = client.get()] {
        for (int i = 0; i < count; ++i)
          if (send(*c).result() != http::status::ok) failures.fetch_add(1);
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
  };
  const auto at_start = worker_allocations.load();
  run(kWarmUp);
  const auto before = worker_allocations.load();
  // The counter works: a new connection allocates (its state, its coroutine).
  EXPECT_GT(before, at_start) << "no allocation seen on a worker thread: is the hook installed?";
  for (auto& slot : allocations_by_size) slot.store(0);
  recording_sizes = true;
  run(kRequests);
  recording_sizes = false;
  return static_cast<double>(worker_allocations.load() - before) / (kConnections * kRequests);
}

std::string allocation_sizes() {
  std::string text;
  for (std::size_t size = 0; size < kSizeSlots; ++size)
    if (const auto n = allocations_by_size[size].load())
      text += "  " + std::to_string(n) + " x " + std::to_string(size) + " bytes\n";
  return text;
}

class Allocations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { worker::worker_thread_hook = &mark_worker_thread; }
};

TEST_F(Allocations, KeepAliveGetAllocatesNothingPerRequest) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  const double per_request = allocations_per_request(keel.address(), [](TestClient& c) {
    return c.get("/steady", {{"User-Agent", "alloc-test"}, {"Accept", "*/*"}, {"X-Forwarded-For", "10.0.0.1"}});
  });
  RecordProperty("allocations_per_get", std::to_string(per_request));
  EXPECT_LE(per_request, kMaxAllocationsPerGet) << "allocations while measuring:\n" << allocation_sizes();
}

TEST_F(Allocations, KeepAlivePostWithSmallBodyAllocatesNothingPerRequest) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  const double per_request = allocations_per_request(
      keel.address(), [](TestClient& c) { return c.request("POST", "/form", {{"Content-Type", "text/plain"}}, "name=keel"); });
  RecordProperty("allocations_per_post", std::to_string(per_request));
  EXPECT_LE(per_request, kMaxAllocationsPerPost) << "allocations while measuring:\n" << allocation_sizes();
}

// The access log formats into reused per-exchange and per-worker strings and a
// fixed ring: on, it allocates nothing per request either.
TEST_F(Allocations, KeepAliveGetWithAccessLogAllocatesNothingPerRequest) {
  TestBackend backend;
  const std::string log_path = ::testing::TempDir() + "keel-alloc-access-" + std::to_string(::getpid()) + ".log";
  {
    KeelUnderTest keel{single_pool_config({backend.address()},
                                          "access_log: { path: \"" + log_path + "\", format: json }\n")};
    const double per_request = allocations_per_request(keel.address(), [](TestClient& c) {
      return c.get("/steady?q=1", {{"User-Agent", "alloc-test"}, {"Referer", "http://a.test/"}});
    });
    RecordProperty("allocations_per_logged_get", std::to_string(per_request));
    EXPECT_LE(per_request, kMaxAllocationsPerGet) << "allocations while measuring:\n" << allocation_sizes();
  }
  std::remove(log_path.c_str());
}

// HTTP/2 (h2c) streams, from h2load (Debian nghttp2-client) in its own process:
// counted between two points of one long run, so connection setup is not in it.
// Per stream: the session's nghttp2 memory is recycled per connection, the
// stream tasks and exchange buffers are pooled, Asio recycles the coroutine frames.
// Measured: 0 per request with 8 streams open on the worker (-c2 -m4); 1.15 with
// 16 (-c2 -m8): each stream holds about four coroutine frames and Asio's
// per-thread recycling cache keeps 64 blocks (BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE),
// so past about 12 open streams per worker frames go back to malloc.
TEST_F(Allocations, Http2StreamsAllocateNothingPerRequest) {
  ASSERT_EQ(::access("/usr/bin/h2load", X_OK), 0) << "h2load not found: install the Debian package nghttp2-client";
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  ChildProcess load("/usr/bin/h2load", {"-n", "6000", "-c", "2", "-m", "4", "http://" + keel.address() + "/steady"});
  ASSERT_TRUE(wait_until([&] { return backend.request_count() >= 1000; }, std::chrono::milliseconds(20000)));
  const auto before = worker_allocations.load();
  const auto requests_before = backend.request_count();
  for (auto& slot : allocations_by_size) slot.store(0);
  recording_sizes = true;
  ASSERT_TRUE(wait_until([&] { return backend.request_count() >= 5000; }, std::chrono::milliseconds(20000)));
  recording_sizes = false;
  const double per_request = static_cast<double>(worker_allocations.load() - before) /
                             static_cast<double>(backend.request_count() - requests_before);
  EXPECT_EQ(load.wait_exit(std::chrono::milliseconds(20000)), 0) << load.output();
  RecordProperty("allocations_per_http2_get", std::to_string(per_request));
  EXPECT_LE(per_request, kMaxAllocationsPerGet) << "allocations while measuring:\n" << allocation_sizes();
}

// What keel holds for a keep-alive connection that made a request and went
// quiet: the connection object, Asio's socket state and, once the worker has
// parked it (after 100-200 ms), a readiness callback instead of its coroutine.
// Buffers are not in it: they go back to the worker's pool.
TEST_F(Allocations, IdleKeepAliveConnectionHoldsLittleMemory) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  {
    TestClient warm{keel.address()};  // an upstream connection and a buffer set exist
    for (int i = 0; i < 20; ++i) ASSERT_EQ(warm.get("/warm").result(), http::status::ok);
  }
  constexpr int kIdle = 200;
  const std::int64_t before = worker_live_bytes.load();
  for (auto& slot : allocations_by_size) slot.store(0);
  recording_sizes = true;
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<TestClient>(keel.address()));
    ASSERT_EQ(idle.back()->get("/once").result(), http::status::ok);
  }
  recording_sizes = false;
  // Parking happens on the worker's tick: wait for every connection to be
  // parked, then measure at once. The buffer set the requests used is still in
  // the worker's pool, as it was for `before` (the pool frees a set only after
  // a whole second unused), so the difference is what the connections hold.
  ASSERT_TRUE(wait_until([&] { return keel.proxy().server().parked_clients() == kIdle; },
                         std::chrono::milliseconds(3000)));
  const double per_connection = static_cast<double>(worker_live_bytes.load() - before) / kIdle;
  RecordProperty("bytes_per_idle_connection", std::to_string(per_connection));
  EXPECT_LE(per_connection, kMaxIdleBytesPerConnection) << "allocations while connecting:\n" << allocation_sizes();
}

}  // namespace
}  // namespace keel::test
