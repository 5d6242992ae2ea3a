#include "proxy/control/http_prober.hpp"

#include "proxy/config/config.hpp"
#include "proxy/tls/upstream_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
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

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
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

// As the config file writes durations: "1s", "1500ms", "2m".
std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string describe(std::string_view stage, const beast::error_code& ec,
                     std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return "timeout after " + duration_text(timeout);
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

// Why a handshake failed, as an operator can act on it: the certificate
// check's own reason when that was it ("certificate has expired"), else OpenSSL's.
std::string describe_handshake(const beast::error_code& ec, SSL* ssl, bool verifying,
                               std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == asio::error::connection_refused) return describe("handshake", ec, timeout);
  if (const long verified = SSL_get_verify_result(ssl); verifying && verified != X509_V_OK)
    return std::string("TLS handshake failed: certificate verify failed: ") + X509_verify_cert_error_string(verified);
  return "TLS handshake failed: " + ec.message();
}

// The request and the response head, over TCP or TLS.
template <class Stream>
asio::awaitable<health::ProbeResult> exchange(Stream& stream, const std::string& request,
                                              const health::CheckSettings& settings) {
  auto [ec, written] = co_await asio::async_write(stream, asio::buffer(request), use_nothrow);
  if (ec) co_return failed(describe("write", ec, settings.timeout));

  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);  // the body is never read
  std::tie(ec, std::ignore) = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  if (ec) co_return failed(describe("read", ec, settings.timeout));

  const unsigned status = parser.get().result_int();
  co_return health::ProbeResult{settings.is_expected_status(status),
                                "status " + std::to_string(status)};
}

// `tls`: null for plain HTTP. It (and the context in it) lives as long as the probe.
asio::awaitable<health::ProbeResult> run_probe(tcp::endpoint endpoint, std::string request,
                                               health::CheckSettings settings,
                                               std::shared_ptr<const tls::UpstreamContext> tls,
                                               std::string tls_name) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  // One deadline for the whole probe: the timer is not restarted per operation.
  stream.expires_after(settings.timeout);

  auto [ec] = co_await stream.async_connect(endpoint, use_nothrow);
  if (ec) co_return failed(describe("connect", ec, settings.timeout));

  health::ProbeResult result;
  if (tls) {
    // Over the tcp_stream, so the deadline covers the handshake and TLS reads too.
    asio::ssl::stream<beast::tcp_stream&> secure(stream, tls->context());
    if (!tls->prepare(secure.native_handle(), tls_name))
      co_return failed("TLS handshake failed: invalid name '" + tls_name + "'");
    std::tie(ec) = co_await secure.async_handshake(asio::ssl::stream_base::client, use_nothrow);
    if (ec) co_return failed(describe_handshake(ec, secure.native_handle(), tls->verify(), settings.timeout));
    result = co_await exchange(secure, request, settings);
  } else {
    result = co_await exchange(stream, request, settings);
  }
  // Connection: close was asked for; no close_notify needed for a head we have.
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
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
  std::shared_ptr<const tls::UpstreamContext> tls;
  if (settings.transport) {
    // The only transport keel builds; anything else is a programming error
    // that must not pass as plain HTTP.
    const auto* transport = dynamic_cast<const TlsProbeTransport*>(settings.transport.get());
    if (transport == nullptr || !transport->context()) {
      asio::post(ioc_, [done = std::move(done)]() mutable { done(failed("probe failed: unknown transport")); });
      return;
    }
    tls = transport->context();
  }
  std::string request = "GET " + settings.path + " HTTP/1.1\r\nHost: " + target.address +
                        "\r\nUser-Agent: keel-health-check\r\nConnection: close\r\n\r\n";
  std::string tls_name = target.name.empty() ? target.address : target.name;
  asio::co_spawn(ioc_, run_probe(*endpoint, std::move(request), settings, std::move(tls), std::move(tls_name)),
                 [done = std::move(done)](std::exception_ptr error,
                                          health::ProbeResult result) mutable {
                   // Only allocation can throw in there; still a result, never an escape.
                   if (error) result = failed("probe failed: internal error");
                   done(std::move(result));
                 });
}

}  // namespace keel::control
