#include "proxy/worker/exchange_buffers.hpp"

#include "proxy/worker/pool_view.hpp"

#include <algorithm>

namespace keel::worker {
namespace {

// Field lists this long cover ordinary requests and responses without growing.
constexpr std::size_t kReservedFields = 32;
// Past these, a buffer grown by an unusual exchange is released rather than kept.
constexpr std::size_t kMaxKeptInput = 64 * 1024;
constexpr std::size_t kMaxKeptOutput = 64 * 1024;

void release_if_large(std::string& text) {
  if (text.capacity() > kMaxKeptOutput) std::string().swap(text);
  text.clear();
}

}  // namespace

ExchangeBuffers::ExchangeBuffers(const boost::asio::any_io_executor& executor) : upload_done(executor) {
  request_fields.reserve(kReservedFields);
  response_fields.reserve(kReservedFields);
  trailer_fields.reserve(kReservedFields);
}

void ExchangeBuffers::reset() {
  access.clear();
  record = RequestRecord{};  // an exchange cut short is not counted
  state = ExchangeState{};
  request.reset();
  response.reset();
  request_fields.clear();
  response_fields.clear();
  trailer_fields.clear();
  if (upstream_input.capacity() > kMaxKeptInput) {
    upstream_input = boost::beast::flat_buffer();
  } else {
    upstream_input.clear();
  }
  release_if_large(head_out);
  release_if_large(out);
  release_if_large(upload_out);
  release_if_large(error_detail);
  release_if_large(access.target);
  release_if_large(access.referer);
  release_if_large(access.user_agent);
}

std::unique_ptr<ExchangeBuffers> BufferPool::acquire() {
  if (free_.empty()) return std::make_unique<ExchangeBuffers>(executor_);
  auto buffers = std::move(free_.back());
  free_.pop_back();
  low_water_ = std::min(low_water_, free_.size());
  return buffers;
}

void BufferPool::release(std::unique_ptr<ExchangeBuffers> buffers) {
  buffers->reset();
  free_.push_back(std::move(buffers));
}

void BufferPool::trim() {
  // Half of what was never needed: a steady load keeps its sets, a finished peak
  // gives its memory back within a few seconds.
  // The front holds the sets released longest ago (the coldest).
  const auto unused = static_cast<std::ptrdiff_t>(std::min((low_water_ + 1) / 2, free_.size()));
  free_.erase(free_.begin(), free_.begin() + unused);
  low_water_ = free_.size();
}

}  // namespace keel::worker
