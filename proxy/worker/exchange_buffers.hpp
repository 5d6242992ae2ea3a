#pragma once

#include "proxy/http/head_parser.hpp"
#include "proxy/worker/access_capture.hpp"
#include "proxy/worker/request_record.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::worker {

class PoolView;
class UpstreamConnection;

// How the request body's upload stopped (none: it went through whole, or is
// still running). client_timeout: the client sent nothing for timeouts.idle
// while its body was incomplete (408).
enum class UploadError : std::uint8_t { none, client_gone, client_timeout, too_large, bad_body, upstream_failed };

// One request's progress through its Exchange (exchange.hpp), kept with its
// buffers so a keep-alive connection between requests holds none of it.
struct ExchangeState {
  boost::intrusive_ptr<PoolView> pool;  // where the request was routed
  bool body_complete = true;     // the whole request is in head_out: it can be sent again
  bool upload_running = false;   // the upload pump is between its start and its end
  bool response_started = false;  // a final response head came from the backend
  UploadError upload_error = UploadError::none;
  bool cancelled = false;                  // Exchange::cancel(): the client is gone
  UpstreamConnection* upstream = nullptr;  // the attempt's backend connection, while one runs
};

// Everything a client connection needs while a request is in progress: the
// response buffer, both parsers and their field lists, and the output buffers. A
// connection holds a set only while it serves a request, so a keep-alive
// connection between requests holds none, and under load the sets go round
// without a malloc (BufferPool).
struct ExchangeBuffers {
  explicit ExchangeBuffers(const boost::asio::any_io_executor& executor);

  // Empties everything for the next user; gives back memory a rare large
  // exchange left behind, so a pooled set stays small.
  void reset();

  boost::beast::flat_buffer upstream_input;  // response bytes from the backend of the current attempt
  std::vector<http::Field> request_fields;
  std::vector<http::Field> response_fields;
  std::optional<http::RequestParser> request;
  std::optional<http::ResponseParser> response;
  std::string head_out;    // the request head (and any body already read) for the backend
  std::string out;         // response bytes for the client
  std::string upload_out;  // request body bytes for the backend
  std::string local_address;  // "ip:port" the client connected to, for a request without Host
  std::string error_detail;   // the detail line of a 503 that names its pool
  std::vector<http::Field> trailer_fields;  // a response's trailer, for a client that is not chunked HTTP/1.1
  boost::asio::steady_timer upload_done;  // wakes the exchange when the upload pump stops
  AccessCapture access;  // the request's line and headers for the access log, when it is on
  RequestRecord record;  // for /metrics, counted when the request ends
  ExchangeState state;
};

// Worker thread only. Free ExchangeBuffers, reused LIFO (the most recently used
// set is the one still in cache). trim(), called about once a second, frees the
// sets that stayed unused for the whole period, so memory follows a load peak
// down without a malloc/free per request in steady state.
class BufferPool {
 public:
  explicit BufferPool(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  std::unique_ptr<ExchangeBuffers> acquire();
  void release(std::unique_ptr<ExchangeBuffers> buffers);
  void trim();
  std::size_t free_count() const { return free_.size(); }
  void clear() { free_.clear(); }

 private:
  boost::asio::any_io_executor executor_;
  std::vector<std::unique_ptr<ExchangeBuffers>> free_;
  std::size_t low_water_ = 0;  // fewest free sets seen since the last trim
};

}  // namespace keel::worker
