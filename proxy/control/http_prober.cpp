#include "proxy/control/http_prober.hpp"

#include "proxy/config/config.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace keel::control {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

health::ProbeResult failed(std::string detail) { return {false, std::move(detail)}; }

// IP literals only: a name would need a resolver, and backends are probed at the
// address they are known by. On failure `problem` says why.
std::optional<tcp::endpoint> parse_endpoint(const std::string& address, std::string& problem) {
  const auto host_port = config::split_host_port(address, problem);
  if (!host_port) return std::nullopt;
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host_port->host, ec);
  if (ec) {
    problem = "not an IP address";
    return std::nullopt;
  }
  return tcp::endpoint(ip, host_port->port);
}

// The path goes into the request line verbatim: no spaces or control bytes.
bool is_valid_path(std::string_view path) {
  return !path.empty() && path.front() == '/' &&
         std::none_of(path.begin(), path.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte <= 0x20 || byte == 0x7f;
         });
}

std::string describe(std::string_view stage, const beast::error_code& ec,
                     std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout)
    return "timed out after " + std::to_string(timeout.count()) + "ms";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
    return "connection closed without a response";
  if (ec == http::error::partial_message) return "connection closed in the response head";
  if (ec == http::error::header_limit) return "invalid response: head over 16 KiB";
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return "invalid response";
  return std::string(stage) + " failed: " + ec.message();
}

asio::awaitable<health::ProbeResult> run_probe(tcp::endpoint endpoint, std::string request,
                                               health::CheckSettings settings) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  // One deadline for the whole probe: the timer is not restarted per operation.
  stream.expires_after(settings.timeout);

  auto [ec] = co_await stream.async_connect(endpoint, use_nothrow);
  if (ec) co_return failed(describe("connect", ec, settings.timeout));

  std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(request), use_nothrow);
  if (ec) co_return failed(describe("write", ec, settings.timeout));

  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);  // the body is never read
  std::tie(ec, std::ignore) = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  if (ec) co_return failed(describe("read", ec, settings.timeout));

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  const unsigned status = parser.get().result_int();
  co_return health::ProbeResult{settings.is_expected_status(status),
                                "status " + std::to_string(status)};
}

}  // namespace

HttpProber::HttpProber(asio::io_context& ioc) : ioc_(ioc) {}

void HttpProber::probe(const health::ProbeTarget& target, const health::CheckSettings& settings,
                       Done done) {
  std::string problem;
  const auto endpoint = parse_endpoint(target.address, problem);
  if (!endpoint || !is_valid_path(settings.path)) {
    auto detail = endpoint ? "invalid path '" + settings.path + "'"
                           : "invalid address '" + target.address + "': " + problem;
    asio::post(ioc_, [done = std::move(done), detail = std::move(detail)]() mutable {
      done(failed(std::move(detail)));
    });
    return;
  }
  std::string request = "GET " + settings.path + " HTTP/1.1\r\nHost: " + target.address +
                        "\r\nUser-Agent: keel-health-check\r\nConnection: close\r\n\r\n";
  asio::co_spawn(ioc_, run_probe(*endpoint, std::move(request), settings),
                 [done = std::move(done)](std::exception_ptr error,
                                          health::ProbeResult result) mutable {
                   // Only allocation can throw in there; still a result, never an escape.
                   if (error) result = failed("probe failed: internal error");
                   done(std::move(result));
                 });
}

}  // namespace keel::control
